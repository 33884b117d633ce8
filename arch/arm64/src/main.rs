//! oxbsd for AArch64: the machine-dependent half of the kernel for
//! `qemu-system-aarch64 -M virt`.
//!
//! Boot path: `locore` (Image header, EL2 -> EL1, boot page tables, MMU on)
//! -> `machdep::arm64_init` (device tree, kernel page tables, console,
//! boot CPU) -> `kern::init_main::main` -> `Machdep::cpu_configure`
//! (interrupt controller, timer, PSCI, secondary CPUs).
//!
//! On the host this crate builds to a stub that refuses to run: the kernel
//! only makes sense as a bare-metal image.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod clock;
#[cfg(target_os = "none")]
mod cons;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod fdt;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
mod intr;
#[cfg(target_os = "none")]
mod locore;
#[cfg(target_os = "none")]
mod machdep;
#[cfg(target_os = "none")]
mod pmap;
#[cfg(target_os = "none")]
mod psci;
#[cfg(target_os = "none")]
mod selftest;
#[cfg(target_os = "none")]
mod trap;
#[cfg(target_os = "none")]
mod vm_machdep;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bsd: this is the oxbsd arm64 kernel image, not a host program; \
         build it with `cargo xtask build` and boot it in qemu-system-aarch64 -M virt"
    );
    std::process::exit(1);
}
