//! Machine-independent virtual memory for oxbsd.
//!
//! This crate holds no inline assembly and no `cfg(target_arch)`: the
//! machine-dependent half of the VM system is the pmap, which each arch
//! crate implements (see [`pmap`]). Everything here builds and is unit-tested
//! on the host.
#![cfg_attr(not(test), no_std)]

pub mod param;
pub mod pmap;
pub mod pmemrange;

pub use param::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, atop, ptoa, round_page, trunc_page};
