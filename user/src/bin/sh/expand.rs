//! Word expansion: tilde, parameters, command substitution, arithmetic,
//! field splitting, pathname expansion and quote removal, in POSIX order.
//!
//! The shell's state is reached through [`Env`], so this module is pure
//! and the host tests drive it with a table of variables.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::ast::{List, Param, ParamOp, Part, Word};
use crate::pattern;

/// What expansion needs from the shell.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String>;
    /// $1, $2, ...
    fn positional(&self) -> &[String];
    /// $0
    fn arg0(&self) -> String;
    /// `$?`, `$$`, `$!`, `$-`; None when unset (`$!` before any job).
    fn special(&self, c: u8) -> Option<String>;
    /// Run `list` and return its output.
    fn cmdsub(&mut self, list: &List) -> Result<String, String>;
    /// Pathname expansion (None if it is turned off).
    fn glob(&mut self, pat: &str) -> Option<Vec<String>>;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Command arguments: split into fields and expand pathnames.
    Fields,
    /// One string: assignments, redirection targets, here-documents.
    Single,
    /// One pattern: quoted characters escaped (case, `${x#pat}`).
    Pattern,
}

#[derive(Default)]
struct Field {
    text: String,
    /// The field as a pattern: quoted characters escaped.
    pat: String,
    /// Has unquoted pattern characters.
    meta: bool,
    /// Has content or quotes (so `""` makes an empty field).
    started: bool,
}

struct Acc {
    mode: Mode,
    ifs: String,
    fields: Vec<Field>,
    cur: Field,
}

fn is_ifs_white(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n'
}

impl Acc {
    /// Append `s`; `active` if its pattern characters count.
    fn push(&mut self, s: &str, active: bool) {
        self.cur.started = true;
        self.cur.text.push_str(s);
        if active {
            self.cur.pat.push_str(s);
            self.cur.meta |= pattern::has_meta(s);
        } else {
            self.cur.pat.push_str(&pattern::escape(s));
        }
    }

    fn finish(&mut self, force: bool) {
        if self.cur.started || force {
            let f = core::mem::take(&mut self.cur);
            self.fields.push(f);
        }
    }

    /// The result of an expansion: split and made a pattern if unquoted.
    fn expansion(&mut self, s: &str, quoted: bool) {
        match (self.mode, quoted) {
            (_, true) | (Mode::Single, _) => self.push(s, false),
            (Mode::Pattern, false) => self.push(s, true),
            (Mode::Fields, false) => self.split(s),
        }
    }

    /// Field splitting on IFS: runs of IFS white space separate fields,
    /// and so does each other IFS character (with the white space around
    /// it), which can make empty fields.
    fn split(&mut self, s: &str) {
        if self.ifs.is_empty() {
            if !s.is_empty() {
                self.push(s, true);
            }
            return;
        }
        let ifs = core::mem::take(&mut self.ifs);
        let mut after_white = false;
        let mut run = String::new();
        for c in s.chars() {
            if !ifs.contains(c) {
                run.push(c);
                after_white = false;
                continue;
            }
            if !run.is_empty() {
                self.push(&run, true);
                run.clear();
            }
            if is_ifs_white(c) {
                if self.cur.started {
                    self.finish(false);
                    after_white = true;
                }
            } else if after_white {
                after_white = false;
            } else {
                self.finish(true);
            }
        }
        if !run.is_empty() {
            self.push(&run, true);
        }
        self.ifs = ifs;
    }
}

/// The value of a parameter: None if unset.
fn lookup(env: &dyn Env, p: &Param) -> Option<String> {
    match p {
        Param::Name(n) => env.var(n),
        Param::Pos(0) => Some(env.arg0()),
        Param::Pos(n) => env.positional().get(n - 1).cloned(),
        Param::Special(b'#') => Some(env.positional().len().to_string()),
        Param::Special(b'@' | b'*') => {
            let v = env.positional();
            if v.is_empty() { None } else { Some(v.join(" ")) }
        }
        Param::Special(c) => env.special(*c),
    }
}

fn param_name(p: &Param) -> String {
    match p {
        Param::Name(n) => n.clone(),
        Param::Pos(n) => n.to_string(),
        Param::Special(c) => (*c as char).to_string(),
    }
}

struct Exp<'a> {
    env: &'a mut dyn Env,
    depth: usize,
}

impl Exp<'_> {
    fn ifs(&self) -> String {
        self.env.var("IFS").unwrap_or_else(|| String::from(" \t\n"))
    }

    fn new_acc(&self, mode: Mode) -> Acc {
        Acc { mode, ifs: self.ifs(), fields: Vec::new(), cur: Field::default() }
    }

    /// Expand `w` to one string in `mode` (Single or Pattern).
    fn string(&mut self, w: &Word, mode: Mode) -> Result<String, String> {
        let mut acc = self.new_acc(mode);
        self.parts(&w.parts, &mut acc, false, true)?;
        Ok(if mode == Mode::Pattern { acc.cur.pat } else { acc.cur.text })
    }

    /// Expand `parts` into `acc`. `nested` is set inside the word of a
    /// `${x-word}`, whose unquoted text is split like an expansion's
    /// result; `outer_quoted` when that `${...}` was in double quotes.
    fn parts(&mut self, parts: &[Part], acc: &mut Acc, outer_quoted: bool, top: bool) -> Result<(), String> {
        self.depth += 1;
        if self.depth > crate::parse::MAX_DEPTH {
            self.depth -= 1;
            return Err("expansion nested too deeply".to_string());
        }
        let r = self.parts_inner(parts, acc, outer_quoted, top);
        self.depth -= 1;
        r
    }

    fn parts_inner(&mut self, parts: &[Part], acc: &mut Acc, outer: bool, top: bool) -> Result<(), String> {
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Lit(s) if top && i == 0 && s.starts_with('~') && acc.mode != Mode::Pattern => {
                    let (user, rest) = s.split_at(s.find('/').unwrap_or(s.len()));
                    match (user, self.env.var("HOME")) {
                        ("~", Some(home)) => {
                            acc.push(&home, false);
                            acc.push(rest, acc.mode != Mode::Single);
                        }
                        _ => acc.push(s, acc.mode != Mode::Single),
                    }
                }
                Part::Lit(s) if !top => acc.expansion(s, outer),
                Part::Lit(s) => acc.push(s, acc.mode != Mode::Single),
                Part::Quoted(s) => acc.push(s, false),
                Part::Param { param, op, quoted } => self.param(param, op, *quoted || outer, acc)?,
                Part::CmdSub { list, quoted } => {
                    let mut out = self.env.cmdsub(list)?;
                    while out.ends_with('\n') {
                        out.pop();
                    }
                    acc.expansion(&out, *quoted || outer);
                }
                Part::Arith { expr, quoted } => {
                    let e = self.string(expr, Mode::Single)?;
                    let v = crate::arith::eval(&e, &mut ArithVars(&mut *self.env))?;
                    acc.expansion(&v.to_string(), *quoted || outer);
                }
            }
        }
        Ok(())
    }

    fn param(&mut self, p: &Param, op: &ParamOp, quoted: bool, acc: &mut Acc) -> Result<(), String> {
        let value = lookup(&*self.env, p);
        let unset_or_null = |colon: bool| value.is_none() || (colon && value.as_deref() == Some(""));
        match op {
            ParamOp::None if matches!(p, Param::Special(b'@' | b'*')) => {
                self.positional(*p == Param::Special(b'@'), quoted, acc);
                Ok(())
            }
            ParamOp::None => {
                acc.expansion(value.as_deref().unwrap_or(""), quoted);
                Ok(())
            }
            ParamOp::Length => {
                let n = match p {
                    Param::Special(b'@' | b'*') => self.env.positional().len(),
                    _ => value.as_deref().unwrap_or("").chars().count(),
                };
                acc.expansion(&n.to_string(), quoted);
                Ok(())
            }
            ParamOp::Default(colon, w) => {
                if unset_or_null(*colon) {
                    self.parts(&w.parts, acc, quoted, false)
                } else {
                    self.param(p, &ParamOp::None, quoted, acc)
                }
            }
            ParamOp::Assign(colon, w) => {
                if unset_or_null(*colon) {
                    let v = self.string(w, Mode::Single)?;
                    if let Param::Name(n) = p {
                        self.env.set_var(n, &v)?;
                    }
                    acc.expansion(&v, quoted);
                    Ok(())
                } else {
                    self.param(p, &ParamOp::None, quoted, acc)
                }
            }
            ParamOp::Alt(colon, w) => {
                if unset_or_null(*colon) {
                    Ok(())
                } else {
                    self.parts(&w.parts, acc, quoted, false)
                }
            }
            ParamOp::Error(colon, w) => {
                if unset_or_null(*colon) {
                    let msg = self.string(w, Mode::Single)?;
                    let msg = if msg.is_empty() { "parameter not set".to_string() } else { msg };
                    Err(format!("{}: {msg}", param_name(p)))
                } else {
                    self.param(p, &ParamOp::None, quoted, acc)
                }
            }
            ParamOp::TrimPrefix(longest, w) | ParamOp::TrimSuffix(longest, w) => {
                let pat = self.string(w, Mode::Pattern)?;
                let v = value.unwrap_or_default();
                let r = if matches!(op, ParamOp::TrimPrefix(..)) {
                    pattern::trim_prefix(&v, &pat, *longest)
                } else {
                    pattern::trim_suffix(&v, &pat, *longest)
                };
                acc.expansion(&r, quoted);
                Ok(())
            }
        }
    }

    /// `$@` and `$*`.
    fn positional(&mut self, at: bool, quoted: bool, acc: &mut Acc) {
        let params: Vec<String> = self.env.positional().to_vec();
        let sep = match acc.ifs.chars().next() {
            Some(c) => c.to_string(),
            None if acc.ifs.is_empty() && self.env.var("IFS").is_some() => String::new(),
            None => " ".to_string(),
        };
        if acc.mode != Mode::Fields || (quoted && !at) {
            // One string: "$*", or anything but a command's arguments.
            let sep = if at && acc.mode != Mode::Fields { " ".to_string() } else { sep };
            if !params.is_empty() {
                acc.expansion(&params.join(&sep), quoted);
            } else if quoted && !at {
                acc.push("", false);
            }
            return;
        }
        for (i, v) in params.iter().enumerate() {
            if quoted {
                if i > 0 {
                    acc.finish(true);
                }
                acc.push(v, false);
            } else {
                if i > 0 {
                    acc.finish(false);
                }
                acc.split(v);
            }
        }
    }
}

struct ArithVars<'a>(&'a mut dyn Env);

impl crate::arith::Vars for ArithVars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.var(name)
    }
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.0.set_var(name, value)
    }
}

/// Expand command words into fields (splitting, pathnames).
pub fn fields(env: &mut dyn Env, words: &[Word]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for w in words {
        let mut e = Exp { env: &mut *env, depth: 0 };
        let mut acc = e.new_acc(Mode::Fields);
        e.parts(&w.parts, &mut acc, false, true)?;
        acc.finish(false);
        for f in acc.fields {
            if f.meta
                && let Some(m) = env.glob(&f.pat)
                && !m.is_empty()
            {
                out.extend(m);
                continue;
            }
            out.push(f.text);
        }
    }
    Ok(out)
}

/// Expand a word to one string (assignment values, redirection targets,
/// here-document bodies, `case` words).
pub fn string(env: &mut dyn Env, w: &Word) -> Result<String, String> {
    Exp { env, depth: 0 }.string(w, Mode::Single)
}

/// Expand a word to a pattern for [`pattern::matches`].
pub fn pattern(env: &mut dyn Env, w: &Word) -> Result<String, String> {
    Exp { env, depth: 0 }.string(w, Mode::Pattern)
}

/// Expand a redirection target: one field, else "ambiguous redirect".
pub fn redir_target(env: &mut dyn Env, w: &Word) -> Result<String, String> {
    let v = fields(env, core::slice::from_ref(w))?;
    match <[String; 1]>::try_from(v) {
        Ok([one]) => Ok(one),
        Err(_) => Err(format!("{}: ambiguous redirect", w.unquoted_text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;
    use alloc::collections::BTreeMap;
    use alloc::vec;

    #[derive(Default)]
    struct T {
        vars: BTreeMap<String, String>,
        pos: Vec<String>,
        files: Vec<&'static str>,
    }

    impl Env for T {
        fn var(&self, n: &str) -> Option<String> {
            self.vars.get(n).cloned()
        }
        fn set_var(&mut self, n: &str, v: &str) -> Result<(), String> {
            self.vars.insert(n.into(), v.into());
            Ok(())
        }
        fn positional(&self) -> &[String] {
            &self.pos
        }
        fn arg0(&self) -> String {
            "sh".into()
        }
        fn special(&self, c: u8) -> Option<String> {
            match c {
                b'?' => Some("3".into()),
                b'$' => Some("42".into()),
                _ => None,
            }
        }
        fn cmdsub(&mut self, list: &List) -> Result<String, String> {
            // "Runs" echo: its arguments, expanded, and a newline.
            let first = list.items.first().and_then(|i| i.and_or.first.cmds.first());
            let Some(crate::ast::Command::Simple(s)) = first else { return Ok("".into()) };
            let f = fields(self, s.words.get(1..).unwrap_or(&[]))?;
            Ok(f.join(" ") + "\n\n")
        }
        fn glob(&mut self, pat: &str) -> Option<Vec<String>> {
            Some(self.files.iter().filter(|f| pattern::matches(pat, f)).map(|f| f.to_string()).collect())
        }
    }

    fn env() -> T {
        let mut t = T::default();
        for (k, v) in
            [("a", "1"), ("sp", " x  y "), ("e", ""), ("HOME", "/home"), ("star", "*"), ("p", "a/b/c.d")]
        {
            t.vars.insert(k.into(), v.into());
        }
        t.pos = vec!["p 1".into(), "".into(), "p3".into()];
        t.files = vec!["f1", "f2", "g"];
        t
    }

    /// The fields of the arguments of `echo ...`.
    fn ex(t: &mut T, src: &str) -> Result<Vec<String>, String> {
        let l = parse(&format!("echo {src}")).unwrap();
        let crate::ast::Command::Simple(s) = &l.items[0].and_or.first.cmds[0] else { panic!() };
        fields(t, &s.words[1..])
    }

    fn ok(src: &str) -> Vec<String> {
        ex(&mut env(), src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn quoting_and_parameters() {
        assert_eq!(ok("a 'b c' \"d $a\" e\\ f"), ["a", "b c", "d 1", "e f"]);
        assert_eq!(ok("$a$a ${a}x $nope \"$nope\" '' \"\""), ["11", "1x", "", "", ""]);
        assert_eq!(
            ok("$? $$ $# $0 $1 $3 $9 ${#a} ${#sp} ${#}"),
            ["3", "42", "3", "sh", "p", "1", "p3", "1", "6", "3"]
        );
        assert_eq!(ok("$!"), Vec::<String>::new());
    }

    #[test]
    fn field_splitting() {
        assert_eq!(ok("$sp"), ["x", "y"]);
        assert_eq!(ok("\"$sp\""), [" x  y "]);
        assert_eq!(ok("a${sp}b"), ["a", "x", "y", "b"]);
        assert_eq!(ok("$e"), Vec::<String>::new());
        assert_eq!(ok("$e\"\""), [""]);
        let mut t = env();
        t.vars.insert("IFS".into(), ":".into());
        t.vars.insert("c".into(), "a::b:".into());
        assert_eq!(ex(&mut t, "$c").unwrap(), ["a", "", "b"]);
        t.vars.insert("IFS".into(), " :".into());
        t.vars.insert("c".into(), " a : b :c".into());
        assert_eq!(ex(&mut t, "$c").unwrap(), ["a", "b", "c"]);
        t.vars.insert("IFS".into(), "".into());
        assert_eq!(ex(&mut t, "$sp").unwrap(), [" x  y "]);
    }

    #[test]
    fn positional_parameters() {
        assert_eq!(ok("\"$@\""), ["p 1", "", "p3"]);
        assert_eq!(ok("$@"), ["p", "1", "p3"]);
        assert_eq!(ok("\"$*\""), ["p 1  p3"]);
        assert_eq!(ok("x\"$@\"y"), ["xp 1", "", "p3y"]);
        let mut t = env();
        t.pos.clear();
        assert_eq!(ex(&mut t, "\"$@\"").unwrap(), Vec::<String>::new());
        assert_eq!(ex(&mut t, "\"$*\"").unwrap(), [""]);
        assert_eq!(ex(&mut t, "\"x$@\"").unwrap(), ["x"]);
        assert_eq!(ex(&mut t, "${@:-none}").unwrap(), ["none"]);
        let w = crate::ast::Word {
            parts: vec![Part::Param { param: Param::Special(b'@'), op: ParamOp::None, quoted: true }],
        };
        assert_eq!(string(&mut env(), &w).unwrap(), "p 1  p3");
    }

    #[test]
    fn operators() {
        assert_eq!(
            ok("${nope:-d e} \"${nope:-d e}\" ${e-x} ${e:-x} ${a:+y} ${nope+y}"),
            ["d", "e", "d e", "x", "y"]
        );
        assert_eq!(
            ok("${p#*/} ${p##*/} ${p%.*} ${p%%/*} ${p#\"a/\"}"),
            ["b/c.d", "c.d", "a/b/c", "a", "b/c.d"]
        );
        assert_eq!(ok("${nope:-\"$a b\"}"), ["1 b"]);
        let mut t = env();
        assert_eq!(ex(&mut t, "${n:=v w} $n").unwrap(), ["v", "w", "v", "w"]);
        assert_eq!(t.vars.get("n").map(|s| s.as_str()), Some("v w"));
        assert_eq!(ex(&mut t, "${nope?is gone}"), Err("nope: is gone".into()));
        assert_eq!(ex(&mut t, "${e:?}"), Err("e: parameter not set".into()));
        assert_eq!(ex(&mut t, "${e?}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn tilde_cmdsub_arith() {
        assert_eq!(ok("~ ~/x '~' a~ ~user"), ["/home", "/home/x", "~", "a~", "~user"]);
        assert_eq!(ok("$(echo a b) \"$(echo a  b)\" `echo c`x"), ["a", "b", "a b", "cx"]);
        assert_eq!(ok("$((1 + a * 2)) $((a = 5)) $a"), ["3", "5", "5"]);
        assert!(ex(&mut env(), "$((1/0))").is_err());
    }

    #[test]
    fn pathnames() {
        assert_eq!(
            ok("f* '*' \"f\"* x* $star \"$star\" [fg]2"),
            ["f1", "f2", "*", "f1", "f2", "x*", "f1", "f2", "g", "*", "f2"]
        );
    }

    #[test]
    fn single_and_pattern() {
        let l = parse("echo $sp$star ~/a 'x*'\"$star\"$star").unwrap();
        let crate::ast::Command::Simple(s) = &l.items[0].and_or.first.cmds[0] else { panic!() };
        let mut t = env();
        assert_eq!(string(&mut t, &s.words[1]).unwrap(), " x  y *");
        assert_eq!(string(&mut t, &s.words[2]).unwrap(), "/home/a");
        assert_eq!(pattern(&mut t, &s.words[3]).unwrap(), "x\\*\\**");
        assert_eq!(redir_target(&mut t, &s.words[2]).unwrap(), "/home/a");
        assert!(redir_target(&mut t, &s.words[1]).is_err());
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = crate::parse::tests::Rng(77);
        let mut t = env();
        for _ in 0..20_000 {
            let n = rng.below(12);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(crate::parse::tests::PIECES[rng.below(crate::parse::tests::PIECES.len())]);
            }
            if let Ok(l) = parse(&s) {
                for it in &l.items {
                    for c in &it.and_or.first.cmds {
                        if let crate::ast::Command::Simple(sc) = c {
                            let _ = fields(&mut t, &sc.words);
                            for (_, w) in &sc.assigns {
                                let _ = string(&mut t, w);
                                let _ = pattern(&mut t, w);
                            }
                        }
                    }
                }
            }
        }
    }
}
