//! /sbin/sysctl [-an] [name[=value] ...]: print (or set) kernel state.
//!
//! `sysctl hw.ncpu` prints `hw.ncpu=4`; -n prints the value alone; a
//! top-level name (`sysctl kern`) prints everything under it; no names, or
//! -a, prints everything this program knows. `name=value` asks the kernel
//! to set it (oxbsd's are all read-only so far) and prints
//! `name: old -> new`. Unknown names are reported OpenBSD's way
//! ("top-level name x in x.y is invalid"), with status 1.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;
use sys::sysctl::*;

rt::entry!(main);

const USAGE: &str = "sysctl [-an] [name[=value] ...]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A NUL-terminated string.
    Str,
    /// A C int.
    Int,
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    name: &'static str,
    mib: [i32; 2],
    kind: Kind,
}

const fn node(name: &'static str, top: i32, second: i32, kind: Kind) -> Node {
    Node { name, mib: [top, second], kind }
}

/// Every name this program knows, in the order `sysctl -a` prints them.
const NODES: &[Node] = &[
    node("kern.ostype", CTL_KERN, KERN_OSTYPE, Kind::Str),
    node("kern.osrelease", CTL_KERN, KERN_OSRELEASE, Kind::Str),
    node("kern.version", CTL_KERN, KERN_VERSION, Kind::Str),
    node("kern.hostname", CTL_KERN, KERN_HOSTNAME, Kind::Str),
    node("kern.exit", CTL_KERN, KERN_EXIT, Kind::Str),
    node("kern.cmdline", CTL_KERN, KERN_CMDLINE, Kind::Str),
    node("hw.machine", CTL_HW, HW_MACHINE, Kind::Str),
    node("hw.ncpu", CTL_HW, HW_NCPU, Kind::Int),
];

const TOP_LEVEL: &[&str] = &["kern", "hw"];

fn main(args: &Args) -> i32 {
    let (mut all, mut bare) = (false, false);
    let each = |c, _| match c {
        'a' => all = true,
        _ => bare = true,
    };
    let names = match common::getopt(args, "an", USAGE, each) {
        Ok(n) => n,
        Err(status) => return status,
    };
    if all || names.is_empty() {
        if !names.is_empty() {
            return common::usage(USAGE);
        }
        for n in NODES {
            show(n, bare, true);
        }
        return 0;
    }
    let mut status = 0;
    for arg in names {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        let nodes = match lookup(name) {
            Ok(n) => n,
            Err(msg) => {
                common::warnx(format_args!("{msg}"));
                status = 1;
                continue;
            }
        };
        let ok = match (value, nodes.as_slice()) {
            (None, [one]) => show(one, bare, false),
            // A whole level: print what is there, quietly skip the rest.
            (None, many) => {
                for n in many {
                    show(n, bare, true);
                }
                true
            }
            (Some(v), [one]) => set(one, v, bare),
            (Some(_), _) => {
                common::warnx(format_args!("{name}: cannot set a whole level"));
                false
            }
        };
        if !ok {
            status = 1;
        }
    }
    status
}

/// The nodes `name` stands for: one leaf, or every leaf of a top-level
/// name. Err is the complaint, in OpenBSD's words.
fn lookup(name: &str) -> core::result::Result<Vec<&'static Node>, String> {
    let mut comps = name.split('.');
    let top = comps.next().unwrap_or("");
    if !TOP_LEVEL.contains(&top) {
        return Err(format!("top-level name {top} in {name} is invalid"));
    }
    let Some(second) = comps.next() else {
        return Ok(NODES.iter().filter(|n| n.name.split('.').next() == Some(top)).collect());
    };
    let Some(node) =
        NODES.iter().find(|n| n.name.strip_prefix(top).and_then(|r| r.strip_prefix('.')) == Some(second))
    else {
        return Err(format!("second level name {second} in {name} is invalid"));
    };
    if let Some(third) = comps.next() {
        return Err(format!("third level name {third} in {name} is invalid"));
    }
    Ok(vec![node])
}

/// The node's value as text.
fn read(n: &Node) -> Result<String> {
    match n.kind {
        Kind::Str => rt::sysctl::sysctl_string(&n.mib).map(|s| s.trim_end_matches('\n').to_string()),
        Kind::Int => rt::sysctl::sysctl_read::<i32>(&n.mib).map(|v| v.to_string()),
    }
}

/// Print `name=value` (or the value alone). With `quiet`, a value the
/// kernel does not have is skipped silently (listing a level).
fn show(n: &Node, bare: bool, quiet: bool) -> bool {
    match read(n) {
        Ok(v) if bare => println!("{v}"),
        Ok(v) => println!("{}={v}", n.name),
        Err(Errno::ENOENT) if quiet => {}
        Err(e) => {
            complain(n, e);
            return false;
        }
    }
    true
}

fn complain(n: &Node, e: Errno) {
    if e == Errno::ENOENT {
        common::warnx(format_args!("{}: value is not available", n.name));
    } else {
        common::warn(n.name, e);
    }
}

/// Set `n` to `value` and print `name: old -> new`.
fn set(n: &Node, value: &str, bare: bool) -> bool {
    let new: Vec<u8> = match n.kind {
        Kind::Str => value.as_bytes().to_vec(),
        Kind::Int => match value.parse::<i32>() {
            Ok(v) => v.to_ne_bytes().to_vec(),
            Err(_) => {
                common::warnx(format_args!("{}: {value}: invalid integer", n.name));
                return false;
            }
        },
    };
    let old = match read(n) {
        Ok(v) => v,
        Err(e) => {
            complain(n, e);
            return false;
        }
    };
    if let Err(e) = rt::sysctl(&n.mib, None, Some(&new)) {
        complain(n, e);
        return false;
    }
    if bare {
        println!("{value}");
    } else {
        println!("{}: {old} -> {value}", n.name);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(lookup("hw.ncpu").unwrap(), [&NODES[7]]);
        assert_eq!(lookup("kern.exit").unwrap()[0].mib, [CTL_KERN, KERN_EXIT]);
        assert_eq!(lookup("hw").unwrap().len(), 2);
        assert_eq!(lookup("kern").unwrap().len(), 6);
        assert_eq!(lookup("foo").unwrap_err(), "top-level name foo in foo is invalid");
        assert_eq!(lookup("foo.bar").unwrap_err(), "top-level name foo in foo.bar is invalid");
        assert_eq!(lookup("kern.foo").unwrap_err(), "second level name foo in kern.foo is invalid");
        assert_eq!(lookup("hw.ostype").unwrap_err(), "second level name ostype in hw.ostype is invalid");
        assert_eq!(lookup("kern.exit.x").unwrap_err(), "third level name x in kern.exit.x is invalid");
        assert_eq!(lookup("").unwrap_err(), "top-level name  in  is invalid");
    }

    #[test]
    fn table_is_consistent() {
        for n in NODES {
            let top = n.name.split('.').next().unwrap();
            assert!(TOP_LEVEL.contains(&top), "{}", n.name);
            assert_eq!(n.mib[0], if top == "kern" { CTL_KERN } else { CTL_HW }, "{}", n.name);
            assert_eq!(lookup(n.name).unwrap(), [n]);
        }
    }
}
