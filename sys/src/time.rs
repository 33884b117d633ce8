//! Time structures and clocks (OpenBSD `<sys/time.h>`, `<time.h>`).

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
pub const CLOCK_MONOTONIC: i32 = 3;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = 4;
pub const CLOCK_UPTIME: i32 = 5;
pub const CLOCK_BOOTTIME: i32 = 6;
