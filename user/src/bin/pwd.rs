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
    match common::getopt(args, "LP", USAGE, |_, _| {}) {
        Ok(rest) if rest.is_empty() => {}
        Ok(_) => return common::usage(USAGE),
        Err(status) => return status,
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
