//! /bin/cat [file ...]: copy each file, or standard input for "-" or when
//! there is none, to standard output. A file that cannot be read is
//! reported and skipped; the status is then 1. A failed write ends it.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use common::{CopyError, copy_fd, warn};
use rt::prelude::*;
use sys::fcntl::O_RDONLY;

rt::entry!(main);

const USAGE: &str = "cat [file ...]";

fn main(args: &Args) -> i32 {
    let files = match common::getopt(args, "", USAGE, |_, _| {}) {
        Ok(f) if f.is_empty() => vec!["-"],
        Ok(f) => f,
        Err(status) => return status,
    };
    let mut status = 0;
    for name in files {
        let fd = if name == "-" {
            0
        } else {
            match rt::open(name, O_RDONLY, 0) {
                Ok(fd) => fd,
                Err(e) => {
                    warn(name, e);
                    status = 1;
                    continue;
                }
            }
        };
        let r = copy_fd(fd, 1);
        if fd != 0 {
            let _ = rt::close(fd);
        }
        match r {
            Ok(()) => {}
            Err(CopyError::Read(e)) => {
                warn(if name == "-" { "stdin" } else { name }, e);
                status = 1;
            }
            Err(CopyError::Write(e)) => {
                warn("stdout", e);
                return 1;
            }
        }
    }
    status
}
