//! Threads on __tfork (through the runtime): several at once with the
//! kernel's thread count following, a thread exiting alone, the main
//! thread exiting the process under spinning threads, a thread calling
//! exit(), and the main thread leaving by __threxit.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use rt::prelude::*;

use crate::util::*;

const STACK: usize = 64 << 10;

fn nthreads() -> Res<u32> {
    Ok(vmstats()?.nthreads)
}

/// Wait until the kernel's thread count is `n` (exited threads are freed
/// by the kernel a little after they leave user space).
fn await_nthreads(n: u32) -> Res<Duration> {
    let t0 = now();
    let (s, ok) = vmstats_until(Duration::from_secs(3), |s| s.nthreads == n)?;
    ensure!(ok, "kernel thread count is {} 3 s later, expected {n}", s.nthreads);
    Ok(now() - t0)
}

/// Spin without system calls until `flag` is set.
fn spin_until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

pub fn spawn_join() -> Outcome {
    const N: usize = 8;
    static GO: AtomicBool = AtomicBool::new(false);
    static STARTED: AtomicU32 = AtomicU32::new(0);
    static SUM: AtomicUsize = AtomicUsize::new(0);
    static TIDS: [AtomicUsize; N] = [const { AtomicUsize::new(0) }; N];
    let base = nthreads()?;
    let mut hs = Vec::new();
    for (i, tid) in TIDS.iter().enumerate() {
        let h = rt::thread_spawn(
            move || {
                tid.store(rt::getthrid() as usize, Ordering::SeqCst);
                STARTED.fetch_add(1, Ordering::SeqCst);
                spin_until(&GO);
                let v: Vec<usize> = (0..=i * 100).collect();
                SUM.fetch_add(v.iter().sum(), Ordering::SeqCst);
            },
            STACK,
        )
        .ctx("thread_spawn")?;
        hs.push(h);
    }
    let t0 = now();
    while STARTED.load(Ordering::SeqCst) < N as u32 {
        ensure!(
            now() - t0 < Duration::from_secs(10),
            "only {} of {N} threads started",
            STARTED.load(Ordering::SeqCst)
        );
        rt::sched_yield();
    }
    let during = nthreads()?;
    GO.store(true, Ordering::Release);
    let tids: Vec<i32> = hs.iter().map(|h| h.tid()).collect();
    for h in hs {
        h.join();
    }
    let want: usize = (0..N).map(|i| (0..=i * 100).sum::<usize>()).sum();
    ensure!(
        SUM.load(Ordering::SeqCst) == want,
        "threads summed {}, expected {want}",
        SUM.load(Ordering::SeqCst)
    );
    let seen: Vec<i32> = TIDS.iter().map(|t| t.load(Ordering::SeqCst) as i32).collect();
    ensure!(seen == tids, "getthrid in the threads {seen:?}, __tfork returned {tids:?}");
    let me = rt::getthrid();
    ensure!(!tids.contains(&me), "a thread has the main thread's id {me}");
    ensure!(
        during == base + N as u32,
        "kernel thread count {during} with {N} threads running, expected {base} + {N}"
    );
    let lag = await_nthreads(base)?;
    Ok(format!("{N} threads, count {base} -> {during} -> {base} ({lag:?} after join)"))
}

/// A thread that ends itself with thread_exit: the process goes on and
/// the thread is gone from the kernel's count.
pub fn exit_alone() -> Outcome {
    static STEP: AtomicU32 = AtomicU32::new(0);
    let base = nthreads()?;
    let pid0 = rt::getpid();
    let h = rt::thread_spawn(
        || {
            STEP.store(1, Ordering::SeqCst);
            rt::thread_exit();
        },
        STACK,
    )
    .ctx("thread_spawn")?;
    h.join();
    ensure!(STEP.load(Ordering::SeqCst) == 1, "the thread did not run");
    let lag = await_nthreads(base)?;
    let k = kinfo(pid0)?.ok_or("process gone from the process list")?;
    ensure!(k.p_nthreads == 1, "process has {} threads after the other exited", k.p_nthreads);
    // The process is whole: it can still fork and allocate.
    let st = in_child(|| 0)?;
    expect_exit("child after a thread exit", st, 0)?;
    Ok(format!("process continues with 1 thread; count back {lag:?} after join"))
}

/// Run `f` in a child process and expect it to exit with `code` within
/// `limit`; then the kernel's thread count must return to what it was.
fn process_ends(f: impl FnOnce() -> i32, code: i32) -> Res<Duration> {
    let base = nthreads()?;
    let t0 = now();
    let pid = spawn(f)?;
    let st = wait_for(pid)?;
    let took = now() - t0;
    expect_exit("threaded child", st, code)?;
    await_nthreads(base)?;
    Ok(took)
}

/// exit() from the main thread while three others spin in user mode
/// (never entering the kernel on their own) ends the whole process with
/// the main thread's status.
pub fn main_exit() -> Outcome {
    let took = process_ends(
        || {
            static STARTED: AtomicU32 = AtomicU32::new(0);
            static NEVER: AtomicBool = AtomicBool::new(false);
            for _ in 0..3 {
                let h = rt::thread_spawn(
                    || {
                        STARTED.fetch_add(1, Ordering::SeqCst);
                        spin_until(&NEVER);
                    },
                    STACK,
                );
                // Dropping the handle detaches the thread.
                if h.is_err() {
                    return 2;
                }
            }
            while STARTED.load(Ordering::SeqCst) < 3 {
                rt::sched_yield();
            }
            rt::exit(42)
        },
        42,
    )?;
    Ok(format!("exit(42) with 3 spinning threads: status 42 after {took:?}"))
}

/// exit() from a spawned thread ends the process, both while the main
/// thread sleeps in the kernel and while it spins in user mode.
pub fn thread_calls_exit() -> Outcome {
    let sleeping = process_ends(
        || {
            let h = rt::thread_spawn(
                || {
                    sleep_ms(50);
                    rt::exit(43);
                },
                STACK,
            );
            if h.is_err() {
                return 2;
            }
            sleep_ms(20_000);
            1
        },
        43,
    )?;
    let spinning = process_ends(
        || {
            static NEVER: AtomicBool = AtomicBool::new(false);
            let h = rt::thread_spawn(
                || {
                    sleep_ms(50);
                    rt::exit(44);
                },
                STACK,
            );
            if h.is_err() {
                return 2;
            }
            spin_until(&NEVER);
            1
        },
        44,
    )?;
    Ok(format!("main sleeping: status 43 ({sleeping:?}); main spinning: status 44 ({spinning:?})"))
}

/// The main thread leaves with __threxit; the other thread sees the
/// process down to one thread, reports, and ends the process with exit().
pub fn main_threxit() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let took = process_ends(
        move || {
            let pid = rt::getpid();
            let h = rt::thread_spawn(
                move || {
                    let t0 = now();
                    let mut n = 0;
                    while now() - t0 < Duration::from_secs(5) {
                        n = kinfo(pid).ok().flatten().map_or(0, |k| k.p_nthreads);
                        if n == 1 {
                            break;
                        }
                        sleep_ms(10);
                    }
                    let _ = write_all(w, &[n as u8]);
                    rt::exit(45);
                },
                STACK,
            );
            if h.is_err() {
                return 2;
            }
            rt::thread_exit()
        },
        45,
    )?;
    let n = read_byte(r)?;
    ensure!(n == Some(1), "the surviving thread saw {n:?} threads, expected 1");
    Ok(format!("main thread gone, the other ran on alone and exited 45 ({took:?})"))
}

/// Many threaded processes in a row, each ended by exit() while its other
/// threads spin in user mode on other CPUs — from the main thread in even
/// rounds, from a spawned thread in odd ones. Every process must end with
/// that status, and the kernel must survive tearing each address space
/// down right after its threads were single-threaded out (DESIGN
/// invariant 2: no sibling may still be running on the pmap). Rounds go
/// on for a few seconds (fewer on one slow CPU, where each round waits
/// for time slices), as the window being probed is narrow.
pub fn exit_race() -> Outcome {
    const MAX_ROUNDS: i32 = 400;
    // One spinner per other CPU: more would wait for time slices and
    // slow every round down.
    let ncpu =
        rt::sysctl::sysctl_read::<i32>(&[sys::sysctl::CTL_HW, sys::sysctl::HW_NCPU]).ctx("sysctl hw.ncpu")?;
    let spinners = (ncpu as u32).saturating_sub(1).clamp(1, 7);
    let budget = Duration::from_secs(8);
    let base = nthreads()?;
    let t0 = now();
    let mut rounds = 0;
    while rounds < MAX_ROUNDS && (rounds < 8 || now() - t0 < budget) {
        let round = rounds;
        let code = 10 + round % 100;
        let pid = spawn(move || {
            static STARTED: AtomicU32 = AtomicU32::new(0);
            static NEVER: AtomicBool = AtomicBool::new(false);
            for _ in 0..spinners {
                let h = rt::thread_spawn(
                    || {
                        STARTED.fetch_add(1, Ordering::SeqCst);
                        spin_until(&NEVER);
                    },
                    STACK,
                );
                if h.is_err() {
                    return 2;
                }
            }
            while STARTED.load(Ordering::SeqCst) < spinners {
                rt::sched_yield();
            }
            if round % 2 == 1 {
                let h = rt::thread_spawn(move || rt::exit(code), STACK);
                if h.is_err() {
                    return 3;
                }
                spin_until(&NEVER);
            }
            code
        })?;
        let st = wait_for(pid)?;
        expect_exit(&format!("round {round}"), st, code)?;
        rounds += 1;
    }
    let took = now() - t0;
    await_nthreads(base)?;
    Ok(format!("{rounds} processes with {spinners} spinning threads each exited correctly in {took:?}"))
}
