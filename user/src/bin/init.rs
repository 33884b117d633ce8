//! /sbin/init: the first process (pid 1). It must never exit: the kernel
//! panics if it does, so every error is reported and lived with.
//!
//! 1. /etc/rc, if it exists, runs with `/bin/sh /etc/rc` on the console;
//!    a non-zero status is reported.
//! 2. If the kernel command line (sysctl kern.cmdline) has a word
//!    `script=PATH`, `/bin/sh PATH` runs; when it ends, init shuts down
//!    and powers off reporting the script's status (its exit code, or 128
//!    plus the signal that killed it) to the hypervisor.
//! 3. Otherwise /etc/motd is shown and a login shell (`-sh`) is kept on
//!    the console, started again whenever it exits (after a 5 s pause if
//!    it died within a second five times in a row).
//!
//! Each program init starts gets a process group of its own, which it
//! makes the console's foreground group, so that the terminal's signal
//! characters reach it and not init. Children are reaped all along,
//! orphans included: whatever wait4 returns is collected.
//!
//! Signals, as OpenBSD's init: SIGUSR1 halts, SIGUSR2 (and SIGTERM) power
//! off, SIGINT reboots, which oxbsd cannot do: it powers off too. Then
//! every process gets SIGTERM, then after up to 2 s SIGKILL, and the
//! machine is powered off with status 0. The handlers only record the
//! signal; the loops notice it when wait4 returns EINTR.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

use rt::prelude::*;
use rt::process::{WaitStatus, waitpid};
use sys::signal::{
    SIG_BLOCK, SIG_SETMASK, SIGINT, SIGKILL, SIGTERM, SIGTTOU, SIGUSR1, SIGUSR2, SigAction, sigmask,
};
use sys::sysctl::{CTL_KERN, KERN_CMDLINE};
use sys::wait::{WAIT_ANY, WNOHANG};

rt::entry!(main);

const SH: &str = "/bin/sh";
const RC: &str = "/etc/rc";
const MOTD: &str = "/etc/motd";
const ENV: [&str; 3] = ["HOME=/", "PATH=/bin:/sbin", "PWD=/"];

/// How long processes get to end after SIGTERM, and after SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// A shell that exits this soon after starting counts as dying at once...
const QUICK_DEATH: Duration = Duration::from_secs(1);
/// ...and after this many in a row, init waits before the next one...
const QUICK_DEATHS: u32 = 5;
/// ...for this long.
const RESPAWN_PAUSE: Duration = Duration::from_secs(5);
/// How often the timed waits look for children to reap.
const POLL: Duration = Duration::from_millis(50);

/// The shutdown signal received, 0 for none. Set by the handler, read by
/// the loops.
static REQUEST: AtomicU32 = AtomicU32::new(0);
/// Set once the shutdown has begun, so that it is not begun again.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: i32) {
    // Only an atomic store: nothing else is safe in a handler that can
    // interrupt the allocator or a print.
    REQUEST.store(sig as u32, Ordering::Relaxed);
}

fn main(_args: &Args) -> i32 {
    let pid = rt::getpid();
    println!("init: oxbsd userland starting, pid {pid}");
    if pid != 1 {
        eprintln!("init: warning: running as pid {pid}, not 1");
    }
    if let Err(e) = rt::chdir("/") {
        common::warn("chdir /", e);
    }
    for sig in [SIGUSR1, SIGUSR2, SIGINT, SIGTERM] {
        // No SA_RESTART: wait4 must come back with EINTR so the loops see
        // the request.
        let act =
            SigAction { sa_handler: rt::signal::Handler::Catch(on_signal).raw(), sa_mask: 0, sa_flags: 0 };
        if let Err(e) = rt::sigaction(sig, Some(&act), None) {
            common::warn(rt::signal::signame(sig), e);
        }
    }
    // A kernel that does not answer kern.cmdline: no script mode.
    let cmdline = rt::sysctl::sysctl_string(&[CTL_KERN, KERN_CMDLINE]).unwrap_or_default();
    let script = script_path(&cmdline);
    if rt::stat(RC).is_ok() {
        match run(&["sh", RC]) {
            Ok(st) if st.exited() == Some(0) => {}
            Ok(st) => println!("init: {RC} {st}"),
            Err(e) => common::warn(RC, e),
        }
    }
    match script {
        Some(path) => run_script(path),
        None => console_shell(),
    }
}

/// The `script=PATH` word of the kernel command line.
fn script_path(cmdline: &str) -> Option<&str> {
    cmdline.split_ascii_whitespace().find_map(|w| w.strip_prefix("script=")).filter(|p| !p.is_empty())
}

/// The status to report for a script: its exit code, or 128 + the
/// signal that killed it (as a shell reports it).
fn script_status(st: WaitStatus) -> u8 {
    match (st.exited(), st.signaled()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128 + sig as u8,
        _ => 1,
    }
}

/// Run `/bin/sh PATH`, then shut down with its status.
fn run_script(path: &str) -> ! {
    println!("init: running {path}");
    let status = match run(&["sh", path]) {
        Ok(st) => {
            println!("init: {path} {st}");
            script_status(st)
        }
        Err(e) => {
            common::warn(path, e);
            1
        }
    };
    shutdown(status)
}

/// Keep a shell on the console.
fn console_shell() -> ! {
    show_motd();
    let mut quick_deaths = 0;
    let mut said_missing = false;
    loop {
        // Without a shell, say so once and check again now and then.
        if let Err(e) = rt::stat(SH) {
            if !said_missing {
                println!("init: {SH}: {}; no shell on the console", e.message());
                said_missing = true;
            }
            reap_for(RESPAWN_PAUSE, false);
            continue;
        }
        said_missing = false;
        let started = rt::time::now().unwrap_or_default();
        let st = match run(&["-sh"]) {
            Ok(st) => st,
            Err(e) => {
                common::warn("cannot start a shell", e);
                reap_for(RESPAWN_PAUSE, false);
                continue;
            }
        };
        let lived = rt::time::now().unwrap_or_default().saturating_sub(started);
        quick_deaths = if lived < QUICK_DEATH { quick_deaths + 1 } else { 0 };
        println!("init: shell exited ({}), starting a new one", describe(st));
        if quick_deaths >= QUICK_DEATHS {
            println!(
                "init: the shell died {QUICK_DEATHS} times in a row; waiting {} s",
                RESPAWN_PAUSE.as_secs()
            );
            reap_for(RESPAWN_PAUSE, false);
            quick_deaths = 0;
        }
    }
}

/// "status 0", "killed by SIGKILL".
fn describe(st: WaitStatus) -> String {
    match st.exited() {
        Some(code) => format!("status {code}"),
        None => st.to_string(),
    }
}

/// Start `/bin/sh` with `argv` in a process group of its own, made the
/// console's foreground group, and wait for it, reaping any other child
/// meanwhile.
fn run(argv: &[&str]) -> Result<WaitStatus> {
    let pid = rt::fork()?;
    if pid == 0 {
        let me = rt::getpid();
        let _ = rt::setpgid(0, 0);
        foreground(me);
        let e = rt::execve(SH, argv, &ENV);
        common::warn(SH, e);
        rt::exit(127);
    }
    // Also from the parent, so the group exists whichever runs first
    // (it fails harmlessly once the child has exec'd).
    let _ = rt::setpgid(pid, pid);
    wait_for(pid)
}

/// Make `pgrp` the console's foreground process group. SIGTTOU is
/// blocked meanwhile: a process outside the foreground group that sets it
/// would otherwise be stopped.
fn foreground(pgrp: i32) {
    let old = rt::sigprocmask(SIG_BLOCK, sigmask(SIGTTOU));
    match rt::tcsetpgrp(0, pgrp) {
        // No terminal (or a kernel without one yet): nothing to do.
        Ok(()) | Err(Errno::ENOTTY) | Err(Errno::ENOSYS) => {}
        Err(e) => common::warn("tcsetpgrp", e),
    }
    if let Ok(old) = old {
        let _ = rt::sigprocmask(SIG_SETMASK, old);
    }
}

/// Wait until child `pid` ends, reaping whatever else ends meanwhile and
/// shutting down if asked to.
fn wait_for(pid: i32) -> Result<WaitStatus> {
    loop {
        check_request();
        // A signal that lands between the check and the wait is seen only
        // when some child next ends, as in OpenBSD's init.
        match waitpid(WAIT_ANY, 0) {
            Ok((p, st)) if p == pid => return Ok(st),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e @ Errno::ECHILD) => return Err(e),
            Err(e) => {
                common::warn("wait4", e);
                let _ = rt::time::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Reap for `d`, or (with `until_none`) until there is no child left,
/// whichever comes first. Shuts down if asked to (unless doing so).
fn reap_for(d: Duration, until_none: bool) {
    let deadline = rt::time::now().unwrap_or_default() + d;
    while rt::time::now().unwrap_or_default() < deadline {
        check_request();
        match waitpid(WAIT_ANY, WNOHANG) {
            Ok((0, _)) => {}
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) if until_none => return,
            Err(Errno::ECHILD) => {}
            Err(e) => common::warn("wait4", e),
        }
        let _ = rt::time::sleep(POLL);
    }
}

/// Shut down if a signal asked for it.
fn check_request() {
    let sig = REQUEST.load(Ordering::Relaxed);
    if sig == 0 || SHUTTING_DOWN.load(Ordering::Relaxed) {
        return;
    }
    let what = match sig {
        SIGUSR1 => "halt requested",
        SIGINT => "reboot requested; oxbsd can only power off",
        _ => "power off requested",
    };
    println!("init: {what}");
    shutdown(0)
}

/// Stop every process, then power off reporting `status`.
fn shutdown(status: u8) -> ! {
    SHUTTING_DOWN.store(true, Ordering::Relaxed);
    println!("init: shutting down");
    // kill(-1) reaches every process but init and the kernel's; ESRCH
    // only means there is none.
    if rt::kill(-1, SIGTERM).is_ok() {
        reap_for(GRACE, true);
    }
    if rt::kill(-1, SIGKILL).is_ok() {
        reap_for(GRACE, true);
    }
    if let Err(e) = rt::poweroff(status) {
        common::warn("reboot", e);
    }
    // Still here: all init can do is go on reaping.
    loop {
        reap_for(Duration::from_secs(3600), false);
    }
}

fn show_motd() {
    let fd = match rt::open(MOTD, sys::fcntl::O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return,
        Err(e) => return common::warn(MOTD, e),
    };
    match common::copy_fd(fd, 1) {
        Ok(()) => {}
        Err(common::CopyError::Read(e) | common::CopyError::Write(e)) => common::warn(MOTD, e),
    }
    let _ = rt::close(fd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::wait::w_exitcode;

    #[test]
    fn command_line() {
        assert_eq!(script_path(""), None);
        assert_eq!(script_path("loglevel=debug script=/etc/t.sh init=/sbin/init"), Some("/etc/t.sh"));
        assert_eq!(script_path("script="), None);
        assert_eq!(script_path("noscript=/x"), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(script_status(WaitStatus(w_exitcode(0, 0))), 0);
        assert_eq!(script_status(WaitStatus(w_exitcode(3, 0))), 3);
        assert_eq!(script_status(WaitStatus(w_exitcode(0, SIGKILL as i32))), 137);
        assert_eq!(describe(WaitStatus(w_exitcode(2, 0))), "status 2");
        assert_eq!(describe(WaitStatus(w_exitcode(0, SIGINT as i32))), "killed by SIGINT");
    }
}
