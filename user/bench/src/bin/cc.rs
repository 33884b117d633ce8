//! /bench/cc J: one kbuild job's compiler driver: runs `cc1 J`, then
//! `as J`, and exits with the first failure's status (or 0).
#![no_std]
#![cfg_attr(not(test), no_main)]

use bench::{fmt, kern, outln};

bench::entry!(main);

fn main(args: &bench::Args) -> i32 {
    let Some(job) = args.get(1).filter(|a| fmt::parse_u64(a).is_some()) else {
        outln!("usage: cc JOB");
        return 2;
    };
    let mut arg = fmt::Line::<24>::new();
    job.iter().for_each(|&c| arg.push(c));
    arg.push(0);
    for (path, name) in [(&b"/bench/cc1\0"[..], &b"cc1\0"[..]), (b"/bench/as\0", b"as\0")] {
        match kern::spawn_wait(path, &[name, arg.as_bytes()], None) {
            Ok(0) => {}
            Ok(st) => return if st & 0x7f == 0 { (st >> 8) & 0xff } else { 128 + (st & 0x7f) },
            Err(e) => {
                outln!("cc: fork: error {e}");
                return 1;
            }
        }
    }
    0
}
