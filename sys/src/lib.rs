//! The kernel/user ABI of oxbsd, shared by the kernel and userland.
//!
//! Everything that crosses the user/kernel boundary is defined here once:
//! system call numbers, errno values, signal numbers, wait status encoding
//! and structure layouts. Values follow OpenBSD where the concept exists.
#![no_std]

pub mod reboot;
