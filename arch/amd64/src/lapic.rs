//! The local APIC: xAPIC through its MMIO page, or x2APIC through MSRs
//! when CPUID offers it (KVM does; TCG does not, so the xAPIC path is the
//! one the test matrix exercises).
//!
//! Every CPU has one; the kernel uses it for the periodic clock interrupt
//! (`clock`), for IPIs and the startup sequence (`intr`, `cpu`), and for
//! EOI. Register offsets are the xAPIC MMIO offsets; the x2APIC MSR is
//! `0x800 + offset / 16`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cpufunc::{APICBASE_ENABLE, APICBASE_X2APIC, MSR_APICBASE, rdmsr, with_intr_disabled, wrmsr};
use crate::intr::LAPIC_SPURIOUS_VECTOR;

const LAPIC_VERSION: u32 = 0x030;
const LAPIC_TPR: u32 = 0x080;
const LAPIC_EOI: u32 = 0x0b0;
const LAPIC_SVR: u32 = 0x0f0;
const LAPIC_ESR: u32 = 0x280;
const LAPIC_ICR_LO: u32 = 0x300;
const LAPIC_ICR_HI: u32 = 0x310;
const LAPIC_LVT_TIMER: u32 = 0x320;
const LAPIC_LVT_LINT0: u32 = 0x350;
const LAPIC_LVT_LINT1: u32 = 0x360;
const LAPIC_LVT_ERROR: u32 = 0x370;
const LAPIC_TIMER_ICR: u32 = 0x380;
const LAPIC_TIMER_CCR: u32 = 0x390;
const LAPIC_TIMER_DCR: u32 = 0x3e0;

const SVR_ENABLE: u32 = 0x100;
pub const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
const LVT_DM_NMI: u32 = 0x400;

pub const ICR_DM_FIXED: u32 = 0x000;
pub const ICR_DM_NMI: u32 = 0x400;
pub const ICR_DM_INIT: u32 = 0x500;
pub const ICR_DM_STARTUP: u32 = 0x600;
pub const ICR_LEVEL_ASSERT: u32 = 0x4000;
pub const ICR_DEST_ALLEXCL: u32 = 0xc_0000;
const ICR_BUSY: u32 = 0x1000;

/// Timer input divider: the bus clock divided by 16.
const DCR_DIV16: u32 = 0x3;
pub const TIMER_DIVISOR: u64 = 16;

const X2APIC_MSR_BASE: u32 = 0x800;
const X2APIC_MSR_ICR: u32 = 0x830;

/// Polls of the xAPIC delivery-status bit before giving up on an IPI that
/// never left (a wedged target must not hang the sender forever).
const ICR_SPIN_LIMIT: u32 = 1_000_000;

static X2APIC_MODE: AtomicBool = AtomicBool::new(false);
/// Kernel virtual address of the xAPIC page; 0 until mapped.
static LAPIC_VA: AtomicU64 = AtomicU64::new(0);
static LAPIC_PA: AtomicU64 = AtomicU64::new(0);

pub fn x2apic_mode() -> bool {
    X2APIC_MODE.load(Ordering::Relaxed)
}

pub fn lapic_pa() -> u64 {
    LAPIC_PA.load(Ordering::Relaxed)
}

/// Whether this CPU can talk to its local APIC yet (the panic path may run
/// before it can).
pub fn lapic_ready() -> bool {
    x2apic_mode() || LAPIC_VA.load(Ordering::Acquire) != 0
}

/// Choose the access mode and map the xAPIC page at `pa`, on the boot CPU.
/// Before: the kernel page tables are live. After: `lapic_enable` works on
/// every CPU.
pub fn lapic_attach(pa: u64, x2apic: bool) {
    LAPIC_PA.store(pa, Ordering::Relaxed);
    X2APIC_MODE.store(x2apic, Ordering::Relaxed);
    if !x2apic {
        let va = crate::pmap::pmap_mapdev(pa, uvm::PAGE_SIZE);
        LAPIC_VA.store(va, Ordering::Release);
    }
}

fn read(reg: u32) -> u32 {
    if x2apic_mode() {
        // SAFETY: x2APIC mode is on, so its MSR range exists.
        unsafe { rdmsr(X2APIC_MSR_BASE + (reg >> 4)) as u32 }
    } else {
        let va = LAPIC_VA.load(Ordering::Relaxed);
        // SAFETY: `va` maps the xAPIC page uncached (lapic_attach), and
        // `reg` is a register offset inside it; APIC registers are 32-bit.
        unsafe { core::ptr::read_volatile((va + reg as u64) as *const u32) }
    }
}

fn write(reg: u32, v: u32) {
    if x2apic_mode() {
        // SAFETY: x2APIC mode is on, so its MSR range exists; callers pass
        // values that keep the APIC configuration the kernel wants.
        unsafe { wrmsr(X2APIC_MSR_BASE + (reg >> 4), v as u64) }
    } else {
        let va = LAPIC_VA.load(Ordering::Relaxed);
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((va + reg as u64) as *mut u32, v) }
    }
}

/// Turn this CPU's local APIC on in the kernel's mode: software-enabled,
/// accepting every priority, LINT0 (the 8259's ExtINT) masked since
/// interrupts come through the I/O APIC, LINT1 delivering NMI as the MP
/// and ACPI tables describe for PCs, error interrupts masked.
/// Before: `lapic_attach` ran. After: EOI, IPIs and the timer work here.
pub fn lapic_enable() {
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC; we only set
    // the global enable and, when the CPU has it, x2APIC mode, keeping the
    // base address the firmware chose (the one the MADT reports).
    unsafe {
        let mut base = rdmsr(MSR_APICBASE) | APICBASE_ENABLE;
        wrmsr(MSR_APICBASE, base);
        if x2apic_mode() {
            base |= APICBASE_X2APIC;
            wrmsr(MSR_APICBASE, base);
        }
    }
    write(LAPIC_TPR, 0);
    write(LAPIC_SVR, SVR_ENABLE | LAPIC_SPURIOUS_VECTOR as u32);
    write(LAPIC_LVT_LINT0, LVT_MASKED);
    write(LAPIC_LVT_LINT1, LVT_DM_NMI);
    write(LAPIC_LVT_ERROR, LVT_MASKED);
    write(LAPIC_LVT_TIMER, LVT_MASKED);
    // The ESR latches on a write; twice clears anything left from firmware.
    write(LAPIC_ESR, 0);
    write(LAPIC_ESR, 0);
    lapic_eoi();
}

/// Version register: version in bits 0-7, highest LVT entry in 16-23.
pub fn lapic_version() -> u32 {
    read(LAPIC_VERSION)
}

/// End of interrupt for the in-service interrupt on this CPU.
#[inline]
pub fn lapic_eoi() {
    write(LAPIC_EOI, 0);
}

/// Send an IPI described by the ICR low word `lo` to `dest` (ignored with a
/// destination shorthand). Callable with interrupts in any state and from
/// the panic path: takes no lock, masks interrupts around the two-register
/// xAPIC write so a handler on this CPU cannot interleave its own IPI.
pub fn lapic_send(dest: u32, lo: u32) {
    if x2apic_mode() {
        // SAFETY: x2APIC mode is on; one write of the 64-bit ICR sends the
        // IPI (x2APIC has no delivery-status bit to wait for).
        unsafe { wrmsr(X2APIC_MSR_ICR, (dest as u64) << 32 | lo as u64) };
        return;
    }
    with_intr_disabled(|| {
        wait_icr_idle();
        write(LAPIC_ICR_HI, dest << 24);
        write(LAPIC_ICR_LO, lo);
        wait_icr_idle();
    });
}

fn wait_icr_idle() {
    for _ in 0..ICR_SPIN_LIMIT {
        if read(LAPIC_ICR_LO) & ICR_BUSY == 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Start the timer counting down from the largest count, masked: the
/// calibration reads how far it got.
pub fn lapic_timer_start_free_running() {
    write(LAPIC_TIMER_DCR, DCR_DIV16);
    write(LAPIC_LVT_TIMER, LVT_MASKED);
    write(LAPIC_TIMER_ICR, u32::MAX);
}

/// Current count of the timer.
pub fn lapic_timer_count() -> u32 {
    read(LAPIC_TIMER_CCR)
}

/// Interrupt on `vector` every `count` timer ticks (bus clock / 16).
pub fn lapic_timer_periodic(vector: u8, count: u32) {
    write(LAPIC_TIMER_DCR, DCR_DIV16);
    write(LAPIC_LVT_TIMER, LVT_PERIODIC | vector as u32);
    write(LAPIC_TIMER_ICR, count);
}
