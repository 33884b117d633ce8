//! `test` and `[`: POSIX's rules by argument count for up to four
//! arguments (so `[ "$x" = ! ]` means what it says), and a recursive
//! grammar with `!`, `-a`, `-o` and parentheses beyond that.

use alloc::format;
use alloc::string::String;

use sys::stat::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG};

/// What the file operators need: (mode, size) of a path, and isatty.
pub trait Files {
    fn stat(&self, path: &str) -> Option<(u32, i64)>;
    fn isatty(&self, fd: i32) -> bool;
}

const UNARY: &[&str] = &["-e", "-f", "-d", "-c", "-p", "-h", "-L", "-r", "-w", "-x", "-s", "-n", "-z", "-t"];
const BINARY: &[&str] = &["=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"];

fn int(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| format!("{s}: bad number"))
}

fn unary(op: &str, a: &str, f: &dyn Files) -> Result<bool, String> {
    let st = || f.stat(a);
    let kind = |k: u32| st().is_some_and(|(m, _)| m & S_IFMT == k);
    Ok(match op {
        "-e" => st().is_some(),
        "-f" => kind(S_IFREG),
        "-d" => kind(S_IFDIR),
        "-c" => kind(S_IFCHR),
        "-p" => kind(S_IFIFO),
        "-h" | "-L" => kind(S_IFLNK),
        "-r" => st().is_some_and(|(m, _)| m & 0o444 != 0),
        "-w" => st().is_some_and(|(m, _)| m & 0o222 != 0),
        "-x" => st().is_some_and(|(m, _)| m & 0o111 != 0),
        "-s" => st().is_some_and(|(_, size)| size > 0),
        "-n" => !a.is_empty(),
        "-z" => a.is_empty(),
        "-t" => f.isatty(int(a)? as i32),
        _ => return Err(format!("{op}: unknown operator")),
    })
}

fn binary(a: &str, op: &str, b: &str) -> Result<bool, String> {
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        _ => return Err(format!("{op}: unknown operator")),
    })
}

struct P<'a> {
    a: &'a [&'a str],
    i: usize,
    f: &'a dyn Files,
    depth: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.a.get(self.i).copied()
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek() == Some("-o") {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek() == Some("-a") {
            self.i += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err("expression too complex".into());
        }
        let r = if self.peek() == Some("!") {
            self.i += 1;
            self.not().map(|v| !v)
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(t) = self.peek() else { return Err("argument expected".into()) };
        if t == "(" {
            self.i += 1;
            let v = self.or()?;
            if self.peek() != Some(")") {
                return Err("')' expected".into());
            }
            self.i += 1;
            return Ok(v);
        }
        if let Some(&op) = self.a.get(self.i + 1)
            && BINARY.contains(&op)
            && let Some(&b) = self.a.get(self.i + 2)
        {
            self.i += 3;
            return binary(t, op, b);
        }
        if UNARY.contains(&t)
            && let Some(&x) = self.a.get(self.i + 1)
        {
            self.i += 2;
            return unary(t, x, self.f);
        }
        self.i += 1;
        Ok(!t.is_empty())
    }
}

fn eval(a: &[&str], f: &dyn Files) -> Result<bool, String> {
    match *a {
        [] => Ok(false),
        [x] => Ok(!x.is_empty()),
        ["!", x] => Ok(x.is_empty()),
        [op, x] if UNARY.contains(&op) => unary(op, x, f),
        [x, op, y] if BINARY.contains(&op) => binary(x, op, y),
        [x, "-a", y] => Ok(!x.is_empty() && !y.is_empty()),
        [x, "-o", y] => Ok(!x.is_empty() || !y.is_empty()),
        ["!", ..] if a.len() <= 4 => eval(&a[1..], f).map(|v| !v),
        ["(", x, ")"] => Ok(!x.is_empty()),
        ["(", x, y, ")"] => eval(&[x, y], f),
        _ => {
            let mut p = P { a, i: 0, f, depth: 0 };
            let v = p.or()?;
            match p.peek() {
                None => Ok(v),
                Some(t) => Err(format!("{t}: unexpected operator")),
            }
        }
    }
}

/// Run `test` (`name` "test") or `[` (`name` "[", which wants a final
/// "]"): 0 true, 1 false, 2 and a message on error.
pub fn run(name: &str, args: &[&str], f: &dyn Files) -> Result<bool, String> {
    let args = if name == "[" {
        match args.split_last() {
            Some((&"]", rest)) => rest,
            _ => return Err("missing ]".into()),
        }
    } else {
        args
    };
    eval(args, f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    struct F;
    impl Files for F {
        fn stat(&self, p: &str) -> Option<(u32, i64)> {
            match p {
                "/bin" => Some((S_IFDIR | 0o555, 0)),
                "/bin/sh" => Some((S_IFREG | 0o555, 1000)),
                "/empty" => Some((S_IFREG | 0o444, 0)),
                _ => None,
            }
        }
        fn isatty(&self, fd: i32) -> bool {
            fd == 0
        }
    }

    fn t(a: &[&str]) -> Result<bool, String> {
        run("test", a, &F)
    }

    #[test]
    fn by_count() {
        assert_eq!(t(&[]), Ok(false));
        assert_eq!(t(&[""]), Ok(false));
        assert_eq!(t(&["-n"]), Ok(true));
        assert_eq!(t(&["!", ""]), Ok(true));
        assert_eq!(t(&["-z", ""]), Ok(true));
        assert_eq!(t(&["a", "=", "a"]), Ok(true));
        assert_eq!(t(&["!", "=", "!"]), Ok(true));
        assert_eq!(t(&["a", "!=", "a"]), Ok(false));
        assert_eq!(t(&["!", "a", "=", "b"]), Ok(true));
        assert_eq!(t(&["(", "x", ")"]), Ok(true));
        assert_eq!(t(&["-d", "/bin"]), Ok(true));
        assert_eq!(t(&["-f", "/bin"]), Ok(false));
        assert_eq!(t(&["-x", "/bin/sh"]), Ok(true));
        assert_eq!(t(&["-s", "/empty"]), Ok(false));
        assert_eq!(t(&["-w", "/empty"]), Ok(false));
        assert_eq!(t(&["-e", "/nope"]), Ok(false));
        assert_eq!(t(&["-t", "0"]), Ok(true));
        assert_eq!(t(&["3", "-lt", "10"]), Ok(true));
        assert_eq!(t(&["b", ">", "a"]), Ok(true));
        assert!(t(&["x", "-eq", "1"]).is_err());
    }

    #[test]
    fn longer_expressions() {
        assert_eq!(t(&["-n", "a", "-a", "-z", ""]), Ok(true));
        assert_eq!(t(&["-z", "a", "-o", "1", "-eq", "1"]), Ok(true));
        assert_eq!(t(&["!", "(", "a", "=", "b", ")", "-a", "x"]), Ok(true));
        assert_eq!(t(&["a", "=", "a", "-o", "1", "-eq", "x"]), Err("x: bad number".into()));
        assert!(t(&["(", "a", "b", "c", "d"]).is_err());
        assert!(t(&["a", "b", "c", "d", "e"]).is_err());
        let deep: Vec<&str> = core::iter::repeat_n("!", 500).chain(["a", "b", "c"]).collect();
        assert!(t(&deep).is_err());
        assert_eq!(run("[", &["a", "]"], &F), Ok(true));
        assert!(run("[", &["a"], &F).is_err());
    }
}
