//! Signals: sigaction, sigprocmask, sigreturn and helpers.
//!
//! The kernel runs a handler as `handler(sig, info, scp)` — `info` is 0
//! for now, `scp` points at the saved context on the user stack — with
//! its return address at the signal trampoline page
//! (sys::vmparam::SIGCODE_VA), which calls sigreturn(scp). So a plain
//! `extern "C" fn(i32)` is a valid handler: the C ABI lets it ignore the
//! two extra arguments. The handler runs on the interrupted thread's
//! stack; as with C's malloc, allocating in a handler can deadlock if the
//! signal interrupted an allocation.

use sys::signal::{SA_RESTART, SA_SIGINFO, SIG_DFL, SIG_IGN, SigAction, SigSet};
use sys::syscall::{SYS_sigaction, SYS_sigprocmask, SYS_sigreturn};

use crate::errno::{Errno, Result};
use crate::syscall::{syscall1, syscall2, syscall3};

/// A handler taking only the signal number.
pub type SigHandler = extern "C" fn(i32);
/// A handler taking `(sig, info, scp)`; `info` is 0 on oxbsd for now.
pub type SigInfoHandler = extern "C" fn(i32, usize, usize);

#[derive(Clone, Copy, Debug)]
pub enum Handler {
    Default,
    Ignore,
    Catch(SigHandler),
    CatchInfo(SigInfoHandler),
}

impl Handler {
    /// The `sa_handler` value.
    pub fn raw(self) -> usize {
        match self {
            Handler::Default => SIG_DFL,
            Handler::Ignore => SIG_IGN,
            Handler::Catch(f) => f as usize,
            Handler::CatchInfo(f) => f as usize,
        }
    }
}

/// sigaction(2) for signal `sig`: install `new` if given, return the
/// previous action in `old` if given.
pub fn sigaction(sig: u32, new: Option<&SigAction>, old: Option<&mut SigAction>) -> Result<()> {
    let n = new.map_or(core::ptr::null(), |a| a as *const SigAction);
    let o = old.map_or(core::ptr::null_mut(), |a| a as *mut SigAction);
    // SAFETY: both pointers are null or point at a struct sigaction.
    unsafe { syscall3(SYS_sigaction, sig as usize, n as usize, o as usize).map(drop) }
}

/// Install `h` for `sig` with an empty mask and SA_RESTART (BSD signal(3)
/// semantics; SA_SIGINFO too for `CatchInfo`). Returns the previous
/// action.
pub fn signal(sig: u32, h: Handler) -> Result<SigAction> {
    let flags = match h {
        Handler::CatchInfo(_) => SA_RESTART | SA_SIGINFO,
        _ => SA_RESTART,
    };
    let new = SigAction { sa_handler: h.raw(), sa_mask: 0, sa_flags: flags };
    let mut old = SigAction::default();
    sigaction(sig, Some(&new), Some(&mut old))?;
    Ok(old)
}

/// sigprocmask(2), OpenBSD style: the mask is passed by value and the
/// previous mask is the return value. `how` is SIG_BLOCK, SIG_UNBLOCK or
/// SIG_SETMASK.
pub fn sigprocmask(how: i32, mask: SigSet) -> Result<SigSet> {
    // SAFETY: no pointers.
    unsafe { syscall2(SYS_sigprocmask, how as usize, mask as usize).map(|r| r as SigSet) }
}

/// sigreturn(2): restore the context at `scp`; returns only on failure.
///
/// # Safety
/// On success execution continues wherever the context says; `scp` must
/// be a context the kernel saved for a handler of this thread.
pub unsafe fn sigreturn(scp: usize) -> Errno {
    // SAFETY: forwarded from the caller.
    match unsafe { syscall1(SYS_sigreturn, scp) } {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// Send `sig` to the calling process.
pub fn raise(sig: u32) -> Result<()> {
    crate::process::kill(crate::process::getpid(), sig)
}

/// The name without "SIG" ("TERM"), as OpenBSD's sys_signame has it.
pub fn sigshortname(sig: u32) -> &'static str {
    let n = signame(sig);
    n.strip_prefix("SIG").unwrap_or(n)
}

/// A signal by name ("TERM", "SIGTERM", "term", any case) or number; 0
/// (which only checks that a process exists) counts. None otherwise.
pub fn signum(s: &str) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return (n < sys::signal::NSIG).then_some(n);
    }
    let bare = match s.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("SIG") => &s[3..],
        _ => s,
    };
    (1..sys::signal::NSIG).find(|&n| sigshortname(n).eq_ignore_ascii_case(bare))
}

/// The name of a signal ("SIGSEGV"), or "SIG?" for an unknown number.
pub fn signame(sig: u32) -> &'static str {
    const NAMES: [&str; sys::signal::NSIG as usize] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGEMT",
        "SIGFPE",
        "SIGKILL",
        "SIGBUS",
        "SIGSEGV",
        "SIGSYS",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGURG",
        "SIGSTOP",
        "SIGTSTP",
        "SIGCONT",
        "SIGCHLD",
        "SIGTTIN",
        "SIGTTOU",
        "SIGIO",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGINFO",
        "SIGUSR1",
        "SIGUSR2",
        "SIGTHR",
    ];
    NAMES.get(sig as usize).copied().unwrap_or("SIG?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        use sys::signal::{SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGUSR2};
        assert_eq!(signum("KILL"), Some(SIGKILL));
        assert_eq!(signum("TERM"), Some(SIGTERM));
        assert_eq!(signum("1"), Some(SIGHUP));
        assert_eq!(signum("FOO"), None);
        assert_eq!(signum("sigint"), Some(SIGINT));
        assert_eq!(signum("SIGusr2"), Some(SIGUSR2));
        assert_eq!(signum("0"), Some(0));
        assert_eq!(signum("SIG"), None);
        assert_eq!(signum(""), None);
        assert_eq!(signum("33"), None);
        assert_eq!(sigshortname(SIGKILL), "KILL");
    }
    use sys::signal as s;

    #[test]
    fn names_match_numbers() {
        let pairs = [
            (s::SIGHUP, "SIGHUP"),
            (s::SIGKILL, "SIGKILL"),
            (s::SIGSEGV, "SIGSEGV"),
            (s::SIGCHLD, "SIGCHLD"),
            (s::SIGINFO, "SIGINFO"),
            (s::SIGUSR2, "SIGUSR2"),
            (s::SIGTHR, "SIGTHR"),
        ];
        for (n, name) in pairs {
            assert_eq!(signame(n), name);
        }
        assert_eq!(signame(s::NSIG), "SIG?");
    }

    extern "C" fn h(_: i32) {}

    #[test]
    fn handler_values() {
        assert_eq!(Handler::Default.raw(), SIG_DFL);
        assert_eq!(Handler::Ignore.raw(), SIG_IGN);
        assert_eq!(Handler::Catch(h).raw(), h as SigHandler as usize);
    }
}
