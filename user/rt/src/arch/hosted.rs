//! The host build: there is no oxbsd kernel under a host process, so the
//! trap answers ENOSYS (the host's own system call ABI differs and is never
//! used). This is what lets the runtime and the programs build, lint and
//! unit-test on the host; nothing here is meant to run an oxbsd program.

use core::sync::atomic::AtomicU32;

use sys::tfork::Tfork;

/// # Safety
/// Nothing is dereferenced; unsafe to match the target's signature.
pub unsafe fn trap(_n: usize, _a: [usize; 6]) -> (usize, usize, bool) {
    (sys::errno::ENOSYS as usize, 0, true)
}

/// # Safety
/// Nothing is dereferenced; unsafe to match the target's signature.
pub unsafe fn tfork_thread(_param: &Tfork, _entry: extern "C" fn(usize) -> !, _arg: usize) -> isize {
    -(sys::errno::ENOSYS as isize)
}

/// # Safety
/// Unsafe to match the target's signature.
pub unsafe fn threxit_release(_flag: &AtomicU32) -> ! {
    std::process::abort()
}

/// # Safety
/// Unsafe to match the target's signature; there is no TCB on the host.
pub unsafe fn tcb_self() -> usize {
    0
}

pub fn may_have_tcb() -> bool {
    false
}

/// The host's exit, since the oxbsd one reported ENOSYS.
pub fn unreachable_return(status: i32) -> ! {
    std::process::exit(status)
}
