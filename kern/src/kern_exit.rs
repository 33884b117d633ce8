//! exit1, the reaper, and wait (OpenBSD `kern_exit.c`).
//!
//! # The exit path (exit=reaper, the classic design)
//!
//! 1. `exit1` (on the exiting thread, may sleep): the first thread to exit
//!    the process records the status and single-threads the process (the
//!    others exit at their next `userret` or interruptible sleep, and it
//!    waits for them); each thread leaves the thread list and adds its
//!    CPU time to the process; the last one closes the files, makes the
//!    rusage final and gives its children to init.
//! 2. The thread marks itself SDEAD, queues itself on its CPU's dead list
//!    and switches away for good (`sched_exit_reaper`).
//! 3. That CPU's idle thread, which can only run once the switch away from
//!    the dead thread is complete, moves the list to the reaper.
//! 4. The reaper thread frees the kernel stack and the `Proc`; for a last
//!    thread it tears the address space down (the pmap is loaded nowhere:
//!    every thread of the process is off CPU), then makes the zombie,
//!    posts SIGCHLD and wakes the parent.
//!
//! `wait4` (dowait6) collects a zombie's status and rusage and frees it.
//! A parent that ignores SIGCHLD (PS_NOZOMBIE) gets no zombie: the reaper
//! frees the process at once, so nothing depends on the parent calling
//! wait (DESIGN invariant 7).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use sys::resource::Rusage;
use sys::signal::{SA_NOCLDWAIT, SIG_IGN, SIGCHLD};

use crate::kern_proc::{self, INIT_PID, PROCTREE};
use crate::kern_sched::{self, PWAIT, SCHED_LOCK, curproc};
use crate::kern_synch::{self, msleep, tsleep};
use crate::mutex::Mutex;
use crate::proc::{
    P_SYSTEM, P_WEXIT, PS_EXITING, PS_NOZOMBIE, PS_SINGLEEXIT, PS_WAITCONT, PS_WAITSTOP, PS_ZOMBIE, Pid,
    Proc, ProcStat, Process, cycles_to_timeval,
};
use crate::{kern_sig, machdep, uvm_glue};

/// Dead threads handed over by the idle threads, for the reaper.
static DEADPROC: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());

/// Threads reaped so far (for the tests and the benchmark).
pub static NREAPED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Whether a status comes from `exit()` (the whole process) or from
/// `__threxit` (one thread).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Process,
    Thread,
}

/// Wait channel of a process: its parent's wait4 sleeps here.
pub fn process_wchan(pr: &Process) -> usize {
    pr as *const Process as usize
}

/// Exit the current thread; with `ExitKind::Process` the whole process,
/// with wait status `xstat`. Never returns.
pub fn exit1(xstat: i32, kind: ExitKind) -> ! {
    let p = curproc();
    let pr = p.p_p.clone();
    assert!(!p.has_flag(P_SYSTEM), "exit1: kernel thread");
    p.set_flag(P_WEXIT);
    if pr.ps_pid == INIT_PID && (kind == ExitKind::Process || pr.ps_threadcnt.load(Ordering::Acquire) == 1) {
        // As OpenBSD: nothing can run without init to adopt orphans.
        panic!("init died (status {xstat:#x})");
    }
    if kind == ExitKind::Process {
        let old = pr.ps_flags.fetch_or(PS_EXITING | PS_SINGLEEXIT, Ordering::AcqRel);
        // If another thread is already exiting the process, this one just
        // goes away: its status is not the process's.
        if old & PS_EXITING == 0 {
            pr.ps_xstat.store(xstat, Ordering::Release);
            single_thread_set(p, &pr, true);
        }
    }

    // __threxit: clear the user's thread id word so a joiner sees it.
    let tidp = p.p_threxit_tid.load(Ordering::Relaxed);
    if tidp != 0 {
        let _ = crate::uvm_glue::copyout(&0i32.to_ne_bytes(), tidp);
    }

    // Leave the process: thread list, counts, CPU time. The time is
    // closed up to now first (one counter read per exit, off the trap
    // path), so it includes this exit1 so far.
    crate::cpu::acct_sync();
    let added = p.p_times.cycles();
    let last = {
        let mut inner = pr.ps_mtx.lock();
        let me = p as *const Proc as *mut Proc;
        inner.ps_threads.retain(|&t| t != me);
        inner.ps_tu[0] += added[0];
        inner.ps_tu[1] += added[1];
        let left = pr.ps_threadcnt.fetch_sub(1, Ordering::AcqRel) - 1;
        if left == 0 {
            true
        } else {
            if left == 1 && !inner.ps_single.is_null() {
                drop(inner);
                kern_synch::wakeup(&pr.ps_threadcnt as *const _ as usize);
            }
            false
        }
    };

    if last {
        crate::cpu::count(|s| &s.exits);
        // A process whose last thread left by __threxit exits with 0.
        if pr.ps_flags.fetch_or(PS_EXITING, Ordering::AcqRel) & PS_EXITING == 0 {
            pr.ps_xstat.store(0, Ordering::Release);
        }
        crate::kern_descrip::fdfree(&pr);
        // Rusage is final before anyone can see the process exiting
        // (invariant 1): the zombie is made later, by the reaper. Closing
        // the files was this process's system time too; what follows (the
        // tree, the switch away) is charged to this thread but no longer
        // reaches the rusage, and the teardown is the reaper's own time.
        {
            crate::cpu::acct_sync();
            let t = p.p_times.cycles();
            let mut inner = pr.ps_mtx.lock();
            inner.ps_tu[0] += t[0].wrapping_sub(added[0]);
            inner.ps_tu[1] += t[1].wrapping_sub(added[1]);
            let mut ru = pr.ps_ru.lock();
            ru.ru_utime = cycles_to_timeval(inner.ps_tu[0]);
            ru.ru_stime = cycles_to_timeval(inner.ps_tu[1]);
        }
        let mut tree = PROCTREE.lock();
        // This exit may orphan our own group or our children's; find them
        // before the children move to init.
        let mut cand: alloc::vec::Vec<Pid> = alloc::vec::Vec::new();
        if let Some(me) = tree.get(pr.ps_pid) {
            cand.push(me.pgid);
            cand.extend(me.children.iter().filter_map(|k| tree.get(*k).map(|e| e.pgid)));
        }
        let zombie_kids = tree.reparent_children(pr.ps_pid);
        let orphaned = tree.orphaned_stopped_pgrps(&cand, pr.ps_pid);
        drop(tree);
        if zombie_kids && let Some(init) = kern_proc::pfind(INIT_PID) {
            kern_synch::wakeup(process_wchan(&init));
        }
        // Spin locks only (PROCTREE, ps_mtx, SCHED_LOCK): nothing here
        // sleeps, so this is fine on the way out (invariant 4).
        for g in orphaned {
            crate::kern_sig::pgsignal(g, sys::signal::SIGHUP);
            crate::kern_sig::pgsignal(g, sys::signal::SIGCONT);
        }
    }
    drop(pr);

    let g = SCHED_LOCK.lock();
    p.sched(&g).p_stat = ProcStat::Sdead;
    kern_sched::sched_exit_reaper(g)
}

/// Make every other thread of the process exit and wait until they have
/// left the thread list (exit, and exec). They notice PS_SINGLEEXIT at
/// their next userret or interruptible sleep; the last to go wakes us.
/// For exec (`exiting` false) the flag is cleared again once alone; false
/// when another thread got there first (the caller must then exit).
pub fn single_thread_set(p: &Proc, pr: &Arc<Process>, exiting: bool) -> bool {
    let ident = &pr.ps_threadcnt as *const _ as usize;
    {
        let mut inner = pr.ps_mtx.lock();
        if !exiting {
            if pr.has_flag(PS_SINGLEEXIT) {
                return false;
            }
            pr.set_flag(PS_SINGLEEXIT);
        }
        inner.ps_single = p as *const Proc as *mut Proc;
        for &t in inner.ps_threads.iter() {
            if !core::ptr::eq(t, p) {
                // A stopped sibling must run to exit (OpenBSD does the same
                // for SINGLE_EXIT); a sleeping or running one is kicked.
                let g = SCHED_LOCK.lock();
                kern_synch::setrun_if_stopped(t, &g);
                drop(g);
                kern_sig::kick_thread(t);
            }
        }
    }
    loop {
        let inner = pr.ps_mtx.lock();
        if pr.ps_threadcnt.load(Ordering::Acquire) <= 1 {
            break;
        }
        if !exiting && pr.has_flag(PS_EXITING) {
            // Another thread is exiting the whole process: exec loses.
            return false;
        }
        let _ = msleep(ident, inner, &pr.ps_mtx, PWAIT, "sthread", 1, false);
    }
    if !exiting {
        pr.ps_mtx.lock().ps_single = core::ptr::null_mut();
        pr.clear_flag(PS_SINGLEEXIT);
    }
    true
}

/// A thread of a process being single-threaded for exit calls this from
/// userret or an interrupted sleep.
pub fn single_thread_check() {
    let p = curproc();
    if p.p_p.has_flag(PS_SINGLEEXIT) && !p.has_flag(P_WEXIT) {
        let single = p.p_p.ps_mtx.lock().ps_single;
        if !core::ptr::eq(single, p) {
            exit1(0, ExitKind::Thread);
        }
    }
}

/// From the idle threads: dead threads, now off their CPUs.
pub fn reaper_enqueue(dead: VecDeque<*mut Proc>) {
    DEADPROC.lock().extend(dead.into_iter().map(|p| p as usize));
    kern_synch::wakeup(&DEADPROC as *const _ as usize);
}

/// Start the reaper thread. Before: the scheduler runs.
pub fn reaper_start() {
    crate::kern_kthread::kthread_create(reaper, 0, "reaper").expect("cannot start the reaper");
}

fn reaper(_: usize) {
    loop {
        let mut q = DEADPROC.lock();
        while q.is_empty() {
            q = msleep(&DEADPROC as *const _ as usize, q, &DEADPROC, PWAIT, "reaper", 0, false).0;
        }
        let list = core::mem::take(&mut *q);
        drop(q);
        for p in list {
            proc_free(p as *mut Proc);
        }
    }
}

/// Free a dead thread that is off its CPU; for a process's last thread,
/// tear down the process and make the zombie.
fn proc_free(p: *mut Proc) {
    // SAFETY: the thread is dead and off its CPU (it went through an idle
    // thread's dead list): nothing else refers to its box any more.
    let b = unsafe { Box::from_raw(p) };
    {
        let g = SCHED_LOCK.lock();
        assert!(b.sched(&g).p_stat == ProcStat::Sdead, "reaper: thread {} not dead", b.p_tid);
    }
    machdep::kstack_free(b.p_kstack);
    if let Some(vm) = b.set_vmspace(None) {
        uvm_glue::uvmspace_free(vm);
    }
    let pr = b.p_p.clone();
    drop(b);
    kern_proc::release_thread();
    NREAPED.fetch_add(1, Ordering::Relaxed);
    crate::cpu::count(|s| &s.reaps);
    // The last thread of the process to be freed (not merely the last to
    // exit): every thread is off its CPU now, so no CPU has the pmap
    // loaded, and the zombie appears only after the teardown (DESIGN
    // invariants 2 and 5).
    if pr.ps_unreaped.fetch_sub(1, Ordering::AcqRel) == 1 && pr.has_flag(PS_EXITING) {
        let vm = pr.ps_vmspace.lock().take();
        if let Some(vm) = vm {
            uvm_glue::uvmspace_free(vm);
        }
        process_zombie(&pr);
    }
}

/// Make `pr` a zombie, or free it at once if its parent wants none.
fn process_zombie(pr: &Arc<Process>) {
    let mut tree = PROCTREE.lock();
    let ppid = tree.get(pr.ps_pid).map(|e| e.ppid).unwrap_or(INIT_PID);
    let parent = tree.get(ppid).map(|e| e.process.clone());
    let nozombie = match &parent {
        Some(pp) => {
            let inner = pp.ps_mtx.lock();
            let sa = inner.ps_sigacts[SIGCHLD as usize];
            sa.sa_handler == SIG_IGN || sa.sa_flags & SA_NOCLDWAIT != 0
        }
        None => true,
    };
    if nozombie && ppid != INIT_PID {
        pr.set_flag(PS_NOZOMBIE);
        // Hand it to init, which reaps it like any orphan.
        if let Some(e) = tree.procs.get_mut(&ppid) {
            e.children.retain(|&c| c != pr.ps_pid);
        }
        if let Some(e) = tree.procs.get_mut(&pr.ps_pid) {
            e.ppid = INIT_PID;
        }
        if let Some(init) = tree.procs.get_mut(&INIT_PID) {
            init.children.push(pr.ps_pid);
        }
    }
    pr.set_flag(PS_ZOMBIE);
    let target =
        if nozombie && ppid != INIT_PID { tree.get(INIT_PID).map(|e| e.process.clone()) } else { parent };
    drop(tree);
    crate::kern_event::knote_proc_exit(pr);
    if let Some(pp) = target {
        if !nozombie {
            kern_sig::psignal(&pp, SIGCHLD);
        }
        kern_synch::wakeup(process_wchan(&pp));
    }
}

/// Result of a successful wait.
pub struct WaitResult {
    pub pid: Pid,
    pub status: i32,
    pub rusage: Rusage,
}

/// Add `b` into `a`, but for the times, which children hand up in cycles
/// (`ProcessInner::ps_ctu`).
fn ruadd(a: &mut Rusage, b: &Rusage) {
    a.ru_minflt += b.ru_minflt;
    a.ru_majflt += b.ru_majflt;
    a.ru_nvcsw += b.ru_nvcsw;
    a.ru_nivcsw += b.ru_nivcsw;
    a.ru_maxrss = a.ru_maxrss.max(b.ru_maxrss);
}

/// wait4 (OpenBSD dowait6): `pid` > 0 that child, 0 any child in the
/// caller's group, -1 any child, < -1 any child in group -pid. Ok(None)
/// with WNOHANG when nothing is ready; ECHILD when no child matches;
/// EINTR when a signal arrives while waiting.
pub fn dowait6(pid: Pid, options: i32) -> Result<Option<WaitResult>, i32> {
    use sys::wait::*;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED) != 0 {
        return Err(sys::errno::EINVAL);
    }
    let me = curproc().p_p.clone();
    let ident = process_wchan(&me);
    let mut tree = PROCTREE.lock();
    loop {
        let Some(mine) = tree.get(me.ps_pid) else { return Err(sys::errno::ECHILD) };
        let mypgid = mine.pgid;
        let mut matched = false;
        let mut ready = None;
        for &c in mine.children.iter() {
            let Some(e) = tree.get(c) else { continue };
            let ok = match pid {
                -1 => true,
                0 => e.pgid == mypgid,
                x if x > 0 => c == x,
                x => e.pgid == -x,
            };
            if !ok {
                continue;
            }
            matched = true;
            let cp = &e.process;
            if cp.has_flag(PS_ZOMBIE) {
                ready = Some((c, true, cp.ps_xstat.load(Ordering::Acquire)));
                break;
            }
            if options & WUNTRACED != 0 && cp.has_flag(PS_WAITSTOP) {
                cp.clear_flag(PS_WAITSTOP);
                ready = Some((c, false, cp.ps_xstat.load(Ordering::Acquire)));
                break;
            }
            if options & WCONTINUED != 0 && cp.has_flag(PS_WAITCONT) {
                cp.clear_flag(PS_WAITCONT);
                ready = Some((c, false, W_CONTINUED));
                break;
            }
        }
        if let Some((c, zombie, status)) = ready {
            if !zombie {
                return Ok(Some(WaitResult { pid: c, status, rusage: Rusage::default() }));
            }
            let e = tree.remove(c).expect("wait: zombie vanished");
            drop(tree);
            let ru = *e.process.ps_ru.lock();
            let (tu, cru, ctu) = {
                let ci = e.process.ps_mtx.lock();
                (ci.ps_tu, ci.ps_cru, ci.ps_ctu)
            };
            {
                let mut mi = me.ps_mtx.lock();
                ruadd(&mut mi.ps_cru, &ru);
                ruadd(&mut mi.ps_cru, &cru);
                for i in 0..2 {
                    mi.ps_ctu[i] += tu[i] + ctu[i];
                }
            }
            process_zap(e.process);
            return Ok(Some(WaitResult { pid: c, status, rusage: ru }));
        }
        if !matched {
            return Err(sys::errno::ECHILD);
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        let (t, r) = msleep(ident, tree, &PROCTREE, PWAIT, "wait", 0, true);
        tree = t;
        if let Err(e) = r {
            return Err(e.errno());
        }
    }
}

/// Free a collected zombie (its last references go with the Arc).
fn process_zap(pr: Arc<Process>) {
    debug_assert!(pr.has_flag(PS_ZOMBIE));
    kern_proc::release_process();
    drop(pr);
}

/// Whether `pr` exited and was made a zombie (for ps).
pub fn is_zombie(pr: &Process) -> bool {
    pr.has_flag(PS_ZOMBIE)
}

/// Sleep a little, for callers polling a condition no one signals.
pub fn pause_ticks(t: u64) {
    let _ = tsleep(&NREAPED as *const _ as usize, PWAIT, "pause", t.max(1), false);
}
