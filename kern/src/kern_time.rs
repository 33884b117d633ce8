//! Clocks, sleeping for a time, and resource usage.

use core::sync::atomic::Ordering;

use sys::errno::*;
use sys::resource::{RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD, Rusage};
use sys::time::*;

use crate::kern_sched::{PPAUSE, curproc};
use crate::kern_synch::{SleepError, tsleep};
use crate::param::HZ;
use crate::proc::ticks_to_timeval;
use crate::uvm_glue::{copyin_val, copyout_val};
use crate::{machdep, proc};

fn ts_of_ns(ns: u64) -> Timespec {
    Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
}

/// Every clock reads the uptime clock: there is no battery-backed time of
/// day yet, so CLOCK_REALTIME counts from boot too.
pub fn sys_clock_gettime(clock: i32, uts: u64) -> Result<(), i32> {
    let ns = match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_UPTIME | CLOCK_BOOTTIME => machdep::nanouptime(),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            let p = curproc();
            let t = p.p_uticks.load(Ordering::Relaxed) + p.p_sticks.load(Ordering::Relaxed);
            t * (1_000_000_000 / HZ)
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

pub fn sys_getrusage(who: i32, uru: u64) -> Result<(), i32> {
    let p = curproc();
    let pr = &p.p_p;
    let ru = match who {
        RUSAGE_SELF => {
            let inner = pr.ps_mtx.lock();
            let (mut u, mut s) = (inner.ps_uticks, inner.ps_sticks);
            for &t in inner.ps_threads.iter() {
                // SAFETY: on the thread list under ps_mtx: live.
                let tp: &proc::Proc = unsafe { &*t };
                u += tp.p_uticks.load(Ordering::Relaxed);
                s += tp.p_sticks.load(Ordering::Relaxed);
            }
            Rusage { ru_utime: ticks_to_timeval(u), ru_stime: ticks_to_timeval(s), ..Rusage::default() }
        }
        RUSAGE_THREAD => Rusage {
            ru_utime: ticks_to_timeval(p.p_uticks.load(Ordering::Relaxed)),
            ru_stime: ticks_to_timeval(p.p_sticks.load(Ordering::Relaxed)),
            ..Rusage::default()
        },
        RUSAGE_CHILDREN => pr.ps_mtx.lock().ps_cru,
        _ => return Err(EINVAL),
    };
    copyout_val(&ru, uru)
}
