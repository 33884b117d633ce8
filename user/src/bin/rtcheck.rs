//! /bin/rtcheck: a smoke test of the runtime and the system calls under
//! it — arguments, heap reuse and large mappings, fork/wait, exec, pipes,
//! threads and join, signals, clocks. Each check prints one line; the last
//! line is `rtcheck: N passed, N failed` and the exit status is the number
//! failed. Handy as a first init while the kernel grows:
//! `cargo xtask run --init /bin/rtcheck`.
#![no_std]
#![cfg_attr(not(test), no_main)]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration;

use rt::prelude::*;
use rt::process::{exit, fork, waitpid};
use sys::signal::SIGUSR1;

rt::entry!(main);

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &str, r: core::result::Result<String, String>) {
        match r {
            Ok(detail) => {
                self.passed += 1;
                println!("ok   {name}: {detail}");
            }
            Err(why) => {
                self.failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
}

type Check = core::result::Result<String, String>;

fn e(what: &str, err: Errno) -> String {
    format!("{what}: {err}")
}

fn args_env(args: &Args) -> Check {
    if args.is_empty() || args.str(0).is_none() {
        return Err("argv is empty".into());
    }
    Ok(format!(
        "argc {}, {} env vars, {} auxv entries",
        args.len(),
        args.env().count(),
        args.auxv_pairs().count()
    ))
}

fn heap() -> Check {
    let before = rt::heap::stats();
    let boxes =
        |tag: u8| -> Vec<Box<[u8; 64]>> { (0..1000).map(|i| Box::new([tag ^ i as u8; 64])).collect() };
    let v = boxes(0);
    if v.iter().enumerate().any(|(i, b)| b[63] != i as u8) {
        return Err("boxes overlap".into());
    }
    drop(v);
    let grown = rt::heap::stats();
    // The same again must fit in the memory just freed.
    let v = boxes(0x5a);
    let again = rt::heap::stats();
    drop(v);
    if again.heap_mapped != grown.heap_mapped {
        return Err(format!(
            "freed memory not reused: heap grew {} -> {}",
            grown.heap_mapped, again.heap_mapped
        ));
    }
    let big: Vec<u8> = vec![0xa5; 1 << 20];
    let mapped = rt::heap::stats().direct_mapped;
    let sum: usize = big.iter().map(|&b| b as usize).sum();
    drop(big);
    let after = rt::heap::stats();
    if sum != 0xa5 << 20 || mapped < 1 << 20 {
        return Err(format!("large buffer: sum {sum:#x}, direct {mapped}"));
    }
    if after.direct_mapped != before.direct_mapped || after.heap_in_use != before.heap_in_use {
        return Err(format!("not all memory returned: {before:?} -> {after:?}"));
    }
    Ok(format!("freed memory reused, 1 MiB mapped and unmapped, {} KiB of heap", after.heap_mapped >> 10))
}

fn fork_wait() -> Check {
    let pid = fork().map_err(|x| e("fork", x))?;
    if pid == 0 {
        exit(7);
    }
    let (p, st) = waitpid(pid, 0).map_err(|x| e("wait4", x))?;
    if p != pid || st.exited() != Some(7) {
        return Err(format!("waited for {pid}, got {p} with {st}"));
    }
    Ok(format!("child {pid} {st}"))
}

fn exec_status(path: &str, want: i32) -> Check {
    let pid = fork().map_err(|x| e("fork", x))?;
    if pid == 0 {
        let err = rt::execv(path, &[path]);
        eprintln!("rtcheck: exec {path}: {err}");
        exit(127);
    }
    let (_, st) = waitpid(pid, 0).map_err(|x| e("wait4", x))?;
    if st.exited() != Some(want) {
        return Err(format!("{path} {st}, expected exit {want}"));
    }
    Ok(format!("{path} {st}"))
}

fn pipe() -> Check {
    let [r, w] = rt::pipe().map_err(|x| e("pipe", x))?;
    let pid = fork().map_err(|x| e("fork", x))?;
    if pid == 0 {
        let _ = rt::close(r);
        let ok = rt::io::write_all(&mut rt::io::Fd(w), b"through the pipe").is_ok();
        exit(if ok { 0 } else { 1 });
    }
    let _ = rt::close(w);
    let mut got = Vec::new();
    let mut buf = [0u8; 8];
    loop {
        match rt::read(r, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(x) => return Err(e("read", x)),
        }
    }
    let _ = rt::close(r);
    let (_, st) = waitpid(pid, 0).map_err(|x| e("wait4", x))?;
    if got != b"through the pipe" || st.exited() != Some(0) {
        return Err(format!("read {:?}, writer {st}", String::from_utf8_lossy(&got)));
    }
    Ok(format!("{} bytes", got.len()))
}

fn threads() -> Check {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static TIDS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
    let main_tid = rt::getthrid();
    let mut hs = Vec::new();
    for (i, tid) in TIDS.iter().enumerate() {
        let h = rt::thread_spawn(
            move || {
                tid.store(rt::getthrid() as usize, Ordering::Relaxed);
                let v: Vec<usize> = (0..1000).collect();
                COUNT.fetch_add(v.iter().sum::<usize>(), Ordering::Relaxed);
                if i == 3 {
                    // Leaving early must release the joiner just the same.
                    drop(v);
                    rt::thread_exit();
                }
            },
            64 << 10,
        )
        .map_err(|x| e("thread_spawn", x))?;
        hs.push(h);
    }
    let spawned: Vec<i32> = hs.iter().map(|h| h.tid()).collect();
    for h in hs {
        h.join();
    }
    let total = COUNT.load(Ordering::Relaxed);
    let seen: Vec<i32> = TIDS.iter().map(|t| t.load(Ordering::Relaxed) as i32).collect();
    if total != 4 * 499_500 {
        return Err(format!("threads summed {total}"));
    }
    if seen != spawned || seen.contains(&main_tid) {
        return Err(format!("thread ids {seen:?}, __tfork said {spawned:?}, main {main_tid}"));
    }
    Ok(format!("4 threads {spawned:?} joined"))
}

static CAUGHT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(sig: i32) {
    CAUGHT.store(sig == SIGUSR1 as i32, Ordering::Relaxed);
}

fn signals() -> Check {
    use rt::signal::{Handler, raise, signal};
    signal(SIGUSR1, Handler::Catch(on_usr1)).map_err(|x| e("sigaction", x))?;
    raise(SIGUSR1).map_err(|x| e("kill", x))?;
    let _ = signal(SIGUSR1, Handler::Default);
    if !CAUGHT.load(Ordering::Relaxed) {
        return Err("the SIGUSR1 handler did not run".into());
    }
    Ok("SIGUSR1 caught".into())
}

fn clocks() -> Check {
    let t0 = rt::time::now().map_err(|x| e("clock_gettime", x))?;
    rt::time::sleep(Duration::from_millis(20)).map_err(|x| e("nanosleep", x))?;
    let t1 = rt::time::now().map_err(|x| e("clock_gettime", x))?;
    if t1 < t0 + Duration::from_millis(20) {
        return Err(format!("slept 20 ms but the clock moved {:?}", t1 - t0));
    }
    Ok(format!("slept {:?}", t1 - t0))
}

fn main(args: &Args) -> i32 {
    let mut t = Tally { passed: 0, failed: 0 };
    t.check("args", args_env(args));
    t.check("heap", heap());
    t.check("fork", fork_wait());
    t.check("exec", exec_status("/bin/true", 0));
    t.check("exec", exec_status("/bin/false", 1));
    t.check("pipe", pipe());
    t.check("threads", threads());
    t.check("signals", signals());
    t.check("clock", clocks());
    println!("rtcheck: {} passed, {} failed", t.passed, t.failed);
    t.failed as i32
}
