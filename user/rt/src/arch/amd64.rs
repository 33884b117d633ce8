//! amd64: `syscall` with the number in rax, arguments in rdi rsi rdx r10
//! r8 r9, results in rax and rdx, CF set on error.

use core::arch::{asm, global_asm};

use sys::syscall::{SYS___tfork, SYS___threxit};

// The kernel enters with %rsp at argc, 16-byte aligned, every other
// register zero. The call pushes a return address, leaving %rsp 8 mod 16
// in __rt_start as the SysV ABI wants; %rbp = 0 ends the frame chain.
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
    start = sym crate::start::__rt_start,
    options(att_syntax)
);

// __rt_tfork_thread(param %rdi, psize %rsi, entry %rdx, arg %rcx) -> tid
// or -errno. The child comes back from `syscall` on its new stack with
// rax = 0 and the parent's r8/r9, so it can call entry(arg) without
// touching memory; entry never returns.
global_asm!(
    ".text",
    ".globl __rt_tfork_thread",
    ".type __rt_tfork_thread,@function",
    "__rt_tfork_thread:",
    "    movq %rdx, %r8",
    "    movq %rcx, %r9",
    "    movl ${tfork}, %eax",
    "    syscall",
    "    jc 1f",
    "    testq %rax, %rax",
    "    jz 2f",
    "    ret",
    "1:  negq %rax",
    "    ret",
    "2:  xorl %ebp, %ebp",
    "    movq %r9, %rdi",
    "    call *%r8",
    "    ud2",
    ".size __rt_tfork_thread, . - __rt_tfork_thread",
    // __rt_threxit_release(flag %rdi): clear the joiner's flag, then end
    // the thread, using no stack after the store (a joiner may unmap it
    // as soon as it sees the flag clear). x86 stores are release-ordered.
    ".globl __rt_threxit_release",
    ".type __rt_threxit_release,@function",
    "__rt_threxit_release:",
    "    movl $0, (%rdi)",
    "    movl ${threxit}, %eax",
    "    xorl %edi, %edi",
    "    syscall",
    "    ud2",
    ".size __rt_threxit_release, . - __rt_threxit_release",
    tfork = const SYS___tfork,
    threxit = const SYS___threxit,
    options(att_syntax)
);

/// Trap into the kernel. Returns (rax, rdx, carry).
///
/// # Safety
/// The arguments must be valid for system call `n`: pointers must point
/// at memory the call may read or write, and the call must not break what
/// the Rust code around it relies on (unmapping live memory, say).
#[inline(always)]
pub unsafe fn trap(n: usize, a: [usize; 6]) -> (usize, usize, bool) {
    let (r0, r1, cf): (usize, usize, u8);
    // SAFETY: the caller vouches for the arguments; the kernel preserves
    // every register but rax, rdx and the rcx/r11 that `syscall` itself
    // overwrites, and never touches the user stack (no red zone is in use
    // either: the target disables it).
    unsafe {
        asm!(
            "syscall",
            "setc {cf}",
            cf = lateout(reg_byte) cf,
            inlateout("rax") n => r0,
            in("rdi") a[0],
            in("rsi") a[1],
            inlateout("rdx") a[2] => r1,
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (r0, r1, cf != 0)
}

/// The first word of the calling thread's TCB, which the runtime sets to
/// the TCB's own address (read through %fs, whose base `__tfork` set).
///
/// # Safety
/// The calling thread must have a TCB: a thread the runtime started. The
/// main thread's FS base is 0, and reading %fs:0 there faults.
pub unsafe fn tcb_self() -> usize {
    let v: usize;
    // SAFETY: the caller guarantees %fs points at a TCB.
    unsafe { asm!("movq %fs:0, {}", out(reg) v, options(att_syntax, nostack, readonly, preserves_flags)) };
    v
}

/// Whether the calling thread may have a TCB: threads the runtime starts
/// run on mmap'd stacks, the main thread on the one at USRSTACK, and
/// reading %fs:0 is only safe in the former.
pub fn may_have_tcb() -> bool {
    let here = 0u8;
    let sp = core::ptr::addr_of!(here) as usize;
    let top = sys::vmparam::USRSTACK;
    !(top - sys::vmparam::MAXSSIZ..top).contains(&sp)
}

/// What to do when a call that cannot return did: stop with an illegal
/// instruction (SIGILL), which nothing can mistake for success.
pub fn unreachable_return(_status: i32) -> ! {
    // SAFETY: ud2 only raises #UD.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}
