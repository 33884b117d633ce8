//! Fork until the process limit: EAGAIN must come at the limit (not
//! ENOMEM, not a panic, not never), every child must die of one SIGKILL
//! each and be reaped, the counts and free pages must return to what they
//! were, and fork must work again.
//!
//! The storm runs twice. The first round also grows whatever the kernel
//! keeps at its high-water mark (its heap, page tables of the kernel
//! stack area), so only the counts must come back after it; the second
//! round must give back every page too. The first round's page delta is
//! reported, and the final `baseline` test holds the whole run to the
//! very first reading.

use core::time::Duration;

use rt::prelude::*;
use sys::signal::SIGKILL;
use sys::sysctl::KernVmStats;
use sys::wait::{WAIT_ANY, WNOHANG};

use crate::util::*;

struct Round {
    forked: usize,
    before: KernVmStats,
    at_stop: KernVmStats,
    after: KernVmStats,
    fork_time: Duration,
    reap_time: Duration,
}

impl Round {
    fn pages(&self) -> i64 {
        avail(&self.after) as i64 - avail(&self.before) as i64
    }
}

/// Fork until fork fails, kill and reap every child; `kids` has room for
/// more than the limit.
fn round(kids: &mut Vec<i32>) -> Res<Round> {
    kids.clear();
    let before = vmstats()?;
    let cap = kids.capacity();
    let t0 = now();
    let stop = loop {
        match rt::fork() {
            Ok(0) => {
                // Children wait to be killed; they give up on their own
                // after a minute so a broken kill cannot leave them.
                for _ in 0..600 {
                    sleep_ms(100);
                }
                rt::exit(99)
            }
            Ok(pid) => {
                kids.push(pid);
                if kids.len() >= cap {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    let at_stop = vmstats()?;
    let forked = kids.len();
    let fork_time = now() - t0;
    for &k in kids.iter() {
        let _ = rt::kill(k, SIGKILL);
    }
    // Reap them all under one deadline, in whatever order they die.
    let mut bad = Vec::new();
    let mut left = forked;
    let t1 = now();
    while left > 0 {
        match rt::waitpid(WAIT_ANY, WNOHANG) {
            Ok((0, _)) | Err(Errno::EINTR) => {
                if now() - t1 > Duration::from_secs(30) {
                    bad.push(format!("{left} children not reaped 30 s after SIGKILL"));
                    break;
                }
                sleep_ms(5);
            }
            Ok((p, st)) => {
                if kids.contains(&p) {
                    left -= 1;
                }
                if st.signaled() != Some(SIGKILL) {
                    bad.push(format!("{p} {st}"));
                }
            }
            Err(e) => {
                bad.push(format!("wait4: {e} with {left} children unreaped"));
                break;
            }
        }
    }
    let reap_time = now() - t1;
    match stop {
        Err(Errno::EAGAIN) => {}
        Err(e) => return Err(format!("fork failed with {e:?} after {forked} children, expected EAGAIN")),
        Ok(()) => return Err(format!("{forked} forks succeeded: no limit at maxprocs {}", before.maxprocs)),
    }
    ensure!(bad.is_empty(), "children not killed by SIGKILL: {}", bad.join("; "));
    ensure!(
        at_stop.nprocs == at_stop.maxprocs || at_stop.nthreads == at_stop.maxthreads,
        "EAGAIN after {forked} children with {} processes (max {}) and {} threads (max {})",
        at_stop.nprocs,
        at_stop.maxprocs,
        at_stop.nthreads,
        at_stop.maxthreads
    );
    let counts = |s: &KernVmStats| s.nprocs == before.nprocs && s.nthreads == before.nthreads;
    let pages = |s: &KernVmStats| counts(s) && avail(s) == avail(&before);
    // Counts must come back; give the pages a moment too, but a
    // difference there is for the caller to judge.
    let (after, _) = vmstats_until(Duration::from_secs(2), pages)?;
    ensure!(
        counts(&after),
        "after reaping all {forked}: processes {} -> {}, threads {} -> {}",
        before.nprocs,
        after.nprocs,
        before.nthreads,
        after.nthreads
    );
    Ok(Round { forked, before, at_stop, after, fork_time, reap_time })
}

pub fn storm() -> Outcome {
    let limit = vmstats()?;
    // Room for every pid up front, and the stack this test will use
    // touched, so that the free page counts compare only what the
    // kernel did.
    let cap = limit.maxprocs as usize + 16;
    let mut kids: Vec<i32> = vec![0; cap];
    touch_stack(32);
    let first = round(&mut kids)?;
    let second = round(&mut kids).map_err(|e| format!("second round: {e}"))?;
    let again = in_child(|| 0)?;
    expect_exit("fork after the storms", again, 0)?;
    ensure!(
        second.pages() == 0,
        "second round: free pages {} -> {} ({:+}) after reaping all {} (first round {:+})",
        second.before.free_pages,
        second.after.free_pages,
        second.pages(),
        second.forked,
        first.pages()
    );
    Ok(format!(
        "EAGAIN after {} children at {}/{} processes ({:?} to fork, {:?} to reap), counts back; pages {:+} then {:+}",
        second.forked,
        second.at_stop.nprocs,
        second.at_stop.maxprocs,
        second.fork_time,
        second.reap_time,
        first.pages(),
        second.pages()
    ))
}
