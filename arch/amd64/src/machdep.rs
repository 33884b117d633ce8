//! The amd64 machine: the `Machdep` implementation the MI kernel calls,
//! the early boot flow (`init_x86_64`, after locore), autoconfiguration
//! (`cpu_configure`) and power-off.
//!
//! Boot flow, on the boot CPU with interrupts masked:
//! locore `pvh_start32` (long mode, boot page tables, boot stack) ->
//! `init_x86_64`: cpu_info + GDT/TSS + GS base, IDT, console, CPU features
//! -> copy what is needed out of PVH start_info -> parse ACPI -> the boot
//! memory list -> kernel page tables (`pmap_bootstrap`) -> local APIC ->
//! clock calibration -> guarded stacks -> attach cpu0 -> `main` on the
//! guarded stack. `main` calls back into `cpu_configure` once memory works.

use core::sync::atomic::{AtomicU64, Ordering};

use kern::bootinfo::{BootInfo, MAX_MEM_REGIONS, MemRegion};
use kern::cpu::CpuInfo;
use kern::machdep::{Efault, Machdep, Pcb, TrapFrame};
use spin::Once;
use sys::vmparam::{SIGCODE_VA, VM_MAXUSER_ADDRESS, VM_MIN_ADDRESS};
use uvm::PAGE_SIZE;

use crate::acpi::{self, GAS_IO, GAS_MEMORY};
use crate::cpu::{self, LineBuf};
use crate::cpufunc::{
    self, MSR_APICBASE, PSL_AC, PSL_C, PSL_D, PSL_I, PSL_T, PSL_USER, PSL_USERCHANGE, halt_forever, outb,
    outw, rdmsr, read_rflags,
};
use crate::gdt::{GSEL_UCODE_SEL, GSEL_UDATA_SEL};
use crate::pmap::{self, BOOTMEM, MemList};
use crate::trap::{self as md, TRAPFRAME_SIZE, tf_md};
use crate::{clock, cons, intr, lapic, locore, trap};

/// The machine type bound to the MI kernel.
pub struct Amd64;

kern::bind_machdep!(Amd64);

// Each method's contract (what holds before and after) is the trait's, in
// kern/src/machdep.rs; the notes here say how amd64 meets it.
impl Machdep for Amd64 {
    /// Polled COM1 (`cons`); no lock, usable from NMI and panic.
    fn cnputs(s: &[u8]) {
        cons::cnputs(s)
    }

    /// `%gs:0` -> this CPU's `CpuInfoMd`. Valid from `cpu0_init` (boot CPU)
    /// or `cpu_hatch` (others) on.
    fn curcpu() -> &'static CpuInfo {
        &cpu::curcpu_md().ci_mi
    }

    /// After: RFLAGS.IF clear; returns 1 if it was set, else 0.
    fn intr_disable() -> usize {
        let on = read_rflags() & PSL_I != 0;
        cpufunc::cli();
        on as usize
    }

    /// After: RFLAGS.IF as it was before the matching `intr_disable`.
    fn intr_restore(state: usize) {
        if state != 0 {
            // SAFETY: interrupts were on when the matching intr_disable ran,
            // so this CPU was ready for them then and still is.
            unsafe { cpufunc::sti() };
        }
    }

    /// After: RFLAGS.IF set.
    fn intr_enable() {
        // SAFETY: the MI code enables interrupts only once this CPU's IDT,
        // local APIC and cpu_info are set up (after early init / hatch).
        unsafe { cpufunc::sti() };
    }

    /// `sti; hlt`: returns after one interrupt, with interrupts enabled. If
    /// kernel stacks freed with interrupts masked are waiting, frees them
    /// instead (with interrupts enabled) and returns at once, a spurious
    /// wakeup as far as the caller is concerned.
    fn cpu_idle_wait() {
        if pmap::kstack_deferred() {
            // SAFETY: the MI idle loop holds no lock here; interrupts may
            // be taken.
            unsafe { cpufunc::sti() };
            pmap::kstack_drain_deferred();
            return;
        }
        // SAFETY: `sti` takes effect after the next instruction, so an
        // interrupt pending now is taken after `hlt` starts waiting, and
        // wakes it: no wakeup is lost between the caller's check and here.
        unsafe { core::arch::asm!("sti", "hlt", options(nostack)) };
    }

    /// See `cpu_configure` below.
    fn cpu_configure() {
        cpu_configure()
    }

    /// Fixed IPI on `LAPIC_IPI_VECTOR` to the CPU's APIC id (`ci_hwid`).
    fn send_ipi(cpuid: u32) {
        intr::send_ipi(cpuid)
    }

    /// NMI to all but self; the NMI handler halts. Bounded wait, no lock.
    fn cpu_halt_others() {
        intr::cpu_halt_others()
    }

    /// isa-debug-exit, then ACPI S5, then halt (see `powerdown` below).
    fn powerdown(status: u32) -> ! {
        powerdown(status)
    }

    /// `DMAP_BASE + pa`; the direct map covers all RAM (and the ACPI areas).
    fn phys_to_kva(pa: u64) -> u64 {
        pmap::phys_to_kva(pa)
    }

    /// TSC since kernel entry, scaled by the boot-time calibration; 0 until
    /// `clock::calibrate` ran (before `main`).
    fn nanouptime() -> u64 {
        clock::nanouptime()
    }

    /// The TSC, assumed to tick at one rate on all CPUs (see `clock`).
    fn cpu_counter() -> u64 {
        crate::cpufunc::rdtsc()
    }
    /// The calibrated TSC rate; 0 before `clock::calibrate`.
    fn cpu_counter_freq() -> u64 {
        clock::tsc_hz()
    }

    /// Reads the unmapped guard page under this CPU's stack. After: never
    /// returns (the #PF handler dumps registers and panics).
    fn trap_selftest() {
        let top = cpu::curcpu_md().ci_idle_stack.load(Ordering::Relaxed);
        let guard = top - (pmap::KSTACK_PAGES + 1) * PAGE_SIZE;
        // SAFETY: not sound as a memory access, on purpose: the read faults
        // and the trap handler panics; it never returns a value.
        unsafe { core::ptr::read_volatile(guard as *const u64) };
    }

    /// `USPACE_PAGES` (32 KiB) of wired memory plus an unmapped guard page,
    /// in a KVA slot of its own (`pmap::kstack_alloc_thread`).
    fn kstack_alloc() -> Option<usize> {
        pmap::kstack_alloc_thread().map(|t| t as usize)
    }

    /// Unmaps the stack, shoots it down on every CPU, frees its pages (and
    /// page-table page once unused) and its slot, at once if interrupts are
    /// enabled; with them masked (e.g. from the switch path) that waits for
    /// the next kstack_alloc/kstack_free with interrupts on or the next
    /// `cpu_idle_wait`, since the shootdown must wait for the other CPUs.
    fn kstack_free(top: usize) {
        pmap::kstack_free_thread(top as u64)
    }

    /// The trap frame area at the top is zeroed; below it a switch frame
    /// returns into `md_proc_trampoline`.
    fn cpu_thread_init(pcb: &mut Pcb, kstack_top: usize, func: fn(usize), arg: usize) {
        cpu_thread_init_hook(pcb, kstack_top, md_proc_trampoline_mi, func as usize, arg)
    }

    /// The child's frame is the parent's with rax = rdx = 0, CF clear,
    /// %rcx/%r11 as SYSRET leaves them, and `stack` as %rsp if not 0.
    fn cpu_fork(parent_tf: *const TrapFrame, child: &mut Pcb, kstack_top: usize, stack: usize, tls: u64) {
        cpu_fork_hook(parent_tf, child, kstack_top, stack, tls, md_proc_trampoline_mi)
    }

    /// The frame's 176 bytes end at the stack top.
    fn trapframe_of(kstack_top: usize) -> *mut TrapFrame {
        (kstack_top - TRAPFRAME_SIZE) as *mut TrapFrame
    }

    /// Callee-saved registers on the old stack, %rsp in `old.pcb_sp`; then
    /// `new`'s stack, TSS RSP0 = SYSCALL stack = `new.pcb_kstack_top`,
    /// `ci_curpcb` = `new`, FS base = `new.pcb_tls` (0 unless a canonical
    /// user address). Nothing of `old` is touched after its %rsp is saved.
    fn cpu_switchto(old: *mut Pcb, new: *const Pcb) {
        // SAFETY: the MI caller passes live Pcbs, holds the scheduler lock
        // with interrupts masked (trait contract); `new` was prepared by
        // cpu_thread_init/cpu_fork or saved by an earlier switch.
        unsafe { locore::md_cpu_switchto(old, new) }
    }

    /// All registers 0 but %rsp = %rdi = `sp`; RFLAGS = IF; user CS/SS. An
    /// entry outside user space becomes 0 (never mapped), so the program
    /// faults at once instead of the return to user mode faulting in ring 0.
    fn setregs(tf: *mut TrapFrame, pcb: &mut Pcb, entry: u64, sp: u64) {
        // SAFETY: the MI code passes the calling thread's own frame.
        let tf = unsafe { tf_md(tf) };
        let rip = if entry < VM_MAXUSER_ADDRESS as u64 { entry } else { 0 };
        *tf = md::TrapFrame {
            trapno: tf.trapno,
            rip,
            cs: GSEL_UCODE_SEL as u64,
            rflags: PSL_USER,
            rsp: sp,
            ss: GSEL_UDATA_SEL as u64,
            rdi: sp,
            ..Default::default()
        };
        pcb.pcb_tls = 0;
    }

    /// See `SigContext` for the layout on the user stack.
    fn sendsig(tf: *mut TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
        // SAFETY: the MI code passes the current thread's own frame.
        sendsig(unsafe { tf_md(tf) }, catcher, sig, mask)
    }

    /// See `sigreturn` below for what is refused.
    fn sigreturn(tf: *mut TrapFrame, scp: u64) -> Result<u32, i32> {
        // SAFETY: the MI code passes the current thread's own frame.
        sigreturn(unsafe { tf_md(tf) }, scp)
    }

    /// `SIGCODE`: 12 bytes, position-independent.
    fn sigcode() -> &'static [u8] {
        &SIGCODE
    }
    /// EM_X86_64: the only user programs exec accepts here.
    fn elf_machine() -> u16 {
        62
    }

    fn tf_pc_sp(tf: *const TrapFrame) -> (u64, u64) {
        // SAFETY: the MI code passes a frame this arch gave it.
        let tf = unsafe { &*(tf as *const md::TrapFrame) };
        (tf.rip, tf.rsp)
    }

    /// Range check (no wrap, inside `[VM_MIN_ADDRESS, VM_MAXUSER_ADDRESS)`),
    /// then `md_copy_user` with stac/clac and `pcb_onfault` in the current
    /// thread's Pcb. A missing page is faulted in by
    /// `kern::trap::kernel_pagefault` only when interrupts are enabled;
    /// with them masked it is EFAULT.
    fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault> {
        copyin(uaddr, dst)
    }

    /// As `copyin`; a read-only page is EFAULT unless the VM makes it
    /// writable (CR0.WP makes the kernel honour it).
    fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault> {
        copyout(src, uaddr)
    }
}

// --- threads ---

/// What `md_cpu_switchto` pops, lowest address first.
#[repr(C)]
struct SwitchFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbx: u64,
    rbp: u64,
    rip: u64,
}

/// The MI hook every new thread runs first.
extern "C" fn md_proc_trampoline_mi() {
    kern::kern_sched::proc_trampoline_mi()
}

/// Lay a `SwitchFrame` just below the trap frame area of the stack ending
/// at `top` and point `pcb` at it; the first switch to `pcb` then "returns"
/// to `rip` with %rsp = the trap frame (16-byte aligned) and %r12..%r14 as
/// given.
fn init_switchframe(pcb: &mut Pcb, top: usize, rip: u64, r12: u64, r13: u64, r14: u64) {
    assert!(top != 0 && top.is_multiple_of(16), "kstack top {top:#x} not 16-byte aligned");
    let sf = (top - TRAPFRAME_SIZE - core::mem::size_of::<SwitchFrame>()) as *mut SwitchFrame;
    // SAFETY: the caller owns the fresh stack ending at `top` (trait
    // contract), which has room for a trap frame and a switch frame.
    unsafe { sf.write(SwitchFrame { r15: 0, r14, r13, r12, rbx: 0, rbp: 0, rip }) };
    pcb.pcb_sp = sf as usize;
    pcb.pcb_kstack_top = top;
    pcb.pcb_onfault = 0;
}

/// `cpu_thread_init` with the first hook chosen: the MI trampoline for
/// real threads, a test hook for the switch self-test. Before: `top` ends
/// a stack nobody runs on. After: the first `cpu_switchto(_, pcb)` runs
/// `pre()`, then `func(arg)` on that stack, with interrupts as the switch
/// left them (masked).
pub fn cpu_thread_init_hook(pcb: &mut Pcb, top: usize, pre: extern "C" fn(), func: usize, arg: usize) {
    let tf = (top - TRAPFRAME_SIZE) as *mut md::TrapFrame;
    // SAFETY: as in init_switchframe; a kernel thread's frame area is
    // unused, zeroed so it never shows garbage.
    unsafe { tf.write(md::TrapFrame::default()) };
    init_switchframe(
        pcb,
        top,
        &raw const locore::md_proc_trampoline as u64,
        func as u64,
        arg as u64,
        pre as usize as u64,
    );
    pcb.pcb_tls = 0;
}

/// `md_proc_trampoline`'s Rust half: the hook, then the thread's function.
/// A function that returns has set up a user frame with `setregs` (process
/// 1 execs init this way): then the thread enters user mode through it, as
/// a forked child does. Returns with interrupts masked and 1 if SYSRET may
/// be used.
pub extern "C" fn md_thread_start(
    pre: extern "C" fn(),
    func: usize,
    arg: usize,
    tf: &mut md::TrapFrame,
) -> u64 {
    pre();
    // SAFETY: cpu_thread_init stored a `fn(usize)` here.
    let f = unsafe { core::mem::transmute::<usize, fn(usize)>(func) };
    f(arg);
    assert!(
        tf.cs == GSEL_UCODE_SEL as u64,
        "kernel thread {func:#x} returned without setting up a user frame"
    );
    trap::user_return(tf);
    trap::sysret_exact(tf) as u64
}

/// `cpu_fork` with the first hook chosen (see `cpu_thread_init_hook`).
pub fn cpu_fork_hook(
    parent_tf: *const TrapFrame,
    child: &mut Pcb,
    top: usize,
    stack: usize,
    tls: u64,
    pre: extern "C" fn(),
) {
    // SAFETY: the MI code passes the calling thread's frame, alive and
    // unchanged during the call.
    let mut c = unsafe { (*(parent_tf as *const md::TrapFrame)).clone() };
    c.rax = 0;
    c.rdx = 0;
    c.rflags &= !PSL_C;
    if stack != 0 {
        c.rsp = stack as u64;
    }
    c.rcx = c.rip;
    c.r11 = c.rflags;
    // SAFETY: the child's fresh stack (trait contract), room for a frame.
    unsafe { ((top - TRAPFRAME_SIZE) as *mut md::TrapFrame).write(c) };
    init_switchframe(child, top, &raw const locore::md_fork_trampoline as u64, 0, 0, pre as usize as u64);
    child.pcb_tls = tls;
}

/// `md_fork_trampoline`'s Rust half, on the child's stack with %rsp at its
/// frame: the hook, `child_return`, then the return to user mode. Returns
/// with interrupts masked and 1 if SYSRET may be used.
pub extern "C" fn md_child_start(tf: &mut md::TrapFrame, pre: extern "C" fn()) -> u64 {
    pre();
    kern::kern_fork::child_return();
    trap::user_return(tf);
    trap::sysret_exact(tf) as u64
}

/// A user thread pointer as FS base: only canonical user addresses.
fn tls_sanitize(tls: u64) -> u64 {
    if tls >> 47 == 0 { tls } else { 0 }
}

/// Load FS base from the running thread's `pcb_tls` if it differs from
/// what this CPU last loaded (the MI code may set a thread's own pointer
/// at any time, e.g. __set_tcb). Before: interrupts masked.
pub fn fsbase_sync() {
    let ci = cpu::curcpu_md();
    // SAFETY: ci_curpcb points at the running thread's live Pcb.
    let want = tls_sanitize(unsafe { (*ci.ci_curpcb.load(Ordering::Relaxed)).pcb_tls });
    if ci.ci_fsbase.load(Ordering::Relaxed) != want {
        // SAFETY: a canonical user address (or 0) in the user FS base,
        // which the kernel does not use.
        unsafe { cpufunc::wrmsr(cpufunc::MSR_FSBASE, want) };
        ci.ci_fsbase.store(want, Ordering::Relaxed);
    }
}

// --- signals ---

/// The machine context a signal handler gets a pointer to (its third
/// argument) and `sigreturn` takes back: OpenBSD's amd64 `struct
/// sigcontext` without the segment registers and FPU state (oxbsd runs no
/// FPU code in user mode). 23 quadwords, at a 16-byte aligned address:
///
/// | offset | field                                                   |
/// |--------|---------------------------------------------------------|
/// | 0      | rdi rsi rdx rcx r8 r9 r10 r11 r12 r13 r14 r15 rbp rbx rax |
/// | 120    | trapno err                                              |
/// | 136    | rip cs rflags rsp ss                                    |
/// | 176    | mask (the signal mask to restore; upper half 0)         |
///
/// On the user stack, from the interrupted %rsp down: the 128-byte red
/// zone (left alone), the context (16-byte aligned), then the handler's
/// return address `SIGCODE_VA`, where %rsp points at entry, so the handler
/// starts as if called (%rsp + 8 is 16-byte aligned). Its `ret` lands in
/// the signal trampoline with %rsp = the context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigContext {
    pub sc_rdi: u64,
    pub sc_rsi: u64,
    pub sc_rdx: u64,
    pub sc_rcx: u64,
    pub sc_r8: u64,
    pub sc_r9: u64,
    pub sc_r10: u64,
    pub sc_r11: u64,
    pub sc_r12: u64,
    pub sc_r13: u64,
    pub sc_r14: u64,
    pub sc_r15: u64,
    pub sc_rbp: u64,
    pub sc_rbx: u64,
    pub sc_rax: u64,
    pub sc_trapno: u64,
    pub sc_err: u64,
    pub sc_rip: u64,
    pub sc_cs: u64,
    pub sc_rflags: u64,
    pub sc_rsp: u64,
    pub sc_ss: u64,
    pub sc_mask: u64,
}

const SC_SIZE: usize = core::mem::size_of::<SigContext>();
const _: () = assert!(SC_SIZE == 184);
/// The SysV red zone below a leaf function's %rsp.
const REDZONE: u64 = 128;

/// The signal trampoline, at `SIGCODE_VA` in every process: entered by the
/// handler's `ret` with %rsp at the context.
/// `mov %rsp, %rdi; mov $SYS_sigreturn, %eax; syscall; ud2` (ud2, SIGILL,
/// if sigreturn refuses the context).
pub const SIGCODE: [u8; 12] = {
    let n = sys::syscall::SYS_sigreturn as u32;
    [
        0x48,
        0x89,
        0xe7,
        0xb8,
        n as u8,
        (n >> 8) as u8,
        (n >> 16) as u8,
        (n >> 24) as u8,
        0x0f,
        0x05,
        0x0f,
        0x0b,
    ]
};

fn sc_bytes(sc: &SigContext) -> &[u8; SC_SIZE] {
    // SAFETY: SigContext is repr(C), all u64, no padding.
    unsafe { &*(sc as *const SigContext as *const [u8; SC_SIZE]) }
}

/// Where `sendsig` puts the context for a thread whose %rsp is `sp`, and
/// the handler's %rsp (one word below). None if the stack would wrap.
pub fn sigframe_layout(sp: u64) -> Option<(u64, u64)> {
    let scp = sp.checked_sub(REDZONE + SC_SIZE as u64)? & !15;
    Some((scp, scp.checked_sub(8)?))
}

/// sendsig for an MD frame: see `Machdep::sendsig` and `SigContext`.
/// False (nothing changed) when the handler address is not a user address
/// or the context cannot be written.
pub fn sendsig(tf: &mut md::TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
    if catcher >= VM_MAXUSER_ADDRESS as u64 {
        return false;
    }
    let Some((scp, sp)) = sigframe_layout(tf.rsp) else { return false };
    let sc = SigContext {
        sc_rdi: tf.rdi,
        sc_rsi: tf.rsi,
        sc_rdx: tf.rdx,
        sc_rcx: tf.rcx,
        sc_r8: tf.r8,
        sc_r9: tf.r9,
        sc_r10: tf.r10,
        sc_r11: tf.r11,
        sc_r12: tf.r12,
        sc_r13: tf.r13,
        sc_r14: tf.r14,
        sc_r15: tf.r15,
        sc_rbp: tf.rbp,
        sc_rbx: tf.rbx,
        sc_rax: tf.rax,
        sc_trapno: tf.trapno,
        sc_err: tf.err,
        sc_rip: tf.rip,
        sc_cs: tf.cs,
        sc_rflags: tf.rflags,
        sc_rsp: tf.rsp,
        sc_ss: tf.ss,
        sc_mask: mask as u64,
    };
    let mut buf = [0u8; 8 + SC_SIZE];
    buf[..8].copy_from_slice(&(SIGCODE_VA as u64).to_le_bytes());
    buf[8..].copy_from_slice(sc_bytes(&sc));
    if copyout(&buf, sp).is_err() {
        return false;
    }
    tf.rip = catcher;
    tf.rsp = sp;
    tf.rdi = sig as u64;
    tf.rsi = 0;
    tf.rdx = scp;
    // The handler starts as a SysV function: direction flag clear; and not
    // single-stepped or alignment-checked because the interrupted code was.
    tf.rflags &= !(PSL_D | PSL_T | PSL_AC);
    tf.cs = GSEL_UCODE_SEL as u64;
    tf.ss = GSEL_UDATA_SEL as u64;
    true
}

/// sigreturn for an MD frame: EFAULT if the context cannot be read;
/// EINVAL if it would change privileged state (CS/SS other than the user
/// selectors, RFLAGS bits outside `PSL_USERCHANGE` other than IF and bit 1
/// set, e.g. IOPL, VM or NT) or resume at a %rip or %rsp that is not a
/// canonical user address. Otherwise every register comes back and the
/// saved mask is returned; the frame no longer qualifies for SYSRET unless
/// %rcx/%r11 happen to match, so iretq restores them all.
pub fn sigreturn(tf: &mut md::TrapFrame, scp: u64) -> Result<u32, i32> {
    let mut sc = SigContext::default();
    // SAFETY: SigContext is plain old data; any bytes are a valid value.
    let bytes = unsafe { &mut *(&mut sc as *mut SigContext as *mut [u8; SC_SIZE]) };
    copyin(scp, bytes).map_err(|_| sys::errno::EFAULT)?;
    let user_va = |v: u64| v >> 47 == 0;
    if sc.sc_cs != GSEL_UCODE_SEL as u64
        || sc.sc_ss != GSEL_UDATA_SEL as u64
        || sc.sc_rflags & !PSL_USERCHANGE != PSL_USER
        || !user_va(sc.sc_rip)
        || !user_va(sc.sc_rsp)
    {
        return Err(sys::errno::EINVAL);
    }
    tf.rdi = sc.sc_rdi;
    tf.rsi = sc.sc_rsi;
    tf.rdx = sc.sc_rdx;
    tf.rcx = sc.sc_rcx;
    tf.r8 = sc.sc_r8;
    tf.r9 = sc.sc_r9;
    tf.r10 = sc.sc_r10;
    tf.r11 = sc.sc_r11;
    tf.r12 = sc.sc_r12;
    tf.r13 = sc.sc_r13;
    tf.r14 = sc.sc_r14;
    tf.r15 = sc.sc_r15;
    tf.rbp = sc.sc_rbp;
    tf.rbx = sc.sc_rbx;
    tf.rax = sc.sc_rax;
    tf.rip = sc.sc_rip;
    tf.cs = sc.sc_cs;
    tf.rflags = sc.sc_rflags;
    tf.rsp = sc.sc_rsp;
    tf.ss = sc.sc_ss;
    Ok(sc.sc_mask as u32)
}

// --- user copies ---

/// Is `[uaddr, uaddr + len)` inside user space, without wrapping?
fn user_range(uaddr: u64, len: usize) -> bool {
    uaddr >= VM_MIN_ADDRESS as u64
        && uaddr.checked_add(len as u64).is_some_and(|end| end <= VM_MAXUSER_ADDRESS as u64)
}

pub fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault> {
    if dst.is_empty() {
        return Ok(());
    }
    if !user_range(uaddr, dst.len()) {
        return Err(Efault);
    }
    // SAFETY: `dst` is a kernel buffer of that length; the source lies in
    // user space (checked), and md_copy_user recovers from faults there.
    match unsafe { locore::md_copy_user(dst.as_mut_ptr(), uaddr as *const u8, dst.len()) } {
        0 => Ok(()),
        _ => Err(Efault),
    }
}

pub fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault> {
    if src.is_empty() {
        return Ok(());
    }
    if !user_range(uaddr, src.len()) {
        return Err(Efault);
    }
    // SAFETY: as in copyin, the other way round: only the user side is
    // written, and only through md_copy_user.
    match unsafe { locore::md_copy_user(uaddr as *mut u8, src.as_ptr(), src.len()) } {
        0 => Ok(()),
        _ => Err(Efault),
    }
}

// --- PVH start_info (Xen's arch-x86/hvm/start_info.h) ---

const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
const E820_RAM: u32 = 1;
const E820_ACPI: u32 = 3;
const E820_NVS: u32 = 4;
const MAX_CMDLINE: usize = 2048;
const MAX_MEMMAP: usize = 128;

/// What the MI `main` receives, copied out of firmware memory.
struct BootData {
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    usable: [MemRegion; MAX_MEM_REGIONS],
    nusable: usize,
    physmem: u64,
    platform: LineBuf,
}

static BOOTDATA: Once<BootData> = Once::new();

/// Is `word` on the kernel command line? (MD boot words; the MI parser
/// reports them as unknown and ignores them.)
pub fn boot_word(word: &str) -> bool {
    BOOTDATA.get().is_some_and(|bd| {
        core::str::from_utf8(&bd.cmdline[..bd.cmdline_len])
            .unwrap_or("")
            .split_ascii_whitespace()
            .any(|w| w == word)
    })
}

/// The first PVH module (the initrd), `[start, end)` physical, if any.
static INITRD: Once<Option<MemRegion>> = Once::new();

/// The initrd QEMU passed with `-initrd` (a PVH module). It is withheld
/// from the page allocator and reachable through `phys_to_kva`.
pub fn initrd() -> Option<MemRegion> {
    INITRD.get().copied().flatten()
}

/// Parsed start_info: everything read from it, owned by the kernel.
struct PvhInfo {
    /// `rsdp_paddr`, 0 if the loader gave none.
    rsdp: u64,
    /// RAM and ACPI areas: what the direct map covers.
    ram: MemList,
    /// Type-1 RAM: what may become free memory.
    usable: MemList,
    physmem: u64,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    initrd: Option<MemRegion>,
}

/// `len` bytes at physical `pa` through the boot identity map (< 4 GiB).
fn boot_phys(pa: u64, len: usize) -> &'static [u8] {
    assert!(pa != 0 && pa + len as u64 <= 4 << 30, "pvh: structure at {pa:#x} out of reach");
    // SAFETY: the boot page tables identity-map [0, 4 GiB) (checked above)
    // and nothing writes the firmware's structures while we copy them.
    unsafe { core::slice::from_raw_parts(pmap::phys_ptr(pa), len) }
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Copy out of start_info the memory map, command line, RSDP and initrd
/// location. Before: the boot identity map is live. After: nothing in low
/// memory is needed any more.
fn pvh_parse(si_pa: u64) -> PvhInfo {
    let si = boot_phys(si_pa, 56);
    if le32(si, 0) != XEN_HVM_START_MAGIC {
        panic!("pvh: bad start_info magic {:#x} at {si_pa:#x}", le32(si, 0));
    }
    let version = le32(si, 4);
    let mut p = PvhInfo {
        rsdp: le64(si, 32),
        ram: MemList::new(),
        usable: MemList::new(),
        physmem: 0,
        cmdline: [0; MAX_CMDLINE],
        cmdline_len: 0,
        initrd: None,
    };
    let cmd_pa = le64(si, 24);
    if cmd_pa != 0 {
        let avail = (4u64 << 30).saturating_sub(cmd_pa).min(MAX_CMDLINE as u64 - 1) as usize;
        let raw = boot_phys(cmd_pa, avail);
        let n = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        p.cmdline[..n].copy_from_slice(&raw[..n]);
        // Non-ASCII bytes become '?': the MI side wants a &str, and boot
        // words are ASCII.
        for c in &mut p.cmdline[..n] {
            if !c.is_ascii() {
                *c = b'?';
            }
        }
        p.cmdline_len = n;
    }
    if version < 1 || le32(si, 48) == 0 {
        panic!("pvh: start_info version {version} has no memory map");
    }
    let n = (le32(si, 48) as usize).min(MAX_MEMMAP);
    let map = boot_phys(le64(si, 40), n * 24);
    for e in map.chunks(24) {
        let (addr, size, typ) = (le64(e, 0), le64(e, 8), le32(e, 16));
        if typ == E820_RAM {
            p.physmem += size;
            p.usable.add(addr, addr + size);
        }
        // The direct map covers RAM and the ACPI areas (tables stay
        // readable through phys_to_kva).
        if matches!(typ, E820_RAM | E820_ACPI | E820_NVS) && !p.ram.add(addr, addr + size) {
            cons::cnputs(b"pvh: too many memory ranges, some RAM ignored\n");
        }
    }
    if le32(si, 12) > 0 && le64(si, 16) != 0 {
        let m = boot_phys(le64(si, 16), 32);
        let (start, size) = (le64(m, 0), le64(m, 8));
        if size != 0 {
            p.initrd = Some(MemRegion { start, end: start + size });
        }
    }
    p
}

/// Fill BOOTMEM with usable RAM: type-1 ranges minus page 0, the kernel
/// image, the initrd, the ACPI tables and the AP trampoline's pages.
/// Before: `acpi_init` ran (its table ranges are known).
fn bootmem_init(p: &PvhInfo) {
    let mut m = BOOTMEM.lock();
    for r in p.usable.as_slice() {
        m.add(r.start, r.end);
    }
    // Page 0 holds the real-mode IVT and BIOS data; never hand it out.
    m.remove(0, PAGE_SIZE);
    let (ks, ke) = pmap::kernel_phys_range();
    m.remove(ks, ke);
    if let Some(r) = p.initrd {
        m.remove(r.start, r.end);
    }
    if let Some(a) = acpi::acpi_info() {
        for &(s, e) in &a.ranges[..a.nranges] {
            m.remove(s, e);
        }
    }
    // The AP trampoline must sit below 1 MiB (the startup IPI's vector is
    // a page number under 0x100).
    if let Some(pa) = m.steal_top_below(cpu::MPTRAMP_PAGES, 0xa_0000) {
        cpu::set_mptramp_pa(pa);
    }
}

/// "QEMU q35" and the like, for the banner.
fn platform_name(out: &mut LineBuf) {
    use core::fmt::Write;
    let Some(a) = acpi::acpi_info() else {
        let _ = out.write_str("PC (no ACPI)");
        return;
    };
    let chipset = if a.hw_reduced {
        "microvm"
    } else if a.has_table(b"MCFG") {
        "q35"
    } else {
        "pc"
    };
    if &a.oem == b"BOCHS " {
        let _ = write!(out, "QEMU {chipset}");
    } else {
        let oem = core::str::from_utf8(&a.oem).unwrap_or("?").trim();
        let _ = write!(out, "{oem} {chipset}");
    }
}

/// The boot CPU's first Rust code, called by locore with start_info's
/// physical address. Before: long mode, boot page tables (4 GiB identity
/// map plus the image at KERNBASE), the .bss boot stack, interrupts
/// masked. It runs the early MD init (see the module comment) and leaves
/// everything `BootInfo` promises true, then calls `main` on the boot
/// CPU's guarded stack. Never returns.
pub extern "C" fn init_x86_64(start_info: u32) -> ! {
    clock::tsc_epoch_init();
    cpu::cpu0_init();
    intr::idt_init();
    intr::idt_load();
    cons::cninit();
    cpu::cpu_enable_features();

    let pvh = pvh_parse(start_info as u64);
    acpi::acpi_init(pvh.rsdp);
    bootmem_init(&pvh);
    INITRD.call_once(|| pvh.initrd);

    pmap::pmap_bootstrap(pvh.ram.as_slice(), cpu::ident().has_nx());

    let acpi = acpi::acpi_info();
    if acpi.is_none_or(|a| a.pcat_compat) {
        intr::pic_disable();
    }
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let msr_base = unsafe { rdmsr(MSR_APICBASE) } & 0x000f_ffff_ffff_f000;
    let lapic_pa = acpi.map_or(msr_base, |a| if a.lapic_pa != 0 { a.lapic_pa } else { msr_base });
    lapic::lapic_attach(lapic_pa, cpu::ident().has_x2apic());
    lapic::lapic_enable();
    clock::calibrate();

    let top = cpu::cpu0_init_stacks();
    kern::cpu::cpu_attach(&cpu::cpu0().ci_mi, true);

    let mut bd = BootData {
        cmdline: pvh.cmdline,
        cmdline_len: pvh.cmdline_len,
        usable: [MemRegion { start: 0, end: 0 }; MAX_MEM_REGIONS],
        nusable: 0,
        physmem: pvh.physmem,
        platform: LineBuf::new(),
    };
    {
        let m = BOOTMEM.lock();
        let s = m.as_slice();
        bd.usable[..s.len()].copy_from_slice(s);
        bd.nusable = s.len();
    }
    platform_name(&mut bd.platform);
    BOOTDATA.call_once(|| bd);
    pmap::pmap_steal_close();

    // SAFETY: `top` is the top of a freshly mapped stack nobody uses, and
    // `boot_main` never returns, so nothing on the boot stack is needed.
    unsafe { crate::locore::md_call_on_stack(0, top, boot_main) }
}

/// `main`, on the boot CPU's guarded stack.
extern "C" fn boot_main(_: usize) -> ! {
    let bd = BOOTDATA.get().expect("boot data");
    let bi = BootInfo {
        cmdline: core::str::from_utf8(&bd.cmdline[..bd.cmdline_len]).unwrap_or(""),
        usable: &bd.usable[..bd.nusable],
        physmem: bd.physmem,
        platform: bd.platform.as_str(),
        machine: "amd64",
        initrd: initrd(),
    };
    kern::init_main::main(&bi)
}

/// Kernel virtual address of the hardware-reduced ACPI sleep control
/// register when it is memory-mapped (mapped at autoconf so power-off
/// never has to touch the page tables).
static SLEEP_CTL_VA: AtomicU64 = AtomicU64::new(0);

/// Autoconfiguration (OpenBSD's mainbus/cpu/ioapic attach), on the boot
/// CPU, called by `main` with interrupts masked. Before: page allocator
/// and heap work; the local APIC is enabled and the clocks calibrated.
/// After: the attach lines are printed, every I/O APIC pin is masked but
/// COM1's (routed to the boot CPU, `cons::com_attach`), the boot CPU's
/// hardclock is armed, every AP that answered its startup IPIs is
/// attached and on its way into `cpu_hatch_mi` with its own timer running,
/// and the MD self-tests passed (`selftest`; they enable interrupts for
/// parts, so the boot CPU may tick already, and mask them again).
fn cpu_configure() {
    use core::fmt::Write;
    log::info!("mainbus0 at root");
    let acpi = acpi::acpi_info();
    if let Some(a) = acpi {
        log::info!("bios0 at mainbus0");
        let mut l = LineBuf::new();
        let _ = a.version(&mut l);
        log::info!("acpi0 at bios0: ACPI {}", l.as_str());
        let mut l = LineBuf::new();
        for s in &a.sigs[..a.nsigs] {
            let _ = write!(l, " {}", core::str::from_utf8(s).unwrap_or("????"));
        }
        log::info!("acpi0: tables{}", l.as_str());
        if a.s5.is_some() {
            log::info!("acpi0: sleep states S5");
        }
        if a.pm_tmr_port != 0 {
            log::info!(
                "acpitimer0 at acpi0: 3579545 Hz, {} bits, port {:#x}",
                if a.pm_tmr_32bit { 32 } else { 24 },
                a.pm_tmr_port
            );
        }
        if a.have_madt {
            log::info!(
                "acpimadt0 at acpi0 addr {:#x}{}",
                a.lapic_pa,
                if a.pcat_compat { ": PC-AT compat" } else { "" }
            );
        }
        if a.hw_reduced && a.sleep_control.space == GAS_MEMORY && a.sleep_control.address != 0 {
            SLEEP_CTL_VA.store(pmap::pmap_mapdev(a.sleep_control.address, 1), Ordering::Release);
        }
    } else {
        log::warn!("acpi: no valid ACPI tables; one cpu, no I/O APIC");
    }

    cpu::cpu0_attach_print();
    log::info!(
        "lapic: {} at {:#x}, version {:#x}, timer {} MHz",
        if lapic::x2apic_mode() { "x2APIC" } else { "xAPIC" },
        lapic::lapic_pa(),
        lapic::lapic_version() & 0xff,
        clock::lapic_bus_hz() / 1_000_000
    );
    log::info!(
        "clock: lapic timer at {} Hz, tsc {} MHz, calibrated against {}",
        kern::param::HZ,
        clock::tsc_hz() / 1_000_000,
        clock::reference_name()
    );
    if let Some(a) = acpi {
        for (unit, io) in a.ioapics().iter().enumerate() {
            crate::ioapic::ioapic_attach(unit, io);
        }
        for o in a.overrides() {
            log::debug!("acpimadt0: isa irq {} -> gsi {}, flags {:#x}", o.source, o.gsi, o.flags);
        }
    }
    log::info!("isa0 at mainbus0");
    cons::com_attach(acpi);

    clock::cpu_startclock();
    cpu::cpu_boot_secondaries();
    crate::selftest::md_selftest();
}

/// isa-debug-exit: QEMU exits with `(value << 1) | 1`.
const DEBUG_EXIT_PORT: u16 = 0xf4;
const SLP_EN_PM1: u16 = 1 << 13;
const SLP_EN_HWR: u8 = 1 << 5;

/// Power off, reporting `status` to QEMU (see `Machdep::powerdown`):
/// isa-debug-exit, else ACPI S5, else halt forever.
fn powerdown(status: u32) -> ! {
    cpufunc::cli();
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit when configured and
    // unassigned (writes ignored) otherwise.
    unsafe { outb(DEBUG_EXIT_PORT, (0x10 | status) as u8) };
    acpi_poweroff();
    cons::cnputs(b"powerdown: the machine did not power off; halting\n");
    halt_forever()
}

/// Enter S5 with the sleep type from `\_S5`: PM1 control on a full ACPI
/// machine, the sleep control register on a hardware-reduced one.
fn acpi_poweroff() {
    let Some(a) = acpi::acpi_info() else { return };
    let Some((typa, typb)) = a.s5 else { return };
    // SAFETY: these are the ACPI power-management registers the FADT
    // names, written with the documented S5 sequence; the machine is going
    // down anyway.
    unsafe {
        if a.hw_reduced {
            let v = (typa & 7) << 2 | SLP_EN_HWR;
            let g = a.sleep_control;
            let va = SLEEP_CTL_VA.load(Ordering::Acquire);
            match g.space {
                GAS_IO if g.address <= 0xffff && g.address != 0 => outb(g.address as u16, v),
                GAS_MEMORY if va != 0 => core::ptr::write_volatile(va as *mut u8, v),
                _ => {}
            }
        } else {
            if a.pm1a_cnt != 0 {
                outw(a.pm1a_cnt, (typa as u16 & 7) << 10 | SLP_EN_PM1);
            }
            if a.pm1b_cnt != 0 {
                outw(a.pm1b_cnt, (typb as u16 & 7) << 10 | SLP_EN_PM1);
            }
        }
    }
    // Give the chipset a moment before declaring failure.
    for _ in 0..10_000_000 {
        core::hint::spin_loop();
    }
}
