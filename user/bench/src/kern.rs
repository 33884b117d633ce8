//! The thin system-call layer: the same calls on oxbsd and on Linux.
//!
//! Which kernel runs the program is found once, at start, from the auxv
//! (Linux always passes AT_RANDOM; oxbsd passes no such entry), so one
//! binary serves both and the workload above this file takes the same path
//! on either. Each function below is one system call on each kernel
//! (Linux has no plain `fork` on arm64, so both Linux arches use
//! `clone(SIGCHLD)`, which is what Linux's own `fork` does inside).
//! Errors are the running kernel's errno values; the workload treats any
//! error as a failure and only names EINTR, which both number 4.
//!
//! Structures the two kernels lay out alike on 64-bit: `struct timespec`,
//! `struct rusage` (two timevals, fourteen longs), the wait status word.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::trap;

pub use sys::resource::Rusage;
pub use sys::sysctl::KernCpuStats;

static LINUX: AtomicBool = AtomicBool::new(false);

/// Which kernel this is, decided from the auxv at start.
pub fn is_linux() -> bool {
    LINUX.load(Ordering::Relaxed)
}

/// The kernel's name, as the reports print it.
pub fn kernel_name() -> &'static str {
    if is_linux() { "linux" } else { "oxbsd" }
}

/// Linux's AT_RANDOM (16 random bytes for the C library), which it puts in
/// every process's auxv.
const AT_RANDOM: usize = 25;

/// Record the kernel from the auxv pairs (type, value), ending at type 0.
pub fn detect(auxv: impl Iterator<Item = (usize, usize)>) {
    let linux = auxv.take_while(|&(t, _)| t != 0).any(|(t, _)| t == AT_RANDOM);
    LINUX.store(linux, Ordering::Relaxed);
}

pub type Result<T> = core::result::Result<T, i32>;

pub const EINTR: i32 = 4;

/// One number per kernel for a call.
#[derive(Clone, Copy)]
struct Nr {
    oxbsd: usize,
    linux: usize,
}

#[cfg(target_arch = "aarch64")]
const fn nr(oxbsd: usize, _linux_amd64: usize, linux_arm64: usize) -> Nr {
    Nr { oxbsd, linux: linux_arm64 }
}
#[cfg(not(target_arch = "aarch64"))]
const fn nr(oxbsd: usize, linux_amd64: usize, _linux_arm64: usize) -> Nr {
    Nr { oxbsd, linux: linux_amd64 }
}

use sys::syscall as s;
// oxbsd's number, then Linux x86_64's, then Linux aarch64's.
const EXIT: Nr = nr(s::SYS_exit, 231, 94); // Linux: exit_group
const FORK: Nr = nr(s::SYS_fork, 56, 220); // Linux: clone
const READ: Nr = nr(s::SYS_read, 0, 63);
const WRITE: Nr = nr(s::SYS_write, 1, 64);
const OPEN: Nr = nr(s::SYS_open, 257, 56); // Linux: openat
const CLOSE: Nr = nr(s::SYS_close, 3, 57);
const UNLINK: Nr = nr(s::SYS_unlink, 263, 35); // Linux: unlinkat
const WAIT4: Nr = nr(s::SYS_wait4, 61, 260);
const GETRUSAGE: Nr = nr(s::SYS_getrusage, 98, 165);
const GETPID: Nr = nr(s::SYS_getpid, 39, 172);
const MMAP: Nr = nr(s::SYS_mmap, 9, 222);
const MUNMAP: Nr = nr(s::SYS_munmap, 11, 215);
const EXECVE: Nr = nr(s::SYS_execve, 59, 221);
const CLOCK_GETTIME: Nr = nr(s::SYS_clock_gettime, 228, 113);
const PIPE: Nr = nr(s::SYS_pipe, 293, 59); // Linux: pipe2
const REBOOT: Nr = nr(s::SYS_reboot, 169, 142);
const SYSCTL: Nr = nr(s::SYS_sysctl, usize::MAX, usize::MAX); // oxbsd only
const MOUNT: Nr = nr(usize::MAX, 165, 40); // Linux only (for /proc/stat)

const LINUX_AT_FDCWD: usize = -100isize as usize;
const LINUX_SIGCHLD: usize = 17;

/// # Safety
/// As [`trap`]: the arguments must be valid for the call.
unsafe fn call(n: Nr, a: [usize; 6]) -> Result<usize> {
    if is_linux() {
        // SAFETY: forwarded.
        let (r, _) = unsafe { trap(n.linux, a) };
        if r > -4096isize as usize { Err(r.wrapping_neg() as i32) } else { Ok(r) }
    } else {
        // SAFETY: forwarded.
        let (r, err) = unsafe { trap(n.oxbsd, a) };
        if err { Err(r as i32) } else { Ok(r) }
    }
}

pub fn exit(status: i32) -> ! {
    // SAFETY: no pointers.
    let _ = unsafe { call(EXIT, [status as usize, 0, 0, 0, 0, 0]) };
    unreachable!("exit returned")
}

/// fork(2): 0 in the child, the child's pid in the parent.
pub fn fork() -> Result<i32> {
    let a = if is_linux() { [LINUX_SIGCHLD, 0, 0, 0, 0, 0] } else { [0; 6] };
    // SAFETY: no pointers; the child gets a copy of this address space.
    unsafe { call(FORK, a).map(|r| r as i32) }
}

pub fn getpid() -> i32 {
    // SAFETY: no pointers.
    unsafe { call(GETPID, [0; 6]).map_or(-1, |r| r as i32) }
}

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    unsafe { call(READ, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0]) }
}

pub fn write(fd: i32, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads buf.len() bytes of buf.
    unsafe { call(WRITE, [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0]) }
}

/// Write all of `buf`, going on after short writes and EINTR.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(5),
            Ok(n) => buf = &buf[n..],
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read until `buf` is full or end of file; returns the bytes read.
pub fn read_full(fd: i32, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Open `path` (NUL-terminated) for reading.
pub fn open_read(path: &[u8]) -> Result<i32> {
    open(path, 0, 0)
}

/// Create or truncate `path` (NUL-terminated) for writing, mode 0644.
pub fn create(path: &[u8]) -> Result<i32> {
    // O_WRONLY | O_CREAT | O_TRUNC on each kernel.
    let flags = if is_linux() {
        0o1 | 0o100 | 0o1000
    } else {
        sys::fcntl::O_WRONLY | sys::fcntl::O_CREAT | sys::fcntl::O_TRUNC
    };
    open(path, flags, 0o644)
}

fn open(path: &[u8], flags: i32, mode: usize) -> Result<i32> {
    assert!(path.last() == Some(&0), "paths passed to the kernel end in NUL");
    let p = path.as_ptr() as usize;
    let a = if is_linux() {
        [LINUX_AT_FDCWD, p, flags as usize, mode, 0, 0]
    } else {
        [p, flags as usize, mode, 0, 0, 0]
    };
    // SAFETY: path is a NUL-terminated string that outlives the call.
    unsafe { call(OPEN, a).map(|r| r as i32) }
}

pub fn close(fd: i32) -> Result<()> {
    // SAFETY: no pointers.
    unsafe { call(CLOSE, [fd as usize, 0, 0, 0, 0, 0]).map(drop) }
}

pub fn unlink(path: &[u8]) -> Result<()> {
    assert!(path.last() == Some(&0), "paths passed to the kernel end in NUL");
    let p = path.as_ptr() as usize;
    let a = if is_linux() { [LINUX_AT_FDCWD, p, 0, 0, 0, 0] } else { [p, 0, 0, 0, 0, 0] };
    // SAFETY: path is a NUL-terminated string that outlives the call.
    unsafe { call(UNLINK, a).map(drop) }
}

/// wait4(pid, &status, 0, &rusage): (pid, status).
pub fn wait4(pid: i32, ru: Option<&mut Rusage>) -> Result<(i32, i32)> {
    let mut st = 0i32;
    let rup = ru.map_or(0, |r| r as *mut Rusage as usize);
    loop {
        // SAFETY: the kernel writes one int into st and one rusage (the
        // same layout on both kernels) into *rup when it is not null.
        match unsafe { call(WAIT4, [pid as usize, &mut st as *mut i32 as usize, 0, rup, 0, 0]) } {
            Ok(p) => return Ok((p as i32, st)),
            Err(EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// getrusage(RUSAGE_CHILDREN), -1 on both kernels.
pub fn rusage_children() -> Rusage {
    let mut ru = Rusage::default();
    // SAFETY: the kernel writes one rusage into ru.
    let _ = unsafe { call(GETRUSAGE, [-1isize as usize, &mut ru as *mut Rusage as usize, 0, 0, 0, 0]) };
    ru
}

/// An anonymous private read-write mapping of `len` bytes.
pub fn mmap_anon(len: usize) -> Result<*mut u8> {
    let flags =
        if is_linux() { 0x02 | 0x20 } else { (sys::mman::MAP_PRIVATE | sys::mman::MAP_ANON) as usize };
    let prot = (sys::mman::PROT_READ | sys::mman::PROT_WRITE) as usize;
    // SAFETY: a new mapping at an address the kernel chooses changes no
    // memory Rust already refers to.
    unsafe { call(MMAP, [0, len, prot, flags, usize::MAX, 0]).map(|a| a as *mut u8) }
}

/// # Safety
/// Nothing may use `[p, p + len)` afterwards.
pub unsafe fn munmap(p: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the caller gives the range up.
    unsafe { call(MUNMAP, [p as usize, len, 0, 0, 0, 0]).map(drop) }
}

/// execve(path, argv, envp = {NULL}); returns only on failure.
/// `argv` entries are NUL-terminated.
pub fn execve(path: &[u8], argv: &[&[u8]]) -> i32 {
    assert!(path.last() == Some(&0) && argv.iter().all(|a| a.last() == Some(&0)));
    let mut v = [core::ptr::null::<u8>(); 16];
    assert!(argv.len() < v.len(), "too many arguments for execve");
    for (d, a) in v.iter_mut().zip(argv) {
        *d = a.as_ptr();
    }
    let envp = [core::ptr::null::<u8>()];
    // SAFETY: every pointer is a NUL-terminated string or a NULL-ended
    // array of them, alive for the call.
    match unsafe {
        call(EXECVE, [path.as_ptr() as usize, v.as_ptr() as usize, envp.as_ptr() as usize, 0, 0, 0])
    } {
        Err(e) => e,
        Ok(_) => -1,
    }
}

/// The monotonic clock in nanoseconds: oxbsd's counts from boot, Linux's
/// from about boot.
pub fn clock_ns() -> u64 {
    let id = if is_linux() { 1 } else { sys::time::CLOCK_MONOTONIC as usize };
    let mut ts = sys::time::Timespec::default();
    // SAFETY: the kernel writes one timespec into ts.
    let _ = unsafe { call(CLOCK_GETTIME, [id, &mut ts as *mut _ as usize, 0, 0, 0, 0]) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn pipe() -> Result<[i32; 2]> {
    let mut fds = [-1i32; 2];
    // SAFETY: the kernel writes two ints into fds (Linux's pipe2 with
    // flags 0 is pipe).
    unsafe { call(PIPE, [fds.as_mut_ptr() as usize, 0, 0, 0, 0, 0])? };
    Ok(fds)
}

/// Power the machine off (this must be process 1); `status` reaches the
/// host on oxbsd (its reboot(2) carries one), Linux has none to give.
pub fn poweroff(status: u8) -> ! {
    let a = if is_linux() {
        // LINUX_REBOOT_MAGIC1, MAGIC2, LINUX_REBOOT_CMD_POWER_OFF
        [0xfee1_dead, 0x2812_1969, 0x4321_fedc, 0, 0, 0]
    } else {
        [sys::reboot::rb_poweroff_status(status) as usize, 0, 0, 0, 0, 0]
    };
    // SAFETY: no pointers.
    let _ = unsafe { call(REBOOT, a) };
    exit(status as i32)
}

/// The most CPUs the counters are read for.
pub const MAXCPU: usize = 16;

/// oxbsd's per-CPU counters (KERN_CPUSTATS) summed over CPUs, and the CPU
/// count; None on Linux, which has no such sysctl, or on a kernel that
/// does not answer it.
pub fn cpustats() -> Option<(KernCpuStats, usize)> {
    if is_linux() {
        return None;
    }
    let mut buf = [KernCpuStats::default(); MAXCPU];
    let name = [sys::sysctl::CTL_KERN, sys::sysctl::KERN_CPUSTATS];
    let mut len = core::mem::size_of_val(&buf);
    // SAFETY: the kernel writes at most `len` bytes into buf and the size
    // into len.
    let r = unsafe {
        call(
            SYSCTL,
            [name.as_ptr() as usize, 2, buf.as_mut_ptr() as usize, &mut len as *mut usize as usize, 0, 0],
        )
    };
    r.ok()?;
    let n = len / core::mem::size_of::<KernCpuStats>();
    Some((crate::stats::sum(&buf[..n]), n))
}

/// On Linux, mount procfs at /proc so [`system_cpu`] can read
/// /proc/stat (oxbsd answers the same question by sysctl; this is done
/// once, before any test).
pub fn mount_proc() -> Result<()> {
    if !is_linux() {
        return Ok(());
    }
    let (src, dir) = (b"proc\0", b"/proc\0");
    // SAFETY: NUL-terminated strings that outlive the call; no data.
    unsafe {
        call(MOUNT, [src.as_ptr() as usize, dir.as_ptr() as usize, src.as_ptr() as usize, 0, 0, 0]).map(drop)
    }
}

/// The whole system's CPU time since boot, all CPUs: (busy, idle) in ns.
/// oxbsd: the counters' user + sys + intr and idle (cycle counter).
/// Linux: /proc/stat's first line, in USER_HZ (100) ticks: user, nice,
/// system, irq, softirq and steal as busy, idle and iowait as idle.
pub fn system_cpu() -> Option<(u64, u64)> {
    if !is_linux() {
        let (c, _) = cpustats()?;
        return Some((c.user_ns + c.sys_ns + c.intr_ns, c.idle_ns));
    }
    let mut buf = [0u8; 512];
    let fd = open_read(b"/proc/stat\0").ok()?;
    let n = read_full(fd, &mut buf).ok();
    let _ = close(fd);
    proc_stat_cpu(&buf[..n?])
}

/// Parse /proc/stat's aggregate `cpu` line into (busy, idle) ns.
pub fn proc_stat_cpu(text: &[u8]) -> Option<(u64, u64)> {
    let line = text.split(|&c| c == b'\n').next()?.strip_prefix(b"cpu ")?;
    let mut v = [0u64; 8];
    let mut k = 0;
    for w in line.split(|&c| c == b' ').filter(|w| !w.is_empty()).take(8) {
        v[k] = crate::fmt::parse_u64(w)?;
        k += 1;
    }
    if k < 5 {
        return None;
    }
    const TICK_NS: u64 = 10_000_000;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    Some(((user + nice + system + irq + softirq + steal) * TICK_NS, (idle + iowait) * TICK_NS))
}

/// `bytes` of fresh anonymous memory as words (never unmapped: the
/// programs that use it exit soon after).
pub fn mmap_words(bytes: usize) -> Result<&'static mut [u64]> {
    let p = mmap_anon(bytes)?;
    // SAFETY: a new private mapping of `bytes` bytes, page-aligned,
    // zero-filled and referred to by nothing else.
    Ok(unsafe { core::slice::from_raw_parts_mut(p as *mut u64, bytes / 8) })
}

/// Run `path` with `argv` in a child and wait for it: its wait status.
pub fn spawn_wait(path: &[u8], argv: &[&[u8]], ru: Option<&mut Rusage>) -> Result<i32> {
    let pid = spawn(path, argv)?;
    wait4(pid, ru).map(|(_, st)| st)
}

/// fork, and exec `path` in the child (which exits 127 if exec fails).
pub fn spawn(path: &[u8], argv: &[&[u8]]) -> Result<i32> {
    match fork()? {
        0 => {
            let e = execve(path, argv);
            crate::outln!("exec {}: error {e}", core::str::from_utf8(&path[..path.len() - 1]).unwrap_or("?"));
            exit(127)
        }
        pid => Ok(pid),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_aggregate_cpu_line() {
        let t = b"cpu  10 1 5 100 2 3 4 0 0 0\ncpu0 5 0 2 50 1 1 2 0 0 0\n";
        assert_eq!(super::proc_stat_cpu(t), Some((23 * 10_000_000, 102 * 10_000_000)));
        assert_eq!(super::proc_stat_cpu(b"cpu0 1 2 3 4 5\n"), None, "only the aggregate line");
        assert_eq!(super::proc_stat_cpu(b"cpu  1 2\n"), None, "too short");
    }
}
