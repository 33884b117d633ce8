//! arm64: `svc #0` with the number in x8, arguments in x0-x5, results in
//! x0 and x1, PSTATE.C set on error.

use core::arch::{asm, global_asm};

use sys::syscall::{SYS___tfork, SYS___threxit};

// The kernel enters with sp at argc, 16-byte aligned. Realign anyway (sp
// must be 16-aligned whenever it is used), clear fp and lr so backtraces
// stop here, and pass the original sp.
global_asm!(
    ".section .text._start,\"ax\",%progbits",
    ".globl _start",
    ".type _start,%function",
    "_start:",
    "    mov x29, #0",
    "    mov x30, #0",
    "    mov x0, sp",
    "    and x1, x0, #~15",
    "    mov sp, x1",
    "    bl {start}",
    "    brk #1",
    ".size _start, . - _start",
    start = sym crate::start::__rt_start,
);

// __rt_tfork_thread(param x0, psize x1, entry x2, arg x3) -> tid or
// -errno. The child comes back from `svc` on its new stack with x0 = 0
// and the parent's x9/x10, so it can call entry(arg) without touching
// memory; entry never returns.
global_asm!(
    ".text",
    ".globl __rt_tfork_thread",
    ".type __rt_tfork_thread,%function",
    "__rt_tfork_thread:",
    "    mov x9, x2",
    "    mov x10, x3",
    "    mov x8, #{tfork}",
    "    svc #0",
    "    b.cs 1f",
    "    cbz x0, 2f",
    "    ret",
    "1:  neg x0, x0",
    "    ret",
    "2:  mov x29, #0",
    "    mov x30, #0",
    "    mov x0, x10",
    "    blr x9",
    "    brk #1",
    ".size __rt_tfork_thread, . - __rt_tfork_thread",
    // __rt_threxit_release(flag x0): clear the joiner's flag with release
    // order, then end the thread, using no stack after the store (a joiner
    // may unmap it as soon as it sees the flag clear).
    ".globl __rt_threxit_release",
    ".type __rt_threxit_release,%function",
    "__rt_threxit_release:",
    "    stlr wzr, [x0]",
    "    mov x0, #0",
    "    mov x8, #{threxit}",
    "    svc #0",
    "    brk #1",
    ".size __rt_threxit_release, . - __rt_threxit_release",
    tfork = const SYS___tfork,
    threxit = const SYS___threxit,
);

/// Trap into the kernel. Returns (x0, x1, carry).
///
/// # Safety
/// The arguments must be valid for system call `n`: pointers must point
/// at memory the call may read or write, and the call must not break what
/// the Rust code around it relies on (unmapping live memory, say).
#[inline(always)]
pub unsafe fn trap(n: usize, a: [usize; 6]) -> (usize, usize, bool) {
    let (r0, r1, c): (usize, usize, usize);
    // SAFETY: the caller vouches for the arguments; the kernel preserves
    // every register but x0 and x1 and never touches the user stack.
    unsafe {
        asm!(
            "svc #0",
            "cset {c}, cs",
            c = lateout(reg) c,
            inlateout("x0") a[0] => r0,
            inlateout("x1") a[1] => r1,
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            in("x8") n,
            options(nostack),
        );
    }
    (r0, r1, c != 0)
}

/// The calling thread's TPIDR_EL0, which `__tfork` set to its TCB.
///
/// # Safety
/// None needed on arm64 (the register is always readable, 0 in the main
/// thread); unsafe to match amd64.
pub unsafe fn tcb_self() -> usize {
    let v: usize;
    // SAFETY: reading TPIDR_EL0 has no side effects.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Whether the calling thread may have a TCB (see amd64); on arm64 the
/// register itself says.
pub fn may_have_tcb() -> bool {
    // SAFETY: always safe on arm64.
    unsafe { tcb_self() != 0 }
}

/// What to do when a call that cannot return did: stop with a breakpoint
/// trap (SIGTRAP), which nothing can mistake for success.
pub fn unreachable_return(_status: i32) -> ! {
    // SAFETY: brk only raises a debug exception.
    unsafe { asm!("brk #2", options(noreturn, nomem, nostack)) }
}
