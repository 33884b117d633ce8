//! The machine-independent part of OpenBSD's `struct cpu_info`.
//!
//! Each arch embeds one [`CpuInfo`] in its own per-CPU structure (whose
//! first word is `ci_self`, so the CPU finds it in O(1) through GS base or
//! TPIDR_EL1) and registers it with [`cpu_attach`]. The registry is a fixed
//! table of [`MAXCPUS`] slots written once per CPU at attach time and read
//! locklessly afterwards (Release on publish, Acquire on lookup).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

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
