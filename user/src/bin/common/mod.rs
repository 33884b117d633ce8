//! What several utilities share: getopt(3)-style option parsing, warn(3)
//! style error lines and copying one descriptor to another.
//!
//! Each program is a crate of its own, so they include this file with
//! `#[path = "common/mod.rs"] mod common;`. It has no `main.rs`, so
//! neither cargo nor the ramdisk builder takes the directory for a program.
//! Not every program uses every item, hence the `dead_code` allowance.
#![allow(dead_code)]

use core::fmt;

use rt::prelude::*;

/// A bad option, as getopt(3) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptError {
    Unknown(char),
    NeedsArg(char),
}

impl fmt::Display for OptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptError::Unknown(c) => write!(f, "unknown option -- {c}"),
            OptError::NeedsArg(c) => write!(f, "option requires an argument -- {c}"),
        }
    }
}

/// One option from [`Getopt`]: its letter and, for an option that takes
/// one, its argument.
pub type Opt<'a> = core::result::Result<(char, Option<&'a str>), OptError>;

/// Options as POSIX getopt(3) parses them: `spec` lists the option
/// letters, a letter followed by ':' takes an argument (in the same word,
/// `-sTERM`, or the next, `-s TERM`). Letters may be grouped (`-la`).
/// Parsing stops at the first word that is not an option, at "-" (an
/// operand: standard input for most programs) and after "--". The words
/// left are [`Getopt::operands`].
pub struct Getopt<'s, 'a> {
    args: &'s [&'a str],
    spec: &'static str,
    /// The word being read.
    idx: usize,
    /// Byte offset of the next letter in that word; 0 before its '-'.
    pos: usize,
}

impl<'s, 'a> Getopt<'s, 'a> {
    /// `args` without the program name.
    pub fn new(args: &'s [&'a str], spec: &'static str) -> Self {
        Getopt { args, spec, idx: 0, pos: 0 }
    }

    /// The operands: what follows the options once the iterator has ended.
    pub fn operands(&self) -> &'s [&'a str] {
        &self.args[self.idx.min(self.args.len())..]
    }

    fn next_word(&mut self) {
        self.idx += 1;
        self.pos = 0;
    }
}

impl<'a> Iterator for Getopt<'_, 'a> {
    type Item = Opt<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos == 0 {
            let w = *self.args.get(self.idx)?;
            if w == "--" {
                self.idx += 1;
                return None;
            }
            if w.len() < 2 || !w.starts_with('-') {
                return None;
            }
            self.pos = 1;
        }
        let w = self.args[self.idx];
        let c = w[self.pos..].chars().next()?;
        self.pos += c.len_utf8();
        let rest = &w[self.pos..];
        let Some(at) = self.spec.find(c).filter(|_| c != ':') else {
            if rest.is_empty() {
                self.next_word();
            }
            return Some(Err(OptError::Unknown(c)));
        };
        if !self.spec[at + c.len_utf8()..].starts_with(':') {
            if rest.is_empty() {
                self.next_word();
            }
            return Some(Ok((c, None)));
        }
        self.next_word();
        if !rest.is_empty() {
            return Some(Ok((c, Some(rest))));
        }
        match self.args.get(self.idx) {
            Some(arg) => {
                self.idx += 1;
                Some(Ok((c, Some(*arg))))
            }
            None => Some(Err(OptError::NeedsArg(c))),
        }
    }
}

/// "prog: what: message" on standard error, as warn(3).
pub fn warn(what: &str, e: Errno) {
    eprintln!("{}: {what}: {}", rt::args().progname(), e.message());
}

/// "prog: message" on standard error, as warnx(3).
pub fn warnx(msg: fmt::Arguments<'_>) {
    eprintln!("{}: {msg}", rt::args().progname());
}

/// "usage: text" on standard error; returns the status to exit with.
pub fn usage(text: &str) -> i32 {
    eprintln!("usage: {text}");
    1
}

/// Print an option error and the usage line; returns the exit status.
pub fn bad_option(e: OptError, text: &str) -> i32 {
    warnx(format_args!("{e}"));
    usage(text)
}

/// The program's arguments after argv[0], as text.
pub fn operands(args: &Args) -> Vec<&'static str> {
    args.strs().skip(1).collect()
}

/// Parse the program's options with `spec` (see [`Getopt`]), handing each
/// to `each`; returns the operands. On a bad option, prints it and the
/// usage line and returns Err(the exit status).
pub fn getopt(
    args: &Args,
    spec: &'static str,
    usage_text: &str,
    mut each: impl FnMut(char, Option<&'static str>),
) -> core::result::Result<Vec<&'static str>, i32> {
    let argv = operands(args);
    let mut opts = Getopt::new(&argv, spec);
    for o in opts.by_ref() {
        match o {
            Ok((c, arg)) => each(c, arg),
            Err(e) => return Err(bad_option(e, usage_text)),
        }
    }
    Ok(opts.operands().to_vec())
}

/// Which side of a copy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyError {
    Read(Errno),
    Write(Errno),
}

/// Copy `from` to `to` until end of file, retrying reads cut short by a
/// signal.
pub fn copy_fd(from: i32, to: i32) -> core::result::Result<(), CopyError> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match rt::read(from, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => rt::io::write_all(&mut rt::io::Fd(to), &buf[..n]).map_err(CopyError::Write)?,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(CopyError::Read(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(args: &'a [&'a str], spec: &'static str) -> (Vec<Opt<'a>>, Vec<&'a str>) {
        let mut g = Getopt::new(args, spec);
        let opts: Vec<_> = g.by_ref().collect();
        (opts, g.operands().to_vec())
    }

    #[test]
    fn flags_grouped_and_apart() {
        let (o, rest) = parse(&["-la", "-1", "x", "-l"], "1al");
        assert_eq!(o, [Ok(('l', None)), Ok(('a', None)), Ok(('1', None))]);
        assert_eq!(rest, ["x", "-l"]);
    }

    #[test]
    fn option_arguments() {
        let (o, rest) = parse(&["-sTERM", "-s", "KILL", "-n", "5"], "ns:");
        assert_eq!(o, [Ok(('s', Some("TERM"))), Ok(('s', Some("KILL"))), Ok(('n', None))]);
        assert_eq!(rest, ["5"]);
        let (o, _) = parse(&["-ns"], "ns:");
        assert_eq!(o, [Ok(('n', None)), Err(OptError::NeedsArg('s'))]);
    }

    #[test]
    fn stops_at_dash_and_double_dash() {
        assert_eq!(parse(&["-", "-a"], "a"), (vec![], vec!["-", "-a"]));
        assert_eq!(parse(&["-a", "--", "-5"], "a"), (vec![Ok(('a', None))], vec!["-5"]));
        assert_eq!(parse(&[], "a"), (vec![], vec![]));
    }

    #[test]
    fn unknown_options() {
        let (o, rest) = parse(&["-az", "f"], "a");
        assert_eq!(o, [Ok(('a', None)), Err(OptError::Unknown('z'))]);
        assert_eq!(rest, ["f"]);
        assert_eq!(parse(&["-:"], "s:").0, [Err(OptError::Unknown(':'))]);
        assert_eq!(OptError::Unknown('z').to_string(), "unknown option -- z");
        assert_eq!(OptError::NeedsArg('s').to_string(), "option requires an argument -- s");
    }
}
