//! Clocks: the TSC as the time base (`nanouptime`) and each CPU's local
//! APIC timer as its periodic hardclock at `param::HZ`.
//!
//! Neither frequency is known a priori, so both are measured against a
//! reference with a known rate, in this order of preference:
//! - the ACPI PM timer (3.579545 MHz; pc and q35; microvm's
//!   hardware-reduced ACPI has none),
//! - the i8254 PIT (1.193182 MHz) channel 0, read back with latch
//!   commands so the speaker gate at port 0x61 (absent on microvm) is not
//!   needed,
//! - CPUID: the hypervisor timing leaf 0x40000010 or Intel's leaf 0x15.
//!
//! The TSC is assumed to tick at one rate on all CPUs (true under QEMU and
//! on CPUs with an invariant TSC, which dmesg reports).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use kern::param::HZ;

use crate::cpufunc::{cpuid, inb, inl, outb, rdtsc};
use crate::intr::LAPIC_TIMER_VECTOR;
use crate::lapic;

const PM_TIMER_HZ: u64 = 3_579_545;
const PIT_HZ: u64 = 1_193_182;
/// Calibration window: long enough for ~0.1% resolution with either
/// reference, short enough not to matter for boot time.
const CALIBRATE_NS: u64 = 10_000_000;

const PIT_CH0: u16 = 0x40;
const PIT_MODE: u16 = 0x43;
const PIT_CH0_LOHI_RATEGEN: u8 = 0x34;
const PIT_CH0_LOHI_ONESHOT: u8 = 0x30;
const PIT_LATCH_CH0: u8 = 0x00;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick, 32.32 fixed point.
static TSC_MULT: AtomicU64 = AtomicU64::new(0);
/// TSC at kernel entry: uptime counts from there.
static TSC_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Local APIC timer input clock (before the /16 divider).
static LAPIC_BUS_HZ: AtomicU64 = AtomicU64::new(0);
static REFERENCE: AtomicU8 = AtomicU8::new(0);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reference {
    PmTimer { port: u16, mask: u32 },
    Pit,
}

impl Reference {
    fn hz(self) -> u64 {
        match self {
            Reference::PmTimer { .. } => PM_TIMER_HZ,
            Reference::Pit => PIT_HZ,
        }
    }

    fn read(self) -> u32 {
        match self {
            Reference::PmTimer { port, mask } => inl(port) & mask,
            Reference::Pit => {
                // SAFETY: latching channel 0 only freezes its read-back.
                unsafe { outb(PIT_MODE, PIT_LATCH_CH0) };
                let lo = inb(PIT_CH0) as u32;
                lo | (inb(PIT_CH0) as u32) << 8
            }
        }
    }

    /// Ticks from `prev` to `cur` (the PM timer counts up, the PIT down).
    fn delta(self, prev: u32, cur: u32) -> u64 {
        match self {
            Reference::PmTimer { mask, .. } => (cur.wrapping_sub(prev) & mask) as u64,
            Reference::Pit => (prev.wrapping_sub(cur) & 0xffff) as u64,
        }
    }

    /// Does the counter move at all? An absent device reads constant.
    fn alive(self) -> bool {
        let a = self.read();
        (0..100_000).any(|_| self.read() != a)
    }
}

/// Record the TSC at kernel entry. First thing in `init_x86_64`.
pub fn tsc_epoch_init() {
    TSC_EPOCH.store(rdtsc(), Ordering::Relaxed);
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

pub fn lapic_bus_hz() -> u64 {
    LAPIC_BUS_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since kernel entry; 0 until the TSC is calibrated.
pub fn nanouptime() -> u64 {
    let mult = TSC_MULT.load(Ordering::Relaxed);
    let d = rdtsc().saturating_sub(TSC_EPOCH.load(Ordering::Relaxed));
    ((d as u128 * mult as u128) >> 32) as u64
}

/// Busy-wait `us` microseconds (TSC based; needs calibration).
pub fn delay_us(us: u64) {
    let ticks = tsc_hz() * us / 1_000_000;
    let t0 = rdtsc();
    while rdtsc().wrapping_sub(t0) < ticks {
        core::hint::spin_loop();
    }
}

/// Name of the reference the clocks were calibrated against.
pub fn reference_name() -> &'static str {
    match REFERENCE.load(Ordering::Relaxed) {
        1 => "the ACPI PM timer",
        2 => "the i8254 PIT",
        3 => "the hypervisor's CPUID timing leaf",
        4 => "CPUID leaf 0x15",
        _ => "nothing",
    }
}

fn set_rates(tsc_hz: u64, bus_hz: u64, reference: u8) {
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    LAPIC_BUS_HZ.store(bus_hz, Ordering::Relaxed);
    TSC_MULT.store(((1_000_000_000u128 << 32) / tsc_hz.max(1) as u128) as u64, Ordering::Relaxed);
    REFERENCE.store(reference, Ordering::Relaxed);
}

/// Measure the TSC and local APIC timer rates, on the boot CPU with
/// interrupts masked. Before: the local APIC is enabled; ACPI is parsed.
/// After: `nanouptime`, `delay_us` and `cpu_startclock` work.
pub fn calibrate() {
    let acpi = crate::acpi::acpi_info();
    let pm = acpi.filter(|a| a.pm_tmr_port != 0).map(|a| Reference::PmTimer {
        port: a.pm_tmr_port,
        mask: if a.pm_tmr_32bit { u32::MAX } else { 0x00ff_ffff },
    });
    let reference = match pm {
        Some(r) if r.alive() => Some((r, 1)),
        _ => {
            // SAFETY: programs PIT channel 0 as a free-running counter; its
            // interrupt line is masked at the 8259 and the I/O APIC.
            unsafe {
                outb(PIT_MODE, PIT_CH0_LOHI_RATEGEN);
                outb(PIT_CH0, 0);
                outb(PIT_CH0, 0);
            }
            Reference::Pit.alive().then_some((Reference::Pit, 2))
        }
    };
    if let Some((r, code)) = reference {
        let (tsc, bus) = measure(r);
        if r == Reference::Pit {
            // Leave the PIT idle: one-shot, never re-armed.
            // SAFETY: as above.
            unsafe { outb(PIT_MODE, PIT_CH0_LOHI_ONESHOT) };
        }
        set_rates(tsc, bus, code);
        return;
    }
    if let Some((tsc, bus, code)) = cpuid_rates() {
        set_rates(tsc, bus, code);
        return;
    }
    panic!("clock: no ACPI PM timer, no i8254 and no CPUID frequency: cannot calibrate");
}

/// TSC and APIC bus rates over one calibration window of `r`.
fn measure(r: Reference) -> (u64, u64) {
    lapic::lapic_timer_start_free_running();
    let want = CALIBRATE_NS * r.hz() / 1_000_000_000;
    // Start on a tick edge of the reference so the window is exact.
    let mut prev = r.read();
    for _ in 0..1_000_000 {
        let cur = r.read();
        if cur != prev {
            prev = cur;
            break;
        }
    }
    let (t0, l0) = (rdtsc(), lapic::lapic_timer_count());
    let mut got = 0;
    while got < want {
        let cur = r.read();
        got += r.delta(prev, cur);
        prev = cur;
    }
    let (t1, l1) = (rdtsc(), lapic::lapic_timer_count());
    let tsc = (t1 - t0) as u128 * r.hz() as u128 / got as u128;
    let bus = (l0 - l1) as u128 * lapic::TIMER_DIVISOR as u128 * r.hz() as u128 / got as u128;
    (tsc as u64, bus as u64)
}

/// Rates from CPUID when there is no timer to measure against.
fn cpuid_rates() -> Option<(u64, u64, u8)> {
    let hv = cpuid(0x4000_0000, 0).eax;
    if (0x4000_0010..0x5000_0000).contains(&hv) {
        let t = cpuid(0x4000_0010, 0);
        if t.eax != 0 && t.ebx != 0 {
            return Some((t.eax as u64 * 1000, t.ebx as u64 * 1000, 3));
        }
    }
    if cpuid(0, 0).eax >= 0x15 {
        let c = cpuid(0x15, 0);
        if c.eax != 0 && c.ebx != 0 && c.ecx != 0 {
            // The core crystal clock also drives the APIC timer.
            return Some((c.ecx as u64 * c.ebx as u64 / c.eax as u64, c.ecx as u64, 4));
        }
    }
    None
}

/// Start this CPU's periodic hardclock. Before: `calibrate` ran on the boot
/// CPU and this CPU's local APIC is enabled. After: the timer interrupts
/// at HZ once interrupts are unmasked.
pub fn cpu_startclock() {
    let count = lapic_bus_hz() / lapic::TIMER_DIVISOR / HZ;
    lapic::lapic_timer_periodic(LAPIC_TIMER_VECTOR, count.clamp(1, u32::MAX as u64) as u32);
}

/// The timer interrupt. EOI first: the return to user mode may switch
/// threads, and the next tick must not wait for this one's EOI.
pub fn clockintr() {
    lapic::lapic_eoi();
    kern::kern_clock::hardclock();
}
