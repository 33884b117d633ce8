//! arm64: `svc #0`, number in x8, arguments in x0-x5, result in x0
//! (oxbsd also x1, and PSTATE.C on error).

use core::arch::{asm, global_asm};

global_asm!(
    ".section .text._start,\"ax\",%progbits",
    ".globl _start",
    ".type _start,%function",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    mov x0, sp",
    "    and x1, x0, #~15",
    "    mov sp, x1",
    "    bl {start}",
    "    brk #1",
    ".size _start, . - _start",
    start = sym crate::start::__bench_start,
);

/// # Safety
/// The arguments must be valid for system call `n` on the running kernel.
#[inline(always)]
pub unsafe fn trap(n: usize, a: [usize; 6]) -> (usize, bool) {
    let (r0, c): (usize, usize);
    // SAFETY: the caller vouches for the arguments; neither kernel
    // touches the user stack, and x0, x1 and the flags are outputs or
    // clobbers. The carry is cleared first so Linux, which leaves PSTATE
    // alone, reports a clear one.
    unsafe {
        asm!(
            "cmn xzr, xzr",
            "svc #0",
            "cset {c}, cs",
            c = lateout(reg) c,
            inlateout("x0") a[0] => r0,
            inlateout("x1") a[1] => _,
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            in("x8") n,
            options(nostack),
        );
    }
    (r0, c != 0)
}
