//! exit1, the reaper, and wait (OpenBSD `kern_exit.c`).
//!
//! Two exit strategies live in one kernel, chosen at boot (`exit=`):
//!
//! # exit=direct (the default): no reaper
//!
//! 1. `exit1` (on the exiting thread, may sleep): the first thread to exit
//!    the process records the status and single-threads it (the others
//!    exit at their next `userret` or interruptible sleep; the last of
//!    them to leave wakes it). Every thread deactivates its pmap and drops
//!    its reference to the address space *before* it leaves the thread
//!    list, so when the last thread finds itself last, no CPU runs the
//!    process's pmap any more (invariants 2 and 3).
//! 2. The last thread closes the files, makes the rusage final, tears the
//!    address space down itself (`uvm_purge`: one TLB flush by ASID/PCID,
//!    no global lock, so exits on different CPUs tear down in parallel)
//!    and gives its children to init.
//! 3. It marks itself SDEAD. From here it takes spin locks only; a sleep
//!    panics in assertwaitok (invariant 4). It makes the zombie, posts
//!    NOTE_EXIT and SIGCHLD and wakes the parent (or hands a PS_NOZOMBIE
//!    process to init) — the address space is gone already (invariant 5).
//! 4. `sched_exit` switches straight to the next runnable thread; that
//!    thread, at the end of the switch and still under the scheduler lock,
//!    frees the dead one's kernel stack (into the stack cache: no unmapping,
//!    no shootdown) and its `Proc` (`proc_free_switched`; invariant 6).
//!
//! # exit=reaper (the classic design, kept for comparison)
//!
//! Steps 1 and the rusage of 2 as above; then the thread marks itself
//! SDEAD, queues itself on its CPU's dead list and switches to idle
//! (`sched_exit_reaper`); idle moves the list to the reaper thread, which
//! frees the kernel stack and the `Proc`, tears the address space down
//! (serialised, newest first as OpenBSD's LIFO deadproc list), makes the
//! zombie, posts SIGCHLD and wakes the parent.
//!
//! # wait
//!
//! `wait4` (dowait6) collects a zombie's status and rusage, waits until
//! every thread of it is freed (`ps_deadcond`, the seed's "pdead": a
//! moment at most, the dead thread is switching away), and frees it. A
//! parent that ignores SIGCHLD (PS_NOZOMBIE) gets no zombie: init adopts
//! and reaps it, so nothing depends on the parent calling wait
//! (invariant 7); the parent is woken too, so its wait4 sees ECHILD.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use sys::resource::Rusage;
use sys::signal::{SA_NOCLDWAIT, SIG_IGN, SIGCHLD};

use crate::boot_args::ExitStrategy;
use crate::kern_proc::{self, INIT_PID, PROCTREE};
use crate::kern_sched::SchedGuard;
use crate::kern_sched::{self, PWAIT, SCHED_LOCK, curproc};
use crate::kern_synch::{self, msleep, tsleep};
use crate::mutex::Mutex;
use crate::proc::{
    P_SYSTEM, P_WEXIT, PS_EXITING, PS_NOZOMBIE, PS_SINGLEEXIT, PS_WAITCONT, PS_WAITSTOP, PS_ZOMBIE, Pid,
    Proc, ProcStat, Process, cycles_to_timeval,
};
use crate::{kern_sig, machdep, uvm_glue};

/// Dead threads handed over by the idle threads, for the reaper; freed
/// newest first, as OpenBSD's deadproc list (LIST_INSERT_HEAD, reaped from
/// the head): the comparison runs the classic design as it was.
static DEADPROC: Mutex<alloc::vec::Vec<usize>> = Mutex::new(alloc::vec::Vec::new());

/// exit=direct (the default until `exit_init` says otherwise).
static EXIT_DIRECT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);
/// The `deadsleep` boot word: an exiting thread sleeps once SDEAD.
static DEAD_SLEEP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Boot: choose the exit strategy (and start the reaper for exit=reaper).
/// Before: the scheduler runs; no user process exists yet.
pub fn exit_init(s: ExitStrategy, dead_sleep: bool) {
    EXIT_DIRECT.store(s == ExitStrategy::Direct, Ordering::Release);
    DEAD_SLEEP.store(dead_sleep, Ordering::Release);
    crate::printf!("exit: {}\n", s.name());
    if s == ExitStrategy::Reaper {
        reaper_start();
    }
}

/// The exit strategy in use.
pub fn exit_strategy() -> ExitStrategy {
    if EXIT_DIRECT.load(Ordering::Relaxed) { ExitStrategy::Direct } else { ExitStrategy::Reaper }
}

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
    // Leave user space for good: this thread touches no user memory from
    // here on. Done before leaving the thread list, so once the last
    // thread sees itself last no sibling has the pmap loaded any more
    // (invariants 2 and 3), and a switch from this thread once dead
    // leaves nothing of it loaded (invariant 8).
    pmap_leave(p);
    let direct = EXIT_DIRECT.load(Ordering::Relaxed);
    if direct {
        // This thread's reference to the map. Dropped before the thread
        // leaves the list, so the last thread's teardown is the real one;
        // if it is the map's last reference (a map exec left behind), the
        // teardown happens here, on this CPU, holding no lock.
        if let Some(vm) = p.set_vmspace(None) {
            uvm_glue::uvmspace_free(vm);
        }
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
        if direct {
            // Tear the address space down now, before the zombie can be
            // seen (invariant 5), holding no lock: exits on other CPUs do
            // theirs at the same time. Every thread has deactivated the
            // pmap (above), so the purge needs one flush by ASID/PCID and no
            // per-page invalidation. Whoever drops the last reference later
            // frees only the empty pmap.
            let vm = pr.ps_vmspace.lock().take();
            if let Some(vm) = vm {
                uvm_glue::uvm_purge(&vm);
                uvm_glue::uvmspace_free(vm);
            }
        }
        // Rusage is final before anyone can see the process exiting
        // (invariant 1). Closing the files and (exit=direct) the teardown
        // were this process's system time; what follows (the tree, the
        // switch away) is charged to this thread but no longer reaches the
        // rusage. Under exit=reaper the teardown is the reaper's own time.
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

    if !direct {
        drop(pr);
        let g = SCHED_LOCK.lock();
        p.sched(&g).p_stat = ProcStat::Sdead;
        kern_sched::sched_exit_reaper(g)
    }
    // exit=direct. Dead from here: spin locks only, never a sleep
    // (invariant 4; assertwaitok panics if anything tries).
    {
        let g = SCHED_LOCK.lock();
        p.sched(&g).p_stat = ProcStat::Sdead;
    }
    if DEAD_SLEEP.load(Ordering::Relaxed) {
        crate::printf!("exit: tid {} sleeps while SDEAD (boot word deadsleep)\n", p.p_tid);
        let _ = tsleep(&DEAD_SLEEP as *const _ as usize, PWAIT, "deadslp", 1, false);
        panic!("deadsleep: assertwaitok let an SDEAD thread sleep");
    }
    if last {
        process_zombie(&pr);
    }
    drop(pr);
    let g = SCHED_LOCK.lock();
    kern_sched::sched_exit(g)
}

/// The exiting thread stops using its pmap: it loads no user space from
/// now on, and the switch code sees nothing to deactivate (`p_pmap` 0).
fn pmap_leave(p: &Proc) {
    let s = machdep::intr_disable();
    let pm = p.p_pmap.swap(0, Ordering::AcqRel) as usize;
    if pm != 0 {
        machdep::pmap_deactivate(pm);
    }
    machdep::intr_restore(s);
}

/// exit=direct: free the dead thread `p`, which has just switched away
/// from this CPU for good (called by the thread switched to, from
/// `kern_sched::sched_finish_switch`). Before: SCHED_LOCK held (`g`), `p`
/// is SDEAD and off its CPU, its pmap deactivated and its map reference
/// dropped (exit1). Only leaf locks are taken: the stack goes into the
/// cache (no unmapping, no shootdown), the rest is heap.
pub(crate) fn proc_free_switched(p: *mut Proc, g: &SchedGuard) {
    // SAFETY: `p` was handed over by sched_exit under this lock and is off
    // its CPU: nothing else refers to its box (it is on no list).
    let b = unsafe { Box::from_raw(p) };
    assert!(b.sched(g).p_stat == ProcStat::Sdead, "proc_free: thread {} not dead", b.p_tid);
    assert!(b.p_pmap.load(Ordering::Relaxed) == 0, "proc_free: thread {} still has a pmap", b.p_tid);
    uvm_glue::uvm_uarea_free(b.p_kstack);
    let pr = b.p_p.clone();
    drop(b);
    kern_proc::release_thread();
    NREAPED.fetch_add(1, Ordering::Relaxed);
    crate::cpu::count(|s| &s.reaps);
    let last = pr.ps_unreaped.fetch_sub(1, Ordering::AcqRel) == 1;
    let cond: *const kern_synch::Cond = &pr.ps_deadcond;
    // Our reference goes first: while the condition is unsignalled the
    // zombie's waiter (dowait6, which frees it only after the signal)
    // holds another, so this is never the last and no Process is dropped
    // under the scheduler lock.
    drop(pr);
    if last {
        // SAFETY: the process is kept alive by its waiter until the
        // signal, as said above; the signal happens under SCHED_LOCK,
        // which the waiter needs to see it.
        unsafe { (*cond).cond_signal_locked(g) };
    }
}

/// Make every other thread of the process exit and wait until they have
/// left the thread list (exit, and exec). They notice PS_SINGLEEXIT at
/// their next userret or interruptible sleep; the last to go wakes us.
/// For exec (`exiting` false) the flag is cleared again once alone; false
/// when another thread got there first (the caller must then exit).
pub fn single_thread_set(p: &Proc, pr: &Arc<Process>, exiting: bool) -> bool {
    let ident = &pr.ps_threadcnt as *const _ as usize;
    if exiting {
        // An exec that is single-threading sleeps below; it must notice
        // that this exit wins (and then exit itself).
        kern_synch::wakeup(ident);
    }
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
        // Woken by the last sibling to leave (exit1) or by an exit that
        // takes over from an exec; no polling.
        let _ = msleep(ident, inner, &pr.ps_mtx, PWAIT, "sthread", 0, false);
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
        for p in list.into_iter().rev() {
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
    uvm_glue::uvm_uarea_free(b.p_kstack);
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
    if pr.ps_unreaped.fetch_sub(1, Ordering::AcqRel) == 1 {
        pr.ps_deadcond.cond_signal();
        if pr.has_flag(PS_EXITING) {
            let vm = pr.ps_vmspace.lock().take();
            if let Some(vm) = vm {
                uvm_glue::uvmspace_free(vm);
            }
            process_zombie(&pr);
        }
    }
}

/// Make `pr` a zombie, or hand it to init if its parent wants none; post
/// SIGCHLD and wake whoever waits. Spin locks only (it runs on an SDEAD
/// thread under exit=direct).
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
    let adopted = nozombie && ppid != INIT_PID;
    let init = if adopted { tree.get(INIT_PID).map(|e| e.process.clone()) } else { None };
    drop(tree);
    crate::kern_event::knote_proc_exit(pr);
    if let Some(pp) = &parent {
        if !nozombie {
            kern_sig::psignal(pp, SIGCHLD);
        }
        // Also when the child went to init: a wait4 the parent is blocked
        // in must look again (and may now find no child: ECHILD).
        kern_synch::wakeup(process_wchan(pp));
    }
    if let Some(init) = init {
        kern_synch::wakeup(process_wchan(&init));
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
            // Every thread of it is freed (or is being, on its CPU, right
            // now): after this the child's kernel stack and threads are
            // back too, so counts read right after wait4 are exact.
            e.process.ps_deadcond.cond_wait("pdead");
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
