//! The user address space, the same on both arches.
//!
//! User addresses are `[VM_MIN_ADDRESS, VM_MAXUSER_ADDRESS)`: 512 GiB, what
//! arm64's 39-bit TTBR0 covers (amd64 could offer more; one layout keeps
//! the MI code and the tests identical).

pub const PAGE_SIZE: usize = 4096;
/// Page 0 is never mapped, so a NULL dereference faults.
pub const VM_MIN_ADDRESS: usize = 0x1000;
pub const VM_MAXUSER_ADDRESS: usize = 0x80_0000_0000;
/// The signal trampoline page (read + execute), top of user space.
pub const SIGCODE_VA: usize = VM_MAXUSER_ADDRESS - PAGE_SIZE;
/// Top of the main thread's stack; one guard page below SIGCODE_VA.
pub const USRSTACK: usize = SIGCODE_VA - PAGE_SIZE;
/// Stack size reserved for the main thread (grows on demand up to this).
pub const MAXSSIZ: usize = 8 << 20;
/// Where non-fixed mmap looks for space first.
pub const VM_MMAP_BASE: usize = 0x10_0000_0000;
/// Programs are linked at this address (text first).
pub const USER_TEXT_BASE: usize = 0x20_0000;
/// Largest argv + envp strings accepted by execve.
pub const ARG_MAX: usize = 256 * 1024;
/// Auxiliary vector keys placed after envp.
pub const AT_NULL: usize = 0;
pub const AT_PHDR: usize = 3;
pub const AT_PHENT: usize = 4;
pub const AT_PHNUM: usize = 5;
pub const AT_PAGESZ: usize = 6;
pub const AT_ENTRY: usize = 9;
