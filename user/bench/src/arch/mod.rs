//! The machine-dependent part of the workload: `_start` and the trap.
//!
//! Contract (both arches, both kernels):
//! - `_start` is entered with the stack pointer at `argc` (then `argv[]`,
//!   NULL, `envp[]`, NULL, auxv pairs), which oxbsd and Linux lay out the
//!   same way; it realigns the stack and calls `crate::start::__bench_start`
//!   with the original stack pointer.
//! - `trap(n, a)` enters the kernel with the number in the arch's number
//!   register and six arguments, and returns the first result register
//!   and the carry flag. oxbsd reports an error with carry set and the
//!   errno in the result; Linux returns `-errno` and leaves the flags
//!   alone, so the carry means something only on oxbsd (`kern` decides).
//!   Registers the trap clobbers on either kernel are declared clobbered.

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod amd64;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub use amd64::*;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
mod arm64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use arm64::*;

/// On the host there is no kernel of ours to trap into: every call fails
/// with ENOSYS (38 on Linux), so the lib's pure parts can be tested there.
///
/// # Safety
/// None needed here; the signature is the targets' (see the arch files).
#[cfg(not(target_os = "none"))]
pub unsafe fn trap(_n: usize, _a: [usize; 6]) -> (usize, bool) {
    (38usize.wrapping_neg(), false)
}
