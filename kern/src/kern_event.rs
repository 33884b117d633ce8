//! kqueue(2) and kevent(2) (OpenBSD `kern_event.c`).
//!
//! A kqueue is a file descriptor ([`Kqueue`] inside a `File`). Each change
//! passed to kevent adds, modifies, enables, disables or deletes a
//! [`Knote`]: one filter watching one thing (a descriptor, a process, a
//! signal, a timer). When what it watches changes, the object calls
//! [`knote`] on its [`Klist`] with a [`Hint`] saying what happened; the
//! knote's filter (`f_event`) folds the hint into the knote's data and says
//! whether it is now active, and an active knote sits on its kqueue's
//! queue until kevent hands it to the user.
//!
//! Filters:
//!
//! | filter | ident | data returned |
//! |---|---|---|
//! | EVFILT_READ | a pipe's read end, the console | bytes readable; EV_EOF once no writer is left |
//! | EVFILT_WRITE | a pipe's write end, the console | bytes of room; EV_EOF once no reader is left |
//! | EVFILT_PROC | a pid | NOTE_EXIT: the wait status; NOTE_FORK: the child's pid; NOTE_CHILD: the parent's pid |
//! | EVFILT_SIGNAL | a signal number | deliveries since the last report (ignored ones too) |
//! | EVFILT_TIMER | any | expirations since the last report |
//!
//! Pipe and console knotes are level-triggered unless EV_CLEAR is asked
//! for; the others are always EV_CLEAR, as in OpenBSD. A pipe or console
//! knote's state is kept exact by the object (it calls `knote` on every
//! change, reads included), so a scan never needs to look at the object
//! and never takes its lock. Timers are lazy: a timer knote holds its next
//! deadline and period, and kevent works out the expirations from the
//! uptime clock when it scans, sleeping no later than the next deadline;
//! no timeout runs in interrupt context and nothing but the kqueue's own
//! reader can see a timer, so nothing is lost by not firing it earlier.
//!
//! Differences from OpenBSD, on purpose: NOTE_FORK also reports the
//! child's pid in data (OpenBSD reports only the flag); EVFILT_READ/WRITE
//! exist only for pipes (each on its own end) and the console (EINVAL on
//! other files); a change with unknown flag bits, or with EV_ADD and
//! EV_DELETE or EV_ENABLE and EV_DISABLE together, is EINVAL; NOTE_ABSTIME
//! timers are EINVAL.
//!
//! # Locking
//!
//! - [`KQ_LOCK`] (one spinning, interrupt-masking mutex for the whole
//!   system, as OpenBSD's kernel lock once covered all of kqueue) protects
//!   the [`KqTable`]: every kqueue's knotes and active queue, every knote's
//!   state (`kn_status`, data, fflags, flags), and every klist's list of
//!   knotes (the lists live in the table, keyed by [`KlistKey`], because
//!   `struct process` has no room for one here).
//! - An object's lock comes before `KQ_LOCK`: a pipe's state mutex and the
//!   console's `TTY` lock are held around `knote` (so the hint is the
//!   object's state at that instant) and around a knote's attach (so no
//!   change can slip between reading the state and inserting the knote).
//! - Order: PROCTREE, then ps_mtx, then a pipe's or the tty's lock, then
//!   `KQ_LOCK`, then SCHED_LOCK (through `kern_synch::wakeup` and
//!   `msleep`). `KQ_LOCK` is never held while taking PROCTREE, ps_mtx,
//!   ps_fd, a pipe's or the tty's lock. A hook may be called with PROCTREE
//!   or ps_mtx held (they come first) but never with SCHED_LOCK held.
//!   Heap allocation under `KQ_LOCK` (attaching) is fine: the heap's lock
//!   is a leaf.
//! - [`Klist::kl_count`] and the process-wide counters (`NPROCKN`,
//!   `NFDKN`) let a hook skip `KQ_LOCK` when nothing is registered: a
//!   pipe write, a fork or a signal costs one atomic load then. They only
//!   rise under `KQ_LOCK` together with the object's own lock (for pipes
//!   and the tty), so a hook reading zero under that lock is exact.
//!
//! # The exit path
//!
//! [`knote_proc_exit`] runs on a thread that is about to become SDEAD
//! (under exit=direct, in exit1 itself), so it must never sleep (DESIGN
//! invariant 4): it takes only `KQ_LOCK`, a spin mutex, allocates nothing
//! (each kqueue's queue is reserved to hold all of its knotes when they
//! are attached) and wakes sleepers with `kern_synch::wakeup`, which only
//! takes SCHED_LOCK and never sleeps. It is called with no lock held
//! (after the tree lock is dropped), and SCHED_LOCK is never held with
//! `KQ_LOCK` taken inside it, so the wakeup cannot deadlock. A sleeper in
//! kevent holds its kqueue's file, so the wait channel woken belongs to a
//! live kqueue.
//!
//! A registration on a process races with that process's exit: the exit
//! may have passed its hook already. Registering increments `NPROCKN` and
//! inserts the knote under `KQ_LOCK`, issues a SeqCst fence, then reads
//! PS_EXITING (undoing it with ESRCH when set, as OpenBSD refuses exiting
//! processes); the exit hook sets PS_EXITING long before (exit1 does),
//! fences, then reads `NPROCKN` and takes `KQ_LOCK` unless it is zero.
//! With the two fences at least one side sees the other: either the
//! registration sees PS_EXITING, or the hook sees the count, takes the
//! lock after the insertion and fires the knote. So a knote is never left
//! on a process that has already posted NOTE_EXIT.
//!
//! # Lifetime
//!
//! A kqueue belongs to the process that made it (its descriptors are not
//! inherited by fork, as in OpenBSD); closing its last descriptor drops
//! the `Kqueue`, which frees every knote ([`kqueue_close`]); exit1's
//! `fdfree` closes the kqueues of an exiting process that way. A process's
//! exit fires and detaches the knotes watching it: they stay on their
//! kqueues (EV_EOF | EV_ONESHOT) until read, deleted or closed. Closing a
//! descriptor deletes the knotes watching it through that number
//! ([`knote_fdclose`]). A pipe knote holds the `Pipe` (not the `File`), so
//! a watched pipe end still closes when its last descriptor does.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use sys::errno::*;
use sys::event::*;
use sys::time::Timespec;

use crate::kern_descrip::{File, FileKind, Pipe, PipeStat};
use crate::kern_sched::{PSOCK, curproc};
use crate::kern_synch::{SleepError, msleep, wakeup};
use crate::machdep;
use crate::mutex::Mutex;
use crate::param::HZ;
use crate::proc::{PS_EXITING, Pid, Process};
use crate::tty::TtyStat;
use crate::uvm_glue::{copyin_val, copyout_val, user_writable};

/// Most knotes in the system at once (ENOMEM beyond; OpenBSD bounds its
/// timers the same way): a user cannot fill the kernel heap with them.
pub const KQ_MAXKNOTES: usize = 8192;
/// Room a pipe must have for EVFILT_WRITE to fire (POSIX's PIPE_BUF: a
/// write of this much is atomic).
pub const PIPE_BUF: usize = 512;
/// What EVFILT_WRITE reports for the console, which writes synchronously
/// in chunks of this size and so always has room.
pub const CONS_WRITE_ROOM: i64 = 4096;
/// Events copied out per pass of kevent's scan (OpenBSD's KQ_NEVENTS).
const KQ_NEVENTS: usize = 16;

/// One kqueue or knote id; never reused.
pub type KqId = u64;
pub type KnId = u64;

/// Knote status (OpenBSD's KN_*).
const KN_ACTIVE: u32 = 0x01;
const KN_QUEUED: u32 = 0x02;
const KN_DISABLED: u32 = 0x04;
/// No longer on any klist (its process exited).
const KN_DETACHED: u32 = 0x08;

/// Knotes on process klists (EVFILT_PROC and EVFILT_SIGNAL): the process
/// hooks skip `KQ_LOCK` while it is 0. See the module docs for why the
/// exit hook may.
static NPROCKN: AtomicU32 = AtomicU32::new(0);
/// Knotes whose ident is a descriptor: `knote_fdclose` skips while 0.
static NFDKN: AtomicU32 = AtomicU32::new(0);
/// Kqueue ids, handed out without a lock.
static NEXT_KQ: AtomicU64 = AtomicU64::new(1);

/// What a watchable object embeds (OpenBSD's `struct klist`). The list of
/// knotes itself is in the [`KqTable`], under the key
/// `KlistKey::Obj(address of this Klist)`; here is only the number of
/// knotes on it, read without `KQ_LOCK` by [`knote`].
pub struct Klist {
    kl_count: AtomicU32,
}

impl Default for Klist {
    fn default() -> Self {
        Self::new()
    }
}

impl Klist {
    pub const fn new() -> Klist {
        Klist { kl_count: AtomicU32::new(0) }
    }

    fn key(&self) -> KlistKey {
        KlistKey::Obj(self as *const Klist as usize)
    }

    /// Whether no knote is attached (OpenBSD's `klist_empty`). Exact when
    /// read under the object's lock, which every attach holds.
    pub fn is_empty(&self) -> bool {
        self.kl_count.load(Ordering::Relaxed) == 0
    }
}

/// Which klist a knote is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KlistKey {
    /// A process's (OpenBSD's `ps_klist`): EVFILT_PROC knotes watching it
    /// and EVFILT_SIGNAL knotes of its own kqueues.
    Process(Pid),
    /// An object's embedded [`Klist`], by address (stable: the knotes on it
    /// hold the object).
    Obj(usize),
}

/// What happened to a watched object (OpenBSD's `long hint`).
#[derive(Clone, Copy, Debug)]
pub enum Hint {
    /// Nothing new: say whether the knote is active as it stands.
    None,
    /// The process exited with this wait status.
    Exit(i32),
    /// The process forked this child.
    Fork(Pid),
    /// The process called execve.
    Exec,
    /// This signal was posted to the process.
    Signal(u32),
    /// A pipe's state now.
    Pipe(PipeStat),
    /// The console's input now.
    Tty(TtyStat),
    /// The uptime clock now, in nanoseconds (timers).
    Clock(u64),
}

/// A filter's behaviour (OpenBSD's `struct filterops`). Attaching needs
/// each object's lock and lives in [`kqueue_register`].
pub struct FilterOps {
    /// The ident is a file descriptor (`knote_fdclose` drops the knote).
    f_isfd: bool,
    /// Fold `hint` into the knote; whether the knote is now active.
    f_event: fn(&mut Knote, &Hint) -> bool,
}

static PIPEREAD_FILTOPS: FilterOps = FilterOps { f_isfd: true, f_event: filt_piperead };
static PIPEWRITE_FILTOPS: FilterOps = FilterOps { f_isfd: true, f_event: filt_pipewrite };
static TTYREAD_FILTOPS: FilterOps = FilterOps { f_isfd: true, f_event: filt_ttyread };
static TTYWRITE_FILTOPS: FilterOps = FilterOps { f_isfd: true, f_event: filt_ttywrite };
static PROC_FILTOPS: FilterOps = FilterOps { f_isfd: false, f_event: filt_proc };
static SIG_FILTOPS: FilterOps = FilterOps { f_isfd: false, f_event: filt_signal };
static TIMER_FILTOPS: FilterOps = FilterOps { f_isfd: false, f_event: filt_timer };

/// What a knote watches, and the reference that keeps it there.
pub enum KnObj {
    /// EVFILT_PROC: the watched pid; EVFILT_SIGNAL: the kqueue owner's.
    Process(Pid),
    Pipe(Arc<Pipe>),
    Console,
    /// Next deadline and period in nanoseconds of uptime (`u64::MAX`: a
    /// one-shot timer that has fired).
    Timer {
        next: u64,
        period: u64,
    },
}

impl KnObj {
    fn klist(&self) -> Option<(KlistKey, &AtomicU32)> {
        match self {
            KnObj::Process(pid) => Some((KlistKey::Process(*pid), &NPROCKN)),
            KnObj::Pipe(p) => Some((p.klist().key(), &p.klist().kl_count)),
            KnObj::Console => Some((crate::tty::TTY_KLIST.key(), &crate::tty::TTY_KLIST.kl_count)),
            KnObj::Timer { .. } => None,
        }
    }
}

/// One registration (OpenBSD's `struct knote`).
pub struct Knote {
    kn_kq: KqId,
    /// ident, filter, udata as given; flags as kept (EV_ADD, EV_ONESHOT,
    /// EV_CLEAR, EV_DISPATCH) plus EV_EOF once seen; fflags and data the
    /// state to report.
    kn_kev: Kevent,
    /// fflags and data the user asked for.
    kn_sfflags: u32,
    kn_sdata: i64,
    kn_status: u32,
    kn_obj: KnObj,
    kn_fop: &'static FilterOps,
}

impl Knote {
    /// A knote for change `kev` on kqueue `kq`; EV_CLEAR is forced for the
    /// filters OpenBSD forces it on.
    pub fn new(kq: KqId, kev: &Kevent, obj: KnObj, fop: &'static FilterOps) -> Knote {
        let mut flags = EV_ADD | (kev.flags & (EV_ONESHOT | EV_CLEAR | EV_DISPATCH));
        if matches!(kev.filter, EVFILT_PROC | EVFILT_SIGNAL | EVFILT_TIMER) {
            flags |= EV_CLEAR;
        }
        Knote {
            kn_kq: kq,
            kn_kev: Kevent {
                ident: kev.ident,
                filter: kev.filter,
                flags,
                fflags: 0,
                data: 0,
                udata: kev.udata,
            },
            kn_sfflags: kev.fflags,
            kn_sdata: kev.data,
            kn_status: if kev.flags & EV_DISABLE != 0 { KN_DISABLED } else { 0 },
            kn_obj: obj,
            kn_fop: fop,
        }
    }
}

// ----- filters -----

fn filt_piperead(kn: &mut Knote, hint: &Hint) -> bool {
    if let Hint::Pipe(st) = hint {
        kn.kn_kev.data = st.avail as i64;
        if st.writers == 0 {
            kn.kn_kev.flags |= EV_EOF;
        }
    }
    kn.kn_kev.data > 0 || kn.kn_kev.flags & EV_EOF != 0
}

fn filt_pipewrite(kn: &mut Knote, hint: &Hint) -> bool {
    if let Hint::Pipe(st) = hint {
        if st.readers == 0 {
            kn.kn_kev.data = 0;
            kn.kn_kev.flags |= EV_EOF;
        } else {
            kn.kn_kev.data = st.space as i64;
        }
    }
    kn.kn_kev.flags & EV_EOF != 0 || kn.kn_kev.data >= PIPE_BUF as i64
}

fn filt_ttyread(kn: &mut Knote, hint: &Hint) -> bool {
    match hint {
        Hint::Tty(st) => {
            kn.kn_kev.data = st.nread as i64;
            st.readable
        }
        // A line holding only ^D is readable with no bytes: keep what the
        // last state said.
        _ => kn.kn_status & KN_ACTIVE != 0,
    }
}

fn filt_ttywrite(kn: &mut Knote, _hint: &Hint) -> bool {
    kn.kn_kev.data = CONS_WRITE_ROOM;
    true
}

fn filt_proc(kn: &mut Knote, hint: &Hint) -> bool {
    let note = |kn: &mut Knote, n: u32| {
        if kn.kn_sfflags & n != 0 {
            kn.kn_kev.fflags |= n;
        }
    };
    match *hint {
        Hint::Exit(status) => {
            // Gone: report it whatever was asked, and never again.
            note(kn, NOTE_EXIT);
            kn.kn_kev.data = status as i64;
            kn.kn_kev.flags |= EV_EOF | EV_ONESHOT;
            kn.kn_status |= KN_DETACHED;
            return true;
        }
        Hint::Fork(child) => {
            note(kn, NOTE_FORK);
            if kn.kn_sfflags & NOTE_FORK != 0 {
                kn.kn_kev.data = child as i64;
            }
        }
        Hint::Exec => note(kn, NOTE_EXEC),
        _ => {}
    }
    kn.kn_kev.fflags != 0
}

fn filt_signal(kn: &mut Knote, hint: &Hint) -> bool {
    match *hint {
        Hint::Signal(sig) if kn.kn_kev.ident == sig as u64 => kn.kn_kev.data += 1,
        Hint::Exit(_) => kn.kn_status |= KN_DETACHED,
        _ => {}
    }
    kn.kn_kev.data != 0
}

fn filt_timer(kn: &mut Knote, hint: &Hint) -> bool {
    if let (Hint::Clock(now), KnObj::Timer { next, period }) = (hint, &mut kn.kn_obj) {
        let (n, nx) = timer_expire(*next, *period, *now);
        if n > 0 {
            // A one-shot timer expires once, however late it is read.
            let oneshot = kn.kn_kev.flags & EV_ONESHOT != 0;
            let n = if oneshot { 1 } else { n };
            kn.kn_kev.data = kn.kn_kev.data.saturating_add(n as i64);
            *next = if oneshot { u64::MAX } else { nx };
        }
    }
    kn.kn_kev.data != 0
}

/// Expirations of a timer due at `next` every `period` ns by `now`, and
/// its next deadline after them.
pub fn timer_expire(next: u64, period: u64, now: u64) -> (u64, u64) {
    if now < next {
        return (0, next);
    }
    let n = (now - next) / period + 1;
    (n, next.saturating_add(n.saturating_mul(period)))
}

/// The period of an EVFILT_TIMER change in nanoseconds: `data` in the
/// unit `fflags` names (milliseconds by default), at least one clock tick
/// (as OpenBSD, where a timer of 0 fires every tick). EINVAL for a
/// negative time, an unknown unit or NOTE_ABSTIME.
pub fn timer_period_ns(data: i64, fflags: u32) -> Result<u64, i32> {
    let unit: u64 = match fflags {
        NOTE_MSECONDS => 1_000_000,
        NOTE_SECONDS => 1_000_000_000,
        NOTE_USECONDS => 1_000,
        NOTE_NSECONDS => 1,
        _ => return Err(EINVAL),
    };
    let d = u64::try_from(data).map_err(|_| EINVAL)?;
    Ok(d.saturating_mul(unit).max(1_000_000_000 / HZ))
}

/// Validate a change (its EV_SYSFLAGS already cleared): a filter oxbsd
/// has, known flag bits, no contradictory pair. EINVAL otherwise.
pub fn check_change(kev: &Kevent) -> Result<(), i32> {
    const KNOWN: u16 =
        EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH;
    if !matches!(kev.filter, EVFILT_READ | EVFILT_WRITE | EVFILT_PROC | EVFILT_SIGNAL | EVFILT_TIMER) {
        return Err(EINVAL);
    }
    let f = kev.flags;
    if f & !KNOWN != 0
        || f & (EV_ADD | EV_DELETE) == EV_ADD | EV_DELETE
        || f & (EV_ENABLE | EV_DISABLE) == EV_ENABLE | EV_DISABLE
    {
        return Err(EINVAL);
    }
    Ok(())
}

// ----- the table -----

/// One kqueue's state (OpenBSD's `struct kqueue`).
struct KqState {
    /// The process that made it (its signals; its descriptors).
    kq_pid: Pid,
    /// Where its kevent callers sleep.
    kq_wchan: usize,
    /// Its knotes by (filter, ident).
    kq_knotes: BTreeMap<(i16, u64), KnId>,
    /// Active knotes, oldest first; each at most once (KN_QUEUED), and
    /// capacity for all of `kq_knotes`, so activating never allocates.
    kq_head: VecDeque<KnId>,
}

/// Everything `KQ_LOCK` protects (see the module docs).
pub struct KqTable {
    kqs: BTreeMap<KqId, KqState>,
    knotes: BTreeMap<KnId, Knote>,
    klists: BTreeMap<KlistKey, Vec<KnId>>,
    next_kn: KnId,
}

/// The kqueue table.
pub static KQ_LOCK: Mutex<KqTable> = Mutex::new(KqTable::new());

impl Default for KqTable {
    fn default() -> Self {
        Self::new()
    }
}

impl KqTable {
    pub const fn new() -> KqTable {
        KqTable { kqs: BTreeMap::new(), knotes: BTreeMap::new(), klists: BTreeMap::new(), next_kn: 1 }
    }

    /// (kqueues, knotes) in existence.
    pub fn counts(&self) -> (usize, usize) {
        (self.kqs.len(), self.knotes.len())
    }

    pub fn kqueue_insert(&mut self, kq: KqId, pid: Pid, wchan: usize) {
        self.kqs.insert(
            kq,
            KqState { kq_pid: pid, kq_wchan: wchan, kq_knotes: BTreeMap::new(), kq_head: VecDeque::new() },
        );
    }

    /// Close kqueue `kq`: every knote goes (off its klist first).
    pub fn kqueue_remove(&mut self, kq: KqId) {
        let Some(k) = self.kqs.remove(&kq) else { return };
        for id in k.kq_knotes.into_values() {
            if let Some(kn) = self.knotes.remove(&id) {
                self.klist_unlink(id, &kn);
            }
        }
    }

    /// Take knote `id` off its klist, if it is still on one.
    fn klist_unlink(&mut self, id: KnId, kn: &Knote) {
        if kn.kn_fop.f_isfd {
            NFDKN.fetch_sub(1, Ordering::Relaxed);
        }
        if kn.kn_status & KN_DETACHED != 0 {
            return;
        }
        let Some((key, count)) = kn.kn_obj.klist() else { return };
        count.fetch_sub(1, Ordering::Relaxed);
        if let Some(list) = self.klists.get_mut(&key) {
            if let Some(i) = list.iter().position(|&x| x == id) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                self.klists.remove(&key);
            }
        }
    }

    /// Delete knote `id` (OpenBSD's knote_drop); nothing if it is gone.
    pub fn knote_drop(&mut self, id: KnId) {
        let Some(kn) = self.knotes.remove(&id) else { return };
        if let Some(k) = self.kqs.get_mut(&kn.kn_kq) {
            k.kq_knotes.remove(&(kn.kn_kev.filter, kn.kn_kev.ident));
            if kn.kn_status & KN_QUEUED != 0
                && let Some(i) = k.kq_head.iter().position(|&x| x == id)
            {
                k.kq_head.remove(i);
            }
        }
        self.klist_unlink(id, &kn);
    }

    /// Mark `id` active and queue it unless it is queued or disabled,
    /// waking its kqueue's readers.
    fn knote_activate(&mut self, id: KnId, wake: &mut dyn FnMut(usize)) {
        let Some(kn) = self.knotes.get_mut(&id) else { return };
        kn.kn_status |= KN_ACTIVE;
        if kn.kn_status & (KN_QUEUED | KN_DISABLED) != 0 {
            return;
        }
        let Some(k) = self.kqs.get_mut(&kn.kn_kq) else { return };
        kn.kn_status |= KN_QUEUED;
        k.kq_head.push_back(id);
        wake(k.kq_wchan);
    }

    /// Run knote `id`'s filter on `hint` and (de)activate it.
    fn knote_event(&mut self, id: KnId, hint: &Hint, wake: &mut dyn FnMut(usize)) {
        let Some(kn) = self.knotes.get_mut(&id) else { return };
        if (kn.kn_fop.f_event)(kn, hint) {
            self.knote_activate(id, wake);
        } else {
            // Left on the queue if it is there; the scan passes over it.
            kn.kn_status &= !KN_ACTIVE;
        }
    }

    /// Insert a new knote, evaluate it with `hint`, and put it on its
    /// klist. None if the kqueue already has a knote with its filter and
    /// ident (a concurrent add won): the change was applied to that one.
    /// ENOMEM past [`KQ_MAXKNOTES`], EBADF if the kqueue is gone.
    pub fn knote_attach(
        &mut self,
        kn: Knote,
        hint: &Hint,
        wake: &mut dyn FnMut(usize),
    ) -> Result<Option<KnId>, i32> {
        let key = (kn.kn_kev.filter, kn.kn_kev.ident);
        let kq = kn.kn_kq;
        if self.kqs.get(&kq).ok_or(EBADF)?.kq_knotes.contains_key(&key) {
            let kev = Kevent { flags: EV_ADD, fflags: kn.kn_sfflags, data: kn.kn_sdata, ..kn.kn_kev };
            self.knote_modify(kq, &kev, None, wake)?;
            return Ok(None);
        }
        if self.knotes.len() >= KQ_MAXKNOTES {
            return Err(ENOMEM);
        }
        let k = self.kqs.get_mut(&kq).ok_or(EBADF)?;
        let id = self.next_kn;
        self.next_kn += 1;
        k.kq_knotes.insert(key, id);
        let want = k.kq_knotes.len();
        if k.kq_head.capacity() < want {
            k.kq_head.reserve(want - k.kq_head.len());
        }
        if kn.kn_fop.f_isfd {
            NFDKN.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((lk, count)) = kn.kn_obj.klist() {
            count.fetch_add(1, Ordering::Relaxed);
            self.klists.entry(lk).or_default().push(id);
        }
        self.knotes.insert(id, kn);
        self.knote_event(id, hint, wake);
        Ok(Some(id))
    }

    /// Apply change `kev` to the knote it names, if there is one: Ok(true)
    /// when done, Ok(false) when there is none and `kev` adds one (the
    /// caller attaches it), ENOENT when there is none to change.
    /// `period` is the new period of a timer being re-added.
    pub fn knote_modify(
        &mut self,
        kq: KqId,
        kev: &Kevent,
        period: Option<(u64, u64)>,
        wake: &mut dyn FnMut(usize),
    ) -> Result<bool, i32> {
        let k = self.kqs.get(&kq).ok_or(EBADF)?;
        let Some(&id) = k.kq_knotes.get(&(kev.filter, kev.ident)) else {
            return if kev.flags & EV_ADD != 0 { Ok(false) } else { Err(ENOENT) };
        };
        if kev.flags & EV_DELETE != 0 {
            self.knote_drop(id);
            return Ok(true);
        }
        let kn = self.knotes.get_mut(&id).expect("kqueue names a missing knote");
        if kev.flags & EV_ADD != 0 {
            kn.kn_sfflags = kev.fflags;
            kn.kn_sdata = kev.data;
            kn.kn_kev.udata = kev.udata;
            if let (Some((now, p)), KnObj::Timer { next, period }) = (period, &mut kn.kn_obj) {
                // Re-arm from now, as OpenBSD's filt_timermodify.
                *next = now.saturating_add(p);
                *period = p;
                kn.kn_kev.data = 0;
                kn.kn_status &= !KN_ACTIVE;
            }
        }
        if kev.flags & EV_DISABLE != 0 {
            kn.kn_status |= KN_DISABLED;
        } else if kev.flags & (EV_ENABLE | EV_ADD) != 0 && kn.kn_status & KN_DISABLED != 0 {
            kn.kn_status &= !KN_DISABLED;
            if kn.kn_status & KN_ACTIVE != 0 {
                self.knote_activate(id, wake);
            }
        }
        Ok(true)
    }

    /// An event on klist `key` (OpenBSD's knote()). On NOTE_FORK, knotes
    /// with NOTE_TRACK get a twin on the child (NOTE_CHILD, data the
    /// parent's pid), or NOTE_TRACKERR when it cannot be made.
    pub fn knote(&mut self, key: KlistKey, hint: &Hint, wake: &mut dyn FnMut(usize)) {
        let Some(list) = self.klists.get(&key) else { return };
        let mut track: Vec<(KnId, Knote)> = Vec::new();
        for i in 0..list.len() {
            let id = self.klists[&key][i];
            self.knote_event(id, hint, wake);
            if let (Hint::Fork(child), Some(kn)) = (hint, self.knotes.get(&id))
                && kn.kn_kev.filter == EVFILT_PROC
                && kn.kn_sfflags & NOTE_TRACK != 0
                && let KlistKey::Process(parent) = key
            {
                let kev = Kevent { ident: *child as u64, fflags: kn.kn_sfflags, ..kn.kn_kev };
                let mut twin = Knote::new(kn.kn_kq, &kev, KnObj::Process(*child), &PROC_FILTOPS);
                twin.kn_kev.flags = kn.kn_kev.flags & !(EV_EOF | EV_ONESHOT);
                twin.kn_kev.fflags = NOTE_CHILD;
                twin.kn_kev.data = parent as i64;
                track.push((id, twin));
            }
        }
        for (parent_kn, twin) in track {
            if self.knote_attach(twin, &Hint::None, wake).is_err()
                && let Some(kn) = self.knotes.get_mut(&parent_kn)
            {
                kn.kn_kev.fflags |= NOTE_TRACKERR;
                self.knote_activate(parent_kn, wake);
            }
        }
    }

    /// A process exited: fire and detach every knote on its klist. Takes
    /// no allocation (see `kq_head`).
    pub fn knote_exit(&mut self, pid: Pid, status: i32, wake: &mut dyn FnMut(usize)) {
        let Some(list) = self.klists.remove(&KlistKey::Process(pid)) else { return };
        NPROCKN.fetch_sub(list.len() as u32, Ordering::Relaxed);
        for &id in list.iter() {
            self.knote_event(id, &Hint::Exit(status), wake);
            if let Some(kn) = self.knotes.get_mut(&id) {
                kn.kn_status |= KN_DETACHED;
            }
        }
    }

    /// Descriptor `fd` of process `pid` closed: its knotes go.
    pub fn knote_fdclose(&mut self, pid: Pid, fd: i32) {
        let ids: Vec<KnId> = self
            .kqs
            .values()
            .filter(|k| k.kq_pid == pid)
            .flat_map(|k| [EVFILT_READ, EVFILT_WRITE].map(|f| k.kq_knotes.get(&(f, fd as u64)).copied()))
            .flatten()
            .collect();
        for id in ids {
            if self.knotes.get(&id).is_some_and(|kn| kn.kn_fop.f_isfd) {
                self.knote_drop(id);
            }
        }
    }

    /// Expire kqueue `kq`'s timers at `now` (queuing those that fired).
    fn timers_expire(&mut self, kq: KqId, now: u64) {
        let Some(k) = self.kqs.get(&kq) else { return };
        let range = (EVFILT_TIMER, 0)..=(EVFILT_TIMER, u64::MAX);
        let due: Vec<KnId> = k
            .kq_knotes
            .range(range)
            .map(|(_, &id)| id)
            .filter(|id| matches!(self.knotes[id].kn_obj, KnObj::Timer { next, .. } if next <= now))
            .collect();
        for id in due {
            // The caller is the kqueue's reader: nobody to wake.
            self.knote_event(id, &Hint::Clock(now), &mut |_| {});
        }
    }

    /// The earliest deadline of kqueue `kq`'s enabled timers.
    pub fn next_timeout(&self, kq: KqId) -> Option<u64> {
        let k = self.kqs.get(&kq)?;
        k.kq_knotes
            .range((EVFILT_TIMER, 0)..=(EVFILT_TIMER, u64::MAX))
            .filter_map(|(_, id)| {
                let kn = &self.knotes[id];
                match kn.kn_obj {
                    KnObj::Timer { next, .. } if kn.kn_status & KN_DISABLED == 0 => Some(next),
                    _ => None,
                }
            })
            .min()
    }

    /// Move up to `out.len()` events of kqueue `kq` into `out` as of `now`
    /// (OpenBSD's kqueue_scan, one pass): EV_ONESHOT knotes are deleted,
    /// EV_CLEAR ones reset, EV_DISPATCH ones disabled, level-triggered ones
    /// stay queued behind the others. Returns how many.
    pub fn kqueue_scan(&mut self, kq: KqId, now: u64, out: &mut [Kevent]) -> usize {
        self.timers_expire(kq, now);
        let Some(k) = self.kqs.get_mut(&kq) else { return 0 };
        let mut n = 0;
        // Each queued knote is looked at once per pass, so level-triggered
        // ones going back to the tail cannot make it loop.
        let mut budget = k.kq_head.len();
        let mut drop_ids: [KnId; KQ_NEVENTS] = [0; KQ_NEVENTS];
        let mut ndrop = 0;
        while n < out.len() && budget > 0 && ndrop < KQ_NEVENTS {
            budget -= 1;
            let Some(id) = k.kq_head.pop_front() else { break };
            let kn = self.knotes.get_mut(&id).expect("queued knote missing");
            if kn.kn_status & KN_ACTIVE == 0 || kn.kn_status & KN_DISABLED != 0 {
                kn.kn_status &= !KN_QUEUED;
                continue;
            }
            out[n] = kn.kn_kev;
            n += 1;
            let fl = kn.kn_kev.flags;
            if fl & EV_ONESHOT != 0 {
                kn.kn_status &= !KN_QUEUED;
                drop_ids[ndrop] = id;
                ndrop += 1;
            } else if fl & (EV_CLEAR | EV_DISPATCH) != 0 {
                if fl & EV_CLEAR != 0 {
                    kn.kn_kev.data = 0;
                    kn.kn_kev.fflags = 0;
                    kn.kn_status &= !KN_ACTIVE;
                }
                if fl & EV_DISPATCH != 0 {
                    kn.kn_status |= KN_DISABLED;
                }
                kn.kn_status &= !KN_QUEUED;
            } else {
                k.kq_head.push_back(id);
            }
        }
        for &id in &drop_ids[..ndrop] {
            self.knote_drop(id);
        }
        n
    }

    /// Knotes queued on `kq` (fstat's st_size, as OpenBSD's kq_count).
    pub fn kq_count(&self, kq: KqId) -> usize {
        self.kqs.get(&kq).map_or(0, |k| k.kq_head.len())
    }
}

// ----- the kqueue file -----

/// What a kqueue descriptor's `File` holds; dropping it (the last
/// descriptor closed, or fdfree at exit) frees the kqueue.
pub struct Kqueue {
    kq_id: KqId,
}

impl Default for Kqueue {
    fn default() -> Self {
        Self::new()
    }
}

impl Kqueue {
    pub fn new() -> Kqueue {
        Kqueue { kq_id: NEXT_KQ.fetch_add(1, Ordering::Relaxed) }
    }

    /// The wait channel of kevent callers: this object's address (it
    /// lives in an `Arc<File>` every sleeper holds).
    fn wchan(&self) -> usize {
        self as *const Kqueue as usize
    }

    /// fstat: queued events.
    pub fn count(&self) -> usize {
        KQ_LOCK.lock().kq_count(self.kq_id)
    }
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        kqueue_close(self.kq_id);
    }
}

/// Free kqueue `kq` and every knote on it. Spin locks only: fdfree calls
/// this on the exit path.
pub fn kqueue_close(kq: KqId) {
    KQ_LOCK.lock().kqueue_remove(kq);
}

/// (kqueues, knotes) in the system, for KERN_VMSTATS.
pub fn kq_stats() -> (u32, u32) {
    let (a, b) = KQ_LOCK.lock().counts();
    (a as u32, b as u32)
}

// ----- hooks for the rest of the kernel -----

/// Wake a kqueue's sleepers from under `KQ_LOCK` (order: KQ_LOCK, then
/// SCHED_LOCK, which wakeup takes and which nothing holds while taking
/// KQ_LOCK).
fn wake(wchan: usize) {
    wakeup(wchan)
}

/// KNOTE(klist, hint): an object's state changed. Called with the
/// object's lock held; one load when nothing watches it.
pub fn knote(kl: &Klist, hint: Hint) {
    if kl.is_empty() {
        return;
    }
    KQ_LOCK.lock().knote(kl.key(), &hint, &mut wake);
}

fn knote_process(pr: &Process, hint: Hint) {
    if NPROCKN.load(Ordering::Relaxed) == 0 {
        return;
    }
    KQ_LOCK.lock().knote(KlistKey::Process(pr.ps_pid), &hint, &mut wake);
}

/// `pr` forked `child` (from fork1, before the child can run, so a
/// tracking knote is on the child before it can exit).
pub fn knote_proc_fork(parent: &Process, child: Pid) {
    knote_process(parent, Hint::Fork(child));
}

/// `pr` called execve successfully.
pub fn knote_proc_exec(pr: &Process) {
    knote_process(pr, Hint::Exec);
}

/// Signal `sig` was posted to `pr`, whether or not it is caught, ignored
/// or blocked (EVFILT_SIGNAL counts every posting, as OpenBSD).
pub fn knote_signal(pr: &Process, sig: u32) {
    knote_process(pr, Hint::Signal(sig));
}

/// `pr` exited (its zombie is made, `ps_xstat` final): post NOTE_EXIT with
/// the wait status and detach every knote watching it. Never sleeps and
/// allocates nothing (module docs, "The exit path"); call it with no lock
/// held.
pub fn knote_proc_exit(pr: &Process) {
    // Pairs with the fence in filt_procattach: PS_EXITING was set before.
    fence(Ordering::SeqCst);
    if NPROCKN.load(Ordering::Relaxed) == 0 {
        return;
    }
    let status = pr.ps_xstat.load(Ordering::Acquire);
    KQ_LOCK.lock().knote_exit(pr.ps_pid, status, &mut wake);
}

/// Descriptor `fd` of `pr` was closed (close, dup2 over it, exec's
/// close-on-exec): knotes watching it through that number go.
pub fn knote_fdclose(pr: &Process, fd: i32) {
    if NFDKN.load(Ordering::Relaxed) == 0 {
        return;
    }
    KQ_LOCK.lock().knote_fdclose(pr.ps_pid, fd);
}

// ----- system calls -----

/// kqueue(2): a new kqueue on the lowest free descriptor.
pub fn sys_kqueue() -> Result<i32, i32> {
    let pr = curproc().p_p.clone();
    let f = Arc::new(File::new(FileKind::Kqueue(Kqueue::new()), sys::fcntl::O_RDWR));
    if let FileKind::Kqueue(kq) = &f.f_kind {
        KQ_LOCK.lock().kqueue_insert(kq.kq_id, pr.ps_pid, kq.wchan());
    }
    // The table gets a second reference so that a failure does not close
    // the kqueue under the ps_fd lock.
    let r = pr.ps_fd.lock().alloc(f.clone(), false, 0);
    drop(f);
    r
}

/// kevent(2): apply `nchanges` changes, then collect up to `nevents`
/// events, waiting as `utimeout` says (NULL: until one comes; zero: not at
/// all). A change that fails is reported as an EV_ERROR entry (data the
/// errno) while there is room in the event list, and then kevent returns
/// the number of those entries without collecting events; without room
/// the call fails with that errno, as OpenBSD. EINTR if a signal comes
/// while waiting.
pub fn sys_kevent(
    fd: i32,
    uchanges: u64,
    nchanges: i32,
    uevents: u64,
    nevents: i32,
    utimeout: u64,
) -> Result<usize, i32> {
    let pr = curproc().p_p.clone();
    let f = pr.ps_fd.lock().get(fd)?;
    let FileKind::Kqueue(kq) = &f.f_kind else { return Err(EBADF) };
    let (Ok(nchanges), Ok(nevents)) = (usize::try_from(nchanges), usize::try_from(nevents)) else {
        return Err(EINVAL);
    };
    let timeout = if utimeout != 0 {
        let ts: Timespec = copyin_val(utimeout)?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(EINVAL);
        }
        Some((ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
    } else {
        None
    };
    const KEV: u64 = core::mem::size_of::<Kevent>() as u64;
    let mut nerrors = 0;
    for i in 0..nchanges {
        let mut kev: Kevent = copyin_val(uchanges.wrapping_add(i as u64 * KEV))?;
        kev.flags &= !EV_SYSFLAGS;
        let r = kqueue_register(kq, &pr, &kev);
        if r.is_err() || kev.flags & EV_RECEIPT != 0 {
            if nerrors < nevents {
                kev.flags = EV_ERROR;
                kev.data = r.err().unwrap_or(0) as i64;
                copyout_val(&kev, uevents.wrapping_add(nerrors as u64 * KEV))?;
                nerrors += 1;
            } else {
                r?;
            }
        }
    }
    if nerrors > 0 {
        return Ok(nerrors);
    }
    kqueue_collect(kq, uevents, nevents, timeout)
}

/// Wait for and copy out up to `nevents` events; only the first pass may
/// sleep (OpenBSD's loop over kqueue_scan).
fn kqueue_collect(kq: &Kqueue, uevents: u64, nevents: usize, timeout: Option<u64>) -> Result<usize, i32> {
    const KEV: usize = core::mem::size_of::<Kevent>();
    let deadline = timeout.map(|t| machdep::nanouptime().saturating_add(t));
    let tick_ns = 1_000_000_000 / HZ;
    let mut buf = [Kevent::default(); KQ_NEVENTS];
    let mut total = 0;
    while total < nevents {
        let want = (nevents - total).min(KQ_NEVENTS);
        // Wrapping: a bad pointer is copyout's EFAULT, never an overflow.
        let at = uevents.wrapping_add((total * KEV) as u64);
        // A bad buffer is refused before events are taken off the queue,
        // so they are not lost.
        if !user_writable(at, want * KEV) {
            return if total > 0 { Ok(total) } else { Err(EFAULT) };
        }
        let mut t = KQ_LOCK.lock();
        let n = loop {
            let now = machdep::nanouptime();
            let n = t.kqueue_scan(kq.kq_id, now, &mut buf[..want]);
            if n > 0 || total > 0 {
                break n;
            }
            if deadline.is_some_and(|d| d <= now) {
                break 0;
            }
            let until = deadline.unwrap_or(u64::MAX).min(t.next_timeout(kq.kq_id).unwrap_or(u64::MAX));
            // One tick more than the time left: the current tick is partly
            // gone. 0 sleeps until woken.
            let ticks = if until == u64::MAX { 0 } else { (until.saturating_sub(now)).div_ceil(tick_ns) + 1 };
            let (g, r) = msleep(kq.wchan(), t, &KQ_LOCK, PSOCK, "kqread", ticks, true);
            t = g;
            if r == Err(SleepError::Interrupted) {
                return Err(EINTR);
            }
        };
        drop(t);
        let bytes = &crate::uvm_glue::as_bytes(&buf)[..n * KEV];
        if let Err(e) = crate::uvm_glue::copyout(bytes, at) {
            return if total > 0 { Ok(total) } else { Err(e) };
        }
        total += n;
        if n < want {
            break;
        }
    }
    Ok(total)
}

/// Apply one change to `kq` (OpenBSD's kqueue_register).
fn kqueue_register(kq: &Kqueue, pr: &Arc<Process>, kev: &Kevent) -> Result<(), i32> {
    check_change(kev)?;
    let period = if kev.filter == EVFILT_TIMER && kev.flags & EV_ADD != 0 {
        Some(timer_period_ns(kev.data, kev.fflags)?)
    } else {
        None
    };
    let now = machdep::nanouptime();
    if KQ_LOCK.lock().knote_modify(kq.kq_id, kev, period.map(|p| (now, p)), &mut wake)? {
        return Ok(());
    }
    // A new knote: attach it to what it watches.
    match kev.filter {
        EVFILT_READ | EVFILT_WRITE => filt_fileattach(kq, pr, kev),
        EVFILT_PROC => filt_procattach(kq, kev),
        EVFILT_SIGNAL => {
            // filt_sigattach: the caller's own signals.
            if !(1..sys::signal::NSIG as u64).contains(&kev.ident) {
                return Err(EINVAL);
            }
            let kn = Knote::new(kq.kq_id, kev, KnObj::Process(pr.ps_pid), &SIG_FILTOPS);
            KQ_LOCK.lock().knote_attach(kn, &Hint::None, &mut wake).map(drop)
        }
        _ => {
            // filt_timerattach.
            let p = period.expect("timer period checked above");
            let obj = KnObj::Timer { next: now.saturating_add(p), period: p };
            let kn = Knote::new(kq.kq_id, kev, obj, &TIMER_FILTOPS);
            KQ_LOCK.lock().knote_attach(kn, &Hint::Clock(now), &mut wake).map(drop)
        }
    }
}

/// EVFILT_READ / EVFILT_WRITE on a descriptor: pipes (each on its own
/// end) and the console; EINVAL on other files, EBADF if not open.
fn filt_fileattach(kq: &Kqueue, pr: &Arc<Process>, kev: &Kevent) -> Result<(), i32> {
    let fd = i32::try_from(kev.ident).map_err(|_| EBADF)?;
    let f = pr.ps_fd.lock().get(fd)?;
    let attach = |obj: KnObj, fop: &'static FilterOps, hint: Hint| {
        KQ_LOCK.lock().knote_attach(Knote::new(kq.kq_id, kev, obj, fop), &hint, &mut wake)
    };
    let id = match (&f.f_kind, kev.filter) {
        (FileKind::PipeRead(p), EVFILT_READ) => {
            p.kqfilter(|st| attach(KnObj::Pipe(p.clone()), &PIPEREAD_FILTOPS, Hint::Pipe(st)))?
        }
        (FileKind::PipeWrite(p), EVFILT_WRITE) => {
            p.kqfilter(|st| attach(KnObj::Pipe(p.clone()), &PIPEWRITE_FILTOPS, Hint::Pipe(st)))?
        }
        (FileKind::Console, EVFILT_READ) => {
            crate::tty::tty_kqfilter(|st| attach(KnObj::Console, &TTYREAD_FILTOPS, Hint::Tty(st)))?
        }
        (FileKind::Console, EVFILT_WRITE) => {
            crate::tty::tty_kqfilter(|st| attach(KnObj::Console, &TTYWRITE_FILTOPS, Hint::Tty(st)))?
        }
        _ => return Err(EINVAL),
    };
    // The descriptor may have been closed (and knote_fdclose run) while
    // this attached: then the knote must not stay (OpenBSD's
    // fd_checkclosed). Either this sees the close, or the close's
    // knote_fdclose, ordered after this attach by the ps_fd lock, sees the
    // knote.
    if let Some(id) = id
        && !pr.ps_fd.lock().get(fd).is_ok_and(|g| Arc::ptr_eq(&g, &f))
    {
        KQ_LOCK.lock().knote_drop(id);
        return Err(EBADF);
    }
    Ok(())
}

/// EVFILT_PROC: ESRCH for no such process or one already exiting.
fn filt_procattach(kq: &Kqueue, kev: &Kevent) -> Result<(), i32> {
    let pid =
        Pid::try_from(kev.ident).ok().filter(|&p| p > 0 && p <= crate::kern_proc::PID_MAX).ok_or(ESRCH)?;
    let target = crate::kern_proc::pfind(pid).ok_or(ESRCH)?;
    let mut t = KQ_LOCK.lock();
    let kn = Knote::new(kq.kq_id, kev, KnObj::Process(pid), &PROC_FILTOPS);
    let Some(id) = t.knote_attach(kn, &Hint::None, &mut wake)? else { return Ok(()) };
    // Pairs with the fence in knote_proc_exit (module docs).
    fence(Ordering::SeqCst);
    if target.ps_flags.load(Ordering::Relaxed) & PS_EXITING != 0 {
        t.knote_drop(id);
        return Err(ESRCH);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const KQ: KqId = 1;
    const WCHAN: usize = 0x1000;

    fn table() -> KqTable {
        let mut t = KqTable::new();
        t.kqueue_insert(KQ, 7, WCHAN);
        t
    }

    fn kev(ident: u64, filter: i16, flags: u16, fflags: u32, data: i64) -> Kevent {
        Kevent::new(ident, filter, flags, fflags, data, 0xabc)
    }

    fn scan(t: &mut KqTable, now: u64) -> Vec<Kevent> {
        let mut out = [Kevent::default(); 8];
        let n = t.kqueue_scan(KQ, now, &mut out);
        out[..n].to_vec()
    }

    /// Attach a knote for change `k` watching `obj`, evaluated with `hint`;
    /// nobody to wake.
    fn attach(
        t: &mut KqTable,
        k: Kevent,
        obj: KnObj,
        fop: &'static FilterOps,
        hint: Hint,
    ) -> Result<Option<KnId>, i32> {
        t.knote_attach(Knote::new(KQ, &k, obj, fop), &hint, &mut |_| {})
    }

    fn proc_knote(t: &mut KqTable, pid: Pid, fflags: u32, wakes: &mut Vec<usize>) -> KnId {
        let kn = Knote::new(
            KQ,
            &kev(pid as u64, EVFILT_PROC, EV_ADD, fflags, 0),
            KnObj::Process(pid),
            &PROC_FILTOPS,
        );
        t.knote_attach(kn, &Hint::None, &mut |w| wakes.push(w)).unwrap().unwrap()
    }

    #[test]
    fn change_validation() {
        assert_eq!(check_change(&kev(1, EVFILT_READ, EV_ADD, 0, 0)), Ok(()));
        assert_eq!(check_change(&kev(1, EVFILT_TIMER, EV_ADD | EV_ONESHOT | EV_RECEIPT, 0, 0)), Ok(()));
        for bad in [0i16, 1, EVFILT_AIO, EVFILT_VNODE, EVFILT_DEVICE, EVFILT_USER, -11, i16::MIN] {
            assert_eq!(check_change(&kev(1, bad, EV_ADD, 0, 0)), Err(EINVAL), "filter {bad}");
        }
        assert_eq!(check_change(&kev(1, EVFILT_READ, EV_ADD | EV_DELETE, 0, 0)), Err(EINVAL));
        assert_eq!(check_change(&kev(1, EVFILT_READ, EV_ENABLE | EV_DISABLE, 0, 0)), Err(EINVAL));
        assert_eq!(check_change(&kev(1, EVFILT_READ, EV_ADD | 0x0100, 0, 0)), Err(EINVAL));
    }

    #[test]
    fn timer_arithmetic() {
        assert_eq!(timer_expire(100, 10, 99), (0, 100));
        assert_eq!(timer_expire(100, 10, 100), (1, 110));
        assert_eq!(timer_expire(100, 10, 129), (3, 130));
        assert_eq!(timer_expire(u64::MAX, 10, 5), (0, u64::MAX));
        assert_eq!(timer_period_ns(25, NOTE_MSECONDS), Ok(25_000_000));
        assert_eq!(timer_period_ns(2, NOTE_SECONDS), Ok(2_000_000_000));
        assert_eq!(timer_period_ns(20_000, NOTE_USECONDS), Ok(20_000_000));
        assert_eq!(timer_period_ns(0, 0), Ok(1_000_000_000 / HZ), "at least a tick");
        assert_eq!(timer_period_ns(-1, 0), Err(EINVAL));
        assert_eq!(timer_period_ns(1, NOTE_ABSTIME), Err(EINVAL));
        assert_eq!(timer_period_ns(i64::MAX, NOTE_SECONDS), Ok(u64::MAX));
    }

    #[test]
    fn periodic_and_oneshot_timers() {
        let mut t = table();
        let p = 10_000_000;
        let timer = |next, period| KnObj::Timer { next, period };
        attach(&mut t, kev(1, EVFILT_TIMER, EV_ADD, 0, 10), timer(p, p), &TIMER_FILTOPS, Hint::Clock(0))
            .unwrap();
        let once = kev(2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 15);
        attach(&mut t, once, timer(15_000_000, 15_000_000), &TIMER_FILTOPS, Hint::Clock(0)).unwrap();
        assert!(scan(&mut t, 5_000_000).is_empty());
        assert_eq!(t.next_timeout(KQ), Some(p));
        let ev = scan(&mut t, 35_000_000);
        assert_eq!(ev.len(), 2);
        let d = |id| ev.iter().find(|e| e.ident == id).unwrap().data;
        assert_eq!(d(1), 3, "10, 20, 30 ms");
        assert_eq!(d(2), 1, "a one-shot timer fires once");
        assert!(ev.iter().all(|e| e.flags & EV_CLEAR != 0 && e.udata == 0xabc));
        assert_eq!(t.counts(), (1, 1), "the one-shot knote is gone once read");
        assert!(scan(&mut t, 39_000_000).is_empty(), "EV_CLEAR reset the count");
        assert_eq!(scan(&mut t, 40_000_000)[0].data, 1);
        assert_eq!(t.next_timeout(KQ), Some(50_000_000));
    }

    #[test]
    fn proc_exit_fires_detaches_and_frees_on_read() {
        let mut t = table();
        let mut wakes = Vec::new();
        proc_knote(&mut t, 42, NOTE_EXIT | NOTE_FORK | NOTE_EXEC, &mut wakes);
        assert!(wakes.is_empty() && scan(&mut t, 0).is_empty(), "nothing happened yet");
        t.knote(KlistKey::Process(42), &Hint::Exec, &mut |w| wakes.push(w));
        t.knote(KlistKey::Process(42), &Hint::Fork(43), &mut |w| wakes.push(w));
        assert_eq!(wakes, vec![WCHAN], "queued once, woken once");
        let ev = scan(&mut t, 0);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].fflags, NOTE_EXEC | NOTE_FORK);
        assert_eq!(ev[0].data, 43, "NOTE_FORK reports the child");
        assert!(scan(&mut t, 0).is_empty(), "EV_CLEAR");
        let status = sys::wait::w_exitcode(3, 0);
        t.knote_exit(42, status, &mut |w| wakes.push(w));
        assert!(t.klists.is_empty(), "the exited process's klist is gone");
        t.knote(KlistKey::Process(42), &Hint::Exec, &mut |_| panic!("a detached knote fired"));
        let ev = scan(&mut t, 0);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].fflags, ev[0].data), (NOTE_EXIT, status as i64));
        assert_eq!(ev[0].flags & (EV_EOF | EV_ONESHOT), EV_EOF | EV_ONESHOT);
        assert_eq!(t.counts(), (1, 0), "read once, then freed");
    }

    #[test]
    fn track_attaches_to_the_child() {
        let mut t = table();
        let mut wakes = Vec::new();
        proc_knote(&mut t, 42, NOTE_EXIT | NOTE_FORK | NOTE_TRACK, &mut wakes);
        t.knote(KlistKey::Process(42), &Hint::Fork(50), &mut |w| wakes.push(w));
        let ev = scan(&mut t, 0);
        assert_eq!(ev.len(), 2);
        let child = ev.iter().find(|e| e.ident == 50).expect("no NOTE_CHILD event");
        assert_eq!((child.fflags, child.data), (NOTE_CHILD, 42));
        t.knote_exit(50, 0, &mut |_| {});
        let ev = scan(&mut t, 0);
        assert_eq!((ev.len(), ev[0].ident, ev[0].fflags), (1, 50, NOTE_EXIT));
    }

    #[test]
    fn signals_count_until_read() {
        let mut t = table();
        attach(&mut t, kev(30, EVFILT_SIGNAL, EV_ADD, 0, 0), KnObj::Process(7), &SIG_FILTOPS, Hint::None)
            .unwrap();
        for s in [30, 31, 30, 30] {
            t.knote(KlistKey::Process(7), &Hint::Signal(s), &mut |_| {});
        }
        let ev = scan(&mut t, 0);
        assert_eq!((ev.len(), ev[0].data), (1, 3));
        assert!(scan(&mut t, 0).is_empty());
    }

    #[test]
    fn pipe_readiness_is_level_triggered_with_eof() {
        let mut t = table();
        let pipe = Pipe::new_for_test();
        let key = pipe.klist().key();
        let st = |avail, writers| Hint::Pipe(PipeStat { avail, space: 100 - avail, readers: 1, writers });
        let obj = KnObj::Pipe(pipe.clone());
        attach(&mut t, kev(3, EVFILT_READ, EV_ADD, 0, 0), obj, &PIPEREAD_FILTOPS, st(0, 1)).unwrap();
        assert!(!pipe.klist().is_empty());
        assert!(scan(&mut t, 0).is_empty());
        t.knote(key, &st(5, 1), &mut |_| {});
        assert_eq!(scan(&mut t, 0)[0].data, 5);
        assert_eq!(scan(&mut t, 0)[0].data, 5, "level-triggered: still readable");
        t.knote(key, &st(0, 1), &mut |_| {});
        assert!(scan(&mut t, 0).is_empty(), "drained: no longer ready");
        t.knote(key, &st(0, 0), &mut |_| {});
        let ev = scan(&mut t, 0);
        assert_eq!((ev[0].data, ev[0].flags & EV_EOF), (0, EV_EOF));
        // Disabled: not reported; enabled again: reported.
        t.knote_modify(KQ, &kev(3, EVFILT_READ, EV_DISABLE, 0, 0), None, &mut |_| {}).unwrap();
        assert!(scan(&mut t, 0).is_empty());
        let mut woke = false;
        t.knote_modify(KQ, &kev(3, EVFILT_READ, EV_ENABLE, 0, 0), None, &mut |_| woke = true).unwrap();
        assert!(woke && scan(&mut t, 0).len() == 1);
        t.kqueue_remove(KQ);
        assert!(pipe.klist().is_empty() && t.klists.is_empty());
        assert_eq!(t.counts(), (0, 0));
        assert_eq!(Arc::strong_count(&pipe), 1, "the knote let go of the pipe");
    }

    #[test]
    fn modify_delete_and_fdclose() {
        let mut t = table();
        let pipe = Pipe::new_for_test();
        let hint = Hint::Pipe(PipeStat { avail: 0, space: 4096, readers: 1, writers: 1 });
        let add = kev(4, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0);
        attach(&mut t, add, KnObj::Pipe(pipe.clone()), &PIPEWRITE_FILTOPS, hint).unwrap();
        // A second add of the same filter and ident changes the first.
        let again = Kevent { udata: 9, ..add };
        assert_eq!(attach(&mut t, again, KnObj::Pipe(pipe.clone()), &PIPEWRITE_FILTOPS, hint), Ok(None));
        assert_eq!(t.counts().1, 1);
        let ev = scan(&mut t, 0);
        assert_eq!((ev.len(), ev[0].data, ev[0].udata), (1, 4096, 9));
        assert!(scan(&mut t, 0).is_empty(), "EV_CLEAR on a pipe: edge-triggered");
        assert_eq!(
            t.knote_modify(KQ, &kev(5, EVFILT_WRITE, EV_DELETE, 0, 0), None, &mut |_| {}),
            Err(ENOENT)
        );
        assert_eq!(t.knote_modify(KQ, &kev(5, EVFILT_WRITE, EV_ADD, 0, 0), None, &mut |_| {}), Ok(false));
        t.knote_fdclose(8, 4);
        assert_eq!(t.counts().1, 1, "another process's descriptor 4");
        t.knote_fdclose(7, 4);
        assert_eq!(t.counts().1, 0);
        assert!(pipe.klist().is_empty());
    }

    #[test]
    fn oneshot_and_dispatch() {
        let mut t = table();
        let pipe = Pipe::new_for_test();
        let hint = Hint::Pipe(PipeStat { avail: 1, space: 0, readers: 1, writers: 1 });
        for (fd, flag) in [(3, EV_DISPATCH), (6, EV_ONESHOT)] {
            let k = kev(fd, EVFILT_READ, EV_ADD | flag, 0, 0);
            attach(&mut t, k, KnObj::Pipe(pipe.clone()), &PIPEREAD_FILTOPS, hint).unwrap();
        }
        assert_eq!(scan(&mut t, 0).len(), 2);
        assert_eq!(t.counts().1, 1, "EV_ONESHOT deleted");
        assert!(scan(&mut t, 0).is_empty(), "EV_DISPATCH disabled");
        t.knote_modify(KQ, &kev(3, EVFILT_READ, EV_ENABLE, 0, 0), None, &mut |_| {}).unwrap();
        assert_eq!(scan(&mut t, 0).len(), 1);
    }

    #[test]
    fn knote_limit() {
        let mut t = table();
        let mut n = 0u64;
        loop {
            match attach(
                &mut t,
                kev(n, EVFILT_SIGNAL, EV_ADD, 0, 0),
                KnObj::Process(7),
                &SIG_FILTOPS,
                Hint::None,
            ) {
                Ok(_) => n += 1,
                Err(e) => {
                    assert_eq!(e, ENOMEM);
                    break;
                }
            }
        }
        assert_eq!(n as usize, KQ_MAXKNOTES);
        t.kqueue_remove(KQ);
        assert_eq!(t.counts(), (0, 0));
        assert!(t.klists.is_empty());
    }
}
