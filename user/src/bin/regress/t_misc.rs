//! Process ids and groups, sched_yield, clocks, nanosleep, directories,
//! the current directory, stat, and unknown system calls.

use core::time::Duration;

use rt::prelude::*;
use sys::fcntl::{O_DIRECTORY, O_RDONLY};
use sys::stat::{S_IFDIR, S_IFMT, S_IFREG};
use sys::time::{CLOCK_MONOTONIC, Timespec};

use crate::util::*;

pub fn ids() -> Outcome {
    let me = rt::getpid();
    let parent = rt::getppid();
    ensure!(me > 1 && parent >= 1 && me != parent, "pid {me}, ppid {parent}");
    // The harness put each test in a group of its own.
    ensure!(rt::getpgid(0).ctx("getpgid(0)")? == me, "not the leader of its own group");
    ensure!(rt::getpgid(me).ctx("getpgid(self)")? == me, "getpgid(self) differs from getpgid(0)");
    expect_err("getpgid(99999)", rt::getpgid(99_999), Errno::ESRCH)?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        let _ = read_byte(r);
        0
    })?;
    let inherited = rt::getpgid(pid).ctx("getpgid(child)")?;
    rt::setpgid(pid, 0).ctx("setpgid(child, 0)")?;
    let own = rt::getpgid(pid).ctx("getpgid(child)")?;
    rt::setpgid(pid, me).ctx("setpgid(child, my group)")?;
    let back = rt::getpgid(pid).ctx("getpgid(child)")?;
    let neg = rt::setpgid(pid, -1);
    let nogroup = rt::setpgid(pid, 99_999);
    let notchild = rt::setpgid(1, 1);
    write_all(w, b"x")?;
    wait_for(pid)?;
    ensure!(inherited == me, "child starts in group {inherited}, not its parent's {me}");
    ensure!(own == pid, "setpgid(child, 0) put it in {own}, not {pid}");
    ensure!(back == me, "setpgid(child, {me}) put it in {back}");
    expect_err("setpgid(child, -1)", neg, Errno::EINVAL)?;
    expect_err("setpgid(child, no such group)", nogroup, Errno::EPERM)?;
    expect_err("setpgid(init)", notchild, Errno::ESRCH)?;
    Ok(format!("pid {me}, ppid {parent}; child {pid} moved {me} -> {pid} -> {me}"))
}

pub fn sched_yield() -> Outcome {
    for _ in 0..100 {
        // SAFETY: no arguments.
        let r = unsafe { rt::syscall::syscall0(sys::syscall::SYS_sched_yield) };
        ensure!(r == Ok(0), "sched_yield returned {r:?}");
    }
    Ok("100 calls returned 0".into())
}

pub fn clock_monotonic() -> Outcome {
    let mut last = rt::clock_gettime(CLOCK_MONOTONIC).ctx("clock_gettime")?;
    let first = last;
    for i in 0..2000 {
        let t = rt::clock_gettime(CLOCK_MONOTONIC).ctx("clock_gettime")?;
        ensure!((0..1_000_000_000).contains(&t.tv_nsec), "tv_nsec {} out of range", t.tv_nsec);
        ensure!(
            (t.tv_sec, t.tv_nsec) >= (last.tv_sec, last.tv_nsec),
            "went back at read {i}: {last:?} -> {t:?}"
        );
        last = t;
        if i % 500 == 0 {
            rt::sched_yield();
        }
    }
    ensure!(last != first, "the clock did not move over 2000 reads");
    expect_err("clock_gettime(99)", rt::clock_gettime(99), Errno::EINVAL)?;
    Ok(format!(
        "2000 reads non-decreasing over {:?}",
        rt::time::to_duration(last) - rt::time::to_duration(first)
    ))
}

pub fn nanosleep() -> Outcome {
    let mut out = Vec::new();
    for ms in [1u64, 30, 120] {
        let t0 = now();
        rt::nanosleep(&rt::time::to_timespec(Duration::from_millis(ms)), None).ctx("nanosleep")?;
        let took = now() - t0;
        ensure!(took >= Duration::from_millis(ms), "nanosleep({ms} ms) returned after {took:?}");
        out.push(format!("{ms} ms -> {took:?}"));
    }
    rt::nanosleep(&Timespec { tv_sec: 0, tv_nsec: 0 }, None).ctx("nanosleep(0)")?;
    expect_err(
        "nanosleep(tv_nsec 1e9)",
        rt::nanosleep(&Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }, None),
        Errno::EINVAL,
    )?;
    expect_err(
        "nanosleep(tv_sec -1)",
        rt::nanosleep(&Timespec { tv_sec: -1, tv_nsec: 0 }, None),
        Errno::EINVAL,
    )?;
    Ok(out.join(", "))
}

pub fn getdents() -> Outcome {
    let fd = rt::open("/bin", O_RDONLY | O_DIRECTORY, 0).ctx("open /bin")?;
    let mut names = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = rt::getdents(fd, &mut buf).ctx("getdents")?;
        if n == 0 {
            break;
        }
        for d in rt::fs::Dirents::new(&buf[..n]) {
            names.push(String::from(d.name_str()));
        }
        ensure!(names.len() < 10_000, "getdents never ends");
    }
    let _ = rt::close(fd);
    for want in [".", "..", "regress", "regress-child"] {
        ensure!(
            names.iter().any(|n| n == want),
            "\"{want}\" not among /bin's {} entries: {names:?}",
            names.len()
        );
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    ensure!(sorted.len() == names.len(), "duplicate entries in /bin: {names:?}");
    let f = rt::open("/etc/motd", O_RDONLY, 0).ctx("open /etc/motd")?;
    let e = rt::getdents(f, &mut buf);
    let _ = rt::close(f);
    expect_err("getdents on a file", e, Errno::ENOTDIR)?;
    Ok(format!("{} entries in /bin, regress among them", names.len()))
}

pub fn chdir_getcwd() -> Outcome {
    let mut buf = [0u8; 1024];
    rt::chdir("/bin").ctx("chdir /bin")?;
    let cwd = String::from(rt::getcwd(&mut buf).ctx("getcwd")?);
    ensure!(cwd == "/bin", "getcwd says {cwd:?} after chdir(\"/bin\")");
    let st = rt::stat("regress").ctx("stat of a relative path")?;
    ensure!(st.st_mode & S_IFMT == S_IFREG, "relative stat of regress: mode {:o}", st.st_mode);
    // "/bin" and its NUL are 5 bytes.
    expect_err("getcwd into 4 bytes", rt::__getcwd(&mut buf[..4]), Errno::ERANGE)?;
    let n = rt::__getcwd(&mut buf[..5]).ctx("getcwd into 5 bytes")?;
    ensure!(&buf[..5] == b"/bin\0", "getcwd into 5 bytes wrote {:?} (returned {n})", &buf[..5]);
    rt::chdir("/").ctx("chdir /")?;
    let cwd = String::from(rt::getcwd(&mut buf).ctx("getcwd")?);
    ensure!(cwd == "/", "getcwd says {cwd:?} after chdir(\"/\")");
    expect_err("chdir(/etc/motd)", rt::chdir("/etc/motd"), Errno::ENOTDIR)?;
    expect_err("chdir(/nonexistent)", rt::chdir("/nonexistent"), Errno::ENOENT)?;
    Ok("/bin, relative lookup, / ; ENOTDIR, ENOENT, ERANGE".into())
}

pub fn stat() -> Outcome {
    let st = rt::stat("/etc/motd").ctx("stat /etc/motd")?;
    ensure!(st.st_mode & S_IFMT == S_IFREG, "/etc/motd mode {:o}", st.st_mode);
    let fd = rt::open("/etc/motd", O_RDONLY, 0).ctx("open")?;
    let mut total = 0usize;
    let mut buf = [0u8; 512];
    loop {
        let n = rt::read(fd, &mut buf).ctx("read")?;
        if n == 0 {
            break;
        }
        total += n;
    }
    let fst = rt::fstat(fd).ctx("fstat")?;
    let _ = rt::close(fd);
    ensure!(st.st_size as usize == total, "stat size {} but {total} bytes read", st.st_size);
    ensure!(fst.st_ino == st.st_ino && fst.st_size == st.st_size, "fstat and stat disagree");
    let d = rt::stat("/bin").ctx("stat /bin")?;
    ensure!(d.st_mode & S_IFMT == S_IFDIR, "/bin mode {:o}", d.st_mode);
    ensure!(d.st_ino != st.st_ino, "/bin and /etc/motd share inode {}", d.st_ino);
    expect_err("stat(/nonexistent)", rt::stat("/nonexistent"), Errno::ENOENT)?;
    expect_err("stat(/etc/motd/x)", rt::stat("/etc/motd/x"), Errno::ENOTDIR).or_else(|e| {
        // ENOENT is what some systems say for a file used as a directory.
        if e.contains("ENOENT") { Ok(()) } else { Err(e) }
    })?;
    Ok(format!("/etc/motd regular, {total} bytes; /bin a directory"))
}

/// Numbers the kernel does not implement fail with ENOSYS, and the
/// process carries on.
pub fn enosys() -> Outcome {
    for n in [0usize, 7, 330, 331, 1000, 0xffff_ffff, usize::MAX] {
        // SAFETY: an unimplemented call does nothing; no pointers.
        let r = unsafe { rt::syscall::syscall0(n) };
        expect_err(&format!("syscall {n:#x}"), r, Errno::ENOSYS)?;
    }
    ensure!(rt::getpid() > 1, "getpid failed after unknown calls");
    Ok("7 unknown numbers: ENOSYS".into())
}
