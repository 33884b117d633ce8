//! The IDT, the vector assignment, IPIs and the legacy 8259 PICs.
//!
//! Vectors (priority class = vector >> 4; higher wins):
//!
//! | vector      | use                                              |
//! |-------------|--------------------------------------------------|
//! | 0x00..0x1f  | exceptions (double fault, NMI, #MC on IST stacks)|
//! | 0x20..0x2f  | the 8259s, remapped here and masked (spurious)   |
//! | 0xc0        | local APIC timer (hardclock)                     |
//! | 0xe0        | kernel IPI (`kern_ipi::ipi_intr`)                |
//! | 0xe4        | TLB shootdown (kernel range)                     |
//! | 0xff        | local APIC spurious                              |
//!
//! `cpu_halt_others` uses NMI, not a vector: it must reach CPUs spinning
//! with interrupts masked (e.g. one that panicked second).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kern::cpu::{self, CPUF_PRESENT};

use crate::cpufunc::{halt_forever, outb, rdtsc};
use crate::gdt::{GSEL_KCODE, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use crate::lapic::{self, ICR_DEST_ALLEXCL, ICR_DM_FIXED, ICR_DM_NMI};
use crate::locore::{TRAP_STUB_SIZE, trap_vectors};

pub const T_NMI: u64 = 2;
pub const T_DOUBLEFLT: u64 = 8;
pub const T_MCA: u64 = 18;

pub const ICU_OFFSET: u8 = 0x20;
pub const LAPIC_TIMER_VECTOR: u8 = 0xc0;
pub const LAPIC_IPI_VECTOR: u8 = 0xe0;
pub const LAPIC_IPI_INVLRANGE: u8 = 0xe4;
pub const LAPIC_SPURIOUS_VECTOR: u8 = 0xff;

/// Present, DPL 0, 64-bit interrupt gate (IF cleared on entry).
const SDT_SYS386IGT_P: u64 = 0x8e;

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
        gate[0] = (off & 0xffff)
            | (GSEL_KCODE as u64) << 16
            | ist << 32
            | SDT_SYS386IGT_P << 40
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

/// A kernel TLB shootdown in progress: range, and CPUs yet to answer.
static SHOOT_VA: AtomicU64 = AtomicU64::new(0);
static SHOOT_LEN: AtomicU64 = AtomicU64::new(0);
static SHOOT_PENDING: AtomicU32 = AtomicU32::new(0);
static SHOOT_BUSY: AtomicBool = AtomicBool::new(false);

/// Invalidate `[va, va + len)` on every CPU. Before: interrupts are enabled
/// if other CPUs run (one shootdown at a time; a CPU waiting for the
/// shootdown slot keeps answering the current one). After: no CPU holds a
/// TLB entry for the range.
pub fn tlb_shootdown(va: u64, len: u64) {
    crate::pmap::tlb_invalidate_local(va, len);
    let me = kern::machdep::curcpu().ci_cpuid;
    let targets: u32 =
        cpu::cpus().filter(|c| c.ci_cpuid != me && crate::cpu::cpu_is_hatched(c)).count() as u32;
    if targets == 0 {
        return;
    }
    while SHOOT_BUSY.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
    SHOOT_VA.store(va, Ordering::Release);
    SHOOT_LEN.store(len, Ordering::Release);
    SHOOT_PENDING.store(targets, Ordering::Release);
    for c in cpu::cpus() {
        if c.ci_cpuid != me && crate::cpu::cpu_is_hatched(c) {
            lapic::lapic_send(c.ci_hwid as u32, ICR_DM_FIXED | LAPIC_IPI_INVLRANGE as u32);
        }
    }
    while SHOOT_PENDING.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
    SHOOT_BUSY.store(false, Ordering::Release);
}

/// The shootdown IPI: invalidate the published range, answer, EOI.
pub fn invlrange_intr() {
    let va = SHOOT_VA.load(Ordering::Acquire);
    let len = SHOOT_LEN.load(Ordering::Acquire);
    crate::pmap::tlb_invalidate_local(va, len);
    SHOOT_PENDING.fetch_sub(1, Ordering::AcqRel);
    lapic::lapic_eoi();
}
