//! mmap(2), munmap(2), mprotect(2). All three are `unsafe`: each can
//! change what existing Rust references point at.

use sys::syscall::{SYS_mmap, SYS_mprotect, SYS_munmap};

use crate::errno::Result;
use crate::syscall::{syscall2, syscall3, syscall6};

/// mmap(2) with OpenBSD's argument order (addr, len, prot, flags, fd,
/// pos); `prot` and `flags` from sys::mman. Returns the mapping's address.
///
/// # Safety
/// With MAP_FIXED the new mapping replaces whatever was at `addr`, which
/// must not be memory anything still uses.
pub unsafe fn mmap(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, pos: i64) -> Result<*mut u8> {
    // SAFETY: forwarded from the caller; no pointer is dereferenced.
    unsafe {
        syscall6(SYS_mmap, addr, len, prot as usize, flags as usize, fd as usize, pos as usize)
            .map(|r| r.0 as *mut u8)
    }
}

/// # Safety
/// Nothing may use `[addr, addr + len)` afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall2(SYS_munmap, addr as usize, len).map(drop) }
}

/// # Safety
/// Nothing may access the range in a way `prot` no longer allows.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: i32) -> Result<()> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall3(SYS_mprotect, addr as usize, len, prot as usize).map(drop) }
}
