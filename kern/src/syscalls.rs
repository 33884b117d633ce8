//! The system call table: numbers from `sys::syscall`, arguments as the
//! arch delivered them, results as `Ok((r0, r1))` or `Err(errno)`.
//!
//! Arguments are untrusted: integers are range-checked here, pointers go
//! only to copyin/copyout (EFAULT, never a kernel fault).

// The numbers keep OpenBSD's SYS_name spelling.
#![allow(non_upper_case_globals)]

use core::sync::atomic::Ordering;

use sys::errno::*;
use sys::syscall::*;

use crate::kern_exit::{self, ExitKind};
use crate::kern_proc::PROCTREE;
use crate::kern_sched::{self, curproc};
use crate::machdep::TrapFrame;
use crate::proc::Pid;
use crate::uvm_glue::{copyin_val, copyout_val};
use crate::{kern_descrip, kern_event, kern_exec, kern_fork, kern_sig, kern_time, uvm_glue, vfs};

/// System calls made so far (statistics).
pub static NSYSCALLS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn int(a: u64) -> i32 {
    a as i32
}

fn ok(v: u64) -> Result<(u64, u64), i32> {
    Ok((v, 0))
}

pub fn dispatch(tf: *mut TrapFrame, code: u64, a: [u64; 6]) -> Result<(u64, u64), i32> {
    NSYSCALLS.fetch_add(1, Ordering::Relaxed);
    let code = usize::try_from(code).map_err(|_| ENOSYS)?;
    match code {
        SYS_exit => kern_exit::exit1(sys::wait::w_exitcode(int(a[0]) & 0xff, 0), ExitKind::Process),
        SYS_fork => kern_fork::fork1(tf).map(|pid| (pid as u64, 0)),
        SYS_read => kern_descrip::sys_read(int(a[0]), a[1], a[2] as usize).map(|n| (n as u64, 0)),
        SYS_write => kern_descrip::sys_write(int(a[0]), a[1], a[2] as usize).map(|n| (n as u64, 0)),
        SYS_open => vfs::sys_open(a[0], int(a[1])).map(|fd| (fd as u64, 0)),
        SYS_close => kern_descrip::sys_close(int(a[0])).map(|_| (0, 0)),
        SYS___tfork => sys_tfork(tf, a[0], a[1] as usize),
        SYS_wait4 => sys_wait4(int(a[0]), a[1], int(a[2]), a[3]),
        SYS_chdir => vfs::sys_chdir(a[0]).map(|_| (0, 0)),
        SYS_getrusage => kern_time::sys_getrusage(int(a[0]), a[1]).map(|_| (0, 0)),
        SYS_getpid => ok(curproc().p_p.ps_pid as u64),
        SYS_getppid => ok(getppid() as u64),
        SYS_getthrid => ok(curproc().p_tid as u64),
        SYS_stat => vfs::sys_stat(a[0], a[1]).map(|_| (0, 0)),
        SYS_fstat => vfs::sys_fstat(int(a[0]), a[1]).map(|_| (0, 0)),
        SYS_dup => kern_descrip::sys_dup(int(a[0])).map(|fd| (fd as u64, 0)),
        SYS_dup2 => kern_descrip::sys_dup2(int(a[0]), int(a[1])).map(|fd| (fd as u64, 0)),
        SYS_pipe => kern_descrip::sys_pipe(a[0]).map(|_| (0, 0)),
        SYS_kqueue => kern_event::sys_kqueue().map(|fd| (fd as u64, 0)),
        SYS_kevent => {
            kern_event::sys_kevent(int(a[0]), a[1], int(a[2]), a[3], int(a[4]), a[5]).map(|n| (n as u64, 0))
        }
        SYS_fcntl => kern_descrip::sys_fcntl(int(a[0]), int(a[1]), a[2] as i64).map(|r| (r as u64, 0)),
        SYS_ioctl => kern_descrip::sys_ioctl(int(a[0]), a[1], a[2]).map(|_| (0, 0)),
        SYS_unlink => vfs::sys_unlink(a[0]).map(|_| (0, 0)),
        SYS_mkdir => vfs::sys_mkdir(a[0], a[1] as u32).map(|_| (0, 0)),
        SYS_getpgrp => sys_getpgid(0).map(|g| (g as u64, 0)),
        SYS_setsid => sys_setsid().map(|g| (g as u64, 0)),
        SYS_sigaction => kern_sig::sys_sigaction(int(a[0]), a[1], a[2]).map(|_| (0, 0)),
        SYS_sigprocmask => kern_sig::sys_sigprocmask(int(a[0]), a[1] as u32).map(|m| (m as u64, 0)),
        SYS_sigreturn => kern_sig::sys_sigreturn(tf, a[0]).map(|_| (0, 0)),
        SYS_kill => kern_sig::sys_kill(int(a[0]), int(a[1])).map(|_| (0, 0)),
        SYS_mmap => {
            uvm_glue::sys_mmap(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), a[5] as i64).map(|v| (v, 0))
        }
        SYS_munmap => uvm_glue::sys_munmap(a[0], a[1]).map(|_| (0, 0)),
        SYS_mprotect => uvm_glue::sys_mprotect(a[0], a[1], int(a[2])).map(|_| (0, 0)),
        SYS_execve => kern_exec::sys_execve(tf, a[0], a[1], a[2]).map(|_| (0, 0)),
        SYS_getpgid => sys_getpgid(int(a[0])).map(|g| (g as u64, 0)),
        SYS_setpgid => sys_setpgid(int(a[0]), int(a[1])).map(|_| (0, 0)),
        SYS_clock_gettime => kern_time::sys_clock_gettime(int(a[0]), a[1]).map(|_| (0, 0)),
        SYS_nanosleep => kern_time::sys_nanosleep(a[0], a[1]).map(|_| (0, 0)),
        SYS_getdents => vfs::sys_getdents(int(a[0]), a[1], a[2] as usize).map(|n| (n as u64, 0)),
        SYS_sched_yield => {
            kern_sched::yield_cpu();
            ok(0)
        }
        SYS___threxit => {
            curproc().p_threxit_tid.store(a[0], Ordering::Relaxed);
            kern_exit::exit1(0, ExitKind::Thread)
        }
        SYS___getcwd => vfs::sys_getcwd(a[0], a[1] as usize).map(|n| (n as u64, 0)),
        SYS_reboot => crate::kern_sysctl::sys_reboot(int(a[0])).map(|_| (0, 0)),
        SYS_sysctl => {
            crate::kern_sysctl::sys_sysctl(a[0], a[1] as u32, a[2], a[3], a[4], a[5] as usize).map(|_| (0, 0))
        }
        _ => Err(ENOSYS),
    }
}

fn getppid() -> Pid {
    let me = curproc().p_p.ps_pid;
    PROCTREE.lock().get(me).map(|e| e.ppid).unwrap_or(0)
}

fn sys_tfork(tf: *mut TrapFrame, uparam: u64, psize: usize) -> Result<(u64, u64), i32> {
    if psize != core::mem::size_of::<sys::tfork::Tfork>() {
        return Err(EINVAL);
    }
    let t: sys::tfork::Tfork = copyin_val(uparam)?;
    kern_fork::tfork(tf, t.tf_tcb as u64, t.tf_tid as u64, t.tf_stack as u64).map(|tid| (tid as u64, 0))
}

fn sys_wait4(pid: Pid, ustatus: u64, options: i32, urusage: u64) -> Result<(u64, u64), i32> {
    match kern_exit::dowait6(pid, options)? {
        None => ok(0),
        Some(w) => {
            if ustatus != 0 {
                copyout_val(&w.status, ustatus)?;
            }
            if urusage != 0 {
                copyout_val(&w.rusage, urusage)?;
            }
            ok(w.pid as u64)
        }
    }
}

fn sys_getpgid(pid: Pid) -> Result<Pid, i32> {
    let tree = PROCTREE.lock();
    let pid = if pid == 0 { curproc().p_p.ps_pid } else { pid };
    tree.get(pid).map(|e| e.pgid).ok_or(ESRCH)
}

/// setsid: oxbsd has one session, so this only makes the caller the
/// leader of a new process group named by its pid; EPERM if it already
/// leads one (as POSIX, so a group never loses its leader's id).
fn sys_setsid() -> Result<Pid, i32> {
    let me = curproc().p_p.ps_pid;
    let mut tree = PROCTREE.lock();
    if tree.pgrp_exists(me) {
        return Err(EPERM);
    }
    tree.procs.get_mut(&me).ok_or(ESRCH)?.pgid = me;
    Ok(me)
}

/// setpgid: the caller or one of its children, into an existing group of
/// the caller's session or a new group named by the target's pid.
fn sys_setpgid(pid: Pid, pgid: Pid) -> Result<(), i32> {
    if pgid < 0 {
        return Err(EINVAL);
    }
    let me = curproc().p_p.ps_pid;
    let mut tree = PROCTREE.lock();
    let pid = if pid == 0 { me } else { pid };
    let e = tree.get(pid).ok_or(ESRCH)?;
    if pid != me && e.ppid != me {
        return Err(ESRCH);
    }
    if pid != me && e.process.has_flag(crate::proc::PS_EXEC) {
        return Err(EACCES);
    }
    let pgid = if pgid == 0 { pid } else { pgid };
    if pgid != pid && !tree.pgrp_exists(pgid) {
        return Err(EPERM);
    }
    tree.procs.get_mut(&pid).expect("checked above").pgid = pgid;
    Ok(())
}
