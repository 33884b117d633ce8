//! The scheduler: per-CPU run queues, idle threads, switching, migration.
//!
//! # The scheduler lock
//!
//! One global spinning lock, [`SCHED_LOCK`], as OpenBSD's `SCHED_LOCK`: it
//! protects every run queue, every thread's [`ProcSched`] fields, the sleep
//! queues and the dead lists. It masks interrupts on its CPU (hardclock and
//! the IPI handler take it) and is held *across* `cpu_switchto`: the thread
//! switched to releases it, either returning from its own [`mi_switch`] or,
//! for a new thread, in [`proc_trampoline_mi`]. One global lock keeps every
//! state transition simple to argue; the per-CPU queues keep the choice of
//! the next thread local and cheap.
//!
//! # Run queues and migration
//!
//! Each CPU has 32 queues by priority (priority / 4, like OpenBSD) and a
//! bit mask of the non-empty ones. `setrunqueue` puts a thread on an idle
//! CPU when there is one (and wakes it with an IPI), else on the CPU it
//! last ran on. An idle CPU with an empty queue steals the best thread from
//! the busiest other CPU, so work spreads to every CPU.
//!
//! # Preemption
//!
//! hardclock charges the running thread a tick; every `RRTICKS` ticks a
//! CPU with other runnable threads asks for a reschedule, which the thread
//! honours on its way back to user mode (`userret`). Kernel code is not
//! preempted.

// Thread pointers passed around here are live by the scheduler protocol
// (module docs of `proc`): functions take them as plain values.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::cpu::{self, CpuInfo, MAXCPUS};
use crate::kern_ipi::{self, IPI_NOP};
use crate::machdep::{self, Pcb};
use crate::mutex::MUTEX_COUNTING;
use crate::proc::{P_IDLE, P_SYSTEM, PS_SYSTEM, Proc, ProcStat, Process};

/// Priorities (lower runs first), as OpenBSD's.
pub const PSWP: u8 = 0;
pub const PVM: u8 = 4;
pub const PRIBIO: u8 = 16;
pub const PZERO: u8 = 22;
pub const PSOCK: u8 = 24;
pub const PWAIT: u8 = 32;
pub const PLOCK: u8 = 36;
pub const PPAUSE: u8 = 40;
pub const PUSER: u8 = 50;
pub const MAXPRI: u8 = 127;
const NQS: usize = 32;

/// Ticks a thread may run before it is asked to give the CPU up when
/// others are waiting (100 ms at HZ=100, OpenBSD's roundrobin period).
const RRTICKS: u64 = 10;

/// The scheduler lock: see the module docs.
pub struct SchedLock {
    locked: AtomicBool,
}

pub static SCHED_LOCK: SchedLock = SchedLock { locked: AtomicBool::new(false) };

/// Proof of holding [`SCHED_LOCK`]; releases it and restores the interrupt
/// state saved at lock time when dropped.
pub struct SchedGuard {
    saved: usize,
}

impl SchedLock {
    pub fn lock(&self) -> SchedGuard {
        let saved = machdep::intr_disable();
        self.acquire();
        SchedGuard { saved }
    }

    /// Take the lock with interrupts already masked, restoring `saved` at
    /// release (msleep: the interlock's saved state moves here).
    pub fn lock_with_saved(&self, saved: usize) -> SchedGuard {
        self.acquire();
        SchedGuard { saved }
    }

    fn acquire(&self) {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        if MUTEX_COUNTING.load(Ordering::Relaxed) {
            machdep::curcpu().ci_mutex_level.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn release(&self) {
        if MUTEX_COUNTING.load(Ordering::Relaxed) {
            machdep::curcpu().ci_mutex_level.fetch_sub(1, Ordering::Relaxed);
        }
        self.locked.store(false, Ordering::Release);
    }

    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl Drop for SchedGuard {
    fn drop(&mut self) {
        SCHED_LOCK.release();
        machdep::intr_restore(self.saved);
    }
}

/// Per-CPU scheduler state (OpenBSD `struct schedstate_percpu`).
pub struct SchedState {
    /// The thread running on this CPU.
    pub spc_curproc: AtomicPtr<Proc>,
    pub spc_idleproc: AtomicPtr<Proc>,
    /// Set by hardclock/setrunqueue; honoured at the next userret.
    pub spc_want_resched: AtomicBool,
    /// Ticks the current thread has run since it was switched to.
    pub spc_rrticks: AtomicU64,
    /// Number of threads queued here (read without the lock for hints).
    pub spc_nrun: AtomicU32,
    /// Switches made on this CPU.
    pub spc_nswitch: AtomicU64,
    q: UnsafeCell<RunQueues>,
}

struct RunQueues {
    qs: [VecDeque<*mut Proc>; NQS],
    whichqs: u32,
    /// Threads that exited on this CPU and are waiting for idle to hand
    /// them to the reaper (exit=reaper).
    deadproc: VecDeque<*mut Proc>,
    /// The thread that is switching away from this CPU for good
    /// (exit=direct): set by `sched_exit` and taken, still under the
    /// lock, by the thread switched to, which frees it
    /// (`sched_finish_switch`).
    dead: *mut Proc,
}

// SAFETY: `q` is only touched under SCHED_LOCK; the rest is atomic.
unsafe impl Sync for SchedState {}

#[allow(clippy::declare_interior_mutable_const)]
const SPC_INIT: SchedState = SchedState {
    spc_curproc: AtomicPtr::new(ptr::null_mut()),
    spc_idleproc: AtomicPtr::new(ptr::null_mut()),
    spc_want_resched: AtomicBool::new(false),
    spc_rrticks: AtomicU64::new(0),
    spc_nrun: AtomicU32::new(0),
    spc_nswitch: AtomicU64::new(0),
    q: UnsafeCell::new(RunQueues {
        qs: [const { VecDeque::new() }; NQS],
        whichqs: 0,
        deadproc: VecDeque::new(),
        dead: ptr::null_mut(),
    }),
};

static SPC: [SchedState; MAXCPUS] = [SPC_INIT; MAXCPUS];

/// Set once `sched_init` ran: `curproc` is valid from then on.
pub static SCHED_RUNNING: AtomicBool = AtomicBool::new(false);

pub fn spc(ci: &CpuInfo) -> &'static SchedState {
    &SPC[ci.ci_cpuid as usize]
}

#[allow(clippy::mut_from_ref)]
fn spc_q<'a>(s: &'a SchedState, _g: &'a SchedGuard) -> &'a mut RunQueues {
    // SAFETY: the guard proves SCHED_LOCK is held, which serialises all
    // access to every CPU's queues.
    unsafe { &mut *s.q.get() }
}

/// The running thread on this CPU.
pub fn curproc() -> &'static Proc {
    let p = spc(machdep::curcpu()).spc_curproc.load(Ordering::Relaxed);
    assert!(!p.is_null(), "curproc: scheduler not running on this cpu");
    // SAFETY: the running thread cannot be freed while it runs (it is
    // freed only once off its CPU), and it is this thread itself.
    unsafe { &*p }
}

pub fn curproc_ptr() -> *mut Proc {
    if !SCHED_RUNNING.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    spc(machdep::curcpu()).spc_curproc.load(Ordering::Relaxed)
}

/// The process of kernel threads (pid 0, "swapper" in OpenBSD).
static PROC0: AtomicPtr<Process> = AtomicPtr::new(ptr::null_mut());

pub fn process0() -> Arc<Process> {
    let p = PROC0.load(Ordering::Acquire);
    assert!(!p.is_null());
    // SAFETY: PROC0 holds one strong count forever (leaked in sched_init);
    // we add one for the caller.
    unsafe {
        Arc::increment_strong_count(p);
        Arc::from_raw(p)
    }
}

/// Boot: create process 0 and make the boot context of this CPU its idle
/// thread. Before: heap works; called once on the boot CPU before any
/// other CPU calls [`sched_init_cpu`]. After: curproc works here.
pub fn sched_init() {
    let pr = Arc::new(Process::new(0, PS_SYSTEM, b"swapper"));
    PROC0.store(Arc::into_raw(pr) as *mut Process, Ordering::Release);
    sched_init_cpu();
}

/// Make this CPU's current (boot) context its idle thread.
pub fn sched_init_cpu() {
    let ci = machdep::curcpu();
    let p = Box::into_raw(Proc::new(0, process0(), 0, MAXPRI));
    // SAFETY: just allocated and not shared yet.
    let pr = unsafe { &*p };
    pr.set_flag(P_SYSTEM | P_IDLE);
    {
        let g = SCHED_LOCK.lock();
        let s = pr.sched(&g);
        s.p_stat = ProcStat::Sonproc;
        s.p_cpu = ci.ci_cpuid;
    }
    let spc = spc(ci);
    spc.spc_idleproc.store(p, Ordering::Release);
    spc.spc_curproc.store(p, Ordering::Release);
    SCHED_RUNNING.store(true, Ordering::Release);
    let s = machdep::intr_disable();
    cpu::acct_start();
    machdep::intr_restore(s);
}

fn queue_of(prio: u8) -> usize {
    (prio as usize / 4).min(NQS - 1)
}

/// Make `p` runnable. Before: the lock is held, `p` is not on a queue and
/// not running. Picks the CPU (see module docs) and kicks it if idle.
pub fn setrunqueue(p: *mut Proc, g: &SchedGuard) {
    // SAFETY: `p` is a live thread (the caller owns it or found it on a
    // scheduler list under the lock).
    let pr = unsafe { &*p };
    let s = pr.sched(g);
    debug_assert!(s.p_stat != ProcStat::Srun && s.p_stat != ProcStat::Sonproc);
    s.p_stat = ProcStat::Srun;
    let target = pick_cpu(s.p_cpu);
    let me = machdep::curcpu();
    // Whether the target sleeps in its idle loop, judged before this
    // thread is counted on its queue.
    let kick = target.ci_cpuid != me.ci_cpuid && is_idle(target);
    s.p_cpu = target.ci_cpuid;
    let q = spc_q(spc(target), g);
    let i = queue_of(s.p_priority);
    q.qs[i].push_back(p);
    q.whichqs |= 1 << i;
    spc(target).spc_nrun.fetch_add(1, Ordering::Relaxed);
    if kick {
        kern_ipi::ipi_send(target, IPI_NOP);
    }
}

fn is_idle(ci: &CpuInfo) -> bool {
    let s = spc(ci);
    s.spc_curproc.load(Ordering::Relaxed) == s.spc_idleproc.load(Ordering::Relaxed)
        && s.spc_nrun.load(Ordering::Relaxed) == 0
}

/// The last CPU if it is idle, else any idle CPU, else the last CPU.
fn pick_cpu(last: u32) -> &'static CpuInfo {
    let lastci = cpu::cpu_info(last).unwrap_or_else(machdep::curcpu);
    if is_idle(lastci) || !SCHED_RUNNING.load(Ordering::Relaxed) {
        return lastci;
    }
    cpu::cpus().filter(|c| c.has_flag(cpu::CPUF_RUNNING)).find(|c| is_idle(c)).unwrap_or(lastci)
}

fn dequeue_best(ci: &CpuInfo, g: &SchedGuard) -> Option<*mut Proc> {
    let s = spc(ci);
    let q = spc_q(s, g);
    if q.whichqs == 0 {
        return None;
    }
    let i = q.whichqs.trailing_zeros() as usize;
    let p = q.qs[i].pop_front().expect("run queue mask out of sync");
    if q.qs[i].is_empty() {
        q.whichqs &= !(1 << i);
    }
    s.spc_nrun.fetch_sub(1, Ordering::Relaxed);
    Some(p)
}

/// The next thread for this CPU: its own queue, else stolen from the
/// busiest other CPU, else None (run idle).
fn sched_chooseproc(g: &SchedGuard) -> Option<*mut Proc> {
    let me = machdep::curcpu();
    if let Some(p) = dequeue_best(me, g) {
        return Some(p);
    }
    let busiest = cpu::cpus()
        .filter(|c| c.ci_cpuid != me.ci_cpuid)
        .max_by_key(|c| spc(c).spc_nrun.load(Ordering::Relaxed))?;
    if spc(busiest).spc_nrun.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let p = dequeue_best(busiest, g)?;
    // SAFETY: dequeued under the lock; a live runnable thread.
    unsafe { &*p }.sched(g).p_cpu = me.ci_cpuid;
    Some(p)
}

/// Give the CPU to the next thread. Before: the scheduler lock is held
/// (`g`), the current thread's state is already set (SRUN and queued for
/// a yield, SSLEEP, SSTOP or SDEAD), no other spin lock is held. Returns
/// when the current thread runs again (never for SDEAD), still holding
/// the lock.
pub fn mi_switch(g: &SchedGuard) {
    let ci = machdep::curcpu();
    let spc = spc(ci);
    let cur = spc.spc_curproc.load(Ordering::Relaxed);
    // SAFETY: the running thread is live.
    let curp = unsafe { &*cur };
    let level = ci.ci_mutex_level.load(Ordering::Relaxed);
    assert!(level == 1, "mi_switch: {} spin locks held (only the scheduler lock may be)", level);
    let next = sched_chooseproc(g).unwrap_or_else(|| spc.spc_idleproc.load(Ordering::Relaxed));
    spc.spc_want_resched.store(false, Ordering::Relaxed);
    spc.spc_rrticks.store(0, Ordering::Relaxed);
    if next == cur {
        curp.sched(g).p_stat = ProcStat::Sonproc;
        return;
    }
    cpu_switch_to(cur, next, g);
}

/// Switch from `cur` to `next` on this CPU: state, pmap, registers.
fn cpu_switch_to(cur: *mut Proc, next: *mut Proc, g: &SchedGuard) {
    let ci = machdep::curcpu();
    let spc = spc(ci);
    // SAFETY: both threads are live: `cur` runs here, `next` came off a
    // run queue or is this CPU's idle thread.
    let (curp, nextp) = unsafe { (&*cur, &*next) };
    let ns = nextp.sched(g);
    ns.p_stat = ProcStat::Sonproc;
    ns.p_cpu = ci.ci_cpuid;
    spc.spc_curproc.store(next, Ordering::Relaxed);
    spc.spc_nswitch.fetch_add(1, Ordering::Relaxed);
    cpu::count(|s| &s.nswitch);
    // Interrupts are masked (the lock is held), as the accounting needs.
    let to_idle = next == spc.spc_idleproc.load(Ordering::Relaxed);
    cpu::acct_switch(if to_idle { None } else { Some(&nextp.p_times) });
    // Load the next thread's pmap before its registers, so this CPU's
    // record of its loaded pmap (ci_proc_pmap) is exact once the switch
    // is done, whatever `cur` was (DESIGN invariant 8). One activation
    // replaces whatever is loaded (one %cr3 or TTBR0 load); a kernel
    // thread (0) leaves the choice to the arch, which may keep the last
    // user pmap loaded (lazy switching). A thread that exited has already
    // deactivated its pmap and cleared `p_pmap` (exit1), so a switch from
    // a dead thread never leaves its pmap loaded here.
    let npm = nextp.p_pmap.load(Ordering::Relaxed) as usize;
    let cpm = curp.p_pmap.load(Ordering::Relaxed) as usize;
    if npm != cpm {
        machdep::pmap_activate(npm);
    }
    // SAFETY: both Pcbs are live; the lock is held with interrupts masked
    // as cpu_switchto requires; it passes to `next`.
    unsafe { machdep::cpu_switchto(curp.pcb(), nextp.pcb() as *const Pcb) };
    // Back on `cur`, possibly on another CPU; the lock is held again.
    sched_finish_switch(g);
}

/// The tail of every switch, on the thread switched to, before anything
/// else runs on this CPU: if the thread switched from exited
/// (exit=direct), free it. It is off its CPU now — this CPU runs on
/// another stack, and the registers it needed were saved by
/// `cpu_switchto` before that stack was left — so its kernel stack and
/// `Proc` may go (DESIGN invariant 6). Linux's `finish_task_switch` does
/// the same. Before and after: SCHED_LOCK held (`g`), interrupts masked.
fn sched_finish_switch(g: &SchedGuard) {
    let q = spc_q(spc(machdep::curcpu()), g);
    let dead = core::mem::replace(&mut q.dead, ptr::null_mut());
    if !dead.is_null() {
        crate::kern_exit::proc_free_switched(dead, g);
    }
}

/// First code of every new thread, from the arch trampoline: finish the
/// switch, release the scheduler lock its creator's switch passed on, and
/// enable interrupts.
pub fn proc_trampoline_mi() {
    // The lock is held (the switch passed it on) and interrupts are masked:
    // this guard stands for that hold and, dropped, releases the lock and
    // leaves interrupts masked.
    let g = SchedGuard { saved: machdep::intr_disable() };
    sched_finish_switch(&g);
    drop(g);
    machdep::intr_enable();
}

/// Voluntarily give up the CPU (sched_yield).
pub fn yield_cpu() {
    crate::kern_synch::assertwaitok();
    let g = SCHED_LOCK.lock();
    let p = curproc_ptr();
    // SAFETY: the current thread is live.
    let pr = unsafe { &*p };
    let s = pr.sched(&g);
    s.p_priority = s.p_usrpri;
    setrunqueue_self(p, &g);
    mi_switch(&g);
}

/// Put the running thread back on a run queue (it stays on this CPU's).
fn setrunqueue_self(p: *mut Proc, g: &SchedGuard) {
    // SAFETY: the running thread is live.
    let pr = unsafe { &*p };
    let s = pr.sched(g);
    s.p_stat = ProcStat::Srun;
    let ci = machdep::curcpu();
    s.p_cpu = ci.ci_cpuid;
    let sp = spc(ci);
    let q = spc_q(sp, g);
    let i = queue_of(s.p_priority);
    q.qs[i].push_back(p);
    q.whichqs |= 1 << i;
    sp.spc_nrun.fetch_add(1, Ordering::Relaxed);
}

/// Involuntary switch at userret when a reschedule was requested.
pub fn preempt() {
    yield_cpu();
}

/// hardclock's scheduler part, interrupts masked: count the tick against
/// the thread's slice and ask for a reschedule once it has had it and
/// others wait. CPU time is not sampled here: the transitions charge it
/// exactly (`cpu::ThreadTimes`).
pub fn schedclock() {
    if !SCHED_RUNNING.load(Ordering::Relaxed) {
        return;
    }
    let ci = machdep::curcpu();
    let spc = spc(ci);
    let p = spc.spc_curproc.load(Ordering::Relaxed);
    if p.is_null() {
        return;
    }
    // SAFETY: the running thread is live.
    let pr = unsafe { &*p };
    if pr.has_flag(P_IDLE) {
        return;
    }
    let t = spc.spc_rrticks.fetch_add(1, Ordering::Relaxed) + 1;
    if t >= RRTICKS && runnable_anywhere() {
        spc.spc_want_resched.store(true, Ordering::Relaxed);
    }
}

fn runnable_anywhere() -> bool {
    cpu::cpus().any(|c| spc(c).spc_nrun.load(Ordering::Relaxed) > 0)
}

pub fn want_resched() -> bool {
    spc(machdep::curcpu()).spc_want_resched.load(Ordering::Relaxed)
}

/// Exit path (exit=reaper): queue the dead thread on this CPU's dead list
/// and switch to this CPU's idle thread, which hands the list to the
/// reaper (a switch to another runnable thread could leave it there for
/// as long as that thread keeps the CPU busy). Before: `p` is the current
/// thread, SDEAD.
pub fn sched_exit_reaper(g: SchedGuard) -> ! {
    let ci = machdep::curcpu();
    let s = spc(ci);
    let p = curproc_ptr();
    spc_q(s, &g).deadproc.push_back(p);
    s.spc_want_resched.store(false, Ordering::Relaxed);
    s.spc_rrticks.store(0, Ordering::Relaxed);
    let level = ci.ci_mutex_level.load(Ordering::Relaxed);
    assert!(level == 1, "sched_exit: {level} spin locks held");
    cpu_switch_to(p, s.spc_idleproc.load(Ordering::Relaxed), &g);
    unreachable!("sched_exit: a dead thread was switched back to");
}

/// Exit path (exit=direct): switch from the dead current thread straight
/// to the next runnable one (idle only when there is none); that thread
/// frees this one in `sched_finish_switch`. Before: `p` is the current
/// thread, SDEAD, its pmap deactivated; only the scheduler lock is held.
pub fn sched_exit(g: SchedGuard) -> ! {
    let ci = machdep::curcpu();
    let s = spc(ci);
    let p = curproc_ptr();
    let level = ci.ci_mutex_level.load(Ordering::Relaxed);
    assert!(level == 1, "sched_exit: {level} spin locks held");
    let q = spc_q(s, &g);
    assert!(q.dead.is_null(), "sched_exit: cpu{} already has a dead thread", ci.ci_cpuid);
    q.dead = p;
    s.spc_want_resched.store(false, Ordering::Relaxed);
    s.spc_rrticks.store(0, Ordering::Relaxed);
    let next = sched_chooseproc(&g).unwrap_or_else(|| s.spc_idleproc.load(Ordering::Relaxed));
    cpu_switch_to(p, next, &g);
    unreachable!("sched_exit: a dead thread was switched back to");
}

/// The idle loop of every CPU: run whatever is runnable, hand dead
/// threads to the reaper, else wait for an interrupt.
pub fn idle_loop() -> ! {
    let ci = machdep::curcpu();
    let spc = spc(ci);
    // From here this context is the idle thread proper (before, the boot
    // context ran initialisation as system time).
    let s = machdep::intr_disable();
    cpu::acct_switch(None);
    machdep::intr_restore(s);
    loop {
        // Stacks cached beyond the cache's size go back to the arch here,
        // where no lock is held and interrupts are on (the arch may shoot
        // down TLB entries).
        crate::uvm_glue::uvm_uarea_trim();
        // Dead threads queued here are off their CPU now: this CPU runs
        // its idle thread, so the switch away from each has completed.
        let s = machdep::intr_disable();
        {
            let g = SCHED_LOCK.lock();
            let q = spc_q(spc, &g);
            if !q.deadproc.is_empty() {
                let dead: VecDeque<*mut Proc> = core::mem::take(&mut q.deadproc);
                drop(g);
                crate::kern_exit::reaper_enqueue(dead);
                machdep::intr_restore(s);
                continue;
            }
            if (spc.spc_nrun.load(Ordering::Relaxed) > 0 || runnable_anywhere())
                && let Some(next) = sched_chooseproc(&g)
            {
                let cur = spc.spc_idleproc.load(Ordering::Relaxed);
                cpu_switch_to(cur, next, &g);
                drop(g);
                machdep::intr_restore(s);
                continue;
            }
        }
        // Interrupts are still masked here, so a wakeup's IPI cannot slip
        // in between the check above and the wait.
        crate::init_main::idle_hook();
        machdep::cpu_idle_wait();
        machdep::intr_restore(s);
    }
}
