//! Kernel threads (OpenBSD `kthread_create`).
//!
//! A kernel thread is a thread of process 0 with no user mode: it runs
//! `func(arg)` on its own kernel stack and never returns to user space.

use alloc::boxed::Box;
use core::sync::atomic::Ordering;

use crate::kern_proc::{self, PROCTREE};
use crate::kern_sched::{self, PUSER, SCHED_LOCK};
use crate::machdep;
use crate::proc::{P_SYSTEM, Proc};

/// Start a kernel thread running `func(arg)` (which must not return).
/// EAGAIN beyond the thread limit, ENOMEM without a kernel stack.
pub fn kthread_create(func: fn(usize), arg: usize, name: &str) -> Result<*mut Proc, i32> {
    kern_proc::reserve_thread()?;
    let Some(top) = crate::uvm_glue::uvm_uarea_alloc() else {
        kern_proc::release_thread();
        return Err(sys::errno::ENOMEM);
    };
    let pr = kern_sched::process0();
    let tid = PROCTREE.lock().alloc_tid();
    let p = Box::into_raw(Proc::new(tid, pr.clone(), top, PUSER - 1));
    // SAFETY: just allocated, not shared yet.
    let pp = unsafe { &*p };
    pp.set_flag(P_SYSTEM);
    // SAFETY: the Pcb is ours until the thread is queued.
    machdep::cpu_thread_init(unsafe { &mut *pp.pcb() }, top, func, arg);
    pr.ps_mtx.lock().ps_threads.push(p);
    pr.ps_threadcnt.fetch_add(1, Ordering::Relaxed);
    pr.ps_unreaped.fetch_add(1, Ordering::Relaxed);
    log::debug!("kthread {name}: tid {tid}");
    let g = SCHED_LOCK.lock();
    pp.sched(&g).p_cpu = machdep::curcpu().ci_cpuid;
    kern_sched::setrunqueue(p, &g);
    Ok(p)
}
