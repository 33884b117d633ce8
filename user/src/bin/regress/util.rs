//! What the tests share: the outcome type and `ensure!`, errno-to-text
//! helpers, children run under a timeout, KERN_VMSTATS and KERN_PROC
//! reads, pipes, mappings, and the set of bad pointers the EFAULT tests
//! hand to the kernel.

use core::time::Duration;

use rt::prelude::*;
use rt::process::WaitStatus;
use sys::mman::{MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use sys::resource::Rusage;
use sys::signal::SIGKILL;
use sys::sysctl::{CTL_KERN, KERN_PROC, KERN_PROC_ALL, KERN_VMSTATS, KernVmStats, KinfoProc};
use sys::vmparam::PAGE_SIZE;
use sys::wait::WNOHANG;

/// A test's verdict: Ok(detail) or Err(why), one line each.
pub type Outcome = core::result::Result<String, String>;

/// A step of a test: Err says why the test failed.
pub type Res<T> = core::result::Result<T, String>;

/// Fail the test with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(alloc::format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;

/// Turn a system call's `Errno` into a test failure naming the call.
pub trait Ctx<T> {
    fn ctx(self, what: &str) -> core::result::Result<T, String>;
}

impl<T> Ctx<T> for rt::Result<T> {
    fn ctx(self, what: &str) -> core::result::Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Check that a call failed with exactly `want`.
pub fn expect_err<T: core::fmt::Debug>(what: &str, r: rt::Result<T>, want: Errno) -> Res<()> {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: expected {want:?}, got {e:?}")),
        Ok(v) => Err(format!("{what}: expected {want:?}, but it succeeded ({v:?})")),
    }
}

pub fn now() -> Duration {
    rt::time::now().unwrap_or_default()
}

pub fn sleep_ms(ms: u64) {
    let _ = rt::time::sleep(Duration::from_millis(ms));
}

/// Fork a child that runs `f` and exits with its result. Only the parent
/// returns.
pub fn spawn(f: impl FnOnce() -> i32) -> Res<i32> {
    let pid = rt::fork().ctx("fork")?;
    if pid == 0 {
        rt::exit(f());
    }
    Ok(pid)
}

/// A child that sends `sig` to `target` every `ms` milliseconds until it
/// can no longer (or is killed): for tests that need a signal to land
/// while they block, where one sent just before the call blocks would be
/// missed. Returns its pid.
pub fn signal_repeatedly(target: i32, sig: u32, ms: u64) -> Res<i32> {
    spawn(move || {
        loop {
            sleep_ms(ms);
            if rt::kill(target, sig).is_err() {
                return 0;
            }
        }
    })
}

/// How long a test waits for one of its own children before killing it.
pub const CHILD_LIMIT: Duration = Duration::from_secs(10);

/// Wait for child `pid`, polling with WNOHANG so that a child that never
/// ends cannot stall the suite: after `limit` it is sent SIGKILL, reaped,
/// and the wait is a failure.
pub fn wait_rusage(pid: i32, limit: Duration) -> Res<(WaitStatus, Rusage)> {
    let t0 = now();
    let mut killed = false;
    loop {
        let mut st = 0;
        let mut ru = Rusage::default();
        match rt::wait4(pid, Some(&mut st), WNOHANG, Some(&mut ru)) {
            Ok(0) => {}
            Ok(p) if p == pid => {
                if killed {
                    return Err(format!("child {pid} still running after {limit:?}; killed"));
                }
                return Ok((WaitStatus(st), ru));
            }
            Ok(p) => return Err(format!("wait4({pid}) returned pid {p}")),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("wait4({pid}): {e}")),
        }
        let waited = now() - t0;
        if !killed && waited > limit {
            let _ = rt::kill(pid, SIGKILL);
            killed = true;
        } else if killed && waited > limit + Duration::from_secs(5) {
            return Err(format!("child {pid} survived SIGKILL for 5 s"));
        }
        sleep_ms(5);
    }
}

pub fn wait_for(pid: i32) -> Res<WaitStatus> {
    wait_rusage(pid, CHILD_LIMIT).map(|(s, _)| s)
}

/// Run `f` in a child and say how it ended.
pub fn in_child(f: impl FnOnce() -> i32) -> Res<WaitStatus> {
    let pid = spawn(f)?;
    wait_for(pid)
}

pub fn expect_exit(what: &str, st: WaitStatus, code: i32) -> Res<()> {
    ensure!(st.exited() == Some(code), "{what}: {st}, expected exit {code}");
    Ok(())
}

pub fn expect_signal(what: &str, st: WaitStatus, sig: u32) -> Res<()> {
    ensure!(
        st.signaled() == Some(sig),
        "{what}: {st}, expected to be killed by {}",
        rt::signal::signame(sig)
    );
    Ok(())
}

/// Pages not in use: free, held by the kernel heap's arena (which keeps
/// what it grows; its objects are counted by the process and thread
/// totals, so a leaked thread or process still shows), or kernel stacks
/// cached for the next fork.
pub fn avail(s: &KernVmStats) -> u64 {
    s.free_pages + s.heap_pages + s.kstack_cached_pages
}

pub fn vmstats() -> Res<KernVmStats> {
    rt::sysctl::sysctl_read::<KernVmStats>(&[CTL_KERN, KERN_VMSTATS]).ctx("sysctl kern.vmstats")
}

/// Poll KERN_VMSTATS until `done` holds or `limit` passes; returns the
/// last reading and whether `done` held. Exits are finished by other
/// threads (the reaper), so counts may lag a wait4 by a moment.
pub fn vmstats_until(limit: Duration, done: impl Fn(&KernVmStats) -> bool) -> Res<(KernVmStats, bool)> {
    let t0 = now();
    loop {
        let s = vmstats()?;
        if done(&s) {
            return Ok((s, true));
        }
        if now() - t0 > limit {
            return Ok((s, false));
        }
        sleep_ms(10);
    }
}

/// This kernel's record of process `pid`.
pub fn kinfo(pid: i32) -> Res<Option<KinfoProc>> {
    Ok(processes()?.into_iter().find(|k| k.p_pid == pid))
}

/// Every process the kernel lists (zombies too).
pub fn processes() -> Res<Vec<KinfoProc>> {
    rt::sysctl::sysctl_vec(&[
        CTL_KERN,
        KERN_PROC,
        KERN_PROC_ALL,
        0,
        core::mem::size_of::<KinfoProc>() as i32,
        0,
    ])
    .ctx("sysctl kern.proc")
}

/// Read exactly `buf.len()` bytes unless end of file comes first; returns
/// how many were read.
pub fn read_full(fd: i32, buf: &mut [u8]) -> Res<usize> {
    let mut got = 0;
    while got < buf.len() {
        match rt::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(got)
}

pub fn write_all(fd: i32, b: &[u8]) -> Res<()> {
    rt::io::write_all(&mut rt::io::Fd(fd), b).ctx("write")
}

/// Read one byte (None at end of file).
pub fn read_byte(fd: i32) -> Res<Option<u8>> {
    let mut b = [0u8; 1];
    Ok((read_full(fd, &mut b)? == 1).then_some(b[0]))
}

/// Anonymous read-write mapping of `pages` pages.
pub fn map_pages(pages: usize) -> Res<*mut u8> {
    // SAFETY: a new mapping where the kernel chooses replaces nothing.
    unsafe { rt::mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0) }
        .ctx("mmap")
}

/// A kernel address in the amd64 direct map and one in arm64's upper half
/// (both outside user space on both arches).
pub const KERN_LO: usize = 0xffff_8000_0000_0000;
pub const KERN_HI: usize = 0xffff_ff80_0000_0000;

/// User addresses that must not work: a hole where a page was unmapped, a
/// read-only page, and an address 2 bytes before the hole whose page is
/// writable and full of non-NUL bytes (a copy that starts fine and runs
/// into the hole).
pub struct BadMem {
    pub base: *mut u8,
    pub hole: usize,
    pub ro: usize,
    pub edge: usize,
}

impl BadMem {
    pub fn new() -> Res<BadMem> {
        let base = map_pages(3)?;
        // SAFETY: the three pages were just mapped read-write and nothing
        // else refers to them; the hole and the read-only page are only
        // ever handed to the kernel or touched in a child meant to fault.
        unsafe {
            core::ptr::write_bytes(base, b'a', 3 * PAGE_SIZE);
            rt::munmap(base.add(PAGE_SIZE), PAGE_SIZE).ctx("munmap")?;
            rt::mprotect(base.add(2 * PAGE_SIZE), PAGE_SIZE, PROT_READ).ctx("mprotect")?;
        }
        let b = base as usize;
        Ok(BadMem { base, hole: b + PAGE_SIZE, ro: b + 2 * PAGE_SIZE, edge: b + PAGE_SIZE - 2 })
    }

    /// Pointers the kernel may not read through (or write through).
    pub fn unreadable(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("NULL", 0),
            ("kernel 0xffff800000000000", KERN_LO),
            ("kernel 0xffffff8000000000", KERN_HI),
            ("unmapped", self.hole),
            ("page-crossing into unmapped", self.edge),
        ]
    }

    /// As `unreadable`, plus a read-only page: for calls that write to
    /// user memory.
    pub fn unwritable(&self) -> Vec<(&'static str, usize)> {
        let mut v = self.unreadable();
        v.push(("read-only page", self.ro));
        v
    }

    /// Without NULL, for arguments where NULL means "none" (wait4's
    /// status, sigaction's act, sysctl's oldp...).
    pub fn unreadable_nonnull(&self) -> Vec<(&'static str, usize)> {
        self.unreadable().into_iter().filter(|&(_, p)| p != 0).collect()
    }

    pub fn unwritable_nonnull(&self) -> Vec<(&'static str, usize)> {
        self.unwritable().into_iter().filter(|&(_, p)| p != 0).collect()
    }
}

impl Drop for BadMem {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), no longer used.
        let _ = unsafe { rt::munmap(self.base, 3 * PAGE_SIZE) };
    }
}

/// Call `f` with each pointer; every call must fail with EFAULT. Then a
/// harmless call must still work.
pub fn all_efault(ptrs: &[(&'static str, usize)], f: impl Fn(usize) -> rt::Result<usize>) -> Outcome {
    let mut bad = Vec::new();
    for &(what, p) in ptrs {
        match f(p) {
            Err(Errno::EFAULT) => {}
            Err(e) => bad.push(format!("{what}: {e:?}")),
            Ok(v) => bad.push(format!("{what}: succeeded ({v})")),
        }
    }
    ensure!(rt::getpid() > 0, "getpid failed after the bad pointers");
    ensure!(bad.is_empty(), "not EFAULT: {}", bad.join("; "));
    Ok(format!("EFAULT for {} pointers", ptrs.len()))
}

/// Touch `kib` KiB of stack so later calls at this depth or less fault in
/// no new stack pages (keeps free-page accounting steady).
#[inline(never)]
pub fn touch_stack(kib: usize) {
    let mut buf = [0u8; 1024];
    core::hint::black_box(&mut buf);
    if kib > 1 {
        touch_stack(kib - 1);
    }
    core::hint::black_box(&buf);
}

/// The PT_LOAD segments of an ELF64 image whose first bytes are `hdr`:
/// (vaddr, memsz) pairs, and the entry point.
pub fn load_segments(hdr: &[u8]) -> Option<(usize, Vec<(usize, usize)>)> {
    const PT_LOAD: u32 = 1;
    let u16_at = |o: usize| Some(u16::from_le_bytes(hdr.get(o..o + 2)?.try_into().ok()?) as usize);
    let u32_at = |o: usize| Some(u32::from_le_bytes(hdr.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(hdr.get(o..o + 8)?.try_into().ok()?) as usize);
    if hdr.get(..4)? != b"\x7fELF" {
        return None;
    }
    let (entry, phoff, phent, phnum) = (u64_at(24)?, u64_at(32)?, u16_at(54)?, u16_at(56)?);
    let mut segs = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phent;
        if u32_at(ph)? == PT_LOAD {
            segs.push((u64_at(ph + 16)?, u64_at(ph + 40)?));
        }
    }
    Some((entry, segs))
}

/// The first page of this program's file (argv[0], else /bin/regress).
pub fn own_header(args: &Args, buf: &mut [u8]) -> Res<usize> {
    let path = args.str(0).filter(|p| p.starts_with('/')).unwrap_or("/bin/regress");
    let fd = rt::open(path, sys::fcntl::O_RDONLY, 0).ctx(path)?;
    let n = read_full(fd, buf);
    let _ = rt::close(fd);
    n
}

/// Read one byte of every page of the program's PT_LOAD segments (taken
/// from its file), so that none is faulted in later; returns how many
/// pages that was.
pub fn touch_image(args: &Args) -> usize {
    let mut hdr = [0u8; 1024];
    let Ok(n) = own_header(args, &mut hdr) else { return 0 };
    let Some((_, segs)) = load_segments(&hdr[..n]) else { return 0 };
    let mut pages = 0;
    for (vaddr, memsz) in segs {
        let mut a = vaddr & !(PAGE_SIZE - 1);
        while a < vaddr + memsz {
            // SAFETY: inside a PT_LOAD segment of this very program, which
            // exec mapped readable (every segment of a program has PF_R).
            unsafe { core::ptr::read_volatile(a as *const u8) };
            pages += 1;
            a += PAGE_SIZE;
        }
    }
    pages
}
