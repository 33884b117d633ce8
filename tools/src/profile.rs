//! `cargo xtask profile`: where an oxbsd guest spends its time, by
//! sampling every vCPU's program counter from QEMU's monitor while the
//! bench driver runs chosen tests.
//!
//! How it measures. QEMU runs with its human monitor on a Unix socket;
//! a host thread sends `info registers -a` at a fixed rate and reads, for
//! each vCPU, the PC and the privilege level (amd64: RIP, CPL and the HLT
//! flag; arm64: PC and the ELn field of PSTATE). A sample is "idle" when
//! the vCPU is halted (amd64 HLT=1) or its PC is in the kernel's idle
//! loop, "user" at CPL 3 / EL0, and otherwise charged to the kernel
//! function containing the PC (from the ELF symbols of `bsd.gdb`, read
//! with the toolchain's llvm-nm). Each sample is `stop`, `info registers
//! -a`, `cont`: a running TCG vCPU's registers are stale until it leaves
//! its translated code, and reading them live lands the samples where
//! vCPUs wait for QEMU's global lock; stopped, each vCPU is at its next
//! translation-block boundary. The stops cost the guest time, so keep
//! the rate low (200 Hz by default).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oxbsd_tests::Arch;
use oxbsd_tests::console::Console;

use crate::ramdisk::AddSpec;
use crate::{build, qemu, ramdisk, workspace_root};

/// One vCPU's state in a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    pub pc: u64,
    pub user: bool,
    pub halted: bool,
}

fn hex_after(line: &str, key: &str) -> Option<u64> {
    let i = line.find(key)? + key.len();
    let h: String = line[i..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&h, 16).ok()
}

/// Parse one `info registers -a` reply into per-vCPU samples, in CPU
/// order.
pub fn parse_registers(arch: Arch, text: &str) -> Vec<CpuSample> {
    let mut out = Vec::new();
    for block in text.split("CPU#").skip(1) {
        let s = match arch {
            Arch::Amd64 => {
                let Some(l) = block.lines().find(|l| l.starts_with("RIP=")) else { continue };
                let (Some(pc), Some(cpl)) = (hex_after(l, "RIP="), hex_after(l, "CPL=")) else { continue };
                CpuSample { pc, user: cpl == 3, halted: l.contains("HLT=1") }
            }
            Arch::Arm64 => {
                let Some(pc) = block.lines().find_map(|l| hex_after(l, "PC=")) else { continue };
                let Some(ps) = block.lines().find(|l| l.starts_with("PSTATE=")) else { continue };
                CpuSample { pc, user: ps.contains("EL0"), halted: false }
            }
        };
        out.push(s);
    }
    out
}

/// The kernel's function symbols, sorted by address: (start, name).
pub struct Symbols(Vec<(u64, String)>);

impl Symbols {
    /// From `llvm-nm -n -C --defined-only` output.
    pub fn from_nm(text: &str) -> Symbols {
        let mut v: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.splitn(3, ' ');
                let a = u64::from_str_radix(w.next()?, 16).ok()?;
                let kind = w.next()?;
                let name = w.next()?;
                matches!(kind, "t" | "T" | "W" | "w").then(|| (a, name.to_string()))
            })
            .collect();
        v.sort_by_key(|s| s.0);
        Symbols(v)
    }

    /// The function whose range holds `pc` (the nearest start at or below).
    pub fn lookup(&self, pc: u64) -> Option<&str> {
        let i = self.0.partition_point(|s| s.0 <= pc);
        (i > 0).then(|| self.0[i - 1].1.as_str())
    }
}

/// A symbol as a person reads it: llvm-nm's demangler leaves the legacy
/// Rust escapes (`$LT$`, `$u20$`, `..`) in path segments; undo them, and
/// drop the hash suffix and LLVM's `(.llvm.N)` clone note so that one
/// function's copies count together.
pub fn short_name(name: &str) -> String {
    let mut n = name.split(" (.llvm.").next().unwrap_or(name).to_string();
    if let Some(i) = n.rfind("::h")
        && n[i + 3..].len() == 16
        && n[i + 3..].chars().all(|c| c.is_ascii_hexdigit())
    {
        n.truncate(i);
    }
    for (from, to) in [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$u20$", " "),
        ("$C$", ","),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$SP$", "@"),
        ("..", "::"),
    ] {
        n = n.replace(from, to);
    }
    n.strip_prefix('_').filter(|r| r.starts_with('<')).map_or(n.clone(), str::to_string)
}

/// Where the samples fell.
#[derive(Default, Debug)]
pub struct Profile {
    pub samples: u64,
    pub user: u64,
    pub idle: u64,
    pub kernel: BTreeMap<String, u64>,
    pub unknown: u64,
}

impl Profile {
    pub fn add(&mut self, s: CpuSample, syms: &Symbols) {
        self.samples += 1;
        if s.halted {
            self.idle += 1;
        } else if s.user {
            self.user += 1;
        } else {
            match syms.lookup(s.pc) {
                Some(f) if is_idle(f) => self.idle += 1,
                Some(f) => *self.kernel.entry(short_name(f)).or_default() += 1,
                None => self.unknown += 1,
            }
        }
    }

    /// The report: the split, then the `top` kernel functions.
    pub fn report(&self, top: usize) -> String {
        let pct = |n: u64| 100.0 * n as f64 / self.samples.max(1) as f64;
        let ktotal: u64 = self.kernel.values().sum();
        let mut s = format!(
            "{} samples: user {:.1}%, kernel {:.1}%, idle {:.1}%, unknown {:.1}%\n",
            self.samples,
            pct(self.user),
            pct(ktotal),
            pct(self.idle),
            pct(self.unknown)
        );
        let mut k: Vec<(&String, &u64)> = self.kernel.iter().collect();
        k.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        s += &format!("{:>7} {:>6} {:>8}  kernel function\n", "samples", "all%", "kernel%");
        for (name, &n) in k.into_iter().take(top) {
            s += &format!(
                "{n:>7} {:>5.1}% {:>7.1}%  {name}\n",
                pct(n),
                100.0 * n as f64 / ktotal.max(1) as f64
            );
        }
        s
    }
}

/// The kernel's idle loop (its samples are idle time, not kernel work).
fn is_idle(f: &str) -> bool {
    f.contains("sched_idle") || f.contains("cpu_idle") || f.ends_with("::idle") || f.contains("idle_loop")
}

/// The toolchain's llvm-nm (the llvm-tools component).
fn llvm_nm() -> Result<PathBuf, String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("rustc --print sysroot: {e}"))?;
    let root = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let host = Command::new("rustc").args(["-vV"]).output().map_err(|e| format!("rustc -vV: {e}"))?;
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or("rustc -vV names no host")?;
    let nm = root.join("lib/rustlib").join(host).join("bin/llvm-nm");
    if nm.exists() {
        Ok(nm)
    } else {
        Err(format!("no llvm-nm at {} (the llvm-tools component)", nm.display()))
    }
}

fn symbols(elf: &Path) -> Result<Symbols, String> {
    let out = Command::new(llvm_nm()?)
        .args(["-n", "-C", "--defined-only"])
        .arg(elf)
        .output()
        .map_err(|e| format!("llvm-nm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "llvm-nm {} failed: {}",
            elf.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Symbols::from_nm(&String::from_utf8_lossy(&out.stdout)))
}

/// Read monitor output up to its next `(qemu) ` prompt.
fn until_prompt(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
        if buf.ends_with(b"(qemu) ") {
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

/// What `cargo xtask profile` was asked for.
pub struct Opts {
    pub arch: Arch,
    pub smp: u32,
    pub only: String,
    pub repeat: u32,
    pub hz: u32,
    pub top: usize,
    pub timeout: u64,
    pub append: String,
}

/// Boot, sample until the driver is done, report.
pub fn run(o: &Opts) -> Result<String, String> {
    crate::install::ensure_qemu(&[o.arch])?;
    let kernel = build::build_kernel(o.arch)?;
    let syms = symbols(&build::images_dir(o.arch).join("bsd.gdb"))?;
    let dir = workspace_root().join("target/profile");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let args_file = dir.join(format!("args-{}", o.arch));
    std::fs::write(&args_file, format!("only={} repeat={}\n", o.only, o.repeat))
        .map_err(|e| format!("writing {}: {e}", args_file.display()))?;
    let add = [AddSpec { host: args_file, guest: format!("{}/args", crate::user::BENCH_DIR) }];
    let (initrd, _) = ramdisk::build_ramdisk(o.arch, &add)?;
    let sock = dir.join(format!("monitor-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let mut args = qemu::args(&qemu::Opts {
        arch: o.arch,
        machine: o.arch.machines()[0].to_string(),
        cpu: None,
        smp: o.smp,
        mem: "512M".into(),
        accel: qemu::Accel::Tcg,
        append: format!("init={}/bench {}", crate::user::BENCH_DIR, o.append).trim().to_string(),
        kernel,
        initrd: Some(initrd),
        interactive: false,
        gdb: false,
    })?;
    let i = args.iter().position(|a| a == "-monitor").ok_or("qemu::args gave no -monitor")?;
    args[i + 1] = format!("unix:{},server,nowait", sock.display());
    let mut cmd = Command::new(qemu::program(o.arch));
    cmd.args(&args);
    let mut con = Console::spawn(&mut cmd, false, false)?;
    let t0 = Instant::now();
    let stream = loop {
        match UnixStream::connect(&sock) {
            Ok(s) => break s,
            Err(_) if t0.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("connecting to QEMU's monitor: {e}")),
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (arch, hz, stop2) = (o.arch, o.hz.max(1), Arc::clone(&stop));
    let sampler = std::thread::spawn(move || -> Result<Vec<Vec<CpuSample>>, String> {
        let mut w = stream.try_clone().map_err(|e| format!("monitor: {e}"))?;
        let mut r = BufReader::new(stream);
        until_prompt(&mut r).map_err(|e| format!("monitor: {e}"))?;
        let period = Duration::from_secs_f64(1.0 / f64::from(hz));
        let mut all = Vec::new();
        let mut next = Instant::now();
        // Wait for the driver to start: boot is not what is profiled.
        while !stop2.load(Ordering::Relaxed) {
            // Stop the machine first: a running vCPU's registers are only
            // written back when it leaves its translated code, so reading
            // them live charges samples to wherever vCPUs happen to wait
            // for QEMU's global lock (on arm64 the counter read). A stopped
            // vCPU has left at its next block boundary, wherever it was.
            let replies: std::io::Result<Vec<String>> = ["stop", "info registers -a", "cont"]
                .iter()
                .map(|c| {
                    w.write_all(format!("{c}\n").as_bytes())?;
                    until_prompt(&mut r)
                })
                .collect();
            let Ok(replies) = replies else { break };
            all.push(parse_registers(arch, &replies[1]));
            next += period;
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        Ok(all)
    });
    let limit = Duration::from_secs(o.timeout);
    let started = con.expect("@bench start", limit);
    // Samples before the driver's first line are boot: count them to skip.
    let skip_at = Instant::now();
    let done = started.and_then(|_| con.expect("@bench done", limit.saturating_sub(t0.elapsed())));
    let end_at = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let _ = con.wait_exit(Duration::from_secs(10));
    let text = con.transcript();
    std::fs::write(dir.join(format!("console-{}.log", o.arch)), &text)
        .map_err(|e| format!("console log: {e}"))?;
    done?;
    let all = sampler.join().map_err(|_| "the sampler panicked".to_string())??;
    // Keep the samples taken while the driver ran, by time share (the
    // sampler's pace is steady).
    let total = end_at.duration_since(t0).as_secs_f64();
    let from = (all.len() as f64 * skip_at.duration_since(t0).as_secs_f64() / total) as usize;
    let mut p = Profile::default();
    for snap in all.iter().skip(from) {
        for &s in snap {
            p.add(s, &syms);
        }
    }
    let mut rep = format!(
        "{} -smp {} only={} repeat={}: {} snapshots at {} Hz over {:.1} s\n",
        o.arch,
        o.smp,
        o.only,
        o.repeat,
        all.len() - from.min(all.len()),
        o.hz,
        end_at.duration_since(skip_at).as_secs_f64()
    );
    rep += &p.report(o.top);
    rep += &accounting(&text);
    let results = text.lines().filter(|l| l.starts_with("@bench test=")).collect::<Vec<_>>().join("\n");
    rep += &format!("driver's results:\n{results}\n");
    std::fs::write(dir.join(format!("profile-{}.txt", o.arch)), &rep)
        .map_err(|e| format!("writing the profile: {e}"))?;
    Ok(rep)
}

/// The kernel's own cycle-counter accounting over the same tests (the
/// `c.*_ns` fields the driver prints, summed), as the check on the
/// sampled split.
pub fn accounting(console: &str) -> String {
    let run = crate::bench::parse(console);
    let sum = |f: &str| -> u64 { run.tests.values().filter_map(|t| t.get(&format!("c.{f}"))).sum() };
    let (u, s, i, idle) = (sum("user_ns"), sum("sys_ns"), sum("intr_ns"), sum("idle_ns"));
    let all = (u + s + i + idle).max(1) as f64;
    if u + s + i + idle == 0 {
        return "the kernel's accounting: none in the driver's lines\n".into();
    }
    let pc = |x: u64| 100.0 * x as f64 / all;
    format!(
        "the kernel's accounting over the tests: user {:.1}%, sys {:.1}%, intr {:.1}%, idle {:.1}%\n",
        pc(u),
        pc(s),
        pc(i),
        pc(idle)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_arches_registers() {
        let amd = "CPU#0\nRAX=0\nRIP=ffffffff8010a9ea RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n\
                   CPU#1\nRIP=0000000000201000 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0\n(qemu) ";
        assert_eq!(
            parse_registers(Arch::Amd64, amd),
            [
                CpuSample { pc: 0xffff_ffff_8010_a9ea, user: false, halted: true },
                CpuSample { pc: 0x20_1000, user: true, halted: false }
            ]
        );
        let arm = "CPU#0\n PC=00000000002012f4 X00=f0\nPSTATE=20000000 --C- EL0t    FPU disabled\n\
                   CPU#1\n PC=ffffff8000081234 X00=0\nPSTATE=600003c5 -ZC- EL1h\n";
        let s = parse_registers(Arch::Arm64, arm);
        assert_eq!(s.len(), 2);
        assert!(s[0].user && !s[1].user && s[1].pc == 0xffff_ff80_0008_1234);
    }

    #[test]
    fn states_the_kernels_own_split() {
        let log = "@bench start kernel=oxbsd\n\
                   @bench test=a unit=ns n=1 med=1 p99=1 min=1 max=1 c.user_ns=10 c.sys_ns=60 c.idle_ns=30\n\
                   @bench test=b unit=ns n=1 med=1 p99=1 min=1 max=1 c.user_ns=10 c.sys_ns=80 c.intr_ns=10\n";
        assert_eq!(
            accounting(log),
            "the kernel's accounting over the tests: user 10.0%, sys 70.0%, intr 5.0%, idle 15.0%\n"
        );
        assert!(accounting("@bench start kernel=linux\n").contains("none"));
    }

    #[test]
    fn charges_samples_to_functions() {
        let syms = Symbols::from_nm(
            "ffffffff80100000 T kern::kern_fork::fork1::h0123456789abcdef\n\
             ffffffff80100400 t kern::kern_sched::sched_idle\n\
             ffffffff80100800 d some_data\n\
             ffffffff80100900 T uvm::pmap::pmap_remove\n",
        );
        assert_eq!(syms.lookup(0xffff_ffff_8010_0010), Some("kern::kern_fork::fork1::h0123456789abcdef"));
        assert_eq!(syms.lookup(0xffff_ffff_8000_0000), None);
        let mut p = Profile::default();
        let k = |pc| CpuSample { pc, user: false, halted: false };
        for s in [
            k(0xffff_ffff_8010_0010),
            k(0xffff_ffff_8010_0020),
            k(0xffff_ffff_8010_0410),
            k(0xffff_ffff_8010_0950),
        ] {
            p.add(s, &syms);
        }
        p.add(CpuSample { pc: 1, user: true, halted: false }, &syms);
        assert_eq!((p.samples, p.user, p.idle), (5, 1, 1));
        assert_eq!(p.kernel["kern::kern_fork::fork1"], 2, "hash suffix dropped");
        assert_eq!(
            short_name("_$LT$kern..kern_malloc..KernelHeap$u20$as$u20$core..alloc..GlobalAlloc$GT$::alloc"),
            "<kern::kern_malloc::KernelHeap as core::alloc::GlobalAlloc>::alloc"
        );
        assert_eq!(
            short_name("bsd::pmap::user_pte::hdf3d9738c5b5118b (.llvm.8461416620639137964)"),
            "bsd::pmap::user_pte"
        );
        // Data symbols do not name functions: 0x...0950 is past pmap_remove's start.
        assert_eq!(p.kernel["uvm::pmap::pmap_remove"], 1);
        let r = p.report(10);
        assert!(r.starts_with("5 samples: user 20.0%, kernel 60.0%, idle 20.0%"), "{r}");
        assert!(r.find("fork1").unwrap() < r.find("pmap_remove").unwrap(), "sorted by samples");
    }
}
