//! Sleep and wakeup on wait channels, with timeouts; conditions; the
//! sleeping read/write lock; `assertwaitok`.
//!
//! A wait channel is any address (`ident`). Sleepers sit on one sleep list
//! under the scheduler lock; `wakeup(ident)` makes every sleeper on `ident`
//! runnable. A sleep never misses its wakeup: the sleeper takes the
//! scheduler lock before releasing the interlock that protects the state
//! it tested (msleep), and wakers take the scheduler lock to wake.

// Thread pointers passed around here are live by the scheduler protocol
// (module docs of `proc`): functions take them as plain values.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::kern_clock::TICKS;
use crate::kern_sched::{self, SCHED_LOCK, SchedGuard, curproc_ptr};
use crate::machdep;
use crate::mutex::{Mutex, MutexGuard};
use crate::proc::{P_IDLE, P_SINTR, P_TIMEOUT, Proc, ProcStat};

/// Threads in SSLEEP, under the scheduler lock.
struct SleepList(UnsafeCell<Vec<*mut Proc>>);
// SAFETY: only touched under SCHED_LOCK.
unsafe impl Sync for SleepList {}
static SLEEPERS: SleepList = SleepList(UnsafeCell::new(Vec::new()));

#[allow(clippy::mut_from_ref)]
fn sleepers(_g: &SchedGuard) -> &mut Vec<*mut Proc> {
    // SAFETY: the guard proves SCHED_LOCK is held.
    unsafe { &mut *SLEEPERS.0.get() }
}

/// Panic if the current context may not sleep: a spinning mutex is held,
/// the CPU is in its idle thread, or the thread is already dead (DESIGN
/// invariant 4: an SDEAD thread never sleeps).
pub fn assertwaitok() {
    if !kern_sched::SCHED_RUNNING.load(Ordering::Relaxed) {
        return;
    }
    let ci = machdep::curcpu();
    let level = ci.ci_mutex_level.load(Ordering::Relaxed);
    assert!(level == 0, "assertwaitok: {level} spin locks held");
    let p = kern_sched::curproc();
    assert!(!p.has_flag(P_IDLE), "assertwaitok: idle thread may not sleep");
    let g = SCHED_LOCK.lock();
    let st = p.sched(&g).p_stat;
    drop(g);
    assert!(st != ProcStat::Sdead, "assertwaitok: SDEAD thread tid {} tried to sleep", p.p_tid);
}

/// Why a sleep ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepError {
    /// The timeout expired (EWOULDBLOCK).
    Timeout,
    /// A signal is pending and the sleep was interruptible (EINTR).
    Interrupted,
}

impl SleepError {
    pub fn errno(self) -> i32 {
        match self {
            SleepError::Timeout => sys::errno::EAGAIN,
            SleepError::Interrupted => sys::errno::EINTR,
        }
    }
}

/// Sleep on `ident` until woken, for at most `timo` ticks (0: forever);
/// with `intr`, a signal ends the sleep (PCATCH). Before: no spin lock is
/// held (assertwaitok).
pub fn tsleep(ident: usize, prio: u8, wmesg: &'static str, timo: u64, intr: bool) -> Result<(), SleepError> {
    assertwaitok();
    let g = SCHED_LOCK.lock();
    sleep_finish(g, ident, prio, wmesg, timo, intr)
}

/// As [`tsleep`], releasing `guard` (the interlock protecting the condition
/// the caller tested) only once the sleep is registered, and retaking it
/// afterwards.
pub fn msleep<'a, T>(
    ident: usize,
    guard: MutexGuard<'a, T>,
    m: &'a Mutex<T>,
    prio: u8,
    wmesg: &'static str,
    timo: u64,
    intr: bool,
) -> (MutexGuard<'a, T>, Result<(), SleepError>) {
    // The interlock masks interrupts; take the scheduler lock inside it,
    // then release the interlock without unmasking: the scheduler guard
    // restores the interlock's saved state when it is finally dropped.
    let saved_outer = machdep::intr_disable();
    let g = SCHED_LOCK.lock_with_saved(saved_outer);
    let saved = guard.unlock_masked();
    let r = sleep_finish_level(g, ident, prio, wmesg, timo, intr);
    machdep::intr_restore(saved);
    (m.lock(), r)
}

fn sleep_finish(
    g: SchedGuard,
    ident: usize,
    prio: u8,
    wmesg: &'static str,
    timo: u64,
    intr: bool,
) -> Result<(), SleepError> {
    sleep_finish_level(g, ident, prio, wmesg, timo, intr)
}

fn sleep_finish_level(
    g: SchedGuard,
    ident: usize,
    prio: u8,
    wmesg: &'static str,
    timo: u64,
    intr: bool,
) -> Result<(), SleepError> {
    let p = curproc_ptr();
    // SAFETY: the current thread is live.
    let pr = unsafe { &*p };
    if intr && crate::kern_sig::signal_pending(pr) {
        return Err(SleepError::Interrupted);
    }
    {
        let s = pr.sched(&g);
        assert!(s.p_stat != ProcStat::Sdead, "sleep: SDEAD thread tid {} on {wmesg}", pr.p_tid);
        s.p_stat = ProcStat::Ssleep;
        s.p_wchan = ident;
        s.p_wmesg = wmesg;
        s.p_priority = prio;
        s.p_deadline = if timo > 0 { TICKS.load(Ordering::Relaxed) + timo } else { 0 };
    }
    if intr {
        pr.set_flag(P_SINTR);
    }
    pr.clear_flag(P_TIMEOUT);
    sleepers(&g).push(p);
    kern_sched::mi_switch(&g);
    pr.clear_flag(P_SINTR);
    let timed_out = pr.has_flag(P_TIMEOUT);
    pr.clear_flag(P_TIMEOUT);
    drop(g);
    if timed_out {
        return Err(SleepError::Timeout);
    }
    if intr && crate::kern_sig::signal_pending(pr) {
        return Err(SleepError::Interrupted);
    }
    Ok(())
}

/// Take `p` off the sleep list and make it runnable. Before: lock held,
/// `p` is SSLEEP.
fn unsleep_setrun(p: *mut Proc, g: &SchedGuard) {
    let list = sleepers(g);
    if let Some(i) = list.iter().position(|&q| q == p) {
        list.swap_remove(i);
    }
    // SAFETY: a sleeping thread is live (it cannot exit while asleep).
    let s = unsafe { &*p }.sched(g);
    s.p_wchan = 0;
    s.p_deadline = 0;
    kern_sched::setrunqueue(p, g);
}

/// Wake every thread sleeping on `ident`.
pub fn wakeup(ident: usize) {
    wakeup_n(ident, usize::MAX);
}

/// Wake one thread sleeping on `ident` (the first to sleep).
pub fn wakeup_one(ident: usize) {
    wakeup_n(ident, 1);
}

fn wakeup_n(ident: usize, n: usize) {
    let g = SCHED_LOCK.lock();
    wakeup_n_locked(ident, n, &g);
}

/// As `wakeup_n`, for a caller that holds the scheduler lock.
fn wakeup_n_locked(ident: usize, mut n: usize, g: &SchedGuard) {
    let mut i = 0;
    while n > 0 && i < sleepers(g).len() {
        let p = sleepers(g)[i];
        // SAFETY: on the sleep list, hence live.
        if unsafe { &*p }.sched(g).p_wchan == ident {
            unsleep_setrun(p, g);
            n -= 1;
        } else {
            i += 1;
        }
    }
}

/// Interrupt an interruptible sleep of `p` (signal delivery) or do nothing.
pub fn wakeup_signalled(p: *mut Proc, g: &SchedGuard) {
    // SAFETY: the caller holds a reference to a live thread.
    let pr = unsafe { &*p };
    if pr.sched(g).p_stat == ProcStat::Ssleep && pr.has_flag(P_SINTR) {
        unsleep_setrun(p, g);
    }
}

/// Wake `p` if it is stopped or sleeping (SIGKILL/SIGCONT).
pub fn setrun_if_stopped(p: *mut Proc, g: &SchedGuard) {
    // SAFETY: as above.
    let pr = unsafe { &*p };
    if pr.sched(g).p_stat == ProcStat::Sstop {
        kern_sched::setrunqueue(p, g);
    }
}

/// Timeouts, from hardclock on the primary CPU, interrupts masked.
pub fn sleep_timeouts(now: u64) {
    if !kern_sched::SCHED_RUNNING.load(Ordering::Relaxed) {
        return;
    }
    let g = SCHED_LOCK.lock();
    let mut i = 0;
    while i < sleepers(&g).len() {
        let p = sleepers(&g)[i];
        // SAFETY: on the sleep list, hence live.
        let pr = unsafe { &*p };
        let d = pr.sched(&g).p_deadline;
        if d != 0 && d <= now {
            pr.set_flag(P_TIMEOUT);
            unsleep_setrun(p, &g);
        } else {
            i += 1;
        }
    }
}

/// OpenBSD's `struct cond`: one waiter, one signaller. `cond_wait` returns
/// once `cond_signal` has been called, whichever ran first.
pub struct Cond {
    c_wait: AtomicBool,
}

impl Default for Cond {
    fn default() -> Self {
        Self::new()
    }
}

impl Cond {
    pub const fn new() -> Cond {
        Cond { c_wait: AtomicBool::new(true) }
    }

    pub fn cond_wait(&self, wmesg: &'static str) {
        let ident = self as *const Cond as usize;
        loop {
            assertwaitok();
            let g = SCHED_LOCK.lock();
            // Tested under the scheduler lock, which cond_signal's wakeup
            // takes after clearing the flag: no lost wakeup.
            if !self.c_wait.load(Ordering::Acquire) {
                return;
            }
            let _ = sleep_finish(g, ident, kern_sched::PSWP, wmesg, 0, false);
        }
    }

    /// Callable from any context that may take the scheduler lock
    /// (including SDEAD threads: it never sleeps).
    pub fn cond_signal(&self) {
        self.c_wait.store(false, Ordering::Release);
        wakeup_one(self as *const Cond as usize);
    }

    /// As `cond_signal`, with the scheduler lock already held (the switch
    /// path, freeing a dead thread).
    pub fn cond_signal_locked(&self, g: &SchedGuard) {
        self.c_wait.store(false, Ordering::Release);
        wakeup_n_locked(self as *const Cond as usize, 1, g);
    }

    /// Whether `cond_signal` has been called.
    pub fn is_signalled(&self) -> bool {
        !self.c_wait.load(Ordering::Acquire)
    }
}

/// A sleeping read/write lock (OpenBSD `struct rwlock`). Holders may sleep
/// and take faults; waiters sleep instead of spinning. Writers are
/// preferred once waiting, so readers cannot starve them.
pub struct RwLock<T> {
    state: Mutex<RwState>,
    data: UnsafeCell<T>,
    name: &'static str,
}

struct RwState {
    readers: u32,
    writer: bool,
    writers_waiting: u32,
}

// SAFETY: access to `data` is serialised by the lock protocol below.
unsafe impl<T: Send> Sync for RwLock<T> {}
unsafe impl<T: Send> Send for RwLock<T> {}

pub struct RwReadGuard<'a, T> {
    l: &'a RwLock<T>,
}
pub struct RwWriteGuard<'a, T> {
    l: &'a RwLock<T>,
}

impl<T> RwLock<T> {
    pub const fn new(v: T, name: &'static str) -> Self {
        RwLock {
            state: Mutex::new(RwState { readers: 0, writer: false, writers_waiting: 0 }),
            data: UnsafeCell::new(v),
            name,
        }
    }

    fn ident(&self) -> usize {
        self as *const Self as usize
    }

    pub fn read(&self) -> RwReadGuard<'_, T> {
        assertwaitok();
        let mut st = self.state.lock();
        while st.writer || st.writers_waiting > 0 {
            st = msleep(self.ident(), st, &self.state, kern_sched::PLOCK, self.name, 0, false).0;
        }
        st.readers += 1;
        RwReadGuard { l: self }
    }

    pub fn write(&self) -> RwWriteGuard<'_, T> {
        assertwaitok();
        let mut st = self.state.lock();
        st.writers_waiting += 1;
        while st.writer || st.readers > 0 {
            st = msleep(self.ident(), st, &self.state, kern_sched::PLOCK, self.name, 0, false).0;
        }
        st.writers_waiting -= 1;
        st.writer = true;
        RwWriteGuard { l: self }
    }

    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T> Deref for RwReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers exclude writers.
        unsafe { &*self.l.data.get() }
    }
}
impl<T> Drop for RwReadGuard<'_, T> {
    fn drop(&mut self) {
        let mut st = self.l.state.lock();
        st.readers -= 1;
        let wake = st.readers == 0;
        drop(st);
        if wake {
            wakeup(self.l.ident());
        }
    }
}
impl<T> Deref for RwWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer is exclusive.
        unsafe { &*self.l.data.get() }
    }
}
impl<T> DerefMut for RwWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer is exclusive.
        unsafe { &mut *self.l.data.get() }
    }
}
impl<T> Drop for RwWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.l.state.lock().writer = false;
        wakeup(self.l.ident());
    }
}
