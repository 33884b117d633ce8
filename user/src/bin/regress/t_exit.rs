//! The exit path under either strategy (DESIGN §4): a wait4 in a parent
//! that wants no zombies ends in ECHILD, nothing depends on a parent
//! waiting, a process group of children with threads and touched memory
//! killed together, counts exact as soon as wait4 returns, thin zombies,
//! and threads created and joined one after another in bounded memory.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use rt::prelude::*;
use rt::signal::Handler;
use sys::signal::{SA_NOCLDWAIT, SIGCHLD, SIGKILL, SigAction};
use sys::sysctl::KernVmStats;
use sys::wait::WAIT_ANY;

use crate::util::*;

/// In a child that first arranges (with `setup`) to get no zombies: fork
/// `n` grandchildren that exit after a moment, block in wait4(-1), and
/// exit 0 if that ends in ECHILD once they are gone. A kernel that wakes
/// only init hangs here, and the parent's wait limit catches it.
fn nozombie_wait(setup: fn() -> rt::Result<()>, n: usize) -> Res<Duration> {
    let t0 = now();
    let st = wait_rusage(
        spawn(move || {
            if setup().is_err() {
                return 10;
            }
            for _ in 0..n {
                if rt::fork().map(|p| {
                    if p == 0 {
                        sleep_ms(30);
                        rt::exit(0);
                    }
                }) == Err(Errno::EAGAIN)
                {
                    return 11;
                }
            }
            match rt::wait4(WAIT_ANY, None, 0, None) {
                Err(Errno::ECHILD) => 0,
                Ok(_) => 12,
                Err(_) => 13,
            }
        })?,
        Duration::from_secs(5),
    )?
    .0;
    let code = st.exited();
    ensure!(
        code == Some(0),
        "{}",
        match code {
            Some(10) => "sigaction failed".into(),
            Some(11) => "fork failed".into(),
            Some(12) => "wait4 returned a child the parent asked not to keep".into(),
            Some(13) => "wait4 failed with something other than ECHILD".into(),
            _ => format!("child ended {st}"),
        }
    );
    Ok(now() - t0)
}

fn ignore_sigchld() -> rt::Result<()> {
    rt::signal::signal(SIGCHLD, Handler::Ignore).map(|_| ())
}

fn nocldwait() -> rt::Result<()> {
    let sa = SigAction { sa_handler: sys::signal::SIG_DFL, sa_mask: 0, sa_flags: SA_NOCLDWAIT };
    rt::signal::sigaction(SIGCHLD, Some(&sa), None)
}

/// A parent ignoring SIGCHLD, or with SA_NOCLDWAIT, blocked in wait4(-1):
/// its last child's exit wakes it and wait4 says ECHILD (the children go
/// to init, which is the regress parent here: its `baseline` test checks
/// that every count comes back once it has reaped them).
pub fn nozombie_echild() -> Outcome {
    let a = nozombie_wait(ignore_sigchld, 3)?;
    let b = nozombie_wait(nocldwait, 3)?;
    Ok(format!("ECHILD after {a:?} (SIG_IGN) and {b:?} (SA_NOCLDWAIT)"))
}

/// Process and thread counts back at `base` within 3 s. (Pages are the
/// `baseline` test's: this test's own heap and stacks use some meanwhile.)
fn counts_back(base: &KernVmStats, what: &str) -> Res<()> {
    let same = |s: &KernVmStats| s.nprocs == base.nprocs && s.nthreads == base.nthreads;
    let (s, ok) = vmstats_until(Duration::from_secs(3), same)?;
    ensure!(
        ok,
        "after {what}: processes {} -> {}, threads {} -> {}",
        base.nprocs,
        s.nprocs,
        base.nthreads,
        s.nthreads
    );
    Ok(())
}

/// A parent that never waits: its exited children are zombies until it
/// exits, then init adopts them (here init is the regress parent, which
/// reaps them after this test; `baseline` checks the counts); with SIGCHLD
/// ignored they leave the parent at once.
pub fn parent_never_waits() -> Outcome {
    const N: usize = 40;
    // Keeps zombies, never waits, exits: init adopts the zombies.
    let mut kids = Vec::new();
    let [r, w] = rt::pipe().ctx("pipe")?;
    let mid = spawn(move || {
        let _ = rt::close(r);
        for _ in 0..N {
            match spawn(|| 0) {
                Ok(p) => {
                    if write_all(w, &p.to_ne_bytes()).is_err() {
                        return 2;
                    }
                }
                Err(_) => return 1,
            }
        }
        sleep_ms(100);
        0
    })?;
    let _ = rt::close(w);
    let mut b = [0u8; 4];
    while read_full(r, &mut b)? == 4 {
        kids.push(i32::from_ne_bytes(b));
    }
    let _ = rt::close(r);
    expect_exit("parent of zombies", wait_for(mid)?, 0)?;
    ensure!(kids.len() == N, "the parent forked {} of {N}", kids.len());
    let t0 = now();
    loop {
        let all = processes()?;
        let adopted =
            all.iter().filter(|k| kids.contains(&k.p_pid) && k.p_ppid == 1 && k.p_nthreads == 0).count();
        if adopted == N {
            break;
        }
        ensure!(now() - t0 < Duration::from_secs(3), "{adopted} of {N} zombies adopted by init after 3 s");
        sleep_ms(10);
    }
    // Ignores SIGCHLD and never waits: no zombie may pile up meanwhile.
    let mid = spawn(|| {
        if ignore_sigchld().is_err() {
            return 1;
        }
        let me = rt::getpid();
        for _ in 0..N {
            if spawn(|| 0).is_err() {
                return 2;
            }
        }
        let t0 = now();
        loop {
            let Ok(all) = processes() else { return 3 };
            let kids = all.iter().filter(|k| k.p_ppid == me).count();
            if kids == 0 {
                return 0;
            }
            if now() - t0 > Duration::from_secs(3) {
                return 4;
            }
            sleep_ms(10);
        }
    })?;
    let st = wait_for(mid)?;
    ensure!(st.exited() == Some(0), "with SIGCHLD ignored: {st} (4: children still the parent's after 3 s)");
    Ok(format!("{N} zombies adopted by init on the parent's exit; {N} more never kept"))
}

/// A process group of children, some with more threads, with heap and
/// stack touched, killed by one kill(-pgrp, SIGKILL):
/// every one dies of SIGKILL and every count comes back.
pub fn kill_pgrp_storm() -> Outcome {
    // The process limit is 256. With the threads this stays below the
    // warm-up storm's number of kernel stacks (the arm64 kernel keeps the
    // page tables of its stack area at their high-water mark).
    const N: usize = 200;
    let base = vmstats()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    // The group's leader waits on the pipe; everyone else joins its group.
    let leader = spawn(move || {
        let _ = rt::setpgid(0, 0);
        let _ = read_byte(r);
        0
    })?;
    let _ = rt::setpgid(leader, leader);
    let mut kids = alloc::vec![leader];
    for i in 0..N - 1 {
        let [gr, gw] = rt::pipe().ctx("pipe")?;
        let pid = spawn(move || {
            let _ = rt::close(gr);
            let ok = rt::setpgid(0, leader).is_ok();
            let _ = rt::close(gw);
            if !ok {
                return 8;
            }
            child_busy(i)
        })?;
        let _ = rt::close(gw);
        // The child has joined the group once it closes its end.
        let _ = read_byte(gr);
        let _ = rt::close(gr);
        kids.push(pid);
    }
    let _ = rt::close(w);
    // Let the threads start spinning and the memory be touched.
    sleep_ms(200);
    let t0 = now();
    rt::kill(-leader, SIGKILL).ctx("kill(-pgrp, SIGKILL)")?;
    let mut bad = Vec::new();
    for &k in &kids {
        let st = wait_for(k)?;
        if st.signaled() != Some(SIGKILL) {
            bad.push(format!("{k}: {st}"));
        }
    }
    let took = now() - t0;
    ensure!(bad.is_empty(), "not killed by SIGKILL: {}", bad.join(", "));
    counts_back(&base, "the killed group")?;
    Ok(format!(
        "{N} in one group (every 8th with 2 more threads; 16 heap pages and stack touched) killed and reaped in {took:?}"
    ))
}

/// A child of the storm: touch memory; every eighth has two threads more,
/// sleeping (spinning ones would starve the forks at -smp 1: the threads
/// running on other CPUs as the process exits are thread-main-exit's).
fn child_busy(i: usize) -> i32 {
    static STOP: AtomicBool = AtomicBool::new(false);
    let mut stack = [0u8; 16 * 1024];
    for b in stack.iter_mut().step_by(512) {
        // SAFETY: a plain write through a valid reference, volatile so the
        // touch is not optimised away.
        unsafe { core::ptr::write_volatile(b, 1) };
    }
    let heap: Vec<u8> = alloc::vec![7u8; 16 * 4096];
    if i.is_multiple_of(8) {
        for _ in 0..2 {
            let _ = rt::thread_spawn(
                || {
                    while !STOP.load(Ordering::Relaxed) {
                        sleep_ms(50);
                    }
                },
                64 << 10,
            );
        }
    }
    loop {
        sleep_ms(1000);
        if heap[0] == 0 {
            return 9;
        }
    }
}

/// Counts are exact the moment wait4 returns: the child's threads and
/// kernel stack are freed before wait4 frees the zombie (the "pdead"
/// barrier; DESIGN invariant 5).
pub fn counts_at_wait() -> Outcome {
    const ROUNDS: usize = 50;
    let base = vmstats()?;
    for r in 0..ROUNDS {
        let pid = spawn(|| 0)?;
        let (p, st) = rt::waitpid(pid, 0).ctx("wait4")?;
        ensure!(p == pid && st.exited() == Some(0), "round {r}: wait4 gave {p} {st}");
        let s = vmstats()?;
        ensure!(
            s.nprocs == base.nprocs && s.nthreads == base.nthreads,
            "round {r}: right after wait4, processes {} (was {}), threads {} (was {})",
            s.nprocs,
            base.nprocs,
            s.nthreads,
            base.nthreads
        );
    }
    Ok(format!("{ROUNDS} rounds, processes and threads back at every wait4's return"))
}

/// Thin zombies: what the kernel holds for each one exited child nobody
/// waited for yet — heap bytes and pages — is far less than a kernel stack
/// (32 KiB) or an address space.
pub fn thin_zombies() -> Outcome {
    const N: usize = 40;
    let pre = vmstats()?;
    let mut kids = Vec::new();
    for _ in 0..N {
        kids.push(spawn(|| 0)?);
    }
    // Wait until every child is a zombie (in the list, no threads).
    let t0 = now();
    loop {
        let all = processes()?;
        let zombies = all.iter().filter(|k| kids.contains(&k.p_pid) && k.p_nthreads == 0).count();
        if zombies == N {
            break;
        }
        ensure!(now() - t0 < Duration::from_secs(5), "{zombies} of {N} children are zombies after 5 s");
        sleep_ms(10);
    }
    // Threads are freed just after they exit; let that settle.
    let (mid, _) = vmstats_until(Duration::from_secs(2), |s| s.nthreads == pre.nthreads)?;
    let heap = (mid.heap_allocated as i64 - pre.heap_allocated as i64) / N as i64;
    // All pages gone meanwhile, this test's own (its lists) included.
    let pages = avail(&pre) as i64 - avail(&mid) as i64;
    for &k in &kids {
        wait_for(k)?;
    }
    ensure!(heap < 4096, "each zombie holds {heap} bytes of kernel heap");
    ensure!(pages < N as i64, "{N} zombies hold {pages} pages");
    Ok(format!("{N} zombies: {heap} heap bytes each, {pages} pages in all (a kernel stack is 8)"))
}

/// Threads created and joined one after another: each is freed as it
/// goes, so the kernel's thread count and heap stay flat however many
/// there were (the "runs out of proc" objection).
pub fn thread_churn() -> Outcome {
    const N: usize = 20_000;
    let base = vmstats()?;
    let t0 = now();
    let mut worst = 0u32;
    let mut heap_hi = 0u64;
    for i in 0..N {
        let h = rt::thread_spawn(|| {}, 16 << 10).ctx("thread_spawn")?;
        h.join();
        if i % 1000 == 999 {
            let s = vmstats()?;
            worst = worst.max(s.nthreads - base.nthreads);
            heap_hi = heap_hi.max(s.heap_allocated.saturating_sub(base.heap_allocated));
        }
    }
    let took = now() - t0;
    ensure!(worst <= 4, "{worst} more kernel threads than at the start, sampled during the churn");
    ensure!(heap_hi < 256 << 10, "kernel heap grew by {heap_hi} bytes during the churn");
    counts_back(&base, "the churn")?;
    Ok(format!(
        "{N} threads one after another in {took:?} ({:?} each): at most {worst} extra, heap +{heap_hi} bytes",
        took / N as u32
    ))
}
