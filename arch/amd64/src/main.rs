//! oxbsd/amd64: the x86_64 machine-dependent kernel and the kernel image
//! (`bsd`), booted by `qemu-system-x86_64 -kernel` through its PVH note.
//!
//! Modules follow OpenBSD's amd64 tree and this project's arm64 tree:
//! `locore` (entry, trampolines, trap stubs), `machdep` (the Machdep
//! implementation, early boot, power), `pmap` (kernel page tables), `trap`,
//! `cpu` (cpu_info, AP start), `intr` (IDT, vectors, IPIs), `clock`,
//! `cons` (COM1), plus `lapic`, `ioapic`, `acpi`, `gdt` and `cpufunc`.
//!
//! On the host this builds to a stub so the workspace's host builds and
//! tests work; the kernel is built with `cargo xtask build`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod acpi;
#[cfg(target_os = "none")]
mod clock;
#[cfg(target_os = "none")]
mod cons;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod cpufunc;
#[cfg(target_os = "none")]
mod gdt;
#[cfg(target_os = "none")]
mod intr;
#[cfg(target_os = "none")]
mod ioapic;
#[cfg(target_os = "none")]
mod lapic;
#[cfg(target_os = "none")]
mod locore;
#[cfg(target_os = "none")]
mod machdep;
#[cfg(target_os = "none")]
mod pmap;
#[cfg(target_os = "none")]
mod selftest;
#[cfg(target_os = "none")]
mod trap;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bsd: this is the oxbsd amd64 kernel image; on the host it is only a stub.\n\
         Build the kernel with `cargo xtask build` (target x86_64-unknown-none) and boot it in QEMU."
    );
    std::process::exit(1);
}
