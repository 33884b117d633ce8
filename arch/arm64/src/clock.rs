//! The Arm generic timer (OpenBSD's agtimer): the EL1 virtual timer
//! interrupts every CPU at `HZ`, and the virtual counter is the kernel's
//! monotonic clock.
//!
//! The virtual timer is the one a guest kernel owns under a hypervisor;
//! when we dropped from EL2 ourselves, CNTVOFF_EL2 is 0 so virtual and
//! physical counts agree.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable, Writeable};
use kern::param::HZ;

use crate::{fdt, gic};

/// Counter ticks per clock interrupt.
static INTERVAL: AtomicU64 = AtomicU64::new(0);
/// INTID of the timer PPI.
static TIMER_IRQ: AtomicU32 = AtomicU32::new(0);
/// nanoseconds = (count * NS_MULT) >> 32, set once the frequency is known.
static NS_MULT: AtomicU64 = AtomicU64::new(0);

/// Virtual timer PPI when the device tree does not say (QEMU virt: 27).
const DEFAULT_VTIMER_IRQ: u32 = 27;

/// Counter ticks per second (also the rate of `cpu_counter`).
pub fn freq() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// The virtual counter: the same on every CPU (the architecture keeps
/// the system counter common), hence also the time-accounting stamp.
pub fn count() -> u64 {
    // The ISB keeps the counter read from being hoisted above earlier
    // instructions (the architecture lets it be read out of order).
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Monotonic nanoseconds since the counter started (power on).
pub fn nanouptime() -> u64 {
    let mut m = NS_MULT.load(Ordering::Relaxed);
    if m == 0 {
        m = ((1_000_000_000u128 << 32) / freq() as u128) as u64;
        NS_MULT.store(m, Ordering::Relaxed);
    }
    ((count() as u128 * m as u128) >> 32) as u64
}

/// Attach the timer and start it on the boot CPU.
///
/// Before: GIC attached; logger up. After: the boot CPU's timer raises its
/// PPI every 1/HZ s (taken once interrupts are enabled).
pub fn attach() {
    let f = freq();
    INTERVAL.store((f / HZ).max(1), Ordering::Relaxed);
    let irq = fdt::mach().timer_irq.unwrap_or(DEFAULT_VTIMER_IRQ);
    TIMER_IRQ.store(irq, Ordering::Relaxed);
    log::info!("agtimer0 at mainbus0: {} kHz", f / 1000);
    cpu_startclock();
}

/// Start the periodic timer on the calling CPU. Before: `attach` ran and
/// this CPU's GIC interface is initialised. After: first tick armed.
pub fn cpu_startclock() {
    let iv = INTERVAL.load(Ordering::Relaxed);
    CNTV_CVAL_EL0.set(count() + iv);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    barrier::isb(barrier::SY);
    gic::enable_ppi(TIMER_IRQ.load(Ordering::Relaxed));
}

pub fn timer_irq() -> u32 {
    TIMER_IRQ.load(Ordering::Relaxed)
}

/// Re-arm this CPU's timer for the next tick. Deadlines advance by whole
/// intervals so the rate does not drift; if we fell behind by more than
/// one interval, skip ahead instead of taking a burst of late ticks.
pub fn rearm() {
    let iv = INTERVAL.load(Ordering::Relaxed);
    let now = count();
    let mut next = CNTV_CVAL_EL0.get() + iv;
    if next <= now {
        next = now + iv;
    }
    CNTV_CVAL_EL0.set(next);
    // The new deadline must reach the timer before the caller EOIs the
    // level PPI, or it could be taken again for the same tick.
    barrier::isb(barrier::SY);
}
