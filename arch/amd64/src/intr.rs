//! The IDT, the vector assignment, IPIs and the legacy 8259 PICs.
//!
//! Vectors (priority class = vector >> 4; higher wins):
//!
//! | vector      | use                                              |
//! |-------------|--------------------------------------------------|
//! | 0x00..0x1f  | exceptions (double fault, NMI, #MC on IST stacks)|
//! | 0x20..0x2f  | the 8259s, remapped here and masked (spurious)   |
//! | 0x90        | COM1 receive (ISA IRQ 4 via the I/O APIC)        |
//! | 0xc0        | local APIC timer (hardclock)                     |
//! | 0xe0        | kernel IPI (`kern_ipi::ipi_intr`)                |
//! | 0xe4        | TLB shootdown (kernel range, or a user pmap's)   |
//! | 0xe8        | cross call (`cpu_xcall`)                         |
//! | 0xff        | local APIC spurious                              |
//!
//! `cpu_halt_others` uses NMI, not a vector: it must reach CPUs spinning
//! with interrupts masked (e.g. one that panicked second).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kern::cpu::{self, CPUF_PRESENT, CpuInfo};

use crate::cpufunc::{halt_forever, outb, rdtsc};
use crate::gdt::{GSEL_KCODE, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use crate::lapic::{self, ICR_DEST_ALLEXCL, ICR_DM_FIXED, ICR_DM_NMI};
use crate::locore::{TRAP_STUB_SIZE, trap_vectors};

pub const T_DIVIDE: u64 = 0;
pub const T_TRCTRAP: u64 = 1;
pub const T_NMI: u64 = 2;
pub const T_BPTFLT: u64 = 3;
pub const T_OFLOW: u64 = 4;
pub const T_BOUND: u64 = 5;
pub const T_PRIVINFLT: u64 = 6;
pub const T_DNA: u64 = 7;
pub const T_DOUBLEFLT: u64 = 8;
pub const T_TSSFLT: u64 = 10;
pub const T_SEGNPFLT: u64 = 11;
pub const T_STKFLT: u64 = 12;
pub const T_PROTFLT: u64 = 13;
pub const T_PAGEFLT: u64 = 14;
pub const T_ARITHTRAP: u64 = 16;
pub const T_ALIGNFLT: u64 = 17;
pub const T_MCA: u64 = 18;
pub const T_XMM: u64 = 19;
/// Not a vector: the trap number a SYSCALL entry's frame carries.
pub const T_SYSCALL: u64 = 0x100;

pub const ICU_OFFSET: u8 = 0x20;
/// The console UART's receive interrupt, routed by `cons::com_attach`.
/// Class 9, below the clock and the IPIs as OpenBSD's IPL_TTY is below
/// IPL_CLOCK and IPL_IPI; with interrupt gates and no nesting, the class
/// only orders interrupts pending together.
pub const COM_VECTOR: u8 = 0x90;
pub const LAPIC_TIMER_VECTOR: u8 = 0xc0;
pub const LAPIC_IPI_VECTOR: u8 = 0xe0;
pub const LAPIC_IPI_INVLRANGE: u8 = 0xe4;
pub const LAPIC_XCALL_VECTOR: u8 = 0xe8;
pub const LAPIC_SPURIOUS_VECTOR: u8 = 0xff;

/// Present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const SDT_SYS386IGT_P: u64 = 0x8e;
/// Descriptor privilege level 3: `int3`/`into` in user mode may raise it
/// (every other vector raised by `int n` from user mode is a #GP).
const SEL_UPL_DPL: u64 = 3 << 5;

#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; 256]>);

// SAFETY: written only by `idt_init`, on the boot CPU before any other CPU
// runs or any interrupt is enabled; read-only (by the hardware) afterwards.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; 256]));

/// Fill the IDT: every vector goes to its stub in locore; double fault,
/// NMI and machine check switch to their IST stacks. Boot CPU, once,
/// before `idt_load`.
pub fn idt_init() {
    let base = &raw const trap_vectors as u64;
    // SAFETY: see `impl Sync for Idt`: nothing reads the table yet.
    let idt = unsafe { &mut *IDT.0.get() };
    for (v, gate) in idt.iter_mut().enumerate() {
        let off = base + v as u64 * TRAP_STUB_SIZE;
        let ist = match v as u64 {
            T_DOUBLEFLT => IST_DOUBLE_FAULT,
            T_NMI => IST_NMI,
            T_MCA => IST_MACHINE_CHECK,
            _ => 0,
        } as u64;
        let dpl = if matches!(v as u64, T_BPTFLT | T_OFLOW) { SEL_UPL_DPL } else { 0 };
        gate[0] = (off & 0xffff)
            | (GSEL_KCODE as u64) << 16
            | ist << 32
            | (SDT_SYS386IGT_P | dpl) << 40
            | (off >> 16 & 0xffff) << 48;
        gate[1] = off >> 32;
    }
}

/// Load the IDT on this CPU. Before: `idt_init` ran. After: traps and
/// interrupts taken here reach `trap::trap`.
pub fn idt_load() {
    #[repr(C, packed)]
    struct Dtr {
        limit: u16,
        base: u64,
    }
    let d = Dtr { limit: (core::mem::size_of::<Idt>() - 1) as u16, base: IDT.0.get() as u64 };
    // SAFETY: the IDT is static, fully initialised, and every gate points
    // at a stub in the kernel text.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &d, options(readonly, nostack, preserves_flags)) };
}

/// Remap the 8259 pair away from the exception vectors and mask every
/// line: the kernel takes interrupts through the I/O APIC, and a spurious
/// 8259 interrupt must land on a harmless vector.
pub fn pic_disable() {
    // SAFETY: the standard ICW1-ICW4 sequence on the PC's 8259 ports, then
    // OCW1 masking everything; absent PICs ignore the writes.
    unsafe {
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, ICU_OFFSET);
        outb(0xa1, ICU_OFFSET + 8);
        outb(0x21, 1 << 2);
        outb(0xa1, 2);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}

/// APIC id of CPU `cpuid`, from its MI record.
fn apic_id_of(cpuid: u32) -> Option<u32> {
    cpu::cpu_info(cpuid).map(|ci| ci.ci_hwid as u32)
}

/// Raise the kernel IPI on CPU `cpuid` (a no-op for an unknown CPU).
pub fn send_ipi(cpuid: u32) {
    if let Some(id) = apic_id_of(cpuid) {
        lapic::lapic_send(id, ICR_DM_FIXED | LAPIC_IPI_VECTOR as u32);
    }
}

/// The kernel IPI: MI work first, then EOI (an IPI that arrives meanwhile
/// stays pending in the IRR and is taken after our iretq).
pub fn ipi_intr() {
    kern::kern_ipi::ipi_intr();
    lapic::lapic_eoi();
}

/// Set when a CPU is stopping the others; the NMI handler then halts.
static HALTING: AtomicBool = AtomicBool::new(false);
/// CPUs that took the halt NMI.
static HALTED: AtomicU32 = AtomicU32::new(0);

/// Stop every other CPU: NMI to all but self (NMIs get through masked
/// interrupts), then wait up to ~100 ms for them to report. Takes no lock.
pub fn cpu_halt_others() {
    HALTING.store(true, Ordering::SeqCst);
    if !lapic::lapic_ready() {
        return; // too early for other CPUs to exist
    }
    let others = cpu::cpus().filter(|c| c.has_flag(CPUF_PRESENT)).count().saturating_sub(1) as u32;
    if others == 0 {
        return;
    }
    lapic::lapic_send(0, ICR_DEST_ALLEXCL | ICR_DM_NMI);
    let hz = crate::clock::tsc_hz();
    let deadline = rdtsc().wrapping_add(if hz == 0 { 1 << 30 } else { hz / 10 });
    while HALTED.load(Ordering::Acquire) < others && rdtsc() < deadline {
        core::hint::spin_loop();
    }
}

/// The NMI handler's decision: `true` if this NMI is the halt request (and
/// then it never returns).
pub fn nmi_intr() -> bool {
    if !HALTING.load(Ordering::SeqCst) {
        return false;
    }
    HALTED.fetch_add(1, Ordering::AcqRel);
    // NMIs stay blocked until an iretq that never comes; maskable
    // interrupts are masked by the gate.
    halt_forever()
}

/// The TLB shootdown in progress: pmap (0 for a kernel range), range, and
/// how many CPUs have yet to answer. One at a time (SHOOT_BUSY); each
/// target's `ci_shoot_pending` says the request is for it.
static SHOOT_PMAP: AtomicUsize = AtomicUsize::new(0);
static SHOOT_VA: AtomicU64 = AtomicU64::new(0);
static SHOOT_LEN: AtomicU64 = AtomicU64::new(0);
static SHOOT_PENDING: AtomicU32 = AtomicU32::new(0);
static SHOOT_BUSY: AtomicBool = AtomicBool::new(false);

/// Invalidate the kernel range `[va, va + len)` on every CPU. Before:
/// interrupts enabled if other CPUs run, or at least no spin lock held
/// that another CPU may be spinning for with interrupts masked (it could
/// not answer). After: no CPU holds a TLB entry for the range.
pub fn tlb_shootdown(va: u64, len: u64) {
    crate::pmap::tlb_invalidate_local(va, len);
    let me = kern::machdep::curcpu().ci_cpuid;
    let targets = cpu::cpus()
        .filter(|c| c.ci_cpuid != me && crate::cpu::cpu_is_hatched(c))
        .fold(0u64, |m, c| m | 1 << c.ci_cpuid);
    shoot_remote(0, va, len, targets);
}

/// Ask the CPUs in `targets` (bit per cpuid, never this one) to invalidate
/// `[va, va + len)` of `pm` (0: the kernel's), and wait until all have.
/// While waiting for the shootdown slot it answers requests addressed to
/// this CPU itself, so two CPUs shooting at each other with interrupts
/// masked cannot deadlock. Before: as for `tlb_shootdown`.
pub fn shoot_remote(pm: usize, va: u64, len: u64, targets: u64) {
    if targets == 0 {
        return;
    }
    while SHOOT_BUSY.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        shoot_poll();
        core::hint::spin_loop();
    }
    SHOOT_PMAP.store(pm, Ordering::Relaxed);
    SHOOT_VA.store(va, Ordering::Relaxed);
    SHOOT_LEN.store(len, Ordering::Relaxed);
    SHOOT_PENDING.store(targets.count_ones(), Ordering::Release);
    kern::cpu::count_n(|s| &s.shoot_sent, targets.count_ones() as u64);
    for c in cpu::cpus().filter(|c| targets & 1 << c.ci_cpuid != 0) {
        // Release: the target that sees its flag sees the request.
        crate::cpu::cpu_md(c).ci_shoot_pending.store(true, Ordering::Release);
        lapic::lapic_send(c.ci_hwid as u32, ICR_DM_FIXED | LAPIC_IPI_INVLRANGE as u32);
    }
    // Nobody else can address this CPU while the slot is ours, so there is
    // nothing to poll for here.
    while SHOOT_PENDING.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    SHOOT_BUSY.store(false, Ordering::Release);
}

/// Carry out the shootdown request addressed to this CPU, if any (from the
/// IPI, or polled by a CPU waiting to send its own, interrupts in any
/// state: the work is done with them masked, so the loaded pmap cannot
/// change under it).
pub fn shoot_poll() {
    if crate::cpu::curcpu_md().ci_shoot_pending.load(Ordering::Relaxed) {
        crate::cpufunc::with_intr_disabled(shoot_answer);
    }
}

fn shoot_answer() {
    let ci = crate::cpu::curcpu_md();
    if !ci.ci_shoot_pending.swap(false, Ordering::Acquire) {
        return;
    }
    let pm = SHOOT_PMAP.load(Ordering::Relaxed);
    let va = SHOOT_VA.load(Ordering::Relaxed);
    let len = SHOOT_LEN.load(Ordering::Relaxed);
    if pm == 0 {
        crate::pmap::tlb_invalidate_local(va, len);
    } else if ci.ci_proc_pmap.load(Ordering::SeqCst) == pm {
        crate::pmap::tlb_invalidate_user_local(va, len);
        crate::pmap::pmap_shot_here(pm, ci.ci_mi.ci_cpuid);
    }
    // Not running `pm` (any more): its PCID entries here, if any, are
    // marked stale in the pmap and flushed when it is loaded again.
    ci.ci_nshoot.fetch_add(1, Ordering::Relaxed);
    kern::cpu::count(|s| &s.shoot_recv);
    SHOOT_PENDING.fetch_sub(1, Ordering::AcqRel);
}

/// The shootdown IPI: answer, then EOI.
pub fn invlrange_intr() {
    shoot_poll();
    lapic::lapic_eoi();
}

/// Serialises cross-call senders.
static XCALL_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Run `f(arg)` on CPU `target` in its interrupt handler (interrupts
/// masked there) and return its result: OpenBSD's cpu_xcall, used by the
/// MD self-tests to act on another CPU (load a pmap there, read through
/// its TLB). Before: `target` is another hatched CPU that will take
/// interrupts within the timeout; this CPU is not the target of a cross
/// call itself (a sender does not answer them; it does answer TLB
/// shootdowns while it waits). Panics after 5 s.
pub fn cpu_xcall(target: &'static CpuInfo, f: fn(usize) -> usize, arg: usize) -> usize {
    let md = crate::cpu::cpu_md(target);
    let _g = XCALL_LOCK.lock();
    md.ci_xcall_arg.store(arg, Ordering::Relaxed);
    md.ci_xcall_fn.store(f as usize, Ordering::Release);
    lapic::lapic_send(target.ci_hwid as u32, ICR_DM_FIXED | LAPIC_XCALL_VECTOR as u32);
    let deadline = crate::clock::nanouptime() + 5_000_000_000;
    while md.ci_xcall_fn.load(Ordering::Acquire) != 0 {
        assert!(crate::clock::nanouptime() < deadline, "cpu_xcall: cpu{} did not answer", target.ci_cpuid);
        // The target may be shooting down with this CPU among its targets.
        shoot_poll();
        core::hint::spin_loop();
    }
    md.ci_xcall_ret.load(Ordering::Relaxed)
}

/// The cross-call IPI: run the posted function, publish its result, EOI.
pub fn xcall_intr() {
    let md = crate::cpu::curcpu_md();
    let f = md.ci_xcall_fn.load(Ordering::Acquire);
    if f != 0 {
        // SAFETY: only `cpu_xcall` stores here, and it stores a
        // `fn(usize) -> usize`.
        let f: fn(usize) -> usize = unsafe { core::mem::transmute::<usize, fn(usize) -> usize>(f) };
        let r = f(md.ci_xcall_arg.load(Ordering::Relaxed));
        md.ci_xcall_ret.store(r, Ordering::Relaxed);
        md.ci_xcall_fn.store(0, Ordering::Release);
    }
    lapic::lapic_eoi();
}
