//! `main()`: the MI half of boot, and the idle loop every CPU ends in.
//!
//! Boot flow: arch entry -> arch early init (console, page tables, traps,
//! boot cpu_info) -> [`main`] -> memory (page allocator, heap, self-test)
//! -> `Machdep::cpu_configure` (interrupt controllers, timers, secondaries,
//! which enter [`cpu_hatch_mi`]) -> wait until every CPU runs and ticks ->
//! all-pairs IPI test -> boot words (`halt`, `panic`, `fault`) -> idle.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::boot_args::{BootArgs, PanicAt};
use crate::bootinfo::BootInfo;
use crate::cpu::{self, CPUF_RUNNING};
use crate::kern_clock::TICKS;
use crate::kern_ipi::{self, IPI_PANIC};
use crate::param::{HZ, OSRELEASE, OSTYPE};
use crate::{machdep, printf, uvm_init};

/// Set once every CPU runs: from then on each idle loop pings the others.
static IPI_TEST_BEGUN: AtomicBool = AtomicBool::new(false);

/// How long the boot CPU waits for the others to start and tick, and for
/// the IPI test. Generous: 8 emulated CPUs on 2 host cores are slow.
const BOOT_WAIT_NS: u64 = 30_000_000_000;

/// Ticks every CPU must have taken before boot counts it as ticking.
const MIN_TICKS: u64 = 3;

/// The kernel's version line (kern.version, `uname -v`), set at boot.
pub static VERSION: spin::Once<alloc::string::String> = spin::Once::new();
/// The kernel command line as the boot loader gave it (kern.cmdline).
pub static BOOT_CMDLINE: spin::Once<alloc::string::String> = spin::Once::new();

/// The MI entry point. Before: see [`BootInfo`]. Never returns.
pub fn main(bi: &BootInfo<'_>) -> ! {
    let args = BootArgs::parse(bi.cmdline);
    crate::subr_prf::log_init(args.loglevel);
    printf!("{OSTYPE} {OSRELEASE} (GENERIC.MP) #0: {} on {}\n", bi.machine, bi.platform);
    printf!("real mem = {} ({}MB)\n", bi.physmem, bi.physmem >> 20);
    let st = uvm_init::uvm_init(bi.usable);
    let avail = st.managed_pages as u64 * uvm::PAGE_SIZE;
    printf!("avail mem = {} ({}MB)\n", avail, avail >> 20);
    // The heap works from here on.
    VERSION.call_once(|| alloc::format!("{OSTYPE} {OSRELEASE} (GENERIC.MP) #0: {}", bi.machine));
    BOOT_CMDLINE.call_once(|| alloc::string::String::from(bi.cmdline));
    if let Some(rd) = bi.initrd {
        let clash = bi.usable.iter().find(|r| r.start < rd.end && rd.start < r.end);
        assert!(clash.is_none(), "boot: initrd {rd:x?} overlaps usable memory {clash:x?}");
        printf!("rd0: initrd at {:#x}, {} bytes\n", rd.start, rd.len());
    }
    for w in args.unknown.iter() {
        log::warn!("boot: unknown word \"{w}\" ignored");
    }
    if args.unknown.dropped > 0 {
        log::warn!("boot: {} more unknown words ignored", args.unknown.dropped);
    }
    selftest_memory();

    crate::kern_sched::sched_init();
    machdep::cpu_configure();

    let me = machdep::curcpu();
    me.set_flag(CPUF_RUNNING);
    machdep::intr_enable();
    let t0 = machdep::nanouptime();
    let ticks0 = TICKS.load(Ordering::Relaxed);
    wait_until("start and tick", || {
        cpu::cpus().all(|c| c.has_flag(CPUF_RUNNING) && c.ci_ticks.load(Ordering::Relaxed) >= MIN_TICKS)
    });
    let hz = measured_hz(t0, ticks0);

    IPI_TEST_BEGUN.store(true, Ordering::Release);
    kern_ipi::ipi_test_send();
    wait_until("answer IPIs", || {
        cpu::cpus().all(|c| c.ci_ipi_seen.load(Ordering::Acquire) == kern_ipi::others_mask(c))
    });
    let n = cpu::ncpus();
    let running = cpu::cpus().filter(|c| c.has_flag(CPUF_RUNNING)).count();
    let ticking = cpu::cpus().filter(|c| c.ci_ticks.load(Ordering::Relaxed) >= MIN_TICKS).count();
    let answered: u32 = cpu::cpus().map(|c| c.ci_ipi_seen.load(Ordering::Relaxed).count_ones()).sum();
    printf!("clock: hz {HZ}, cpu0 measured {hz} Hz\n");
    printf!(
        "boot: {n} cpus attached, {running} running, {ticking} ticking, ipi {answered}/{} ok\n",
        n * (n - 1)
    );

    crate::mutex::MUTEX_COUNTING.store(true, Ordering::Release);
    if args.sleep_locked {
        printf!("boot: sleeping with a spin mutex held (boot word sleeplocked)\n");
        let m = crate::mutex::Mutex::new(());
        let _g = m.lock();
        let _ =
            crate::kern_synch::tsleep(&m as *const _ as usize, crate::kern_sched::PWAIT, "locked", 1, false);
        panic!("sleeplocked: assertwaitok let a thread sleep holding a spin mutex");
    }
    if args.fault {
        printf!("boot: faulting on purpose (boot word fault)\n");
        machdep::trap_selftest();
        panic!("trap_selftest returned without faulting");
    }
    match args.panic {
        Some(PanicAt::BootCpu) => panic!("boot: panic requested (boot word panic)"),
        Some(PanicAt::Cpu(id)) => match cpu::cpu_info(id) {
            Some(ci) if ci.ci_cpuid == me.ci_cpuid => {
                panic!("boot: panic requested (boot word panic={id})")
            }
            Some(ci) => kern_ipi::ipi_send(ci, IPI_PANIC),
            None => log::warn!("boot: panic={id}: no such cpu, ignored"),
        },
        None => {}
    }
    if args.halt && args.panic.is_none() {
        printf!("boot: halt requested, all cpus up; powering off\n");
        machdep::powerdown(sys::reboot::EXIT_SUCCESS);
    }
    if args.panic.is_none() {
        let img = bi.initrd.map(|rd| {
            // SAFETY: the initrd is withheld from the page allocator (checked
            // above) and direct-mapped; nothing writes to it.
            unsafe {
                core::slice::from_raw_parts(machdep::phys_to_kva(rd.start) as *const u8, rd.len() as usize)
            }
        });
        crate::vfs::vfs_init(img);
        crate::kern_exit::exit_init(args.exit, args.dead_sleep);
        start_init(args.init);
    }
    crate::kern_sched::idle_loop()
}

/// The path init runs from; set once by `start_init`.
static INIT_PATH: spin::Once<alloc::string::String> = spin::Once::new();

/// Create process 1, whose thread starts in the kernel, execs `path`
/// (`start_init_exec`) and enters user mode through the frame exec set up,
/// with the console as fds 0, 1 and 2.
fn start_init(path: &str) {
    use crate::kern_proc::{self, PROCTREE};
    use crate::proc::{Proc, Process};
    use alloc::sync::Arc;
    INIT_PATH.call_once(|| alloc::string::String::from(path));
    kern_proc::reserve_process().expect("init: process limit");
    let top = crate::uvm_glue::uvm_uarea_alloc().expect("init: no kernel stack");
    let mut tree = PROCTREE.lock();
    let pid = tree.alloc_pid();
    assert_eq!(pid, kern_proc::INIT_PID, "init must be pid 1");
    let pr = Arc::new(Process::new(pid, 0, b"init"));
    tree.insert(pr.clone(), 0, pid);
    drop(tree);
    {
        let mut fdt = pr.ps_fd.lock();
        for _ in 0..3 {
            fdt.alloc(crate::kern_descrip::console_file(sys::fcntl::O_RDWR), false, 0).expect("init: fds");
        }
    }
    let p = alloc::boxed::Box::into_raw(Proc::new(pid, pr.clone(), top, crate::kern_sched::PUSER));
    // SAFETY: just allocated, not yet visible to anyone else.
    let pp = unsafe { &*p };
    // SAFETY: the Pcb is ours until the thread is queued.
    machdep::cpu_thread_init(unsafe { &mut *pp.pcb() }, top, start_init_exec, 0);
    pr.ps_mtx.lock().ps_threads.push(p);
    pr.ps_threadcnt.store(1, Ordering::Release);
    pr.ps_unreaped.store(1, Ordering::Release);
    let g = crate::kern_sched::SCHED_LOCK.lock();
    crate::kern_sched::setrunqueue(p, &g);
}

/// Process 1's thread, in the kernel: exec init, then return into user
/// mode through the frame exec filled in.
fn start_init_exec(_: usize) {
    let tf = crate::kern_sched::curproc().trapframe();
    let path = INIT_PATH.get().expect("init path").as_bytes();
    let argv = [path.to_vec()];
    if let Err(e) = crate::kern_exec::exec_path(tf, path, &argv, &[]) {
        panic!("init: cannot exec {}: errno {e}", core::str::from_utf8(path).unwrap_or("?"));
    }
    printf!("init: {} started as pid 1\n", core::str::from_utf8(path).unwrap_or("?"));
}

/// Work the idle loop does on each pass before waiting (boot IPI test).
pub fn idle_hook() {
    if IPI_TEST_BEGUN.load(Ordering::Acquire) {
        kern_ipi::ipi_test_send();
    }
}

/// The MI entry of a secondary CPU. Before: its cpu_info is attached and
/// reachable through `curcpu()`, its traps and timer are set up. Never
/// returns.
pub fn cpu_hatch_mi() -> ! {
    let ci = machdep::curcpu();
    ci.set_flag(CPUF_RUNNING);
    log::debug!("cpu{}: running", ci.ci_cpuid);
    crate::kern_sched::sched_init_cpu();
    machdep::intr_enable();
    crate::kern_sched::idle_loop()
}

/// Idle until `done()` holds; panic with a clear message after BOOT_WAIT_NS.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = machdep::nanouptime() + BOOT_WAIT_NS;
    while !done() {
        if machdep::nanouptime() > deadline {
            for c in cpu::cpus() {
                printf!(
                    "cpu{}: flags {:#x} ticks {} ipi seen {:#x} of {:#x}\n",
                    c.ci_cpuid,
                    c.ci_flags.load(Ordering::Relaxed),
                    c.ci_ticks.load(Ordering::Relaxed),
                    c.ci_ipi_seen.load(Ordering::Relaxed),
                    kern_ipi::others_mask(c)
                );
            }
            panic!("boot: cpus did not {what} within {} s", BOOT_WAIT_NS / 1_000_000_000);
        }
        machdep::cpu_idle_wait();
    }
}

/// Clock rate on this CPU since `t0`, from the primary's tick count.
fn measured_hz(t0: u64, ticks0: u64) -> u64 {
    // Make the sample long enough to mean something.
    let want = t0 + 200_000_000;
    while machdep::nanouptime() < want {
        machdep::cpu_idle_wait();
    }
    let dt = machdep::nanouptime() - t0;
    (TICKS.load(Ordering::Relaxed) - ticks0) * 1_000_000_000 / dt.max(1)
}

/// Allocate and free pages and heap; the free counts must return to their
/// baselines, and the pages must hold what was written to them.
fn selftest_memory() {
    use uvm::PAGE_SIZE;
    let free0 = uvm_init::uvmexp_free();
    let mut pages = [0u64; 64];
    for (i, p) in pages.iter_mut().enumerate() {
        *p = uvm_init::uvm_pagealloc().expect("selftest: out of pages");
        // SAFETY: the page was just allocated to us and is direct-mapped.
        unsafe { *(machdep::phys_to_kva(*p) as *mut u64) = i as u64 ^ *p };
    }
    let contig = uvm_init::uvm_pagealloc_contig(16, 16 * PAGE_SIZE).expect("selftest: no contiguous pages");
    assert_eq!(contig % (16 * PAGE_SIZE), 0, "selftest: misaligned contiguous run");
    assert_eq!(uvm_init::uvmexp_free(), free0 - 80, "selftest: free count off after alloc");
    for (i, p) in pages.iter().enumerate() {
        // SAFETY: still ours, direct-mapped.
        let v = unsafe { *(machdep::phys_to_kva(*p) as *const u64) };
        assert_eq!(v, i as u64 ^ *p, "selftest: page {p:#x} lost its contents");
        uvm_init::uvm_pagefree(*p);
    }
    uvm_init::uvm_pagefree_contig(contig, 16);
    let free1 = uvm_init::uvmexp_free();
    assert_eq!(free1, free0, "selftest: free pages {free1} != baseline {free0}");
    selftest_heap();
    printf!("selftest: 80 pages and heap allocated and freed, back to baseline ({free1} free pages)\n");
}

#[cfg(target_os = "none")]
fn selftest_heap() {
    use alloc::{boxed::Box, string::String, vec::Vec};
    // Warm the heap so its growth (which keeps pages) is outside the count.
    drop(Vec::<u8>::with_capacity(1 << 20));
    let base = crate::kern_malloc::kmem_stats().allocated;
    {
        let boxes: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
        let mut s = String::new();
        for b in &boxes {
            s.push(char::from(b'a' + (**b % 26) as u8));
        }
        assert_eq!(s.len(), 1000);
        assert!(crate::kern_malloc::kmem_stats().allocated > base);
    }
    let after = crate::kern_malloc::kmem_stats().allocated;
    assert_eq!(after, base, "selftest: heap holds {after} bytes, baseline {base}");
}

#[cfg(not(target_os = "none"))]
fn selftest_heap() {}
