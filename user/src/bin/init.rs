//! /sbin/init: the first process.
//!
//! For now: print a banner and /etc/motd, run /bin/hello and report how it
//! ended, then reap every child it is given (orphans are reparented to
//! init) for as long as the system runs.
#![no_std]
#![cfg_attr(not(test), no_main)]

use core::time::Duration;

use rt::prelude::*;
use rt::process::{execve, exit, fork, getpid, waitpid};
use sys::fcntl::O_RDONLY;
use sys::wait::WAIT_ANY;

rt::entry!(main);

const HELLO: &str = "/bin/hello";
const ENV: [&str; 2] = ["HOME=/", "PATH=/bin:/sbin"];

fn main(_args: &Args) -> i32 {
    let pid = getpid();
    println!("init: oxbsd userland starting, pid {pid}");
    if pid != 1 {
        eprintln!("init: warning: running as pid {pid}, not 1");
    }
    show_motd();
    match run(HELLO, &["hello", "from", "init"]) {
        Ok(()) => {}
        Err(e) => eprintln!("init: cannot run {HELLO}: {e}"),
    }
    reap_forever()
}

fn show_motd() {
    let fd = match rt::open("/etc/motd", O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) => return eprintln!("init: /etc/motd: {e}"),
    };
    let mut buf = [0u8; 512];
    loop {
        match rt::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = rt::io::write_all(&mut rt::io::Fd(1), &buf[..n]);
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                eprintln!("init: /etc/motd: {e}");
                break;
            }
        }
    }
    let _ = rt::close(fd);
}

/// Fork, exec `path` in the child, wait for it and say how it ended.
fn run(path: &str, argv: &[&str]) -> Result<()> {
    let child = fork()?;
    if child == 0 {
        let e = execve(path, argv, &ENV);
        eprintln!("init: exec {path}: {e}");
        exit(127);
    }
    loop {
        match waitpid(child, 0) {
            Ok((_, status)) => {
                println!("init: {path} (pid {child}) {status}");
                return Ok(());
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reap whatever exits, forever. With no children at all wait4 fails at
/// once with ECHILD, so sleep a little before asking again (an orphan can
/// be handed to init at any time).
fn reap_forever() -> ! {
    loop {
        match waitpid(WAIT_ANY, 0) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => {
                let _ = rt::time::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                eprintln!("init: wait4: {e}");
                let _ = rt::time::sleep(Duration::from_secs(1));
            }
        }
    }
}
