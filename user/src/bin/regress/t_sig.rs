//! Signals: handlers and sigreturn, EINTR, blocking, SIG_IGN, kill to
//! self, a child, a group and everyone, SIGKILL's guarantees, stop and
//! continue, SIGCHLD, SA_RESETHAND.

use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use core::time::Duration;

use rt::prelude::*;
use rt::process::WaitStatus;
use rt::signal::{Handler, raise, signal};
use sys::signal::*;
use sys::sysctl::SSTOP;
use sys::time::Timespec;
use sys::wait::{WCONTINUED, WNOHANG, WUNTRACED};

use crate::util::*;

static HITS: AtomicU32 = AtomicU32::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);
static MASK_IN: AtomicU32 = AtomicU32::new(0);

extern "C" fn count(sig: i32) {
    HITS.fetch_add(1, Ordering::SeqCst);
    LAST.store(sig, Ordering::SeqCst);
    // SIG_BLOCK of nothing reads the mask in force inside the handler.
    MASK_IN.store(rt::sigprocmask(SIG_BLOCK, 0).unwrap_or(0), Ordering::SeqCst);
}

fn hits() -> u32 {
    HITS.load(Ordering::SeqCst)
}

fn catch(sig: u32, flags: i32) -> Res<()> {
    let a = SigAction { sa_handler: Handler::Catch(count).raw(), sa_mask: 0, sa_flags: flags };
    rt::sigaction(sig, Some(&a), None).ctx("sigaction")
}

/// Wait up to `limit` for the handler count to reach `n`.
fn await_hits(n: u32, limit: Duration) -> bool {
    let t0 = now();
    while hits() < n {
        if now() - t0 > limit {
            return false;
        }
        sleep_ms(5);
    }
    true
}

/// A handler runs with its signal blocked, gets the right number, and
/// returns (through the trampoline and sigreturn) to the interrupted code
/// with the mask and the registers as they were; a signal from another
/// process reaches it too.
pub fn handler() -> Outcome {
    let before = rt::sigprocmask(SIG_BLOCK, 0).ctx("sigprocmask")?;
    catch(SIGUSR1, SA_RESTART)?;
    let x = core::hint::black_box(0x1234_5678_9abc_def0u64);
    raise(SIGUSR1).ctx("kill(self)")?;
    let y = core::hint::black_box(x);
    ensure!(hits() == 1, "handler ran {} times for one raise", hits());
    ensure!(
        LAST.load(Ordering::SeqCst) == SIGUSR1 as i32,
        "handler got signal {}",
        LAST.load(Ordering::SeqCst)
    );
    let inside = MASK_IN.load(Ordering::SeqCst);
    ensure!(inside & sigmask(SIGUSR1) != 0, "SIGUSR1 not blocked inside its handler (mask {inside:#x})");
    let after = rt::sigprocmask(SIG_BLOCK, 0).ctx("sigprocmask")?;
    ensure!(after == before, "mask {before:#x} before the handler, {after:#x} after sigreturn");
    ensure!(y == 0x1234_5678_9abc_def0, "a value live across the signal changed");
    let me = rt::getpid();
    let pid = spawn(move || rt::kill(me, SIGUSR1).map_or(1, |_| 0))?;
    let got = await_hits(2, Duration::from_secs(3));
    expect_exit("sender", wait_for(pid)?, 0)?;
    ensure!(got, "SIGUSR1 from another process never reached the handler");
    Ok("ran masked, returned with mask and values intact; also from another process".into())
}

/// A handler interrupting nanosleep makes it fail with EINTR and report
/// the time left.
pub fn eintr() -> Outcome {
    catch(SIGUSR1, 0)?;
    // Signal repeatedly, so a signal that lands before the sleep starts
    // does not leave the sleep uninterrupted.
    let pid = signal_repeatedly(rt::getpid(), SIGUSR1, 100)?;
    let req = Timespec { tv_sec: 5, tv_nsec: 0 };
    let mut rem = Timespec::default();
    let t0 = now();
    let r = rt::nanosleep(&req, Some(&mut rem));
    let slept = now() - t0;
    let _ = rt::kill(pid, SIGKILL);
    let _ = wait_for(pid);
    expect_err("nanosleep(5 s) with signals coming", r, Errno::EINTR)?;
    ensure!(hits() >= 1, "nanosleep failed with EINTR but the handler never ran");
    let left = rt::time::to_duration(rem);
    ensure!(slept < Duration::from_secs(4), "the sleep lasted {slept:?} before EINTR");
    ensure!(
        left > Duration::ZERO && left <= Duration::from_secs(5),
        "rem is {rem:?} after {slept:?} of a 5 s sleep"
    );
    Ok(format!("EINTR after {slept:?}, {left:?} left"))
}

/// A blocked signal stays pending and is delivered when unblocked.
pub fn mask() -> Outcome {
    catch(SIGUSR1, SA_RESTART)?;
    let old = rt::sigprocmask(SIG_BLOCK, sigmask(SIGUSR1)).ctx("sigprocmask(SIG_BLOCK)")?;
    ensure!(old & sigmask(SIGUSR1) == 0, "SIGUSR1 already blocked");
    raise(SIGUSR1).ctx("kill(self)")?;
    sleep_ms(20);
    ensure!(hits() == 0, "a blocked SIGUSR1 was delivered");
    let was = rt::sigprocmask(SIG_UNBLOCK, sigmask(SIGUSR1)).ctx("sigprocmask(SIG_UNBLOCK)")?;
    ensure!(was & sigmask(SIGUSR1) != 0, "old mask {was:#x} lacks SIGUSR1");
    ensure!(hits() == 1, "unblocking delivered {} signals, expected 1 at once", hits());
    // SIGKILL and SIGSTOP cannot be blocked: the mask drops them.
    let _ = rt::sigprocmask(SIG_SETMASK, !0).ctx("sigprocmask(SIG_SETMASK)")?;
    let m = rt::sigprocmask(SIG_SETMASK, 0).ctx("sigprocmask")?;
    ensure!(m & (sigmask(SIGKILL) | sigmask(SIGSTOP)) == 0, "mask {m:#x} blocks SIGKILL or SIGSTOP");
    expect_err("sigprocmask(how 99)", rt::sigprocmask(99, 0), Errno::EINVAL)?;
    Ok("held while blocked, delivered once on unblock".into())
}

/// SIG_IGN: the signal does nothing (SIGUSR1 would otherwise kill), and
/// setting SIG_IGN discards one already pending.
pub fn ignore() -> Outcome {
    signal(SIGUSR1, Handler::Ignore).ctx("signal(SIG_IGN)")?;
    for _ in 0..3 {
        raise(SIGUSR1).ctx("kill(self)")?;
    }
    catch(SIGUSR2, SA_RESTART)?;
    rt::sigprocmask(SIG_BLOCK, sigmask(SIGUSR2)).ctx("sigprocmask")?;
    raise(SIGUSR2).ctx("kill(self)")?;
    signal(SIGUSR2, Handler::Ignore).ctx("signal(SIG_IGN)")?;
    catch(SIGUSR2, SA_RESTART)?;
    rt::sigprocmask(SIG_UNBLOCK, sigmask(SIGUSR2)).ctx("sigprocmask")?;
    ensure!(hits() == 0, "a pending signal survived being set to SIG_IGN");
    // A child inherits the ignored disposition.
    let st = in_child(|| {
        let _ = raise(SIGUSR1);
        0
    })?;
    expect_exit("child raising an ignored SIGUSR1", st, 0)?;
    Ok("ignored 3 times, pending discarded, inherited".into())
}

pub fn kill_self() -> Outcome {
    let st = in_child(|| {
        let _ = rt::kill(rt::getpid(), SIGTERM);
        // Delivery happens on the way out of kill.
        0
    })?;
    expect_signal("kill(getpid(), SIGTERM)", st, SIGTERM)?;
    catch(SIGUSR1, SA_RESTART)?;
    rt::kill(rt::getpid(), SIGUSR1).ctx("kill(self, SIGUSR1)")?;
    ensure!(hits() == 1, "handler ran {} times", hits());
    Ok("default action terminates, a handler catches".into())
}

fn sleeper() -> Res<i32> {
    spawn(|| {
        for _ in 0..200 {
            sleep_ms(50);
        }
        99
    })
}

pub fn kill_child() -> Outcome {
    let pid = sleeper()?;
    rt::kill(pid, SIGTERM).ctx("kill(child, SIGTERM)")?;
    expect_signal("child", wait_for(pid)?, SIGTERM)?;
    expect_err("kill(reaped child)", rt::kill(pid, 0), Errno::ESRCH)?;
    expect_err("kill(pid 99999)", rt::kill(99_999, SIGTERM), Errno::ESRCH)?;
    expect_err("kill(self, 99)", rt::kill(rt::getpid(), 99), Errno::EINVAL)?;
    Ok("killed by SIGTERM; ESRCH and EINVAL as expected".into())
}

/// Two children in a group of their own both die of a kill to the group;
/// the sender, outside it, does not.
pub fn kill_pgrp() -> Outcome {
    let a = spawn(|| {
        let _ = rt::setpgid(0, 0);
        for _ in 0..200 {
            sleep_ms(50);
        }
        99
    })?;
    let _ = rt::setpgid(a, a);
    let b = spawn(move || {
        let _ = rt::setpgid(0, a);
        for _ in 0..200 {
            sleep_ms(50);
        }
        99
    })?;
    let _ = rt::setpgid(b, a);
    let ga = rt::getpgid(a).ctx("getpgid(a)")?;
    let gb = rt::getpgid(b).ctx("getpgid(b)")?;
    ensure!(ga == a && gb == a, "groups: a {ga}, b {gb}, expected {a}");
    rt::kill(-a, SIGTERM).ctx("kill(-pgid, SIGTERM)")?;
    expect_signal("first child", wait_for(a)?, SIGTERM)?;
    expect_signal("second child", wait_for(b)?, SIGTERM)?;
    expect_err("kill(-pgid) of an empty group", rt::kill(-a, SIGTERM), Errno::ESRCH)?;
    Ok(format!("group {a}: both children killed"))
}

/// Signal 0 only checks that the target exists.
pub fn kill_probe() -> Outcome {
    rt::kill(-1, 0).ctx("kill(-1, 0)")?;
    rt::kill(rt::getpid(), 0).ctx("kill(self, 0)")?;
    rt::kill(0, 0).ctx("kill(0, 0)")?;
    let pid = sleeper()?;
    rt::kill(pid, 0).ctx("kill(child, 0)")?;
    ensure!(rt::waitpid(pid, WNOHANG).ctx("wait4")?.0 == 0, "signal 0 ended the child");
    rt::kill(pid, SIGKILL).ctx("kill(child, SIGKILL)")?;
    wait_for(pid)?;
    Ok("kill(-1, 0), self, group, child: all succeed".into())
}

/// SIGKILL (and SIGSTOP) can be neither caught nor ignored, and kill a
/// process that blocks and ignores everything else.
pub fn sigkill() -> Outcome {
    let h = SigAction { sa_handler: Handler::Catch(count).raw(), sa_mask: 0, sa_flags: 0 };
    let ign = SigAction { sa_handler: SIG_IGN, sa_mask: 0, sa_flags: 0 };
    expect_err("sigaction(SIGKILL, handler)", rt::sigaction(SIGKILL, Some(&h), None), Errno::EINVAL)?;
    expect_err("sigaction(SIGKILL, SIG_IGN)", rt::sigaction(SIGKILL, Some(&ign), None), Errno::EINVAL)?;
    expect_err("sigaction(SIGSTOP, handler)", rt::sigaction(SIGSTOP, Some(&h), None), Errno::EINVAL)?;
    expect_err("sigaction(0)", rt::sigaction(0, Some(&h), None), Errno::EINVAL)?;
    expect_err("sigaction(NSIG)", rt::sigaction(NSIG, Some(&h), None), Errno::EINVAL)?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        let _ = signal(SIGTERM, Handler::Ignore);
        let _ = rt::sigprocmask(SIG_SETMASK, !0);
        let _ = write_all(w, b"r");
        for _ in 0..200 {
            sleep_ms(50);
        }
        99
    })?;
    let _ = read_byte(r)?;
    rt::kill(pid, SIGTERM).ctx("kill(SIGTERM)")?;
    rt::kill(pid, SIGUSR1).ctx("kill(SIGUSR1)")?;
    sleep_ms(50);
    ensure!(
        rt::waitpid(pid, WNOHANG).ctx("wait4")?.0 == 0,
        "a child blocking everything died of SIGTERM/SIGUSR1"
    );
    rt::kill(pid, SIGKILL).ctx("kill(SIGKILL)")?;
    expect_signal("child blocking every signal", wait_for(pid)?, SIGKILL)?;
    Ok("EINVAL for SIGKILL/SIGSTOP actions; SIGKILL kills through a full mask".into())
}

/// wait4 with WNOHANG plus `opts`, polled until it reports `pid`.
fn wait_opts(pid: i32, opts: i32) -> Res<WaitStatus> {
    let t0 = now();
    loop {
        let (p, st) = rt::waitpid(pid, WNOHANG | opts).ctx("wait4")?;
        if p == pid {
            return Ok(st);
        }
        ensure!(now() - t0 < Duration::from_secs(5), "wait4(options {opts:#x}) reported nothing for 5 s");
        sleep_ms(5);
    }
}

/// SIGSTOP stops a child (wait4 WUNTRACED reports it, the process list
/// shows SSTOP, it answers nothing), SIGCONT continues it (WCONTINUED),
/// and a stopped child still dies of SIGKILL.
pub fn stop_cont() -> Outcome {
    let [pr, pw] = rt::pipe().ctx("pipe")?;
    let [cr, cw] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        let _ = rt::close(pw);
        while let Ok(Some(b)) = read_byte(pr) {
            if write_all(cw, &[b + 1]).is_err() {
                return 2;
            }
        }
        0
    })?;
    let _ = rt::close(pr);
    write_all(pw, &[1])?;
    ensure!(read_byte(cr)? == Some(2), "no answer before the stop");
    rt::kill(pid, SIGSTOP).ctx("kill(SIGSTOP)")?;
    let st = wait_opts(pid, WUNTRACED)?;
    ensure!(st.stopped() == Some(SIGSTOP), "after SIGSTOP wait4(WUNTRACED) says {st}");
    let k = kinfo(pid)?.ok_or("stopped child not in the process list")?;
    ensure!(k.p_stat == SSTOP, "stopped child's state is {}, not SSTOP ({SSTOP})", k.p_stat);
    write_all(pw, &[10])?;
    sleep_ms(100);
    let k = kinfo(pid)?.ok_or("stopped child vanished")?;
    ensure!(k.p_stat == SSTOP, "stopped child ran: state {} after a write to its pipe", k.p_stat);
    rt::kill(pid, SIGCONT).ctx("kill(SIGCONT)")?;
    let st = wait_opts(pid, WCONTINUED)?;
    ensure!(st.continued(), "after SIGCONT wait4(WCONTINUED) says {st}");
    ensure!(read_byte(cr)? == Some(11), "no answer after SIGCONT");
    let _ = rt::close(pw);
    expect_exit("continued child", wait_for(pid)?, 0)?;

    let pid = sleeper()?;
    rt::kill(pid, SIGSTOP).ctx("kill(SIGSTOP)")?;
    let st = wait_opts(pid, WUNTRACED)?;
    ensure!(st.stopped() == Some(SIGSTOP), "second child: {st}");
    rt::kill(pid, SIGKILL).ctx("kill(SIGKILL)")?;
    expect_signal("stopped child sent SIGKILL", wait_for(pid)?, SIGKILL)?;
    Ok("stopped (WUNTRACED, SSTOP), continued (WCONTINUED), stopped one killed".into())
}

/// The parent gets SIGCHLD when a child exits.
pub fn sigchld() -> Outcome {
    catch(SIGCHLD, SA_RESTART)?;
    let pid = spawn(|| 0)?;
    let got = await_hits(1, Duration::from_secs(5));
    let st = wait_for(pid)?;
    expect_exit("child", st, 0)?;
    ensure!(got, "no SIGCHLD within 5 s of the child's exit");
    ensure!(LAST.load(Ordering::SeqCst) == SIGCHLD as i32, "handler got {}", LAST.load(Ordering::SeqCst));
    Ok("SIGCHLD caught".into())
}

/// SA_RESETHAND: the handler runs once, then the default action applies
/// (SIGUSR1 terminates).
pub fn resethand() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        if catch(SIGUSR1, SA_RESETHAND).is_err() {
            return 2;
        }
        let _ = raise(SIGUSR1);
        let mut now = SigAction::default();
        let _ = rt::sigaction(SIGUSR1, None, Some(&mut now));
        let report = [hits() as u8, (now.sa_handler == SIG_DFL) as u8];
        let _ = write_all(w, &report);
        let _ = raise(SIGUSR1);
        3
    })?;
    let mut b = [0u8; 2];
    let n = read_full(r, &mut b)?;
    let st = wait_for(pid)?;
    ensure!(n == 2, "child reported {n} bytes ({st})");
    ensure!(b[0] == 1, "handler ran {} times for the first signal", b[0]);
    ensure!(b[1] == 1, "action not reset to SIG_DFL after the handler ran");
    expect_signal("second SIGUSR1", st, SIGUSR1)?;
    Ok("handled once, then killed by SIGUSR1".into())
}

/// One level of a descent down the stack, raising SIGUSR1 at each level
/// when `signal`: the signal context lands below the stack pointer, on
/// pages the process may not have touched yet, which the kernel must
/// fault in to deliver it. Returns 0, or the level where the handler
/// did not run.
#[inline(never)]
fn dive(depth: u32, signal: bool) -> u32 {
    let pad = core::hint::black_box([depth as u8; 120]);
    let before = hits();
    if signal && (raise(SIGUSR1).is_err() || hits() != before + 1) {
        return depth;
    }
    let r = if depth == 0 { 0 } else { dive(depth - 1, signal) };
    core::hint::black_box(&pad);
    r
}

/// Signals delivered where the context must go onto stack pages that are
/// not mapped writable yet: on fresh stack while a process's stack grows,
/// and right after fork, when the stack is shared copy-on-write. Two
/// controls tell a kernel problem from a test problem: the same descent
/// without signals, and with signals on stack touched beforehand.
pub fn stack_fault() -> Outcome {
    catch(SIGUSR1, SA_RESTART)?;
    const LEVELS: u32 = 96;
    let quiet = in_child(|| dive(LEVELS, false) as i32)?;
    ensure!(quiet.exited() == Some(0), "control: the descent without signals: child {quiet}");
    let touched = in_child(|| {
        touch_stack(64);
        dive(LEVELS, true) as i32
    })?;
    let fresh = in_child(|| dive(LEVELS, true) as i32)?;
    ensure!(
        fresh.exited() == Some(0),
        "handlers on a growing stack: child {fresh} (on stack touched beforehand: {touched}): \
         the signal context could not be written to a stack page not yet faulted in"
    );
    ensure!(touched.exited() == Some(0), "handlers on pre-touched stack: child {touched}");
    for i in 0..20 {
        let st = in_child(|| {
            let before = hits();
            let _ = raise(SIGUSR1);
            (hits() == before + 1) as i32
        })?;
        ensure!(st.exited() == Some(1), "signal right after fork, round {i}: child {st}");
    }
    Ok(format!("{} signals on a growing stack, 20 right after fork", LEVELS + 1))
}

/// Where the SIGHUP handler of `orphan_hup`'s grandchild reports.
static HUP_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_hup(_sig: i32) {
    let _ = rt::write(HUP_FD.load(Ordering::SeqCst), b"H");
}

/// A stopped process whose group is orphaned by its parent's exit gets
/// SIGHUP and SIGCONT (POSIX), so it is not left stopped forever; while
/// the parent lives it stays stopped.
pub fn orphan_hup() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let middle = spawn(move || {
        let _ = rt::close(r);
        let g = match rt::fork() {
            Ok(0) => {
                let _ = rt::setpgid(0, 0);
                HUP_FD.store(w, Ordering::SeqCst);
                let a = SigAction { sa_handler: Handler::Catch(on_hup).raw(), sa_mask: 0, sa_flags: 0 };
                let _ = rt::sigaction(SIGHUP, Some(&a), None);
                let _ = raise(SIGSTOP);
                rt::exit(0)
            }
            Ok(g) => g,
            Err(_) => return 2,
        };
        let _ = rt::setpgid(g, g);
        match rt::waitpid(g, WUNTRACED) {
            Ok((_, st)) if st.stopped().is_some() => {}
            _ => return 3,
        }
        let _ = write_all(w, &g.to_ne_bytes());
        sleep_ms(200);
        0
    })?;
    let _ = rt::close(w);
    let mut gb = [0u8; 4];
    ensure!(read_full(r, &mut gb)? == 4, "the middle process did not see its child stop");
    let g = i32::from_ne_bytes(gb);
    let k = kinfo(g)?.ok_or("stopped grandchild not listed")?;
    ensure!(k.p_stat == SSTOP, "grandchild state {} while its parent lives, not SSTOP", k.p_stat);
    expect_exit("middle process", wait_for(middle)?, 0)?;
    let got = read_byte(r)?;
    ensure!(got == Some(b'H'), "orphaned stopped grandchild {g}: {got:?} on the pipe, not SIGHUP's report");
    Ok(format!("grandchild {g} stopped while its parent lived, then SIGHUP and SIGCONT"))
}
