//! The process tree: pids, parents and children, process groups, limits.
//!
//! Everything here is under the one [`PROCTREE`] mutex (a spinning,
//! interrupt-masking lock held briefly). A pid stays in the tree from
//! fork1 until wait frees the zombie, so it cannot be reused while anyone
//! could still name the process: allocation picks a number that is neither
//! a live pid nor a process group id in use, and inserts it before the
//! lock is dropped, so two forks cannot race to the same pid.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::mutex::Mutex;
use crate::proc::{Pid, Process};

/// Process and thread limits (OpenBSD's maxprocess / maxthread). Kernel
/// threads count too.
pub const MAXPROCESS: u32 = 256;
pub const MAXTHREAD: u32 = 512;
/// Largest pid handed out; allocation wraps to 2 after it.
pub const PID_MAX: Pid = 99_999;

pub static NPROCS: AtomicU32 = AtomicU32::new(0);
pub static NTHREADS: AtomicU32 = AtomicU32::new(0);

pub struct TreeEntry {
    pub process: Arc<Process>,
    pub ppid: Pid,
    pub pgid: Pid,
    pub children: Vec<Pid>,
}

pub struct ProcTree {
    pub procs: BTreeMap<Pid, TreeEntry>,
    next_pid: Pid,
    next_tid: Pid,
}

pub static PROCTREE: Mutex<ProcTree> =
    Mutex::new(ProcTree { procs: BTreeMap::new(), next_pid: 1, next_tid: sys::tfork::THREAD_PID_OFFSET });

/// The pid of init, which adopts orphans.
pub const INIT_PID: Pid = 1;

impl ProcTree {
    /// A pid no live process or process group uses.
    pub fn alloc_pid(&mut self) -> Pid {
        loop {
            let pid = self.next_pid;
            self.next_pid = if pid >= PID_MAX { 2 } else { pid + 1 };
            if !self.procs.contains_key(&pid) && !self.procs.values().any(|e| e.pgid == pid) {
                return pid;
            }
        }
    }

    /// A thread id for a thread that is not its process's first.
    pub fn alloc_tid(&mut self) -> Pid {
        let t = self.next_tid;
        self.next_tid =
            if t >= sys::tfork::THREAD_PID_OFFSET + PID_MAX { sys::tfork::THREAD_PID_OFFSET } else { t + 1 };
        t
    }

    pub fn insert(&mut self, pr: Arc<Process>, ppid: Pid, pgid: Pid) {
        let pid = pr.ps_pid;
        if let Some(parent) = self.procs.get_mut(&ppid) {
            parent.children.push(pid);
        }
        self.procs.insert(pid, TreeEntry { process: pr, ppid, pgid, children: Vec::new() });
    }

    /// Remove a reaped zombie; its children were reparented at exit.
    pub fn remove(&mut self, pid: Pid) -> Option<TreeEntry> {
        let e = self.procs.remove(&pid)?;
        if let Some(parent) = self.procs.get_mut(&e.ppid) {
            parent.children.retain(|&c| c != pid);
        }
        Some(e)
    }

    pub fn get(&self, pid: Pid) -> Option<&TreeEntry> {
        self.procs.get(&pid)
    }

    /// Give every child of `pid` to init; returns whether any of them is
    /// already a zombie (init must then be woken to reap it).
    pub fn reparent_children(&mut self, pid: Pid) -> bool {
        let kids = match self.procs.get_mut(&pid) {
            Some(e) => core::mem::take(&mut e.children),
            None => return false,
        };
        let mut zombie = false;
        for k in &kids {
            if let Some(e) = self.procs.get_mut(k) {
                e.ppid = INIT_PID;
                zombie |= e.process.has_flag(crate::proc::PS_ZOMBIE);
            }
        }
        if let Some(init) = self.procs.get_mut(&INIT_PID) {
            init.children.extend(kids);
        }
        zombie
    }

    /// The groups among `cand` that are orphaned and have a stopped member:
    /// exit must send them SIGHUP and SIGCONT (POSIX), or nothing would
    /// ever continue them. A group is orphaned when no live member has its
    /// parent in another group of the session. oxbsd has one session and
    /// counts init (and pid 0) as outside it, as OpenBSD's init leads a
    /// session of its own. `exiting` is the process whose exit is being
    /// handled (already reparenting): it counts as gone.
    ///
    /// Cost on the exit path: one pass over the tree under PROCTREE (at
    /// most 256 entries), each looked up among the distinct candidate
    /// groups (a parent's children usually share one) by binary search.
    pub fn orphaned_stopped_pgrps(&self, cand: &[Pid], exiting: Pid) -> Vec<Pid> {
        let mut groups: Vec<Pid> = cand.iter().copied().filter(|&g| g > INIT_PID).collect();
        groups.sort_unstable();
        groups.dedup();
        // Per group: (has a live member, has a stopped one, tied to the session).
        let mut st = alloc::vec![(false, false, false); groups.len()];
        for e in self.procs.values() {
            let Ok(i) = groups.binary_search(&e.pgid) else { continue };
            if e.process.ps_pid == exiting || e.process.has_flag(crate::proc::PS_ZOMBIE) {
                continue;
            }
            let s = &mut st[i];
            s.0 = true;
            s.1 |= e.process.has_flag(crate::proc::PS_STOPPED);
            s.2 |= e.ppid > INIT_PID
                && e.ppid != exiting
                && self.get(e.ppid).is_some_and(|pe| pe.pgid != e.pgid);
        }
        groups
            .into_iter()
            .zip(st)
            .filter(|&(_, (any, stopped, tied))| any && stopped && !tied)
            .map(|(g, _)| g)
            .collect()
    }

    pub fn pgrp_exists(&self, pgid: Pid) -> bool {
        self.procs.values().any(|e| e.pgid == pgid)
    }
}

/// Reserve a process slot (and its first thread); EAGAIN beyond the limits.
pub fn reserve_process() -> Result<(), i32> {
    if NPROCS.fetch_add(1, Ordering::AcqRel) >= MAXPROCESS {
        NPROCS.fetch_sub(1, Ordering::AcqRel);
        return Err(sys::errno::EAGAIN);
    }
    if let Err(e) = reserve_thread() {
        NPROCS.fetch_sub(1, Ordering::AcqRel);
        return Err(e);
    }
    Ok(())
}

pub fn reserve_thread() -> Result<(), i32> {
    if NTHREADS.fetch_add(1, Ordering::AcqRel) >= MAXTHREAD {
        NTHREADS.fetch_sub(1, Ordering::AcqRel);
        return Err(sys::errno::EAGAIN);
    }
    Ok(())
}

pub fn release_thread() {
    NTHREADS.fetch_sub(1, Ordering::AcqRel);
}

pub fn release_process() {
    NPROCS.fetch_sub(1, Ordering::AcqRel);
}

pub fn pfind(pid: Pid) -> Option<Arc<Process>> {
    PROCTREE.lock().get(pid).map(|e| e.process.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> ProcTree {
        ProcTree { procs: BTreeMap::new(), next_pid: 1, next_tid: sys::tfork::THREAD_PID_OFFSET }
    }

    fn add(t: &mut ProcTree, ppid: Pid) -> Pid {
        let pid = t.alloc_pid();
        t.insert(Arc::new(Process::new(pid, 0, b"t")), ppid, pid);
        pid
    }

    #[test]
    fn orphaned_groups_with_stopped_members() {
        let mut t = tree();
        let init = add(&mut t, 0);
        let shell = add(&mut t, init);
        // A job of two in its own group, the shell's children; one stopped.
        let j1 = add(&mut t, shell);
        let j2 = add(&mut t, shell);
        t.procs.get_mut(&j2).unwrap().pgid = j1;
        t.procs[&j2].process.set_flag(crate::proc::PS_STOPPED);
        assert!(t.orphaned_stopped_pgrps(&[j1], 0).is_empty(), "the shell still ties the job to the session");
        // The shell exits: its children go to init and the job is orphaned.
        t.reparent_children(shell);
        assert_eq!(t.orphaned_stopped_pgrps(&[j1, t.procs[&shell].pgid], shell), [j1]);
        // Nobody stopped: nothing to do.
        t.procs[&j2].process.clear_flag(crate::proc::PS_STOPPED);
        assert!(t.orphaned_stopped_pgrps(&[j1], shell).is_empty());
        // A member whose parent is in another group keeps the group tied.
        t.procs[&j2].process.set_flag(crate::proc::PS_STOPPED);
        let other = add(&mut t, init);
        let kid = add(&mut t, other);
        t.procs.get_mut(&kid).unwrap().pgid = j1;
        assert!(t.orphaned_stopped_pgrps(&[j1], shell).is_empty());
        assert!(t.orphaned_stopped_pgrps(&[init, 0], shell).is_empty(), "init's group is never signalled");
    }

    #[test]
    fn pids_are_unique_and_skip_live_groups() {
        let mut t = tree();
        let init = add(&mut t, 0);
        assert_eq!(init, INIT_PID);
        let a = add(&mut t, init);
        // A group named after a pid that has since gone must not be reused.
        let b = add(&mut t, init);
        t.procs.get_mut(&b).unwrap().pgid = a;
        t.remove(a);
        t.next_pid = a;
        let c = t.alloc_pid();
        assert_ne!(c, a, "pid {a} reused while group {a} exists");
        assert!(!t.procs.contains_key(&c));
    }

    #[test]
    fn pid_allocation_wraps_past_the_top() {
        let mut t = tree();
        add(&mut t, 0);
        t.next_pid = PID_MAX;
        assert_eq!(t.alloc_pid(), PID_MAX);
        assert_eq!(t.alloc_pid(), 2);
    }

    #[test]
    fn orphans_go_to_init_and_zombies_are_reported() {
        let mut t = tree();
        let init = add(&mut t, 0);
        let p = add(&mut t, init);
        let c1 = add(&mut t, p);
        let c2 = add(&mut t, p);
        t.get(c2).unwrap().process.set_flag(crate::proc::PS_ZOMBIE);
        assert!(t.reparent_children(p), "a zombie child must wake init");
        assert_eq!(t.get(c1).unwrap().ppid, init);
        assert_eq!(t.get(c2).unwrap().ppid, init);
        assert!(t.get(p).unwrap().children.is_empty());
        assert!(t.get(init).unwrap().children.contains(&c1));
        // Removing a reaped child unlinks it from its parent.
        t.remove(c1);
        assert!(!t.get(init).unwrap().children.contains(&c1));
    }

    #[test]
    fn limits_give_eagain_and_give_back() {
        let before = (NPROCS.load(Ordering::Relaxed), NTHREADS.load(Ordering::Relaxed));
        let mut n = 0;
        while reserve_process().is_ok() {
            n += 1;
            assert!(n <= MAXPROCESS, "no limit on processes");
        }
        assert_eq!(reserve_process(), Err(sys::errno::EAGAIN));
        for _ in 0..n {
            release_thread();
            release_process();
        }
        assert_eq!((NPROCS.load(Ordering::Relaxed), NTHREADS.load(Ordering::Relaxed)), before);
    }
}
