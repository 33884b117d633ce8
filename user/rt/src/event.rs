//! Kernel event notification: kqueue, kevent (OpenBSD `<sys/event.h>`;
//! the structure and constants are `sys::event`, re-exported here).

use sys::syscall::{SYS_kevent, SYS_kqueue};
use sys::time::Timespec;

pub use sys::event::*;

use crate::errno::Result;
use crate::syscall::{syscall0, syscall6};

/// kqueue(2): a new kqueue descriptor (not inherited by fork).
pub fn kqueue() -> Result<i32> {
    // SAFETY: no arguments.
    unsafe { syscall0(SYS_kqueue).map(|fd| fd as i32) }
}

/// kevent(2): apply `changes`, then collect up to `events.len()` events;
/// `timeout` None waits until one comes, zero does not wait. Returns how
/// many entries of `events` were filled (EV_ERROR entries for failed
/// changes included, as the kernel reports them).
pub fn kevent(
    kq: i32,
    changes: &[Kevent],
    events: &mut [Kevent],
    timeout: Option<&Timespec>,
) -> Result<usize> {
    let ts = timeout.map_or(core::ptr::null(), |t| t as *const Timespec);
    // SAFETY: the kernel reads changes.len() kevents from `changes`, writes
    // at most events.len() into `events`, and reads one timespec (or none).
    unsafe {
        syscall6(
            SYS_kevent,
            kq as usize,
            changes.as_ptr() as usize,
            changes.len(),
            events.as_mut_ptr() as usize,
            events.len(),
            ts as usize,
        )
        .map(|r| r.0)
    }
}

/// Apply one change and collect nothing: the change's errno, if any.
pub fn kevent_change(kq: i32, change: &Kevent) -> Result<()> {
    kevent(kq, core::slice::from_ref(change), &mut [], None).map(drop)
}
