//! fork1 and __tfork (OpenBSD `kern_fork.c`).
//!
//! fork1 builds the child completely — process structure, copy-on-write
//! address space, shared files, kernel stack and trap frame — before it is
//! published in the process tree and put on a run queue, so a failure at
//! any step frees what the earlier steps took and the limits' counts go
//! back (EAGAIN at the process or thread limit, ENOMEM without memory).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use sys::errno::ENOMEM;

use crate::kern_proc::{self, PROCTREE};
use crate::kern_sched::{self, PUSER, SCHED_LOCK, curproc};
use crate::machdep::{self, TrapFrame};
use crate::proc::{Pid, Proc, Process};
use crate::uvm_glue;

/// Forks so far (statistics).
pub static NFORKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A forked thread's first MI code, from the arch trampoline after
/// `proc_trampoline_mi`, before it returns to user mode.
/// The arch's return path calls `userret` next, as on every way out.
pub fn child_return() {}

/// fork: a new process whose one thread returns 0 to user mode with a copy
/// of the caller's registers. Returns the child's pid.
pub fn fork1(tf: *mut TrapFrame) -> Result<Pid, i32> {
    let parent = curproc();
    let ppr = parent.p_p.clone();
    kern_proc::reserve_process()?;

    let undo_counts = || {
        kern_proc::release_thread();
        kern_proc::release_process();
    };
    let Some(vm) = ppr.vmspace() else {
        undo_counts();
        return Err(sys::errno::EINVAL);
    };
    let cvm = match vm.fork() {
        Ok(v) => v,
        Err(e) => {
            undo_counts();
            return Err(e);
        }
    };
    let Some(top) = crate::uvm_glue::uvm_uarea_alloc() else {
        uvm_glue::uvmspace_free(cvm);
        undo_counts();
        return Err(ENOMEM);
    };

    // Build the process, then publish it with a fresh pid.
    let comm = ppr.comm();
    let mut tree = PROCTREE.lock();
    let pid = tree.alloc_pid();
    let pr = Arc::new(Process::new(pid, 0, &comm));
    let (ppid, pgid) = (ppr.ps_pid, tree.get(ppr.ps_pid).map(|e| e.pgid).unwrap_or(pid));
    // Reserve the pid at once so no other fork can pick it.
    tree.insert(pr.clone(), ppid, pgid);
    drop(tree);

    *pr.ps_fd.lock() = ppr.ps_fd.lock().copy();
    pr.ps_cwd.store(ppr.ps_cwd.load(Ordering::Relaxed), Ordering::Relaxed);
    {
        let pi = ppr.ps_mtx.lock();
        let acts = pi.ps_sigacts;
        drop(pi);
        pr.ps_mtx.lock().ps_sigacts = acts;
    }
    *pr.ps_vmspace.lock() = Some(cvm.clone());

    let p = Box::into_raw(Proc::new(pid, pr.clone(), top, PUSER));
    // SAFETY: just allocated; not visible to anyone else yet.
    let cp = unsafe { &*p };
    cp.p_sigmask.store(parent.p_sigmask.load(Ordering::Relaxed), Ordering::Relaxed);
    cp.set_vmspace(Some(cvm));
    // SAFETY: the Pcb is ours until the thread is queued.
    let tls = unsafe { (*parent.pcb()).pcb_tls };
    machdep::cpu_fork(tf, unsafe { &mut *cp.pcb() }, top, 0, tls);
    pr.ps_mtx.lock().ps_threads.push(p);
    pr.ps_threadcnt.store(1, Ordering::Release);
    pr.ps_unreaped.store(1, Ordering::Release);
    NFORKS.fetch_add(1, Ordering::Relaxed);
    crate::cpu::count(|s| &s.forks);
    // NOTE_FORK, and NOTE_TRACK's knote on the child, before the child can
    // run (and so exit).
    crate::kern_event::knote_proc_fork(&ppr, pid);

    let g = SCHED_LOCK.lock();
    cp.sched(&g).p_cpu = machdep::curcpu().ci_cpuid;
    kern_sched::setrunqueue(p, &g);
    Ok(pid)
}

/// __tfork: a new thread in the caller's process, starting where the
/// caller returns with the stack `stack` and thread pointer `tcb`.
pub fn tfork(tf: *mut TrapFrame, tcb: u64, tidp: u64, stack: u64) -> Result<Pid, i32> {
    let parent = curproc();
    let pr = parent.p_p.clone();
    if pr.has_flag(crate::proc::PS_EXITING) {
        return Err(sys::errno::EINVAL);
    }
    kern_proc::reserve_thread()?;
    let Some(top) = crate::uvm_glue::uvm_uarea_alloc() else {
        kern_proc::release_thread();
        return Err(ENOMEM);
    };
    let tid = PROCTREE.lock().alloc_tid();
    let p = Box::into_raw(Proc::new(tid, pr.clone(), top, PUSER));
    // SAFETY: just allocated; not visible yet.
    let cp = unsafe { &*p };
    cp.p_sigmask.store(parent.p_sigmask.load(Ordering::Relaxed), Ordering::Relaxed);
    cp.set_vmspace(pr.vmspace());
    // SAFETY: as above.
    machdep::cpu_fork(tf, unsafe { &mut *cp.pcb() }, top, stack as usize, tcb);
    if tidp != 0
        && let Err(e) = uvm_glue::copyout(&tid.to_ne_bytes(), tidp)
    {
        crate::uvm_glue::uvm_uarea_free(top);
        // SAFETY: never published.
        drop(unsafe { Box::from_raw(p) });
        kern_proc::release_thread();
        return Err(e);
    }
    {
        let mut inner = pr.ps_mtx.lock();
        inner.ps_threads.push(p);
        pr.ps_threadcnt.fetch_add(1, Ordering::AcqRel);
        pr.ps_unreaped.fetch_add(1, Ordering::AcqRel);
    }
    let g = SCHED_LOCK.lock();
    cp.sched(&g).p_cpu = machdep::curcpu().ci_cpuid;
    kern_sched::setrunqueue(p, &g);
    Ok(tid)
}
