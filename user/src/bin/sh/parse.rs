//! The lexer and recursive-descent parser (POSIX shell grammar, the
//! parts this shell implements).
//!
//! Tokens are read on demand rather than up front because what a word
//! means depends on where the parser is: `if` is a reserved word only
//! where a command starts, `$(` nests a whole command list inside a word,
//! and a here-document's body sits in the lines after the operator's.
//!
//! The parser works on the whole text it is given and reports
//! [`Error::Incomplete`] when that text ends inside a construct (an open
//! quote, `&&` at the end of a line, an `if` without `fi`, a missing
//! here-document delimiter); the reader then appends another line and
//! parses again.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::ast::*;

/// How deep constructs may nest: the parser, the expander and the
/// executor all recurse on the tree, and a program's stack is finite.
pub const MAX_DEPTH: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The text ended inside a construct: more input may complete it.
    Incomplete,
    /// The text can never be valid; the message follows "syntax error: ".
    Syntax(String),
}

pub type PResult<T> = Result<T, Error>;

fn syntax<T>(msg: impl Into<String>) -> PResult<T> {
    Err(Error::Syntax(msg.into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    AndIf,
    OrIf,
    DSemi,
    Semi,
    Amp,
    Pipe,
    LParen,
    RParen,
    DLessDash,
    DLess,
    LessAnd,
    LessGreat,
    Less,
    DGreat,
    GreatAnd,
    Clobber,
    Great,
}

/// Operators, longest first so that the first match is the right one.
const OPS: &[(&str, Op)] = &[
    ("&&", Op::AndIf),
    ("||", Op::OrIf),
    (";;", Op::DSemi),
    ("<<-", Op::DLessDash),
    ("<<", Op::DLess),
    ("<&", Op::LessAnd),
    ("<>", Op::LessGreat),
    (">>", Op::DGreat),
    (">&", Op::GreatAnd),
    (">|", Op::Clobber),
    (";", Op::Semi),
    ("&", Op::Amp),
    ("|", Op::Pipe),
    ("(", Op::LParen),
    (")", Op::RParen),
    ("<", Op::Less),
    (">", Op::Great),
];

fn op_text(op: Op) -> &'static str {
    OPS.iter().find(|(_, o)| *o == op).map_or("?", |(t, _)| t)
}

#[derive(Clone, Debug)]
enum Tok {
    Word(Word),
    IoNum(i32),
    Op(Op),
    Newline,
    Eof,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => match w.plain() {
            Some(p) => format!("'{p}'"),
            None => "word".to_string(),
        },
        Tok::IoNum(n) => format!("'{n}'"),
        Tok::Op(op) => format!("'{}'", op_text(*op)),
        Tok::Newline => "newline".to_string(),
        Tok::Eof => "end of file".to_string(),
    }
}

fn is_redir_op(op: Op) -> bool {
    matches!(
        op,
        Op::DLessDash
            | Op::DLess
            | Op::LessAnd
            | Op::LessGreat
            | Op::Less
            | Op::DGreat
            | Op::GreatAnd
            | Op::Clobber
            | Op::Great
    )
}

/// Where a word ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An ordinary word: at a blank or an operator character.
    Normal,
    /// The word in `${name-word}`: at the closing brace.
    Brace,
    /// A here-document body or an arithmetic expression: only `$`,
    /// backquotes and backslash are special, and it ends with the text.
    Document,
}

/// True for names of variables: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{", "}", "!",
    "in", "time",
];

pub struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    peeked: Option<(Tok, usize)>,
    /// End of the last token taken, for the source text of commands.
    last_end: usize,
    depth: usize,
    /// The newline after which pending here-document bodies start, and
    /// where they end: the lexer skips the bodies when it passes it.
    hd_newline: Option<usize>,
    hd_end: usize,
}

/// Parse a whole program.
pub fn parse(src: &str) -> PResult<List> {
    Parser::new(src, 0).program()
}

/// Parse the body of a here-document (or an arithmetic expression) in
/// which only parameters, command substitutions and backslash escapes of
/// `$`, `` ` `` and `\` mean anything.
pub fn parse_document(src: &str) -> PResult<Word> {
    parse_document_at(src, 0)
}

fn parse_document_at(src: &str, depth: usize) -> PResult<Word> {
    let mut p = Parser::new(src, depth);
    p.read_word(Mode::Document, false)
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a str, depth: usize) -> Self {
        Parser { s, b: s.as_bytes(), pos: 0, peeked: None, last_end: 0, depth, hd_newline: None, hd_end: 0 }
    }

    fn program(&mut self) -> PResult<List> {
        let list = self.list(&[])?;
        match self.peek()? {
            Tok::Eof => Ok(list),
            t => syntax(format!("unexpected {}", describe(t))),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { syntax("nesting too deep") } else { Ok(()) }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- the lexer ----

    fn byte(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// The character at `i` (always a character boundary: the lexer only
    /// steps over ASCII bytes or whole characters).
    fn char_at(&self, i: usize) -> char {
        self.s.get(i..).and_then(|t| t.chars().next()).unwrap_or('\u{fffd}')
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.byte(self.pos) {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\\') if self.byte(self.pos + 1) == Some(b'\n') => self.pos += 2,
                Some(b'#') => {
                    while let Some(c) = self.byte(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn lex(&mut self) -> PResult<(Tok, usize)> {
        self.skip_blanks();
        let start = self.pos;
        let Some(c) = self.byte(self.pos) else { return Ok((Tok::Eof, start)) };
        if c == b'\n' {
            self.pos += 1;
            if self.hd_newline == Some(start) {
                self.hd_newline = None;
                self.pos = self.hd_end;
            }
            return Ok((Tok::Newline, start));
        }
        let rest = &self.b[self.pos..];
        if let Some(&(t, op)) = OPS.iter().find(|(t, _)| rest.starts_with(t.as_bytes())) {
            self.pos += t.len();
            return Ok((Tok::Op(op), start));
        }
        let w = self.read_word(Mode::Normal, false)?;
        if let Some(p) = w.plain()
            && p.len() <= 4
            && p.bytes().all(|c| c.is_ascii_digit())
            && matches!(self.byte(self.pos), Some(b'<' | b'>'))
        {
            return Ok((Tok::IoNum(p.parse().unwrap_or(0)), start));
        }
        Ok((Tok::Word(w), start))
    }

    fn peek(&mut self) -> PResult<&Tok> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(&self.peeked.as_ref().unwrap().0)
    }

    /// Where the next token starts.
    fn peek_start(&mut self) -> PResult<usize> {
        self.peek()?;
        Ok(self.peeked.as_ref().map_or(self.pos, |p| p.1))
    }

    fn next(&mut self) -> PResult<Tok> {
        self.peek()?;
        let (t, _) = self.peeked.take().unwrap();
        self.last_end = self.pos;
        Ok(t)
    }

    fn peek_reserved(&mut self, w: &str) -> PResult<bool> {
        Ok(matches!(self.peek()?, Tok::Word(x) if x.plain() == Some(w)))
    }

    fn linebreak(&mut self) -> PResult<()> {
        while matches!(self.peek()?, Tok::Newline) {
            self.next()?;
        }
        Ok(())
    }

    fn unexpected<T>(&mut self) -> PResult<T> {
        match self.peek()? {
            Tok::Eof => Err(Error::Incomplete),
            t => syntax(format!("unexpected {}", describe(t))),
        }
    }

    fn expect_reserved(&mut self, w: &str) -> PResult<()> {
        if self.peek_reserved(w)? {
            self.next()?;
            return Ok(());
        }
        match self.peek()? {
            Tok::Eof => Err(Error::Incomplete),
            t => syntax(format!("unexpected {} (expecting '{w}')", describe(t))),
        }
    }

    fn expect_op(&mut self, op: Op) -> PResult<()> {
        match self.peek()? {
            Tok::Op(o) if *o == op => {
                self.next()?;
                Ok(())
            }
            Tok::Eof => Err(Error::Incomplete),
            t => syntax(format!("unexpected {} (expecting '{}')", describe(t), op_text(op))),
        }
    }

    /// Read a word from `pos`. `dq` is set inside double quotes, where
    /// the parts of a `${...}` word are quoted too.
    fn read_word(&mut self, mode: Mode, dq: bool) -> PResult<Word> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        fn flush(lit: &mut String, parts: &mut Vec<Part>, quoted: bool) {
            if !lit.is_empty() {
                let s = core::mem::take(lit);
                parts.push(if quoted { Part::Quoted(s) } else { Part::Lit(s) });
            }
        }
        // In a document everything is quoted: nothing is split or globbed.
        let q = mode == Mode::Document || dq;
        loop {
            let Some(c) = self.byte(self.pos) else {
                if mode == Mode::Brace {
                    return Err(Error::Incomplete);
                }
                break;
            };
            match (mode, c) {
                (Mode::Normal, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => {
                    break;
                }
                (Mode::Brace, b'}') => break,
                (_, b'\\') => {
                    let Some(n) = self.byte(self.pos + 1) else {
                        if mode == Mode::Document {
                            lit.push('\\');
                            self.pos += 1;
                            continue;
                        }
                        return Err(Error::Incomplete);
                    };
                    if n == b'\n' {
                        self.pos += 2;
                        continue;
                    }
                    if mode == Mode::Document && !matches!(n, b'$' | b'`' | b'\\') {
                        lit.push('\\');
                        self.pos += 1;
                        continue;
                    }
                    flush(&mut lit, &mut parts, q);
                    let ch = self.char_at(self.pos + 1);
                    parts.push(Part::Quoted(ch.to_string()));
                    self.pos += 1 + ch.len_utf8();
                }
                (Mode::Normal | Mode::Brace, b'\'') => {
                    flush(&mut lit, &mut parts, q);
                    let Some(end) = self.b[self.pos + 1..].iter().position(|&c| c == b'\'') else {
                        return Err(Error::Incomplete);
                    };
                    let end = self.pos + 1 + end;
                    parts.push(Part::Quoted(self.s[self.pos + 1..end].to_string()));
                    self.pos = end + 1;
                }
                (Mode::Normal | Mode::Brace, b'"') => {
                    flush(&mut lit, &mut parts, q);
                    self.read_dquote(&mut parts)?;
                }
                (_, b'$') => {
                    flush(&mut lit, &mut parts, q);
                    match self.read_dollar(q)? {
                        Some(p) => parts.push(p),
                        None => lit.push('$'),
                    }
                }
                (_, b'`') => {
                    flush(&mut lit, &mut parts, q);
                    let p = self.read_backquote(q)?;
                    parts.push(p);
                }
                _ => {
                    let ch = self.char_at(self.pos);
                    lit.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        flush(&mut lit, &mut parts, q);
        Ok(Word { parts })
    }

    /// `"..."` from the opening quote.
    fn read_dquote(&mut self, parts: &mut Vec<Part>) -> PResult<()> {
        self.pos += 1;
        let before = parts.len();
        let mut q = String::new();
        loop {
            let Some(c) = self.byte(self.pos) else { return Err(Error::Incomplete) };
            match c {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => match self.byte(self.pos + 1) {
                    None => return Err(Error::Incomplete),
                    Some(b'\n') => self.pos += 2,
                    Some(n @ (b'$' | b'`' | b'"' | b'\\')) => {
                        q.push(n as char);
                        self.pos += 2;
                    }
                    Some(_) => {
                        q.push('\\');
                        self.pos += 1;
                    }
                },
                b'$' => {
                    if !q.is_empty() {
                        parts.push(Part::Quoted(core::mem::take(&mut q)));
                    }
                    match self.read_dollar(true)? {
                        Some(p) => parts.push(p),
                        None => q.push('$'),
                    }
                }
                b'`' => {
                    if !q.is_empty() {
                        parts.push(Part::Quoted(core::mem::take(&mut q)));
                    }
                    let p = self.read_backquote(true)?;
                    parts.push(p);
                }
                _ => {
                    let ch = self.char_at(self.pos);
                    q.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        // `""` is an empty field of its own, but `"$@"` with no
        // parameters must stay no field at all.
        if !q.is_empty() || parts.len() == before {
            parts.push(Part::Quoted(q));
        }
        Ok(())
    }

    /// `$...` from the dollar sign; None if it is a plain `$`.
    fn read_dollar(&mut self, quoted: bool) -> PResult<Option<Part>> {
        let Some(n) = self.byte(self.pos + 1) else {
            self.pos += 1;
            return Ok(None);
        };
        match n {
            b'{' => {
                self.pos += 2;
                self.enter()?;
                let r = self.read_brace_param(quoted);
                self.leave();
                r.map(Some)
            }
            b'(' if self.byte(self.pos + 2) == Some(b'(') => self.read_arith(quoted).map(Some),
            b'(' => {
                self.pos += 2;
                self.enter()?;
                let r = self.read_cmdsub();
                self.leave();
                let list = r?;
                Ok(Some(Part::CmdSub { list: Rc::new(list), quoted }))
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let start = self.pos + 1;
                let mut end = start;
                while matches!(self.byte(end), Some(c) if c == b'_' || c.is_ascii_alphanumeric()) {
                    end += 1;
                }
                self.pos = end;
                let name = self.s[start..end].to_string();
                Ok(Some(Part::Param { param: Param::Name(name), op: ParamOp::None, quoted }))
            }
            c if c.is_ascii_digit() => {
                self.pos += 2;
                Ok(Some(Part::Param { param: Param::Pos((c - b'0') as usize), op: ParamOp::None, quoted }))
            }
            b'@' | b'*' | b'#' | b'?' | b'-' | b'$' | b'!' => {
                self.pos += 2;
                Ok(Some(Part::Param { param: Param::Special(n), op: ParamOp::None, quoted }))
            }
            _ => {
                self.pos += 1;
                Ok(None)
            }
        }
    }

    fn read_param_name(&mut self) -> PResult<Param> {
        let start = self.pos;
        match self.byte(self.pos) {
            None => Err(Error::Incomplete),
            Some(c) if c == b'_' || c.is_ascii_alphabetic() => {
                while matches!(self.byte(self.pos), Some(c) if c == b'_' || c.is_ascii_alphanumeric()) {
                    self.pos += 1;
                }
                Ok(Param::Name(self.s[start..self.pos].to_string()))
            }
            Some(c) if c.is_ascii_digit() => {
                while matches!(self.byte(self.pos), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
                match self.s[start..self.pos].parse() {
                    Ok(n) => Ok(Param::Pos(n)),
                    Err(_) => syntax("bad substitution"),
                }
            }
            Some(c @ (b'@' | b'*' | b'#' | b'?' | b'-' | b'$' | b'!')) => {
                self.pos += 1;
                Ok(Param::Special(c))
            }
            Some(_) => syntax("bad substitution"),
        }
    }

    /// `${...}` after the brace.
    fn read_brace_param(&mut self, quoted: bool) -> PResult<Part> {
        let is_param_start = |c: Option<u8>| matches!(c, Some(c) if c == b'_' || c.is_ascii_alphanumeric() || b"@*#?-$!".contains(&c));
        if self.byte(self.pos) == Some(b'#')
            && self.byte(self.pos + 1) != Some(b'}')
            && is_param_start(self.byte(self.pos + 1))
        {
            self.pos += 1;
            let param = self.read_param_name()?;
            return match self.byte(self.pos) {
                Some(b'}') => {
                    self.pos += 1;
                    Ok(Part::Param { param, op: ParamOp::Length, quoted })
                }
                None => Err(Error::Incomplete),
                Some(_) => syntax("bad substitution"),
            };
        }
        let param = self.read_param_name()?;
        let colon = self.byte(self.pos) == Some(b':');
        if colon {
            self.pos += 1;
        }
        let Some(c) = self.byte(self.pos) else { return Err(Error::Incomplete) };
        if c == b'}' && !colon {
            self.pos += 1;
            return Ok(Part::Param { param, op: ParamOp::None, quoted });
        }
        let kind = match c {
            b'-' | b'=' | b'+' | b'?' => c,
            b'#' | b'%' if !colon => c,
            _ => return syntax("bad substitution"),
        };
        self.pos += 1;
        let longest = matches!(kind, b'#' | b'%') && self.byte(self.pos) == Some(kind);
        if longest {
            self.pos += 1;
        }
        let word = self.read_word(Mode::Brace, quoted)?;
        // read_word stops only at the brace or fails with Incomplete.
        self.pos += 1;
        let op = match kind {
            b'-' => ParamOp::Default(colon, word),
            b'=' => ParamOp::Assign(colon, word),
            b'+' => ParamOp::Alt(colon, word),
            b'?' => ParamOp::Error(colon, word),
            b'#' => ParamOp::TrimPrefix(longest, word),
            _ => ParamOp::TrimSuffix(longest, word),
        };
        if matches!(op, ParamOp::Assign(..)) && !matches!(param, Param::Name(_)) {
            return syntax("bad substitution");
        }
        Ok(Part::Param { param, op, quoted })
    }

    /// `$(...)` after the parenthesis: a whole list up to `)`.
    fn read_cmdsub(&mut self) -> PResult<List> {
        let saved_hd = self.hd_newline;
        let list = self.list(&[")"])?;
        if !matches!(self.peek()?, Tok::Op(Op::RParen)) {
            return self.unexpected();
        }
        // Take the parenthesis without lexing past it: the word goes on.
        self.peeked = None;
        if saved_hd.is_some() && self.hd_newline.is_none() {
            // A newline inside the substitution took the bodies' place;
            // documents inside `$(...)` spanning lines are not supported.
            return syntax("here-document inside $(...) spanning lines");
        }
        Ok(list)
    }

    /// `$((...))` from the dollar sign.
    fn read_arith(&mut self, quoted: bool) -> PResult<Part> {
        let start = self.pos + 3;
        let mut i = start;
        let mut depth = 0usize;
        loop {
            match self.byte(i) {
                None => return Err(Error::Incomplete),
                Some(b'(') => depth += 1,
                Some(b')') if depth > 0 => depth -= 1,
                Some(b')') => {
                    if self.byte(i + 1) == Some(b')') {
                        break;
                    }
                    if self.byte(i + 1).is_none() {
                        return Err(Error::Incomplete);
                    }
                    return syntax("bad arithmetic expression");
                }
                _ => {}
            }
            i += 1;
        }
        self.enter()?;
        let expr = parse_document_at(&self.s[start..i], self.depth);
        self.leave();
        self.pos = i + 2;
        Ok(Part::Arith { expr: expr?, quoted })
    }

    /// `` `...` `` from the opening backquote.
    fn read_backquote(&mut self, quoted: bool) -> PResult<Part> {
        let mut inner = String::new();
        let mut i = self.pos + 1;
        loop {
            match self.byte(i) {
                None => return Err(Error::Incomplete),
                Some(b'`') => break,
                Some(b'\\') => match self.byte(i + 1) {
                    None => return Err(Error::Incomplete),
                    Some(n @ (b'$' | b'`' | b'\\')) => {
                        inner.push(n as char);
                        i += 2;
                    }
                    Some(b'"') if quoted => {
                        inner.push('"');
                        i += 2;
                    }
                    Some(_) => {
                        inner.push('\\');
                        i += 1;
                    }
                },
                Some(_) => {
                    let ch = self.char_at(i);
                    inner.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        self.pos = i + 1;
        self.enter()?;
        let r = Parser::new(&inner, self.depth).program();
        self.leave();
        match r {
            Ok(list) => Ok(Part::CmdSub { list: Rc::new(list), quoted }),
            Err(Error::Incomplete) => syntax("unterminated construct in `...`"),
            Err(e) => Err(e),
        }
    }

    // ---- the grammar ----

    /// Is the next token the end of the list being read?
    fn at_list_end(&mut self, terms: &[&str]) -> PResult<bool> {
        let nested = !terms.is_empty();
        Ok(match self.peek()? {
            Tok::Eof if nested => return Err(Error::Incomplete),
            Tok::Eof => true,
            Tok::Op(Op::RParen) => terms.contains(&")"),
            Tok::Op(Op::DSemi) => terms.contains(&";;"),
            Tok::Word(w) => w.plain().is_some_and(|p| terms.contains(&p)),
            _ => false,
        })
    }

    /// and-or lists separated by `;`, `&` or newlines, up to one of
    /// `terms` (reserved words, ")" or ";;"), which is left unread.
    fn list(&mut self, terms: &[&str]) -> PResult<List> {
        let mut items = Vec::new();
        loop {
            self.linebreak()?;
            if self.at_list_end(terms)? {
                break;
            }
            let and_or = self.and_or()?;
            match self.peek()? {
                Tok::Op(Op::Semi) | Tok::Newline => {
                    self.next()?;
                    items.push(Item { and_or, background: false });
                }
                Tok::Op(Op::Amp) => {
                    self.next()?;
                    items.push(Item { and_or, background: true });
                }
                _ => {
                    items.push(Item { and_or, background: false });
                    break;
                }
            }
        }
        Ok(List { items })
    }

    /// A list that must not be empty, then the reserved word ending it.
    fn body(&mut self, terms: &[&str]) -> PResult<List> {
        let l = self.list(terms)?;
        if l.items.is_empty() {
            return self.unexpected();
        }
        Ok(l)
    }

    fn text(&self, start: usize) -> String {
        self.s.get(start..self.last_end.max(start)).unwrap_or("").trim().to_string()
    }

    fn and_or(&mut self) -> PResult<AndOr> {
        let start = self.peek_start()?;
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let c = match self.peek()? {
                Tok::Op(Op::AndIf) => Connector::And,
                Tok::Op(Op::OrIf) => Connector::Or,
                _ => break,
            };
            self.next()?;
            self.linebreak()?;
            rest.push((c, self.pipeline()?));
        }
        Ok(AndOr { first, rest, text: self.text(start) })
    }

    fn pipeline(&mut self) -> PResult<Pipeline> {
        let start = self.peek_start()?;
        let timed = self.peek_reserved("time")?;
        if timed {
            self.next()?;
        }
        let negate = self.peek_reserved("!")?;
        if negate {
            self.next()?;
        }
        if timed
            && !negate
            && matches!(
                self.peek()?,
                Tok::Eof
                    | Tok::Newline
                    | Tok::Op(Op::Semi | Op::Amp | Op::AndIf | Op::OrIf | Op::RParen | Op::DSemi)
            )
        {
            return Ok(Pipeline { timed, negate, cmds: Vec::new(), text: self.text(start) });
        }
        let mut cmds = vec![self.command()?];
        while matches!(self.peek()?, Tok::Op(Op::Pipe)) {
            self.next()?;
            self.linebreak()?;
            cmds.push(self.command()?);
        }
        Ok(Pipeline { timed, negate, cmds, text: self.text(start) })
    }

    fn command(&mut self) -> PResult<Command> {
        self.enter()?;
        let r = self.command_inner();
        self.leave();
        r
    }

    fn command_inner(&mut self) -> PResult<Command> {
        let compound = match self.peek()? {
            Tok::Op(Op::LParen) => {
                self.next()?;
                let l = self.body(&[")"])?;
                self.expect_op(Op::RParen)?;
                Compound::Subshell(l)
            }
            Tok::Word(w) => match w.plain() {
                Some("{") => {
                    self.next()?;
                    let l = self.body(&["}"])?;
                    self.expect_reserved("}")?;
                    Compound::Group(l)
                }
                Some("if") => self.if_clause()?,
                Some(k @ ("while" | "until")) => {
                    let until = k == "until";
                    self.next()?;
                    let cond = self.body(&["do"])?;
                    self.expect_reserved("do")?;
                    let body = self.body(&["done"])?;
                    self.expect_reserved("done")?;
                    Compound::Loop { until, cond, body }
                }
                Some("for") => self.for_clause()?,
                Some("case") => self.case_clause()?,
                Some(r) if RESERVED.contains(&r) && !matches!(r, "in") => return self.unexpected(),
                _ => return self.simple_or_function(),
            },
            Tok::IoNum(_) => return self.simple(None),
            Tok::Op(op) if is_redir_op(*op) => return self.simple(None),
            _ => return self.unexpected(),
        };
        let redirs = self.redirs()?;
        Ok(Command::Compound(Box::new(compound), redirs))
    }

    fn if_clause(&mut self) -> PResult<Compound> {
        self.next()?;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.body(&["then"])?;
            self.expect_reserved("then")?;
            let body = self.body(&["elif", "else", "fi"])?;
            arms.push((cond, body));
            if self.peek_reserved("elif")? {
                self.next()?;
                continue;
            }
            if self.peek_reserved("else")? {
                self.next()?;
                otherwise = Some(self.body(&["fi"])?);
            }
            self.expect_reserved("fi")?;
            return Ok(Compound::If { arms, otherwise });
        }
    }

    fn for_clause(&mut self) -> PResult<Compound> {
        self.next()?;
        let var = match self.next()? {
            Tok::Word(w) if w.plain().is_some_and(is_name) => w.plain().unwrap_or_default().to_string(),
            Tok::Eof => return Err(Error::Incomplete),
            t => return syntax(format!("bad for loop variable {}", describe(&t))),
        };
        self.linebreak()?;
        let mut words = None;
        if self.peek_reserved("in")? {
            self.next()?;
            let mut ws = Vec::new();
            loop {
                match self.next()? {
                    Tok::Word(w) => ws.push(w),
                    Tok::Op(Op::Semi) | Tok::Newline => break,
                    Tok::Eof => return Err(Error::Incomplete),
                    t => return syntax(format!("unexpected {}", describe(&t))),
                }
            }
            words = Some(ws);
        } else if matches!(self.peek()?, Tok::Op(Op::Semi)) {
            self.next()?;
        }
        self.linebreak()?;
        self.expect_reserved("do")?;
        let body = self.body(&["done"])?;
        self.expect_reserved("done")?;
        Ok(Compound::For { var, words, body })
    }

    fn case_clause(&mut self) -> PResult<Compound> {
        self.next()?;
        let word = match self.next()? {
            Tok::Word(w) => w,
            Tok::Eof => return Err(Error::Incomplete),
            t => return syntax(format!("unexpected {}", describe(&t))),
        };
        self.linebreak()?;
        self.expect_reserved("in")?;
        let mut arms = Vec::new();
        loop {
            self.linebreak()?;
            if self.peek_reserved("esac")? {
                self.next()?;
                break;
            }
            if matches!(self.peek()?, Tok::Op(Op::LParen)) {
                self.next()?;
            }
            let mut pats = Vec::new();
            loop {
                match self.next()? {
                    Tok::Word(w) => pats.push(w),
                    Tok::Eof => return Err(Error::Incomplete),
                    t => return syntax(format!("unexpected {} in case pattern", describe(&t))),
                }
                if matches!(self.peek()?, Tok::Op(Op::Pipe)) {
                    self.next()?;
                } else {
                    break;
                }
            }
            self.expect_op(Op::RParen)?;
            let body = self.list(&[";;", "esac"])?;
            arms.push((pats, body));
            if matches!(self.peek()?, Tok::Op(Op::DSemi)) {
                self.next()?;
                continue;
            }
            self.expect_reserved("esac")?;
            break;
        }
        Ok(Compound::Case { word, arms })
    }

    fn simple_or_function(&mut self) -> PResult<Command> {
        let Tok::Word(first) = self.next()? else { return self.unexpected() };
        if matches!(self.peek()?, Tok::Op(Op::LParen))
            && let Some(name) = first.plain().filter(|n| is_name(n))
        {
            let name = name.to_string();
            self.next()?;
            self.expect_op(Op::RParen)?;
            self.linebreak()?;
            let body = self.command()?;
            if !matches!(body, Command::Compound(..)) {
                return syntax(format!("function {name}: the body must be a compound command"));
            }
            return Ok(Command::FuncDef(name, Rc::new(body)));
        }
        self.simple(Some(first))
    }

    fn simple(&mut self, first: Option<Word>) -> PResult<Command> {
        let mut sc = Simple::default();
        let add = |sc: &mut Simple, w: Word| {
            if sc.words.is_empty()
                && let Some(a) = split_assignment(&w)
            {
                sc.assigns.push(a);
            } else {
                sc.words.push(w);
            }
        };
        if let Some(w) = first {
            add(&mut sc, w);
        }
        loop {
            match self.peek()? {
                Tok::Word(_) => {
                    let Tok::Word(w) = self.next()? else { unreachable!() };
                    add(&mut sc, w);
                }
                Tok::IoNum(_) => sc.redirs.push(self.redir()?),
                Tok::Op(op) if is_redir_op(*op) => sc.redirs.push(self.redir()?),
                _ => break,
            }
        }
        if sc.words.is_empty() && sc.assigns.is_empty() && sc.redirs.is_empty() {
            return self.unexpected();
        }
        Ok(Command::Simple(sc))
    }

    fn redirs(&mut self) -> PResult<Vec<Redir>> {
        let mut v = Vec::new();
        while match self.peek()? {
            Tok::IoNum(_) => true,
            Tok::Op(op) => is_redir_op(*op),
            _ => false,
        } {
            v.push(self.redir()?);
        }
        Ok(v)
    }

    fn redir(&mut self) -> PResult<Redir> {
        let fd = match self.peek()? {
            Tok::IoNum(n) => {
                let n = *n;
                self.next()?;
                Some(n)
            }
            _ => None,
        };
        let op = match self.next()? {
            Tok::Op(op) if is_redir_op(op) => op,
            Tok::Eof => return Err(Error::Incomplete),
            t => return syntax(format!("unexpected {}", describe(&t))),
        };
        let (dflt, rop) = match op {
            Op::Less => (0, RedirOp::In),
            Op::Great | Op::Clobber => (1, RedirOp::Out),
            Op::DGreat => (1, RedirOp::Append),
            Op::LessGreat => (0, RedirOp::ReadWrite),
            Op::LessAnd => (0, RedirOp::DupIn),
            Op::GreatAnd => (1, RedirOp::DupOut),
            _ => (0, RedirOp::HereDoc),
        };
        let target = match self.peek()? {
            Tok::Word(_) => {
                let Tok::Word(w) = self.next()? else { unreachable!() };
                w
            }
            Tok::Eof => return Err(Error::Incomplete),
            t => return syntax(format!("unexpected {} after '{}'", describe(t), op_text(op))),
        };
        let target = if rop == RedirOp::HereDoc {
            self.heredoc(&target.unquoted_text(), op == Op::DLessDash, target.has_quotes())?
        } else {
            target
        };
        Ok(Redir { fd: fd.unwrap_or(dflt), op: rop, target })
    }

    /// Read a here-document's body from the lines after the current one
    /// (or after the bodies already read for it).
    fn heredoc(&mut self, delim: &str, strip_tabs: bool, quoted: bool) -> PResult<Word> {
        let start = match self.hd_newline {
            Some(_) => self.hd_end,
            None => {
                let Some(nl) = self.b[self.pos..].iter().position(|&c| c == b'\n') else {
                    return Err(Error::Incomplete);
                };
                self.hd_newline = Some(self.pos + nl);
                self.pos + nl + 1
            }
        };
        let mut p = start;
        let mut body = String::new();
        loop {
            if p >= self.b.len() {
                return Err(Error::Incomplete);
            }
            let (line, next) = match self.b[p..].iter().position(|&c| c == b'\n') {
                Some(n) => (&self.s[p..p + n], p + n + 1),
                None => (&self.s[p..], self.b.len()),
            };
            let line = if strip_tabs { line.trim_start_matches('\t') } else { line };
            if line == delim {
                p = next;
                break;
            }
            if next == self.b.len() && !self.s.ends_with('\n') {
                // The last line, unterminated, is not the delimiter.
                return Err(Error::Incomplete);
            }
            body.push_str(line);
            body.push('\n');
            p = next;
        }
        self.hd_end = p;
        if quoted {
            return Ok(Word { parts: vec![Part::Quoted(body)] });
        }
        self.enter()?;
        let r = parse_document_at(&body, self.depth);
        self.leave();
        r
    }
}

/// `NAME=value` as (NAME, value) if the word is an assignment.
fn split_assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit(s)) = w.parts.first() else { return None };
    let eq = s.find('=')?;
    if !is_name(&s[..eq]) {
        return None;
    }
    let mut parts = Vec::new();
    if eq + 1 < s.len() {
        parts.push(Part::Lit(s[eq + 1..].to_string()));
    }
    parts.extend(w.parts[1..].iter().cloned());
    Some((s[..eq].to_string(), Word { parts }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn p(s: &str) -> List {
        match parse(s) {
            Ok(l) => l,
            Err(e) => panic!("{s:?}: {e:?}"),
        }
    }

    fn err(s: &str) -> Error {
        parse(s).expect_err(s)
    }

    fn simple(l: &List, i: usize) -> &Simple {
        match &l.items[i].and_or.first.cmds[0] {
            Command::Simple(s) => s,
            c => panic!("not simple: {c:?}"),
        }
    }

    fn lit(s: &str) -> Part {
        Part::Lit(s.into())
    }
    fn q(s: &str) -> Part {
        Part::Quoted(s.into())
    }

    #[test]
    fn words_and_lists() {
        let l = p("echo a  b;ls -l & cat\n");
        assert_eq!(l.items.len(), 3);
        assert_eq!(simple(&l, 0).words, [Word::lit("echo"), Word::lit("a"), Word::lit("b")]);
        assert!(l.items[1].background && !l.items[0].background);
        assert_eq!(l.items[1].and_or.text, "ls -l");
        assert_eq!(p("").items.len(), 0);
        assert_eq!(p("\n\n  # only a comment\n").items.len(), 0);
        let l = p("echo a#b # c");
        assert_eq!(simple(&l, 0).words[1], Word::lit("a#b"));
        assert_eq!(simple(&l, 0).words.len(), 2);
    }

    #[test]
    fn and_or_pipelines() {
        let l = p("a | b | c && ! d || time e f");
        let ao = &l.items[0].and_or;
        assert_eq!(ao.first.cmds.len(), 3);
        assert_eq!(ao.first.text, "a | b | c");
        assert_eq!(ao.rest.len(), 2);
        assert_eq!(ao.rest[0].0, Connector::And);
        assert!(ao.rest[0].1.negate);
        assert!(ao.rest[1].1.timed);
        assert_eq!(ao.rest[1].1.text, "time e f");
        assert_eq!(ao.text, "a | b | c && ! d || time e f");
        // Operators continue onto the next line.
        assert_eq!(p("a &&\n\n b |\n c").items.len(), 1);
        assert!(p("time").items[0].and_or.first.cmds.is_empty());
    }

    #[test]
    fn quoting() {
        let l = p(r#"echo 'a b' "c $x d" \$y e\ f "" '' "\"\\\a""#);
        let w = &simple(&l, 0).words;
        assert_eq!(w[1].parts, [q("a b")]);
        assert_eq!(
            w[2].parts,
            [
                q("c "),
                Part::Param { param: Param::Name("x".into()), op: ParamOp::None, quoted: true },
                q(" d")
            ]
        );
        assert_eq!(w[3].parts, [q("$"), lit("y")]);
        assert_eq!(w[4].parts, [lit("e"), q(" "), lit("f")]);
        assert_eq!(w[5].parts, [q("")]);
        assert_eq!(w[6].parts, [q("")]);
        assert_eq!(w[7].parts, [q("\"\\\\a")]);
        // "$@" alone has no empty quoted part (it may be no field at all).
        let l = p(r#"x "$@""#);
        assert_eq!(simple(&l, 0).words[1].parts.len(), 1);
        // A backslash-newline joins lines, inside words too.
        let l = p("ec\\\nho a\\\n b");
        assert_eq!(simple(&l, 0).words, [Word::lit("echo"), Word::lit("a"), Word::lit("b")]);
        // Multibyte characters survive escapes and quotes.
        let l = p("echo \\é 'ü' \"ß\" ñ");
        let w = &simple(&l, 0).words;
        assert_eq!(w[1].parts, [q("é")]);
        assert_eq!(w[4].parts, [lit("ñ")]);
    }

    #[test]
    fn parameters() {
        let l = p("echo $a$1$10 ${10} $? $$ $# $@ $* $! $- $0 ${#x} ${x:-d e} ${y#*/} ${z%%.?} $ $/ ${#}");
        let w = &simple(&l, 0).words;
        let par = |w: &Word, i: usize| match &w.parts[i] {
            Part::Param { param, op, .. } => (param.clone(), op.clone()),
            p => panic!("{p:?}"),
        };
        assert_eq!(par(&w[1], 0).0, Param::Name("a".into()));
        assert_eq!(par(&w[1], 1).0, Param::Pos(1));
        assert_eq!(par(&w[1], 2).0, Param::Pos(1));
        assert_eq!(w[1].parts[3], lit("0"));
        assert_eq!(par(&w[2], 0).0, Param::Pos(10));
        assert_eq!(par(&w[3], 0).0, Param::Special(b'?'));
        assert_eq!(par(&w[11], 0).1, ParamOp::Length);
        assert_eq!(par(&w[12], 0).1, ParamOp::Default(true, Word { parts: vec![lit("d e")] }));
        assert!(matches!(par(&w[13], 0).1, ParamOp::TrimPrefix(false, _)));
        assert!(matches!(par(&w[14], 0).1, ParamOp::TrimSuffix(true, _)));
        assert_eq!(w[15].parts, [lit("$")]);
        assert_eq!(w[16].parts, [lit("$/")]);
        assert_eq!(par(&w[17], 0).0, Param::Special(b'#'));
        assert_eq!(err("echo ${a b}"), Error::Syntax("bad substitution".into()));
        assert_eq!(err("echo ${1=x}"), Error::Syntax("bad substitution".into()));
        assert_eq!(err("echo ${"), Error::Incomplete);
        assert_eq!(err("echo ${a:-x"), Error::Incomplete);
        // Nested.
        let l = p("echo ${a:-${b:-\"c}\"}}");
        assert_eq!(simple(&l, 0).words.len(), 2);
    }

    #[test]
    fn substitutions() {
        let l = p("echo $(ls | wc -l) `date` \"$(echo \")\")\" $((1 + $x * (2)))");
        let w = &simple(&l, 0).words;
        match &w[1].parts[0] {
            Part::CmdSub { list, quoted: false } => assert_eq!(list.items[0].and_or.first.cmds.len(), 2),
            p => panic!("{p:?}"),
        }
        assert!(matches!(&w[2].parts[0], Part::CmdSub { quoted: false, .. }));
        assert!(matches!(&w[3].parts[0], Part::CmdSub { quoted: true, .. }));
        match &w[4].parts[0] {
            Part::Arith { expr, .. } => assert_eq!(expr.parts.len(), 3),
            p => panic!("{p:?}"),
        }
        assert_eq!(simple(&l, 0).words.len(), 5);
        // A case inside $( ) with its own parentheses.
        let l = p("x=$(case a in a) echo y;; esac)");
        assert_eq!(simple(&l, 0).assigns.len(), 1);
        assert_eq!(err("echo $(echo"), Error::Incomplete);
        assert_eq!(err("echo `echo"), Error::Incomplete);
        assert_eq!(err("echo $((1+2)"), Error::Incomplete);
        assert!(matches!(err("echo `(`"), Error::Syntax(_)));
    }

    #[test]
    fn assignments_and_redirections() {
        let l = p("A=1 B=\"x y\" cmd C=2 2>err >out <in 3>>app 2>&1 4<&- <>rw >|clob a=");
        let s = simple(&l, 0);
        assert_eq!(s.assigns.len(), 2);
        assert_eq!(s.assigns[0], ("A".into(), Word::lit("1")));
        assert_eq!(s.assigns[1].1.parts, [q("x y")]);
        assert_eq!(s.words, [Word::lit("cmd"), Word::lit("C=2"), Word::lit("a=")]);
        let r: Vec<(i32, RedirOp, Option<&str>)> =
            s.redirs.iter().map(|r| (r.fd, r.op, r.target.plain())).collect();
        assert_eq!(
            r,
            [
                (2, RedirOp::Out, Some("err")),
                (1, RedirOp::Out, Some("out")),
                (0, RedirOp::In, Some("in")),
                (3, RedirOp::Append, Some("app")),
                (2, RedirOp::DupOut, Some("1")),
                (4, RedirOp::DupIn, Some("-")),
                (0, RedirOp::ReadWrite, Some("rw")),
                (1, RedirOp::Out, Some("clob")),
            ]
        );
        // Only an assignment, only a redirection.
        assert_eq!(simple(&p("X=y"), 0).assigns.len(), 1);
        assert_eq!(simple(&p(">f"), 0).redirs.len(), 1);
        // A number not touching the operator is an argument.
        assert_eq!(simple(&p("echo 2 >f"), 0).words.len(), 2);
        assert!(matches!(err("echo >"), Error::Incomplete));
        assert!(matches!(err("echo >\n"), Error::Syntax(_)));
        assert!(matches!(err("echo > ;"), Error::Syntax(_)));
    }

    #[test]
    fn here_documents() {
        let l = p("cat <<EOF; echo after\nline $x\n\\$y\nEOF\necho next\n");
        assert_eq!(l.items.len(), 3);
        let s = simple(&l, 0);
        assert_eq!(s.redirs[0].op, RedirOp::HereDoc);
        let parts = &s.redirs[0].target.parts;
        assert_eq!(parts[0], q("line "));
        assert!(matches!(parts[1], Part::Param { quoted: true, .. }));
        assert_eq!(parts[2], q("\n"));
        assert_eq!(parts[3], q("$"));
        assert_eq!(parts[4], q("y\n"));
        // Quoted delimiter: no expansion; <<- strips tabs; two on a line.
        let l = p("cat <<'E' <<-F\n$x\nE\n\tb\n\tF\n");
        let s = simple(&l, 0);
        assert_eq!(s.redirs[0].target.parts, [q("$x\n")]);
        assert_eq!(s.redirs[1].target.parts, [q("b\n")]);
        assert_eq!(l.items.len(), 1);
        assert_eq!(err("cat <<EOF\nabc\n"), Error::Incomplete);
        assert_eq!(err("cat <<EOF"), Error::Incomplete);
        // The last line may lack its newline.
        assert_eq!(p("cat <<E\nx\nE").items.len(), 1);
    }

    #[test]
    fn compound_commands() {
        let l = p("if a; then b; elif c\nthen d; else e; fi >out");
        match &l.items[0].and_or.first.cmds[0] {
            Command::Compound(c, r) => {
                assert!(matches!(&**c, Compound::If { arms, otherwise: Some(_) } if arms.len() == 2));
                assert_eq!(r.len(), 1);
            }
            c => panic!("{c:?}"),
        }
        let l = p("while a; do b; done; until a\ndo b\ndone");
        assert_eq!(l.items.len(), 2);
        let l = p("for i in 1 2 3; do echo $i; done; for j do :; done; for k\ndo :; done");
        assert!(matches!(
            &l.items[0].and_or.first.cmds[0],
            Command::Compound(c, _) if matches!(&**c, Compound::For { words: Some(w), .. } if w.len() == 3)
        ));
        assert!(matches!(
            &l.items[1].and_or.first.cmds[0],
            Command::Compound(c, _) if matches!(&**c, Compound::For { words: None, .. })
        ));
        let l = p("case $x in a|b) echo ab;; (c) ;; *) echo other\nesac");
        match &l.items[0].and_or.first.cmds[0] {
            Command::Compound(c, _) => match &**c {
                Compound::Case { arms, .. } => {
                    assert_eq!(arms.len(), 3);
                    assert_eq!(arms[0].0.len(), 2);
                }
                c => panic!("{c:?}"),
            },
            c => panic!("{c:?}"),
        }
        assert_eq!(p("case x in esac").items.len(), 1);
        assert_eq!(p("(a; b) | { c; d; }").items[0].and_or.first.cmds.len(), 2);
        assert!(
            matches!(&p("f() { echo hi; }").items[0].and_or.first.cmds[0], Command::FuncDef(n, _) if n == "f")
        );
        // Reserved words are plain arguments after a command name.
        assert_eq!(simple(&p("echo if then fi }"), 0).words.len(), 5);
    }

    #[test]
    fn incomplete_and_errors() {
        for s in [
            "echo 'abc",
            "echo \"abc",
            "echo abc\\",
            "a &&",
            "a |",
            "a ||\n",
            "if a",
            "if a; then b",
            "while a; do",
            "for i in a b",
            "case x in a)",
            "{ a",
            "( a",
            "f() ",
        ] {
            assert_eq!(err(s), Error::Incomplete, "{s:?}");
        }
        for (s, m) in [
            (")", "unexpected ')'"),
            ("fi", "unexpected 'fi'"),
            ("a; ;", "unexpected ';'"),
            ("a && ;", "unexpected ';'"),
            ("| a", "unexpected '|'"),
            ("if; then a; fi", "unexpected ';'"),
            ("{ }", "unexpected '}'"),
            ("echo a (", "unexpected '('"),
            ("echo a )", "unexpected ')'"),
            (";;", "unexpected ';;'"),
            ("if a; then b; fi c", "unexpected 'c'"),
        ] {
            assert_eq!(err(s), Error::Syntax(m.into()), "{s:?}");
        }
        assert!(matches!(err("f() echo"), Error::Syntax(_)));
        assert!(matches!(err("for 1 in a; do :; done"), Error::Syntax(_)));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "(".repeat(10_000);
        assert_eq!(err(&deep), Error::Syntax("nesting too deep".into()));
        let deep = "$(".repeat(10_000);
        assert_eq!(err(&format!("echo {deep}")), Error::Syntax("nesting too deep".into()));
        let deep = "${a:-".repeat(10_000);
        assert_eq!(err(&format!("echo {deep}")), Error::Syntax("nesting too deep".into()));
        let ok = format!("{}a{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(p(&ok).items.len(), 1);
    }

    /// A small deterministic generator for the fuzz tests.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    pub const PIECES: &[&str] = &[
        " ", "\n", ";", "&", "|", "&&", "||", "(", ")", "{", "}", "<", ">", ">>", "2>&1", "<<", "<<-", "EOF",
        "'", "\"", "\\", "$", "${", "}", "$(", "`", "$((", "))", "#", "a", "x=1", "if", "then", "fi",
        "while", "do", "done", "for", "in", "case", "esac", ";;", "!", "time", "echo", "é", "*", "?", "[",
        "]", "~", ":-", "%%", "##", "$@", "\t", "0", "9",
    ];

    #[test]
    fn fuzz_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let n = rng.below(24);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(PIECES[rng.below(PIECES.len())]);
            }
            let _ = parse(&s);
            let _ = parse_document(&s);
        }
        // Arbitrary bytes, made text the way the reader does.
        for _ in 0..5_000 {
            let n = rng.below(40);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse(&s);
        }
    }
}
