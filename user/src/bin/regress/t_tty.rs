//! The console as a terminal: modes, the foreground process group, a
//! background read stopped by SIGTTIN, and the descriptor calls a shell
//! needs (fcntl, setsid).

use rt::prelude::*;
use sys::fcntl::*;
use sys::ioctl::{ECHO, ICANON, ISIG};
use sys::signal::{SIGKILL, SIGTTIN};
use sys::wait::WUNTRACED;

use crate::util::*;

/// TIOCGETA on the console reports canonical mode with echo and signals;
/// a pipe is not a terminal; TIOCSETA round-trips.
pub fn modes() -> Outcome {
    let t = rt::tcgetattr(1).ctx("tcgetattr(console)")?;
    ensure!(t.c_lflag & (ECHO | ICANON | ISIG) == ECHO | ICANON | ISIG, "c_lflag {:#x}", t.c_lflag);
    let [r, w] = rt::pipe().ctx("pipe")?;
    expect_err("tcgetattr(pipe)", rt::tcgetattr(r), Errno::ENOTTY)?;
    ensure!(!rt::isatty(w), "a pipe is a tty");
    let mut quiet = t;
    quiet.c_lflag &= !ECHO;
    rt::tcsetattr(1, &quiet).ctx("tcsetattr")?;
    let back = rt::tcgetattr(1).ctx("tcgetattr")?;
    rt::tcsetattr(1, &t).ctx("tcsetattr restore")?;
    ensure!(back.c_lflag & ECHO == 0, "ECHO still on after clearing it");
    expect_err("bad request", rt::ioctl(1, 0x4004_7400, &mut 0i32), Errno::ENOTTY)?;
    Ok(format!("c_lflag {:#x}", t.c_lflag))
}

/// The foreground group: set to an existing group, EPERM for none; a read
/// from another group stops it with SIGTTIN, or fails with EIO when
/// SIGTTIN is ignored.
pub fn pgrp() -> Outcome {
    let me = rt::getpgrp();
    let old = rt::tcgetpgrp(0).ctx("tcgetpgrp")?;
    expect_err("tcsetpgrp(no such group)", rt::tcsetpgrp(0, 99_999), Errno::EPERM)?;
    rt::tcsetpgrp(0, me).ctx("tcsetpgrp(own group)")?;
    ensure!(rt::tcgetpgrp(0).ctx("tcgetpgrp")? == me, "foreground group not {me}");
    // A child in a group of its own reads the console: stopped.
    let pid = spawn(|| {
        let _ = rt::setpgid(0, 0);
        let mut b = [0u8; 1];
        match rt::read(0, &mut b) {
            Ok(_) => 10,
            Err(_) => 11,
        }
    })?;
    let _ = rt::setpgid(pid, pid);
    let st = loop {
        match rt::waitpid(pid, WUNTRACED) {
            Ok((_, st)) => break st,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    };
    let _ = rt::kill(pid, SIGKILL);
    let _ = wait_for(pid);
    ensure!(st.stopped() == Some(SIGTTIN), "background reader: {st}, expected a SIGTTIN stop");
    // The same with SIGTTIN ignored: EIO instead.
    let pid = spawn(|| {
        let _ = rt::setpgid(0, 0);
        let _ = rt::signal(SIGTTIN, rt::signal::Handler::Ignore);
        let mut b = [0u8; 1];
        match rt::read(0, &mut b) {
            Err(Errno::EIO) => 0,
            _ => 12,
        }
    })?;
    let st = wait_for(pid)?;
    expect_exit("reader ignoring SIGTTIN", st, 0)?;
    if old > 0 {
        let _ = rt::tcsetpgrp(0, old);
    }
    Ok(format!("foreground {old} -> {me}; background read stopped by SIGTTIN, EIO when ignored"))
}

/// fcntl: F_DUPFD's lower bound, close-on-exec flags, F_GETFL.
pub fn fcntl() -> Outcome {
    let fd = rt::open("/etc/motd", O_RDONLY, 0).ctx("open")?;
    let d = rt::fcntl(fd, F_DUPFD, 20).ctx("F_DUPFD 20")?;
    ensure!(d >= 20, "F_DUPFD gave {d}");
    ensure!(rt::fcntl(d, F_GETFD, 0).ctx("F_GETFD")? == 0, "a dup is close-on-exec");
    let c = rt::fcntl(fd, F_DUPFD_CLOEXEC, 20).ctx("F_DUPFD_CLOEXEC")?;
    ensure!(c > d, "F_DUPFD_CLOEXEC gave {c}, not above {d}");
    ensure!(rt::fcntl(c, F_GETFD, 0).ctx("F_GETFD")? == FD_CLOEXEC, "F_DUPFD_CLOEXEC without the flag");
    rt::fcntl(c, F_SETFD, 0).ctx("F_SETFD 0")?;
    ensure!(rt::fcntl(c, F_GETFD, 0).ctx("F_GETFD")? == 0, "F_SETFD 0 did not clear it");
    ensure!(rt::fcntl(fd, F_GETFL, 0).ctx("F_GETFL")? & O_ACCMODE == O_RDONLY, "F_GETFL");
    expect_err("fcntl(bad fd)", rt::fcntl(99, F_GETFD, 0), Errno::EBADF)?;
    expect_err("fcntl(bad cmd)", rt::fcntl(fd, 999, 0), Errno::EINVAL)?;
    expect_err("F_DUPFD beyond the table", rt::fcntl(fd, F_DUPFD, 100_000), Errno::EINVAL)?;
    for f in [fd, d, c] {
        rt::close(f).ctx("close")?;
    }
    Ok(format!("dups at {d} and {c}"))
}

/// setsid: EPERM for a group leader; a new group for anyone else.
pub fn setsid() -> Outcome {
    // The harness made this test the leader of its own group.
    expect_err("setsid as a group leader", rt::setsid(), Errno::EPERM)?;
    let st = in_child(|| match rt::setsid() {
        Ok(g) if g == rt::getpid() && rt::getpgrp() == g => 0,
        _ => 1,
    })?;
    expect_exit("setsid in a child", st, 0)?;
    Ok("leader refused; child leads a new group".into())
}
