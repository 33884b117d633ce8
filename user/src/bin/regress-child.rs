//! /bin/regress-child: the program /bin/regress execs to check what a new
//! image receives (argv, envp, which descriptors survive). The modes and
//! exit codes are in `regress/proto.rs`, shared with regress.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "regress/proto.rs"]
mod proto;

use rt::prelude::*;

rt::entry!(main);

fn main(args: &Args) -> i32 {
    if args.progname() != "regress-child" {
        return proto::BAD_ARGV0;
    }
    match args.str(1) {
        Some(proto::MODE_ARGS) => check_args(args),
        Some(proto::MODE_FDS) => check_fds(args),
        _ => proto::BAD_USAGE,
    }
}

fn check_args(args: &Args) -> i32 {
    let num = |name: &str| args.getenv(name).and_then(|v| v.parse::<u64>().ok());
    if num("REGRESS_ARGC") != Some(args.len() as u64) {
        return proto::BAD_ARGC;
    }
    let sum = proto::arg_sum(args.iter().skip(1).map(|a| a.to_bytes()));
    if num("REGRESS_SUM") != Some(sum as u64) {
        return proto::BAD_SUM;
    }
    if args.getenv("REGRESS_A") != Some("alpha") || args.getenv("REGRESS_EMPTY") != Some("") {
        return proto::BAD_ENV;
    }
    proto::args_code(args.len(), args.env().count())
}

fn check_fds(args: &Args) -> i32 {
    let fd = |i| args.str(i).and_then(|s| s.parse::<i32>().ok());
    let (Some(cloexec), Some(keep)) = (fd(2), fd(3)) else { return proto::BAD_USAGE };
    if rt::fstat(cloexec).err() != Some(Errno::EBADF) {
        return proto::BAD_CLOEXEC_OPEN;
    }
    if rt::fstat(keep).is_err() {
        return proto::BAD_KEEP_CLOSED;
    }
    0
}
