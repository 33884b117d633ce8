//! Threads on `__tfork`: spawn, exit, join.
//!
//! [`thread_spawn`] maps one region per thread:
//!
//! ```text
//! base          base+PAGE                          top-PAGE         top
//! | guard page  | stack, growing down  <-----------| TCB page        |
//! | PROT_NONE   | (stack_size, page-rounded)       | struct Tcb      |
//! ```
//!
//! `__tfork` gets `tf_stack` = the TCB page's address (16-byte aligned,
//! the stack's top), `tf_tcb` = the TCB, `tf_tid` = `&tcb.tcb_tid`. The new
//! thread enters [`thread_start`] through the per-arch trampoline, runs the
//! closure, then [`thread_exit`]s.
//!
//! Join: the TCB's `tcb_alive` word is 1 until the thread's very last
//! instructions, which store 0 and make the `__threxit` call without
//! touching the stack (all signals blocked first, so no signal frame can
//! land there either). [`JoinHandle::join`] waits for the 0 — spinning
//! briefly, then calling sched_yield between looks — and unmaps the
//! region. `__threxit` is called with a NULL `notdead`: the runtime does not
//! rely on the kernel clearing a word at exit.
//!
//! A panic in any thread ends the whole process (status 101), as panics
//! abort. Dropping a JoinHandle detaches the thread; its region then stays
//! mapped.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use sys::mman::{MAP_ANON, MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ, PROT_WRITE};
use sys::signal::SIG_SETMASK;
use sys::syscall::{SYS___threxit, SYS_getthrid, SYS_sched_yield};
use sys::tfork::Tfork;
use sys::vmparam::PAGE_SIZE;

use crate::errno::{Errno, Result};
use crate::syscall::{syscall0, syscall1};

/// Smallest stack [`thread_spawn`] accepts (smaller requests are raised
/// to it): formatting alone wants a few KiB.
pub const MIN_STACK: usize = 16 << 10;

/// The thread control block the runtime gives each thread it starts; the
/// thread pointer (amd64 FS base, arm64 TPIDR_EL0) points at it.
#[repr(C)]
pub struct Tcb {
    /// Offset 0: the TCB's own address, so amd64 code can find it with
    /// `mov %fs:0` (the usual x86 TLS convention).
    pub tcb_self: *mut Tcb,
    /// Offset 8: the thread id, stored by the kernel through `tf_tid` (a
    /// 32-bit pid_t) and by the parent from `__tfork`'s return value.
    pub tcb_tid: AtomicI32,
    /// Offset 12: 1 while the thread may still touch its stack or TCB.
    pub tcb_alive: AtomicU32,
    /// The region holding the stack and this TCB.
    pub tcb_map_base: usize,
    pub tcb_map_len: usize,
    /// The closure, taken by the new thread.
    tcb_entry: Option<Box<dyn FnOnce() + Send + 'static>>,
}

/// A started thread; join it to wait for it and free its stack.
#[derive(Debug)]
pub struct JoinHandle {
    tcb: *mut Tcb,
    tid: i32,
}

// SAFETY: the handle only reads the TCB's atomics and unmaps the region
// once the thread is gone; any thread may do that.
unsafe impl Send for JoinHandle {}

const fn page_round(n: usize) -> usize {
    (n + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// sched_yield(2).
pub fn sched_yield() {
    // SAFETY: no pointers.
    let _ = unsafe { syscall0(SYS_sched_yield) };
}

/// getthrid(2): the calling thread's id.
pub fn getthrid() -> i32 {
    // SAFETY: no pointers.
    unsafe { syscall0(SYS_getthrid).map_or(-1, |r| r as i32) }
}

/// `__tfork_thread` (OpenBSD libc's name): start a thread that runs
/// `entry(arg)` on `param.tf_stack` with thread pointer `param.tf_tcb`.
/// Returns the new thread's id.
///
/// # Safety
/// The stack and TCB must stay valid for the thread's life, `tf_stack`
/// must be 16-byte aligned, and `entry` must end with a thread exit.
pub unsafe fn __tfork_thread(param: &Tfork, entry: extern "C" fn(usize) -> !, arg: usize) -> Result<i32> {
    // SAFETY: forwarded from the caller.
    let r = unsafe { crate::arch::tfork_thread(param, entry, arg) };
    if r < 0 { Err(Errno(-r as i32)) } else { Ok(r as i32) }
}

/// `__threxit(2)`: end the calling thread; the process ends with its last
/// thread. The kernel stores 0 at `notdead` (if not NULL) once the
/// thread is gone.
///
/// # Safety
/// `notdead` must be NULL or stay valid until the kernel has written it.
pub unsafe fn __threxit(notdead: *mut i32) -> ! {
    // SAFETY: forwarded from the caller.
    let _ = unsafe { syscall1(SYS___threxit, notdead as usize) };
    crate::arch::unreachable_return(0)
}

/// Start a thread running `f` on a fresh stack of at least `stack_size`
/// bytes (plus a guard page below it).
pub fn thread_spawn<F: FnOnce() + Send + 'static>(f: F, stack_size: usize) -> Result<JoinHandle> {
    let stack = page_round(stack_size.max(MIN_STACK));
    let len = PAGE_SIZE + stack + PAGE_SIZE;
    // SAFETY: a new mapping at an address the kernel picks replaces
    // nothing.
    let base = unsafe {
        crate::mman::mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON | MAP_STACK, -1, 0)?
    };
    // SAFETY: the guard page is the bottom of the mapping just made,
    // which nothing uses yet.
    if let Err(e) = unsafe { crate::mman::mprotect(base, PAGE_SIZE, PROT_NONE) } {
        // SAFETY: unused fresh mapping.
        let _ = unsafe { crate::mman::munmap(base, len) };
        return Err(e);
    }
    let tcb = (base as usize + len - PAGE_SIZE) as *mut Tcb;
    // SAFETY: the TCB page is mapped, writable, page-aligned and unused.
    unsafe {
        tcb.write(Tcb {
            tcb_self: tcb,
            tcb_tid: AtomicI32::new(0),
            tcb_alive: AtomicU32::new(1),
            tcb_map_base: base as usize,
            tcb_map_len: len,
            tcb_entry: Some(Box::new(f)),
        })
    };
    let param = Tfork {
        tf_tcb: tcb as usize,
        // SAFETY: tcb was just initialised.
        tf_tid: unsafe { (*tcb).tcb_tid.as_ptr() } as usize,
        tf_stack: tcb as usize,
    };
    // SAFETY: the region outlives the thread (only join unmaps it, after
    // the thread is gone); the stack top is page-aligned; thread_start
    // never returns.
    match unsafe { __tfork_thread(&param, thread_start, tcb as usize) } {
        Ok(tid) => {
            // SAFETY: the TCB stays mapped until join.
            unsafe { (*tcb).tcb_tid.store(tid, Ordering::Relaxed) };
            Ok(JoinHandle { tcb, tid })
        }
        Err(e) => {
            // SAFETY: no thread started, so the TCB and region are still
            // only ours: drop the closure and unmap.
            unsafe {
                core::ptr::drop_in_place(tcb);
                let _ = crate::mman::munmap(base, len);
            }
            Err(e)
        }
    }
}

/// The new thread's first Rust code (entered by the arch trampoline).
extern "C" fn thread_start(arg: usize) -> ! {
    let tcb = arg as *mut Tcb;
    // The kernel must have set the thread pointer from tf_tcb: check, so
    // a kernel that does not says so here rather than corrupting memory.
    // SAFETY: this thread has a TCB whose first word is its address.
    let tp = unsafe { crate::arch::tcb_self() };
    if tp != arg {
        crate::eprintln!("rt: thread pointer is {tp:#x}, not the TCB {arg:#x} passed to __tfork");
        crate::process::abort();
    }
    // SAFETY: the TCB is live until this thread clears tcb_alive; only
    // this thread touches tcb_entry after the spawn.
    if let Some(f) = unsafe { (*tcb).tcb_entry.take() } {
        f();
    }
    // SAFETY: tcb is this thread's TCB.
    unsafe { exit_with(tcb) }
}

/// End a thread the runtime started.
///
/// # Safety
/// `tcb` is the calling thread's TCB.
unsafe fn exit_with(tcb: *mut Tcb) -> ! {
    // Block every signal so no handler frame can be pushed onto the stack
    // once a joiner may have unmapped it (SIGKILL/SIGSTOP cannot be
    // blocked, and end or stop the whole process anyway).
    let _ = crate::signal::sigprocmask(SIG_SETMASK, !0);
    // SAFETY: the TCB is live; after this the thread uses no memory.
    unsafe { crate::arch::threxit_release(&(*tcb).tcb_alive) }
}

/// End the calling thread. In a thread [`thread_spawn`] started, its
/// joiner is released; destructors of values on its stack do not run. In
/// the main thread this is `__threxit(NULL)`: the process goes on while
/// other threads run (and ends, status 0, with the last one).
pub fn thread_exit() -> ! {
    if crate::arch::may_have_tcb() {
        // SAFETY: may_have_tcb says the thread pointer can be read.
        let tcb = unsafe { crate::arch::tcb_self() };
        if tcb != 0 {
            // SAFETY: only the runtime gives threads TCBs, and they point
            // at themselves.
            unsafe { exit_with(tcb as *mut Tcb) }
        }
    }
    // SAFETY: NULL: nothing for the kernel to write.
    unsafe { __threxit(core::ptr::null_mut()) }
}

impl JoinHandle {
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// Whether the thread has finished (join will not wait).
    pub fn is_finished(&self) -> bool {
        // SAFETY: the TCB stays mapped until join consumes the handle.
        unsafe { (*self.tcb).tcb_alive.load(Ordering::Acquire) == 0 }
    }

    /// Wait for the thread to end, then unmap its stack and TCB.
    pub fn join(self) {
        let mut spins = 0u32;
        while !self.is_finished() {
            if spins < 100 {
                spins += 1;
                core::hint::spin_loop();
            } else {
                sched_yield();
            }
        }
        // SAFETY: the thread has left user space for good (it cleared the
        // flag as its last store before __threxit), so nothing uses the
        // region; the closure was taken and run.
        unsafe {
            let (base, len) = ((*self.tcb).tcb_map_base, (*self.tcb).tcb_map_len);
            let _ = crate::mman::munmap(base as *mut u8, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_layout_is_what_the_docs_promise() {
        assert_eq!(core::mem::offset_of!(Tcb, tcb_self), 0);
        assert_eq!(core::mem::offset_of!(Tcb, tcb_tid), 8);
        assert_eq!(core::mem::offset_of!(Tcb, tcb_alive), 12);
        assert!(core::mem::size_of::<Tcb>() <= PAGE_SIZE);
    }

    #[test]
    fn spawn_fails_cleanly_without_a_kernel() {
        assert_eq!(thread_spawn(|| {}, 0).err(), Some(Errno::ENOSYS));
    }
}
