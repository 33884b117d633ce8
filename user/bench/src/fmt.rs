//! Formatting without an allocator: lines and paths in stack buffers, and
//! the few number parsers the programs need.

/// Up to N bytes of text; what does not fit is dropped (and `overflowed`
/// says so), never written past the end.
pub struct Line<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Line<N> {
    pub const fn new() -> Self {
        Line { buf: [0; N], len: 0, overflowed: false }
    }

    pub fn push(&mut self, b: u8) {
        if self.len < N {
            self.buf[self.len] = b;
            self.len += 1;
        } else {
            self.overflowed = true;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl<const N: usize> core::fmt::Display for Line<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(core::str::from_utf8(self.as_bytes()).unwrap_or("(not text)"))
    }
}

impl<const N: usize> core::fmt::Write for Line<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.bytes().for_each(|b| self.push(b));
        Ok(())
    }
}

/// A NUL-terminated path built with format arguments, e.g.
/// `path(format_args!("/tmp/j{job}.o"))`.
pub fn path(args: core::fmt::Arguments<'_>) -> Line<64> {
    let mut l = Line::new();
    let _ = core::fmt::Write::write_fmt(&mut l, args);
    l.push(0);
    assert!(!l.overflowed(), "path too long");
    l
}

/// A decimal number, or None.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |v, &c| c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0')))
}

/// `ns` as seconds with two decimals, right-aligned in `width`, the way
/// OpenBSD's `time` prints (`   125.83 real`).
pub struct Secs(pub u64, pub usize);

impl core::fmt::Display for Secs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let cs = (self.0 + 5_000_000) / 10_000_000;
        let mut l = Line::<32>::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!("{}.{:02}", cs / 100, cs % 100));
        let s = core::str::from_utf8(l.as_bytes()).unwrap_or("?");
        write!(f, "{s:>w$}", w = self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"65536"), Some(65536));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(Secs(125_830_000_000, 10).to_string(), "    125.83");
        assert_eq!(Secs(4_999_999, 0).to_string(), "0.00");
        assert_eq!(Secs(5_000_000, 0).to_string(), "0.01");
    }

    #[test]
    fn lines_never_overflow() {
        let mut l = Line::<4>::new();
        let _ = core::fmt::Write::write_str(&mut l, "abcdef");
        assert_eq!(l.as_bytes(), b"abcd");
        assert!(l.overflowed());
        assert_eq!(path(format_args!("/tmp/j{}.o", 7)).as_bytes(), b"/tmp/j7.o\0");
    }
}
