//! The clock interrupt, MI side.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::machdep;

/// Clock ticks on the primary CPU since it started its timer.
pub static TICKS: AtomicU64 = AtomicU64::new(0);

/// Called by the arch from every periodic timer interrupt, on every CPU,
/// with interrupts masked. Counts the tick for this CPU.
pub fn hardclock() {
    let ci = machdep::curcpu();
    ci.ci_ticks.fetch_add(1, Ordering::Relaxed);
    if ci.is_primary() {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
}
