//! Inter-processor interrupts, MI side.
//!
//! A sender sets the kind bit in the target's `ci_ipi_pending` (and, for
//! the test IPI, its own bit in the target's `ci_ipi_from`) *before* raising
//! the hardware IPI; the receiver swaps the words to zero in its handler.
//! The Release/Acquire pair on those atomics means that whatever the sender
//! published is visible once the receiver sees the bit, and a bit set after
//! the swap raises a fresh IPI, so no request is lost.

use core::sync::atomic::Ordering;

use crate::cpu::{self, CPUF_IPI_SENT, CPUF_RUNNING, CpuInfo};
use crate::machdep;

/// Nothing to do but answer: used by the boot IPI test.
pub const IPI_PING: u32 = 0x1;
/// Panic on the receiving CPU (the `panic=N` boot word).
pub const IPI_PANIC: u32 = 0x2;
/// Wake an idle CPU (new work on its queue) or make a running thread pass
/// through userret (a signal): taking the interrupt is all it takes.
pub const IPI_NOP: u32 = 0x4;

/// Send IPI `kind` to CPU `target`.
pub fn ipi_send(target: &CpuInfo, kind: u32) {
    if kind == IPI_PING {
        let me = machdep::curcpu().ci_cpuid;
        target.ci_ipi_from.fetch_or(1 << me, Ordering::Release);
    }
    target.ci_ipi_pending.fetch_or(kind, Ordering::Release);
    machdep::send_ipi(target.ci_cpuid);
}

/// Called by the arch from the kernel IPI interrupt, interrupts masked.
pub fn ipi_intr() {
    let ci = machdep::curcpu();
    let pending = ci.ci_ipi_pending.swap(0, Ordering::Acquire);
    if pending & IPI_PING != 0 {
        let from = ci.ci_ipi_from.swap(0, Ordering::Acquire);
        ci.ci_ipi_seen.fetch_or(from, Ordering::Release);
    }
    if pending & IPI_PANIC != 0 {
        panic!("cpu{}: panic requested by IPI (boot word panic=N)", ci.ci_cpuid);
    }
}

/// This CPU's part of the all-pairs test: ping every other running CPU,
/// once. Called from the idle loop of every CPU once the test has begun.
pub fn ipi_test_send() {
    let me = machdep::curcpu();
    if me.has_flag(CPUF_IPI_SENT) {
        return;
    }
    me.set_flag(CPUF_IPI_SENT);
    for ci in cpu::cpus() {
        if ci.ci_cpuid != me.ci_cpuid && ci.has_flag(CPUF_RUNNING) {
            ipi_send(ci, IPI_PING);
        }
    }
}

/// Bit mask of the CPUs other than `ci` that are running.
pub fn others_mask(ci: &CpuInfo) -> u64 {
    cpu::cpus()
        .filter(|c| c.ci_cpuid != ci.ci_cpuid && c.has_flag(CPUF_RUNNING))
        .fold(0, |m, c| m | 1 << c.ci_cpuid)
}
