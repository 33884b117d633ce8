//! The benchmark workload: one source for oxbsd and Linux.
//!
//! Programs (`src/bin/`): `bench`, the driver (the micro tests and the
//! make-like `kbuild` driver); `cc`, one job's compiler driver, which runs
//! `cc1` then `as`; `true`. They are static images linked like every other
//! user program and installed under `/bench` in oxbsd's ramdisk and in the
//! Linux peer's initramfs alike, where `/bench/bench` is the first process.
//! Everything kernel-specific is in [`kern`], chosen at start from the auxv,
//! so the very same binary runs on both kernels.
//!
//! The pure parts ([`work`], [`stats`], [`fmt`]) also build on the host,
//! where the tools use them to write the sources into the ramdisk, to
//! compute the checksum the build must print and to read the results.

#![no_std]

#[cfg(not(target_os = "none"))]
extern crate std;

pub mod arch;
pub mod fmt;
pub mod kern;
pub mod start;
pub mod stats;
pub mod work;

pub use start::Args;

/// Every test the driver's `only=` may name, in the order they run (the
/// host's tools check their `--only` against it too).
pub const TESTS: &str = "boot fork_exit fork_exec exit_latency teardown fault_zero fault_cow fork_touch fork_16m pipe_pingpong null_syscall zero_page fork_exit_par teardown_par kbuild";

/// Define the program's entry function, `fn(&Args) -> i32`; its result
/// is the exit status. On the host the program is a stub.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        const _: fn(&$crate::Args) -> i32 = $main;

        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        fn __bench_main(args: &$crate::Args) -> i32 {
            $main(args)
        }

        #[cfg(all(not(target_os = "none"), not(test)))]
        #[unsafe(export_name = "main")]
        extern "C" fn __bench_host_main(_argc: i32, _argv: *const *const u8) -> i32 {
            $crate::start::host_stub(env!("CARGO_BIN_NAME"))
        }
    };
}

/// Print to standard output, one write(2) per call (so lines of
/// different processes do not interleave on the console).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        let mut l = $crate::fmt::Line::<512>::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!($($t)*));
        l.push(b'\n');
        let _ = $crate::kern::write_all(1, l.as_bytes());
    }};
}
