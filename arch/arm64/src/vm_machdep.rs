//! Threads: kernel stacks, the state a new thread's first `cpu_switchto`
//! starts from, fork, and the switch itself (OpenBSD's vm_machdep.c).
//!
//! A thread's kernel stack (from `kstack_alloc`, 32 KiB with an unmapped
//! guard page below) looks like this while the thread is off CPU:
//!
//! ```text
//!   kstack_top  ->  +---------------------+
//!                   | user trap frame     |  trapframe_of(kstack_top)
//!                   +---------------------+
//!                   | ... kernel frames   |
//!                   +---------------------+
//!   pcb_sp      ->  | switch frame        |  x19-x29, lr (locore)
//!                   +---------------------+
//! ```
//!
//! A new thread has nothing but the trap frame and a switch frame whose lr
//! is locore's `proc_trampoline`, so its first switch "returns" there with
//! sp at the trap frame: it calls the MI hook (`proc_trampoline_mi`), then
//! the thread's function, and if that returns, goes to user mode through
//! the trap frame (`el0_return`).

use core::ptr;

use kern::machdep::{Pcb, TrapFrame as MiTrapFrame};

use crate::locore::{self, SWITCHFRAME_SIZE, SwitchFrame};
use crate::pmap::{self, KSTACK_SHIFT, KSTACK_SIZE, KStack, VM_KSTACK_END, VM_KSTACK_START};
use crate::trap::{FRAME_SIZE, PSR_C, PSR_EL0T, PSR_I, TrapFrame};

/// kstack_alloc: a 32 KiB stack with its guard; returns its top.
pub fn kstack_alloc() -> Option<usize> {
    pmap::kstack_alloc().map(|k| k.hi as usize)
}

/// Whether `top` can be the top of a stack from `kstack_alloc` (the upper
/// end of the lower half of a stack slot).
fn is_kstack_top(top: u64) -> bool {
    (VM_KSTACK_START..=VM_KSTACK_END).contains(&top)
        && (top - VM_KSTACK_START) % (2 * KSTACK_SIZE) == KSTACK_SIZE
        && top > VM_KSTACK_START + 2 * KSTACK_SIZE
}

/// kstack_free: give the stack ending at `top` back. Before: no CPU runs
/// on it (the caller's own stack is checked). After: its pages are back in
/// uvm and its slot is free.
pub fn kstack_free(top: usize) {
    let top = top as u64;
    assert!(is_kstack_top(top), "kstack_free: {top:#x} is not a kernel stack top");
    let sp: u64;
    // SAFETY: reading sp.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    assert!(!(top - KSTACK_SIZE..top).contains(&sp), "kstack_free: freeing the running stack");
    pmap::kstack_free(KStack { lo: top - KSTACK_SIZE, hi: top });
}

/// trapframe_of: the user trap frame at the top of the stack.
pub fn trapframe_of(kstack_top: usize) -> *mut TrapFrame {
    (kstack_top - FRAME_SIZE) as *mut TrapFrame
}

/// Called by locore's `proc_trampoline` on a new thread's first switch:
/// the MI hook, then `func(arg)`. If `func` returns, the caller goes to
/// user mode through the thread's trap frame.
///
/// # Safety (for locore)
/// `hook` and `func` are the values `init_switchframe` stored, which came
/// from `fn()` and `fn(usize)` pointers.
pub extern "C" fn thread_start(hook: usize, func: usize, arg: usize) {
    // SAFETY: see above; fn pointers round-trip through usize.
    let (hook, func) = unsafe {
        (core::mem::transmute::<usize, fn()>(hook), core::mem::transmute::<usize, fn(usize)>(func))
    };
    hook();
    func(arg);
}

/// Give `pcb` a first switch into `proc_trampoline` with the switch frame
/// right below the trap frame of the stack ending at `kstack_top`.
fn init_switchframe(pcb: &mut Pcb, kstack_top: usize, hook: fn(), func: fn(usize), arg: usize, tls: u64) {
    assert!(is_kstack_top(kstack_top as u64), "thread init: {kstack_top:#x} is not a kernel stack top");
    let sf = (kstack_top - FRAME_SIZE - SWITCHFRAME_SIZE) as *mut SwitchFrame;
    // SAFETY: the stack is mapped, belongs to the new thread (which does
    // not run yet) and the switch frame fits below the trap frame; it is
    // 16-byte aligned since both sizes are multiples of 16.
    unsafe {
        sf.write(SwitchFrame {
            sf_x19: hook as usize as u64,
            sf_x20: func as usize as u64,
            sf_x21: arg as u64,
            sf_x22_x28: [0; 7],
            sf_x29: 0,
            sf_lr: locore::proc_trampoline as *const () as u64,
        })
    };
    pcb.pcb_sp = sf as usize;
    pcb.pcb_kstack_top = kstack_top;
    pcb.pcb_onfault = 0;
    pcb.pcb_tls = tls;
}

/// cpu_thread_init with the MI hook chosen by the caller (the boot
/// self-test uses its own, since the real one will release the scheduler
/// lock). The trap frame is zeroed and set to EL0t, so a function that
/// returns enters user mode only with what `setregs` put there.
pub fn thread_init_md(pcb: &mut Pcb, kstack_top: usize, hook: fn(), func: fn(usize), arg: usize) {
    let tf = trapframe_of(kstack_top);
    // SAFETY: the top FRAME_SIZE bytes of the new thread's mapped stack.
    unsafe {
        tf.write(TrapFrame { tf_x: [0; 31], tf_sp: 0, tf_elr: 0, tf_spsr: PSR_EL0T, tf_esr: 0, tf_far: 0 })
    };
    init_switchframe(pcb, kstack_top, hook, func, arg, 0);
}

/// cpu_thread_init: see `Machdep::cpu_thread_init`. Before: `kstack_top`
/// from kstack_alloc, unused. After: the first cpu_switchto to `pcb` runs
/// `proc_trampoline_mi()`, then `func(arg)` on that stack, with
/// interrupts masked as cpu_switchto left them and TPIDR_EL0 = 0.
/// Extension: should `func` return, the thread enters user mode through
/// `trapframe_of(kstack_top)` (zeroed at EL0t here; `setregs` fills it),
/// which is how a kernel thread can become the first user process.
pub fn cpu_thread_init(pcb: &mut Pcb, kstack_top: usize, func: fn(usize), arg: usize) {
    thread_init_md(pcb, kstack_top, kern::kern_sched::proc_trampoline_mi, func, arg);
}

/// A forked thread's function: the MI child hook, then (on return) user
/// mode through the copied frame.
fn fork_child(_: usize) {
    kern::kern_fork::child_return();
}

/// cpu_fork with the MI hook and child function chosen by the caller.
pub fn fork_md(
    parent_tf: *const TrapFrame,
    child: &mut Pcb,
    kstack_top: usize,
    stack: usize,
    tls: u64,
    hook: fn(),
    func: fn(usize),
) {
    let tf = trapframe_of(kstack_top);
    // SAFETY: `parent_tf` is a live frame (contract); the destination is
    // the top of the child's mapped stack. ptr::copy tolerates the two
    // being the same frame (a thread forking its own stack's frame).
    unsafe { ptr::copy(parent_tf, tf, 1) };
    // SAFETY: the child's frame, just written, nobody else uses it.
    let t = unsafe { &mut *tf };
    t.tf_x[0] = 0;
    t.tf_x[1] = 0;
    t.tf_spsr &= !PSR_C;
    if stack != 0 {
        t.tf_sp = stack as u64;
    }
    init_switchframe(child, kstack_top, hook, func, 0, tls);
}

/// cpu_fork: see `Machdep::cpu_fork`. Before: `parent_tf` is the calling
/// thread's user frame, `kstack_top` a fresh stack. After: the child's
/// frame at the top of its stack is the parent's with x0 = x1 = 0 and C
/// clear (fork returns 0 without error), sp = `stack` if not 0; its
/// TPIDR_EL0 will be `tls`; its first switch runs proc_trampoline_mi,
/// child_return, then returns to user mode (through userret).
pub fn cpu_fork(parent_tf: *const MiTrapFrame, child: &mut Pcb, kstack_top: usize, stack: usize, tls: u64) {
    fork_md(
        parent_tf as *const TrapFrame,
        child,
        kstack_top,
        stack,
        tls,
        kern::kern_sched::proc_trampoline_mi,
        fork_child,
    );
}

/// cpu_switchto: see `Machdep::cpu_switchto` and locore's
/// `cpu_switchto_md`. Checks the interrupt precondition, since a switch
/// with interrupts enabled could take an interrupt half-way.
///
/// # Safety
/// `old` and `new` point at live Pcbs; `new` was prepared by
/// `cpu_thread_init`/`cpu_fork` or saved by an earlier switch, and its
/// stack stays mapped while it runs.
pub unsafe fn cpu_switchto(old: *mut Pcb, new: *const Pcb) {
    let daif: u64;
    // SAFETY: reading DAIF.
    unsafe { core::arch::asm!("mrs {}, daif", out(reg) daif, options(nomem, nostack)) };
    assert!(daif & PSR_I != 0, "cpu_switchto with interrupts enabled");
    // SAFETY: forwarded from the caller.
    unsafe { locore::cpu_switchto_md(old, new) };
}

/// The stack overflow check in the vectors relies on stacks sitting in the
/// lower half of a 2 * KSTACK_SIZE slot.
const _: () = assert!(KSTACK_SIZE == 1 << KSTACK_SHIFT);
