//! Signals: what the shell ignores or catches, what its children get
//! back, names and the descriptions shells print.

use core::sync::atomic::{AtomicBool, Ordering};

use rt::signal::Handler;
use sys::signal::*;

/// Set by the SIGINT handler of an interactive shell: the command line
/// being run or read is abandoned.
static GOT_SIGINT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: i32) {
    GOT_SIGINT.store(true, Ordering::SeqCst);
}

pub fn interrupted() -> bool {
    GOT_SIGINT.load(Ordering::SeqCst)
}

pub fn set_interrupted(v: bool) {
    GOT_SIGINT.store(v, Ordering::SeqCst);
}

/// The signals an interactive shell changes, which its children reset.
pub const JOB_SIGNALS: [u32; 5] = [SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU];

/// Catch SIGINT without SA_RESTART, so that a read at the prompt or a
/// wait returns EINTR and the shell gets control back.
pub fn catch_sigint() {
    let sa = SigAction { sa_handler: Handler::Catch(on_sigint).raw(), sa_mask: 0, sa_flags: 0 };
    let _ = rt::sigaction(SIGINT, Some(&sa), None);
}

pub fn set(sig: u32, h: Handler) {
    let _ = rt::signal(sig, h);
}

/// Was `sig` ignored when the shell started? (Such signals stay ignored
/// for its children, as POSIX asks of a non-interactive shell.)
pub fn ignored(sig: u32) -> bool {
    let mut old = SigAction::default();
    rt::sigaction(sig, None, Some(&mut old)).is_ok() && old.sa_handler == SIG_IGN
}

pub use rt::signal::{signum as parse, sigshortname as short_name};

/// What a shell says when a job dies of `sig` (OpenBSD's sys_siglist).
pub fn describe(sig: u32) -> &'static str {
    match sig {
        SIGHUP => "Hangup",
        SIGINT => "Interrupt",
        SIGQUIT => "Quit",
        SIGILL => "Illegal instruction",
        SIGTRAP => "Trace/BPT trap",
        SIGABRT => "Abort trap",
        SIGEMT => "EMT trap",
        SIGFPE => "Floating point exception",
        SIGKILL => "Killed",
        SIGBUS => "Bus error",
        SIGSEGV => "Segmentation fault",
        SIGSYS => "Bad system call",
        SIGPIPE => "Broken pipe",
        SIGALRM => "Alarm clock",
        SIGTERM => "Terminated",
        SIGURG => "Urgent I/O condition",
        SIGSTOP => "Suspended (signal)",
        SIGTSTP => "Suspended",
        SIGCONT => "Continued",
        SIGCHLD => "Child exited",
        SIGTTIN => "Stopped (tty input)",
        SIGTTOU => "Stopped (tty output)",
        SIGIO => "I/O possible",
        SIGXCPU => "Cputime limit exceeded",
        SIGXFSZ => "Filesize limit exceeded",
        SIGVTALRM => "Virtual timer expired",
        SIGPROF => "Profiling timer expired",
        SIGWINCH => "Window size changes",
        SIGINFO => "Information request",
        SIGUSR1 => "User defined signal 1",
        SIGUSR2 => "User defined signal 2",
        SIGTHR => "Thread AST",
        _ => "Unknown signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(short_name(SIGUSR1), "USR1");
        assert_eq!(describe(SIGTERM), "Terminated");
        assert_eq!(describe(99), "Unknown signal");
    }
}
