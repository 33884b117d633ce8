//! `cargo xtask bench`: boot each kernel configuration with the bench
//! driver (`user/bench`) as its first process, collect its `@bench`
//! lines, and compare the configurations.
//!
//! How it measures. Every figure but one is taken inside the guest with
//! its CLOCK_MONOTONIC around exactly the work a test names (see
//! `user/bench/src/bin/bench/micro.rs`); each test line gives the median,
//! 99th percentile, minimum and maximum over its iterations. The host
//! adds `host_boot`: wall time from starting QEMU to the driver's first
//! line. A run is `rounds` rounds; each round boots every configuration
//! once, in an order rotated by one each round, so slow drift of the host
//! (another job, thermal) falls on all of them alike. Across rounds the
//! table shows the median of the per-round medians with their range, and
//! a ratio column is the median of the per-round ratios (never the ratio
//! of medians). A boot that does not finish, a test that reports failure
//! or a non-positive figure, and a kbuild checksum that differs from the
//! host's own computation all fail the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oxbsd_tests::Arch;
use oxbsd_tests::console::Console;
use serde_json::{Value, json};

use crate::ramdisk::AddSpec;
use crate::{build, linux, qemu, ramdisk, workspace_root};

/// One kernel configuration the bench boots.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
    /// Linux (no counters; compared against).
    pub peer: bool,
}

/// What one boot gave.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Test key (see [`key`]) to its fields, numbers as the guest printed
    /// them (`checksum` in hex is parsed too).
    pub tests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every sample of a test, in the order taken (`@bench raw` lines).
    pub raw: BTreeMap<String, Vec<u64>>,
    /// Keys in the order the guest printed them.
    pub order: Vec<String>,
    pub kernel: Option<String>,
    pub failures: Vec<String>,
    /// `@bench done failed=N` was seen.
    pub done: Option<u64>,
}

/// The key a test line is filed under: the test name, with the page
/// count for teardown (one line per size) and the process count for the
/// parallel tests.
pub fn key(test: &str, fields: &BTreeMap<String, u64>) -> String {
    match (test, fields.get("pages"), fields.get("procs")) {
        (_, _, Some(n)) => format!("{test}_{n}"),
        ("teardown", Some(p), None) => format!("teardown_{p}"),
        _ => test.to_string(),
    }
}

fn number(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Parse a guest's console transcript.
pub fn parse(log: &str) -> Run {
    let mut r = Run::default();
    for line in log.lines().map(|l| l.trim_end_matches('\r')) {
        let Some(rest) = line.strip_prefix("@bench ") else { continue };
        let mut words = rest.split_whitespace();
        match words.next() {
            Some("start") => {
                r.kernel = words.find_map(|w| w.strip_prefix("kernel=")).map(str::to_string);
            }
            Some("done") => r.done = words.find_map(|w| w.strip_prefix("failed=")).and_then(number),
            Some("fail") => r.failures.push(rest["fail".len()..].trim().to_string()),
            Some("raw") => {
                let Some(test) = words.next().and_then(|w| w.strip_prefix("test=")) else { continue };
                let (mut fields, mut vals) = (BTreeMap::new(), Vec::new());
                for w in words {
                    match w.split_once('=') {
                        Some(("v", v)) => vals.extend(v.split(',').filter_map(number)),
                        Some((k, v)) => {
                            if let Some(n) = number(v) {
                                fields.insert(k.to_string(), n);
                            }
                        }
                        None => {}
                    }
                }
                r.raw.entry(key(test, &fields)).or_default().extend(vals);
            }
            Some(first) => {
                let Some(test) = first.strip_prefix("test=") else { continue };
                let fields: BTreeMap<String, u64> = words
                    .filter_map(|w| w.split_once('='))
                    .filter_map(|(k, v)| Some((k.to_string(), number(v)?)))
                    .collect();
                let k = key(test, &fields);
                if !r.tests.contains_key(&k) {
                    r.order.push(k.clone());
                }
                r.tests.insert(k, fields);
            }
            None => {}
        }
    }
    r
}

/// Everything that makes a run's figures unusable, or Ok.
pub fn check(r: &Run) -> Result<(), String> {
    if r.kernel.is_none() {
        return Err("the driver never started (no @bench start)".into());
    }
    if !r.failures.is_empty() {
        return Err(format!("test failed: {}", r.failures.join("; ")));
    }
    match r.done {
        None => return Err("the driver did not finish (no @bench done)".into()),
        Some(0) => {}
        Some(n) => return Err(format!("the driver reports {n} failed tests")),
    }
    for (k, f) in &r.tests {
        for field in ["med", "min", "max"] {
            match f.get(field) {
                Some(&v) if v > 0 => {}
                _ => return Err(format!("{k}: {field} missing or not positive")),
            }
        }
    }
    for (k, v) in &r.raw {
        match r.tests.get(k).and_then(|f| f.get("n")) {
            Some(&n) if n as usize == v.len() => {}
            Some(&n) => return Err(format!("{k}: {} raw samples for n={n}", v.len())),
            None => return Err(format!("{k}: raw samples but no result line")),
        }
    }
    if let Some(kb) = r.tests.get("kbuild") {
        let jobs = *kb.get("jobs").ok_or("kbuild: no jobs=")? as usize;
        let want = bench::work::expected_checksum(jobs);
        match kb.get("checksum") {
            Some(&c) if c == want => {}
            Some(&c) => return Err(format!("kbuild: checksum {c:#018x}, the host computes {want:#018x}")),
            None => return Err("kbuild: no checksum".into()),
        }
    }
    Ok(())
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

/// The figures a table row compares for a test: (row name, field).
/// kbuild contributes its real, user and sys times; every test its
/// median.
pub fn rows(key: &str) -> Vec<(String, &'static str)> {
    match key {
        "kbuild" => {
            vec![("kbuild real".into(), "real"), ("kbuild user".into(), "user"), ("kbuild sys".into(), "sys")]
        }
        "exit_latency" => vec![("exit_latency med".into(), "med"), ("exit_latency p99".into(), "p99")],
        _ => vec![(key.to_string(), "med")],
    }
}

/// A boot's figures as one flat map of row name to nanoseconds, with
/// the host's boot time.
pub fn figures(r: &Run, host_boot_ns: Option<u64>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for (k, f) in &r.tests {
        for (row, field) in rows(k) {
            if let Some(&v) = f.get(field) {
                m.insert(row, v as f64);
            }
        }
    }
    if let Some(kb) = r.tests.get("kbuild") {
        for (row, field) in [(SYS_BUSY, "cpu_busy"), (SYS_IDLE, "cpu_idle")] {
            if let Some(&v) = kb.get(field) {
                m.insert(row.into(), v as f64);
            }
        }
    }
    if let Some(h) = host_boot_ns {
        m.insert("host_boot".into(), h as f64);
    }
    m
}

/// kbuild's CPU time of the whole system, all CPUs (oxbsd: the cycle
/// counter accounting; Linux: /proc/stat ticks), and its idle time: so
/// work moved between a reaper and the exiting process shows.
pub const SYS_BUSY: &str = "kbuild system busy";
pub const SYS_IDLE: &str = "kbuild system idle";

/// The kernel counters that are events: FIELDS up to `user_ns` (the
/// rest are times in ns).
pub const EVENT_COUNTERS: &[&str] = bench::stats::FIELDS.split_at(13).0;
const _: () =
    assert!(matches!(bench::stats::FIELDS[13].as_bytes(), b"user_ns"), "the events end before user_ns");

/// Per test key, counter name to its value per iteration.
pub type PerIteration = Vec<(String, BTreeMap<String, f64>)>;

/// Per test, each counter per iteration (the line's counter over its
/// `n`), the median over `boots`; and the counters that moved somewhere.
pub fn counters_per_iteration(boots: &[&Boot]) -> (Vec<String>, PerIteration) {
    let mut used: Vec<String> = Vec::new();
    let mut out: PerIteration = Vec::new();
    let Some(first) = boots.first() else { return (used, out) };
    for k in &first.run.order {
        let mut per: BTreeMap<String, f64> = BTreeMap::new();
        for c in EVENT_COUNTERS {
            let v: Vec<f64> = boots
                .iter()
                .filter_map(|b| {
                    let f = b.run.tests.get(k)?;
                    Some(*f.get(&format!("c.{c}"))? as f64 / *f.get("n")?.max(&1) as f64)
                })
                .collect();
            if let Some(m) = median(&v).filter(|&m| m > 0.0) {
                per.insert(c.to_string(), m);
                if !used.iter().any(|u| u == c) {
                    used.push(c.to_string());
                }
            }
        }
        if !per.is_empty() {
            out.push((k.clone(), per));
        }
    }
    used.sort_by_key(|u| EVENT_COUNTERS.iter().position(|c| c == u));
    (used, out)
}

/// TLB invalidations per teardown against pages touched, by kind (page,
/// address space, all), from the counters of the teardown tests.
pub fn tlb_series(boots: &[&Boot]) -> Vec<(String, Vec<(f64, f64)>)> {
    let (_, rows) = counters_per_iteration(boots);
    ["tlb_page", "tlb_asid", "tlb_all"]
        .iter()
        .map(|c| {
            let p = rows
                .iter()
                .filter_map(|(k, per)| {
                    Some((k.strip_prefix("teardown_")?.parse::<f64>().ok()?, *per.get(*c)?))
                })
                .collect();
            (c.to_string(), p)
        })
        .collect()
}

/// The counters table of one (arch, smp), or a line saying there are none.
pub fn counters_table(title: &str, boots: &[&Boot]) -> String {
    let (cols, rows) = counters_per_iteration(boots);
    if cols.is_empty() {
        return format!("{title}: no counters (the kernel exports none)\n");
    }
    let mut lines: Vec<Vec<String>> =
        vec![std::iter::once("test".to_string()).chain(cols.iter().cloned()).collect()];
    for (k, per) in rows {
        let mut l = vec![k];
        l.extend(cols.iter().map(|c| {
            per.get(c).map_or("0".into(), |v| if *v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") })
        }));
        lines.push(l);
    }
    let widths: Vec<usize> =
        (0..lines[0].len()).map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0)).collect();
    let mut s = format!("{title}\n");
    for l in &lines {
        let cells: Vec<String> =
            l.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) }
                })
                .collect();
        s += &cells.join("  ");
        s.push('\n');
    }
    s
}

/// A duration in ns in a unit that keeps three or four digits.
pub fn human(ns: f64) -> String {
    if ns >= 10e9 {
        format!("{:.1} s", ns / 1e9)
    } else if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// One boot's record.
#[derive(Clone, Debug)]
pub struct Boot {
    pub arch: Arch,
    pub smp: u32,
    pub config: String,
    pub round: u32,
    pub run: Run,
    pub host_boot_ns: Option<u64>,
    pub wall: Duration,
    pub error: Option<String>,
}

/// The rows of one (arch, smp) table: name, per config (median, min,
/// max) over the rounds, and per peer the median per-round ratio.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub values: BTreeMap<String, (f64, f64, f64)>,
    pub ratios: BTreeMap<String, f64>,
}

/// Summarise the good boots of one arch and CPU count: `subject` is the
/// configuration divided by each peer in the ratio columns.
pub fn summarize(boots: &[&Boot], configs: &[String], subject: &str, peers: &[String]) -> Vec<Row> {
    let good: Vec<&&Boot> = boots.iter().filter(|b| b.error.is_none()).collect();
    let figs: Vec<(&str, u32, BTreeMap<String, f64>)> =
        good.iter().map(|b| (b.config.as_str(), b.round, figures(&b.run, b.host_boot_ns))).collect();
    // Row order: as the subject printed them, then anything else.
    let mut names: Vec<String> = Vec::new();
    for b in good.iter().filter(|b| b.config == subject).take(1) {
        for k in &b.run.order {
            names.extend(rows(k).into_iter().map(|(r, _)| r));
        }
    }
    for (_, _, f) in &figs {
        for n in f.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut values = BTreeMap::new();
            for c in configs {
                let v: Vec<f64> = figs
                    .iter()
                    .filter(|(n, _, _)| n == c)
                    .filter_map(|(_, _, f)| f.get(&name).copied())
                    .collect();
                if let Some(m) = median(&v) {
                    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = v.iter().copied().fold(0.0, f64::max);
                    values.insert(c.clone(), (m, lo, hi));
                }
            }
            let mut ratios = BTreeMap::new();
            for p in peers {
                let per_round: Vec<f64> = figs
                    .iter()
                    .filter(|(n, _, _)| *n == subject)
                    .filter_map(|(_, round, f)| {
                        let s = f.get(&name)?;
                        let (_, _, pf) = figs.iter().find(|(n, r, _)| n == p && r == round)?;
                        Some(s / pf.get(&name)?)
                    })
                    .collect();
                if let Some(m) = median(&per_round) {
                    ratios.insert(p.clone(), m);
                }
            }
            Row { name, values, ratios }
        })
        .collect()
}

/// The terminal table of one (arch, smp).
pub fn table(title: &str, rows: &[Row], configs: &[String], subject: &str, peers: &[String]) -> String {
    let mut head = vec!["test".to_string()];
    head.extend(configs.iter().cloned());
    head.extend(peers.iter().map(|p| format!("{subject}/{p}")));
    let mut body: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let mut line = vec![r.name.clone()];
        for c in configs {
            line.push(match r.values.get(c) {
                Some(&(m, lo, hi)) if lo < hi => format!("{} [{}-{}]", human(m), human(lo), human(hi)),
                Some(&(m, _, _)) => human(m),
                None => "-".into(),
            });
        }
        for p in peers {
            line.push(r.ratios.get(p).map_or("-".into(), |x| format!("{x:.2}")));
        }
        body.push(line);
    }
    let widths: Vec<usize> =
        (0..head.len()).map(|i| body.iter().chain([&head]).map(|l| l[i].len()).max().unwrap_or(0)).collect();
    let fmt_line =
        |l: &[String]| {
            l.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
    let mut s = format!("{title}\n{}\n", fmt_line(&head));
    for l in &body {
        s += &fmt_line(l);
        s.push('\n');
    }
    s
}

/// Seconds since the epoch as `YYYYMMDD-HHMMSS` (UTC), for run
/// directories: days to a civil date by the usual era arithmetic.
pub fn stamp(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// What `cargo xtask bench` was asked for.
#[derive(Clone, Debug)]
pub struct Opts {
    pub arches: Vec<Arch>,
    pub smps: Vec<u32>,
    pub rounds: u32,
    /// The driver's `only=` list.
    pub only: Option<String>,
    pub quick: bool,
    /// Boot the Linux peer too.
    pub linux: bool,
    pub mem: String,
    /// Seconds one boot may take.
    pub timeout: u64,
}

/// The oxbsd configurations: one per exit strategy the kernel has. The
/// first is the subject of the ratio columns (the default strategy).
pub const OXBSD_EXITS: &[&str] = &["direct", "reaper"];

fn configs_for(arch: Arch, o: &Opts, args: &Path, outdir: &Path) -> Result<Vec<Config>, String> {
    let kernel = build::build_kernel(arch)?;
    let guest = format!("{}/args", crate::user::BENCH_DIR);
    let add = [AddSpec { host: args.to_path_buf(), guest }];
    let (rd, _) = ramdisk::build_ramdisk(arch, &add)?;
    let initrd = outdir.join(format!("ramdisk-{arch}.cpio"));
    std::fs::copy(&rd, &initrd).map_err(|e| format!("copying {}: {e}", rd.display()))?;
    let mut v: Vec<Config> = OXBSD_EXITS
        .iter()
        .map(|e| Config {
            name: format!("oxbsd-{e}"),
            kernel: kernel.clone(),
            initrd: initrd.clone(),
            append: format!("init={}/bench exit={e}", crate::user::BENCH_DIR),
            peer: false,
        })
        .collect();
    if !o.linux {
        return Ok(v);
    }
    match linux::fetch(arch) {
        Ok((lk, version)) => {
            let text =
                std::fs::read_to_string(args).map_err(|e| format!("reading {}: {e}", args.display()))?;
            let t = linux::initramfs_tree(arch, &text)?;
            let lrd = outdir.join(format!("initramfs-{arch}.cpio"));
            std::fs::write(&lrd, t.to_cpio()).map_err(|e| format!("writing {}: {e}", lrd.display()))?;
            eprintln!("xtask: bench: {arch} peer is {version}");
            for (name, tuned) in [("linux", false), ("linux-nomitig", true)] {
                v.push(Config {
                    name: name.into(),
                    kernel: lk.clone(),
                    initrd: lrd.clone(),
                    append: linux::cmdline(arch, tuned),
                    peer: true,
                });
            }
        }
        Err(e) => eprintln!("xtask: bench: no Linux peer for {arch} ({e}); measuring oxbsd alone"),
    }
    Ok(v)
}

/// Boot one configuration and collect what the driver printed.
/// The QEMU arguments every configuration of `arch` gets: only kernel,
/// initrd and command line differ between them.
fn qemu_args(
    arch: Arch,
    smp: u32,
    mem: &str,
    kernel: &str,
    initrd: &str,
    append: &str,
) -> Result<Vec<String>, String> {
    qemu::args(&qemu::Opts {
        arch,
        machine: arch.machines()[0].to_string(),
        cpu: None,
        smp,
        mem: mem.to_string(),
        accel: qemu::Accel::Tcg,
        append: append.to_string(),
        kernel: kernel.into(),
        initrd: Some(initrd.into()),
        interactive: false,
        gdb: false,
    })
}

/// `qemu-system-* --version`'s first line.
fn qemu_version(arch: Arch) -> String {
    Command::new(qemu::program(arch))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn boot(arch: Arch, smp: u32, c: &Config, o: &Opts, log: &Path) -> (Run, Option<u64>, Option<String>) {
    let args = match qemu_args(
        arch,
        smp,
        &o.mem,
        &c.kernel.to_string_lossy(),
        &c.initrd.to_string_lossy(),
        &c.append,
    ) {
        Ok(a) => a,
        Err(e) => return (Run::default(), None, Some(e)),
    };
    let mut cmd = Command::new(qemu::program(arch));
    cmd.args(&args);
    let mut con = match Console::spawn(&mut cmd, false, false) {
        Ok(c) => c,
        Err(e) => return (Run::default(), None, Some(e)),
    };
    let limit = Duration::from_secs(o.timeout);
    let t0 = Instant::now();
    let host_boot = con.expect("@bench start", limit).ok().map(|_| con.elapsed().as_nanos() as u64);
    let code = con.wait_exit(limit.saturating_sub(t0.elapsed()));
    let text = con.transcript();
    let _ = std::fs::write(log, &text);
    let run = parse(&text);
    let err = match (code, check(&run)) {
        (Ok(None), _) => Some(format!("timed out after {} s", o.timeout)),
        (Err(e), _) => Some(e),
        (_, Err(e)) => Some(e),
        (Ok(Some(_)), Ok(())) => None,
    };
    (run, host_boot, err)
}

fn append_line(path: &Path, line: &str) -> Result<(), String> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    writeln!(f, "{line}").map_err(|e| format!("writing {}: {e}", path.display()))
}

fn boot_json(b: &Boot) -> Value {
    json!({
        "arch": b.arch.name(),
        "smp": b.smp,
        "config": b.config,
        "round": b.round,
        "ok": b.error.is_none(),
        "error": b.error,
        "kernel": b.run.kernel,
        "host_boot_ns": b.host_boot_ns,
        "wall_s": b.wall.as_secs_f64(),
        "tests": b.run.tests.iter().map(|(k, f)| {
            let mut o: serde_json::Map<String, Value> = f.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
            if let Some(raw) = b.run.raw.get(k) {
                o.insert("samples".into(), json!(raw));
            }
            (k.clone(), Value::Object(o))
        }).collect::<serde_json::Map<_, _>>(),
    })
}

/// Run the benchmark; Ok only when every boot gave usable figures.
pub fn run(o: &Opts) -> Result<PathBuf, String> {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let outdir = workspace_root().join("target/bench").join(stamp(secs));
    let logdir = outdir.join("logs");
    std::fs::create_dir_all(&logdir).map_err(|e| format!("creating {}: {e}", logdir.display()))?;
    let mut words: Vec<String> = Vec::new();
    if o.quick {
        words.push("quick".into());
    }
    if let Some(only) = &o.only {
        words.push(format!("only={only}"));
    }
    let args = outdir.join("args");
    std::fs::write(&args, words.join(" ") + "\n").map_err(|e| format!("writing {}: {e}", args.display()))?;
    crate::install::ensure_qemu(&o.arches)?;
    let mut per_arch: Vec<(Arch, Vec<Config>)> = Vec::new();
    for &a in &o.arches {
        per_arch.push((a, configs_for(a, o, &args, &outdir)?));
    }
    let total: usize =
        per_arch.iter().map(|(_, c)| c.len()).sum::<usize>() * o.smps.len() * o.rounds as usize;
    let mut boots: Vec<Boot> = Vec::new();
    let started = Instant::now();
    for round in 1..=o.rounds {
        for (arch, configs) in &per_arch {
            for &smp in &o.smps {
                let n = configs.len();
                for i in 0..n {
                    let c = &configs[(i + round as usize - 1) % n];
                    eprint!(
                        "xtask: bench [{}/{total}] {arch} -smp {smp} round {round}/{}: {} ... ",
                        boots.len() + 1,
                        o.rounds,
                        c.name
                    );
                    let log = logdir.join(format!("{arch}-smp{smp}-{}-r{round}.log", c.name));
                    let t = Instant::now();
                    let (run, host_boot_ns, error) = boot(*arch, smp, c, o, &log);
                    let wall = t.elapsed();
                    match &error {
                        None => eprintln!("{:.1} s", wall.as_secs_f64()),
                        Some(e) => eprintln!(
                            "FAILED after {:.1} s: {e} (console: {})",
                            wall.as_secs_f64(),
                            log.display()
                        ),
                    }
                    let b = Boot {
                        arch: *arch,
                        smp,
                        config: c.name.clone(),
                        round,
                        run,
                        host_boot_ns,
                        wall,
                        error,
                    };
                    // Each boot is kept as it finishes: a run stopped
                    // half-way still has what it measured.
                    append_line(&outdir.join("boots.jsonl"), &boot_json(&b).to_string())?;
                    boots.push(b);
                }
            }
        }
    }
    eprintln!("xtask: bench: {} boots in {:.0} s", boots.len(), started.elapsed().as_secs_f64());
    let mut summary = Vec::new();
    let mut out = String::new();
    let mut svgs = 0;
    for (arch, configs) in &per_arch {
        let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        let subject = configs.iter().find(|c| !c.peer).map(|c| c.name.clone()).unwrap_or_default();
        // Ratio columns: the subject (the default exit strategy) over every
        // other configuration — the other strategy, then the Linux peers.
        let peers: Vec<String> =
            configs.iter().filter(|c| c.name != subject).map(|c| c.name.clone()).collect();
        for &smp in &o.smps {
            let these: Vec<&Boot> = boots.iter().filter(|b| b.arch == *arch && b.smp == smp).collect();
            let good = these.iter().filter(|b| b.error.is_none()).count();
            let rows = summarize(&these, &names, &subject, &peers);
            let title = format!(
                "{arch} -smp {smp} -m {}, {} of {} boots good; median over rounds [min-max]; ratios: median of per-round ratios",
                o.mem,
                good,
                these.len()
            );
            out += &table(&title, &rows, &names, &subject, &peers);
            out.push('\n');
            for c in configs {
                let cb: Vec<&Boot> =
                    these.iter().filter(|b| b.error.is_none() && b.config == c.name).copied().collect();
                let t = format!(
                    "{arch} -smp {smp} {}: kernel counters per iteration, median over rounds",
                    c.name
                );
                out += &if c.peer {
                    format!("{t}: none, Linux exports no such counters\n")
                } else {
                    counters_table(&t, &cb)
                };
            }
            out.push('\n');
            let tag = format!("{arch}-smp{smp}");
            let drawn = [
                crate::plot::ratios(
                    &outdir,
                    &format!("{tag}: {subject} / Linux"),
                    &format!("ratios-{tag}.svg"),
                    &rows,
                    &subject,
                    &peers,
                ),
                crate::plot::teardown(
                    &outdir,
                    &format!("{tag}: teardown cost per page"),
                    &format!("teardown-{tag}.svg"),
                    &rows,
                    &names,
                ),
                crate::plot::loglog(
                    &outdir.join(format!("tlb-{tag}.svg")),
                    &format!("{tag} {subject}: TLB invalidations per teardown"),
                    ("pages touched by the child", "invalidations per exit"),
                    &tlb_series(
                        &these
                            .iter()
                            .filter(|b| b.config == subject && b.error.is_none())
                            .copied()
                            .collect::<Vec<_>>(),
                    ),
                ),
            ];
            for d in drawn {
                match d {
                    Ok(Some(_)) => svgs += 1,
                    Ok(None) => {}
                    // A plot is only a view of figures written anyway.
                    Err(e) => eprintln!("xtask: bench: {e}"),
                }
            }
            for r in &rows {
                summary.push(json!({
                    "arch": arch.name(), "smp": smp, "row": r.name, "unit": "ns",
                    "values": r.values.iter().map(|(c, (m, lo, hi))| (c.clone(), json!({"median": m, "min": lo, "max": hi}))).collect::<serde_json::Map<_, _>>(),
                    "ratios": r.ratios.iter().map(|(p, x)| (format!("{subject}/{p}"), json!(x))).collect::<serde_json::Map<_, _>>(),
                }));
            }
        }
    }
    print!("{out}");
    let results = json!({
        "schema": "oxbsd-bench/1",
        "started_unix": secs,
        "quick": o.quick,
        "rounds": o.rounds,
        "mem": o.mem,
        "driver_args": words.join(" "),
        "host": { "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "qemu": o.arches.iter().map(|&a| (a.name().to_string(), json!({
            "version": qemu_version(a),
            "args": qemu_args(a, o.smps[0], &o.mem, "<kernel>", "<initrd>", "<append>").unwrap_or_default(),
        }))).collect::<serde_json::Map<_, _>>(),
        "configs": per_arch.iter().flat_map(|(a, cs)| cs.iter().map(move |c| json!({
            "arch": a.name(), "name": c.name, "peer": c.peer, "append": c.append,
            "kernel": c.kernel.file_name().map(|n| n.to_string_lossy().into_owned()),
        }))).collect::<Vec<_>>(),
        "boots": boots.iter().map(boot_json).collect::<Vec<_>>(),
        "summary": summary,
    });
    let jpath = outdir.join("results.json");
    let text = serde_json::to_string_pretty(&results).map_err(|e| format!("results.json: {e}"))?;
    std::fs::write(&jpath, text + "\n").map_err(|e| format!("writing {}: {e}", jpath.display()))?;
    std::fs::write(outdir.join("table.txt"), &out).map_err(|e| format!("writing table.txt: {e}"))?;
    let rel = outdir.strip_prefix(workspace_root()).unwrap_or(&outdir).display().to_string();
    eprintln!("xtask: bench: results in {rel}/ (results.json, table.txt, {svgs} SVG plots, logs/)");
    let bad: Vec<String> = boots
        .iter()
        .filter_map(|b| {
            Some(format!("{} -smp {} {} round {}: {}", b.arch, b.smp, b.config, b.round, b.error.as_ref()?))
        })
        .collect();
    if bad.is_empty() {
        Ok(outdir)
    } else {
        Err(format!("{} of {} boots failed:\n  {}", bad.len(), boots.len(), bad.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "rd0: ...\n@bench start kernel=oxbsd quick=1\r\n\
        @bench raw test=fork_exit v=700,600\n@bench raw test=fork_exit v=950\n\
        @bench test=fork_exit unit=ns n=3 med=700 p99=950 min=600 max=950 c.forks=3\n\
        @bench test=teardown pages=16 unit=ns n=2 med=10 p99=12 min=9 max=12\n\
        @bench test=teardown pages=256 unit=ns n=2 med=20 p99=22 min=19 max=22\n\
        @bench done failed=0\n";

    #[test]
    fn parses_lines_and_files_teardown_by_size() {
        let r = parse(LOG);
        assert_eq!(r.kernel.as_deref(), Some("oxbsd"));
        assert_eq!(r.done, Some(0));
        assert_eq!(r.order, ["fork_exit", "teardown_16", "teardown_256"]);
        assert_eq!(r.tests["fork_exit"]["c.forks"], 3);
        assert_eq!(r.raw["fork_exit"], [700, 600, 950], "raw lines joined in order");
        let par = parse("@bench test=teardown_par procs=4 pages=4096 unit=ns n=1 med=1 p99=1 min=1 max=1\n");
        assert_eq!(par.order, ["teardown_par_4"], "parallel tests are filed by process count");
        assert_eq!(r.tests["teardown_256"]["med"], 20);
        assert!(check(&r).is_ok());
    }

    #[test]
    fn check_rejects_what_cannot_be_trusted() {
        assert!(
            check(&parse(&LOG.replace("@bench done failed=0\n", ""))).unwrap_err().contains("did not finish")
        );
        assert!(check(&parse(&LOG.replace("med=700", "med=0"))).unwrap_err().contains("not positive"));
        let failed = LOG.replace(
            "@bench done failed=0",
            "@bench fail test=fork_16m fork: error 12\n@bench done failed=1",
        );
        assert!(check(&parse(&failed)).unwrap_err().contains("fork: error 12"));
        assert!(check(&parse("nothing")).unwrap_err().contains("never started"));
        assert!(check(&parse(&LOG.replace("v=950", "v="))).unwrap_err().contains("2 raw samples for n=3"));
        let good = bench::work::expected_checksum(2);
        let kb = |c: u64| {
            LOG.replace(
                "@bench done",
                &format!("@bench test=kbuild jobs=2 j=1 unit=ns n=1 med=5 p99=5 min=5 max=5 real=5 user=1 sys=1 checksum={c:#x}\n@bench done"),
            )
        };
        assert!(check(&parse(&kb(good))).is_ok());
        assert!(check(&parse(&kb(good ^ 1))).unwrap_err().contains("checksum"));
    }

    #[test]
    fn ratios_are_medians_of_per_round_ratios() {
        let mk = |config: &str, round: u32, med: u64| {
            let log = format!(
                "@bench start kernel=x\n@bench test=fork_exit unit=ns n=1 med={med} p99={med} min={med} max={med}\n@bench done failed=0\n"
            );
            Boot {
                arch: Arch::Amd64,
                smp: 1,
                config: config.into(),
                round,
                run: parse(&log),
                host_boot_ns: None,
                wall: Duration::ZERO,
                error: None,
            }
        };
        // Per-round ratios 0.5, 0.25, 1.0: median 0.5. The ratio of the
        // medians would be 200/400 = 0.5 too, so make it differ: round 3
        // 300 vs 100 = 3.0 gives per-round median 0.5, medians 200/200 = 1.
        let boots = [
            mk("ox", 1, 100),
            mk("lx", 1, 200),
            mk("ox", 2, 200),
            mk("lx", 2, 800),
            mk("ox", 3, 300),
            mk("lx", 3, 100),
        ];
        let refs: Vec<&Boot> = boots.iter().collect();
        let rows = summarize(&refs, &["ox".into(), "lx".into()], "ox", &["lx".into()]);
        let r = rows.iter().find(|r| r.name == "fork_exit").unwrap();
        assert_eq!(r.ratios["lx"], 0.5);
        assert_eq!(r.values["ox"], (200.0, 100.0, 300.0));
        assert_eq!(r.values["lx"], (200.0, 100.0, 800.0));
        let t = table("t", &rows, &["ox".into(), "lx".into()], "ox", &["lx".into()]);
        assert!(t.contains("ox/lx") && t.contains("0.50"), "{t}");
    }

    #[test]
    fn counters_are_per_iteration_and_only_those_that_moved() {
        let log = "@bench start kernel=oxbsd\n\
            @bench test=teardown pages=16 unit=ns n=4 med=1 p99=1 min=1 max=1 c.tlb_page=8 c.tlb_all=0 c.forks=4\n\
            @bench test=teardown pages=256 unit=ns n=2 med=1 p99=1 min=1 max=1 c.tlb_page=64 c.forks=2\n\
            @bench done failed=0\n";
        let b = Boot {
            arch: Arch::Arm64,
            smp: 4,
            config: "ox".into(),
            round: 1,
            run: parse(log),
            host_boot_ns: None,
            wall: Duration::ZERO,
            error: None,
        };
        let (cols, rows) = counters_per_iteration(&[&b]);
        assert_eq!(cols, ["tlb_page", "forks"], "tlb_all never moved");
        assert_eq!(rows[0].1["tlb_page"], 2.0);
        assert_eq!(rows[1].1["tlb_page"], 32.0);
        let tlb = tlb_series(&[&b]);
        assert_eq!(tlb[0], ("tlb_page".to_string(), vec![(16.0, 2.0), (256.0, 32.0)]));
        assert!(tlb[2].1.is_empty());
        assert!(counters_table("t", &[&b]).contains("tlb_page"));
    }

    #[test]
    fn stamps_dates() {
        assert_eq!(stamp(0), "19700101-000000");
        assert_eq!(stamp(1_796_000_000), "20261130-005320");
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }
}
