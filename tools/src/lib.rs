//! Host tools for oxbsd (`cargo xtask ...`): build the kernels, the user
//! programs and the ramdisk, run them in QEMU, run the test matrix.
//!
//! The library half holds everything testable on the host (ELF to Image
//! conversion, user program checks, the cpio writer and ramdisk layout,
//! QEMU command lines, exit status decoding); `main.rs` is the
//! command-line front end.

pub mod bench;
pub mod build;
pub mod cpio;
pub mod elf;
pub mod install;
pub mod linux;
pub mod plot;
pub mod profile;
pub mod qemu;
pub mod ramdisk;
pub mod runner;
pub mod user;

use std::path::PathBuf;

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tools/ has a parent").to_path_buf()
}
