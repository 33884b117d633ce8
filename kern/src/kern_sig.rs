//! Signals (OpenBSD `kern_sig.c`): posting, default actions, handlers,
//! stop/continue, and the user fault entry points.
//!
//! A process-directed signal (`psignal`) is given to one thread that does
//! not block it (or left pending on the process when all block it); a
//! thread-directed one (`trapsignal`, `ptsignal`) goes to that thread.
//! Pending signals act at the thread's next `userret`; an interruptible
//! sleep is cut short so that happens promptly, and a thread running on
//! another CPU is sent an IPI so it passes through `userret` soon.

// Thread pointers passed around here are live by the scheduler protocol
// (module docs of `proc`): functions take them as plain values.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use core::sync::atomic::Ordering;

use sys::signal::*;
use uvm::FaultError;
use uvm::pmap::VmProt;

use crate::kern_exit::{self, ExitKind};
use crate::kern_ipi::{self, IPI_NOP};
use crate::kern_proc::PROCTREE;
use crate::kern_sched::{self, SCHED_LOCK, curproc};
use crate::kern_synch;
use crate::machdep::{self, TrapFrame};
use crate::proc::{
    P_SYSTEM, PS_EXITING, PS_SINGLEEXIT, PS_STOPPED, PS_WAITCONT, PS_WAITSTOP, Pid, Proc, ProcStat, Process,
};
use crate::uvm_glue;

/// Signals whose default action is to stop the process.
const STOPSIGS: SigSet = sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);
/// Signals whose default action is to do nothing.
const IGNSIGS: SigSet = sigmask(SIGCHLD)
    | sigmask(SIGURG)
    | sigmask(SIGWINCH)
    | sigmask(SIGINFO)
    | sigmask(SIGCONT)
    | sigmask(SIGIO);
/// Default action "terminate with core" (oxbsd writes no core; the status
/// carries the core flag as OpenBSD's would).
const CORESIGS: SigSet = sigmask(SIGQUIT)
    | sigmask(SIGILL)
    | sigmask(SIGTRAP)
    | sigmask(SIGABRT)
    | sigmask(SIGEMT)
    | sigmask(SIGFPE)
    | sigmask(SIGBUS)
    | sigmask(SIGSEGV)
    | sigmask(SIGSYS);
/// Can be neither caught, blocked nor ignored.
const CANTMASK: SigSet = sigmask(SIGKILL) | sigmask(SIGSTOP);

fn valid(sig: u32) -> bool {
    (1..NSIG).contains(&sig)
}

/// Whether the current thread has a signal that would interrupt a sleep
/// (or must exit because its process is exiting).
pub fn signal_pending(p: &Proc) -> bool {
    if p.has_flag(P_SYSTEM) {
        return false;
    }
    let pr = &p.p_p;
    if pr.has_flag(PS_SINGLEEXIT) || pr.has_flag(PS_STOPPED) {
        return true;
    }
    let pend = p.p_siglist.load(Ordering::Acquire);
    pend & !p.p_sigmask.load(Ordering::Acquire) != 0 || pend & CANTMASK != 0
}

/// Make `t` notice its pending signals: cut an interruptible sleep short,
/// continue it if stopped for SIGKILL/exit, or IPI its CPU if it runs.
pub fn kick_thread(t: *mut Proc) {
    let g = SCHED_LOCK.lock();
    // SAFETY: the caller found `t` on a thread list under ps_mtx or holds
    // it otherwise: it is live until it exits, which needs SCHED_LOCK.
    let tp = unsafe { &*t };
    let s = tp.sched(&g);
    match s.p_stat {
        ProcStat::Ssleep => kern_synch::wakeup_signalled(t, &g),
        ProcStat::Sonproc => {
            let cpu = s.p_cpu;
            if cpu != machdep::curcpu().ci_cpuid
                && let Some(ci) = crate::cpu::cpu_info(cpu)
            {
                kern_ipi::ipi_send(ci, IPI_NOP);
            }
        }
        _ => {}
    }
}

/// Post `sig` to thread `t`.
pub fn ptsignal(t: *mut Proc, sig: u32) {
    // SAFETY: as in kick_thread.
    let tp = unsafe { &*t };
    tp.p_siglist.fetch_or(sigmask(sig), Ordering::AcqRel);
    if sig == SIGKILL || sig == SIGCONT {
        let g = SCHED_LOCK.lock();
        if tp.sched(&g).p_stat == ProcStat::Sstop {
            kern_synch::setrun_if_stopped(t, &g);
        }
    }
    kick_thread(t);
}

/// Post `sig` to process `pr` (kill, SIGCHLD).
pub fn psignal(pr: &Process, sig: u32) {
    if !valid(sig) || pr.has_flag(PS_EXITING) {
        return;
    }
    // EVFILT_SIGNAL counts every posting, caught, ignored or blocked (as
    // OpenBSD's ptsignal), so before the action is looked at.
    crate::kern_event::knote_signal(pr, sig);
    let mut inner = pr.ps_mtx.lock();
    let act = inner.ps_sigacts[sig as usize];
    if sig == SIGCONT {
        pr.ps_contgen.fetch_add(1, Ordering::AcqRel);
        let was_stopped = pr.has_flag(PS_STOPPED);
        if was_stopped {
            pr.clear_flag(PS_STOPPED | PS_WAITSTOP);
            pr.set_flag(PS_WAITCONT);
            let g = SCHED_LOCK.lock();
            for &t in inner.ps_threads.iter() {
                // SAFETY: on the thread list under ps_mtx: live.
                let tp = unsafe { &*t };
                tp.p_siglist.fetch_and(!STOPSIGS, Ordering::AcqRel);
                kern_synch::setrun_if_stopped(t, &g);
            }
        }
        for &t in inner.ps_threads.iter() {
            // SAFETY: as above.
            unsafe { &*t }.p_siglist.fetch_and(!STOPSIGS, Ordering::AcqRel);
        }
        if was_stopped {
            // The parent hears of it (wait4 WCONTINUED, SIGCHLD); the
            // tree lock comes before ps_mtx, so let go of it first.
            drop(inner);
            notify_parent(pr);
            if act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN {
                return;
            }
            inner = pr.ps_mtx.lock();
        } else if act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN {
            return;
        }
    }
    if STOPSIGS & sigmask(sig) != 0 {
        for &t in inner.ps_threads.iter() {
            // SAFETY: as above.
            unsafe { &*t }.p_siglist.fetch_and(!sigmask(SIGCONT), Ordering::AcqRel);
        }
    }
    if act.sa_handler == SIG_IGN && sig != SIGKILL {
        return;
    }
    if act.sa_handler == SIG_DFL && IGNSIGS & sigmask(sig) != 0 && sig != SIGCONT {
        return;
    }
    // Prefer a thread that does not block it; SIGKILL goes to all. The
    // thread list is walked and signalled under ps_mtx: a thread leaves
    // the list (under ps_mtx) before it can die, so none of these can be
    // freed meanwhile.
    if sig == SIGKILL {
        for &t in inner.ps_threads.iter() {
            ptsignal(t, sig);
        }
        return;
    }
    let target = inner
        .ps_threads
        .iter()
        // SAFETY: on the thread list under ps_mtx: live.
        .find(|&&t| unsafe { &*t }.p_sigmask.load(Ordering::Acquire) & sigmask(sig) == 0)
        .or(inner.ps_threads.first())
        .copied();
    if let Some(t) = target {
        ptsignal(t, sig);
    }
}

/// The next signal the current thread must act on, if any, with the
/// process's SIGCONT generation read before it was taken.
fn cursig(p: &Proc) -> Option<(u32, u32)> {
    let contgen = p.p_p.ps_contgen.load(Ordering::Acquire);
    let pend = p.p_siglist.load(Ordering::Acquire);
    let deliverable = pend & (!p.p_sigmask.load(Ordering::Acquire) | CANTMASK);
    if deliverable == 0 {
        return None;
    }
    // SIGKILL first, then the lowest number.
    let sig = if deliverable & sigmask(SIGKILL) != 0 { SIGKILL } else { deliverable.trailing_zeros() + 1 };
    p.p_siglist.fetch_and(!sigmask(sig), Ordering::AcqRel);
    Some((sig, contgen))
}

/// Act on `sig` for the current thread.
fn postsig(tf: *mut TrapFrame, p: &Proc, sig: u32, contgen: u32) {
    let pr = &p.p_p;
    let act = pr.ps_mtx.lock().ps_sigacts[sig as usize];
    let handler = if CANTMASK & sigmask(sig) != 0 { SIG_DFL } else { act.sa_handler };
    match handler {
        SIG_IGN => {}
        SIG_DFL => {
            let m = sigmask(sig);
            if IGNSIGS & m != 0 {
                return;
            }
            if STOPSIGS & m != 0 {
                proc_stop(p, sig, contgen);
                return;
            }
            sigexit(sig);
        }
        catcher => {
            let mask = p.p_sigmask.load(Ordering::Acquire);
            if !machdep::sendsig(tf, catcher as u64, sig, mask) {
                // No room for the context: the process cannot continue.
                sigexit(SIGSEGV);
            }
            let mut newmask = mask | act.sa_mask;
            if act.sa_flags & SA_NODEFER == 0 {
                newmask |= sigmask(sig);
            }
            p.p_sigmask.store(newmask & !CANTMASK, Ordering::Release);
            if act.sa_flags & SA_RESETHAND != 0 {
                pr.ps_mtx.lock().ps_sigacts[sig as usize].sa_handler = SIG_DFL;
            }
        }
    }
}

/// Terminate the process by signal `sig`.
pub fn sigexit(sig: u32) -> ! {
    let st = if CORESIGS & sigmask(sig) != 0 {
        sys::wait::w_coredump(sig as i32)
    } else {
        sys::wait::w_exitcode(0, sig as i32)
    };
    kern_exit::exit1(st, ExitKind::Process)
}

/// Stop the process (default action of a stop signal): tell the parent,
/// then park this thread; the others park at their next userret.
fn proc_stop(p: &Proc, sig: u32, contgen: u32) {
    let pr = p.p_p.clone();
    if pr.has_flag(PS_EXITING) || pr.has_flag(PS_SINGLEEXIT) {
        return;
    }
    let newly = {
        // Under ps_mtx, which psignal(SIGCONT) holds to bump the
        // generation and to test PS_STOPPED: either it saw us stopped and
        // continued us, or we see its bump here and do not stop.
        let _inner = pr.ps_mtx.lock();
        if pr.ps_contgen.load(Ordering::Acquire) != contgen {
            return;
        }
        let newly = !pr.has_flag(PS_STOPPED);
        if newly {
            pr.ps_xstat.store(sys::wait::w_stopcode(sig as i32), Ordering::Release);
            pr.set_flag(PS_STOPPED | PS_WAITSTOP);
            pr.clear_flag(PS_WAITCONT);
        }
        newly
    };
    if newly {
        notify_parent(&pr);
        let inner = pr.ps_mtx.lock();
        for &t in inner.ps_threads.iter() {
            if !core::ptr::eq(t, p) {
                kick_thread(t);
            }
        }
    }
    park_if_stopped(p);
}

/// Tell the parent of `pr` that it stopped or continued: SIGCHLD unless it
/// asked for none (SA_NOCLDSTOP), and a wakeup for its wait4.
fn notify_parent(pr: &Process) {
    let parent = {
        let tree = PROCTREE.lock();
        let ppid = tree.get(pr.ps_pid).map(|e| e.ppid);
        ppid.and_then(|pp| tree.get(pp)).map(|e| e.process.clone())
    };
    if let Some(pp) = parent {
        let nocldstop = pp.ps_mtx.lock().ps_sigacts[SIGCHLD as usize].sa_flags & SA_NOCLDSTOP != 0;
        if !nocldstop {
            psignal(&pp, SIGCHLD);
        }
        kern_synch::wakeup(kern_exit::process_wchan(&pp));
    }
}

/// Sleep in SSTOP while the process is stopped (SIGCONT or SIGKILL end it).
fn park_if_stopped(p: &Proc) {
    let pr = &p.p_p;
    let stay = || {
        pr.has_flag(PS_STOPPED)
            && !pr.has_flag(PS_SINGLEEXIT)
            && p.p_siglist.load(Ordering::Acquire) & sigmask(SIGKILL) == 0
    };
    while stay() {
        let g = SCHED_LOCK.lock();
        // Checked again under the lock: ptsignal sets SIGKILL before it
        // takes the lock to wake a stopped thread, and single_thread_set
        // sets PS_SINGLEEXIT before it does, so neither can slip between
        // this test and the stop.
        if !stay() {
            break;
        }
        p.sched(&g).p_stat = ProcStat::Sstop;
        kern_sched::mi_switch(&g);
    }
}

/// Before returning to user mode: exit if the process is being
/// single-threaded for exit, stop if stopped, act on pending signals,
/// give up the CPU if asked.
pub fn userret(tf: *mut TrapFrame) {
    // The arch may come here with interrupts masked (on its way out of a
    // trap); what follows may fault on user memory (the signal frame goes
    // on a stack page that may not be resident yet) and sleep, which needs
    // them on. They go back to their state on entry afterwards.
    let saved = machdep::intr_disable();
    machdep::intr_enable();
    userret_work(tf);
    machdep::intr_disable();
    machdep::intr_restore(saved);
}

fn userret_work(tf: *mut TrapFrame) {
    let p = curproc();
    loop {
        kern_exit::single_thread_check();
        park_if_stopped(p);
        match cursig(p) {
            Some((sig, contgen)) => postsig(tf, p, sig, contgen),
            None => break,
        }
    }
    if kern_sched::want_resched() {
        kern_sched::preempt();
        kern_exit::single_thread_check();
    }
}

/// A fault the VM could not resolve, or any synchronous trap: the signal
/// is delivered even if blocked or ignored — a thread that cannot get past
/// the faulting instruction would otherwise loop forever — by resetting it
/// to the default action in that case, as OpenBSD's trapsignal does.
pub fn trapsignal(_tf: *mut TrapFrame, sig: u32, _addr: u64) {
    let p = curproc();
    let m = sigmask(sig);
    crate::kern_event::knote_signal(&p.p_p, sig);
    {
        let mut inner = p.p_p.ps_mtx.lock();
        let a = &mut inner.ps_sigacts[sig as usize];
        if a.sa_handler == SIG_IGN || p.p_sigmask.load(Ordering::Acquire) & m != 0 {
            a.sa_handler = SIG_DFL;
            p.p_sigmask.fetch_and(!m, Ordering::AcqRel);
        }
    }
    p.p_siglist.fetch_or(m, Ordering::AcqRel);
}

pub fn user_pagefault(tf: *mut TrapFrame, va: u64, access: VmProt) {
    match uvm_glue::uvm_fault(va, access) {
        Ok(()) => {}
        Err(FaultError::NoMemory) => {
            log::warn!("pid {}: out of memory at {va:#x}, killed", curproc().p_p.ps_pid);
            trapsignal(tf, SIGKILL, va);
        }
        Err(_) => trapsignal(tf, SIGSEGV, va),
    }
}

pub fn kernel_pagefault(va: u64, access: VmProt) -> bool {
    uvm_glue::uvm_fault(va, access).is_ok()
}

/// Post `sig` to every live, non-system process of group `pgid` (the
/// terminal's signal characters; OpenBSD's pgsignal). Safe from interrupt
/// context: the locks taken (PROCTREE, ps_mtx, SCHED_LOCK) all mask
/// interrupts, and the Arcs collected are dropped after the tree lock.
pub fn pgsignal(pgid: Pid, sig: u32) {
    if pgid <= 0 {
        return;
    }
    let targets: alloc::vec::Vec<alloc::sync::Arc<Process>> = {
        let tree = PROCTREE.lock();
        tree.procs
            .values()
            .filter(|e| e.pgid == pgid && !e.process.has_flag(crate::proc::PS_SYSTEM))
            .map(|e| e.process.clone())
            .collect()
    };
    for t in targets {
        psignal(&t, sig);
    }
}

/// Whether the current thread would not be stopped by `sig` because it
/// ignores, catches or blocks it (a background read then gets EIO rather
/// than stopping, as in OpenBSD's ttread for an ignored SIGTTIN).
pub fn sig_ignored_or_blocked(p: &Proc, sig: u32) -> bool {
    let h = p.p_p.ps_mtx.lock().ps_sigacts[sig as usize].sa_handler;
    h == SIG_IGN || p.p_sigmask.load(Ordering::Acquire) & sigmask(sig) != 0
}

/// Inside a system call: if the signal the current thread would act on
/// next is a stop signal with the default action, stop here (as OpenBSD's
/// issignal does from a sleep) and return true once continued, so the
/// caller retries instead of failing with EINTR. False when there is no
/// such signal; the caller then returns EINTR if one is pending.
///
/// Before: no spin lock held (this may sleep in SSTOP).
pub fn stop_if_stop_pending(p: &Proc) -> bool {
    let pend = p.p_siglist.load(Ordering::Acquire);
    let deliverable = pend & (!p.p_sigmask.load(Ordering::Acquire) | CANTMASK);
    if deliverable == 0 || deliverable & sigmask(SIGKILL) != 0 {
        return false;
    }
    let sig = deliverable.trailing_zeros() + 1;
    if STOPSIGS & sigmask(sig) == 0 || p.p_p.ps_mtx.lock().ps_sigacts[sig as usize].sa_handler != SIG_DFL {
        return false;
    }
    let Some((taken, contgen)) = cursig(p) else { return false };
    debug_assert_eq!(taken, sig);
    proc_stop(p, taken, contgen);
    true
}

/// Whether the pending signal set of `p` includes `sig` (for tests).
pub fn is_pending(p: &Proc, sig: u32) -> bool {
    p.p_siglist.load(Ordering::Acquire) & sigmask(sig) != 0
}

// ----- system calls -----

pub fn sys_sigaction(sig: i32, nsa: u64, osa: u64) -> Result<(), i32> {
    use sys::errno::EINVAL;
    let sig = u32::try_from(sig).map_err(|_| EINVAL)?;
    if !valid(sig) {
        return Err(EINVAL);
    }
    let new: Option<SigAction> = if nsa != 0 { Some(uvm_glue::copyin_val(nsa)?) } else { None };
    if let Some(n) = &new
        && CANTMASK & sigmask(sig) != 0
        && n.sa_handler != SIG_DFL
    {
        return Err(EINVAL);
    }
    let pr = curproc().p_p.clone();
    let old = pr.ps_mtx.lock().ps_sigacts[sig as usize];
    if osa != 0 {
        uvm_glue::copyout_val(&old, osa)?;
    }
    if let Some(mut n) = new {
        n.sa_mask &= !CANTMASK;
        pr.ps_mtx.lock().ps_sigacts[sig as usize] = n;
        // Setting a default-ignored or ignored action discards pending.
        if n.sa_handler == SIG_IGN || (n.sa_handler == SIG_DFL && IGNSIGS & sigmask(sig) != 0) {
            for &t in pr.ps_mtx.lock().ps_threads.iter() {
                // SAFETY: on the thread list under ps_mtx: live.
                unsafe { &*t }.p_siglist.fetch_and(!sigmask(sig), Ordering::AcqRel);
            }
        }
    }
    Ok(())
}

/// sigprocmask: returns the old mask (OpenBSD passes the new mask by
/// value and returns the old one in the result register).
pub fn sys_sigprocmask(how: i32, mask: u32) -> Result<u32, i32> {
    let p = curproc();
    let old = p.p_sigmask.load(Ordering::Acquire);
    let new = match how {
        SIG_BLOCK => old | mask,
        SIG_UNBLOCK => old & !mask,
        SIG_SETMASK => mask,
        _ => return Err(sys::errno::EINVAL),
    };
    p.p_sigmask.store(new & !CANTMASK, Ordering::Release);
    Ok(old)
}

pub fn sys_sigreturn(tf: *mut TrapFrame, scp: u64) -> Result<(), i32> {
    let mask = machdep::sigreturn(tf, scp)?;
    curproc().p_sigmask.store(mask & !CANTMASK, Ordering::Release);
    Err(sys::errno::EJUSTRETURN)
}

/// kill: pid > 0 that process; 0 the caller's group; -1 every process but
/// init, kernel ones and the caller... (OpenBSD: all the caller may
/// signal, itself included); < -1 group -pid. Signal 0 only checks.
pub fn sys_kill(pid: Pid, sig: i32) -> Result<(), i32> {
    use sys::errno::{EINVAL, ESRCH};
    let sig = u32::try_from(sig).map_err(|_| EINVAL)?;
    if sig != 0 && !valid(sig) {
        return Err(EINVAL);
    }
    let me = curproc().p_p.ps_pid;
    let targets: alloc::vec::Vec<alloc::sync::Arc<Process>> = {
        let tree = PROCTREE.lock();
        let mypgid = tree.get(me).map(|e| e.pgid).unwrap_or(0);
        tree.procs
            .values()
            .filter(|e| {
                !e.process.has_flag(crate::proc::PS_SYSTEM) && !e.process.has_flag(crate::proc::PS_ZOMBIE)
            })
            .filter(|e| match pid {
                x if x > 0 => e.process.ps_pid == x,
                0 => e.pgid == mypgid,
                -1 => e.process.ps_pid != crate::kern_proc::INIT_PID,
                x => e.pgid == -x,
            })
            .map(|e| e.process.clone())
            .collect()
    };
    if targets.is_empty() {
        return Err(ESRCH);
    }
    if sig != 0 {
        for t in targets {
            psignal(&t, sig);
        }
    }
    Ok(())
}
