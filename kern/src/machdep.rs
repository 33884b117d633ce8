//! The machine-dependent interface: everything `kern/` needs from an arch.
//!
//! # Mechanism: link-time binding checked by a trait
//!
//! Each arch crate implements [`Machdep`] for one type and invokes
//! [`bind_machdep!`] once. The macro emits one `#[no_mangle]` function per
//! trait method, and `kern` calls them through the `extern` block below.
//! Because the macro and the extern block live in this file and both are
//! written from the trait, the signatures cannot drift apart; because the
//! binding is resolved by the linker, calls are direct (and inlined by LTO
//! when enabled), with no generics spreading through the MI code and no
//! vtable on hot paths like `curcpu()`. Host unit tests bind a simulated
//! machine in the same way (`kern::sim`).
//!
//! Every method documents what holds before and after it runs.
//!
//! Trap frame pointers are opaque to the MI code: it only passes back what
//! the arch gave it, so the wrappers below take them as plain values.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::cpu::CpuInfo;
use uvm::pmap::{PmapRef, VmProt};

/// An arch's saved user register state, opaque to the MI code (OpenBSD's
/// `struct trapframe`). It sits at the top of each thread's kernel stack.
pub enum TrapFrame {}

/// The switch state of a thread (OpenBSD's `struct pcb`), embedded in the
/// MI `Proc`. The arch decides what `pcb_sp` points at; the MI code only
/// allocates the structure and hands it to the calls below.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Pcb {
    /// Saved kernel stack pointer while the thread is off CPU.
    pub pcb_sp: usize,
    /// Top of the thread's kernel stack (its trap frame sits just below).
    pub pcb_kstack_top: usize,
    /// Fault recovery address for copyin/copyout, 0 when none.
    pub pcb_onfault: usize,
    /// User thread pointer (FS base on amd64, TPIDR_EL0 on arm64).
    pub pcb_tls: u64,
    /// Arch scratch (e.g. flags); MI code never reads it.
    pub pcb_md: [u64; 4],
}

/// A user copy failed on an unmapped or protected address (EFAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Efault;

pub trait Machdep: uvm::pmap::Pmap {
    /// Write bytes to the console, polled. Callable from any context,
    /// including interrupt handlers and panic, with interrupts in any state.
    /// Serialisation between CPUs is the caller's job (`subr_prf`).
    fn cnputs(s: &[u8]);

    /// The current CPU's MI per-CPU structure, in O(1) (GS base on amd64,
    /// TPIDR_EL1 on arm64). Before: the CPU has run its MD early init.
    fn curcpu() -> &'static CpuInfo;

    /// Mask interrupts on this CPU and return the previous state, to be
    /// given back to [`Machdep::intr_restore`].
    fn intr_disable() -> usize;
    /// Restore the state returned by [`Machdep::intr_disable`].
    fn intr_restore(state: usize);
    /// Unmask interrupts on this CPU.
    fn intr_enable();

    /// Wait for the next interrupt with interrupts enabled, without losing a
    /// wakeup that arrives between the caller's check and the wait
    /// (`sti; hlt` / `wfi`). After: an interrupt was taken (or a spurious
    /// wakeup happened); interrupts are enabled.
    fn cpu_idle_wait();

    /// Autoconfiguration, on the boot CPU after MI memory init: attach the
    /// interrupt controllers, start the boot CPU's periodic timer at
    /// `param::HZ`, register every CPU the firmware describes
    /// (`cpu::cpu_attach`) and start the secondaries. Before: heap and page
    /// allocator work. After: every CPU found is registered; secondaries are
    /// starting or running `init_main::cpu_hatch_mi`.
    fn cpu_configure();

    /// Raise the kernel IPI on CPU `cpuid`. The receiver calls
    /// `kern_ipi::ipi_intr()` from its interrupt handler.
    fn send_ipi(cpuid: u32);

    /// Stop every other CPU (panic path). Must not take locks another CPU
    /// could hold. After: other CPUs execute nothing but a halt loop, or the
    /// caller has waited a bounded time for them.
    fn cpu_halt_others();

    /// Power the machine off, telling the hypervisor `status` (0 success).
    fn powerdown(status: u32) -> !;

    /// Kernel virtual address of physical address `pa` in the direct map.
    fn phys_to_kva(pa: u64) -> u64;

    /// A monotonic nanosecond clock, for timeouts and boot timing.
    fn nanouptime() -> u64;

    /// The CPU's cycle counter, raw (TSC on amd64, CNTVCT_EL0 on arm64):
    /// the time base of the per-CPU time accounting, read at every kernel
    /// entry, exit and switch, so it must be cheap, callable with
    /// interrupts masked and in any context. The counters of all CPUs tick
    /// at one rate and together (a reader may compare another CPU's stamp
    /// with its own reading).
    fn cpu_counter() -> u64;
    /// Ticks per second of [`Machdep::cpu_counter`]; 0 until known.
    fn cpu_counter_freq() -> u64;

    /// Fault on purpose inside the kernel (the `fault` boot word): a read
    /// from an unmapped kernel address, so the trap path is tested.
    fn trap_selftest();

    // ----- threads -----

    /// Allocate a kernel stack with an unmapped guard page below it and
    /// return its top (the initial stack pointer), or None when out of
    /// memory or kernel virtual space.
    fn kstack_alloc() -> Option<usize>;
    /// Free a stack from `kstack_alloc`. Before: no CPU runs on it.
    fn kstack_free(top: usize);

    /// Prepare `pcb` (a new kernel thread on the stack ending at
    /// `kstack_top`) so that the first `cpu_switchto` to it calls
    /// `kern_sched::proc_trampoline_mi()` and then `func(arg)`. A kernel
    /// thread's `func` never returns; if it does, the thread enters user
    /// mode through `trapframe_of(kstack_top)`, a zeroed user frame unless
    /// `setregs` filled it in (how process 1 starts: `func` execs init).
    fn cpu_thread_init(pcb: &mut Pcb, kstack_top: usize, func: fn(usize), arg: usize);

    /// fork/__tfork: prepare `child` (kernel stack ending at `kstack_top`)
    /// to return to user mode with a copy of `parent_tf`, the syscall
    /// returning 0 with no error. `stack`, when not 0, replaces the user
    /// stack pointer; `tls` is the child's user thread pointer. The first
    /// `cpu_switchto` to it calls `kern_sched::proc_trampoline_mi()`, then
    /// `kern_fork::child_return()`, then returns to user mode through the
    /// copied frame. Before: `parent_tf` is the calling thread's frame.
    fn cpu_fork(parent_tf: *const TrapFrame, child: &mut Pcb, kstack_top: usize, stack: usize, tls: u64);

    /// The trap frame of the thread whose kernel stack ends at `kstack_top`.
    fn trapframe_of(kstack_top: usize) -> *mut TrapFrame;

    /// Switch from the current thread to `new`: save the callee-saved state
    /// and stack pointer in `old`, load `new`'s, set the CPU's kernel entry
    /// stack (amd64 TSS rsp0 and syscall stack) to `new.pcb_kstack_top` and
    /// its user thread pointer to `new.pcb_tls` (saving `old`'s on arm64,
    /// where EL0 can write TPIDR_EL0). Does not touch the pmap: the MI code
    /// activates it before the call. Before: interrupts masked, the
    /// scheduler lock held (it passes to `new`). Returns when some CPU
    /// switches back to `old`, with interrupts masked.
    fn cpu_switchto(old: *mut Pcb, new: *const Pcb);

    // ----- user mode -----

    /// execve: reset `tf` to enter user mode at `entry` with the stack
    /// pointer `sp` (16-byte aligned, pointing at argc), the first argument
    /// register also `sp`, every other register 0, and `pcb.pcb_tls` = 0.
    fn setregs(tf: *mut TrapFrame, pcb: &mut Pcb, entry: u64, sp: u64);

    /// Arrange for the user thread to run `catcher(sig, 0, scp)` when it
    /// returns to user mode: push a signal context (all registers, `mask`
    /// to restore) below the user stack pointer with copyout, point `tf` at
    /// the handler with its return address at `vmparam::SIGCODE_VA`. False
    /// when the context cannot be written (the MI code then kills the
    /// process with SIGSEGV).
    fn sendsig(tf: *mut TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool;

    /// sigreturn(scp): restore the frame from the context at user address
    /// `scp` (copyin), refusing one that would enter the kernel or change
    /// privileged state (EINVAL) and a bad pointer (EFAULT). Returns the
    /// signal mask saved in the context.
    fn sigreturn(tf: *mut TrapFrame, scp: u64) -> Result<u32, i32>;

    /// The signal trampoline's machine code, mapped read-only and
    /// executable at `vmparam::SIGCODE_VA`: it calls `sigreturn` with the
    /// context the handler returned past.
    fn sigcode() -> &'static [u8];

    /// The ELF `e_machine` of this arch's user programs (EM_X86_64 62,
    /// EM_AARCH64 183).
    fn elf_machine() -> u16;

    /// The user program counter and stack pointer in `tf` (for ps, faults).
    fn tf_pc_sp(tf: *const TrapFrame) -> (u64, u64);

    /// Copy `dst.len()` bytes from user address `uaddr`. Err on any address
    /// not mapped readable in the current address space or not in user
    /// space, after `kern::trap::kernel_pagefault` had a chance to fault it
    /// in. SMAP/PAN are lifted only for the copy.
    fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault>;
    /// Copy `src` to user address `uaddr`; as `copyin`, needing write access.
    fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault>;
}

/// Bind `$md` (a type implementing [`Machdep`]) as the machine of this
/// kernel. Invoke exactly once, in the arch crate.
#[macro_export]
macro_rules! bind_machdep {
    ($md:ty) => {
        #[unsafe(no_mangle)]
        fn __md_cnputs(s: &[u8]) {
            <$md as $crate::machdep::Machdep>::cnputs(s)
        }
        #[unsafe(no_mangle)]
        fn __md_curcpu() -> &'static $crate::cpu::CpuInfo {
            <$md as $crate::machdep::Machdep>::curcpu()
        }
        #[unsafe(no_mangle)]
        fn __md_intr_disable() -> usize {
            <$md as $crate::machdep::Machdep>::intr_disable()
        }
        #[unsafe(no_mangle)]
        fn __md_intr_restore(s: usize) {
            <$md as $crate::machdep::Machdep>::intr_restore(s)
        }
        #[unsafe(no_mangle)]
        fn __md_intr_enable() {
            <$md as $crate::machdep::Machdep>::intr_enable()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_idle_wait() {
            <$md as $crate::machdep::Machdep>::cpu_idle_wait()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_configure() {
            <$md as $crate::machdep::Machdep>::cpu_configure()
        }
        #[unsafe(no_mangle)]
        fn __md_send_ipi(cpuid: u32) {
            <$md as $crate::machdep::Machdep>::send_ipi(cpuid)
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_halt_others() {
            <$md as $crate::machdep::Machdep>::cpu_halt_others()
        }
        #[unsafe(no_mangle)]
        fn __md_powerdown(status: u32) -> ! {
            <$md as $crate::machdep::Machdep>::powerdown(status)
        }
        #[unsafe(no_mangle)]
        fn __md_phys_to_kva(pa: u64) -> u64 {
            <$md as $crate::machdep::Machdep>::phys_to_kva(pa)
        }
        #[unsafe(no_mangle)]
        fn __md_nanouptime() -> u64 {
            <$md as $crate::machdep::Machdep>::nanouptime()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_counter() -> u64 {
            <$md as $crate::machdep::Machdep>::cpu_counter()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_counter_freq() -> u64 {
            <$md as $crate::machdep::Machdep>::cpu_counter_freq()
        }
        #[unsafe(no_mangle)]
        fn __md_trap_selftest() {
            <$md as $crate::machdep::Machdep>::trap_selftest()
        }
        #[unsafe(no_mangle)]
        fn __md_kstack_alloc() -> Option<usize> {
            <$md as $crate::machdep::Machdep>::kstack_alloc()
        }
        #[unsafe(no_mangle)]
        fn __md_kstack_free(top: usize) {
            <$md as $crate::machdep::Machdep>::kstack_free(top)
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_thread_init(pcb: &mut $crate::machdep::Pcb, top: usize, func: fn(usize), arg: usize) {
            <$md as $crate::machdep::Machdep>::cpu_thread_init(pcb, top, func, arg)
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_fork(
            tf: *const $crate::machdep::TrapFrame,
            child: &mut $crate::machdep::Pcb,
            top: usize,
            stack: usize,
            tls: u64,
        ) {
            <$md as $crate::machdep::Machdep>::cpu_fork(tf, child, top, stack, tls)
        }
        #[unsafe(no_mangle)]
        fn __md_trapframe_of(top: usize) -> *mut $crate::machdep::TrapFrame {
            <$md as $crate::machdep::Machdep>::trapframe_of(top)
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_switchto(old: *mut $crate::machdep::Pcb, new: *const $crate::machdep::Pcb) {
            <$md as $crate::machdep::Machdep>::cpu_switchto(old, new)
        }
        #[unsafe(no_mangle)]
        fn __md_setregs(
            tf: *mut $crate::machdep::TrapFrame,
            pcb: &mut $crate::machdep::Pcb,
            entry: u64,
            sp: u64,
        ) {
            <$md as $crate::machdep::Machdep>::setregs(tf, pcb, entry, sp)
        }
        #[unsafe(no_mangle)]
        fn __md_sendsig(tf: *mut $crate::machdep::TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
            <$md as $crate::machdep::Machdep>::sendsig(tf, catcher, sig, mask)
        }
        #[unsafe(no_mangle)]
        fn __md_sigreturn(tf: *mut $crate::machdep::TrapFrame, scp: u64) -> Result<u32, i32> {
            <$md as $crate::machdep::Machdep>::sigreturn(tf, scp)
        }
        #[unsafe(no_mangle)]
        fn __md_sigcode() -> &'static [u8] {
            <$md as $crate::machdep::Machdep>::sigcode()
        }
        #[unsafe(no_mangle)]
        fn __md_elf_machine() -> u16 {
            <$md as $crate::machdep::Machdep>::elf_machine()
        }
        #[unsafe(no_mangle)]
        fn __md_tf_pc_sp(tf: *const $crate::machdep::TrapFrame) -> (u64, u64) {
            <$md as $crate::machdep::Machdep>::tf_pc_sp(tf)
        }
        #[unsafe(no_mangle)]
        fn __md_copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), $crate::machdep::Efault> {
            <$md as $crate::machdep::Machdep>::copyin(uaddr, dst)
        }
        #[unsafe(no_mangle)]
        fn __md_copyout(src: &[u8], uaddr: u64) -> Result<(), $crate::machdep::Efault> {
            <$md as $crate::machdep::Machdep>::copyout(src, uaddr)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_create() -> Option<usize> {
            <$md as $crate::uvm::pmap::Pmap>::pmap_create()
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_destroy(pm: usize) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_destroy(pm)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_enter(pm: usize, va: u64, pa: u64, prot: $crate::uvm::pmap::VmProt) -> bool {
            <$md as $crate::uvm::pmap::Pmap>::pmap_enter(pm, va, pa, prot)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_remove(pm: usize, sva: u64, eva: u64) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_remove(pm, sva, eva)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_protect(pm: usize, sva: u64, eva: u64, prot: $crate::uvm::pmap::VmProt) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_protect(pm, sva, eva, prot)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_extract(pm: usize, va: u64) -> Option<u64> {
            <$md as $crate::uvm::pmap::Pmap>::pmap_extract(pm, va)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_activate(pm: usize) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_activate(pm)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_deactivate(pm: usize) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_deactivate(pm)
        }
        #[unsafe(no_mangle)]
        fn __md_pmap_purge(pm: usize) {
            <$md as $crate::uvm::pmap::Pmap>::pmap_purge(pm)
        }
    };
}

unsafe extern "Rust" {
    fn __md_cnputs(s: &[u8]);
    fn __md_curcpu() -> &'static CpuInfo;
    fn __md_intr_disable() -> usize;
    fn __md_intr_restore(s: usize);
    fn __md_intr_enable();
    fn __md_cpu_idle_wait();
    fn __md_cpu_configure();
    fn __md_send_ipi(cpuid: u32);
    fn __md_cpu_halt_others();
    fn __md_powerdown(status: u32) -> !;
    fn __md_phys_to_kva(pa: u64) -> u64;
    fn __md_nanouptime() -> u64;
    fn __md_cpu_counter() -> u64;
    fn __md_cpu_counter_freq() -> u64;
    fn __md_trap_selftest();
    fn __md_kstack_alloc() -> Option<usize>;
    fn __md_kstack_free(top: usize);
    fn __md_cpu_thread_init(pcb: &mut Pcb, top: usize, func: fn(usize), arg: usize);
    fn __md_cpu_fork(tf: *const TrapFrame, child: &mut Pcb, top: usize, stack: usize, tls: u64);
    fn __md_trapframe_of(top: usize) -> *mut TrapFrame;
    fn __md_cpu_switchto(old: *mut Pcb, new: *const Pcb);
    fn __md_setregs(tf: *mut TrapFrame, pcb: &mut Pcb, entry: u64, sp: u64);
    fn __md_sendsig(tf: *mut TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool;
    fn __md_sigreturn(tf: *mut TrapFrame, scp: u64) -> Result<u32, i32>;
    fn __md_sigcode() -> &'static [u8];
    fn __md_elf_machine() -> u16;
    fn __md_tf_pc_sp(tf: *const TrapFrame) -> (u64, u64);
    fn __md_copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault>;
    fn __md_copyout(src: &[u8], uaddr: u64) -> Result<(), Efault>;
    fn __md_pmap_create() -> Option<usize>;
    fn __md_pmap_destroy(pm: usize);
    fn __md_pmap_enter(pm: usize, va: u64, pa: u64, prot: VmProt) -> bool;
    fn __md_pmap_remove(pm: usize, sva: u64, eva: u64);
    fn __md_pmap_protect(pm: usize, sva: u64, eva: u64, prot: VmProt);
    fn __md_pmap_extract(pm: usize, va: u64) -> Option<u64>;
    fn __md_pmap_activate(pm: usize);
    fn __md_pmap_deactivate(pm: usize);
    fn __md_pmap_purge(pm: usize);
}

// SAFETY (all wrappers below): the symbols are defined by `bind_machdep!`
// from the same trait whose signatures the extern block repeats, so the
// ABI matches; the trait methods themselves are safe functions.
#[inline]
pub fn cnputs(s: &[u8]) {
    unsafe { __md_cnputs(s) }
}
#[inline]
pub fn curcpu() -> &'static CpuInfo {
    unsafe { __md_curcpu() }
}
#[inline]
pub fn intr_disable() -> usize {
    unsafe { __md_intr_disable() }
}
#[inline]
pub fn intr_restore(s: usize) {
    unsafe { __md_intr_restore(s) }
}
#[inline]
pub fn intr_enable() {
    unsafe { __md_intr_enable() }
}
#[inline]
pub fn cpu_idle_wait() {
    unsafe { __md_cpu_idle_wait() }
}
pub fn cpu_configure() {
    unsafe { __md_cpu_configure() }
}
#[inline]
pub fn send_ipi(cpuid: u32) {
    unsafe { __md_send_ipi(cpuid) }
}
pub fn cpu_halt_others() {
    unsafe { __md_cpu_halt_others() }
}
pub fn powerdown(status: u32) -> ! {
    unsafe { __md_powerdown(status) }
}
#[inline]
pub fn phys_to_kva(pa: u64) -> u64 {
    unsafe { __md_phys_to_kva(pa) }
}
#[inline]
pub fn nanouptime() -> u64 {
    unsafe { __md_nanouptime() }
}
#[inline]
pub fn cpu_counter() -> u64 {
    unsafe { __md_cpu_counter() }
}
pub fn cpu_counter_freq() -> u64 {
    unsafe { __md_cpu_counter_freq() }
}
pub fn trap_selftest() {
    unsafe { __md_trap_selftest() }
}
pub fn kstack_alloc() -> Option<usize> {
    unsafe { __md_kstack_alloc() }
}
pub fn kstack_free(top: usize) {
    unsafe { __md_kstack_free(top) }
}
pub fn cpu_thread_init(pcb: &mut Pcb, top: usize, func: fn(usize), arg: usize) {
    unsafe { __md_cpu_thread_init(pcb, top, func, arg) }
}
pub fn cpu_fork(tf: *const TrapFrame, child: &mut Pcb, top: usize, stack: usize, tls: u64) {
    unsafe { __md_cpu_fork(tf, child, top, stack, tls) }
}
pub fn trapframe_of(top: usize) -> *mut TrapFrame {
    unsafe { __md_trapframe_of(top) }
}
/// # Safety
/// `old` and `new` point at live `Pcb`s; the caller holds the scheduler
/// lock with interrupts masked (see [`Machdep::cpu_switchto`]).
pub unsafe fn cpu_switchto(old: *mut Pcb, new: *const Pcb) {
    unsafe { __md_cpu_switchto(old, new) }
}
pub fn setregs(tf: *mut TrapFrame, pcb: &mut Pcb, entry: u64, sp: u64) {
    unsafe { __md_setregs(tf, pcb, entry, sp) }
}
pub fn sendsig(tf: *mut TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
    unsafe { __md_sendsig(tf, catcher, sig, mask) }
}
pub fn sigreturn(tf: *mut TrapFrame, scp: u64) -> Result<u32, i32> {
    unsafe { __md_sigreturn(tf, scp) }
}
pub fn sigcode() -> &'static [u8] {
    unsafe { __md_sigcode() }
}
pub fn elf_machine() -> u16 {
    unsafe { __md_elf_machine() }
}
pub fn tf_pc_sp(tf: *const TrapFrame) -> (u64, u64) {
    unsafe { __md_tf_pc_sp(tf) }
}
#[inline]
pub fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault> {
    unsafe { __md_copyin(uaddr, dst) }
}
#[inline]
pub fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault> {
    unsafe { __md_copyout(src, uaddr) }
}
pub fn pmap_create() -> Option<PmapRef> {
    unsafe { __md_pmap_create() }
}
pub fn pmap_destroy(pm: PmapRef) {
    unsafe { __md_pmap_destroy(pm) }
}
pub fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
    unsafe { __md_pmap_enter(pm, va, pa, prot) }
}
pub fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
    unsafe { __md_pmap_remove(pm, sva, eva) }
}
pub fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
    unsafe { __md_pmap_protect(pm, sva, eva, prot) }
}
pub fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
    unsafe { __md_pmap_extract(pm, va) }
}
pub fn pmap_activate(pm: PmapRef) {
    unsafe { __md_pmap_activate(pm) }
}
pub fn pmap_deactivate(pm: PmapRef) {
    unsafe { __md_pmap_deactivate(pm) }
}
pub fn pmap_purge(pm: PmapRef) {
    unsafe { __md_pmap_purge(pm) }
}
