//! Machine-independent virtual memory for oxbsd.
//!
//! This crate holds no inline assembly and no `cfg(target_arch)`: the
//! machine-dependent half of the VM system is the pmap, which each arch
//! crate implements (see [`pmap`]). Everything here builds and is unit-tested
//! on the host, the map logic against a simulated pmap and page allocator.
//!
//! - [`pmemrange`]: the physical page allocator.
//! - [`uvm_map`]: address-space maps ([`VmMap`]): map, unmap, protect, fork,
//!   purge; [`uvm_fault`]: faults, zero fill, copy-on-write.
//! - `uvm_amap`, `uvm_anon`: the anonymous memory behind map entries.
//! - [`UvmEnv`]: what the map logic needs from the kernel (pmap, pages).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod param;
pub mod pmap;
pub mod pmemrange;
mod uvm_amap;
mod uvm_anon;
pub mod uvm_extern;
pub mod uvm_fault;
pub mod uvm_map;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use param::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, atop, ptoa, round_page, trunc_page};
pub use pmap::{PmapRef, VmProt};
pub use uvm_extern::UvmEnv;
pub use uvm_fault::{FaultError, FaultKind};
pub use uvm_map::{Backing, VmMap};
