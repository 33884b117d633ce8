//! fork, exit and wait4: statuses, which child a wait picks, WNOHANG,
//! ECHILD, process groups, rusage, getppid, orphans.

use core::time::Duration;

use rt::prelude::*;
use sys::wait::{WAIT_ANY, WNOHANG};

use crate::util::*;

/// Exit statuses make the round trip through wait4; only the low 8 bits
/// of exit's argument count.
pub fn exit_status() -> Outcome {
    let codes = [0, 1, 2, 42, 127, 128, 200, 255];
    for &c in &codes {
        let st = in_child(move || c)?;
        ensure!(sys::wait::wifexited(st.0), "exit({c}): not WIFEXITED: {st:?}");
        ensure!(sys::wait::wexitstatus(st.0) == c, "exit({c}): WEXITSTATUS {}", sys::wait::wexitstatus(st.0));
        ensure!(!sys::wait::wifsignaled(st.0), "exit({c}): WIFSIGNALED: {st:?}");
    }
    let st = in_child(|| 256 + 3)?;
    expect_exit("exit(259)", st, 3)?;
    Ok(format!("{} statuses round trip, 259 -> 3", codes.len()))
}

/// A child that waits for one byte on `fd` (or end of file), then exits
/// with `code`.
fn gated(fd: i32, code: i32) -> Res<i32> {
    spawn(move || {
        let _ = read_byte(fd);
        code
    })
}

/// wait4 for a given pid returns that child, even when others finished
/// first.
pub fn wait_pid() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let a = spawn(|| 11)?;
    let b = gated(r, 12)?;
    let c = spawn(|| 13)?;
    // a and c are (or soon are) zombies; b waits until we write.
    sleep_ms(50);
    write_all(w, b"x")?;
    let (p, st) = rt::waitpid(b, 0).ctx("wait4(b)")?;
    ensure!(p == b, "wait4({b}) returned {p}");
    expect_exit("b", st, 12)?;
    let (p, st) = rt::waitpid(c, 0).ctx("wait4(c)")?;
    ensure!(p == c, "wait4({c}) returned {p}");
    expect_exit("c", st, 13)?;
    let (p, st) = rt::waitpid(a, 0).ctx("wait4(a)")?;
    ensure!(p == a, "wait4({a}) returned {p}");
    expect_exit("a", st, 11)?;
    Ok(format!("reaped {b}, {c}, {a} by pid"))
}

/// wait4(-1) returns each child exactly once, with its own status.
pub fn wait_any() -> Outcome {
    let mut kids = Vec::new();
    for i in 0..5 {
        kids.push((spawn(move || 20 + i)?, 20 + i));
    }
    for _ in 0..kids.len() {
        let (p, st) = rt::waitpid(WAIT_ANY, 0).ctx("wait4(-1)")?;
        let i = kids.iter().position(|&(k, _)| k == p);
        ensure!(i.is_some(), "wait4(-1) returned {p}, not one of {kids:?}");
        let (_, code) = kids.remove(i.unwrap());
        expect_exit("child", st, code)?;
    }
    expect_err("wait4(-1) with none left", rt::waitpid(WAIT_ANY, 0), Errno::ECHILD)?;
    Ok("5 children, each once, then ECHILD".into())
}

/// WNOHANG returns 0 while the child runs; then the child is collected.
pub fn wait_nohang() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = gated(r, 5)?;
    for _ in 0..3 {
        let (p, _) = rt::waitpid(pid, WNOHANG).ctx("wait4 WNOHANG")?;
        ensure!(p == 0, "wait4(WNOHANG) returned {p} while the child runs");
        let (p, _) = rt::waitpid(WAIT_ANY, WNOHANG).ctx("wait4(-1, WNOHANG)")?;
        ensure!(p == 0, "wait4(-1, WNOHANG) returned {p} while the child runs");
        sleep_ms(10);
    }
    write_all(w, b"x")?;
    let st = wait_for(pid)?;
    expect_exit("child", st, 5)?;
    Ok("0 while running, then exit 5".into())
}

/// ECHILD with no children, for a pid that is not a child, and for a
/// group with no children in it.
pub fn wait_echild() -> Outcome {
    expect_err("wait4(-1)", rt::waitpid(WAIT_ANY, 0), Errno::ECHILD)?;
    expect_err("wait4(-1, WNOHANG)", rt::waitpid(WAIT_ANY, WNOHANG), Errno::ECHILD)?;
    expect_err("wait4(1)", rt::waitpid(1, 0), Errno::ECHILD)?;
    expect_err("wait4(0)", rt::waitpid(0, 0), Errno::ECHILD)?;
    let me = rt::getpid();
    expect_err("wait4(-mygroup)", rt::waitpid(-me, 0), Errno::ECHILD)?;
    let pid = spawn(|| 0)?;
    wait_for(pid)?;
    expect_err("wait4(reaped pid)", rt::waitpid(pid, 0), Errno::ECHILD)?;
    Ok("no children, init's pid, own group, a reaped pid".into())
}

/// A child moved into its own process group is found by wait4(-pgid) and
/// not by a wait on the parent's group.
pub fn wait_pgrp() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(|| {
        let _ = rt::setpgid(0, 0);
        let _ = read_byte(r);
        9
    })?;
    rt::setpgid(pid, pid).ctx("setpgid(child, child)")?;
    let g = rt::getpgid(pid).ctx("getpgid(child)")?;
    ensure!(g == pid, "child's group is {g}, not {pid}");
    write_all(w, b"x")?;
    // The child is not in our group: waiting on it must find nothing.
    sleep_ms(20);
    expect_err("wait4(0) (own group)", rt::waitpid(0, 0), Errno::ECHILD)?;
    let (p, st) = rt::waitpid(-pid, 0).ctx("wait4(-pgid)")?;
    ensure!(p == pid, "wait4(-{pid}) returned {p}");
    expect_exit("child", st, 9)?;
    Ok(format!("child {pid} reaped through its group"))
}

/// The rusage wait4 returns shows the CPU time of a child that spun.
pub fn wait_rusage_cpu() -> Outcome {
    let before = rt::getrusage(sys::resource::RUSAGE_CHILDREN).ctx("getrusage(CHILDREN)")?;
    let pid = spawn(|| {
        let t0 = now();
        let mut x = 0u64;
        while now() - t0 < Duration::from_millis(300) {
            for i in 0..1000u64 {
                x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        core::hint::black_box(x);
        0
    })?;
    let (st, ru) = wait_rusage(pid, CHILD_LIMIT)?;
    expect_exit("spinner", st, 0)?;
    let us = |t: sys::time::Timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let cpu = us(ru.ru_utime) + us(ru.ru_stime);
    ensure!(cpu > 0, "wait4 rusage shows no CPU time for a 300 ms spin: {:?}/{:?}", ru.ru_utime, ru.ru_stime);
    let after = rt::getrusage(sys::resource::RUSAGE_CHILDREN).ctx("getrusage(CHILDREN)")?;
    let grown = us(after.ru_utime) + us(after.ru_stime) - us(before.ru_utime) - us(before.ru_stime);
    ensure!(grown >= cpu, "RUSAGE_CHILDREN grew by {grown} us, less than the child's {cpu} us");
    Ok(format!("user {} us, sys {} us", us(ru.ru_utime), us(ru.ru_stime)))
}

/// getppid in a child is its parent's pid.
pub fn getppid_child() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let me = rt::getpid();
    let pid = spawn(|| {
        let pp = rt::getppid();
        let _ = write_all(w, &pp.to_ne_bytes());
        0
    })?;
    let mut b = [0u8; 4];
    let n = read_full(r, &mut b)?;
    wait_for(pid)?;
    ensure!(n == 4, "child wrote {n} bytes");
    let pp = i32::from_ne_bytes(b);
    ensure!(pp == me, "child's getppid is {pp}, parent is {me}");
    Ok(format!("child {pid} sees parent {me}"))
}

/// A child forks a grandchild and exits: the grandchild is reparented to
/// init (pid 1 — regress itself when it runs as init, which reaps it in
/// its harness loop) and its getppid says so.
pub fn orphan() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let [gr, gw] = rt::pipe().ctx("pipe")?;
    let mid = spawn(|| {
        let [hr, hw] = match rt::pipe() {
            Ok(p) => p,
            Err(_) => return 2,
        };
        match rt::fork() {
            Ok(0) => {
                let before = rt::getppid();
                let _ = write_all(hw, b"h");
                // Wait until the middle process is gone: the parent says
                // when it has reaped it.
                let _ = read_byte(gr);
                let after = rt::getppid();
                let mut msg = [0u8; 8];
                msg[..4].copy_from_slice(&before.to_ne_bytes());
                msg[4..].copy_from_slice(&after.to_ne_bytes());
                let _ = write_all(w, &msg);
                rt::exit(0)
            }
            // Exit only once the grandchild has looked at its parent.
            Ok(_) => read_byte(hr).map_or(4, |_| 0),
            Err(_) => 3,
        }
    })?;
    let st = wait_for(mid)?;
    expect_exit("middle process", st, 0)?;
    write_all(gw, b"g")?;
    let mut b = [0u8; 8];
    let n = read_full(r, &mut b)?;
    ensure!(n == 8, "grandchild reported {n} bytes");
    let before = i32::from_ne_bytes(b[..4].try_into().unwrap());
    let after = i32::from_ne_bytes(b[4..].try_into().unwrap());
    ensure!(before == mid, "grandchild's first getppid {before}, expected its parent {mid}");
    ensure!(after == 1, "grandchild's getppid after its parent was reaped is {after}, expected 1 (init)");
    Ok(format!("grandchild's parent {mid} -> 1"))
}
