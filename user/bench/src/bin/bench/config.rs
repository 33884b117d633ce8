//! The driver's settings, from its arguments or /bench/args.

use bench::{fmt, kern};

pub const USAGE: &str = "usage: bench [quick] [only=TEST,...] [j=N] [jobs=N] [repeat=N]";
pub use bench::TESTS;

/// A bad argument: what is wrong and the word that is.
pub struct BadArg {
    what: &'static str,
    word: &'static [u8],
}

impl core::fmt::Display for BadArg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.what, core::str::from_utf8(self.word).unwrap_or("(not text)"))
    }
}

pub struct Config {
    pub quick: bool,
    /// Up to 16 test names, or none for all.
    only: [&'static [u8]; 16],
    nonly: usize,
    /// kbuild's parallel jobs (-jN).
    pub j: usize,
    /// kbuild's job count.
    pub jobs: usize,
    /// Times the micro tests run (a profile wants them long).
    pub repeat: usize,
}

static mut ARGS_FILE: [u8; 512] = [0; 512];

impl Config {
    pub fn from_args(args: &bench::Args) -> Result<Config, BadArg> {
        let mut c = Config { quick: false, only: [&[]; 16], nonly: 0, j: 4, jobs: 0, repeat: 1 };
        if args.len() > 1 {
            args.iter().skip(1).try_for_each(|w| c.word(w))?;
        } else {
            // SAFETY: the driver is single-threaded and reads the file once,
            // before anything borrows the buffer.
            let buf: &'static mut [u8; 512] = unsafe { &mut *core::ptr::addr_of_mut!(ARGS_FILE) };
            if let Ok(fd) = kern::open_read(b"/bench/args\0") {
                let n = kern::read_full(fd, buf).unwrap_or(0);
                let _ = kern::close(fd);
                let text: &'static [u8] = &buf[..n];
                text.split(|c| c.is_ascii_whitespace())
                    .filter(|w| !w.is_empty())
                    .try_for_each(|w| c.word(w))?;
            }
        }
        if c.jobs == 0 {
            c.jobs = if c.quick { 8 } else { 400 };
        }
        Ok(c)
    }

    fn word(&mut self, w: &'static [u8]) -> Result<(), BadArg> {
        let err = |what: &'static str| BadArg { what, word: w };
        let num = |v: &[u8]| fmt::parse_u64(v).filter(|&n| (1..=4096).contains(&n)).map(|n| n as usize);
        if w == b"quick" {
            self.quick = true;
        } else if let Some(v) = w.strip_prefix(b"only=") {
            for t in v.split(|&c| c == b',') {
                if !TESTS.split(' ').any(|n| n.as_bytes() == t) {
                    return Err(err("no such test"));
                }
                if self.nonly == self.only.len() {
                    return Err(err("too many tests"));
                }
                self.only[self.nonly] = t;
                self.nonly += 1;
            }
        } else if let Some(v) = w.strip_prefix(b"j=") {
            self.j = num(v).ok_or_else(|| err("bad j= (1 to 4096)"))?;
        } else if let Some(v) = w.strip_prefix(b"repeat=") {
            self.repeat = num(v).ok_or_else(|| err("bad repeat= (1 to 4096)"))?;
        } else if let Some(v) = w.strip_prefix(b"jobs=") {
            self.jobs = num(v).ok_or_else(|| err("bad jobs= (1 to 4096)"))?;
        } else {
            return Err(err("unknown argument"));
        }
        Ok(())
    }

    pub fn wants(&self, test: &str) -> bool {
        self.nonly == 0 || self.only[..self.nonly].contains(&test.as_bytes())
    }

    /// `full` normally, `quick` with the quick word.
    pub fn size(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}
