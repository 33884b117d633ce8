//! The machine-independent part of OpenBSD's `struct cpu_info`.
//!
//! Each arch embeds one [`CpuInfo`] in its own per-CPU structure (whose
//! first word is `ci_self`, so the CPU finds it in O(1) through GS base or
//! TPIDR_EL1) and registers it with [`cpu_attach`]. The registry is a fixed
//! table of [`MAXCPUS`] slots written once per CPU at attach time and read
//! locklessly afterwards (Release on publish, Acquire on lookup).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

use sys::sysctl::KernCpuStats;

use crate::machdep;

/// Upper bound on CPUs, as OpenBSD's MAXCPUS. The number actually used is
/// whatever the firmware describes (ACPI MADT / device tree).
pub const MAXCPUS: usize = 64;

/// The CPU the firmware started us on.
pub const CPUF_PRIMARY: u32 = 0x0001;
/// Registered with [`cpu_attach`].
pub const CPUF_PRESENT: u32 = 0x0002;
/// Running the MI idle loop with interrupts on.
pub const CPUF_RUNNING: u32 = 0x0004;
/// Has sent its part of the boot IPI test.
pub const CPUF_IPI_SENT: u32 = 0x0008;

pub struct CpuInfo {
    /// Dense index, 0 for the boot CPU, in discovery order.
    pub ci_cpuid: u32,
    /// Hardware id: local APIC id on amd64, MPIDR affinity on arm64.
    pub ci_hwid: u64,
    pub ci_flags: AtomicU32,
    /// Timer interrupts taken on this CPU (hardclock calls).
    pub ci_ticks: AtomicU64,
    /// MI IPI kinds pending for this CPU (`kern_ipi::IPI_*` bits).
    pub ci_ipi_pending: AtomicU32,
    /// CPUs that sent this CPU a test IPI not yet taken (bit per cpuid).
    pub ci_ipi_from: AtomicU64,
    /// CPUs whose test IPI this CPU has taken.
    pub ci_ipi_seen: AtomicU64,
    /// Spinning mutexes this CPU holds (for `assertwaitok`); counted once
    /// the scheduler runs.
    pub ci_mutex_level: AtomicU32,
    /// Event counters and CPU time (KERN_CPUSTATS); see [`CpuStats`].
    pub ci_stats: CpuStats,
}

impl CpuInfo {
    pub const fn new(cpuid: u32, hwid: u64) -> Self {
        CpuInfo {
            ci_cpuid: cpuid,
            ci_hwid: hwid,
            ci_flags: AtomicU32::new(0),
            ci_ticks: AtomicU64::new(0),
            ci_ipi_pending: AtomicU32::new(0),
            ci_ipi_from: AtomicU64::new(0),
            ci_ipi_seen: AtomicU64::new(0),
            ci_mutex_level: AtomicU32::new(0),
            ci_stats: CpuStats::new(),
        }
    }

    pub fn is_primary(&self) -> bool {
        self.ci_flags.load(Ordering::Relaxed) & CPUF_PRIMARY != 0
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.ci_flags.load(Ordering::Acquire) & f != 0
    }

    pub fn set_flag(&self, f: u32) {
        self.ci_flags.fetch_or(f, Ordering::AcqRel);
    }
}

static CPUS: [AtomicPtr<CpuInfo>; MAXCPUS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAXCPUS];
static NCPUS: AtomicU32 = AtomicU32::new(0);

/// Register a CPU. Called by the arch for every CPU it discovers, the boot
/// CPU first (cpuid 0, with `primary`). Before: `ci` is fully initialised
/// and lives forever. After: `cpu_info(ci.ci_cpuid)` returns it.
pub fn cpu_attach(ci: &'static CpuInfo, primary: bool) {
    let id = ci.ci_cpuid as usize;
    assert!(id < MAXCPUS, "cpu{id}: beyond MAXCPUS ({MAXCPUS})");
    let mut f = CPUF_PRESENT;
    if primary {
        f |= CPUF_PRIMARY;
    }
    ci.set_flag(f);
    let prev = CPUS[id].swap(ci as *const CpuInfo as *mut CpuInfo, Ordering::AcqRel);
    assert!(prev.is_null(), "cpu{id}: attached twice");
    NCPUS.fetch_add(1, Ordering::AcqRel);
}

/// Number of CPUs attached.
pub fn ncpus() -> u32 {
    NCPUS.load(Ordering::Acquire)
}

/// The CPU with index `id`, if attached.
pub fn cpu_info(id: u32) -> Option<&'static CpuInfo> {
    let p = CPUS.get(id as usize)?.load(Ordering::Acquire);
    // SAFETY: only `cpu_attach` stores here, and it stores `&'static`s.
    unsafe { p.as_ref() }
}

/// Every attached CPU, by index.
pub fn cpus() -> impl Iterator<Item = &'static CpuInfo> {
    (0..MAXCPUS as u32).filter_map(cpu_info)
}

// ----- per-CPU counters and CPU time (KERN_CPUSTATS) -----

/// Time accounting states: which bucket the time since the last
/// transition goes to. The index into `cs_cycles`.
pub const CP_USER: u32 = 0;
pub const CP_SYS: u32 = 1;
pub const CP_INTR: u32 = 2;
pub const CP_IDLE: u32 = 3;
/// Not counting yet (before [`acct_start`] on this CPU): transitions are
/// no-ops, so trap paths taken during boot need no special case.
const CP_NONE: u32 = 4;

/// One CPU's event counters and time buckets.
///
/// # Single writer
///
/// Every field is written only by the CPU that owns it (the counting
/// points always name `machdep::curcpu()`), so no two CPUs ever write the
/// same cache line and sums need no lock: a reader adds the per-CPU
/// values up.
///
/// - The event counters are bumped with a relaxed `fetch_add`. Some of
///   them are counted both in thread context and in interrupt handlers on
///   the same CPU (tlb_page in pmap_remove and in the shootdown IPI), so a
///   plain load-then-store could lose a count to an interrupt between the
///   two; the atomic add cannot, and without contention it costs a few
///   cycles beside the TLB operation or fault it counts. A reader on
///   another CPU sees each counter torn-free (64-bit atomic) and possibly a
///   few events stale; counters are independent, so a snapshot of several
///   is not one instant.
/// - The time fields change only at transitions, which always run with
///   interrupts masked on the owning CPU (trap and interrupt entry and
///   exit, the switch under the scheduler lock, the idle loop's start), so
///   nothing on this CPU interleaves with an update and plain relaxed
///   loads and stores suffice for the writer. Readers on other CPUs need
///   the bucket, the stamp and the state to agree (or the interval since
///   the stamp would be counted twice or not at all), so the writer wraps
///   each update in a sequence count (odd while it writes) and the reader
///   retries until it saw an even, unchanged count: no lock, and the
///   writer never waits.
pub struct CpuStats {
    pub tlb_page: AtomicU64,
    pub tlb_asid: AtomicU64,
    pub tlb_all: AtomicU64,
    pub shoot_sent: AtomicU64,
    pub shoot_recv: AtomicU64,
    pub flt_zero: AtomicU64,
    pub flt_cow: AtomicU64,
    pub flt_text: AtomicU64,
    pub nswitch: AtomicU64,
    pub forks: AtomicU64,
    pub execs: AtomicU64,
    pub exits: AtomicU64,
    pub reaps: AtomicU64,
    cs_seq: AtomicU32,
    cs_state: AtomicU32,
    /// Cycle counter at the last transition.
    cs_stamp: AtomicU64,
    /// Cycles spent in each state before the last transition.
    cs_cycles: [AtomicU64; 4],
    /// The running thread's own times, charged at the same transitions
    /// from the same counter reading; null while the idle thread runs
    /// (its time is this CPU's, no process's). Set only by this CPU, at
    /// [`acct_switch`]. It points into the current `Proc`, which cannot be
    /// freed while it is current (DESIGN invariant 6), and is replaced in
    /// the switch away from it, before the switch can complete.
    cs_curtimes: AtomicPtr<ThreadTimes>,
}

/// One thread's CPU time in cycles of `machdep::cpu_counter`, indexed by
/// `CP_USER` and `CP_SYS` (OpenBSD's `p_uticks`/`p_sticks`, but exact).
///
/// # Who writes, and why no lock
///
/// Only the CPU running the thread writes these, at its transitions, with
/// interrupts masked ([`CpuStats::transition`] through `cs_curtimes`): a
/// load and a store, no read-modify-write, since nothing else on that CPU
/// can interleave and no other CPU writes them. A thread that migrates
/// changes writer only through the scheduler lock (released by the old
/// CPU after its last charge, in the switch away; taken by the new one
/// before its first, in the switch in), which orders the two writers.
/// Readers (getrusage, KERN_PROC, exit1 summing a sibling) load them
/// relaxed from any CPU: 64-bit atomics, so never torn, but stale by the
/// interval the running thread has not closed yet, which is at most one
/// clock tick: the clock interrupt closes it.
///
/// Interrupt time is charged to no thread: the interrupted thread did not
/// ask for the work, and OpenBSD's calcru likewise leaves the interrupt
/// share (p_iticks) out of both user and system time. It stays visible in
/// the CPU's intr bucket (KERN_CPUSTATS).
pub struct ThreadTimes {
    tt_cycles: [AtomicU64; 2],
}

impl Default for ThreadTimes {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadTimes {
    pub const fn new() -> Self {
        ThreadTimes { tt_cycles: [const { AtomicU64::new(0) }; 2] }
    }

    /// [user, sys] cycles as of the thread's last transition.
    pub fn cycles(&self) -> [u64; 2] {
        [self.tt_cycles[0].load(Ordering::Relaxed), self.tt_cycles[1].load(Ordering::Relaxed)]
    }
}

/// Microseconds of `cyc` cycles of `machdep::cpu_counter`: for readers,
/// never at a transition (no division on the hot path).
pub fn cycles_to_us(cyc: u64) -> u64 {
    (cyc as u128 * 1_000_000 / machdep::cpu_counter_freq().max(1) as u128) as u64
}

impl Default for CpuStats {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuStats {
    pub const fn new() -> Self {
        CpuStats {
            tlb_page: AtomicU64::new(0),
            tlb_asid: AtomicU64::new(0),
            tlb_all: AtomicU64::new(0),
            shoot_sent: AtomicU64::new(0),
            shoot_recv: AtomicU64::new(0),
            flt_zero: AtomicU64::new(0),
            flt_cow: AtomicU64::new(0),
            flt_text: AtomicU64::new(0),
            nswitch: AtomicU64::new(0),
            forks: AtomicU64::new(0),
            execs: AtomicU64::new(0),
            exits: AtomicU64::new(0),
            reaps: AtomicU64::new(0),
            cs_seq: AtomicU32::new(0),
            cs_state: AtomicU32::new(CP_NONE),
            cs_stamp: AtomicU64::new(0),
            cs_cycles: [const { AtomicU64::new(0) }; 4],
            cs_curtimes: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Start counting time, in SYS, from now.
    fn start(&self) {
        self.cs_stamp.store(machdep::cpu_counter(), Ordering::Relaxed);
        self.cs_state.store(CP_SYS, Ordering::Release);
    }

    /// Charge the time since the last transition to the current state and
    /// enter `new`; returns the state left. Before: interrupts masked, on
    /// the CPU that owns `self` (see the type's docs).
    #[inline]
    fn transition(&self, new: u32) -> u32 {
        let old = self.cs_state.load(Ordering::Relaxed);
        if old == CP_NONE {
            return old;
        }
        let now = machdep::cpu_counter();
        let seq = self.cs_seq.load(Ordering::Relaxed);
        self.cs_seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd count before the data stores for a reader that
        // sees any of them (paired with the reader's Acquire fence).
        fence(Ordering::Release);
        let c = &self.cs_cycles[old as usize];
        let d = now.wrapping_sub(self.cs_stamp.load(Ordering::Relaxed));
        c.store(c.load(Ordering::Relaxed).wrapping_add(d), Ordering::Relaxed);
        self.cs_stamp.store(now, Ordering::Relaxed);
        self.cs_state.store(new, Ordering::Relaxed);
        self.cs_seq.store(seq.wrapping_add(2), Ordering::Release);
        if old == CP_USER || old == CP_SYS {
            let t = self.cs_curtimes.load(Ordering::Relaxed);
            if !t.is_null() {
                // SAFETY: cs_curtimes is null or the current thread's,
                // which stays live while it is current (see the field).
                let a = unsafe { &(*t).tt_cycles[old as usize] };
                a.store(a.load(Ordering::Relaxed).wrapping_add(d), Ordering::Relaxed);
            }
        }
        old
    }

    /// Close the open interval (charging it to the current state and
    /// thread) without changing state. Before: as `transition`.
    fn sync(&self) {
        self.transition(self.cs_state.load(Ordering::Relaxed));
    }

    /// A switch: charge the interval to the thread switched from, then
    /// make `next` the thread charged from here (None: the idle thread).
    /// Before: as `transition`.
    fn switch(&self, next: Option<&ThreadTimes>) {
        self.transition(if next.is_some() { CP_SYS } else { CP_IDLE });
        let p = next.map_or(ptr::null_mut(), |t| t as *const ThreadTimes as *mut ThreadTimes);
        self.cs_curtimes.store(p, Ordering::Relaxed);
    }

    /// The four time buckets in cycles, the interval since the last
    /// transition included (charged to the current state, up to `now`, a
    /// reading of the cycle counter on the reader's CPU: the counters of
    /// all CPUs tick together on both arches, see `cpu_counter`).
    fn cycles(&self, now: u64) -> [u64; 4] {
        loop {
            let s1 = self.cs_seq.load(Ordering::Acquire);
            if s1 & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let state = self.cs_state.load(Ordering::Relaxed);
            let stamp = self.cs_stamp.load(Ordering::Relaxed);
            let mut c = [0u64; 4];
            for (d, s) in c.iter_mut().zip(self.cs_cycles.iter()) {
                *d = s.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.cs_seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            if let Some(b) = c.get_mut(state as usize) {
                *b = b.wrapping_add(now.saturating_sub(stamp));
            }
            return c;
        }
    }

    /// The ABI record of this CPU, times converted with the counter's
    /// frequency `hz` (the division happens here, never at a transition).
    pub fn snapshot(&self, now: u64, hz: u64) -> KernCpuStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let ns = |cyc: u64| (cyc as u128 * 1_000_000_000 / hz.max(1) as u128) as u64;
        let [user, sys, intr, idle] = self.cycles(now);
        KernCpuStats {
            tlb_page: r(&self.tlb_page),
            tlb_asid: r(&self.tlb_asid),
            tlb_all: r(&self.tlb_all),
            shoot_sent: r(&self.shoot_sent),
            shoot_recv: r(&self.shoot_recv),
            flt_zero: r(&self.flt_zero),
            flt_cow: r(&self.flt_cow),
            flt_text: r(&self.flt_text),
            nswitch: r(&self.nswitch),
            forks: r(&self.forks),
            execs: r(&self.execs),
            exits: r(&self.exits),
            reaps: r(&self.reaps),
            user_ns: ns(user),
            sys_ns: ns(sys),
            intr_ns: ns(intr),
            idle_ns: ns(idle),
        }
    }
}

/// Count one event on this CPU (`f` picks the counter).
#[inline]
pub fn count(f: impl FnOnce(&CpuStats) -> &AtomicU64) {
    count_n(f, 1)
}

/// Count `n` events on this CPU.
#[inline]
pub fn count_n(f: impl FnOnce(&CpuStats) -> &AtomicU64, n: u64) {
    f(&machdep::curcpu().ci_stats).fetch_add(n, Ordering::Relaxed);
}

/// Start this CPU's time accounting, in the kernel (SYS). Called by the
/// CPU itself, once, when it joins the scheduler; the buckets sum to the
/// time since. Before: interrupts masked.
pub fn acct_start() {
    machdep::curcpu().ci_stats.start();
}

/// Entry into the kernel from user mode (system call or exception).
/// Before (for all `acct_*`): interrupts masked, on this CPU.
#[inline]
pub fn acct_user_leave() {
    machdep::curcpu().ci_stats.transition(CP_SYS);
}

/// The last step before the return to user mode.
#[inline]
pub fn acct_user_enter() {
    machdep::curcpu().ci_stats.transition(CP_USER);
}

/// Interrupt entry: returns the state to resume at [`acct_intr_leave`].
/// An interrupt from user mode resumes in SYS: it returns through the
/// kernel's userret, and [`acct_user_enter`] charges user time again from
/// the return itself. Nested interrupts each save and restore their own.
#[inline]
pub fn acct_intr_enter() -> u32 {
    match machdep::curcpu().ci_stats.transition(CP_INTR) {
        CP_USER => CP_SYS,
        s => s,
    }
}

/// Interrupt exit: back to the state [`acct_intr_enter`] returned.
#[inline]
pub fn acct_intr_leave(saved: u32) {
    machdep::curcpu().ci_stats.transition(saved);
}

/// A switch to another thread: its time is idle if it is this CPU's idle
/// thread (`next` None), system time of `next` otherwise (every thread
/// resumes in the kernel); the time until now was the previous thread's.
/// The switched-to thread's own interrupt and trap bookkeeping carries on
/// from there, so a switch inside an interrupt's return path charges what
/// follows to the new thread, never twice.
#[inline]
pub fn acct_switch(next: Option<&ThreadTimes>) {
    machdep::curcpu().ci_stats.switch(next);
}

/// Charge the running thread's open interval now, for a reader that needs
/// its times complete (exit1 making them final). Costs a counter read, so
/// not for the transitions themselves. Any interrupt state.
pub fn acct_sync() {
    let s = machdep::intr_disable();
    machdep::curcpu().ci_stats.sync();
    machdep::intr_restore(s);
}

/// KERN_CPUSTATS: one record per attached CPU, by cpu number.
pub fn cpustats() -> alloc::vec::Vec<KernCpuStats> {
    let now = machdep::cpu_counter();
    let hz = machdep::cpu_counter_freq();
    cpus().map(|ci| ci.ci_stats.snapshot(now, hz)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_buckets_sum_to_elapsed() {
        let st = CpuStats::new();
        // Before start, transitions are no-ops.
        assert_eq!(st.transition(CP_USER), CP_NONE);
        assert_eq!(st.cycles(machdep::cpu_counter()), [0; 4]);
        st.start();
        let t0 = st.cs_stamp.load(Ordering::Relaxed);
        for (to, from) in [(CP_USER, CP_SYS), (CP_INTR, CP_USER), (CP_USER, CP_INTR), (CP_IDLE, CP_USER)] {
            std::thread::sleep(std::time::Duration::from_millis(1));
            assert_eq!(st.transition(to), from);
        }
        assert_eq!(st.cs_seq.load(Ordering::Relaxed) % 2, 0);
        let t1 = st.cs_stamp.load(Ordering::Relaxed);
        let c = st.cycles(t1);
        assert_eq!(c.iter().sum::<u64>(), t1 - t0);
        // Idle is the open state: nothing closed there yet.
        assert!(c[..3].iter().all(|&b| b > 0) && c[3] == 0, "{c:?}");
        // The open interval goes to the current state; a reading older
        // than the last stamp adds nothing.
        assert_eq!(st.cycles(t1 + 1000)[CP_IDLE as usize], c[CP_IDLE as usize] + 1000);
        assert_eq!(st.cycles(t1 - 1), c);
        let k = st.snapshot(t1, 1_000_000_000);
        assert_eq!(k.user_ns + k.sys_ns + k.intr_ns + k.idle_ns, t1 - t0);
        // At 2 GHz a cycle is half a nanosecond.
        assert_eq!(st.snapshot(t1, 2_000_000_000).idle_ns, c[CP_IDLE as usize] / 2);
    }

    #[test]
    fn thread_times_follow_the_buckets() {
        let st = CpuStats::new();
        let (a, b) = (ThreadTimes::new(), ThreadTimes::new());
        st.start();
        let nap = || std::thread::sleep(std::time::Duration::from_millis(1));
        // Boot context (no thread), then `a`: user, an interrupt, user
        // again, the return to the kernel, a switch to `b`, idle.
        nap();
        st.switch(Some(&a));
        let c0 = st.cycles(st.cs_stamp.load(Ordering::Relaxed));
        for to in [CP_USER, CP_INTR, CP_USER, CP_SYS] {
            nap();
            st.transition(to);
        }
        nap();
        st.sync();
        let c1 = st.cycles(st.cs_stamp.load(Ordering::Relaxed));
        nap();
        st.switch(Some(&b));
        let [au, asys] = a.cycles();
        assert_eq!(au, c1[CP_USER as usize] - c0[CP_USER as usize]);
        assert!(asys > c1[CP_SYS as usize] - c0[CP_SYS as usize], "the switch charged `a`");
        // The interrupt went to no thread; `b` has had nothing yet.
        assert!(c1[CP_INTR as usize] > 0);
        assert_eq!(b.cycles(), [0, 0]);
        nap();
        st.transition(CP_USER);
        nap();
        st.switch(None);
        let [bu, bs] = b.cycles();
        assert!(bu > 0 && bs > 0);
        nap();
        st.sync();
        // Idle time is charged to no thread.
        assert_eq!(b.cycles(), [bu, bs]);
        assert_eq!(st.cs_curtimes.load(Ordering::Relaxed), ptr::null_mut());
        let c2 = st.cycles(st.cs_stamp.load(Ordering::Relaxed));
        let boot = c0[CP_SYS as usize];
        assert_eq!(au + bu, c2[CP_USER as usize]);
        assert_eq!(asys + bs + boot, c2[CP_SYS as usize]);
        // Conversion happens when read: 1 GHz here, so cycles are ns.
        assert_eq!(cycles_to_us(2_500_000), 2_500);
    }
}
