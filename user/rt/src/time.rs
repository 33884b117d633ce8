//! Clocks and sleeping: clock_gettime, nanosleep.

use core::time::Duration;

use sys::syscall::{SYS_clock_gettime, SYS_nanosleep};
use sys::time::{CLOCK_MONOTONIC, Timespec};

use crate::errno::{Errno, Result};
use crate::syscall::syscall2;

pub fn clock_gettime(clock: i32) -> Result<Timespec> {
    let mut ts = Timespec::default();
    // SAFETY: the kernel writes one struct timespec.
    unsafe { syscall2(SYS_clock_gettime, clock as usize, &mut ts as *mut Timespec as usize)? };
    Ok(ts)
}

/// nanosleep(2); on EINTR, `rem` (if given) holds the time left.
pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) -> Result<()> {
    let r = rem.map_or(core::ptr::null_mut(), |r| r as *mut Timespec);
    // SAFETY: req is readable, r null or writable.
    unsafe { syscall2(SYS_nanosleep, req as *const Timespec as usize, r as usize).map(drop) }
}

pub fn to_timespec(d: Duration) -> Timespec {
    Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// A non-negative timespec as a Duration (negative parts count as 0).
pub fn to_duration(ts: Timespec) -> Duration {
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// Sleep for `d`, resuming after signals until the whole time has passed.
pub fn sleep(d: Duration) -> Result<()> {
    let mut req = to_timespec(d);
    loop {
        let mut rem = Timespec::default();
        match nanosleep(&req, Some(&mut rem)) {
            Err(Errno::EINTR) => req = rem,
            r => return r,
        }
    }
}

/// CLOCK_MONOTONIC now, as time since boot.
pub fn now() -> Result<Duration> {
    clock_gettime(CLOCK_MONOTONIC).map(to_duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let d = Duration::new(3, 250_000_000);
        assert_eq!(to_timespec(d), Timespec { tv_sec: 3, tv_nsec: 250_000_000 });
        assert_eq!(to_duration(to_timespec(d)), d);
        assert_eq!(to_duration(Timespec { tv_sec: -1, tv_nsec: 5 }), Duration::new(0, 5));
    }
}
