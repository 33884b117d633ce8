//! /bin/uname [-amnrsv]: print system names, in the order sysname,
//! nodename, release, version, machine (-a: all of them; none: -s), from
//! kern.ostype, kern.hostname, kern.osrelease, kern.version and
//! hw.machine.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;
use rt::sysctl::sysctl_string;
use sys::sysctl::{CTL_HW, CTL_KERN, HW_MACHINE, KERN_HOSTNAME, KERN_OSRELEASE, KERN_OSTYPE, KERN_VERSION};

rt::entry!(main);

const USAGE: &str = "uname [-amnrsv]";

/// The fields in output order: option letter, sysctl name (for errors),
/// MIB.
const FIELDS: [(char, &str, [i32; 2]); 5] = [
    ('s', "kern.ostype", [CTL_KERN, KERN_OSTYPE]),
    ('n', "kern.hostname", [CTL_KERN, KERN_HOSTNAME]),
    ('r', "kern.osrelease", [CTL_KERN, KERN_OSRELEASE]),
    ('v', "kern.version", [CTL_KERN, KERN_VERSION]),
    ('m', "hw.machine", [CTL_HW, HW_MACHINE]),
];

fn main(args: &Args) -> i32 {
    let mut want = String::new();
    let each = |c, _| match c {
        'a' => want.push_str("snrvm"),
        c => want.push(c),
    };
    match common::getopt(args, "amnrsv", USAGE, each) {
        Ok(rest) if rest.is_empty() => {}
        Ok(_) => return common::usage(USAGE),
        Err(status) => return status,
    }
    if want.is_empty() {
        want.push('s');
    }
    let mut status = 0;
    let mut words = Vec::new();
    for (c, name, mib) in FIELDS {
        if !want.contains(c) {
            continue;
        }
        match sysctl_string(&mib) {
            Ok(v) if c == 'v' => words.push(short_version(&v)),
            Ok(v) => words.push(v),
            Err(e) => {
                common::warn(name, e);
                words.push("unknown".to_string());
                status = 1;
            }
        }
    }
    println!("{}", words.join(" "));
    status
}

/// What uname -v shows of kern.version, as OpenBSD's uname(3) derives
/// it: from "oxbsd 0.1 (GENERIC) #3: Sat Nov 21 ..." the "GENERIC#3";
/// any other text: its first line, tabs as spaces.
fn short_version(v: &str) -> String {
    let line = v.lines().next().unwrap_or("").trim();
    let conf = line.split_once('(').and_then(|(_, r)| r.split_once(')'));
    if let Some((conf, after)) = conf
        && let Some(num) = after.trim_start().strip_prefix('#')
    {
        let num = num.split(|c: char| c == ':' || c.is_whitespace()).next().unwrap_or("");
        return format!("{conf}#{num}");
    }
    line.replace('\t', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            short_version("OpenBSD 7.6 (GENERIC.MP) #338: Mon Sep 30 08:55:35 MDT 2024\n    x@y:/sys\n"),
            "GENERIC.MP#338"
        );
        assert_eq!(short_version("oxbsd 0.1 (GENERIC) #1\n"), "GENERIC#1");
        assert_eq!(short_version("oxbsd 0.1\tbuilt today\nsecond line\n"), "oxbsd 0.1 built today");
        assert_eq!(short_version("odd (thing) without number"), "odd (thing) without number");
        assert_eq!(short_version(""), "");
    }
}
