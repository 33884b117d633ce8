//! Clocks, sleeping for a time, and resource usage.

use sys::errno::*;
use sys::resource::{RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD, Rusage};
use sys::time::*;

use crate::kern_sched::{PPAUSE, curproc};
use crate::kern_synch::{SleepError, tsleep};
use crate::machdep;
use crate::param::HZ;
use crate::proc::cycles_to_timeval;
use crate::uvm_glue::{copyin_val, copyout_val};

fn cycles_to_ns(cyc: u64) -> u64 {
    (cyc as u128 * 1_000_000_000 / machdep::cpu_counter_freq().max(1) as u128) as u64
}

fn ts_of_ns(ns: u64) -> Timespec {
    Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
}

/// Every clock reads the uptime clock: there is no battery-backed time of
/// day yet, so CLOCK_REALTIME counts from boot too.
pub fn sys_clock_gettime(clock: i32, uts: u64) -> Result<(), i32> {
    let ns = match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_UPTIME | CLOCK_BOOTTIME => machdep::nanouptime(),
        CLOCK_THREAD_CPUTIME_ID => {
            let [u, s] = curproc().p_times.cycles();
            cycles_to_ns(u + s)
        }
        CLOCK_PROCESS_CPUTIME_ID => {
            let [u, s] = curproc().p_p.ps_mtx.lock().cputime();
            cycles_to_ns(u + s)
        }
        _ => return Err(EINVAL),
    };
    copyout_val(&ts_of_ns(ns), uts)
}

/// nanosleep: sleeps at least the time asked (rounded up to ticks); EINTR
/// with the time left in `*rem` when a signal interrupts it.
pub fn sys_nanosleep(ureq: u64, urem: u64) -> Result<(), i32> {
    let req: Timespec = copyin_val(ureq)?;
    if req.tv_sec < 0 || !(0..1_000_000_000).contains(&req.tv_nsec) {
        return Err(EINVAL);
    }
    let ns = (req.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(req.tv_nsec as u64);
    let start = machdep::nanouptime();
    let deadline = start.saturating_add(ns);
    let tick_ns = 1_000_000_000 / HZ;
    let ident = &req as *const Timespec as usize;
    loop {
        let now = machdep::nanouptime();
        if now >= deadline {
            return Ok(());
        }
        let ticks = (deadline - now).div_ceil(tick_ns) + 1;
        match tsleep(ident, PPAUSE, "nanoslp", ticks, true) {
            Err(SleepError::Interrupted) => {
                if urem != 0 {
                    let left = deadline.saturating_sub(machdep::nanouptime());
                    copyout_val(&ts_of_ns(left), urem)?;
                }
                return Err(EINTR);
            }
            _ => continue,
        }
    }
}

/// getrusage: the times are exact (cycle counter, see `cpu::ThreadTimes`)
/// up to each thread's last kernel entry or exit; the caller's own up to
/// this system call's entry.
pub fn sys_getrusage(who: i32, uru: u64) -> Result<(), i32> {
    let p = curproc();
    let pr = &p.p_p;
    let times = |[u, s]: [u64; 2], ru: Rusage| Rusage {
        ru_utime: cycles_to_timeval(u),
        ru_stime: cycles_to_timeval(s),
        ..ru
    };
    let ru = match who {
        RUSAGE_SELF => times(pr.ps_mtx.lock().cputime(), Rusage::default()),
        RUSAGE_THREAD => times(p.p_times.cycles(), Rusage::default()),
        RUSAGE_CHILDREN => {
            let inner = pr.ps_mtx.lock();
            times(inner.ps_ctu, inner.ps_cru)
        }
        _ => return Err(EINVAL),
    };
    copyout_val(&ru, uru)
}
