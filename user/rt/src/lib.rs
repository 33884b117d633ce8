//! The oxbsd user runtime: what every user program links.
//!
//! - Program entry: `_start` (per arch, in [`arch`]) hands the initial
//!   stack to [`start`], which records the arguments and calls the
//!   program's entry function, named with [`entry!`]; its return value is
//!   the exit status.
//! - System calls: raw traps in [`syscall`] following the convention in
//!   `sys` (carry set => `Err(errno)`), and a typed wrapper for each call
//!   in `sys::syscall`, grouped like OpenBSD's headers ([`process`],
//!   [`fs`], [`mman`], [`signal`], [`time`], [`thread`], [`sysctl`],
//!   [`event`]) and
//!   re-exported here.
//! - [`Errno`] with names and messages; `print!`/`println!` to fd 1 and
//!   `eprint!`/`eprintln!` to fd 2 ([`io`]); argv, envp and auxv
//!   ([`env`]); a global allocator on mmap ([`heap`]); threads on
//!   `__tfork` ([`thread`]); a panic handler that prints and exits 101.
//!
//! A program is one file in `user/src/bin/`:
//!
//! ```ignore
//! #![no_std]
//! #![cfg_attr(not(test), no_main)]
//! use rt::prelude::*;
//!
//! rt::entry!(main);
//!
//! fn main(args: &Args) -> i32 {
//!     println!("hello from {}", args.progname());
//!     0
//! }
//! ```
//!
//! Floating point: the programs are built for soft-float targets on both
//! arches (x86_64-unknown-none has no SSE, aarch64-unknown-none-softfloat
//! no FP/SIMD), because the kernel does not save FP/SIMD registers across
//! context switches or signals yet. `f32`/`f64` still work, in software.
//!
//! On the host this crate builds with std so that the workspace's tests
//! and lints cover it: the pure parts (argument parsing, errno names,
//! directory records, the allocator's logic, output buffering) are unit
//! tested there. A host process has no oxbsd kernel under it, so every
//! system call made through this crate on the host fails with ENOSYS, and
//! the programs' host `main` only says what they are.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub use sys;

pub mod arch;
pub mod env;
pub mod errno;
pub mod event;
pub mod fs;
pub mod heap;
pub mod io;
pub mod mman;
pub mod prelude;
pub mod process;
pub mod signal;
pub mod start;
pub mod syscall;
pub mod sysctl;
pub mod thread;
pub mod time;

pub use env::{Args, args};
pub use errno::{Errno, Result};
pub use event::{kevent, kqueue};
pub use fs::{
    __getcwd, chdir, close, dup, dup2, fcntl, fstat, getcwd, getdents, ioctl, isatty, mkdir, open, pipe,
    read, stat, tcgetattr, tcgetpgrp, tcsetattr, tcsetpgrp, unlink, write,
};
pub use mman::{mmap, mprotect, munmap};
pub use process::{
    abort, execv, execve, exit, fork, getpgid, getpgrp, getpid, getppid, getrusage, kill, poweroff, reboot,
    setpgid, setsid, wait4, waitpid,
};
pub use signal::{sigaction, signal, sigprocmask, sigreturn};
pub use sysctl::sysctl;
pub use thread::{__tfork_thread, __threxit, getthrid, sched_yield, thread_exit, thread_spawn};
pub use time::{clock_gettime, nanosleep};

/// Name the program's entry function: `fn(&Args) -> i32`, whose result is
/// the exit status. Use once, at the top level of the program's file.
///
/// On oxbsd this defines `__rt_main`, which the runtime's start code calls
/// (bound at link time). On the host it defines a C `main` that only
/// explains what the program is, so the workspace builds and lints there.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        const _: fn(&$crate::Args) -> i32 = $main;

        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        fn __rt_main(args: &$crate::Args) -> i32 {
            $main(args)
        }

        #[cfg(all(not(target_os = "none"), not(test)))]
        #[unsafe(export_name = "main")]
        extern "C" fn __rt_host_main(_argc: i32, _argv: *const *const u8) -> i32 {
            $crate::start::host_stub(env!("CARGO_BIN_NAME"))
        }
    };
}
