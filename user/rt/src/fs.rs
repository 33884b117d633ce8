//! Files and descriptors: open, close, read, write, dup, dup2, pipe, stat,
//! fstat, getdents, chdir, __getcwd, unlink, mkdir, fcntl, ioctl.
//!
//! Paths are passed as `&str` and copied with a terminating NUL into a
//! PATH_MAX buffer on the stack: no allocation, ENAMETOOLONG for a path
//! the kernel would refuse anyway, EINVAL for an embedded NUL.

use sys::dirent::{DIRENT_HDR, DirentHeader};
use sys::fcntl::PATH_MAX;
use sys::stat::Stat;
use sys::syscall::*;

use crate::errno::{Errno, Result};
use crate::syscall::{syscall1, syscall2, syscall3};

/// Call `f` with `path` as a NUL-terminated C string.
pub fn with_cpath<R>(path: &str, f: impl FnOnce(*const u8) -> Result<R>) -> Result<R> {
    let b = path.as_bytes();
    if b.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    let mut buf = [0u8; PATH_MAX];
    buf[..b.len()].copy_from_slice(b);
    f(buf.as_ptr())
}

/// open(2): `flags` from sys::fcntl, `mode` used with O_CREAT.
pub fn open(path: &str, flags: i32, mode: u32) -> Result<i32> {
    // SAFETY: the path is a valid C string for the duration of the call.
    with_cpath(path, |p| unsafe { syscall3(SYS_open, p as usize, flags as usize, mode as usize) })
        .map(|fd| fd as i32)
}

pub fn close(fd: i32) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall1(SYS_close, fd as usize).map(drop) }
}

/// read(2) into `buf`; Ok(0) at end of file.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    unsafe { syscall3(SYS_read, fd as usize, buf.as_mut_ptr() as usize, buf.len()) }
}

/// write(2) from `buf`; may write less than all of it (see
/// [`crate::io::write_all`]).
pub fn write(fd: i32, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads at most buf.len() bytes from buf.
    unsafe { syscall3(SYS_write, fd as usize, buf.as_ptr() as usize, buf.len()) }
}

pub fn dup(fd: i32) -> Result<i32> {
    // SAFETY: no pointers.
    unsafe { syscall1(SYS_dup, fd as usize).map(|r| r as i32) }
}

pub fn dup2(from: i32, to: i32) -> Result<i32> {
    // SAFETY: no pointers.
    unsafe { syscall2(SYS_dup2, from as usize, to as usize).map(|r| r as i32) }
}

/// pipe(2): [read end, write end].
pub fn pipe() -> Result<[i32; 2]> {
    let mut fds = [-1i32; 2];
    // SAFETY: the kernel writes two ints into fds.
    unsafe { syscall1(SYS_pipe, fds.as_mut_ptr() as usize)? };
    Ok(fds)
}

pub fn fstat(fd: i32) -> Result<Stat> {
    let mut st = Stat::default();
    // SAFETY: the kernel writes one struct stat into st.
    unsafe { syscall2(SYS_fstat, fd as usize, &mut st as *mut Stat as usize)? };
    Ok(st)
}

pub fn stat(path: &str) -> Result<Stat> {
    let mut st = Stat::default();
    // SAFETY: a valid C string and one struct stat to write.
    with_cpath(path, |p| unsafe { syscall2(SYS_stat, p as usize, &mut st as *mut Stat as usize) })?;
    Ok(st)
}

/// getdents(2): fill `buf` with directory records (parse them with
/// [`Dirents`]); Ok(0) at the end of the directory.
pub fn getdents(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    unsafe { syscall3(SYS_getdents, fd as usize, buf.as_mut_ptr() as usize, buf.len()) }
}

pub fn chdir(path: &str) -> Result<()> {
    // SAFETY: a valid C string.
    with_cpath(path, |p| unsafe { syscall1(SYS_chdir, p as usize) }).map(drop)
}

/// __getcwd(2): the current directory's path, NUL-terminated, into `buf`.
/// Returns what the kernel returns (OpenBSD: the length including the NUL).
pub fn __getcwd(buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    unsafe { syscall2(SYS___getcwd, buf.as_mut_ptr() as usize, buf.len()) }
}

/// The current directory's path, in `buf` (PATH_MAX bytes is always
/// enough).
pub fn getcwd(buf: &mut [u8]) -> Result<&str> {
    __getcwd(buf)?;
    let n = buf.iter().position(|&b| b == 0).ok_or(Errno::ERANGE)?;
    core::str::from_utf8(&buf[..n]).map_err(|_| Errno::EINVAL)
}

pub fn unlink(path: &str) -> Result<()> {
    // SAFETY: a valid C string.
    with_cpath(path, |p| unsafe { syscall1(SYS_unlink, p as usize) }).map(drop)
}

pub fn mkdir(path: &str, mode: u32) -> Result<()> {
    // SAFETY: a valid C string.
    with_cpath(path, |p| unsafe { syscall2(SYS_mkdir, p as usize, mode as usize) }).map(drop)
}

/// fcntl(2) with an integer argument (F_DUPFD, F_GETFD, F_SETFD, F_GETFL,
/// F_SETFL, F_DUPFD_CLOEXEC from sys::fcntl).
pub fn fcntl(fd: i32, cmd: i32, arg: i32) -> Result<i32> {
    // SAFETY: no pointers for these commands.
    unsafe { syscall3(SYS_fcntl, fd as usize, cmd as usize, arg as usize).map(|r| r as i32) }
}

/// ioctl(2) whose argument is a `T` the kernel reads or writes, as the
/// request's direction bits say (sys::ioctl).
pub fn ioctl<T: Copy>(fd: i32, req: u32, arg: &mut T) -> Result<()> {
    // SAFETY: arg is a valid, writable T; the request's size field names
    // sizeof(T) for every request the kernel accepts.
    unsafe { syscall3(SYS_ioctl, fd as usize, req as usize, arg as *mut T as usize).map(drop) }
}

/// tcgetpgrp(3): the terminal's foreground process group.
pub fn tcgetpgrp(fd: i32) -> Result<i32> {
    let mut pg = 0i32;
    ioctl(fd, sys::ioctl::TIOCGPGRP, &mut pg)?;
    Ok(pg)
}

/// tcsetpgrp(3): make `pgrp` the terminal's foreground process group.
pub fn tcsetpgrp(fd: i32, pgrp: i32) -> Result<()> {
    let mut pg = pgrp;
    ioctl(fd, sys::ioctl::TIOCSPGRP, &mut pg)
}

/// tcgetattr(3).
pub fn tcgetattr(fd: i32) -> Result<sys::ioctl::Termios> {
    let mut t = sys::ioctl::Termios::default();
    ioctl(fd, sys::ioctl::TIOCGETA, &mut t)?;
    Ok(t)
}

/// tcsetattr(3) with TCSANOW.
pub fn tcsetattr(fd: i32, t: &sys::ioctl::Termios) -> Result<()> {
    let mut t = *t;
    ioctl(fd, sys::ioctl::TIOCSETA, &mut t)
}

/// isatty(3).
pub fn isatty(fd: i32) -> bool {
    tcgetattr(fd).is_ok()
}

/// One getdents record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    pub fileno: u64,
    pub off: i64,
    /// sys::dirent::DT_*.
    pub kind: u8,
    pub name: &'a [u8],
}

impl Dirent<'_> {
    /// The name as text ("\u{fffd}" if it is not UTF-8).
    pub fn name_str(&self) -> &str {
        core::str::from_utf8(self.name).unwrap_or("\u{fffd}")
    }
}

/// The records in a buffer filled by [`getdents`]. Stops at the first
/// malformed record (a kernel bug) rather than reading past it.
pub struct Dirents<'a> {
    buf: &'a [u8],
}

impl<'a> Dirents<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Dirents { buf }
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        if self.buf.len() < DIRENT_HDR {
            return None;
        }
        // SAFETY: DIRENT_HDR bytes are there; read_unaligned copes with
        // any alignment, and every bit pattern is a valid DirentHeader.
        let h: DirentHeader = unsafe { core::ptr::read_unaligned(self.buf.as_ptr().cast()) };
        let reclen = h.d_reclen as usize;
        let namlen = h.d_namlen as usize;
        if reclen < DIRENT_HDR + namlen + 1 || reclen > self.buf.len() {
            self.buf = &[];
            return None;
        }
        let name = &self.buf[DIRENT_HDR..DIRENT_HDR + namlen];
        self.buf = &self.buf[reclen..];
        Some(Dirent { fileno: h.d_fileno, off: h.d_off, kind: h.d_type, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::dirent::{DT_DIR, DT_REG, dirent_reclen};

    fn record(out: &mut Vec<u8>, ino: u64, kind: u8, name: &str) {
        let reclen = dirent_reclen(name.len());
        let start = out.len();
        out.extend_from_slice(&ino.to_ne_bytes());
        out.extend_from_slice(&((start + reclen) as i64).to_ne_bytes());
        out.extend_from_slice(&(reclen as u16).to_ne_bytes());
        out.push(kind);
        out.push(name.len() as u8);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(name.as_bytes());
        out.resize(start + reclen, 0);
    }

    #[test]
    fn parses_records() {
        let mut b = Vec::new();
        record(&mut b, 2, DT_DIR, ".");
        record(&mut b, 2, DT_DIR, "..");
        record(&mut b, 5, DT_REG, "hello");
        let v: Vec<Dirent> = Dirents::new(&b).collect();
        assert_eq!(v.len(), 3);
        assert_eq!((v[2].fileno, v[2].kind, v[2].name_str()), (5, DT_REG, "hello"));
        assert_eq!(v[1].name, b"..");
        assert_eq!(v[0].off as usize, dirent_reclen(1));
    }

    #[test]
    fn stops_at_garbage() {
        let mut b = Vec::new();
        record(&mut b, 7, DT_REG, "ok");
        let good = b.len();
        record(&mut b, 8, DT_REG, "bad");
        b[good + 16..good + 18].copy_from_slice(&4u16.to_ne_bytes()); // reclen too small
        assert_eq!(Dirents::new(&b).count(), 1);
        b[good + 16..good + 18].copy_from_slice(&4000u16.to_ne_bytes()); // past the end
        assert_eq!(Dirents::new(&b).count(), 1);
        assert_eq!(Dirents::new(&b[..10]).count(), 0);
    }

    #[test]
    fn paths() {
        // SAFETY: with_cpath passes a NUL-terminated buffer alive for the call.
        let len = |p: *const u8| Ok(unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_bytes().len());
        assert_eq!(with_cpath("/bin/sh", len), Ok(7));
        assert_eq!(with_cpath("a\0b", |_| Ok(())), Err(Errno::EINVAL));
        assert_eq!(with_cpath(&"x".repeat(PATH_MAX), |_| Ok(())), Err(Errno::ENAMETOOLONG));
        assert_eq!(with_cpath(&"x".repeat(PATH_MAX - 1), |_| Ok(())), Ok(()));
        // On the host every call reports ENOSYS: there is no oxbsd kernel.
        assert_eq!(open("/etc/motd", 0, 0), Err(Errno::ENOSYS));
    }
}
