//! Formatted output to file descriptors: `print!`/`println!` (fd 1) and
//! `eprint!`/`eprintln!` (fd 2).
//!
//! Each macro call formats into a buffer on the stack and writes it with
//! as few write(2) calls as it fits in (one for any line up to
//! [`LINE_BUF`] bytes), so lines from concurrent processes sharing a
//! console do not interleave mid-line, and nothing is allocated (the panic
//! handler prints with these too). Nothing is kept between calls, so there
//! is nothing to flush at exit or before fork.

use core::fmt;

use crate::errno::{Errno, Result};

/// Bytes formatted before a write(2) is issued.
pub const LINE_BUF: usize = 512;

/// Where buffered output goes.
pub trait Sink {
    /// Write some of `b`, returning how much was written.
    fn write(&mut self, b: &[u8]) -> Result<usize>;
}

/// A file descriptor as a [`Sink`], and as an unbuffered `fmt::Write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd(pub i32);

impl Sink for Fd {
    fn write(&mut self, b: &[u8]) -> Result<usize> {
        crate::fs::write(self.0, b)
    }
}

impl fmt::Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_all(self, s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// Write all of `b`, retrying after short writes and EINTR. A write of 0
/// bytes is reported as EIO rather than retried forever.
pub fn write_all<S: Sink + ?Sized>(sink: &mut S, mut b: &[u8]) -> Result<()> {
    while !b.is_empty() {
        match sink.write(b) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => b = &b[n.min(b.len())..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A fixed buffer in front of a [`Sink`]; the first error sticks and later
/// output is dropped.
pub struct BufWriter<S: Sink, const N: usize> {
    sink: S,
    buf: [u8; N],
    len: usize,
    err: Option<Errno>,
}

impl<S: Sink, const N: usize> BufWriter<S, N> {
    pub fn new(sink: S) -> Self {
        BufWriter { sink, buf: [0; N], len: 0, err: None }
    }

    /// Write out what is buffered; returns the first error seen.
    pub fn flush(&mut self) -> Result<()> {
        if self.err.is_none()
            && self.len > 0
            && let Err(e) = write_all(&mut self.sink, &self.buf[..self.len])
        {
            self.err = Some(e);
        }
        self.len = 0;
        self.err.map_or(Ok(()), Err)
    }

    pub fn into_sink(mut self) -> S {
        let _ = self.flush();
        // Move the sink out without running Drop's flush again.
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped after this read, so the
        // sink is moved out exactly once.
        unsafe { core::ptr::read(&this.sink) }
    }
}

impl<S: Sink, const N: usize> fmt::Write for BufWriter<S, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut b = s.as_bytes();
        while !b.is_empty() {
            if self.len == N {
                let _ = self.flush();
            }
            let n = b.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
        }
        if self.err.is_some() { Err(fmt::Error) } else { Ok(()) }
    }
}

impl<S: Sink, const N: usize> Drop for BufWriter<S, N> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[doc(hidden)]
pub fn _print(fd: i32, args: fmt::Arguments<'_>, newline: bool) {
    let mut w = BufWriter::<Fd, LINE_BUF>::new(Fd(fd));
    let _ = fmt::Write::write_fmt(&mut w, args);
    if newline {
        let _ = fmt::Write::write_str(&mut w, "\n");
    }
}

/// Print to standard output (fd 1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_print(1, ::core::format_args!($($arg)*), false) };
}

/// Print a line to standard output (fd 1), in one write(2) when it fits.
#[macro_export]
macro_rules! println {
    () => { $crate::io::_print(1, ::core::format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::_print(1, ::core::format_args!($($arg)*), true) };
}

/// Print to standard error (fd 2).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::_print(2, ::core::format_args!($($arg)*), false) };
}

/// Print a line to standard error (fd 2), in one write(2) when it fits.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::_print(2, ::core::format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::_print(2, ::core::format_args!($($arg)*), true) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// Records each write; accepts at most `max` bytes per call and can
    /// fail with EINTR once.
    #[derive(Default)]
    struct Rec {
        writes: Vec<Vec<u8>>,
        max: usize,
        eintr_once: bool,
    }

    impl Sink for Rec {
        fn write(&mut self, b: &[u8]) -> Result<usize> {
            if self.eintr_once {
                self.eintr_once = false;
                return Err(Errno::EINTR);
            }
            let n = b.len().min(self.max);
            self.writes.push(b[..n].to_vec());
            Ok(n)
        }
    }

    #[test]
    fn one_write_per_line() {
        let mut w = BufWriter::<_, 64>::new(Rec { max: usize::MAX, ..Default::default() });
        let (pid, what) = (42, "ok");
        write!(w, "pid {pid} status {what}").unwrap();
        w.write_str("\n").unwrap();
        let r = w.into_sink();
        assert_eq!(r.writes, [b"pid 42 status ok\n".to_vec()]);
    }

    #[test]
    fn long_output_is_chunked_and_complete() {
        let mut w = BufWriter::<_, 16>::new(Rec { max: 5, eintr_once: true, ..Default::default() });
        let text: String = (0..100).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        w.write_str(&text).unwrap();
        let r = w.into_sink();
        assert_eq!(r.writes.concat(), text.as_bytes());
        assert!(r.writes.iter().all(|x| x.len() <= 5));
    }

    #[test]
    fn errors_stick() {
        struct Broken;
        impl Sink for Broken {
            fn write(&mut self, _: &[u8]) -> Result<usize> {
                Err(Errno::EPIPE)
            }
        }
        let mut w = BufWriter::<_, 4>::new(Broken);
        assert!(w.write_str("abcdefgh").is_err());
        assert_eq!(w.flush(), Err(Errno::EPIPE));
        struct Zero;
        impl Sink for Zero {
            fn write(&mut self, _: &[u8]) -> Result<usize> {
                Ok(0)
            }
        }
        assert_eq!(write_all(&mut Zero, b"x"), Err(Errno::EIO));
    }
}
