//! /bench/bench: the benchmark driver, the same program on oxbsd and Linux.
//!
//!     bench [quick] [only=TEST,...] [j=N] [jobs=N] [repeat=N]
//!
//! With no arguments it reads them from /bench/args (the tools write that
//! file: a kernel starting its first process passes none). Runs the
//! micro tests, then kbuild, printing one `@bench ...` line per result
//! (read by `cargo xtask bench`), and powers the machine off when it is
//! process 1. Times are CLOCK_MONOTONIC in ns; `c.NAME=` fields are the
//! kernel's counters (KERN_CPUSTATS, summed over CPUs) over the test, on
//! oxbsd only.

#![no_std]
#![cfg_attr(not(test), no_main)]

mod config;
mod kbuild;
mod micro;
mod report;

use bench::{kern, outln};

bench::entry!(main);

fn main(args: &bench::Args) -> i32 {
    let t0 = kern::clock_ns();
    let cfg = match config::Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            outln!("bench: {e}");
            outln!("{}\ntests: {}", config::USAGE, config::TESTS);
            return finish(2);
        }
    };
    outln!("@bench start kernel={} quick={}", kern::kernel_name(), cfg.quick as u8);
    if let Err(e) = kern::mount_proc() {
        outln!("bench: mounting /proc: error {e}; no system CPU time for kbuild");
    }
    if cfg.wants("boot") {
        outln!("@bench test=boot unit=ns n=1 med={t0} p99={t0} min={t0} max={t0}");
    }
    let mut failed = 0;
    for t in (0..cfg.repeat).flat_map(|_| micro::TESTS) {
        if cfg.wants(t.name)
            && let Err(e) = (t.run)(&cfg)
        {
            outln!("@bench fail test={} {e}", t.name);
            failed += 1;
        }
    }
    if cfg.wants("kbuild")
        && let Err(e) = kbuild::run(&cfg)
    {
        outln!("@bench fail test=kbuild {e}");
        failed += 1;
    }
    outln!("@bench done failed={failed}");
    finish(if failed == 0 { 0 } else { 1 })
}

/// Exit, or power off when this is the first process (a kernel panics
/// when init exits).
fn finish(status: i32) -> i32 {
    if kern::getpid() == 1 {
        kern::poweroff(status as u8);
    }
    status
}
