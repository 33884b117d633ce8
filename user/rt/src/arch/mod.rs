//! The machine-dependent part of the runtime: program entry, the system
//! call trap, the thread-creation and thread-exit trampolines, and the
//! thread pointer. One file per arch with the same functions; on the host
//! (`hosted.rs`) there is no oxbsd kernel, so the trap reports ENOSYS.
//!
//! Contract with the kernel (both arches):
//! - A new program starts at `_start` with the stack pointer at `argc`,
//!   then `argv[]`, NULL, `envp[]`, NULL, auxv pairs ending with AT_NULL.
//!   `_start` takes the stack pointer (not the first argument register,
//!   which holds the same value) and realigns it to 16 bytes before
//!   calling into Rust.
//! - A system call preserves every register except the two result
//!   registers and those the trap instruction clobbers (amd64 rcx, r11).
//! - `__tfork` starts the new thread right after the trap instruction,
//!   with the caller's registers except: stack pointer = `tf_stack`,
//!   first result register = 0, carry clear, thread pointer (amd64 FS
//!   base, arm64 TPIDR_EL0) = `tf_tcb`. The trampoline keeps the entry
//!   function and its argument in registers the trap preserves
//!   (amd64 r8/r9, arm64 x9/x10), so the child needs nothing from memory.

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod amd64;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub use amd64::*;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
mod arm64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use arm64::*;

/// The thread trampolines' Rust faces: each arch's assembly defines the
/// two symbols with the same contract.
#[cfg(target_os = "none")]
mod trampolines {
    use core::sync::atomic::AtomicU32;

    use sys::tfork::Tfork;

    unsafe extern "C" {
        fn __rt_tfork_thread(
            param: *const Tfork,
            psize: usize,
            entry: extern "C" fn(usize) -> !,
            arg: usize,
        ) -> isize;
        fn __rt_threxit_release(flag: *const AtomicU32) -> !;
    }

    /// `__tfork` with a trampoline: the new thread runs `entry(arg)` on
    /// `param.tf_stack` (16-byte aligned). Returns the new thread's id, or
    /// `-errno`.
    ///
    /// # Safety
    /// `param` must describe a stack and TCB that stay valid for the
    /// thread's life, and `entry` must never return.
    pub unsafe fn tfork_thread(param: &Tfork, entry: extern "C" fn(usize) -> !, arg: usize) -> isize {
        // SAFETY: as the caller promised; the arch's assembly defines the
        // trampoline with this signature.
        unsafe { __rt_tfork_thread(param, core::mem::size_of::<Tfork>(), entry, arg) }
    }

    /// Store 0 to `flag` and end the calling thread with `__threxit(NULL)`,
    /// without using the stack after the store.
    ///
    /// # Safety
    /// `flag` must be valid; all signals should be blocked (a signal frame
    /// pushed after the store could land on an unmapped stack).
    pub unsafe fn threxit_release(flag: &AtomicU32) -> ! {
        // SAFETY: see above.
        unsafe { __rt_threxit_release(flag) }
    }
}
#[cfg(target_os = "none")]
pub use trampolines::*;

#[cfg(not(target_os = "none"))]
mod hosted;
#[cfg(not(target_os = "none"))]
pub use hosted::*;

#[cfg(all(target_os = "none", not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("the oxbsd runtime supports x86_64 and aarch64 only");
