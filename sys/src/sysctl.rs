//! sysctl(2) names oxbsd answers, and its process listing record.
//!
//! The MIB numbers are OpenBSD's. `KERN_PROC` returns an array of
//! [`KinfoProc`], which is oxbsd's own compact record (OpenBSD's
//! `struct kinfo_proc` carries far more than `ps` here needs).

pub const CTL_KERN: i32 = 1;
pub const CTL_HW: i32 = 6;

pub const KERN_OSTYPE: i32 = 1;
pub const KERN_OSRELEASE: i32 = 2;
pub const KERN_HOSTNAME: i32 = 10;
/// The kernel's version line (what `uname -v` shows).
pub const KERN_VERSION: i32 = 4;
/// The kernel message buffer's contents, oldest first (dmesg).
pub const KERN_MSGBUF: i32 = 48;
pub const KERN_PROC: i32 = 66;
/// `{CTL_KERN, KERN_PROC, KERN_PROC_ALL, 0, sizeof(KinfoProc), count}`.
pub const KERN_PROC_ALL: i32 = 0;
/// oxbsd: the exit strategy in use, a string ("direct" or "reaper").
pub const KERN_EXIT: i32 = 1000;
/// oxbsd: free pages and process/thread counts (`KernVmStats`), for tests.
pub const KERN_VMSTATS: i32 = 1001;
/// oxbsd: the kernel command line (QEMU's -append), a string; init reads
/// its own settings (`script=`) from it.
pub const KERN_CMDLINE: i32 = 1002;
/// oxbsd: one [`KernCpuStats`] per attached CPU, in cpu-number order (the
/// array's length is the CPU count), for the benchmark and `vmstat`.
pub const KERN_CPUSTATS: i32 = 1003;

pub const HW_MACHINE: i32 = 1;
pub const HW_NCPU: i32 = 3;
pub const HW_PHYSMEM64: i32 = 19;

/// Process states as `ps` shows them (p_stat of the process's first thread,
/// or SZOMB for a zombie).
pub const SIDL: u8 = 1;
pub const SRUN: u8 = 2;
pub const SSLEEP: u8 = 3;
pub const SSTOP: u8 = 4;
pub const SZOMB: u8 = 5;
pub const SDEAD: u8 = 6;
pub const SONPROC: u8 = 7;

pub const KI_MAXCOMLEN: usize = 24;

/// `KinfoProc::p_flag` bit of a kernel process (OpenBSD's PS_SYSTEM).
pub const PS_SYSTEM: u32 = 0x0001_0000;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KinfoProc {
    pub p_pid: i32,
    pub p_ppid: i32,
    pub p_pgid: i32,
    pub p_stat: u8,
    pub p_pad: [u8; 3],
    pub p_flag: u32,
    pub p_nthreads: u32,
    /// User and system time in microseconds.
    pub p_uutime_us: u64,
    pub p_ustime_us: u64,
    pub p_comm: [u8; KI_MAXCOMLEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernVmStats {
    /// Pages in the page allocator's free list.
    pub free_pages: u64,
    pub total_pages: u64,
    /// Pages the kernel heap has taken from the page allocator (it keeps
    /// them once grown): `free_pages + heap_pages` is the count to compare
    /// against a baseline.
    pub heap_pages: u64,
    /// Bytes allocated in the kernel heap right now.
    pub heap_allocated: u64,
    /// Pages of kernel stacks kept mapped for reuse by the next fork (like
    /// `heap_pages`, part of the count to compare against a baseline).
    pub kstack_cached_pages: u64,
    pub nprocs: u32,
    pub nthreads: u32,
    pub maxprocs: u32,
    pub maxthreads: u32,
    /// Kqueues and knotes in existence (kqueue(2)): a leak shows here even
    /// when the heap's pages do not move.
    pub nkqueues: u32,
    pub nknotes: u32,
}

/// One CPU's event counters and time, since boot. Each CPU counts its own
/// events (no counter is written by two CPUs), so a reader sums the array
/// for the system's figure. Times are nanoseconds from the CPU's cycle
/// counter (TSC on amd64, CNTVCT_EL0 on arm64), taken at every kernel
/// entry, exit and switch: `user_ns + sys_ns + intr_ns + idle_ns` is the
/// CPU's time since it started.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernCpuStats {
    /// TLB invalidations of one page (by VA, with its ASID or PCID).
    pub tlb_page: u64,
    /// Invalidations of a whole address space (by ASID or PCID).
    pub tlb_asid: u64,
    /// Whole-TLB flushes (every address space).
    pub tlb_all: u64,
    /// TLB shootdown IPIs this CPU sent (one per target CPU).
    pub shoot_sent: u64,
    /// TLB shootdown IPIs this CPU received and handled.
    pub shoot_recv: u64,
    /// User page faults that filled a fresh zero page.
    pub flt_zero: u64,
    /// User page faults that copied a shared anon (copy-on-write).
    pub flt_cow: u64,
    /// User page faults that copied a page of an executable's image.
    pub flt_text: u64,
    /// Context switches (cpu_switchto calls that changed thread).
    pub nswitch: u64,
    pub forks: u64,
    pub execs: u64,
    /// Processes whose last thread ran exit1.
    pub exits: u64,
    /// Threads whose kernel stack and `struct proc` were freed once off
    /// their CPU (by the reaper under exit=reaper).
    pub reaps: u64,
    pub user_ns: u64,
    /// In the kernel on behalf of a thread (system calls, faults).
    pub sys_ns: u64,
    /// In interrupt handlers.
    pub intr_ns: u64,
    /// In the idle loop, waiting for work.
    pub idle_ns: u64,
}
