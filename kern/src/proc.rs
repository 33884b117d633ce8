//! `struct process` and `struct proc`, separated as in OpenBSD.
//!
//! A [`Process`] owns what its threads share: pid, address space, file
//! table, signal actions, exit status and rusage. A [`Proc`] is one thread:
//! kernel stack, switch state, scheduling state, signal mask.
//!
//! # Locking
//!
//! - The process tree (pids, parent/children, process groups, zombies) is
//!   the global [`PROCTREE`] mutex; `Process` itself holds no tree fields.
//! - A process's thread list, signal state and accounting are its
//!   `ps_mtx` ([`ProcessInner`]).
//! - A thread's scheduling fields (`p_stat`, run queue links, wait channel,
//!   priority) belong to the scheduler lock (`kern_sched::SCHED_LOCK`) and
//!   are reached only through [`Proc::sched`] with that lock's guard.
//! - Lock order: PROCTREE, then ps_mtx, then SCHED_LOCK.
//!
//! # Lifetime
//!
//! `Proc`s are heap boxes handed around as raw pointers, as the scheduler,
//! sleep queues and dead lists link them: a thread's box is freed only once
//! the thread is off its CPU (DESIGN invariant 6) — by the next thread on
//! that CPU at the end of the switch (exit=direct) or by the reaper
//! (exit=reaper). `ps_unreaped` counts a process's threads not yet freed;
//! the free that brings it to 0 signals `ps_deadcond`, which wait4 waits
//! for before it frees the zombie, so a parent's wait returns with every
//! count of the child's resources already back.
//! `Process`es are `Arc`s: threads, the tree and the parent's wait hold
//! them; a zombie is the `Arc` left in the tree holding only status and
//! rusage (thin: no kernel stack, no address space).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use sys::resource::Rusage;
use sys::signal::{NSIG, SigAction, SigSet};

use crate::kern_sched::SchedGuard;
use crate::machdep::{self, Pcb};
use crate::mutex::Mutex;

pub type Pid = i32;

/// Thread states (OpenBSD `p_stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcStat {
    /// Being created.
    Sidl,
    /// Runnable, on a run queue.
    Srun,
    /// Sleeping on a wait channel.
    Ssleep,
    /// Stopped by a signal.
    Sstop,
    /// Exited; waiting to be freed once off its CPU.
    Sdead,
    /// Running on a CPU.
    Sonproc,
}

impl ProcStat {
    pub fn as_sys(self) -> u8 {
        use sys::sysctl::*;
        match self {
            ProcStat::Sidl => SIDL,
            ProcStat::Srun => SRUN,
            ProcStat::Ssleep => SSLEEP,
            ProcStat::Sstop => SSTOP,
            ProcStat::Sdead => SDEAD,
            ProcStat::Sonproc => SONPROC,
        }
    }
}

// Process flags (ps_flags), as OpenBSD's PS_*.
/// Exiting: exit1 has begun for the process.
pub const PS_EXITING: u32 = 0x0000_0008;
/// A kernel thread's process.
pub const PS_SYSTEM: u32 = sys::sysctl::PS_SYSTEM;
/// Made a zombie: status and rusage final, waitable.
pub const PS_ZOMBIE: u32 = 0x0004_0000;
/// The parent does not want a zombie (SIGCHLD ignored / SA_NOCLDWAIT).
pub const PS_NOZOMBIE: u32 = 0x0080_0000;
/// Stopped by a signal (threads stop at their next userret).
pub const PS_STOPPED: u32 = 0x0000_0100;
/// Being single-threaded for exit: other threads must exit.
pub const PS_SINGLEEXIT: u32 = 0x0000_2000;
/// Has called execve at least once.
pub const PS_EXEC: u32 = 0x0000_0010;
/// Stop status not yet collected by wait (WUNTRACED).
pub const PS_WAITSTOP: u32 = 0x1000_0000;
/// Continue status not yet collected by wait (WCONTINUED).
pub const PS_WAITCONT: u32 = 0x2000_0000;

// Thread flags (p_flag).
/// Sleeping interruptibly (PCATCH).
pub const P_SINTR: u32 = 0x0000_0080;
/// The sleep ended by its timeout.
pub const P_TIMEOUT: u32 = 0x0000_0400;
/// Exiting.
pub const P_WEXIT: u32 = 0x0000_2000;
/// A kernel thread (no user mode).
pub const P_SYSTEM: u32 = 0x0000_0200;
/// The CPU's idle thread.
pub const P_IDLE: u32 = 0x0100_0000;

/// Scheduler-owned fields of a thread; see the module docs.
pub struct ProcSched {
    pub p_stat: ProcStat,
    /// Current priority (lower is better); set from the sleep priority on
    /// wakeup and back to `p_usrpri` on the way to user mode.
    pub p_priority: u8,
    pub p_usrpri: u8,
    /// Recent CPU use, in ticks, decayed every second.
    pub p_estcpu: u32,
    pub p_wchan: usize,
    pub p_wmesg: &'static str,
    /// Tick at which the sleep times out, 0 for none.
    pub p_deadline: u64,
    /// CPU the thread last ran on / is queued on.
    pub p_cpu: u32,
}

/// A thread (OpenBSD `struct proc`).
pub struct Proc {
    pub p_tid: Pid,
    pub p_p: Arc<Process>,
    /// Switch state: touched only by the thread itself and by the switch
    /// code under the scheduler lock.
    pub p_pcb: UnsafeCell<Pcb>,
    /// Top of the kernel stack, 0 for a CPU's idle thread (boot stack).
    pub p_kstack: usize,
    pub p_flag: AtomicU32,
    /// Pending thread-directed signals.
    pub p_siglist: AtomicU32,
    pub p_sigmask: AtomicU32,
    /// CPU time in user and in system mode, charged by the CPU running
    /// the thread at each transition (see `cpu::ThreadTimes`).
    pub p_times: crate::cpu::ThreadTimes,
    /// The user pmap to load when this thread runs (0: kernel only).
    pub p_pmap: AtomicU64,
    /// This thread's reference to the address space it runs on. Dropped
    /// once the thread no longer runs on it: in exit1 after the thread
    /// deactivated the pmap (exit=direct), or by the reaper once the thread
    /// is off its CPU (exit=reaper); so the last reference to a map — whose
    /// drop tears it down — can never go while some CPU still runs a
    /// thread on it (DESIGN invariant 2). Written by the thread itself
    /// (exec, exit) or before it is published (fork).
    pub p_vmspace: UnsafeCell<Option<Arc<crate::uvm_glue::VmSpace>>>,
    /// Where `__threxit` clears the thread id (0: nowhere).
    pub p_threxit_tid: AtomicU64,
    sched: UnsafeCell<ProcSched>,
}

// SAFETY: the UnsafeCell fields are only reached under the locks the
// module documentation names (scheduler lock, or by the owning thread).
unsafe impl Sync for Proc {}
unsafe impl Send for Proc {}

impl Proc {
    pub fn new(tid: Pid, pr: Arc<Process>, kstack: usize, prio: u8) -> Box<Proc> {
        Box::new(Proc {
            p_tid: tid,
            p_p: pr,
            p_pcb: UnsafeCell::new(Pcb { pcb_kstack_top: kstack, ..Pcb::default() }),
            p_kstack: kstack,
            p_flag: AtomicU32::new(0),
            p_siglist: AtomicU32::new(0),
            p_sigmask: AtomicU32::new(0),
            p_times: crate::cpu::ThreadTimes::new(),
            p_pmap: AtomicU64::new(0),
            p_vmspace: UnsafeCell::new(None),
            p_threxit_tid: AtomicU64::new(0),
            sched: UnsafeCell::new(ProcSched {
                p_stat: ProcStat::Sidl,
                p_priority: prio,
                p_usrpri: prio,
                p_estcpu: 0,
                p_wchan: 0,
                p_wmesg: "",
                p_deadline: 0,
                p_cpu: 0,
            }),
        })
    }

    /// The scheduler fields; the guard proves the scheduler lock is held.
    #[allow(clippy::mut_from_ref)]
    pub fn sched<'a>(&'a self, _g: &'a SchedGuard) -> &'a mut ProcSched {
        // SAFETY: the scheduler lock serialises every access (see
        // module docs), and the returned borrow cannot outlive the guard.
        unsafe { &mut *self.sched.get() }
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.p_flag.load(Ordering::Acquire) & f != 0
    }
    pub fn set_flag(&self, f: u32) {
        self.p_flag.fetch_or(f, Ordering::AcqRel);
    }
    pub fn clear_flag(&self, f: u32) {
        self.p_flag.fetch_and(!f, Ordering::AcqRel);
    }

    /// Point this thread at `vm` (its pmap and its reference), returning
    /// the reference it held. Only the thread itself, or its creator before
    /// publishing it, may call this.
    pub fn set_vmspace(
        &self,
        vm: Option<Arc<crate::uvm_glue::VmSpace>>,
    ) -> Option<Arc<crate::uvm_glue::VmSpace>> {
        self.p_pmap.store(vm.as_ref().map_or(0, |v| v.vm_pmap as u64), Ordering::Release);
        // SAFETY: per the contract above, no one else touches the field.
        unsafe { core::mem::replace(&mut *self.p_vmspace.get(), vm) }
    }

    pub fn pcb(&self) -> *mut Pcb {
        self.p_pcb.get()
    }

    /// The thread's user trap frame (user threads only).
    pub fn trapframe(&self) -> *mut machdep::TrapFrame {
        machdep::trapframe_of(self.p_kstack)
    }
}

/// What the threads of a process share that changes: under `ps_mtx`.
pub struct ProcessInner {
    pub ps_threads: Vec<*mut Proc>,
    pub ps_sigacts: [SigAction; NSIG as usize],
    /// Pending process-directed signals no thread has taken yet.
    pub ps_siglist: SigSet,
    /// [user, sys] cycles of threads that already exited (final once the
    /// last one has: exit1 sums each thread in as it leaves).
    pub ps_tu: [u64; 2],
    /// Accumulated rusage of waited-for children, but for the times:
    /// those add up in cycles, in `ps_ctu`, and become a timeval only when
    /// read, so thousands of children do not add up rounding errors.
    pub ps_cru: Rusage,
    /// [user, sys] cycles of waited-for children and their own children.
    pub ps_ctu: [u64; 2],
    /// The thread that single-threads the process, when PS_SINGLEEXIT.
    pub ps_single: *mut Proc,
    pub ps_comm: [u8; sys::sysctl::KI_MAXCOMLEN],
}

/// A process (OpenBSD `struct process`).
pub struct Process {
    pub ps_pid: Pid,
    pub ps_flags: AtomicU32,
    /// Exit status as wait reports it; final before PS_ZOMBIE is set.
    pub ps_xstat: AtomicI32,
    pub ps_mtx: Mutex<ProcessInner>,
    /// Rusage at exit, final before PS_ZOMBIE is set (DESIGN invariant 1).
    pub ps_ru: Mutex<Rusage>,
    pub ps_vmspace: Mutex<Option<Arc<crate::uvm_glue::VmSpace>>>,
    pub ps_fd: Mutex<crate::kern_descrip::FileDesc>,
    /// Current directory in the ramdisk tree.
    pub ps_cwd: AtomicU32,
    /// Number of live threads (for `ps` and single-threading).
    pub ps_threadcnt: AtomicU32,
    /// Threads not yet freed (off their CPU). exit=reaper: the free that
    /// brings it to 0 tears the process down and makes the zombie.
    /// Both strategies: that free signals `ps_deadcond`.
    pub ps_unreaped: AtomicU32,
    /// Signalled once every thread of the exited process is freed (the
    /// seed's "pdead"): wait4 waits for it before freeing the zombie.
    pub ps_deadcond: crate::kern_synch::Cond,
    /// Bumped (under ps_mtx) by every SIGCONT: a stop signal taken before
    /// a SIGCONT that came in meanwhile must not stop the process.
    pub ps_contgen: AtomicU32,
    /// The thread whose exit ended the process, 0 if none (kept for ps).
    pub ps_mainthread: AtomicPtr<Proc>,
}

// SAFETY: raw thread pointers in ProcessInner are only followed under
// ps_mtx or the scheduler lock, per the module docs.
unsafe impl Sync for ProcessInner {}
unsafe impl Send for ProcessInner {}

impl Process {
    pub fn new(pid: Pid, flags: u32, comm: &[u8]) -> Process {
        let mut c = [0u8; sys::sysctl::KI_MAXCOMLEN];
        let n = comm.len().min(c.len() - 1);
        c[..n].copy_from_slice(&comm[..n]);
        Process {
            ps_pid: pid,
            ps_flags: AtomicU32::new(flags),
            ps_xstat: AtomicI32::new(0),
            ps_mtx: Mutex::new(ProcessInner {
                ps_threads: Vec::new(),
                ps_sigacts: [SigAction::default(); NSIG as usize],
                ps_siglist: 0,
                ps_tu: [0; 2],
                ps_cru: Rusage::default(),
                ps_ctu: [0; 2],
                ps_single: core::ptr::null_mut(),
                ps_comm: c,
            }),
            ps_ru: Mutex::new(Rusage::default()),
            ps_vmspace: Mutex::new(None),
            ps_fd: Mutex::new(crate::kern_descrip::FileDesc::new()),
            ps_cwd: AtomicU32::new(0),
            ps_threadcnt: AtomicU32::new(0),
            ps_unreaped: AtomicU32::new(0),
            ps_deadcond: crate::kern_synch::Cond::new(),
            ps_contgen: AtomicU32::new(0),
            ps_mainthread: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.ps_flags.load(Ordering::Acquire) & f != 0
    }
    pub fn set_flag(&self, f: u32) {
        self.ps_flags.fetch_or(f, Ordering::AcqRel);
    }
    pub fn clear_flag(&self, f: u32) {
        self.ps_flags.fetch_and(!f, Ordering::AcqRel);
    }

    pub fn comm(&self) -> [u8; sys::sysctl::KI_MAXCOMLEN] {
        self.ps_mtx.lock().ps_comm
    }

    pub fn vmspace(&self) -> Option<Arc<crate::uvm_glue::VmSpace>> {
        self.ps_vmspace.lock().clone()
    }
}

impl ProcessInner {
    /// [user, sys] cycles of the process: exited threads plus live ones
    /// (those as of their last transition; see `cpu::ThreadTimes`).
    pub fn cputime(&self) -> [u64; 2] {
        let mut t = self.ps_tu;
        for &p in self.ps_threads.iter() {
            // SAFETY: on the thread list under ps_mtx (which `self` is
            // behind): live.
            let [u, s] = unsafe { (*p).p_times.cycles() };
            t[0] += u;
            t[1] += s;
        }
        t
    }
}

/// A timeval of `cyc` cycles of the CPU counter.
pub fn cycles_to_timeval(cyc: u64) -> sys::time::Timeval {
    let us = crate::cpu::cycles_to_us(cyc);
    sys::time::Timeval { tv_sec: (us / 1_000_000) as i64, tv_usec: (us % 1_000_000) as i64 }
}
