//! The clock interrupt, MI side.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::machdep;

/// Clock ticks on the primary CPU since it started its timer.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

/// Called by the arch from every periodic timer interrupt, on every CPU,
/// with interrupts masked. Counts the tick for this CPU and against the
/// running thread's time slice and, on the primary CPU, expires sleep
/// timeouts. No CPU time is charged by ticks: the cycle counter does that
/// at every transition (`cpu::ThreadTimes`), so whether the tick came from
/// user mode no longer matters here.
pub fn hardclock() {
    let ci = machdep::curcpu();
    ci.ci_ticks.fetch_add(1, Ordering::Relaxed);
    crate::kern_sched::schedclock();
    if ci.is_primary() {
        let now = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
        crate::kern_synch::sleep_timeouts(now);
    }
}
