//! Kernel event notification (OpenBSD `<sys/event.h>`): `struct kevent`,
//! the filters, the action and return flags and the per-filter `NOTE_*`
//! values, all as OpenBSD has them on its 64-bit platforms.

/// One change or one event (OpenBSD's 64-bit layout, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kevent {
    /// What the filter watches: a descriptor, a pid, a signal number, a
    /// timer's name.
    pub ident: u64,
    /// One of the `EVFILT_*` values.
    pub filter: i16,
    /// `EV_*` actions in a change, `EV_*` flags and returned values in an
    /// event.
    pub flags: u16,
    /// Filter-specific flags (`NOTE_*`).
    pub fflags: u32,
    /// Filter-specific data.
    pub data: i64,
    /// Opaque to the kernel: handed back with every event.
    pub udata: u64,
}

const _: () = assert!(core::mem::size_of::<Kevent>() == 32);

impl Kevent {
    /// OpenBSD's `EV_SET`.
    pub const fn new(ident: u64, filter: i16, flags: u16, fflags: u32, data: i64, udata: u64) -> Kevent {
        Kevent { ident, filter, flags, fflags, data, udata }
    }
}

// Filters.
pub const EVFILT_READ: i16 = -1;
pub const EVFILT_WRITE: i16 = -2;
/// Attached to aio requests (not in oxbsd).
pub const EVFILT_AIO: i16 = -3;
/// Attached to vnodes (not in oxbsd).
pub const EVFILT_VNODE: i16 = -4;
/// Attached to a process: exit, fork, exec.
pub const EVFILT_PROC: i16 = -5;
/// Attached to the caller's process: signal deliveries.
pub const EVFILT_SIGNAL: i16 = -6;
pub const EVFILT_TIMER: i16 = -7;
/// Devices (not in oxbsd).
pub const EVFILT_DEVICE: i16 = -8;
/// Exceptional conditions (not in oxbsd).
pub const EVFILT_EXCEPT: i16 = -9;
/// User events (not in oxbsd).
pub const EVFILT_USER: i16 = -10;
pub const EVFILT_SYSCOUNT: i16 = 10;

// Actions.
/// Add the event to the kqueue (implies enable).
pub const EV_ADD: u16 = 0x0001;
pub const EV_DELETE: u16 = 0x0002;
pub const EV_ENABLE: u16 = 0x0004;
/// Keep the event but do not report it.
pub const EV_DISABLE: u16 = 0x0008;

// Flags.
/// Report one occurrence, then delete the event.
pub const EV_ONESHOT: u16 = 0x0010;
/// Reset the event's state after it is reported.
pub const EV_CLEAR: u16 = 0x0020;
/// Answer the change with an EV_ERROR entry (data 0 on success).
pub const EV_RECEIPT: u16 = 0x0040;
/// Disable the event after it is reported.
pub const EV_DISPATCH: u16 = 0x0080;

/// Reserved for the system: ignored in a change.
pub const EV_SYSFLAGS: u16 = 0xf800;
/// Filter-specific flag.
pub const EV_FLAG1: u16 = 0x2000;

// Returned values.
/// End of file (the other end of a pipe closed, a process exited).
pub const EV_EOF: u16 = 0x8000;
/// The change failed; data holds the errno.
pub const EV_ERROR: u16 = 0x4000;

// EVFILT_READ / EVFILT_WRITE.
pub const NOTE_LOWAT: u32 = 0x0001;
pub const NOTE_EOF: u32 = 0x0002;
// EVFILT_EXCEPT.
pub const NOTE_OOB: u32 = 0x0004;

// EVFILT_VNODE.
pub const NOTE_DELETE: u32 = 0x0001;
pub const NOTE_WRITE: u32 = 0x0002;
pub const NOTE_EXTEND: u32 = 0x0004;
pub const NOTE_ATTRIB: u32 = 0x0008;
pub const NOTE_LINK: u32 = 0x0010;
pub const NOTE_RENAME: u32 = 0x0020;
pub const NOTE_REVOKE: u32 = 0x0040;
pub const NOTE_TRUNCATE: u32 = 0x0080;

// EVFILT_PROC.
/// The process exited; data is its wait status.
pub const NOTE_EXIT: u32 = 0x8000_0000;
/// The process forked; data is the child's pid.
pub const NOTE_FORK: u32 = 0x4000_0000;
/// The process called execve.
pub const NOTE_EXEC: u32 = 0x2000_0000;
pub const NOTE_PCTRLMASK: u32 = 0xf000_0000;
pub const NOTE_PDATAMASK: u32 = 0x000f_ffff;
/// Follow across forks: attach to each child as it is made.
pub const NOTE_TRACK: u32 = 0x0000_0001;
/// A child could not be tracked.
pub const NOTE_TRACKERR: u32 = 0x0000_0002;
/// This event is a tracked child's first; data is the parent's pid.
pub const NOTE_CHILD: u32 = 0x0000_0004;

// EVFILT_DEVICE.
pub const NOTE_CHANGE: u32 = 0x0000_0001;

// EVFILT_TIMER: the unit of data (milliseconds unless one of these).
pub const NOTE_MSECONDS: u32 = 0x0000_0000;
pub const NOTE_SECONDS: u32 = 0x0000_0001;
pub const NOTE_USECONDS: u32 = 0x0000_0002;
pub const NOTE_NSECONDS: u32 = 0x0000_0003;
/// The timeout is an absolute time (not in oxbsd).
pub const NOTE_ABSTIME: u32 = 0x0000_0010;
