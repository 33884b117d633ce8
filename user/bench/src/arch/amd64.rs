//! amd64: `syscall`, number in rax, arguments in rdi rsi rdx r10 r8 r9,
//! result in rax; both kernels clobber rcx and r11 (oxbsd also rdx).

use core::arch::{asm, global_asm};

// %rbp = 0 ends the frame chain; the call leaves %rsp 8 mod 16 in
// __bench_start as the SysV ABI wants.
global_asm!(
    ".section .text._start,\"ax\",@progbits",
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "    xorl %ebp, %ebp",
    "    movq %rsp, %rdi",
    "    andq $-16, %rsp",
    "    call {start}",
    "    ud2",
    ".size _start, . - _start",
    start = sym crate::start::__bench_start,
    options(att_syntax)
);

/// # Safety
/// The arguments must be valid for system call `n` on the running kernel.
#[inline(always)]
pub unsafe fn trap(n: usize, a: [usize; 6]) -> (usize, bool) {
    let (r0, cf): (usize, u8);
    // SAFETY: the caller vouches for the arguments; neither kernel
    // touches the user stack, and every register either kernel may change
    // is an output or a clobber here.
    unsafe {
        asm!(
            "clc",
            "syscall",
            "setc {cf}",
            cf = lateout(reg_byte) cf,
            inlateout("rax") n => r0,
            in("rdi") a[0],
            in("rsi") a[1],
            inlateout("rdx") a[2] => _,
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (r0, cf != 0)
}
