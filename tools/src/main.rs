//! `cargo xtask`: the one entry point for building, running and testing oxbsd.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use oxbsd_tests::{Arch, Case, Expect, GuestExit, SCRIPT_PATH, check, matrix, script_status};
use tools::ramdisk::{AddSpec, build_ramdisk, ramdisk_tree};
use tools::{build, install, qemu, runner, user, workspace_root};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, boot and test oxbsd on amd64 and arm64 under QEMU")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ArchArg {
    Amd64,
    Arm64,
    All,
}

impl ArchArg {
    fn arches(self) -> Vec<Arch> {
        match self {
            ArchArg::Amd64 => vec![Arch::Amd64],
            ArchArg::Arm64 => vec![Arch::Arm64],
            ArchArg::All => Arch::ALL.to_vec(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum AccelArg {
    Tcg,
    Kvm,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernels, the user programs and the ramdisk under
    /// target/images/<arch>/ (bsd, bsd.gdb, ramdisk.cpio).
    Build {
        #[arg(long, value_enum, default_value = "all")]
        arch: ArchArg,
        /// Also put host file HOSTPATH into the ramdisk at GUESTPATH
        /// (absolute). Repeatable.
        #[arg(long, value_name = "HOSTPATH:GUESTPATH")]
        add: Vec<AddSpec>,
    },
    /// Boot oxbsd in QEMU with the serial console on this terminal: what
    /// you type goes to the guest, ^C included; Ctrl-A X quits QEMU. The
    /// ramdisk goes in with -initrd. With --script or --timeout it runs
    /// unattended instead.
    Run {
        #[arg(long, value_enum)]
        arch: ArchArg,
        /// Also put host file HOSTPATH into the ramdisk at GUESTPATH
        /// (absolute). Repeatable.
        #[arg(long, value_name = "HOSTPATH:GUESTPATH")]
        add: Vec<AddSpec>,
        /// Start this program as init (appends init=PATH to the kernel
        /// command line); it must be in the ramdisk.
        #[arg(long, value_name = "PATH")]
        init: Option<String>,
        /// Run host FILE with /bin/sh instead of an interactive shell, then
        /// power off: FILE goes into the ramdisk at /etc/script and
        /// script=/etc/script onto the kernel command line; init runs it
        /// after /etc/rc with the console as its terminal. The console is
        /// shown here and nothing is read from it. Exits with the script's
        /// status (its exit code, or 128 + signal); a kernel panic exits
        /// 125 and a timeout 124, each with a message. Timeout 120 s
        /// unless --timeout says otherwise.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["init", "no_ramdisk", "gdb"])]
        script: Option<PathBuf>,
        /// Boot without a ramdisk.
        #[arg(long)]
        no_ramdisk: bool,
        /// Number of CPUs (1 to 8).
        #[arg(long, default_value_t = 4)]
        smp: u32,
        /// amd64: q35 (default), pc, microvm. arm64: gicv3 (default),
        /// gicv2, el2 (boot at EL2, GICv3), el2-gicv2. A raw -M value also works.
        #[arg(long)]
        machine: Option<String>,
        /// QEMU CPU model (default: max on amd64, cortex-a72 on arm64; QEMU's own with kvm).
        #[arg(long)]
        cpu: Option<String>,
        /// Guest RAM.
        #[arg(long, default_value = "512M")]
        mem: String,
        #[arg(long, value_enum, default_value = "tcg")]
        accel: AccelArg,
        /// Kernel command line, e.g. "halt" or "loglevel=debug".
        #[arg(long, default_value = "")]
        append: String,
        /// Stop at the first instruction and wait for gdb on localhost:1234.
        #[arg(long)]
        gdb: bool,
        /// Capture the console and stop after this many seconds instead of
        /// running interactively; prints the decoded exit status.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Lint, host unit tests, then the boot matrix on both arches.
    Test {
        #[arg(long, value_enum, default_value = "all")]
        arch: ArchArg,
        /// Skip cargo fmt --check and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Skip the host unit tests.
        #[arg(long)]
        no_host: bool,
        /// Run only the boot cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Seconds before a boot case is killed.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Copy each guest's console to the terminal as it runs.
        #[arg(long)]
        verbose: bool,
    },
    /// cargo fmt --check and clippy (host crates, both kernels, the user
    /// programs for both arches), warnings denied.
    Lint,
    /// The benchmark: boot oxbsd (each exit strategy) and the Linux peer
    /// (Debian's cloud kernel, as shipped and with mitigations=off
    /// kpti=0) with the same QEMU flags and the same workload as first
    /// process, ROUNDS times interleaved; print a table per arch and CPU
    /// count and write target/bench/<date-time>/results.json. See
    /// docs/BENCHMARKS.md.
    Bench {
        #[arg(long, value_enum, default_value = "all")]
        arch: ArchArg,
        /// CPU counts to run at, comma-separated (e.g. 1,4).
        #[arg(long, value_delimiter = ',', default_value = "4")]
        smp: Vec<u32>,
        /// Boots of every configuration.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Only these tests, comma-separated (the driver's names: boot
        /// fork_exit fork_exec exit_latency teardown fault_zero fault_cow
        /// fork_touch fork_16m pipe_pingpong null_syscall zero_page
        /// fork_exit_par teardown_par kbuild).
        #[arg(long)]
        only: Option<String>,
        /// Small sizes and one round (CI's smoke run of the instrument):
        /// checks that every test runs and gives sane figures, not speed.
        #[arg(long)]
        quick: bool,
        /// oxbsd only: do not fetch or boot Linux.
        #[arg(long)]
        no_linux: bool,
        /// Guest memory, as QEMU's -m.
        #[arg(long, default_value = "512M")]
        mem: String,
        /// Seconds one boot may take.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Where oxbsd spends its time during bench tests: samples every
    /// vCPU's PC through QEMU's monitor while the driver runs, charges
    /// kernel samples to functions (bsd.gdb's symbols) and prints the
    /// user/kernel/idle split and the top functions; also written to
    /// target/profile/. See docs/BENCHMARKS.md.
    Profile {
        #[arg(long, value_enum)]
        arch: ArchArg,
        #[arg(long, default_value_t = 1)]
        smp: u32,
        /// The bench tests to run, comma-separated.
        #[arg(long, default_value = "fork_exit")]
        only: String,
        /// Times the driver runs them (longer runs, more samples).
        #[arg(long, default_value_t = 20)]
        repeat: u32,
        /// Samples per second (each stops the vCPUs briefly).
        #[arg(long, default_value_t = 200)]
        hz: u32,
        /// Kernel functions listed.
        #[arg(long, default_value_t = 25)]
        top: usize,
        /// More kernel command-line words (e.g. exit=reaper).
        #[arg(long, default_value = "")]
        append: String,
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command builds for the bare-metal targets.
    if let Err(e) = install::ensure_toolchain() {
        eprintln!("xtask: {e}");
        return ExitCode::FAILURE;
    }
    let r = match cli.cmd {
        Cmd::Build { arch, add } => arch.arches().into_iter().try_for_each(|a| {
            build::build_kernel(a)?;
            build_ramdisk(a, &add).map(drop)
        }),
        Cmd::Run {
            arch,
            add,
            init,
            script,
            no_ramdisk,
            smp,
            machine,
            cpu,
            mem,
            accel,
            append,
            gdb,
            timeout,
        } => {
            let rd = RamdiskChoice { add, init, script, none: no_ramdisk };
            match cmd_run(arch, rd, smp, machine, cpu, mem, accel, append, gdb, timeout) {
                Ok(code) => return code,
                Err(e) => Err(e),
            }
        }
        Cmd::Test { arch, no_lint, no_host, filter, timeout, verbose } => {
            cmd_test(arch.arches(), !no_lint, !no_host, filter, timeout, verbose)
        }
        Cmd::Lint => lint(),
        Cmd::Profile { arch, smp, only, repeat, hz, top, append, timeout } => {
            cmd_profile(arch, smp, only, repeat, hz, top, append, timeout)
        }
        Cmd::Bench { arch, smp, rounds, only, quick, no_linux, mem, timeout } => {
            cmd_bench(arch.arches(), smp, rounds, only, quick, !no_linux, mem, timeout)
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `run` does about the ramdisk.
struct RamdiskChoice {
    add: Vec<AddSpec>,
    init: Option<String>,
    /// `--script FILE`.
    script: Option<PathBuf>,
    none: bool,
}

/// How long `run --script` lets a script run without --timeout.
const SCRIPT_TIMEOUT: u64 = 120;
/// `run --script`'s exit codes when there is no script status (as
/// timeout(1) and git bisect run have them).
const EXIT_TIMEOUT: u8 = 124;
const EXIT_NO_STATUS: u8 = 125;

/// The kernel command line with `KEY=PATH` appended (option `--KEY`),
/// after checking it does not already have a `KEY=` word.
fn append_word(append: &str, key: &str, path: Option<&str>) -> Result<String, String> {
    let Some(path) = path else { return Ok(append.to_string()) };
    if !path.starts_with('/') {
        return Err(format!("--{key} {path}: give an absolute path in the ramdisk, e.g. /bin/hello"));
    }
    if append.split_whitespace().any(|w| w.starts_with(&format!("{key}="))) {
        return Err(format!("--{key} and a {key}= word in --append: give one of them"));
    }
    Ok(if append.is_empty() { format!("{key}={path}") } else { format!("{append} {key}={path}") })
}

#[allow(clippy::too_many_arguments)]
fn cmd_run(
    arch: ArchArg,
    rd: RamdiskChoice,
    smp: u32,
    machine: Option<String>,
    cpu: Option<String>,
    mem: String,
    accel: AccelArg,
    append: String,
    gdb: bool,
    timeout: Option<u64>,
) -> Result<ExitCode, String> {
    let arch = match arch.arches()[..] {
        [a] => a,
        _ => return Err("run boots one arch: --arch amd64 or --arch arm64".into()),
    };
    let accel = match accel {
        AccelArg::Tcg => qemu::Accel::Tcg,
        AccelArg::Kvm if arch.name() != host_arch() => {
            return Err(format!(
                "--accel kvm runs only the host's own arch ({}); use --accel tcg",
                host_arch()
            ));
        }
        AccelArg::Kvm if std::path::Path::new("/dev/kvm").exists() => qemu::Accel::Kvm,
        AccelArg::Kvm => {
            return Err("--accel kvm: this host has no /dev/kvm; use --accel tcg".into());
        }
    };
    if rd.none && !rd.add.is_empty() {
        return Err("--add puts files in the ramdisk; it cannot go with --no-ramdisk".into());
    }
    let mut add = rd.add;
    let mut append = append_word(&append, "init", rd.init.as_deref())?;
    if let Some(f) = &rd.script {
        let host = f.to_str().ok_or_else(|| format!("--script {}: not a UTF-8 path", f.display()))?;
        add.push(format!("{host}:{SCRIPT_PATH}").parse().map_err(|e| format!("--script: {e}"))?);
        append = append_word(&append, "script", Some(SCRIPT_PATH))?;
    }
    let timeout = timeout.or(rd.script.as_ref().map(|_| SCRIPT_TIMEOUT));
    install::ensure_qemu(&[arch])?;
    let kernel = build::build_kernel(arch)?;
    let initrd = if rd.none {
        None
    } else {
        let (path, tree) = build_ramdisk(arch, &add)?;
        if let Some(init) = &rd.init
            && !tree.contains_file(init)
        {
            return Err(format!(
                "--init {init}: no such file in the ramdisk (see `cargo xtask build` or --add)"
            ));
        }
        Some(path)
    };
    let o = qemu::Opts {
        arch,
        machine: machine.unwrap_or_else(|| arch.machines()[0].to_string()),
        cpu,
        smp,
        mem,
        accel,
        append,
        kernel,
        initrd,
        interactive: timeout.is_none(),
        gdb,
    };
    let args = qemu::args(&o)?;
    let prog = qemu::program(arch);
    if gdb {
        let g = build::images_dir(arch).join("bsd.gdb");
        eprintln!("xtask: waiting for gdb: gdb-multiarch {} -ex 'target remote localhost:1234'", g.display());
    }
    let Some(secs) = timeout else {
        eprintln!("xtask: {prog} {} (Ctrl-A X quits; ^C goes to the guest)", args.join(" "));
        let exit = qemu::decode_exit(arch, runner::run_interactive(prog, &args)?);
        eprintln!("xtask: {}", qemu::describe(exit));
        return match exit {
            GuestExit::Status(0) | GuestExit::Qemu(0) => Ok(ExitCode::SUCCESS),
            _ => Err("the guest did not power off cleanly".into()),
        };
    };
    let c = runner::run_captured(prog, &args, Duration::from_secs(secs), true)?;
    for l in c.log.lines().filter(|l| l.starts_with("[qemu stderr]")) {
        eprintln!("{l}");
    }
    let exit = c.code.map_or(GuestExit::Timeout, |code| qemu::decode_logged(arch, code, &c.log));
    if rd.script.is_none() {
        eprintln!("xtask: {}", qemu::describe(exit));
        return match exit {
            GuestExit::Status(0) => Ok(ExitCode::SUCCESS),
            _ => Err("the guest did not power off cleanly".into()),
        };
    }
    Ok(match script_status(&c.log, exit) {
        Ok(s) => {
            eprintln!("xtask: the script exited with status {s}");
            ExitCode::from(s as u8)
        }
        Err(e) => {
            eprintln!("xtask: {e} ({})", qemu::describe(exit));
            ExitCode::from(if exit == GuestExit::Timeout { EXIT_TIMEOUT } else { EXIT_NO_STATUS })
        }
    })
}

/// The oxbsd arch name of the machine the tools run on.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
fn cmd_bench(
    arches: Vec<Arch>,
    smps: Vec<u32>,
    rounds: u32,
    only: Option<String>,
    quick: bool,
    linux: bool,
    mem: String,
    timeout: u64,
) -> Result<(), String> {
    if let Some(bad) = smps.iter().find(|&&n| !(1..=8).contains(&n)) {
        return Err(format!("--smp {bad}: give CPU counts from 1 to 8"));
    }
    if rounds == 0 {
        return Err("--rounds 0: give at least one round".into());
    }
    if let Some(o) = &only {
        check_tests("--only", o)?;
    }
    let rounds = if quick { 1 } else { rounds };
    let o = tools::bench::Opts { arches, smps, rounds, only, quick, linux, mem, timeout };
    tools::bench::run(&o).map(drop)
}

#[allow(clippy::too_many_arguments)]
fn cmd_profile(
    arch: ArchArg,
    smp: u32,
    only: String,
    repeat: u32,
    hz: u32,
    top: usize,
    append: String,
    timeout: u64,
) -> Result<(), String> {
    let arch = match arch.arches()[..] {
        [a] => a,
        _ => return Err("profile boots one arch: --arch amd64 or --arch arm64".into()),
    };
    check_tests("--only", &only)?;
    if !(1..=4096).contains(&repeat) {
        return Err(format!("--repeat {repeat}: give 1 to 4096"));
    }
    if !(1..=2000).contains(&hz) {
        return Err(format!("--hz {hz}: give 1 to 2000 samples per second"));
    }
    let o = tools::profile::Opts { arch, smp, only, repeat, hz, top, timeout, append };
    print!("{}", tools::profile::run(&o)?);
    Ok(())
}

/// Check a comma-separated list of the bench driver's test names.
fn check_tests(opt: &str, list: &str) -> Result<(), String> {
    let known: Vec<&str> = bench::TESTS.split(' ').collect();
    match list.split(',').find(|t| !known.contains(t)) {
        Some(t) => Err(format!("{opt}: no test \"{t}\"; the tests are {}", known.join(" "))),
        None => Ok(()),
    }
}

fn lint() -> Result<(), String> {
    let root = workspace_root();
    eprintln!("xtask: lint: cargo fmt --check");
    runner::run_step("cargo fmt --check", build::cargo().args(["fmt", "--all", "--", "--check"]), &root)?;
    eprintln!("xtask: lint: clippy (host crates)");
    runner::run_step(
        "clippy (host)",
        build::cargo().args(["clippy", "--quiet", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        &root,
    )?;
    for arch in Arch::ALL {
        eprintln!("xtask: lint: clippy ({arch} user programs)");
        runner::run_step(
            &format!("clippy ({arch} user programs)"),
            build::cargo().args([
                "clippy",
                "--quiet",
                "--profile",
                user::USER_PROFILE,
                "-p",
                user::USER_PACKAGE,
                "-p",
                "oxbsd-rt",
                "-p",
                user::BENCH_PACKAGE,
                "--target",
                user::user_target(arch),
                "--",
                "-D",
                "warnings",
            ]),
            &root,
        )?;
        eprintln!("xtask: lint: clippy ({arch} kernel)");
        runner::run_step(
            &format!("clippy ({arch} kernel)"),
            build::cargo().args([
                "clippy",
                "--quiet",
                "--release",
                "-p",
                &build::kernel_package(arch),
                "--target",
                build::kernel_target(arch),
                "--",
                "-D",
                "warnings",
            ]),
            &root,
        )?;
    }
    Ok(())
}

fn cmd_test(
    arches: Vec<Arch>,
    do_lint: bool,
    host: bool,
    filter: Option<String>,
    timeout: u64,
    verbose: bool,
) -> Result<(), String> {
    let root = workspace_root();
    if do_lint {
        lint()?;
    }
    if host {
        eprintln!("xtask: host unit tests (cargo test --workspace)");
        runner::run_step("host unit tests", build::cargo().args(["test", "--quiet", "--workspace"]), &root)?;
    }
    install::ensure_qemu(&arches)?;
    let logdir = root.join("target/test-logs");
    std::fs::create_dir_all(&logdir).map_err(|e| format!("creating {}: {e}", logdir.display()))?;
    let mut kernels = Vec::new();
    for &a in &arches {
        kernels.push((a, build::build_kernel(a)?, test_ramdisk(a, &logdir)?));
    }
    let cases: Vec<Case> = matrix()
        .into_iter()
        .filter(|c| arches.contains(&c.arch))
        .filter(|c| filter.as_deref().is_none_or(|f| c.name().contains(f)))
        .collect();
    if cases.is_empty() {
        return Err("no boot case matches the filter".into());
    }
    // The kernel must find this initrd, report its exact size and keep it
    // out of its free memory (main() asserts no usable range overlaps it).
    let rd: Vec<u8> = (0..oxbsd_tests::INITRD_BYTES).map(|i| (i % 251) as u8).collect();
    std::fs::write(logdir.join("initrd.bin"), rd).map_err(|e| format!("writing the test initrd: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    for (i, c) in cases.iter().enumerate() {
        let (_, kernel, ramdisk) = kernels.iter().find(|(a, _, _)| *a == c.arch).unwrap();
        let r = boot_case(c, kernel.clone(), ramdisk, timeout, verbose, &logdir);
        let name = c.name();
        match r {
            Ok(secs) => {
                passed += 1;
                eprintln!("[{:2}/{}] {name:<32} ok ({secs:.1} s)", i + 1, cases.len());
            }
            Err(e) => {
                failed += 1;
                eprintln!("[{:2}/{}] {name:<32} FAILED: {e}", i + 1, cases.len());
                eprintln!("        log: target/test-logs/{name}.log");
            }
        }
    }
    println!("matrix: {passed} passed, {failed} failed");
    if failed == 0 { Ok(()) } else { Err(format!("{failed} boot case(s) failed")) }
}

/// The user ramdisk the matrix boots: the standard one plus the test
/// fixtures (`oxbsd_tests::FIXTURES`), written beside the logs so that
/// `run`'s ramdisk stays as `build` makes it. Every case's init is
/// checked to be in it.
fn test_ramdisk(a: Arch, logdir: &std::path::Path) -> Result<PathBuf, String> {
    let dir = oxbsd_tests::fixture_dir();
    let adds: Vec<AddSpec> = oxbsd_tests::FIXTURES
        .iter()
        .map(|&(f, guest)| AddSpec { host: dir.join(f), guest: guest.into() })
        .collect();
    let tree = ramdisk_tree(a, &adds)?;
    for c in matrix().iter().filter(|c| c.arch == a) {
        if let Some(init) = c.init
            && !tree.contains_file(init)
        {
            return Err(format!("case {}: {init} is not in the {a} ramdisk", c.name()));
        }
    }
    let path = logdir.join(format!("ramdisk-{a}.cpio"));
    std::fs::write(&path, tree.to_cpio()).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

fn boot_case(
    c: &Case,
    kernel: PathBuf,
    ramdisk: &std::path::Path,
    timeout: u64,
    verbose: bool,
    logdir: &std::path::Path,
) -> Result<f64, String> {
    let initrd = if c.uses_ramdisk() {
        Some(ramdisk.to_path_buf())
    } else {
        c.initrd.then(|| logdir.join("initrd.bin"))
    };
    let o = qemu::Opts {
        arch: c.arch,
        machine: c.machine.to_string(),
        cpu: c.cpu.map(str::to_string),
        smp: c.smp,
        mem: c.mem.into(),
        accel: qemu::Accel::Tcg,
        append: c.cmdline(),
        kernel,
        initrd,
        interactive: false,
        gdb: false,
    };
    let args = qemu::args(&o)?;
    let prog = qemu::program(c.arch);
    let timeout = Duration::from_secs(timeout);
    let (run, report) = match c.expect {
        Expect::Session(kind) => {
            let (run, report) = runner::run_session(prog, &args, kind, timeout, verbose)?;
            (run, Some(report))
        }
        _ => (runner::run_captured(prog, &args, timeout, verbose)?, None),
    };
    let exit = run.code.map_or(GuestExit::Timeout, |code| qemu::decode_logged(c.arch, code, &run.log));
    let mut log = format!("$ {prog} {}\n{}\n", args.join(" "), run.log);
    if let Some(r) = &report {
        log += "[xtask] session steps:\n";
        for (step, t) in &r.steps {
            log += &format!("[xtask] {:7.2} s  {step}\n", t.as_secs_f64());
        }
    }
    let failed = report.as_ref().is_some_and(|r| r.failure.is_some());
    log += &match exit {
        GuestExit::Timeout if failed => "[xtask] QEMU stopped after the failed step\n".into(),
        _ => format!("[xtask] {}\n", qemu::describe(exit)),
    };
    let _ = std::fs::write(logdir.join(format!("{}.log", c.name())), &log);
    if let Some(f) = report.and_then(|r| r.failure) {
        // Why the console stopped making sense, if the kernel said.
        let panic = run.log.lines().find(|l| l.starts_with("panic:"));
        let panic = panic.map(|l| format!(" [kernel {}]", l.trim_end())).unwrap_or_default();
        let tail = oxbsd_tests::console::tail(&run.log, 15).replace('\n', "\n        | ");
        return Err(format!("{f}{panic}\n        console tail:\n        | {tail}"));
    }
    check(c, &run.log, exit).map(|()| run.elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_words() {
        assert_eq!(append_word("", "init", None).unwrap(), "");
        assert_eq!(append_word("halt", "init", None).unwrap(), "halt");
        assert_eq!(append_word("", "init", Some("/bin/hello")).unwrap(), "init=/bin/hello");
        assert_eq!(
            append_word("loglevel=debug", "init", Some("/sbin/init")).unwrap(),
            "loglevel=debug init=/sbin/init"
        );
        assert!(append_word("", "init", Some("bin/hello")).unwrap_err().contains("absolute"));
        assert!(append_word("init=/a", "init", Some("/b")).unwrap_err().contains("one of them"));
        assert_eq!(
            append_word("init=/a", "script", Some(SCRIPT_PATH)).unwrap(),
            "init=/a script=/etc/script"
        );
        assert!(
            append_word("script=/x", "script", Some("/y")).unwrap_err().contains("--script and a script=")
        );
    }

    #[test]
    fn script_option() {
        let ok = Cli::try_parse_from(["xtask", "run", "--arch", "amd64", "--script", "Cargo.toml"]);
        assert!(ok.is_ok());
        for other in ["--init=/bin/hello", "--no-ramdisk", "--gdb"] {
            let r = Cli::try_parse_from(["xtask", "run", "--arch", "amd64", "--script", "x", other]);
            assert!(r.is_err(), "--script with {other} accepted");
        }
    }
}
