//! sysctl(2) and typed reads of its values.

use alloc::string::String;
use alloc::vec::Vec;

use sys::syscall::SYS_sysctl;

use crate::errno::{Errno, Result};
use crate::syscall::syscall6;

/// Types any byte pattern of their size is a valid value of, so a sysctl
/// may fill them.
///
/// # Safety
/// Implement only for `repr(C)` types made of integers (and arrays and
/// structs of them), with no padding the kernel could leave uninitialised
/// in a way that matters, and no pointers, references, bools or enums.
pub unsafe trait Pod: Copy {}

// SAFETY: plain integers.
unsafe impl Pod for i32 {}
// SAFETY: plain integers.
unsafe impl Pod for u32 {}
// SAFETY: plain integers.
unsafe impl Pod for i64 {}
// SAFETY: plain integers.
unsafe impl Pod for u64 {}
// SAFETY: repr(C), integers and byte arrays only.
unsafe impl Pod for sys::sysctl::KinfoProc {}
// SAFETY: repr(C), integers only.
unsafe impl Pod for sys::sysctl::KernVmStats {}
// SAFETY: repr(C), integers only.
unsafe impl Pod for sys::time::Timespec {}
// SAFETY: repr(C), integers only.
unsafe impl Pod for sys::time::Timeval {}

/// sysctl(2): read the value of MIB `name` into `old` (None asks only for
/// its size) and/or set it from `new`. Returns the value's size in bytes.
pub fn sysctl(name: &[i32], old: Option<&mut [u8]>, new: Option<&[u8]>) -> Result<usize> {
    let (oldp, mut oldlen) = match old {
        Some(b) => (b.as_mut_ptr(), b.len()),
        None => (core::ptr::null_mut(), 0),
    };
    let (newp, newlen) = new.map_or((core::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
    // SAFETY: name is readable for name.len() ints; oldp is null or
    // writable for oldlen bytes; oldlen is writable; newp is null or
    // readable for newlen bytes.
    unsafe {
        syscall6(
            SYS_sysctl,
            name.as_ptr() as usize,
            name.len(),
            oldp as usize,
            &mut oldlen as *mut usize as usize,
            newp as usize,
            newlen,
        )?
    };
    Ok(oldlen)
}

/// Read a string value (its trailing NUL dropped).
pub fn sysctl_string(name: &[i32]) -> Result<String> {
    let mut buf = alloc::vec![0u8; sysctl(name, None, None)?];
    let n = sysctl(name, Some(&mut buf), None)?;
    buf.truncate(n);
    while buf.last() == Some(&0) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| Errno::EINVAL)
}

/// Read a fixed-size value; EINVAL if the kernel returns another size.
pub fn sysctl_read<T: Pod>(name: &[i32]) -> Result<T> {
    let mut v = core::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: the buffer is exactly the value's bytes, which start zeroed.
    let buf =
        unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), core::mem::size_of::<T>()) };
    if sysctl(name, Some(buf), None)? != core::mem::size_of::<T>() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: zero-initialised and then written by the kernel; T is Pod.
    Ok(unsafe { v.assume_init() })
}

/// Read an array value (the process table, say). The size is asked first
/// and an eighth more room is allowed, as the table can grow in between.
pub fn sysctl_vec<T: Pod>(name: &[i32]) -> Result<Vec<T>> {
    let size = core::mem::size_of::<T>().max(1);
    for _ in 0..4 {
        let want = sysctl(name, None, None)?;
        let cap = (want + want / 8) / size + 1;
        let mut v: Vec<T> = Vec::with_capacity(cap);
        // SAFETY: the spare capacity is cap * size bytes; zeroing it first
        // makes every element a valid T (Pod) whatever the kernel writes.
        let buf = unsafe {
            core::ptr::write_bytes(v.as_mut_ptr(), 0, cap);
            core::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), cap * size)
        };
        match sysctl(name, Some(buf), None) {
            Ok(n) => {
                // SAFETY: the first n / size elements were initialised above.
                unsafe { v.set_len(n / size) };
                return Ok(v);
            }
            Err(Errno::ENOMEM) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ENOMEM)
}
