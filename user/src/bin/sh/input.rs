//! Where command text comes from: a file descriptor (the terminal, a
//! script, a pipe) or a string (`-c`, `eval`, `.`), a line at a time.

use alloc::string::String;
use alloc::vec::Vec;

use rt::Errno;
use rt::eprintln;

pub enum Line {
    /// A line with its newline, or the last text of the input without one.
    Text(String),
    Eof,
    /// ^C while reading at the prompt: the line is abandoned.
    Interrupted,
}

pub trait Source {
    fn read_line(&mut self) -> Line;
}

/// Text from a descriptor.
pub struct FdSource {
    pub fd: i32,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    /// Read a byte at a time, so that no more than the current line is
    /// taken from a descriptor the commands share (a pipe on stdin).
    bytewise: bool,
    /// Give up the line when the shell's SIGINT handler ran.
    interruptible: bool,
    /// (terminal fd, shell's group): a read that fails with EIO because
    /// a job left the terminal to another group takes it back and tries
    /// again, rather than ending the shell.
    pub reclaim: Option<(i32, i32)>,
}

impl FdSource {
    pub fn new(fd: i32, bytewise: bool, interruptible: bool) -> Self {
        FdSource { fd, buf: Vec::new(), start: 0, eof: false, bytewise, interruptible, reclaim: None }
    }

    fn take(&mut self, end: usize) -> Line {
        let s = String::from_utf8_lossy(&self.buf[self.start..end]).into_owned();
        self.start = end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Line::Text(s)
    }
}

impl Source for FdSource {
    fn read_line(&mut self) -> Line {
        let mut reclaims = 0;
        loop {
            if let Some(i) = self.buf[self.start..].iter().position(|&c| c == b'\n') {
                return self.take(self.start + i + 1);
            }
            if self.eof {
                if self.start < self.buf.len() {
                    return self.take(self.buf.len());
                }
                return Line::Eof;
            }
            let want = if self.bytewise { 1 } else { 4096 };
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            let r = rt::read(self.fd, &mut self.buf[old..]);
            self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
            match r {
                Ok(0) => {
                    // A terminal's ^D after some text ends that text
                    // without ending the input.
                    if self.start < self.buf.len() && self.interruptible {
                        return self.take(self.buf.len());
                    }
                    self.eof = true;
                }
                Ok(_) => {}
                Err(Errno::EINTR) => {
                    if self.interruptible && crate::sig::interrupted() {
                        self.buf.clear();
                        self.start = 0;
                        return Line::Interrupted;
                    }
                }
                Err(Errno::EIO)
                    if reclaims < 3
                        && let Some((tty, pgid)) = self.reclaim =>
                {
                    reclaims += 1;
                    let _ = rt::tcsetpgrp(tty, pgid);
                }
                Err(e) => {
                    eprintln!("sh: read: {}", e.message());
                    self.eof = true;
                }
            }
        }
    }
}

/// Text from a string.
pub struct StrSource {
    s: String,
    pos: usize,
}

impl StrSource {
    pub fn new(s: &str) -> Self {
        StrSource { s: s.into(), pos: 0 }
    }
}

impl Source for StrSource {
    fn read_line(&mut self) -> Line {
        if self.pos >= self.s.len() {
            return Line::Eof;
        }
        let end = self.s[self.pos..].find('\n').map_or(self.s.len(), |i| self.pos + i + 1);
        let l = String::from(&self.s[self.pos..end]);
        self.pos = end;
        Line::Text(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_lines() {
        let mut s = StrSource::new("a\nb c\n\nlast");
        let mut v = Vec::new();
        while let Line::Text(l) = s.read_line() {
            v.push(l);
        }
        assert_eq!(v, ["a\n", "b c\n", "\n", "last"]);
        assert!(matches!(StrSource::new("").read_line(), Line::Eof));
    }
}
