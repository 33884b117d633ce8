//! /bin/pwd [-LP]: print the current directory. oxbsd has no symbolic
//! links, so the logical (-L) and physical (-P) paths are the same.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;

rt::entry!(main);

const USAGE: &str = "pwd [-LP]";

fn main(args: &Args) -> i32 {
    let argv = common::operands(args);
    let mut opts = common::Getopt::new(&argv, "LP");
    for o in opts.by_ref() {
        if let Err(e) = o {
            return common::bad_option(e, USAGE);
        }
    }
    if !opts.operands().is_empty() {
        return common::usage(USAGE);
    }
    let mut buf = [0u8; sys::fcntl::PATH_MAX];
    match rt::getcwd(&mut buf) {
        Ok(path) => {
            println!("{path}");
            0
        }
        Err(e) => {
            common::warn("getcwd", e);
            1
        }
    }
}
