//! MI trap handling: what the arch's trap and syscall entry call.
//!
//! The arch decodes the hardware event and calls one of these with the
//! thread's trap frame; each returns to the arch, which then calls
//! [`userret`] before going back to user mode.

use uvm::pmap::VmProt;

use crate::machdep::TrapFrame;

/// A system call from user mode. `code` and `args` are as the arch's
/// convention (sys/src/lib.rs) delivers them. Ok((r0, r1)) to return with
/// the carry clear; Err(errno) to return with it set; Err(EJUSTRETURN)
/// when the frame was already set up (execve, sigreturn) and must be left
/// alone. Before: interrupts enabled, on the thread's kernel stack.
pub fn syscall(tf: *mut TrapFrame, code: u64, args: [u64; 6]) -> Result<(u64, u64), i32> {
    crate::syscalls::dispatch(tf, code, args)
}

/// Last thing before any return to user mode (after a syscall, a trap, an
/// interrupt taken in user mode, and a new thread's first entry): deliver pending signals (which may
/// rewrite `tf`) and give up the CPU if a reschedule is due. Before:
/// interrupts enabled or masked (they are enabled while it runs and masked
/// again before it returns when they were masked on entry).
pub fn userret(tf: *mut TrapFrame) {
    crate::kern_sig::userret(tf)
}

/// A page fault taken in user mode at `va`, for an access needing
/// `access` (READ, WRITE or EXECUTE). Resolves it through uvm_fault or
/// posts SIGSEGV to the thread. Before: interrupts enabled.
pub fn user_pagefault(tf: *mut TrapFrame, va: u64, access: VmProt) {
    crate::kern_sig::user_pagefault(tf, va, access)
}

/// Any other exception taken in user mode that maps to a signal (SIGILL,
/// SIGFPE, SIGBUS, SIGTRAP, SIGSEGV for an alignment or protection fault
/// the VM cannot fix). The arch picks the signal.
pub fn trapsignal(tf: *mut TrapFrame, sig: u32, addr: u64) {
    crate::kern_sig::trapsignal(tf, sig, addr)
}

/// A page fault taken in kernel mode at user address `va` (copyin and
/// copyout touch user memory lazily). True when uvm_fault made `va`
/// accessible and the instruction may be retried; false when the arch must
/// take the copy's fault-recovery path (or panic if there is none).
/// Before: interrupts may be masked only if the fault is not on a user
/// address; the arch enables them before calling this.
pub fn kernel_pagefault(va: u64, access: VmProt) -> bool {
    crate::kern_sig::kernel_pagefault(va, access)
}
