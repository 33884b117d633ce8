//! `$((...))`: integer arithmetic on i64 with C's operators and
//! precedence (assignments included), wrapping on overflow as ksh does.

use alloc::format;
use alloc::string::{String, ToString};

/// Variables as arithmetic sees them.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: &str) -> Result<(), String>;
}

const MAX_DEPTH: usize = 100;

struct Eval<'a> {
    s: &'a [u8],
    pos: usize,
    vars: &'a mut dyn Vars,
    /// Above 0 inside the branch `&&`, `||` or `?:` does not take: parse
    /// it, but assign nothing and forgive division by zero.
    skip: usize,
    depth: usize,
}

/// Evaluate `expr`; errors are messages such as "division by zero".
pub fn eval(expr: &str, vars: &mut dyn Vars) -> Result<i64, String> {
    let mut e = Eval { s: expr.as_bytes(), pos: 0, vars, skip: 0, depth: 0 };
    e.blanks();
    if e.pos == e.s.len() {
        return Ok(0);
    }
    let v = e.comma()?;
    e.blanks();
    if e.pos != e.s.len() {
        return Err(format!("{expr}: syntax error in expression"));
    }
    Ok(v)
}

/// Parse an integer constant: decimal, 0x hex, 0 octal.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)? as i64;
        v = v.wrapping_mul(radix as i64).wrapping_add(d);
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

impl Eval<'_> {
    fn blanks(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Take operator `op` if it is next (and not the start of a longer
    /// one given in `not`).
    fn eat(&mut self, op: &str, not: &[&str]) -> bool {
        self.blanks();
        let rest = &self.s[self.pos..];
        if rest.starts_with(op.as_bytes()) && !not.iter().any(|n| rest.starts_with(n.as_bytes())) {
            self.pos += op.len();
            true
        } else {
            false
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        let s = core::str::from_utf8(self.s).unwrap_or("?");
        Err(format!("{s}: {what}"))
    }

    fn comma(&mut self) -> Result<i64, String> {
        let mut v = self.assign()?;
        while self.eat(",", &[]) {
            v = self.assign()?;
        }
        Ok(v)
    }

    fn assign(&mut self) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let r = self.assign_inner();
        self.depth -= 1;
        r
    }

    fn assign_inner(&mut self) -> Result<i64, String> {
        self.blanks();
        let save = self.pos;
        if let Some(name) = self.name() {
            self.blanks();
            const OPS: [&str; 11] = ["=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "^=", "|="];
            let rest = &self.s[self.pos..];
            let op = OPS.iter().rev().find(|o| rest.starts_with(o.as_bytes()) && !rest.starts_with(b"=="));
            if let Some(op) = op {
                self.pos += op.len();
                let rhs = self.assign()?;
                let v = if *op == "=" {
                    rhs
                } else {
                    let cur = self.var(&name)?;
                    self.binary(&op[..op.len() - 1], cur, rhs)?
                };
                if self.skip == 0 {
                    self.vars.set(&name, &v.to_string())?;
                }
                return Ok(v);
            }
            self.pos = save;
        }
        self.ternary()
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binop(0)?;
        if !self.eat("?", &[]) {
            return Ok(c);
        }
        if c == 0 {
            self.skip += 1;
        }
        let a = self.comma();
        if c == 0 {
            self.skip -= 1;
        }
        let a = a?;
        if !self.eat(":", &[]) {
            return self.err("expecting ':'");
        }
        if c != 0 {
            self.skip += 1;
        }
        let b = self.ternary();
        if c != 0 {
            self.skip -= 1;
        }
        let b = b?;
        Ok(if c != 0 { a } else { b })
    }

    /// Binary operators by precedence level, loosest first.
    const LEVELS: [&'static [&'static str]; 10] = [
        &["||"],
        &["&&"],
        &["|"],
        &["^"],
        &["&"],
        &["==", "!="],
        &["<=", ">=", "<", ">"],
        &["<<", ">>"],
        &["+", "-"],
        &["*", "/", "%"],
    ];

    fn binop(&mut self, level: usize) -> Result<i64, String> {
        if level == Self::LEVELS.len() {
            return self.unary();
        }
        let mut v = self.binop(level + 1)?;
        'more: loop {
            for op in Self::LEVELS[level] {
                // Leave "a += 1", "a || b" and "a << b" to their own rules.
                let not: &[&str] = match *op {
                    "|" => &["||", "|="],
                    "&" => &["&&", "&="],
                    "<" => &["<<", "<="],
                    ">" => &[">>", ">="],
                    "<<" => &["<<="],
                    ">>" => &[">>="],
                    "+" => &["+="],
                    "-" => &["-="],
                    "*" => &["*="],
                    "/" => &["/="],
                    "%" => &["%="],
                    "^" => &["^="],
                    _ => &[],
                };
                if self.eat(op, not) {
                    let short = (*op == "&&" && v == 0) || (*op == "||" && v != 0);
                    if short {
                        self.skip += 1;
                    }
                    let rhs = self.binop(level + 1);
                    if short {
                        self.skip -= 1;
                    }
                    v = self.binary(op, v, rhs?)?;
                    continue 'more;
                }
            }
            return Ok(v);
        }
    }

    fn binary(&self, op: &str, a: i64, b: i64) -> Result<i64, String> {
        Ok(match op {
            "||" => (a != 0 || b != 0) as i64,
            "&&" => (a != 0 && b != 0) as i64,
            "|" => a | b,
            "^" => a ^ b,
            "&" => a & b,
            "==" => (a == b) as i64,
            "!=" => (a != b) as i64,
            "<" => (a < b) as i64,
            "<=" => (a <= b) as i64,
            ">" => (a > b) as i64,
            ">=" => (a >= b) as i64,
            "<<" => a.wrapping_shl(b as u32),
            ">>" => a.wrapping_shr(b as u32),
            "+" => a.wrapping_add(b),
            "-" => a.wrapping_sub(b),
            "*" => a.wrapping_mul(b),
            "/" | "%" if b == 0 => {
                if self.skip > 0 {
                    return Ok(0);
                }
                return self.err("division by zero");
            }
            "/" => a.wrapping_div(b),
            "%" => a.wrapping_rem(b),
            _ => return self.err("unknown operator"),
        })
    }

    fn unary(&mut self) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<i64, String> {
        if self.eat("-", &["-="]) {
            return Ok(self.unary()?.wrapping_neg());
        }
        if self.eat("+", &["+="]) {
            return self.unary();
        }
        if self.eat("!", &["!="]) {
            return Ok((self.unary()? == 0) as i64);
        }
        if self.eat("~", &[]) {
            return Ok(!self.unary()?);
        }
        self.primary()
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        if !matches!(self.s.get(self.pos), Some(c) if c.is_ascii_alphabetic() || *c == b'_') {
            return None;
        }
        while matches!(self.s.get(self.pos), Some(c) if c.is_ascii_alphanumeric() || *c == b'_') {
            self.pos += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn var(&self, name: &str) -> Result<i64, String> {
        match self.vars.get(name) {
            None => Ok(0),
            Some(v) if v.trim().is_empty() => Ok(0),
            Some(v) => match parse_int(&v) {
                Some(n) => Ok(n),
                None => Err(format!("{name}: bad number '{v}'")),
            },
        }
    }

    fn primary(&mut self) -> Result<i64, String> {
        self.blanks();
        if self.eat("(", &[]) {
            let v = self.comma()?;
            if !self.eat(")", &[]) {
                return self.err("missing ')'");
            }
            return Ok(v);
        }
        if let Some(n) = self.name() {
            return self.var(&n);
        }
        let start = self.pos;
        while matches!(self.s.get(self.pos), Some(c) if c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err("syntax error in expression");
        }
        let t = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        parse_int(&t).map_or_else(|| self.err(&format!("bad number '{t}'")), Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    #[derive(Default)]
    struct M(BTreeMap<String, String>);
    impl Vars for M {
        fn get(&self, n: &str) -> Option<String> {
            self.0.get(n).cloned()
        }
        fn set(&mut self, n: &str, v: &str) -> Result<(), String> {
            self.0.insert(n.to_string(), v.to_string());
            Ok(())
        }
    }

    fn ev(s: &str) -> Result<i64, String> {
        eval(s, &mut M::default())
    }

    #[test]
    fn operators_and_precedence() {
        let cases = [
            ("1 + 2 * 3", 7),
            ("(1 + 2) * 3", 9),
            ("10 / 3", 3),
            ("-10 % 3", -1),
            ("2 << 3 >> 1", 8),
            ("1 < 2 && 2 <= 2", 1),
            ("1 > 2 || 3 >= 4", 0),
            ("5 & 3 | 8 ^ 1", 9),
            ("!0 + ~0", 0),
            ("1 == 1 != 0", 1),
            ("0 ? 5 : 6", 6),
            ("1 ? 2 ? 3 : 4 : 5", 3),
            ("0x1f + 010", 39),
            ("- - 3", 3),
            ("", 0),
            ("  7  ", 7),
            ("9223372036854775807 + 1", i64::MIN),
            ("1, 2", 2),
        ];
        for (e, v) in cases {
            assert_eq!(ev(e), Ok(v), "{e}");
        }
    }

    #[test]
    fn variables() {
        let mut m = M::default();
        m.set("x", "5").unwrap();
        m.set("e", "").unwrap();
        m.set("bad", "abc").unwrap();
        assert_eq!(eval("x * 2 + y + e", &mut m), Ok(10));
        assert_eq!(eval("y = x += 2", &mut m), Ok(7));
        assert_eq!(m.get("x").as_deref(), Some("7"));
        assert_eq!(m.get("y").as_deref(), Some("7"));
        assert_eq!(eval("x <<= 1", &mut m), Ok(14));
        assert!(eval("bad + 1", &mut m).is_err());
        // The branch not taken assigns nothing and may divide by zero.
        assert_eq!(eval("0 && (z = 1)", &mut m), Ok(0));
        assert_eq!(eval("1 || 1 / 0", &mut m), Ok(1));
        assert_eq!(eval("1 ? 2 : (z = 3)", &mut m), Ok(2));
        assert_eq!(m.get("z"), None);
        assert_eq!(eval("x == 14", &mut m), Ok(1));
    }

    #[test]
    fn errors() {
        for e in ["1 / 0", "5 % 0", "1 +", "(1", "1 2", "09", "0x", "1 ? 2", ")", "@"] {
            assert!(ev(e).is_err(), "{e}");
        }
        assert!(ev(&"(".repeat(1000)).is_err());
        assert!(ev(&"-".repeat(1000)).is_err());
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = crate::parse::tests::Rng(12345);
        let pieces = [
            "1", "x", "(", ")", "+", "-", "*", "/", "%", "?", ":", "=", "<<", "&&", "||", "!", "~", " ",
            "0x", "9", ",", "+=", "==",
        ];
        let mut m = M::default();
        for _ in 0..20_000 {
            let n = rng.below(16);
            let s: String = (0..n).map(|_| pieces[rng.below(pieces.len())]).collect();
            let _ = eval(&s, &mut m);
        }
    }
}
