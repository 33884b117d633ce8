//! The syntax tree the parser builds and the executor walks.
//!
//! Words keep their quoting (which parts came from quotes, which are
//! expansions) because field splitting, pathname expansion and pattern
//! matching all depend on it; quote removal happens during expansion.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// A sequence of and-or lists, as separated by `;`, `&` and newlines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    pub items: Vec<Item>,
}

/// One and-or list and whether it runs in the background (`&`).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub and_or: AndOr,
    pub background: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// `p1 && p2 || p3 ...`; `text` is the source, shown by `jobs`.
#[derive(Clone, Debug, PartialEq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
    pub text: String,
}

/// `[time] [!] c1 | c2 | ...`. A bare `time` has no commands.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub timed: bool,
    pub negate: bool,
    pub cmds: Vec<Command>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Simple(Simple),
    Compound(Box<Compound>, Vec<Redir>),
    /// `name() body`: the body is shared with the function table, which
    /// outlives the line it was parsed from.
    FuncDef(String, Rc<Command>),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Compound {
    /// `( list )`
    Subshell(List),
    /// `{ list; }`
    Group(List),
    /// `if c1; then b1; elif c2; then b2; else e; fi`
    If { arms: Vec<(List, List)>, otherwise: Option<List> },
    /// `while c; do b; done`, or `until` when `until` is set.
    Loop { until: bool, cond: List, body: List },
    /// `for name [in words]; do body; done`; None iterates over "$@".
    For { var: String, words: Option<Vec<Word>>, body: List },
    /// `case word in pat|pat) list;; ... esac`
    Case { word: Word, arms: Vec<(Vec<Word>, List)> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`
    In,
    /// `>` and `>|`
    Out,
    /// `>>`
    Append,
    /// `<>`
    ReadWrite,
    /// `<&`
    DupIn,
    /// `>&`
    DupOut,
    /// `<<` and `<<-`; the target is the document's body.
    HereDoc,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Redir {
    pub fd: i32,
    pub op: RedirOp,
    pub target: Word,
}

/// A word: parts concatenated into one or more fields by expansion.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Word {
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Unquoted text: subject to pathname expansion (and `~` at the start).
    Lit(String),
    /// Text from quotes or a backslash escape: taken as it is.
    Quoted(String),
    /// `$name`, `${...}`; `quoted` inside double quotes (no splitting).
    Param { param: Param, op: ParamOp, quoted: bool },
    /// `$(...)` or backquotes.
    CmdSub { list: Rc<List>, quoted: bool },
    /// `$((...))`: the expression, itself expanded before it is evaluated.
    Arith { expr: Word, quoted: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Name(String),
    /// `$0`..`$9`, `${10}`...
    Pos(usize),
    /// One of `@ * # ? - $ !`.
    Special(u8),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamOp {
    None,
    /// `${#name}`
    Length,
    /// `${name-word}`, `${name:-word}` (colon: empty counts as unset).
    Default(bool, Word),
    /// `${name=word}`, `${name:=word}`
    Assign(bool, Word),
    /// `${name+word}`, `${name:+word}`
    Alt(bool, Word),
    /// `${name?word}`, `${name:?word}`
    Error(bool, Word),
    /// `${name#pat}` (false) and `${name##pat}` (true: longest)
    TrimPrefix(bool, Word),
    /// `${name%pat}` and `${name%%pat}`
    TrimSuffix(bool, Word),
}

impl Word {
    #[cfg(test)]
    pub fn lit(s: &str) -> Word {
        Word { parts: alloc::vec![Part::Lit(String::from(s))] }
    }

    /// The text if the word is plain unquoted literal text (reserved
    /// words, names, function names are only recognised then).
    pub fn plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// True if any part is quoted or escaped (a here-document delimiter
    /// written so turns off expansion in the body).
    pub fn has_quotes(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// The text with quotes removed and expansions left as written,
    /// for here-document delimiters.
    pub fn unquoted_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(t) | Part::Quoted(t) => s.push_str(t),
                Part::Param { param, .. } => {
                    s.push('$');
                    match param {
                        Param::Name(n) => s.push_str(n),
                        Param::Pos(n) => s.push_str(&alloc::format!("{n}")),
                        Param::Special(c) => s.push(*c as char),
                    }
                }
                Part::CmdSub { .. } | Part::Arith { .. } => {}
            }
        }
        s
    }
}
