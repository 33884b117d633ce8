//! Building the kernels and their bootable images.
//!
//! Images land in `target/images/<arch>/`: `bsd` is what QEMU boots (the
//! PVH ELF on amd64, the raw Image on arm64) and `bsd.gdb` is the ELF with
//! symbols for gdb, as OpenBSD names them.

use std::path::PathBuf;
use std::process::Command;

use oxbsd_tests::Arch;

use crate::{elf, runner, workspace_root};

/// The Rust target each kernel is built for. arm64 uses the softfloat
/// target: the kernel never touches FP/SIMD registers.
pub fn kernel_target(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64-unknown-none",
        Arch::Arm64 => "aarch64-unknown-none-softfloat",
    }
}

pub fn kernel_package(arch: Arch) -> String {
    format!("oxbsd-{arch}")
}

pub fn images_dir(arch: Arch) -> PathBuf {
    workspace_root().join("target/images").join(arch.name())
}

pub fn image_path(arch: Arch) -> PathBuf {
    images_dir(arch).join("bsd")
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Build the kernel for `arch` and write its images. Returns the bootable
/// image's path.
pub fn build_kernel(arch: Arch) -> Result<PathBuf, String> {
    let root = workspace_root();
    let target = kernel_target(arch);
    eprintln!("xtask: building the {arch} kernel ({target})");
    runner::run_step(
        &format!("building the {arch} kernel"),
        cargo().args(["build", "--release", "-p", &kernel_package(arch), "--target", target]),
        &root,
    )?;
    let elf_path = root.join("target").join(target).join("release/bsd");
    let bytes = std::fs::read(&elf_path).map_err(|e| format!("reading {}: {e}", elf_path.display()))?;
    let dir = images_dir(arch);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let image = match arch {
        Arch::Amd64 => bytes.clone(),
        Arch::Arm64 => elf::to_raw_image(&bytes).map_err(|e| format!("{}: {e}", elf_path.display()))?,
    };
    let out = image_path(arch);
    std::fs::write(&out, &image).map_err(|e| format!("writing {}: {e}", out.display()))?;
    std::fs::write(dir.join("bsd.gdb"), &bytes).map_err(|e| format!("writing bsd.gdb: {e}"))?;
    eprintln!("xtask: {} ({} KiB)", out.strip_prefix(&root).unwrap_or(&out).display(), image.len() / 1024);
    Ok(out)
}
