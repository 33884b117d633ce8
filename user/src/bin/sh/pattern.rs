//! Shell patterns (`*`, `?`, `[...]`, `\x`) for `case`, `${x#pat}` and
//! pathname expansion.
//!
//! Matching backtracks only to the most recent `*`, which keeps it linear
//! in practice and never exponential on hostile patterns.

use alloc::string::String;
use alloc::vec::Vec;

/// True if `s` has a character that makes it a pattern (unescaped).
pub fn has_meta(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// `s` with every pattern character escaped, so it matches only itself.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// `s` with the escapes of a pattern removed.
pub fn unescape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        if c == '\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        o.push(c);
    }
    if esc {
        o.push('\\');
    }
    o
}

fn class_matches(name: &str, c: char) -> Option<bool> {
    Some(match name {
        "alpha" => c.is_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "alnum" => c.is_alphanumeric(),
        "upper" => c.is_uppercase(),
        "lower" => c.is_lowercase(),
        "space" => c.is_whitespace(),
        "blank" => c == ' ' || c == '\t',
        "punct" => c.is_ascii_punctuation(),
        "xdigit" => c.is_ascii_hexdigit(),
        "cntrl" => c.is_control(),
        "print" => !c.is_control(),
        "graph" => !c.is_control() && c != ' ',
        _ => return None,
    })
}

/// The bracket expression at `p[i] == '['` against `c`: Some((matched,
/// index after it)), or None if it is not closed (then `[` is literal).
fn bracket(p: &[char], i: usize, c: char) -> Option<(bool, usize)> {
    let mut j = i + 1;
    let negate = matches!(p.get(j), Some('!' | '^'));
    if negate {
        j += 1;
    }
    let first = j;
    let mut matched = false;
    loop {
        let &ch = p.get(j)?;
        if ch == ']' && j > first {
            return Some((matched != negate, j + 1));
        }
        if ch == '[' && p.get(j + 1) == Some(&':') {
            // [:class:]
            let rest = &p[j + 2..];
            if let Some(end) = rest.windows(2).position(|w| w == [':', ']']) {
                let name: String = rest[..end].iter().collect();
                if let Some(m) = class_matches(&name, c) {
                    matched |= m;
                    j += 2 + end + 2;
                    continue;
                }
            }
        }
        let (lo, next) = if ch == '\\' && j + 1 < p.len() { (p[j + 1], j + 2) } else { (ch, j + 1) };
        if p.get(next) == Some(&'-') && p.get(next + 1).is_some_and(|&x| x != ']') {
            let (hi, after) = if p[next + 1] == '\\' && next + 2 < p.len() {
                (p[next + 2], next + 3)
            } else {
                (p[next + 1], next + 2)
            };
            matched |= lo <= c && c <= hi;
            j = after;
        } else {
            matched |= lo == c;
            j = next;
        }
    }
}

/// If the single-character element at `p[i]` (not `*`) matches `c`, the
/// index after it.
fn step(p: &[char], i: usize, c: char) -> Option<usize> {
    match p[i] {
        '?' => Some(i + 1),
        '[' => match bracket(p, i, c) {
            Some((true, n)) => Some(n),
            Some((false, _)) => None,
            None => (c == '[').then_some(i + 1),
        },
        '\\' if i + 1 < p.len() => (p[i + 1] == c).then_some(i + 2),
        x => (x == c).then_some(i + 1),
    }
}

fn match_chars(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() && p[pi] == '*' {
            pi += 1;
            star = Some((pi, si));
            continue;
        }
        if si == s.len() {
            break;
        }
        if pi < p.len()
            && let Some(n) = step(p, pi, s[si])
        {
            pi = n;
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Does `s` match pattern `p` as a whole?
pub fn matches(p: &str, s: &str) -> bool {
    let p: Vec<char> = p.chars().collect();
    let s: Vec<char> = s.chars().collect();
    match_chars(&p, &s)
}

/// `${x#p}` / `${x##p}`: `s` without the shortest (longest) prefix
/// matching `p`.
pub fn trim_prefix(s: &str, p: &str, longest: bool) -> String {
    let pc: Vec<char> = p.chars().collect();
    let sc: Vec<char> = s.chars().collect();
    let ends: Vec<usize> = if longest { (0..=sc.len()).rev().collect() } else { (0..=sc.len()).collect() };
    for i in ends {
        if match_chars(&pc, &sc[..i]) {
            return sc[i..].iter().collect();
        }
    }
    String::from(s)
}

/// `${x%p}` / `${x%%p}`: `s` without the shortest (longest) suffix
/// matching `p`.
pub fn trim_suffix(s: &str, p: &str, longest: bool) -> String {
    let pc: Vec<char> = p.chars().collect();
    let sc: Vec<char> = s.chars().collect();
    let starts: Vec<usize> = if longest { (0..=sc.len()).collect() } else { (0..=sc.len()).rev().collect() };
    for i in starts {
        if match_chars(&pc, &sc[i..]) {
            return sc[..i].iter().collect();
        }
    }
    String::from(s)
}

/// What pathname expansion needs from the file system.
pub trait Fs {
    /// The names in directory `dir` ("" is the current one), without "."
    /// and ".."; None if it cannot be read.
    fn list(&mut self, dir: &str) -> Option<Vec<String>>;
    fn exists(&mut self, path: &str) -> bool;
}

/// Pathname expansion of pattern `pat`: the matching paths, sorted;
/// empty if none match.
pub fn glob(pat: &str, fs: &mut dyn Fs) -> Vec<String> {
    let absolute = pat.starts_with('/');
    let comps: Vec<&str> = pat.split('/').collect();
    let mut paths: Vec<String> = alloc::vec![String::from(if absolute { "/" } else { "" })];
    let comps = if absolute { &comps[1..] } else { &comps[..] };
    for (k, comp) in comps.iter().enumerate() {
        let last = k + 1 == comps.len();
        let mut next = Vec::new();
        for base in &paths {
            let join = |name: &str| {
                let mut p = base.clone();
                if !p.is_empty() && !p.ends_with('/') {
                    p.push('/');
                }
                p.push_str(name);
                p
            };
            if comp.is_empty() {
                // "a//b" or a trailing slash: keep the separator.
                if !base.is_empty() && !base.ends_with('/') {
                    let mut p = base.clone();
                    p.push('/');
                    if !last || fs.list(base).is_some() {
                        next.push(p);
                    }
                }
                continue;
            }
            if !has_meta(comp) {
                let p = join(&unescape(comp));
                if fs.exists(&p) {
                    next.push(p);
                }
                continue;
            }
            let Some(mut names) = fs.list(if base.is_empty() { "." } else { base }) else { continue };
            names.sort();
            let dot_ok = comp.starts_with('.') || comp.starts_with("\\.");
            for n in names {
                if n.starts_with('.') && !dot_ok {
                    continue;
                }
                if matches(comp, &n) {
                    next.push(join(&n));
                }
            }
        }
        paths = next;
        if paths.is_empty() {
            break;
        }
    }
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::{format, vec};

    #[test]
    fn basic_matching() {
        let yes = [
            ("*", ""),
            ("*", "abc"),
            ("a*", "abc"),
            ("*c", "abc"),
            ("a*c", "abbbc"),
            ("a?c", "abc"),
            ("[abc]x", "bx"),
            ("[!abc]x", "dx"),
            ("[^a]", "b"),
            ("[a-c]", "b"),
            ("[]]", "]"),
            ("[!]]", "a"),
            ("[a-]", "-"),
            ("\\*", "*"),
            ("a\\?", "a?"),
            ("[", "["),
            ("a[", "a["),
            ("[[:digit:]]*", "1abc"),
            ("[[:alpha:]_]", "_"),
            ("*.rs", "main.rs"),
            ("**a**", "xxaxx"),
            ("é?", "éü"),
            ("\\", "\\"),
        ];
        for (p, s) in yes {
            assert!(matches(p, s), "{p:?} should match {s:?}");
        }
        let no = [
            ("a", ""),
            ("a*", "bac"),
            ("?", ""),
            ("??", "a"),
            ("[abc]", "d"),
            ("[!a]", "a"),
            ("\\*", "a"),
            ("*.rs", "main.rc"),
            ("[[:digit:]]", "a"),
        ];
        for (p, s) in no {
            assert!(!matches(p, s), "{p:?} should not match {s:?}");
        }
    }

    #[test]
    fn hostile_patterns_are_fast() {
        let p = "*a".repeat(30) + "b";
        let s = "a".repeat(200);
        assert!(!matches(&p, &s));
    }

    #[test]
    fn escaping_round_trips() {
        for s in ["a*b", "[x]", "\\", "plain", "?"] {
            assert!(matches(&escape(s), s));
            assert_eq!(unescape(&escape(s)), s);
            assert!(!has_meta(&escape(s)));
        }
        assert!(has_meta("a*") && !has_meta("a\\*"));
    }

    #[test]
    fn trimming() {
        assert_eq!(trim_prefix("a/b/c", "*/", false), "b/c");
        assert_eq!(trim_prefix("a/b/c", "*/", true), "c");
        assert_eq!(trim_suffix("file.tar.gz", ".*", false), "file.tar");
        assert_eq!(trim_suffix("file.tar.gz", ".*", true), "file");
        assert_eq!(trim_suffix("abc", "x", true), "abc");
        assert_eq!(trim_prefix("abc", "", false), "abc");
        assert_eq!(trim_prefix("abc", "*", true), "");
    }

    struct FakeFs(Vec<&'static str>);
    impl Fs for FakeFs {
        fn list(&mut self, dir: &str) -> Option<Vec<String>> {
            let dir = if dir == "." { "" } else { dir };
            let prefix =
                if dir.is_empty() || dir.ends_with('/') { dir.to_string() } else { format!("{dir}/") };
            if !dir.is_empty() && !self.0.iter().any(|p| p.starts_with(&prefix)) {
                return None;
            }
            let mut v: Vec<String> = self
                .0
                .iter()
                .filter(|p| !prefix.is_empty() || !p.starts_with('/'))
                .filter_map(|p| p.strip_prefix(prefix.as_str()))
                .map(|r| r.split('/').next().unwrap().to_string())
                .collect();
            v.dedup();
            Some(v)
        }
        fn exists(&mut self, path: &str) -> bool {
            self.0.iter().any(|p| *p == path || p.starts_with(&format!("{path}/")))
        }
    }

    #[test]
    fn pathname_expansion() {
        let mut fs = FakeFs(vec![
            "/bin/sh",
            "/bin/echo",
            "/bin/cat",
            "/etc/motd",
            "a.rs",
            "b.rs",
            ".hidden.rs",
            "src/x.rs",
            "src/y.c",
        ]);
        assert_eq!(glob("*.rs", &mut fs), ["a.rs", "b.rs"]);
        assert_eq!(glob(".*.rs", &mut fs), [".hidden.rs"]);
        assert_eq!(glob("/bin/[ce]*", &mut fs), ["/bin/cat", "/bin/echo"]);
        assert_eq!(glob("/*/motd", &mut fs), ["/etc/motd"]);
        assert_eq!(glob("*/*.rs", &mut fs), ["src/x.rs"]);
        assert!(glob("*.none", &mut fs).is_empty());
        assert!(glob("/nodir/*", &mut fs).is_empty());
        assert_eq!(glob("s*/", &mut fs), ["src/"]);
    }
}
