//! Signals (OpenBSD `<sys/signal.h>`).

pub const SIGHUP: u32 = 1;
pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGABRT: u32 = 6;
pub const SIGEMT: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGBUS: u32 = 10;
pub const SIGSEGV: u32 = 11;
pub const SIGSYS: u32 = 12;
pub const SIGPIPE: u32 = 13;
pub const SIGALRM: u32 = 14;
pub const SIGTERM: u32 = 15;
pub const SIGURG: u32 = 16;
pub const SIGSTOP: u32 = 17;
pub const SIGTSTP: u32 = 18;
pub const SIGCONT: u32 = 19;
pub const SIGCHLD: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGIO: u32 = 23;
pub const SIGXCPU: u32 = 24;
pub const SIGXFSZ: u32 = 25;
pub const SIGVTALRM: u32 = 26;
pub const SIGPROF: u32 = 27;
pub const SIGWINCH: u32 = 28;
pub const SIGINFO: u32 = 29;
pub const SIGUSR1: u32 = 30;
pub const SIGUSR2: u32 = 31;
pub const SIGTHR: u32 = 32;
/// Signals are 1..NSIG-1.
pub const NSIG: u32 = 33;

/// A signal set: bit `sig - 1` stands for `sig`.
pub type SigSet = u32;

pub const fn sigmask(sig: u32) -> SigSet {
    1 << (sig - 1)
}

/// Handler values.
pub const SIG_DFL: usize = 0;
pub const SIG_IGN: usize = 1;

/// sigprocmask `how`.
pub const SIG_BLOCK: i32 = 1;
pub const SIG_UNBLOCK: i32 = 2;
pub const SIG_SETMASK: i32 = 3;

/// sigaction flags.
pub const SA_ONSTACK: i32 = 0x0001;
pub const SA_RESTART: i32 = 0x0002;
pub const SA_RESETHAND: i32 = 0x0004;
pub const SA_NOCLDSTOP: i32 = 0x0008;
pub const SA_NODEFER: i32 = 0x0010;
pub const SA_NOCLDWAIT: i32 = 0x0020;
pub const SA_SIGINFO: i32 = 0x0040;

/// `struct sigaction` as OpenBSD lays it out on LP64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, or SIG_DFL / SIG_IGN.
    pub sa_handler: usize,
    pub sa_mask: SigSet,
    pub sa_flags: i32,
}

// The handler is entered as `handler(sig, info, scp)`: `info` is 0 (no
// siginfo yet) and `scp` points at the saved machine context on the user
// stack. Returning from the handler enters the signal trampoline, which
// calls `sigreturn(scp)`; the trampoline lives in a read-only page the
// kernel maps at `vmparam::SIGCODE_VA` in every process.
