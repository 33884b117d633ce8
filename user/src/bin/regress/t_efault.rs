//! EFAULT: every system call that takes a pointer refuses a bad one —
//! NULL, kernel addresses, an unmapped page, a buffer that runs into an
//! unmapped page, and a read-only page for calls that write to user
//! memory — with EFAULT, and the process (and kernel) carry on.
//!
//! The calls go through the raw traps in `rt::syscall`: the typed
//! wrappers cannot be given bad pointers.

use rt::prelude::*;
use sys::dirent::DIRENT_HDR;
use sys::fcntl::{O_DIRECTORY, O_RDONLY};
use sys::signal::{SIG_DFL, SIGUSR1, SigAction};
use sys::syscall::*;
use sys::sysctl::{CTL_KERN, KERN_VMSTATS, KernVmStats};
use sys::time::CLOCK_MONOTONIC;

use crate::proto;
use crate::util::*;

/// A raw system call for this file's tests.
///
/// Not `unsafe` because its only callers here pass, besides integers,
/// pointers that are either invalid — the very thing the kernel must
/// refuse, and it writes nothing through them — or point at live buffers
/// of the sizes given, so no Rust-visible memory can be changed behind the
/// compiler's back; and none of the calls used unmaps or remaps memory.
fn sc(n: usize, a: &[usize]) -> rt::Result<usize> {
    let mut v = [0usize; 6];
    v[..a.len()].copy_from_slice(a);
    // SAFETY: see above: bad pointers are refused, good ones are valid.
    unsafe { rt::syscall::syscall6(n, v[0], v[1], v[2], v[3], v[4], v[5]).map(|r| r.0) }
}

fn motd() -> Res<i32> {
    rt::open("/etc/motd", O_RDONLY, 0).ctx("open /etc/motd")
}

pub fn read() -> Outcome {
    let m = BadMem::new()?;
    let fd = motd()?;
    let r = all_efault(&m.unwritable(), |p| sc(SYS_read, &[fd as usize, p, 16]));
    let _ = rt::close(fd);
    r
}

/// A read that fails with EFAULT consumes nothing: the file offset stays
/// and a pipe keeps its data.
pub fn read_keeps_data() -> Outcome {
    let mut bad = Vec::new();
    let mut want = [0u8; 16];
    let fd = motd()?;
    let n = read_full(fd, &mut want)?;
    let _ = rt::close(fd);
    let fd = motd()?;
    let e = sc(SYS_read, &[fd as usize, 0, 16]);
    let mut got = [0u8; 16];
    let k = read_full(fd, &mut got)?;
    let _ = rt::close(fd);
    expect_err("read(motd, NULL)", e, Errno::EFAULT)?;
    if got[..k] != want[..n] {
        bad.push(format!(
            "file: after read(NULL) failed, the next read got {:?}, not the first bytes {:?}",
            String::from_utf8_lossy(&got[..k]),
            String::from_utf8_lossy(&want[..n])
        ));
    }
    let [r, w] = rt::pipe().ctx("pipe")?;
    write_all(w, b"hello")?;
    let e = sc(SYS_read, &[r as usize, 0, 5]);
    let _ = rt::close(w);
    let mut buf = [0u8; 16];
    let k = read_full(r, &mut buf)?;
    let _ = rt::close(r);
    expect_err("read(pipe, NULL)", e, Errno::EFAULT)?;
    if &buf[..k] != b"hello" {
        bad.push(format!(
            "pipe: after read(NULL) failed, reading gave {:?}, not \"hello\"",
            String::from_utf8_lossy(&buf[..k])
        ));
    }
    ensure!(bad.is_empty(), "{}", bad.join("; "));
    Ok("file offset and pipe data kept".into())
}

pub fn write() -> Outcome {
    let m = BadMem::new()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let res = all_efault(&m.unreadable(), |p| sc(SYS_write, &[w as usize, p, 16]));
    // Nothing may have reached the pipe.
    write_all(w, b"z")?;
    let _ = rt::close(w);
    let mut buf = [0u8; 64];
    let k = read_full(r, &mut buf)?;
    let _ = rt::close(r);
    let res = res?;
    ensure!(&buf[..k] == b"z", "failed writes put {} bytes into the pipe", k.saturating_sub(1));
    Ok(res)
}

pub fn paths() -> Outcome {
    let m = BadMem::new()?;
    let ptrs = m.unreadable();
    let mut st = sys::stat::Stat::default();
    let stp = &mut st as *mut _ as usize;
    let o = all_efault(&ptrs, |p| sc(SYS_open, &[p, O_RDONLY as usize])).map_err(|e| format!("open: {e}"))?;
    all_efault(&ptrs, |p| sc(SYS_stat, &[p, stp])).map_err(|e| format!("stat: {e}"))?;
    all_efault(&ptrs, |p| sc(SYS_chdir, &[p])).map_err(|e| format!("chdir: {e}"))?;
    Ok(format!("open, stat, chdir: {o}"))
}

/// Each execve runs in a child of its own: should the kernel accept the
/// bad pointer, the helper runs instead and exits with one of its usage
/// codes, which shows up as the child's status.
pub fn execve() -> Outcome {
    let m = BadMem::new()?;
    let path = format!("{}\0", proto::HELPER);
    let a0 = b"regress-child\0";
    let argv = [a0.as_ptr() as usize, 0];
    let envp = [0usize];
    let (pp, ap, ep) = (path.as_ptr() as usize, argv.as_ptr() as usize, envp.as_ptr() as usize);
    let mut bad = Vec::new();
    let mut tried = 0;
    let mut exec = |what: &str, p: usize, a: usize, e: usize| -> Res<()> {
        tried += 1;
        let st = in_child(|| match sc(SYS_execve, &[p, a, e]) {
            Err(Errno::EFAULT) => 0,
            Err(e) => e.0,
            Ok(_) => 200,
        })?;
        match st.exited() {
            Some(0) => {}
            Some(c) if c < 100 => bad.push(format!("{what}: {:?}", Errno(c))),
            _ => bad.push(format!("{what}: the exec went ahead (the helper {st})")),
        }
        Ok(())
    };
    for (name, p) in m.unreadable() {
        exec(&format!("path {name}"), p, ap, ep)?;
        // NULL argv is EFAULT on OpenBSD; NULL envp means no environment.
        exec(&format!("argv {name}"), pp, p, ep)?;
        if p != 0 {
            exec(&format!("envp {name}"), pp, ap, p)?;
            let bad_argv = [a0.as_ptr() as usize, p, 0];
            exec(&format!("argv[1] {name}"), pp, bad_argv.as_ptr() as usize, ep)?;
            let bad_env = [p, 0];
            exec(&format!("envp[0] {name}"), pp, ap, bad_env.as_ptr() as usize)?;
        }
    }
    ensure!(bad.is_empty(), "not EFAULT: {}", bad.join("; "));
    Ok(format!("EFAULT for {tried} bad path, argv, argv[i], envp, envp[i] pointers"))
}

pub fn wait4() -> Outcome {
    let m = BadMem::new()?;
    // NULL asks for no status or rusage.
    let ptrs = m.unwritable_nonnull();
    for (arg, name) in [(1usize, "status"), (3, "rusage")] {
        all_efault(&ptrs, |p| {
            let pid = match spawn(|| 0) {
                Ok(pid) => pid,
                Err(_) => return Err(Errno::EAGAIN),
            };
            let mut a = [pid as usize, 0, 0, 0];
            a[arg] = p;
            let r = sc(SYS_wait4, &[a[0], a[1], a[2], a[3]]);
            // Collect the child if the failed wait left it.
            let _ = rt::waitpid(pid, 0);
            r
        })
        .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(format!("status and rusage: {} pointers each", ptrs.len()))
}

pub fn pipe() -> Outcome {
    let m = BadMem::new()?;
    let probe = rt::dup(0).ctx("dup")?;
    let _ = rt::close(probe);
    let r = all_efault(&m.unwritable(), |p| sc(SYS_pipe, &[p]))?;
    let after = rt::dup(0).ctx("dup")?;
    let _ = rt::close(after);
    ensure!(after == probe, "failed pipe() calls leaked descriptors: lowest free fd {probe} -> {after}");
    Ok(format!("{r}, no descriptor leaked"))
}

pub fn stat() -> Outcome {
    let m = BadMem::new()?;
    let ptrs = m.unwritable();
    let fd = motd()?;
    let path = c"/etc/motd".as_ptr() as usize;
    let r = all_efault(&ptrs, |p| sc(SYS_fstat, &[fd as usize, p]));
    let _ = rt::close(fd);
    r.map_err(|e| format!("fstat: {e}"))?;
    all_efault(&ptrs, |p| sc(SYS_stat, &[path, p])).map_err(|e| format!("stat: {e}"))?;
    Ok(format!("fstat and stat: {} pointers each", ptrs.len()))
}

pub fn getdents() -> Outcome {
    let m = BadMem::new()?;
    let fd = rt::open("/bin", O_RDONLY | O_DIRECTORY, 0).ctx("open /bin")?;
    let r = all_efault(&m.unwritable(), |p| sc(SYS_getdents, &[fd as usize, p, 4096]));
    // The failed calls consumed no entries: "." still comes first.
    let mut buf = [0u8; 4096];
    let n = rt::getdents(fd, &mut buf);
    let _ = rt::close(fd);
    let r = r?;
    let n = n.ctx("getdents")?;
    let first = rt::fs::Dirents::new(&buf[..n]).next();
    ensure!(n >= DIRENT_HDR, "getdents after the failures returned {n} bytes");
    ensure!(
        first.is_some_and(|d| d.name == b"."),
        "failed getdents calls consumed entries: first is now {first:?}"
    );
    Ok(r)
}

pub fn sigaction() -> Outcome {
    let m = BadMem::new()?;
    // NULL act only reads the action, NULL oact asks for none.
    let a = all_efault(&m.unreadable_nonnull(), |p| sc(SYS_sigaction, &[SIGUSR1 as usize, p, 0]))
        .map_err(|e| format!("act: {e}"))?;
    all_efault(&m.unwritable_nonnull(), |p| sc(SYS_sigaction, &[SIGUSR1 as usize, 0, p]))
        .map_err(|e| format!("oact: {e}"))?;
    let mut old = SigAction::default();
    rt::sigaction(SIGUSR1, None, Some(&mut old)).ctx("sigaction")?;
    ensure!(old.sa_handler == SIG_DFL, "a failed sigaction changed the handler to {:#x}", old.sa_handler);
    Ok(format!("act: {a}; oact too; handler unchanged"))
}

pub fn nanosleep() -> Outcome {
    let m = BadMem::new()?;
    all_efault(&m.unreadable(), |p| sc(SYS_nanosleep, &[p, 0]))
}

pub fn clock_gettime() -> Outcome {
    let m = BadMem::new()?;
    all_efault(&m.unwritable(), |p| sc(SYS_clock_gettime, &[CLOCK_MONOTONIC as usize, p]))
}

pub fn getrusage() -> Outcome {
    let m = BadMem::new()?;
    all_efault(&m.unwritable(), |p| sc(SYS_getrusage, &[sys::resource::RUSAGE_SELF as usize, p]))
}

pub fn getcwd() -> Outcome {
    let m = BadMem::new()?;
    // "/bin" and its NUL do not fit in the 2 bytes before the hole.
    rt::chdir("/bin").ctx("chdir /bin")?;
    all_efault(&m.unwritable(), |p| sc(SYS___getcwd, &[p, 1024]))
}

pub fn sysctl() -> Outcome {
    let m = BadMem::new()?;
    let name = [CTL_KERN, KERN_VMSTATS];
    let np = name.as_ptr() as usize;
    let mut out = KernVmStats::default();
    let op = &mut out as *mut _ as usize;
    let size = core::mem::size_of::<KernVmStats>();
    let call = |a: [usize; 4]| sc(SYS_sysctl, &[a[0], 2, a[1], a[2], a[3], 0]);
    all_efault(&m.unreadable(), |p| {
        let mut len = size;
        call([p, op, &mut len as *mut usize as usize, 0])
    })
    .map_err(|e| format!("name: {e}"))?;
    // NULL oldp (and oldlenp) ask only for the size.
    all_efault(&m.unwritable_nonnull(), |p| {
        let mut len = size;
        call([np, p, &mut len as *mut usize as usize, 0])
    })
    .map_err(|e| format!("oldp: {e}"))?;
    all_efault(&m.unwritable_nonnull(), |p| call([np, op, p, 0])).map_err(|e| format!("oldlenp: {e}"))?;
    all_efault(&m.unwritable_nonnull(), |p| call([np, 0, p, 0]))
        .map_err(|e| format!("oldlenp (size query): {e}"))?;
    Ok("name, oldp, oldlenp refused with EFAULT".into())
}

/// __tfork with a bad parameter block, and with a good block whose tid
/// pointer is bad (NULL there means "do not store it"). The stack given
/// is the top of an unmapped page: should a buggy kernel start the thread
/// anyway, its first stack access kills the process, so the test fails
/// either way rather than run two threads on one stack.
pub fn tfork() -> Outcome {
    let m = BadMem::new()?;
    let size = core::mem::size_of::<sys::tfork::Tfork>();
    let p =
        all_efault(&m.unreadable(), |p| sc(SYS___tfork, &[p, size])).map_err(|e| format!("param: {e}"))?;
    let stack = m.hole + sys::vmparam::PAGE_SIZE;
    all_efault(&m.unwritable_nonnull(), |p| {
        let t = sys::tfork::Tfork { tf_tcb: 0, tf_tid: p, tf_stack: stack };
        sc(SYS___tfork, &[&t as *const _ as usize, size])
    })
    .map_err(|e| format!("tf_tid: {e}"))?;
    let k = kinfo(rt::getpid())?.ok_or("not in the process list")?;
    ensure!(k.p_nthreads == 1, "{} threads after failed __tfork calls", k.p_nthreads);
    Ok(format!("param: {p}; bad tf_tid refused too; still 1 thread"))
}
