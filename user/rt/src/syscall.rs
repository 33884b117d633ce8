//! Raw system calls: a number and up to six word-sized arguments in, the
//! two result registers or the errno out (the convention in `sys`: carry
//! set means failure with the errno in the first result register).
//!
//! These are for what the typed wrappers cannot express, such as passing
//! a deliberately bad pointer in a test; everything else should use the
//! wrappers, which check their arguments' types.

use crate::arch;
use crate::errno::{Errno, Result};

/// Both result registers (rax/rdx, x0/x1); most calls use only the first.
pub type Ret = (usize, usize);

/// System call `n` with six arguments (unused ones are ignored by the
/// kernel).
///
/// # Safety
/// The arguments must be valid for call `n` (see [`arch::trap`]).
#[inline(always)]
pub unsafe fn syscall6(
    n: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> Result<Ret> {
    // SAFETY: forwarded from the caller.
    let (r0, r1, err) = unsafe { arch::trap(n, [a0, a1, a2, a3, a4, a5]) };
    if err { Err(Errno(r0 as i32)) } else { Ok((r0, r1)) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall0(n: usize) -> Result<usize> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(n, 0, 0, 0, 0, 0, 0).map(|r| r.0) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall1(n: usize, a0: usize) -> Result<usize> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(n, a0, 0, 0, 0, 0, 0).map(|r| r.0) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall2(n: usize, a0: usize, a1: usize) -> Result<usize> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(n, a0, a1, 0, 0, 0, 0).map(|r| r.0) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall3(n: usize, a0: usize, a1: usize, a2: usize) -> Result<usize> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(n, a0, a1, a2, 0, 0, 0).map(|r| r.0) }
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall4(n: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> Result<usize> {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(n, a0, a1, a2, a3, 0, 0).map(|r| r.0) }
}
