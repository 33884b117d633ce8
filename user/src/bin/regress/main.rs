//! /bin/regress: the in-guest regression suite, meant to run as init
//! (`init=/bin/regress`, `cargo xtask run --init /bin/regress`).
//!
//! Every test runs in a forked child of its own, in a process group of its
//! own, so a test that crashes, hangs or leaves processes behind costs
//! only its own verdict: the parent polls wait4 with WNOHANG, kills the
//! group with SIGKILL after the test's time limit, and reaps whatever
//! orphans the kernel hands it (as init it adopts them all; see
//! `reap_strays`). The child reports through a pipe: `P` or `F` and one
//! line of detail. The parent writes a NUL after the child is reaped, so
//! it never waits on a pipe that a stray grandchild still holds open.
//!
//! Output: one line per test, `ok NAME: detail` or `FAIL NAME: why`, then
//! `regress: N passed, N failed`. KERN_VMSTATS is read first thing; the
//! last test, `baseline`, checks that free pages and the process, thread,
//! kqueue and knote counts are back where they started once every child
//! is reaped.
//! As init the program cannot exit (the kernel would panic "init died"),
//! so it powers off with reboot(RB_HALT | RB_POWERDOWN) and the host reads
//! the summary line; run as any other process it exits with the number of
//! failures.
#![no_std]
#![cfg_attr(not(test), no_main)]

extern crate alloc;

mod proto;
mod t_cpu;
mod t_efault;
mod t_exec;
mod t_exit;
mod t_kqueue;
mod t_misc;
mod t_pipe;
mod t_proc;
mod t_rusage;
mod t_sig;
mod t_storm;
mod t_thread;
mod t_tmp;
mod t_tty;
mod t_vm;
mod util;

use core::time::Duration;

use rt::prelude::*;
use sys::reboot::{RB_HALT, RB_POWERDOWN};
use sys::signal::SIGKILL;
use sys::sysctl::KernVmStats;
use sys::wait::{WAIT_ANY, WNOHANG};
use util::{Outcome, now, sleep_ms};

rt::entry!(main);

/// One test: a name for the report, the function run in a child, and how
/// long it may take before it is killed.
pub struct Test {
    pub name: &'static str,
    pub f: fn() -> Outcome,
    pub secs: u64,
}

const fn t(name: &'static str, f: fn() -> Outcome) -> Test {
    Test { name, f, secs: 30 }
}

/// The suite, in order; `baseline` runs after these, in the parent. The
/// host-side check (tests crate) reads the names from this table.
pub const TESTS: &[Test] = &[
    // 1. fork, exit, wait
    t("exit-status", t_proc::exit_status),
    t("wait-pid", t_proc::wait_pid),
    t("wait-any", t_proc::wait_any),
    t("wait-nohang", t_proc::wait_nohang),
    t("wait-echild", t_proc::wait_echild),
    t("wait-pgrp", t_proc::wait_pgrp),
    t("wait-rusage", t_proc::wait_rusage_cpu),
    t("getppid", t_proc::getppid_child),
    t("orphan", t_proc::orphan),
    // 2. exec
    t("exec-args-env", t_exec::args_env),
    t("exec-enoent", t_exec::enoent),
    t("exec-enoexec", t_exec::enoexec),
    t("exec-cloexec", t_exec::cloexec),
    t("exec-auxv", t_exec::auxv),
    // 3. copy-on-write
    t("cow-heap", t_vm::cow_heap),
    t("cow-stack", t_vm::cow_stack),
    t("cow-mmap", t_vm::cow_mmap),
    t("cow-prefork", t_vm::cow_prefork),
    // 4. mmap, munmap, mprotect
    t("mmap-zero", t_vm::mmap_zero),
    t("mmap-fixed", t_vm::mmap_fixed),
    t("munmap-middle", t_vm::munmap_middle),
    t("mprotect-ro", t_vm::mprotect_ro),
    t("mprotect-none", t_vm::mprotect_none),
    t("mmap-errors", t_vm::mmap_errors),
    // 5. EFAULT
    t("efault-read", t_efault::read),
    t("efault-read-keeps-data", t_efault::read_keeps_data),
    t("efault-write", t_efault::write),
    t("efault-path", t_efault::paths),
    t("efault-execve", t_efault::execve),
    t("efault-wait4", t_efault::wait4),
    t("efault-pipe", t_efault::pipe),
    t("efault-stat", t_efault::stat),
    t("efault-getdents", t_efault::getdents),
    t("efault-sigaction", t_efault::sigaction),
    t("efault-nanosleep", t_efault::nanosleep),
    t("efault-clock_gettime", t_efault::clock_gettime),
    t("efault-getrusage", t_efault::getrusage),
    t("efault-getcwd", t_efault::getcwd),
    t("efault-sysctl", t_efault::sysctl),
    t("efault-tfork", t_efault::tfork),
    // 6. SIGSEGV
    t("segv-null-read", t_vm::segv_null_read),
    t("segv-null-write", t_vm::segv_null_write),
    t("segv-rodata-write", t_vm::segv_rodata_write),
    t("segv-text-write", t_vm::segv_text_write),
    t("segv-kernel-read", t_vm::segv_kernel_read),
    // 7. signals
    t("sig-handler", t_sig::handler),
    t("sig-eintr", t_sig::eintr),
    t("sig-mask", t_sig::mask),
    t("sig-ign", t_sig::ignore),
    t("sig-kill-self", t_sig::kill_self),
    t("sig-kill-child", t_sig::kill_child),
    t("sig-kill-pgrp", t_sig::kill_pgrp),
    t("sig-kill-probe", t_sig::kill_probe),
    t("sig-sigkill", t_sig::sigkill),
    t("sig-stop-cont", t_sig::stop_cont),
    t("sig-sigchld", t_sig::sigchld),
    t("sig-resethand", t_sig::resethand),
    t("sig-stack-fault", t_sig::stack_fault),
    t("sig-orphan-hup", t_sig::orphan_hup),
    // 8. threads
    t("thread-spawn", t_thread::spawn_join),
    t("thread-exit-alone", t_thread::exit_alone),
    t("thread-main-exit", t_thread::main_exit),
    t("thread-calls-exit", t_thread::thread_calls_exit),
    t("thread-main-threxit", t_thread::main_threxit),
    t("thread-exit-race", t_thread::exit_race),
    // 8b. the exit path (DESIGN §4)
    t("exit-nozombie-echild", t_exit::nozombie_echild),
    t("exit-parent-never-waits", t_exit::parent_never_waits),
    Test { name: "exit-kill-pgrp", f: t_exit::kill_pgrp_storm, secs: 120 },
    t("exit-counts-at-wait", t_exit::counts_at_wait),
    t("exit-thin-zombies", t_exit::thin_zombies),
    Test { name: "thread-churn", f: t_exit::thread_churn, secs: 120 },
    // 9. fork limit
    Test { name: "fork-storm", f: t_storm::storm, secs: 120 },
    // 10. pipes
    t("pipe-large", t_pipe::large),
    t("pipe-eof", t_pipe::eof),
    t("pipe-epipe", t_pipe::epipe),
    t("pipe-sigpipe", t_pipe::sigpipe),
    t("pipe-dup", t_pipe::dup),
    // 11. miscellany
    t("ids", t_misc::ids),
    t("sched-yield", t_misc::sched_yield),
    t("clock-monotonic", t_misc::clock_monotonic),
    t("nanosleep", t_misc::nanosleep),
    t("getdents", t_misc::getdents),
    t("chdir-getcwd", t_misc::chdir_getcwd),
    t("stat", t_misc::stat),
    t("enosys", t_misc::enosys),
    // 12. the session's kernel side
    t("tmp-files", t_tmp::files),
    t("tmp-cwd", t_tmp::cwd),
    t("exec-shebang", t_tmp::shebang),
    t("dev-null", t_tmp::dev_null),
    t("sysctl-strings", t_tmp::sysctl_strings),
    t("tty-modes", t_tty::modes),
    t("tty-pgrp", t_tty::pgrp),
    t("fcntl", t_tty::fcntl),
    t("setsid", t_tty::setsid),
    // 13. per-CPU counters and times
    t("cpustats", t_cpu::cpustats),
    t("rusage-precise", t_rusage::precise),
    t("rusage-split", t_rusage::split),
    // 14. kqueue
    t("kq-exit-child", t_kqueue::exit_child),
    t("kq-exit-nonchild", t_kqueue::exit_nonchild),
    t("kq-fork", t_kqueue::fork_note),
    t("kq-track", t_kqueue::track),
    t("kq-exec", t_kqueue::exec_note),
    t("kq-errors", t_kqueue::errors),
    t("kq-signal", t_kqueue::signal_count),
    t("kq-pipe", t_kqueue::pipe_ready),
    t("kq-tty", t_kqueue::tty_ready),
    t("kq-timer", t_kqueue::timer),
    t("kq-timeout", t_kqueue::timeout),
    t("kq-eintr", t_kqueue::eintr),
    t("kq-close-live", t_kqueue::close_live),
    t("kq-many", t_kqueue::many),
];

/// The name of the last test, run in the parent after every child is gone.
pub const BASELINE: &str = "baseline";

/// Longest detail a child may report (the pipe holds far more).
const MSG_MAX: usize = 400;

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn report(&mut self, name: &str, ok: bool, detail: &str) {
        if ok {
            self.passed += 1;
            println!("ok {name}: {detail}");
        } else {
            self.failed += 1;
            println!("FAIL {name}: {detail}");
        }
    }
}

fn main(args: &Args) -> i32 {
    // Fault in the program (text, data and bss are paged in on first
    // touch) and the stack the parent will use, then take the baseline:
    // from here on the parent allocates nothing, so any page missing at
    // the end was kept by the kernel, not used by regress.
    let paged = util::touch_image(args);
    util::touch_stack(64);
    // Warm-up: one fork storm before the baseline. The kernel keeps what
    // it grows to a high-water mark by design (its heap arena, reported
    // as heap_pages, and the page tables of the kernel-stack area); after
    // one storm, a second returns every page, so the baseline can be exact.
    let mut msg = [0u8; MSG_MAX + 64];
    if let Some(storm) = TESTS.iter().find(|t| t.name == "fork-storm") {
        let (ok, n) = run_one(storm, &mut msg);
        reap_strays();
        let detail = core::str::from_utf8(&msg[..n]).unwrap_or("?");
        println!("regress: warm-up {}: {detail}", if ok { "done" } else { "FAILED" });
    }
    let base = match util::vmstats() {
        Ok(s) => s,
        Err(e) => {
            println!("regress: cannot read the baseline: {e}");
            KernVmStats::default()
        }
    };
    let me = rt::getpid();
    println!(
        "regress: pid {me}, {} tests; baseline {} free + {} kernel heap pages, {} processes, {} threads (limits {}/{}); {paged} program pages touched",
        TESTS.len() + 1,
        base.free_pages,
        base.heap_pages,
        base.nprocs,
        base.nthreads,
        base.maxprocs,
        base.maxthreads
    );
    let mut tally = Tally { passed: 0, failed: 0 };
    // Tests after which the kernel held on to pages, for the baseline
    // test's report (fixed size: the parent must not allocate).
    let mut kept = [(0usize, 0i64); 8];
    let mut nkept = 0;
    for (i, test) in TESTS.iter().enumerate() {
        let pre = util::vmstats().map(|s| avail(&s)).unwrap_or(0);
        let (ok, mut n) = run_one(test, &mut msg);
        reap_strays();
        // Where the kernel keeps pages after a test, say so: the
        // baseline test only sees the sum.
        let post = util::vmstats().map(|s| avail(&s)).unwrap_or(0);
        if post != pre {
            let d = post as i64 - pre as i64;
            n += put_fmt(&mut msg[n..], format_args!(" [free pages {d:+}]"));
            if nkept < kept.len() {
                kept[nkept] = (i, d);
                nkept += 1;
            }
        }
        let detail = core::str::from_utf8(&msg[..n]).unwrap_or("(detail is not UTF-8)");
        tally.report(test.name, ok, detail);
    }
    let (ok, mut n) = baseline(&base, &mut msg);
    if !ok && nkept > 0 {
        n += put_fmt(&mut msg[n..], format_args!("; free pages changed across"));
        for &(i, d) in &kept[..nkept] {
            n += put_fmt(&mut msg[n..], format_args!(" {} ({d:+})", TESTS[i].name));
        }
    }
    let detail = core::str::from_utf8(&msg[..n]).unwrap_or("?");
    tally.report(BASELINE, ok, detail);
    println!("regress: {} passed, {} failed", tally.passed, tally.failed);
    if me == 1 {
        let e = rt::reboot(RB_HALT | RB_POWERDOWN);
        println!("regress: reboot: {e:?}");
        // Init must not return; wait for the power to go.
        loop {
            sleep_ms(1000);
        }
    }
    tally.failed as i32
}

/// Copy `s` into `buf`, cut at MSG_MAX bytes on a character boundary;
/// returns the length.
fn put(buf: &mut [u8], s: &str) -> usize {
    let mut n = s.len().min(MSG_MAX).min(buf.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    n
}

/// Write formatted text into `buf` without allocating (the parent must
/// not grow its heap after the baseline).
fn put_fmt(buf: &mut [u8], args: core::fmt::Arguments<'_>) -> usize {
    struct W<'a> {
        b: &'a mut [u8],
        n: usize,
    }
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for c in s.chars() {
                let mut tmp = [0u8; 4];
                let e = c.encode_utf8(&mut tmp).as_bytes();
                if self.n + e.len() > self.b.len().min(MSG_MAX) {
                    return Err(core::fmt::Error);
                }
                self.b[self.n..self.n + e.len()].copy_from_slice(e);
                self.n += e.len();
            }
            Ok(())
        }
    }
    let mut w = W { b: buf, n: 0 };
    let _ = core::fmt::write(&mut w, args);
    w.n
}

/// Run one test in a child; returns (passed, detail length in `msg`).
fn run_one(test: &Test, msg: &mut [u8]) -> (bool, usize) {
    let fds = match rt::pipe() {
        Ok(f) => f,
        Err(e) => return (false, put_fmt(msg, format_args!("harness: pipe: {e}"))),
    };
    let pid = match rt::fork() {
        Ok(p) => p,
        Err(e) => {
            let _ = rt::close(fds[0]);
            let _ = rt::close(fds[1]);
            return (false, put_fmt(msg, format_args!("harness: fork: {e}")));
        }
    };
    if pid == 0 {
        child(test, fds);
    }
    // Both sides set the group, so it is in place whichever runs first.
    let _ = rt::setpgid(pid, pid);
    let limit = Duration::from_secs(test.secs);
    let t0 = now();
    let mut timed_out = false;
    let status = loop {
        let mut st = 0;
        match rt::wait4(pid, Some(&mut st), WNOHANG, None) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => break Ok(rt::process::WaitStatus(st)),
            Err(e) => break Err(e),
        }
        let waited = now() - t0;
        if !timed_out && waited > limit {
            timed_out = true;
            let _ = rt::kill(-pid, SIGKILL);
            let _ = rt::kill(pid, SIGKILL);
        } else if timed_out && waited > limit + Duration::from_secs(10) {
            let _ = rt::close(fds[0]);
            let _ = rt::close(fds[1]);
            return (false, put_fmt(msg, format_args!("timed out after {limit:?}; SIGKILL did not end it")));
        }
        sleep_ms(if waited < Duration::from_millis(100) { 1 } else { 10 });
    };
    // Whatever the test left running in its group goes too, and is
    // reaped (init inherits it) before the next test starts.
    let strays = rt::kill(-pid, SIGKILL).is_ok();
    if strays {
        let t1 = now();
        while rt::kill(-pid, 0).is_ok() && now() - t1 < Duration::from_secs(5) {
            reap_strays();
            sleep_ms(5);
        }
        reap_strays();
    }
    // The child wrote its verdict before exiting; the NUL marks its end.
    let _ = rt::write(fds[1], &[0]);
    let mut n = 0;
    while n < msg.len() {
        match rt::read(fds[0], &mut msg[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if msg[..n].contains(&0) {
                    break;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let _ = rt::close(fds[0]);
    let _ = rt::close(fds[1]);
    let len = msg[..n].iter().position(|&b| b == 0).unwrap_or(n);
    let status = match status {
        Ok(s) => s,
        Err(e) => return (false, put_fmt(msg, format_args!("harness: wait4: {e}"))),
    };
    if timed_out {
        return (false, put_fmt(msg, format_args!("timed out after {limit:?} (killed)")));
    }
    let verdict = if len > 0 { msg[0] } else { 0 };
    let note = |msg: &mut [u8], n: usize| {
        if strays { n + put_fmt(&mut msg[n..], format_args!(" [stray processes killed]")) } else { n }
    };
    match (verdict, status.exited()) {
        (b'P', Some(0)) => {
            msg.copy_within(1..len, 0);
            (true, note(msg, len - 1))
        }
        (b'F', Some(1)) => {
            msg.copy_within(1..len, 0);
            (false, note(msg, len - 1))
        }
        _ => {
            // Crashed, killed, or exited without a verdict: say how, with
            // whatever it managed to report.
            let mut tmp = [0u8; MSG_MAX];
            let k = len.saturating_sub(1).min(tmp.len() - 100);
            if len > 0 {
                tmp[..k].copy_from_slice(&msg[1..1 + k]);
            }
            let said = core::str::from_utf8(&tmp[..k]).unwrap_or("");
            let sep = if k > 0 { "; it reported: " } else { ", no verdict" };
            (false, put_fmt(msg, format_args!("test child {status}{sep}{said}")))
        }
    }
}

/// The test child: its own process group, the test, the verdict.
fn child(test: &Test, fds: [i32; 2]) -> ! {
    let _ = rt::close(fds[0]);
    let _ = rt::setpgid(0, 0);
    let r = (test.f)();
    let (tag, text) = match &r {
        Ok(d) => (b'P', d.as_str()),
        Err(w) => (b'F', w.as_str()),
    };
    let mut buf = [0u8; MSG_MAX + 1];
    buf[0] = tag;
    let n = put(&mut buf[1..], text);
    let _ = util::write_all(fds[1], &buf[..n + 1]);
    rt::exit(if r.is_ok() { 0 } else { 1 })
}

/// Reap every zombie init has been given (orphans of the tests); returns
/// how many.
fn reap_strays() -> u32 {
    let mut n = 0;
    loop {
        match rt::wait4(WAIT_ANY, None, WNOHANG, None) {
            Ok(p) if p > 0 => n += 1,
            Err(Errno::EINTR) => {}
            _ => return n,
        }
    }
}

use util::avail;

/// The last test: with every child gone, free pages (with the heap's) and
/// the process and thread counts must equal the baseline.
fn baseline(base: &KernVmStats, msg: &mut [u8]) -> (bool, usize) {
    // Orphans still running get a few seconds to finish, then SIGKILL
    // (kill -1 reaches everything but init).
    let t0 = now();
    let mut killed = false;
    loop {
        reap_strays();
        match rt::wait4(WAIT_ANY, None, WNOHANG, None) {
            Err(Errno::ECHILD) => break,
            Ok(p) if p > 0 => continue,
            _ => {}
        }
        let waited = now() - t0;
        if !killed && waited > Duration::from_secs(5) {
            let _ = rt::kill(-1, SIGKILL);
            killed = true;
        } else if waited > Duration::from_secs(15) {
            return (false, put_fmt(msg, format_args!("children still alive 10 s after SIGKILL")));
        }
        sleep_ms(10);
    }
    let same = |s: &KernVmStats| {
        avail(s) == avail(base)
            && s.nprocs == base.nprocs
            && s.nthreads == base.nthreads
            && (s.nkqueues, s.nknotes) == (base.nkqueues, base.nknotes)
    };
    let (end, ok) = match util::vmstats_until(Duration::from_secs(3), same) {
        Ok(r) => r,
        Err(e) => return (false, put(msg, &e)),
    };
    let d = avail(&end) as i64 - avail(base) as i64;
    let n = put_fmt(
        msg,
        format_args!(
            "free + heap pages {} -> {} ({d:+}), processes {} -> {}, threads {} -> {}, kqueues {} -> {}, knotes {} -> {}{}",
            avail(base),
            avail(&end),
            base.nprocs,
            end.nprocs,
            base.nthreads,
            end.nthreads,
            base.nkqueues,
            end.nkqueues,
            base.nknotes,
            end.nknotes,
            if killed { "; stray processes had to be killed" } else { "" }
        ),
    );
    (ok && !killed, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_char_boundaries() {
        let mut b = [0u8; MSG_MAX + 64];
        let long = "é".repeat(MSG_MAX);
        let n = put(&mut b, &long);
        assert!(n <= MSG_MAX && core::str::from_utf8(&b[..n]).is_ok());
        let n = put_fmt(&mut b, format_args!("{long}"));
        assert!(n <= MSG_MAX && core::str::from_utf8(&b[..n]).is_ok());
        let n = put_fmt(&mut b, format_args!("a {} b", 7));
        assert_eq!(&b[..n], b"a 7 b");
    }

    #[test]
    fn table_names_are_unique_and_not_baseline() {
        let mut names: Vec<&str> = TESTS.iter().map(|t| t.name).collect();
        assert!(!names.contains(&BASELINE));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TESTS.len());
        assert!(TESTS.iter().all(|t| t.secs > 0 && !t.name.contains(':') && !t.name.contains(' ')));
    }

    #[test]
    fn elf_segments() {
        let mut h = vec![0u8; 64 + 2 * 56];
        h[..4].copy_from_slice(b"\x7fELF");
        h[24..32].copy_from_slice(&0x20_0000u64.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&2u16.to_le_bytes());
        for (i, (ty, va, sz)) in [(1u32, 0x20_0000u64, 0x1234u64), (6, 0, 0)].into_iter().enumerate() {
            let o = 64 + 56 * i;
            h[o..o + 4].copy_from_slice(&ty.to_le_bytes());
            h[o + 16..o + 24].copy_from_slice(&va.to_le_bytes());
            h[o + 40..o + 48].copy_from_slice(&sz.to_le_bytes());
        }
        assert_eq!(util::load_segments(&h), Some((0x20_0000, vec![(0x20_0000, 0x1234)])));
        assert_eq!(util::load_segments(&h[..100]), None);
        assert_eq!(util::load_segments(b"not an elf file at all"), None);
    }

    #[test]
    fn arg_sum_sees_changes() {
        let s = |v: &[&str]| proto::arg_sum(v.iter().map(|a| a.as_bytes()));
        let base = s(&["args", "one", "two words", ""]);
        assert_ne!(base, s(&["args", "one", "two words"]));
        assert_ne!(base, s(&["args", "one", "", "two words"]));
        assert_ne!(base, s(&["args", "onetwo words", ""]));
        assert_eq!(base, s(&["args", "one", "two words", ""]));
    }
}
