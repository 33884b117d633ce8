//! The terminal line discipline (OpenBSD `tty.c`'s canonical mode),
//! machine-independent and free of locks so it is host-tested: the console
//! driver feeds it received bytes and writes what it asks to echo; reads
//! take whole lines.
//!
//! Canonical editing: erase (DEL or ^H) removes the last character (a
//! whole UTF-8 sequence), ^W the last word, ^U (kill) the line; ^D ends
//! input — at the start of a line it is end of file, elsewhere it hands the
//! partial line over without a newline; CR is read as NL. With signals on,
//! ^C, ^\ and ^Z flush the line being edited and name SIGINT, SIGQUIT and
//! SIGTSTP for the foreground process group. A line holds at most
//! [`MAX_CANON`] bytes; input beyond it rings the bell.
//!
//! Echo ends lines with a bare NL: output processing (ONLCR, NL to CR NL)
//! is the console driver's, in `cnputs`, for kernel messages and user
//! output alike.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use sys::signal::{SIGINT, SIGQUIT, SIGTSTP};

/// Longest line (OpenBSD's MAX_CANON).
pub const MAX_CANON: usize = 255;
/// Completed lines kept unread before new input is refused.
pub const MAX_LINES: usize = 64;

const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const CTRL_H: u8 = 0x08;
const CTRL_U: u8 = 0x15;
const CTRL_W: u8 = 0x17;
const CTRL_Z: u8 = 0x1a;
const CTRL_BACKSLASH: u8 = 0x1c;
const DEL: u8 = 0x7f;
const BELL: u8 = 0x07;

/// Mode bits (the subset of termios oxbsd honours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modes {
    /// Line editing and whole-line reads.
    pub icanon: bool,
    pub echo: bool,
    /// ^C, ^\ and ^Z generate signals.
    pub isig: bool,
}

impl Default for Modes {
    fn default() -> Self {
        Modes { icanon: true, echo: true, isig: true }
    }
}

struct Line {
    data: Vec<u8>,
    /// Ended by ^D at its start: reads as end of file once drained.
    eof: bool,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// `n` bytes copied.
    Data(usize),
    /// End of file (^D at the start of a line): `read` returns 0.
    Eof,
    /// Nothing complete yet: the reader sleeps.
    Empty,
}

pub struct LineDisc {
    pub modes: Modes,
    /// The line being edited.
    edit: Vec<u8>,
    /// Completed input, oldest first.
    ready: VecDeque<Line>,
}

impl Default for LineDisc {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDisc {
    pub const fn new() -> LineDisc {
        LineDisc {
            modes: Modes { icanon: true, echo: true, isig: true },
            edit: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// One received byte. `echo` gets what should be written back to the
    /// terminal. Returns the signal to post to the foreground process
    /// group, if the byte was a signal character.
    pub fn input(&mut self, c: u8, echo: &mut dyn FnMut(&[u8])) -> Option<u32> {
        let echo_on = self.modes.echo;
        let mut out = |b: &[u8]| {
            if echo_on {
                echo(b)
            }
        };
        if self.modes.isig {
            let sig = match c {
                CTRL_C => Some((SIGINT, b"^C\n" as &[u8])),
                CTRL_BACKSLASH => Some((SIGQUIT, b"^\\\n" as &[u8])),
                CTRL_Z => Some((SIGTSTP, b"^Z\n" as &[u8])),
                _ => None,
            };
            if let Some((s, e)) = sig {
                // As OpenBSD without NOFLSH: pending input goes too.
                self.edit.clear();
                self.ready.clear();
                out(e);
                return Some(s);
            }
        }
        if !self.modes.icanon {
            let c = if c == b'\r' { b'\n' } else { c };
            if self.ready.len() < MAX_LINES * 4 {
                self.ready.push_back(Line { data: alloc::vec![c], eof: false });
                out(core::slice::from_ref(&c));
            } else {
                out(&[BELL]);
            }
            return None;
        }
        match c {
            DEL | CTRL_H => {
                if self.erase_char() {
                    out(b"\x08 \x08");
                }
            }
            CTRL_W => {
                while self.edit.last().is_some_and(|b| b.is_ascii_whitespace()) {
                    self.erase_char();
                    out(b"\x08 \x08");
                }
                while self.edit.last().is_some_and(|b| !b.is_ascii_whitespace()) {
                    self.erase_char();
                    out(b"\x08 \x08");
                }
            }
            CTRL_U => {
                while self.erase_char() {
                    out(b"\x08 \x08");
                }
            }
            CTRL_D => {
                if self.ready.len() >= MAX_LINES {
                    out(&[BELL]);
                } else {
                    let eof = self.edit.is_empty();
                    let data = core::mem::take(&mut self.edit);
                    self.ready.push_back(Line { data, eof });
                }
            }
            b'\r' | b'\n' => {
                if self.ready.len() >= MAX_LINES {
                    out(&[BELL]);
                } else {
                    let mut data = core::mem::take(&mut self.edit);
                    data.push(b'\n');
                    self.ready.push_back(Line { data, eof: false });
                    out(b"\n");
                }
            }
            c => {
                // Keep room for the newline that ends the line.
                if self.edit.len() + 1 >= MAX_CANON {
                    out(&[BELL]);
                } else {
                    self.edit.push(c);
                    // Echo control characters visibly, as ^X.
                    if c < 0x20 && c != b'\t' {
                        out(&[b'^', c + 0x40]);
                    } else {
                        out(&[c]);
                    }
                }
            }
        }
        None
    }

    /// Remove the last character of the line being edited (a whole UTF-8
    /// sequence); false when the line is empty.
    fn erase_char(&mut self) -> bool {
        let Some(mut b) = self.edit.pop() else { return false };
        // Continuation bytes (10xxxxxx) belong to the character before.
        while b & 0xc0 == 0x80 {
            match self.edit.pop() {
                Some(x) => b = x,
                None => break,
            }
        }
        true
    }

    /// Change modes (TIOCSETA). Leaving canonical mode hands the line
    /// being edited over as it is, as OpenBSD's ttioctl does.
    pub fn set_modes(&mut self, m: Modes) {
        if self.modes.icanon && !m.icanon && !self.edit.is_empty() {
            let data = core::mem::take(&mut self.edit);
            self.ready.push_back(Line { data, eof: false });
        }
        self.modes = m;
    }

    /// Whether a read would find something (data or end of file).
    pub fn readable(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Bytes of completed input waiting to be read (EVFILT_READ's data).
    pub fn nread(&self) -> usize {
        self.ready.iter().map(|l| l.data.len()).sum()
    }

    /// Canonical read: at most one line (or what is left of it).
    pub fn read(&mut self, buf: &mut [u8]) -> ReadResult {
        if !self.modes.icanon {
            // Whatever is queued, across line boundaries (lines completed
            // before a switch to raw mode hold several bytes).
            let mut n = 0;
            while n < buf.len() {
                let Some(l) = self.ready.front_mut() else { break };
                let k = (buf.len() - n).min(l.data.len());
                buf[n..n + k].copy_from_slice(&l.data[..k]);
                l.data.drain(..k);
                n += k;
                if l.data.is_empty() {
                    self.ready.pop_front();
                }
            }
            return if n == 0 { ReadResult::Empty } else { ReadResult::Data(n) };
        }
        let Some(line) = self.ready.front_mut() else { return ReadResult::Empty };
        if line.data.is_empty() {
            let eof = line.eof;
            self.ready.pop_front();
            return if eof { ReadResult::Eof } else { ReadResult::Data(0) };
        }
        let n = buf.len().min(line.data.len());
        buf[..n].copy_from_slice(&line.data[..n]);
        line.data.drain(..n);
        // A drained line goes; one ended by ^D mid-line had data, so no
        // end of file follows it.
        if line.data.is_empty() {
            self.ready.pop_front();
        }
        ReadResult::Data(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(ld: &mut LineDisc, s: &[u8]) -> (Vec<u8>, Vec<u32>) {
        let mut echo = Vec::new();
        let mut sigs = Vec::new();
        for &c in s {
            if let Some(sig) = ld.input(c, &mut |b| echo.extend_from_slice(b)) {
                sigs.push(sig);
            }
        }
        (echo, sigs)
    }

    /// One read that must return data; the bytes it returned.
    fn read_once(ld: &mut LineDisc, cap: usize) -> Vec<u8> {
        let mut buf = vec![0u8; cap];
        match ld.read(&mut buf) {
            ReadResult::Data(n) => buf[..n].to_vec(),
            r => panic!("read gave {r:?}"),
        }
    }

    fn read_all(ld: &mut LineDisc) -> Vec<ReadResult> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match ld.read(&mut buf) {
                ReadResult::Empty => return out,
                r => out.push(r),
            }
        }
    }

    #[test]
    fn a_line_is_read_whole_with_its_newline() {
        let mut ld = LineDisc::new();
        let (echo, _) = feed(&mut ld, b"ls -l");
        assert_eq!(echo, b"ls -l");
        assert!(!ld.readable(), "no line before the newline");
        feed(&mut ld, b"\r");
        let mut buf = [0u8; 64];
        assert_eq!(ld.read(&mut buf), ReadResult::Data(6));
        assert_eq!(&buf[..6], b"ls -l\n");
        assert_eq!(ld.read(&mut buf), ReadResult::Empty);
    }

    #[test]
    fn erase_kill_and_word_erase_edit_the_line() {
        let mut ld = LineDisc::new();
        let (echo, _) = feed(&mut ld, b"cat\x7f\x7fp\n");
        assert!(echo.ends_with(b"\x08 \x08\x08 \x08p\n"));
        assert_eq!(read_once(&mut ld, 64), b"cp\n");
        feed(&mut ld, b"rm -rf /\x15echo hi\n");
        assert_eq!(read_once(&mut ld, 64), b"echo hi\n");
        feed(&mut ld, b"echo one two\x17\x17three\n");
        assert_eq!(read_once(&mut ld, 64), b"echo three\n");
        // Erasing an empty line echoes nothing.
        let (echo, _) = feed(&mut ld, b"\x7f\x08");
        assert!(echo.is_empty());
    }

    #[test]
    fn erase_removes_a_whole_utf8_character() {
        let mut ld = LineDisc::new();
        feed(&mut ld, "aé".as_bytes());
        feed(&mut ld, b"\x7f\n");
        assert_eq!(read_once(&mut ld, 8), b"a\n");
    }

    #[test]
    fn ctrl_d_is_eof_at_line_start_and_a_push_elsewhere() {
        let mut ld = LineDisc::new();
        feed(&mut ld, b"abc\x04");
        feed(&mut ld, b"\x04");
        let r = read_all(&mut ld);
        assert_eq!(r, [ReadResult::Data(3), ReadResult::Eof]);
    }

    #[test]
    fn signal_characters_flush_and_name_the_signal() {
        let mut ld = LineDisc::new();
        feed(&mut ld, b"done\n");
        let (echo, sigs) = feed(&mut ld, b"sleep 10\x03");
        assert_eq!(sigs, [SIGINT]);
        assert!(echo.ends_with(b"^C\n"));
        assert!(!ld.readable(), "^C must flush pending input");
        let (_, sigs) = feed(&mut ld, b"\x1c\x1a");
        assert_eq!(sigs, [SIGQUIT, SIGTSTP]);
        ld.modes.isig = false;
        let (_, sigs) = feed(&mut ld, b"\x03\n");
        assert!(sigs.is_empty(), "no signals with isig off");
        assert_eq!(read_once(&mut ld, 8), b"\x03\n");
    }

    #[test]
    fn a_short_read_leaves_the_rest_of_the_line() {
        let mut ld = LineDisc::new();
        feed(&mut ld, b"hello\nworld\n");
        assert_eq!(read_once(&mut ld, 3), b"hel");
        assert_eq!(read_once(&mut ld, 3), b"lo\n");
        assert_eq!(read_once(&mut ld, 64), b"world\n", "one line per read");
    }

    #[test]
    fn long_lines_ring_the_bell_and_stay_bounded() {
        let mut ld = LineDisc::new();
        let (echo, _) = feed(&mut ld, &[b'x'; MAX_CANON + 10]);
        assert_eq!(echo.iter().filter(|&&b| b == BELL).count(), 11);
        feed(&mut ld, b"\n");
        let mut buf = [0u8; 512];
        assert_eq!(ld.read(&mut buf), ReadResult::Data(MAX_CANON));
        assert_eq!(buf[MAX_CANON - 1], b'\n');
    }

    #[test]
    fn no_echo_mode_is_silent_and_raw_mode_passes_bytes() {
        let mut ld = LineDisc::new();
        ld.modes.echo = false;
        let (echo, _) = feed(&mut ld, b"secret\n");
        assert!(echo.is_empty());
        assert_eq!(read_once(&mut ld, 8), b"secret\n");
        ld.modes = Modes { icanon: false, echo: false, isig: false };
        feed(&mut ld, b"ab\x7f\x03");
        // Raw: every byte as it came, no editing, no signals.
        assert_eq!(read_once(&mut ld, 8), b"ab\x7f\x03");
    }

    #[test]
    fn leaving_canonical_mode_hands_over_queued_and_edited_input() {
        let mut ld = LineDisc::new();
        feed(&mut ld, b"one\npart");
        ld.set_modes(Modes { icanon: false, echo: true, isig: true });
        feed(&mut ld, b"!");
        assert_eq!(read_once(&mut ld, 64), b"one\npart!", "raw reads cross line boundaries");
        assert_eq!(ld.read(&mut [0u8; 4]), ReadResult::Empty);
    }
}
