//! The micro tests of the process lifecycle and the VM, each timed with
//! CLOCK_MONOTONIC around exactly the work it names.

use bench::fmt::Line;
use bench::kern::{self, KernCpuStats};
use bench::stats;

use crate::config::Config;
use crate::report::{self, Snap, snap};

pub type Res = Result<(), Fail>;

/// What went wrong in a test: the step and the error number (or status).
pub struct Fail {
    pub what: &'static str,
    pub code: i32,
}

impl core::fmt::Display for Fail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: error {}", self.what, self.code)
    }
}

pub struct Test {
    pub name: &'static str,
    pub run: fn(&Config) -> Res,
}

pub const TESTS: &[Test] = &[
    Test { name: "fork_exit", run: fork_exit },
    Test { name: "fork_exec", run: fork_exec },
    Test { name: "exit_latency", run: exit_latency },
    Test { name: "teardown", run: teardown },
    Test { name: "fault_zero", run: fault_zero },
    Test { name: "fault_cow", run: fault_cow },
    Test { name: "fork_touch", run: fork_touch },
    Test { name: "fork_16m", run: fork_16m },
    Test { name: "pipe_pingpong", run: pipe_pingpong },
    Test { name: "null_syscall", run: null_syscall },
    Test { name: "zero_page", run: zero_page },
    Test { name: "fork_exit_par", run: fork_exit_par },
    Test { name: "teardown_par", run: teardown_par },
];

const PAGE: usize = 4096;
/// The most samples a test keeps.
const MAXN: usize = 512;

pub fn fail(what: &'static str, code: i32) -> Fail {
    Fail { what, code }
}

/// Wait for `pid` and require a clean exit 0.
fn reap(pid: i32) -> Res {
    match kern::wait4(pid, None) {
        Ok((_, 0)) => Ok(()),
        Ok((_, st)) => Err(fail("child's wait status", st)),
        Err(e) => Err(fail("wait4", e)),
    }
}

/// `n` whole cycles of fork, `child` in the child (which exits), wait in
/// the parent, each timed from before fork to wait's return.
fn cycles(test: &str, extra: core::fmt::Arguments, n: usize, child: fn() -> !) -> Res {
    let mut v = [0u64; MAXN];
    let b = snap();
    for s in v.iter_mut().take(n) {
        let t = kern::clock_ns();
        match kern::fork().map_err(|e| fail("fork", e))? {
            0 => child(),
            pid => reap(pid)?,
        }
        *s = kern::clock_ns() - t;
    }
    report::line(test, extra, &mut v[..n], b, snap());
    Ok(())
}

/// fork, exit(0) in the child at once, wait: the whole cycle.
fn fork_exit(cfg: &Config) -> Res {
    cycles("fork_exit", format_args!(""), cfg.size(200, 20), || kern::exit(0))
}

/// fork, exec /bench/true in the child, wait.
fn fork_exec(cfg: &Config) -> Res {
    cycles("fork_exec", format_args!(""), cfg.size(100, 10), || {
        let e = kern::execve(b"/bench/true\0", &[b"true\0"]);
        bench::outln!("exec /bench/true: error {e}");
        kern::exit(127)
    })
}

/// fork, the child maps and touches 1024 fresh pages and exits, wait:
/// the whole cycle of a process that did some work.
fn fork_touch(cfg: &Config) -> Res {
    const PAGES: usize = 1024;
    cycles("fork_touch", format_args!(" pages={PAGES}"), cfg.size(50, 5), || match touched(PAGES) {
        Ok(_) => kern::exit(0),
        Err(_) => kern::exit(1),
    })
}

/// fork, exit at once, wait, when the parent has touched 16 MiB: what
/// copying (and dropping) the parent's map costs.
fn fork_16m(cfg: &Config) -> Res {
    const PAGES: usize = 4096;
    let m = touched(PAGES)?;
    let r = cycles("fork_16m", format_args!(" pages={PAGES}"), cfg.size(20, 3), || kern::exit(0));
    // SAFETY: nothing refers to the mapping any more.
    unsafe { kern::munmap(m, PAGES * PAGE) }.map_err(|e| fail("munmap", e))?;
    r
}

/// What a child sends just before `_exit`: its clock and counters.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Last {
    t: u64,
    have: u64,
    c: KernCpuStats,
}

/// `n` children each touch `pages` fresh pages, then read the clock and
/// `_exit`; the parent is in wait4 and reads the clock when it returns.
/// Samples are that interval (the exit, the teardown and the wakeup);
/// the counters are summed over the same intervals only.
fn exit_wakeups(pages: usize, n: usize, v: &mut [u64]) -> Result<Option<KernCpuStats>, Fail> {
    let mut sum: Option<KernCpuStats> = None;
    for s in v.iter_mut().take(n) {
        let [r, w] = kern::pipe().map_err(|e| fail("pipe", e))?;
        match kern::fork().map_err(|e| fail("fork", e))? {
            0 => {
                let _ = kern::close(r);
                if pages > 0 && touched(pages).is_err() {
                    kern::exit(1);
                }
                let c = snap().stats();
                let last = Last { t: kern::clock_ns(), have: c.is_some() as u64, c: c.unwrap_or_default() };
                // SAFETY: Last is plain data; its bytes go into the pipe whole.
                let bytes = unsafe {
                    core::slice::from_raw_parts(
                        &last as *const Last as *const u8,
                        core::mem::size_of::<Last>(),
                    )
                };
                let _ = kern::write_all(w, bytes);
                kern::exit(0)
            }
            pid => {
                let _ = kern::close(w);
                let st = kern::wait4(pid, None).map_err(|e| fail("wait4", e))?.1;
                let t = kern::clock_ns();
                let after = snap().stats();
                let mut last = Last::default();
                // SAFETY: as above; any bytes make a valid Last.
                let buf = unsafe {
                    core::slice::from_raw_parts_mut(
                        &mut last as *mut Last as *mut u8,
                        core::mem::size_of::<Last>(),
                    )
                };
                let got = kern::read_full(r, buf).map_err(|e| fail("read pipe", e))?;
                let _ = kern::close(r);
                if st != 0 || got != buf.len() {
                    return Err(fail("child failed, status", st));
                }
                *s = t.saturating_sub(last.t);
                if let (Some(a), 1) = (after, last.have) {
                    let d = stats::delta(&last.c, &a);
                    sum = Some(sum.map_or(d, |acc| stats::sum(&[acc, d])));
                }
            }
        }
    }
    Ok(sum)
}

fn with_counters(l: &mut Line<1024>, c: Option<KernCpuStats>) {
    if let Some(c) = c {
        report::add_counters(l, &c);
    }
}

fn exit_wake_line(test: &str, pages: usize, n: usize) -> Res {
    let mut v = [0u64; MAXN];
    let c = exit_wakeups(pages, n, &mut v)?;
    report::raw(test, format_args!(" pages={pages}"), &v[..n]);
    let s = stats::summarize(&mut v[..n]);
    let mut l = Line::<1024>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut l,
        format_args!(
            "@bench test={test} pages={pages} unit=ns n={} med={} p99={} min={} max={}",
            s.n, s.med, s.p99, s.min, s.max
        ),
    );
    with_counters(&mut l, c);
    report::emit(l);
    Ok(())
}

/// From the child's last instruction before `_exit` to the parent's
/// return from wait4, with nothing mapped beyond the image and stack.
fn exit_latency(cfg: &Config) -> Res {
    exit_wake_line("exit_latency", 0, cfg.size(200, 20))
}

/// The same with 16 to 65536 pages touched: what teardown costs per page.
fn teardown(cfg: &Config) -> Res {
    let sizes: &[usize] = if cfg.quick { &[16, 256, 4096] } else { &[16, 256, 4096, 65536] };
    for &p in sizes {
        exit_wake_line("teardown", p, cfg.size(if p >= 65536 { 3 } else { 10 }, 2))?;
    }
    Ok(())
}

/// A fresh mapping of `pages` pages with one byte written in each.
fn touched(pages: usize) -> Result<*mut u8, Fail> {
    let m = kern::mmap_anon(pages * PAGE).map_err(|e| fail("mmap", e))?;
    touch(m, pages, 1);
    Ok(m)
}

/// Write `v` into one byte of each of the `pages` pages at `m`.
fn touch(m: *mut u8, pages: usize, v: u8) {
    for i in 0..pages {
        // SAFETY: the callers pass a mapping of at least `pages` pages
        // that this process may write.
        unsafe { m.add(i * PAGE).write_volatile(v) };
    }
}

/// Map `pages` pages and write one byte in each, timed; per page.
fn fault_zero(cfg: &Config) -> Res {
    let (pages, n) = (cfg.size(4096, 256), cfg.size(5, 2));
    let mut v = [0u64; MAXN];
    let b = snap();
    for s in v.iter_mut().take(n) {
        let m = kern::mmap_anon(pages * PAGE).map_err(|e| fail("mmap", e))?;
        let t = kern::clock_ns();
        touch(m, pages, 1);
        *s = (kern::clock_ns() - t) / pages as u64;
        // SAFETY: nothing refers to the mapping any more.
        unsafe { kern::munmap(m, pages * PAGE) }.map_err(|e| fail("munmap", e))?;
    }
    report::line("fault_zero", format_args!(" pages={pages} per=page"), &mut v[..n], b, snap());
    Ok(())
}

/// The parent touches `pages` pages and forks; the child writes each page
/// once (a copy-on-write fault), timed in the child; per page.
fn fault_cow(cfg: &Config) -> Res {
    let (pages, n) = (cfg.size(4096, 256), cfg.size(5, 2));
    let m = touched(pages)?;
    let mut v = [0u64; MAXN];
    let b = snap();
    for s in v.iter_mut().take(n) {
        let [r, w] = kern::pipe().map_err(|e| fail("pipe", e))?;
        match kern::fork().map_err(|e| fail("fork", e))? {
            0 => {
                let t = kern::clock_ns();
                touch(m, pages, 2);
                let dt = (kern::clock_ns() - t) / pages as u64;
                let _ = kern::write_all(w, &dt.to_le_bytes());
                kern::exit(0)
            }
            pid => {
                let _ = kern::close(w);
                let mut buf = [0u8; 8];
                let got = kern::read_full(r, &mut buf).map_err(|e| fail("read pipe", e))?;
                let _ = kern::close(r);
                reap(pid)?;
                if got != 8 {
                    return Err(fail("child sent no time", got as i32));
                }
                *s = u64::from_le_bytes(buf);
            }
        }
    }
    let after = snap();
    // SAFETY: nothing refers to the mapping any more.
    unsafe { kern::munmap(m, pages * PAGE) }.map_err(|e| fail("munmap", e))?;
    report::line("fault_cow", format_args!(" pages={pages} per=page"), &mut v[..n], b, after);
    Ok(())
}

/// getpid(2) in a loop, per call: the round trip into the kernel and
/// back, the floor under every other figure (Linux has no vDSO getpid).
fn null_syscall(cfg: &Config) -> Res {
    const BATCH: u64 = 1000;
    let n = cfg.size(20, 4);
    let mut v = [0u64; MAXN];
    let b = snap();
    for s in v.iter_mut().take(n) {
        let t = kern::clock_ns();
        for _ in 0..BATCH {
            core::hint::black_box(kern::getpid());
        }
        *s = (kern::clock_ns() - t) / BATCH;
    }
    report::line("null_syscall", format_args!(" per=call"), &mut v[..n], b, snap());
    Ok(())
}

/// Zeroing one 4 KiB page in user mode, already mapped and present:
/// with `null_syscall`, the floor of a zero-fill fault.
fn zero_page(cfg: &Config) -> Res {
    const PAGES: usize = 1024;
    let n = cfg.size(10, 3);
    let m = touched(PAGES)?;
    let mut v = [0u64; MAXN];
    let b = snap();
    for s in v.iter_mut().take(n) {
        let t = kern::clock_ns();
        for i in 0..PAGES {
            // SAFETY: inside the mapping, which this process may write.
            unsafe { core::ptr::write_bytes(m.add(i * PAGE), 0, PAGE) };
        }
        core::hint::black_box(m);
        *s = (kern::clock_ns() - t) / PAGES as u64;
    }
    let after = snap();
    // SAFETY: nothing refers to the mapping any more.
    unsafe { kern::munmap(m, PAGES * PAGE) }.map_err(|e| fail("munmap", e))?;
    report::line("zero_page", format_args!(" per=page"), &mut v[..n], b, after);
    Ok(())
}

/// `procs` processes each run `k` fork+exit+wait cycles at once; a sample
/// is the wall time of the whole batch over the cycles run, so it is the
/// inverse of the system's throughput (compare with `fork_exit`).
fn fork_exit_par(cfg: &Config) -> Res {
    let k = cfg.size(100, 10);
    for procs in [2usize, 4] {
        let n = cfg.size(5, 2);
        let mut v = [0u64; MAXN];
        let b = snap();
        for s in v.iter_mut().take(n) {
            let t = kern::clock_ns();
            let mut pids = [0i32; 4];
            for p in pids.iter_mut().take(procs) {
                *p = match kern::fork().map_err(|e| fail("fork", e))? {
                    0 => kern::exit(loop_fork_exit(k)),
                    pid => pid,
                };
            }
            for &p in &pids[..procs] {
                reap(p)?;
            }
            *s = (kern::clock_ns() - t) / (procs * k) as u64;
        }
        report::line("fork_exit_par", format_args!(" procs={procs} per=cycle"), &mut v[..n], b, snap());
    }
    Ok(())
}

/// `k` fork+exit+wait cycles; the exit status for the caller's child.
fn loop_fork_exit(k: usize) -> i32 {
    for _ in 0..k {
        match kern::fork() {
            Ok(0) => kern::exit(0),
            Ok(pid) if reap(pid).is_ok() => {}
            _ => return 1,
        }
    }
    0
}

/// `procs` children each touch 4096 pages and wait on a pipe; closing it
/// releases them all at once, and a sample is the time from the release
/// to the last wait4's return: teardowns that run in parallel take about
/// the time of one, teardowns serialised (one reaper) `procs` times it.
fn teardown_par(cfg: &Config) -> Res {
    const PAGES: usize = 4096;
    for procs in [1usize, 2, 4] {
        let n = cfg.size(5, 2);
        let mut v = [0u64; MAXN];
        let b = snap();
        for s in v.iter_mut().take(n) {
            let [r, w] = kern::pipe().map_err(|e| fail("pipe", e))?;
            let [ready_r, ready_w] = kern::pipe().map_err(|e| fail("pipe", e))?;
            let mut pids = [0i32; 4];
            for p in pids.iter_mut().take(procs) {
                *p = match kern::fork().map_err(|e| fail("fork", e))? {
                    0 => {
                        let _ = kern::close(w);
                        let _ = kern::close(ready_r);
                        if touched(PAGES).is_err() || kern::write(ready_w, b"r") != Ok(1) {
                            kern::exit(1);
                        }
                        let mut c = [0u8; 1];
                        // End of file: the parent let go.
                        let _ = kern::read(r, &mut c);
                        kern::exit(0)
                    }
                    pid => pid,
                };
            }
            let _ = kern::close(r);
            let _ = kern::close(ready_w);
            let mut got = [0u8; 4];
            let ready = kern::read_full(ready_r, &mut got[..procs]).map_err(|e| fail("read ready", e))?;
            let _ = kern::close(ready_r);
            if ready != procs {
                return Err(fail("children ready", ready as i32));
            }
            let t = kern::clock_ns();
            let _ = kern::close(w);
            for &p in &pids[..procs] {
                reap(p)?;
            }
            *s = kern::clock_ns() - t;
        }
        report::line("teardown_par", format_args!(" procs={procs} pages={PAGES}"), &mut v[..n], b, snap());
    }
    Ok(())
}

/// One byte back and forth between two processes over two pipes: each
/// round trip is two context switches (on one CPU) or two wakeups.
/// Samples are batches of `BATCH` round trips, per round trip.
fn pipe_pingpong(cfg: &Config) -> Res {
    const BATCH: usize = 50;
    let n = cfg.size(20, 4);
    let [r1, w1] = kern::pipe().map_err(|e| fail("pipe", e))?;
    let [r2, w2] = kern::pipe().map_err(|e| fail("pipe", e))?;
    let pid = match kern::fork().map_err(|e| fail("fork", e))? {
        0 => {
            // Without closing its copy of w1 the child would never read
            // end of file from r1.
            for fd in [w1, r2] {
                let _ = kern::close(fd);
            }
            let mut b = [0u8; 1];
            while kern::read(r1, &mut b) == Ok(1) {
                if kern::write(w2, &b) != Ok(1) {
                    kern::exit(1);
                }
            }
            kern::exit(0)
        }
        pid => pid,
    };
    for fd in [r1, w2] {
        let _ = kern::close(fd);
    }
    let mut v = [0u64; MAXN];
    let b: Snap = snap();
    for s in v.iter_mut().take(n) {
        let t = kern::clock_ns();
        for _ in 0..BATCH {
            let mut c = [7u8];
            if kern::write(w1, &c) != Ok(1) || kern::read(r2, &mut c) != Ok(1) {
                return Err(fail("ping-pong", 0));
            }
        }
        *s = (kern::clock_ns() - t) / BATCH as u64;
    }
    let after = snap();
    let _ = kern::close(w1); // the child reads end of file and exits
    reap(pid)?;
    let _ = kern::close(r2);
    report::line("pipe_pingpong", format_args!(" per=roundtrip"), &mut v[..n], b, after);
    Ok(())
}
