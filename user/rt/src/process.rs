//! Processes: exit, fork, wait4, execve, getpid, getppid, getpgid,
//! setpgid, kill, getrusage, reboot.

use alloc::ffi::CString;
use alloc::vec::Vec;
use core::fmt;

use sys::resource::Rusage;
use sys::signal::{SIG_UNBLOCK, SIGABRT, sigmask};
use sys::syscall::*;
use sys::wait;

use crate::errno::{Errno, Result};
use crate::syscall::{syscall0, syscall1, syscall2, syscall3, syscall4};

/// exit(2): end the process with `status` (the low 8 bits reach the
/// parent). Nothing is buffered in the runtime, so nothing is flushed.
pub fn exit(status: i32) -> ! {
    // SAFETY: no pointers.
    let _ = unsafe { syscall1(SYS_exit, status as usize) };
    crate::arch::unreachable_return(status)
}

/// fork(2): Ok(0) in the child, Ok(child's pid) in the parent.
///
/// The allocator's lock is held across the call, so a child forked while
/// another thread was allocating still finds the heap consistent and
/// unlocked.
pub fn fork() -> Result<i32> {
    let _heap = crate::heap::ForkGuard::new();
    // SAFETY: no pointers; both processes continue from here with their
    // own copy of memory.
    unsafe { syscall0(SYS_fork).map(|r| r as i32) }
}

/// wait4(2): wait for a child (`pid` > 0), any child (-1, WAIT_ANY), or
/// one in a process group; `options` from sys::wait. Returns the pid
/// reaped (0 with WNOHANG when none is ready).
pub fn wait4(pid: i32, status: Option<&mut i32>, options: i32, rusage: Option<&mut Rusage>) -> Result<i32> {
    let st = status.map_or(core::ptr::null_mut(), |s| s as *mut i32);
    let ru = rusage.map_or(core::ptr::null_mut(), |r| r as *mut Rusage);
    // SAFETY: both pointers are null or point at writable objects of the
    // right type.
    unsafe { syscall4(SYS_wait4, pid as usize, st as usize, options as usize, ru as usize).map(|r| r as i32) }
}

/// wait4 without rusage: (pid, status).
pub fn waitpid(pid: i32, options: i32) -> Result<(i32, WaitStatus)> {
    let mut st = 0;
    let p = wait4(pid, Some(&mut st), options, None)?;
    Ok((p, WaitStatus(st)))
}

/// A wait status, decoded with sys::wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    /// The exit status, if the process exited.
    pub fn exited(self) -> Option<i32> {
        wait::wifexited(self.0).then(|| wait::wexitstatus(self.0))
    }
    /// The signal that killed it, if one did.
    pub fn signaled(self) -> Option<u32> {
        wait::wifsignaled(self.0).then(|| wait::wtermsig(self.0) as u32)
    }
    pub fn core_dumped(self) -> bool {
        wait::wifsignaled(self.0) && wait::wcoredump(self.0)
    }
    /// The signal that stopped it, if it is stopped.
    pub fn stopped(self) -> Option<u32> {
        wait::wifstopped(self.0).then(|| wait::wstopsig(self.0) as u32)
    }
    pub fn continued(self) -> bool {
        wait::wifcontinued(self.0)
    }
}

/// "exited 0", "killed by SIGSEGV (core dumped)", "stopped by SIGTSTP",
/// "continued".
impl fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::signal::signame;
        if let Some(s) = self.exited() {
            write!(f, "exited {s}")
        } else if let Some(sig) = self.signaled() {
            write!(f, "killed by {}", signame(sig))?;
            if self.core_dumped() { f.write_str(" (core dumped)") } else { Ok(()) }
        } else if let Some(sig) = self.stopped() {
            write!(f, "stopped by {}", signame(sig))
        } else if self.continued() {
            f.write_str("continued")
        } else {
            write!(f, "status {:#x}", self.0)
        }
    }
}

impl fmt::Debug for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WaitStatus({:#x}: {self})", self.0)
    }
}

/// execve(2) with raw pointers; returns only on failure.
///
/// # Safety
/// `path` must be a C string; `argv` and `envp` NULL-terminated arrays of
/// C strings.
pub unsafe fn execve_raw(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: forwarded from the caller.
    match unsafe { syscall3(SYS_execve, path as usize, argv as usize, envp as usize) } {
        Err(e) => e,
        // A successful execve does not come back; if the kernel says it
        // did, that is an error of its own.
        Ok(_) => Errno::EINVAL,
    }
}

fn cstrings(v: &[&str]) -> Result<Vec<CString>> {
    v.iter().map(|s| CString::new(*s).map_err(|_| Errno::EINVAL)).collect()
}

fn ptrs(v: &[CString]) -> Vec<*const u8> {
    v.iter().map(|s| s.as_ptr().cast::<u8>()).chain(core::iter::once(core::ptr::null())).collect()
}

/// execve(2): run `path` with arguments `argv` (argv[0] included) and
/// environment `envp` ("NAME=value"). Returns only on failure.
pub fn execve(path: &str, argv: &[&str], envp: &[&str]) -> Errno {
    let (argv, envp) = match (cstrings(argv), cstrings(envp)) {
        (Ok(a), Ok(e)) => (a, e),
        _ => return Errno::EINVAL,
    };
    let (pa, pe) = (ptrs(&argv), ptrs(&envp));
    // SAFETY: the C strings and arrays live until the call returns.
    crate::fs::with_cpath(path, |p| Err::<(), _>(unsafe { execve_raw(p, pa.as_ptr(), pe.as_ptr()) }))
        .unwrap_err()
}

/// execve with this process's own environment.
pub fn execv(path: &str, argv: &[&str]) -> Errno {
    let argv = match cstrings(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let pa = ptrs(&argv);
    let envp = crate::env::args().envp();
    let empty = [core::ptr::null::<u8>()];
    let envp = if envp.is_null() { empty.as_ptr() } else { envp };
    // SAFETY: the argument strings live until the call returns; envp is
    // the NULL-terminated array the kernel gave this program.
    crate::fs::with_cpath(path, |p| Err::<(), _>(unsafe { execve_raw(p, pa.as_ptr(), envp) })).unwrap_err()
}

pub fn getpid() -> i32 {
    // SAFETY: no pointers.
    unsafe { syscall0(SYS_getpid).map_or(-1, |r| r as i32) }
}

pub fn getppid() -> i32 {
    // SAFETY: no pointers.
    unsafe { syscall0(SYS_getppid).map_or(-1, |r| r as i32) }
}

/// getpgid(2): the process group of `pid` (0: the caller).
pub fn getpgid(pid: i32) -> Result<i32> {
    // SAFETY: no pointers.
    unsafe { syscall1(SYS_getpgid, pid as usize).map(|r| r as i32) }
}

/// setpgid(2): move `pid` (0: the caller) into group `pgid` (0: its own).
pub fn setpgid(pid: i32, pgid: i32) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall2(SYS_setpgid, pid as usize, pgid as usize).map(drop) }
}

/// getpgrp(2): the caller's process group.
pub fn getpgrp() -> i32 {
    // SAFETY: no pointers.
    unsafe { syscall0(SYS_getpgrp).map_or(-1, |r| r as i32) }
}

/// setsid(2): a new session and process group led by the caller.
pub fn setsid() -> Result<i32> {
    // SAFETY: no pointers.
    unsafe { syscall0(SYS_setsid).map(|r| r as i32) }
}

/// kill(2): send `sig` (0 only checks) to `pid`, to group `-pid`, or to
/// every process but init with -1.
pub fn kill(pid: i32, sig: u32) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall2(SYS_kill, pid as usize, sig as usize).map(drop) }
}

/// getrusage(2): `who` is RUSAGE_SELF, RUSAGE_CHILDREN or RUSAGE_THREAD.
pub fn getrusage(who: i32) -> Result<Rusage> {
    let mut ru = Rusage::default();
    // SAFETY: the kernel writes one struct rusage.
    unsafe { syscall2(SYS_getrusage, who as usize, &mut ru as *mut Rusage as usize)? };
    Ok(ru)
}

/// reboot(2) with sys::reboot flags; returns only on failure.
pub fn reboot(howto: i32) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { syscall1(SYS_reboot, howto as usize).map(drop) }
}

/// Power off and have the hypervisor report `status` (oxbsd's
/// extension of reboot(2), see sys::reboot::rb_poweroff_status).
pub fn poweroff(status: u8) -> Result<()> {
    reboot(sys::reboot::rb_poweroff_status(status))
}

/// abort(3): die of SIGABRT (unblocked and reset to the default first);
/// if that somehow fails, exit 134 (128 + SIGABRT).
pub fn abort() -> ! {
    let _ = crate::signal::sigprocmask(SIG_UNBLOCK, sigmask(SIGABRT));
    let _ = crate::signal::signal(SIGABRT, crate::signal::Handler::Default);
    let _ = kill(getpid(), SIGABRT);
    exit(128 + SIGABRT as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::wait::{w_coredump, w_exitcode, w_stopcode};

    #[test]
    fn wait_status_text() {
        assert_eq!(WaitStatus(w_exitcode(3, 0)).to_string(), "exited 3");
        assert_eq!(WaitStatus(w_exitcode(0, 9)).to_string(), "killed by SIGKILL");
        assert_eq!(WaitStatus(w_coredump(11)).to_string(), "killed by SIGSEGV (core dumped)");
        assert_eq!(WaitStatus(w_stopcode(18)).to_string(), "stopped by SIGTSTP");
        assert_eq!(WaitStatus(wait::W_CONTINUED).to_string(), "continued");
        assert_eq!(WaitStatus(w_exitcode(0, 6)).signaled(), Some(SIGABRT));
        assert_eq!(WaitStatus(w_exitcode(101, 0)).exited(), Some(101));
    }

    #[test]
    fn exec_argument_checks() {
        assert_eq!(execve("/bin/echo", &["echo", "a\0b"], &[]), Errno::EINVAL);
        assert_eq!(execve("/bin/\0echo", &["echo"], &[]), Errno::EINVAL);
        // The host has no oxbsd kernel to exec with.
        assert_eq!(execv("/bin/echo", &["echo"]), Errno::ENOSYS);
    }
}
