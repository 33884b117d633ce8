//! Error numbers with their names and messages.

use core::fmt;

use sys::errno as e;

/// A system call's error: the errno value the kernel returned.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

pub type Result<T> = core::result::Result<T, Errno>;

/// (value, name, message) for every errno the ABI defines.
const TABLE: &[(i32, &str, &str)] = &[
    (e::EPERM, "EPERM", "Operation not permitted"),
    (e::ENOENT, "ENOENT", "No such file or directory"),
    (e::ESRCH, "ESRCH", "No such process"),
    (e::EINTR, "EINTR", "Interrupted system call"),
    (e::EIO, "EIO", "Input/output error"),
    (e::ENXIO, "ENXIO", "Device not configured"),
    (e::E2BIG, "E2BIG", "Argument list too long"),
    (e::ENOEXEC, "ENOEXEC", "Exec format error"),
    (e::EBADF, "EBADF", "Bad file descriptor"),
    (e::ECHILD, "ECHILD", "No child processes"),
    (e::EDEADLK, "EDEADLK", "Resource deadlock avoided"),
    (e::ENOMEM, "ENOMEM", "Cannot allocate memory"),
    (e::EACCES, "EACCES", "Permission denied"),
    (e::EFAULT, "EFAULT", "Bad address"),
    (e::EBUSY, "EBUSY", "Device busy"),
    (e::EEXIST, "EEXIST", "File exists"),
    (e::ENODEV, "ENODEV", "Operation not supported by device"),
    (e::ENOTDIR, "ENOTDIR", "Not a directory"),
    (e::EISDIR, "EISDIR", "Is a directory"),
    (e::EINVAL, "EINVAL", "Invalid argument"),
    (e::ENFILE, "ENFILE", "Too many open files in system"),
    (e::EMFILE, "EMFILE", "Too many open files"),
    (e::ENOTTY, "ENOTTY", "Inappropriate ioctl for device"),
    (e::EFBIG, "EFBIG", "File too large"),
    (e::ENOSPC, "ENOSPC", "No space left on device"),
    (e::ESPIPE, "ESPIPE", "Illegal seek"),
    (e::EROFS, "EROFS", "Read-only file system"),
    (e::EPIPE, "EPIPE", "Broken pipe"),
    (e::ERANGE, "ERANGE", "Result too large"),
    (e::EAGAIN, "EAGAIN", "Resource temporarily unavailable"),
    (e::EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"),
    (e::ENAMETOOLONG, "ENAMETOOLONG", "File name too long"),
    (e::ENOTEMPTY, "ENOTEMPTY", "Directory not empty"),
    (e::ENOSYS, "ENOSYS", "Function not implemented"),
];

impl Errno {
    pub const EPERM: Errno = Errno(e::EPERM);
    pub const ENOENT: Errno = Errno(e::ENOENT);
    pub const ESRCH: Errno = Errno(e::ESRCH);
    pub const EINTR: Errno = Errno(e::EINTR);
    pub const EIO: Errno = Errno(e::EIO);
    pub const ENXIO: Errno = Errno(e::ENXIO);
    pub const E2BIG: Errno = Errno(e::E2BIG);
    pub const ENOEXEC: Errno = Errno(e::ENOEXEC);
    pub const EBADF: Errno = Errno(e::EBADF);
    pub const ECHILD: Errno = Errno(e::ECHILD);
    pub const EDEADLK: Errno = Errno(e::EDEADLK);
    pub const ENOMEM: Errno = Errno(e::ENOMEM);
    pub const EACCES: Errno = Errno(e::EACCES);
    pub const EFAULT: Errno = Errno(e::EFAULT);
    pub const EBUSY: Errno = Errno(e::EBUSY);
    pub const EEXIST: Errno = Errno(e::EEXIST);
    pub const ENODEV: Errno = Errno(e::ENODEV);
    pub const ENOTDIR: Errno = Errno(e::ENOTDIR);
    pub const EISDIR: Errno = Errno(e::EISDIR);
    pub const EINVAL: Errno = Errno(e::EINVAL);
    pub const ENFILE: Errno = Errno(e::ENFILE);
    pub const EMFILE: Errno = Errno(e::EMFILE);
    pub const ENOTTY: Errno = Errno(e::ENOTTY);
    pub const EFBIG: Errno = Errno(e::EFBIG);
    pub const ENOSPC: Errno = Errno(e::ENOSPC);
    pub const ESPIPE: Errno = Errno(e::ESPIPE);
    pub const EROFS: Errno = Errno(e::EROFS);
    pub const EPIPE: Errno = Errno(e::EPIPE);
    pub const ERANGE: Errno = Errno(e::ERANGE);
    pub const EAGAIN: Errno = Errno(e::EAGAIN);
    pub const EOPNOTSUPP: Errno = Errno(e::EOPNOTSUPP);
    pub const ENAMETOOLONG: Errno = Errno(e::ENAMETOOLONG);
    pub const ENOTEMPTY: Errno = Errno(e::ENOTEMPTY);
    pub const ENOSYS: Errno = Errno(e::ENOSYS);

    fn entry(self) -> Option<&'static (i32, &'static str, &'static str)> {
        TABLE.iter().find(|t| t.0 == self.0)
    }

    /// The symbolic name ("ENOENT"), or None for a value the ABI does not
    /// define.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|t| t.1)
    }

    /// The message strerror(3) would give, or "Unknown error".
    pub fn message(self) -> &'static str {
        self.entry().map_or("Unknown error", |t| t.2)
    }

    /// The errno named `name` ("EINVAL"), if the ABI defines it.
    pub fn from_name(name: &str) -> Option<Errno> {
        TABLE.iter().find(|t| t.1 == name).map(|t| Errno(t.0))
    }
}

/// The message for an errno value, as strerror(3).
pub fn strerror(errno: i32) -> &'static str {
    Errno(errno).message()
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// "No such file or directory (ENOENT)".
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.message()),
            None => write!(f, "Unknown error {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_messages() {
        assert_eq!(format!("{:?}", Errno::ENOENT), "ENOENT");
        assert_eq!(format!("{}", Errno::ENOENT), "No such file or directory (ENOENT)");
        assert_eq!(format!("{:?}", Errno(999)), "errno 999");
        assert_eq!(format!("{}", Errno(999)), "Unknown error 999");
        assert_eq!(strerror(e::EAGAIN), "Resource temporarily unavailable");
        assert_eq!(Errno::from_name("ENAMETOOLONG"), Some(Errno(63)));
    }

    #[test]
    fn table_is_complete_and_unique() {
        let mut vals: Vec<i32> = TABLE.iter().map(|t| t.0).collect();
        vals.sort();
        vals.dedup();
        assert_eq!(vals.len(), TABLE.len(), "duplicate errno value");
        for t in TABLE {
            assert_eq!(Errno::from_name(t.1), Some(Errno(t.0)), "{}", t.1);
            assert!(t.1.starts_with('E') && !t.2.is_empty());
        }
        // Every constant in sys::errno (except the kernel-internal one)
        // has a row: the table is exactly the positive values listed.
        let src = include_str!("../../../sys/src/errno.rs");
        let declared = src.lines().filter(|l| l.starts_with("pub const E") && !l.contains("= -")).count();
        assert_eq!(declared, TABLE.len());
    }
}
