//! The kernel/user ABI of oxbsd, shared by the kernel and userland.
//!
//! Everything that crosses the user/kernel boundary is defined here once:
//! system call numbers, errno values, signal numbers, wait status encoding
//! and structure layouts. Values follow OpenBSD where the concept exists;
//! where oxbsd has its own structure (the process listing) it says so.
//!
//! # System call convention
//!
//! | arch  | trap      | number | arguments             | results  | error            |
//! |-------|-----------|--------|-----------------------|----------|------------------|
//! | amd64 | `syscall` | `rax`  | rdi rsi rdx r10 r8 r9 | rax, rdx | CF=1, rax=errno  |
//! | arm64 | `svc #0`  | `x8`   | x0 x1 x2 x3 x4 x5     | x0, x1   | C=1, x0=errno    |
//!
//! As on OpenBSD, success clears the carry flag (RFLAGS.CF / PSTATE.C) and
//! failure sets it with the positive errno in the first result register.
//! Every other register is preserved except those the instruction itself
//! clobbers (amd64 `rcx`, `r11`). A new program starts with the stack
//! pointer at `argc` (then `argv[]`, NULL, `envp[]`, NULL, auxv pairs ending
//! with AT_NULL); the first argument register holds the same pointer.
#![no_std]
#![allow(non_upper_case_globals)]

pub mod dirent;
pub mod errno;
pub mod event;
pub mod fcntl;
pub mod ioctl;
pub mod mman;
pub mod reboot;
pub mod resource;
pub mod signal;
pub mod stat;
pub mod syscall;
pub mod sysctl;
pub mod tfork;
pub mod time;
pub mod vmparam;
pub mod wait;
