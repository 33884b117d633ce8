//! The oxbsd boot test matrix: which guests to boot and what each must print.
//!
//! This crate says *what* is tested; `tools` (cargo xtask test) turns each
//! [`Case`] into a QEMU command line, boots it under a timeout, decodes the
//! exit status into a [`GuestExit`] and hands the serial log to [`check`].
//! Keeping the expectations here, free of process handling, lets them be
//! unit-tested on canned logs.
//!
//! Two modules do touch a running guest: [`console`] drives a serial console
//! over pipes (expect and send), and [`session`] holds the console sessions
//! that type at oxbsd's shell as a person would.

pub mod console;
pub mod session;

use std::fmt;
use std::path::PathBuf;

pub use session::SessionKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "amd64" | "x86_64" => Some(Arch::Amd64),
            "arm64" | "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Machine names the tools understand for this arch, the default first.
    pub fn machines(self) -> &'static [&'static str] {
        match self {
            Arch::Amd64 => &["q35", "pc", "microvm"],
            Arch::Arm64 => &["gicv3", "gicv2", "el2", "el2-gicv2"],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a guest ended, as the tools decoded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// The kernel powered off reporting this status (0 success, 1 panic).
    Status(u32),
    /// QEMU exited with a code that carries no kernel status.
    Qemu(i32),
    /// Killed after the timeout.
    Timeout,
}

/// What a case must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Boots, every CPU runs, ticks and answers IPIs, then powers off with
    /// success.
    Halt,
    /// Panics with a message containing the text, stops the other CPUs and
    /// powers off with the panic status.
    Panic(&'static str),
    /// Takes a kernel page fault: register dump, then panic.
    Fault,
    /// As `Halt`, and the log must contain the text too: the report of a
    /// boot self-test that a boot word (the first word of `append`) turns on.
    HaltWith(&'static str),
    /// The in-guest regress suite runs as init (`Case::init` names it):
    /// every test of [`regress_tests`] reports `ok NAME:`, the summary is
    /// `regress: N passed, 0 failed` with N their number, and init powers
    /// off cleanly.
    Regress,
    /// A console session at the shell (see [`session`]), ending with the
    /// machine powered off from the shell with success.
    Session(SessionKind),
    /// `cargo xtask run --script`'s path: init runs [`SCRIPT_PATH`] (the
    /// fixture `script.sh`) with /bin/sh and powers off with its exit
    /// status, which must be this; `need` lines appear in that order.
    Script(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub arch: Arch,
    pub machine: &'static str,
    pub cpu: Option<&'static str>,
    pub smp: u32,
    /// Guest RAM, QEMU's `-m` syntax.
    pub mem: &'static str,
    /// Boot with an initrd of [`INITRD_BYTES`] bytes, which the kernel must
    /// find and keep out of its free memory.
    pub initrd: bool,
    pub append: &'static str,
    /// Boot with the user ramdisk (`target/images/<arch>/ramdisk.cpio`,
    /// built by the tools) and start this program as init (`init=PATH`
    /// after `append`). Excludes `initrd`.
    pub init: Option<&'static str>,
    pub expect: Expect,
    /// Lines the serial log must also contain (a self-test's report, so a
    /// test that silently did not run fails the case).
    pub need: &'static [&'static str],
}

/// Size of the initrd the tools build for cases that boot with one.
pub const INITRD_BYTES: usize = 1 << 20;

impl Default for Case {
    fn default() -> Self {
        Case {
            arch: Arch::Amd64,
            machine: "q35",
            cpu: None,
            smp: 1,
            mem: "512M",
            initrd: false,
            append: "halt",
            init: None,
            expect: Expect::Halt,
            need: &[],
        }
    }
}

impl Case {
    pub fn name(&self) -> String {
        let mut n = format!("{}-{}-smp{}", self.arch, self.machine, self.smp);
        if let Some(c) = self.cpu {
            n += &format!("-{c}");
        }
        if self.mem != "512M" {
            n += &format!("-m{}", self.mem);
        }
        if self.initrd {
            n += "-initrd";
        }
        if let Some(init) = self.init {
            n += &format!("-{}", init.rsplit('/').next().unwrap_or(init));
        }
        match self.expect {
            // Extra boot words name the case: "usertest halt" -> "-usertest".
            Expect::Halt => {
                for w in self.append.split_whitespace().filter(|&w| w != "halt") {
                    n += &format!("-{}", w.replace('=', ""));
                }
            }
            Expect::Panic(_) => n += &format!("-{}", self.append.replace('=', "")),
            Expect::Fault => n += "-fault",
            Expect::HaltWith(_) => n += &format!("-{}", self.append.split_whitespace().next().unwrap_or("")),
            Expect::Regress => {
                for w in self.append.split_whitespace() {
                    n += &format!("-{}", w.replace('=', ""));
                }
            }
            Expect::Session(k) => n += &format!("-{}", k.name()),
            Expect::Script(_) => n += "-script",
        }
        n
    }

    /// Whether the case boots the user ramdisk (with the test fixtures).
    pub fn uses_ramdisk(&self) -> bool {
        self.init.is_some() || matches!(self.expect, Expect::Session(_) | Expect::Script(_))
    }

    /// The kernel command line: `append`, then `init=PATH` for a case
    /// with an init.
    pub fn cmdline(&self) -> String {
        match self.init {
            None => self.append.to_string(),
            Some(i) if self.append.is_empty() => format!("init={i}"),
            Some(i) => format!("{} init={i}", self.append),
        }
    }
}

/// The boot matrix: every machine/interrupt controller/EL of each arch at
/// -smp 1 and 4, the other CPU model on arm64, the deliberate failure
/// paths (panic on the boot CPU, panic on a secondary, kernel fault), and
/// the regress suite as init on each arch's default machine at -smp 1
/// and 4.
pub fn matrix() -> Vec<Case> {
    let mut v = Vec::new();
    for arch in Arch::ALL {
        let base = Case { arch, ..Case::default() };
        for &machine in arch.machines() {
            if machine == "el2-gicv2" {
                continue; // covered once below at -smp 2
            }
            for smp in [1, 4] {
                v.push(Case { machine, smp, ..base.clone() });
            }
        }
        let m = arch.machines()[0];
        v.push(Case { machine: m, smp: 8, ..base.clone() });
        v.push(Case { machine: m, smp: 2, mem: "128M", initrd: true, ..base.clone() });
        let panic = |machine, smp, append, msg| Case {
            machine,
            smp,
            append,
            expect: Expect::Panic(msg),
            ..base.clone()
        };
        v.push(panic(m, 4, "panic", "boot: panic requested"));
        v.push(panic(m, 4, "panic=2", "cpu2: panic requested by IPI"));
        v.push(panic(m, 2, "sleeplocked", "assertwaitok: 1 spin locks held"));
        // An exiting thread that sleeps once SDEAD (invariant 4): init's
        // first child to exit trips it.
        v.push(Case { init: Some(REGRESS), ..panic(m, 2, "deadsleep", "assertwaitok: SDEAD thread") });
        v.push(Case { machine: m, smp: 2, append: "fault", expect: Expect::Fault, ..base.clone() });
        let other = arch.machines()[2];
        v.push(panic(other, 2, "panic=1", "cpu1: panic requested by IPI"));
    }
    // amd64 user mode before the MI process model: the MD user-mode test
    // (boot word usertest; see arch/amd64/src/selftest.rs).
    v.push(Case {
        smp: 2,
        append: "usertest halt",
        need: &["amd64: md selftest: ", "amd64: usertest: user mode, syscall, traps, signal round trip ok"],
        ..Case::default()
    });
    // RAM above 4 GiB on the PC machines.
    v.push(Case { arch: Arch::Amd64, machine: "pc", smp: 2, mem: "4G", ..Case::default() });
    let arm = Case { arch: Arch::Arm64, ..Case::default() };
    v.push(Case { machine: "el2-gicv2", smp: 2, ..arm.clone() });
    v.push(Case { machine: "gicv3", cpu: Some("max"), smp: 2, ..arm.clone() });
    v.push(Case { machine: "el2", cpu: Some("max"), smp: 4, mem: "2G", ..arm.clone() });
    // A trip through user mode (arm64 MD self-test), with and without PAN.
    let usertest = Expect::HaltWith("usertest: ok");
    v.push(Case { machine: "gicv3", smp: 2, append: "usertest halt", expect: usertest, ..arm.clone() });
    v.push(Case {
        machine: "el2",
        cpu: Some("max"),
        smp: 2,
        append: "usertest halt",
        expect: usertest,
        ..arm.clone()
    });
    // A thread's kernel stack runs into its guard page.
    let overflow = Expect::Panic("kernel stack overflow");
    v.push(Case { machine: "gicv3", smp: 2, append: "kstackoverflow", expect: overflow, ..arm });
    // The in-guest regress suite as init, on one CPU and on four, under
    // each exit strategy.
    for arch in Arch::ALL {
        for append in EXIT_WORDS {
            for smp in [1, 4] {
                v.push(Case {
                    arch,
                    machine: arch.machines()[0],
                    smp,
                    append,
                    init: Some(REGRESS),
                    expect: Expect::Regress,
                    ..Case::default()
                });
            }
        }
    }
    // Console sessions and a script, on each arch's default machine.
    for (arch, smp, script_smp) in [(Arch::Amd64, 4, 2), (Arch::Arm64, 2, 4)] {
        let base = Case { arch, machine: arch.machines()[0], smp, append: "", ..Case::default() };
        for k in [SessionKind::Shell, SessionKind::JobControl] {
            v.push(Case { expect: Expect::Session(k), ..base.clone() });
        }
        v.push(Case {
            smp: script_smp,
            append: SCRIPT_WORD,
            expect: Expect::Script(3),
            need: SCRIPT_LINES,
            ..base
        });
    }
    v
}

/// The exit strategies the regress suite runs under (DESIGN §4).
pub const EXIT_WORDS: [&str; 2] = ["exit=direct", "exit=reaper"];

/// Where `cargo xtask run --script FILE` puts FILE in the ramdisk, and the
/// kernel command line word that makes init run it (`/bin/sh PATH`, after
/// /etc/rc, then power off with its exit status).
pub const SCRIPT_PATH: &str = "/etc/script";
pub const SCRIPT_WORD: &str = "script=/etc/script";

/// Files from `tests/fixtures/` that the tools add to the ramdisk the
/// matrix boots: (fixture, guest path).
pub const FIXTURES: &[(&str, &str)] = &[("script.sh", SCRIPT_PATH), ("shebang.sh", "/etc/tests/shebang.sh")];

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// What `script.sh` prints, in order (see the fixture).
const SCRIPT_LINES: &[&str] = &[
    "script: start",
    "a b c",
    "shebang: /etc/tests/shebang.sh one two",
    "script: shebang.sh exited 5",
    "script: false || ok",
    "script: exiting 3",
];

/// The status a script's run reports, from the console log and QEMU's
/// decoded exit, or why there is none (a kernel panic, a timeout, QEMU
/// failing). The kernel's panic status and a script's exit status 1 look
/// alike to QEMU, so a `panic:` line decides.
pub fn script_status(log: &str, exit: GuestExit) -> Result<u32, String> {
    if let Some(l) = log.lines().find(|l| l.starts_with("panic:")) {
        return Err(format!("kernel panicked: {}", l.trim_end()));
    }
    match exit {
        GuestExit::Status(s) => Ok(s),
        GuestExit::Timeout => Err("the script did not finish and power off in time".into()),
        GuestExit::Qemu(c) => Err(format!("QEMU exited {c} without a kernel status")),
    }
}

/// The regress program in the ramdisk.
pub const REGRESS: &str = "/bin/regress";

/// The source of regress's test table: the host's list of what must
/// pass is read from it, so the two cannot disagree.
const REGRESS_SOURCE: &str = include_str!("../../user/src/bin/regress/main.rs");

/// The names of the regress tests, in the order they run, the final
/// `baseline` included: the quoted names in regress's `TESTS` table
/// (entries `t("name", ...)` or `Test { name: "name", ... }`), then its
/// `BASELINE`, declared after the table and run last.
pub fn regress_tests() -> Vec<&'static str> {
    parse_regress_table(REGRESS_SOURCE)
}

/// The first double-quoted text of a line.
fn quoted(l: &str) -> Option<&str> {
    let start = l.find('"')? + 1;
    let len = l[start..].find('"')?;
    Some(&l[start..start + len])
}

fn parse_regress_table(src: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut in_table = false;
    for l in src.lines().map(str::trim) {
        if l.starts_with("pub const TESTS: &[Test] = &[") {
            in_table = true;
        } else if in_table && l == "];" {
            in_table = false;
        } else if (in_table && (l.starts_with("t(\"") || l.starts_with("Test { name: \"")))
            || l.starts_with("pub const BASELINE: &str = \"")
        {
            names.extend(quoted(l));
        }
    }
    names
}

/// Check a finished guest against its case. `Err` says what was wrong.
pub fn check(case: &Case, log: &str, exit: GuestExit) -> Result<(), String> {
    match case.expect {
        Expect::Halt => check_halt(case, log, exit),
        Expect::HaltWith(msg) => {
            check_halt(case, log, exit)?;
            need(log, msg)
        }
        Expect::Panic(msg) => {
            check_panicked(log, exit)?;
            need(log, msg)?;
            if case.smp > 1 {
                need(log, "other cpus stopped")?;
            }
            Ok(())
        }
        Expect::Fault => {
            check_panicked(log, exit)?;
            need(log, "boot: faulting on purpose")?;
            check_fault_dump(log)
        }
        Expect::Regress => check_regress(case, log, exit, &regress_tests()),
        Expect::Session(_) => match script_status(log, exit)? {
            0 => Ok(()),
            s => Err(format!("expected the shell to power off with success, got status {s}")),
        },
        Expect::Script(want) => {
            // No status at all says most; then what the script printed.
            let s = script_status(log, exit)?;
            lines_in_order(log, case.need)?;
            if s == want { Ok(()) } else { Err(format!("expected the script's status {want}, got {s}")) }
        }
    }
}

/// Each of `want` is a whole line of the log (CR NL endings allowed),
/// in that order.
fn lines_in_order(log: &str, want: &[&str]) -> Result<(), String> {
    let mut lines = log.lines().map(|l| l.trim_end_matches('\r'));
    for w in want {
        if !lines.any(|l| l == *w) {
            return Err(format!("no line \"{w}\" (in order) in the console log"));
        }
    }
    Ok(())
}

/// The regress suite's verdict: no panic, the summary line present once
/// with 0 failed and every expected test passed, each by name, then a
/// clean power-off. The failing tests' lines are quoted in the error.
fn check_regress(case: &Case, log: &str, exit: GuestExit, tests: &[&str]) -> Result<(), String> {
    if let Some(l) = log.lines().find(|l| l.starts_with("panic:")) {
        // The test that was running is the one after the last reported.
        let last = log
            .lines()
            .take_while(|x| !x.starts_with("panic:"))
            .filter(|x| x.starts_with("ok ") || x.starts_with("FAIL "))
            .last();
        return Err(format!("kernel panicked: {l} (last test line: {})", last.unwrap_or("none")));
    }
    let fails: Vec<&str> = log.lines().filter(|l| l.starts_with("FAIL ")).collect();
    let quote = |v: &[&str]| v.iter().take(5).map(|l| format!("\n        {l}")).collect::<String>();
    let summaries: Vec<(u32, u32)> = log.lines().filter_map(parse_regress_summary).collect();
    let (passed, failed) = match summaries[..] {
        [s] => s,
        [] => return Err(format!("no \"regress: N passed, N failed\" line ({exit:?}){}", quote(&fails))),
        _ => return Err(format!("{} summary lines", summaries.len())),
    };
    if failed > 0 || !fails.is_empty() {
        return Err(format!("regress: {passed} passed, {failed} failed:{}", quote(&fails)));
    }
    if passed as usize != tests.len() {
        return Err(format!("regress: {passed} passed, but it has {} tests", tests.len()));
    }
    let missing: Vec<&str> =
        tests.iter().copied().filter(|t| !log.lines().any(|l| l.starts_with(&format!("ok {t}:")))).collect();
    if !missing.is_empty() {
        return Err(format!("no \"ok\" line for {}", missing.join(", ")));
    }
    if exit != GuestExit::Status(0) {
        return Err(format!("expected a clean power-off (status 0) after the summary, got {exit:?}"));
    }
    check_cpus(case, log)
}

/// Parse `regress: N passed, N failed` (the whole line).
pub fn parse_regress_summary(l: &str) -> Option<(u32, u32)> {
    let rest = l.strip_prefix("regress: ")?;
    let (p, f) = rest.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.parse().ok()?, f.parse().ok()?))
}

/// After the deliberate fault: a register dump (several lines of hex
/// words), then a panic naming the fault and its address.
fn check_fault_dump(log: &str) -> Result<(), String> {
    let dump = &log[log.find("boot: faulting on purpose").unwrap()..];
    let lines: Vec<&str> = dump.lines().skip(1).take_while(|l| !l.starts_with("panic:")).collect();
    let hexy = lines.iter().filter(|l| l.split_whitespace().filter(|w| is_hex_word(w)).count() >= 2).count();
    if hexy < 4 {
        return Err(format!("no register dump after the deliberate fault ({hexy} register lines)"));
    }
    let p = dump.lines().find(|l| l.starts_with("panic:")).ok_or("no panic after the deliberate fault")?;
    if !p.contains("fault") || !p.contains("0x") {
        return Err(format!("the panic does not name the fault and its address: {p}"));
    }
    Ok(())
}

fn is_hex_word(w: &str) -> bool {
    let w = w.trim_start_matches("0x");
    w.len() >= 8 && w.chars().all(|c| c.is_ascii_hexdigit())
}

fn need(log: &str, s: &str) -> Result<(), String> {
    if log.contains(s) { Ok(()) } else { Err(format!("missing \"{s}\" in the serial log")) }
}

fn check_panicked(log: &str, exit: GuestExit) -> Result<(), String> {
    if exit != GuestExit::Status(1) {
        return Err(format!("expected the panic status 1, got {exit:?}"));
    }
    need(log, "panic: ")
}

fn check_halt(case: &Case, log: &str, exit: GuestExit) -> Result<(), String> {
    if let Some(l) = log.lines().find(|l| l.starts_with("panic:")) {
        return Err(format!("kernel panicked: {l}"));
    }
    if exit != GuestExit::Status(0) {
        return Err(format!("expected a clean power-off (status 0), got {exit:?}"));
    }
    for s in ["real mem = ", "avail mem = ", "selftest: ", "back to baseline", "boot: halt requested"] {
        need(log, s)?;
    }
    for s in case.need {
        need(log, s)?;
    }
    if case.initrd {
        need(log, &format!(", {INITRD_BYTES} bytes"))?;
        need(log, "rd0: initrd at 0x")?;
    }
    check_cpus(case, log)?;
    let hz = parse_measured_hz(log).ok_or("no \"clock: hz ... measured N Hz\" line")?;
    if !(40..=250).contains(&hz) {
        return Err(format!("timer runs at {hz} Hz, expected about 100"));
    }
    Ok(())
}

/// Every CPU of the case attached (and no more), running, ticking and
/// answering IPIs.
fn check_cpus(case: &Case, log: &str) -> Result<(), String> {
    let n = case.smp;
    for i in 0..n {
        need(log, &format!("cpu{i} at mainbus0"))?;
    }
    if log.contains(&format!("cpu{n} at mainbus0")) {
        return Err(format!("more cpus attached than -smp {n}"));
    }
    let b = parse_boot_line(log).ok_or("no \"boot: N cpus attached ...\" line")?;
    let pairs = n * (n - 1);
    if b != (BootLine { attached: n, running: n, ticking: n, ipi_ok: pairs, ipi_pairs: pairs }) {
        return Err(format!(
            "expected {n} cpus attached, running, ticking and ipi {pairs}/{pairs}, got {b:?}"
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub struct BootLine {
    pub attached: u32,
    pub running: u32,
    pub ticking: u32,
    pub ipi_ok: u32,
    pub ipi_pairs: u32,
}

/// Parse `boot: N cpus attached, N running, N ticking, ipi A/B ok`.
pub fn parse_boot_line(log: &str) -> Option<BootLine> {
    let l = log.lines().find(|l| l.starts_with("boot: ") && l.contains("cpus attached"))?;
    let nums: Vec<u32> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match nums[..] {
        [attached, running, ticking, ipi_ok, ipi_pairs] => {
            Some(BootLine { attached, running, ticking, ipi_ok, ipi_pairs })
        }
        _ => None,
    }
}

/// Parse the measured clock rate from `clock: hz 100, cpu0 measured N Hz`.
pub fn parse_measured_hz(log: &str) -> Option<u64> {
    let l = log.lines().find(|l| l.starts_with("clock: hz"))?;
    let rest = l.split("measured ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halt_log(n: u32, ipi: u32) -> String {
        let mut s = String::from(
            "oxbsd 0.1.0 (GENERIC.MP) #0: amd64 on QEMU q35\nreal mem = 536870912 (512MB)\navail mem = 500000000 (476MB)\nselftest: 80 pages and heap allocated and freed, back to baseline (1000 free pages)\n",
        );
        for i in 0..n {
            s += &format!("cpu{i} at mainbus0: apid {i}\n");
        }
        s += "clock: hz 100, cpu0 measured 99 Hz\n";
        s += &format!("boot: {n} cpus attached, {n} running, {n} ticking, ipi {ipi}/{} ok\n", n * (n - 1));
        s += "boot: halt requested, all cpus up; powering off\n";
        s
    }

    fn case(smp: u32, expect: Expect) -> Case {
        Case { smp, expect, ..Case::default() }
    }

    #[test]
    fn good_halt_passes() {
        assert_eq!(check(&case(4, Expect::Halt), &halt_log(4, 12), GuestExit::Status(0)), Ok(()));
        assert_eq!(check(&case(1, Expect::Halt), &halt_log(1, 0), GuestExit::Status(0)), Ok(()));
    }

    #[test]
    fn halt_failures_are_caught() {
        let c = case(4, Expect::Halt);
        assert!(check(&c, &halt_log(4, 11), GuestExit::Status(0)).unwrap_err().contains("ipi"));
        assert!(check(&c, &halt_log(3, 6), GuestExit::Status(0)).is_err());
        assert!(check(&c, &halt_log(4, 12), GuestExit::Status(1)).is_err());
        assert!(check(&c, &halt_log(4, 12), GuestExit::Timeout).is_err());
        let slow = halt_log(4, 12).replace("measured 99 Hz", "measured 7 Hz");
        assert!(check(&c, &slow, GuestExit::Status(0)).unwrap_err().contains("7 Hz"));
        let panicked = halt_log(4, 12) + "panic: oops\n";
        assert!(check(&c, &panicked, GuestExit::Status(0)).unwrap_err().contains("oops"));
        let extra = halt_log(4, 12) + "cpu4 at mainbus0: apid 4\n";
        assert!(check(&c, &extra, GuestExit::Status(0)).is_err());
    }

    #[test]
    fn needed_lines_and_names() {
        let c = Case { append: "usertest halt", need: &["usertest: ok"], ..case(2, Expect::Halt) };
        assert_eq!(c.name(), "amd64-q35-smp2-usertest");
        assert!(check(&c, &halt_log(2, 2), GuestExit::Status(0)).unwrap_err().contains("usertest: ok"));
        let log = halt_log(2, 2) + "usertest: ok\n";
        assert_eq!(check(&c, &log, GuestExit::Status(0)), Ok(()));
    }

    #[test]
    fn panic_case_needs_status_and_message() {
        let c = Case { append: "panic", ..case(4, Expect::Panic("boot: panic requested")) };
        let log = "panic: boot: panic requested (boot word panic)\ncpu0: other cpus stopped; powering off with failure status\n";
        assert_eq!(check(&c, log, GuestExit::Status(1)), Ok(()));
        assert!(check(&c, log, GuestExit::Status(0)).is_err());
        assert!(check(&c, "panic: something else\nother cpus stopped\n", GuestExit::Status(1)).is_err());
    }

    #[test]
    fn fault_case_needs_dump() {
        let c = case(2, Expect::Fault);
        let regs = "rax 0000000000000001 rbx ffffffff80001000\n".repeat(4);
        let log = format!(
            "boot: faulting on purpose (boot word fault)\n{regs}panic: kernel page fault at 0xffff800000000000\n"
        );
        assert_eq!(check(&c, &log, GuestExit::Status(1)), Ok(()));
        let no_dump = "boot: faulting on purpose\npanic: kernel page fault at 0x1000\n";
        assert!(check(&c, no_dump, GuestExit::Status(1)).unwrap_err().contains("register dump"));
        let vague = format!("boot: faulting on purpose\n{regs}panic: oops\n");
        assert!(check(&c, &vague, GuestExit::Status(1)).unwrap_err().contains("does not name"));
    }

    #[test]
    fn halt_with_needs_the_text() {
        let c = Case { append: "usertest halt", ..case(4, Expect::HaltWith("usertest: ok")) };
        assert!(c.name().ends_with("-usertest"));
        let good = halt_log(4, 12) + "usertest: ok: handler, sigreturn\n";
        assert_eq!(check(&c, &good, GuestExit::Status(0)), Ok(()));
        assert!(check(&c, &halt_log(4, 12), GuestExit::Status(0)).unwrap_err().contains("usertest: ok"));
        assert!(check(&c, &good, GuestExit::Status(1)).is_err());
    }

    fn regress_log(n: u32, lines: &str, summary: &str) -> String {
        let mut s = halt_log(n, n * (n - 1)).replace("boot: halt requested, all cpus up; powering off\n", "");
        s += "init: /bin/regress started as pid 1\n";
        s += lines;
        s += summary;
        s += "syncing disks... done\npowering off\n";
        s
    }

    fn regress_case(smp: u32) -> Case {
        Case { smp, append: "", init: Some(REGRESS), expect: Expect::Regress, ..Case::default() }
    }

    const NAMES: [&str; 3] = ["fork", "wait", "baseline"];

    #[test]
    fn regress_good_run_passes() {
        let c = regress_case(4);
        assert_eq!(c.name(), "amd64-q35-smp4-regress");
        assert_eq!(c.cmdline(), "init=/bin/regress");
        let ok = "ok fork: 3 children\nok wait: fine\nok baseline: back\n";
        let log = regress_log(4, ok, "regress: 3 passed, 0 failed\n");
        assert_eq!(check_regress(&c, &log, GuestExit::Status(0), &NAMES), Ok(()));
    }

    #[test]
    fn regress_failures_are_caught() {
        let c = regress_case(4);
        let chk = |log: &str, exit| check_regress(&c, log, exit, &NAMES);
        let ok = "ok fork: 3 children\nok wait: fine\nok baseline: back\n";
        let good = regress_log(4, ok, "regress: 3 passed, 0 failed\n");
        // No summary (the suite hung or died).
        let cut = regress_log(4, ok, "");
        assert!(chk(&cut, GuestExit::Timeout).unwrap_err().contains("no \"regress: N passed"));
        // A failure, reported with its line.
        let bad = "ok fork: 3 children\nFAIL wait: ECHILD\nok baseline: back\n";
        let e = chk(&regress_log(4, bad, "regress: 2 passed, 1 failed\n"), GuestExit::Status(0)).unwrap_err();
        assert!(e.contains("1 failed") && e.contains("FAIL wait: ECHILD"), "{e}");
        // A FAIL line even if the summary claims otherwise.
        let e = chk(&regress_log(4, bad, "regress: 3 passed, 0 failed\n"), GuestExit::Status(0)).unwrap_err();
        assert!(e.contains("FAIL wait"), "{e}");
        // A kernel panic mid-run.
        let panicked = regress_log(4, "ok fork: 3 children\npanic: pmap_purge: still loaded\n", "");
        let e = chk(&panicked, GuestExit::Status(1)).unwrap_err();
        assert!(e.contains("kernel panicked") && e.contains("ok fork"), "{e}");
        // Fewer tests than the table has, or one missing by name.
        let short = regress_log(4, "ok fork: x\nok baseline: y\n", "regress: 2 passed, 0 failed\n");
        assert!(chk(&short, GuestExit::Status(0)).unwrap_err().contains("it has 3 tests"));
        let renamed =
            regress_log(4, "ok fork: x\nok other: z\nok baseline: y\n", "regress: 3 passed, 0 failed\n");
        assert!(chk(&renamed, GuestExit::Status(0)).unwrap_err().contains("wait"));
        // Passing but no clean power-off, or two summaries.
        assert!(chk(&good, GuestExit::Timeout).unwrap_err().contains("power-off"));
        assert!(chk(&good, GuestExit::Status(1)).is_err());
        let twice = good.clone() + "regress: 3 passed, 0 failed\n";
        assert!(chk(&twice, GuestExit::Status(0)).unwrap_err().contains("2 summary lines"));
        // The wrong number of CPUs.
        assert!(check_regress(&regress_case(1), &good, GuestExit::Status(0), &NAMES).is_err());
    }

    #[test]
    fn regress_summary_parse() {
        assert_eq!(parse_regress_summary("regress: 76 passed, 1 failed"), Some((76, 1)));
        assert_eq!(parse_regress_summary("regress: 76 passed, 1 failed!"), None);
        assert_eq!(parse_regress_summary("xregress: 1 passed, 0 failed"), None);
        assert_eq!(parse_regress_summary("regress: pid 1, 77 tests"), None);
    }

    #[test]
    fn regress_table_is_read_from_the_program() {
        let t = regress_tests();
        assert!(t.len() > 50, "only {} regress tests found: {t:?}", t.len());
        assert_eq!(t.last(), Some(&"baseline"));
        for name in ["exit-status", "orphan", "efault-read", "fork-storm", "thread-main-exit", "enosys"] {
            assert!(t.contains(&name), "{name} missing from {t:?}");
        }
        let mut u = t.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), t.len(), "duplicate regress test names");
        let src = "pub const TESTS: &[Test] = &[\n    t(\"a\", f),\n    // t(\"comment\")\n    Test { name: \"b\", f: g, secs: 9 },\n];\nt(\"after\", h),\npub const BASELINE: &str = \"baseline\";\n";
        assert_eq!(parse_regress_table(src), ["a", "b", "baseline"]);
    }

    #[test]
    fn session_and_script_cases() {
        let m = matrix();
        for arch in Arch::ALL {
            for k in ["session", "jobctl", "script"] {
                let c = m.iter().find(|c| c.arch == arch && c.name().ends_with(k)).unwrap();
                assert!(c.uses_ramdisk() && !c.initrd && c.init.is_none(), "{}", c.name());
            }
        }
        let s = Case { smp: 4, append: "", expect: Expect::Session(SessionKind::Shell), ..Case::default() };
        assert_eq!(s.name(), "amd64-q35-smp4-session");
        assert_eq!(s.cmdline(), "");
        assert_eq!(check(&s, "# halt\r\n", GuestExit::Status(0)), Ok(()));
        assert!(check(&s, "", GuestExit::Status(2)).unwrap_err().contains("status 2"));
        let e = check(&s, "panic: oops\r\n", GuestExit::Status(1)).unwrap_err();
        assert!(e.contains("kernel panicked: panic: oops"), "{e}");

        let c = m.iter().find(|c| c.arch == Arch::Arm64 && c.expect == Expect::Script(3)).unwrap();
        assert_eq!(c.cmdline(), "script=/etc/script");
        let good: String = SCRIPT_LINES.iter().map(|l| format!("{l}\r\n")).collect();
        assert_eq!(check(c, &good, GuestExit::Status(3)), Ok(()));
        assert!(check(c, &good, GuestExit::Status(0)).unwrap_err().contains("status 3, got 0"));
        assert!(check(c, &good, GuestExit::Timeout).unwrap_err().contains("in time"));
        let swapped = good.replace("script: start\r\n", "") + "script: start\r\n";
        assert!(check(c, &swapped, GuestExit::Status(3)).unwrap_err().contains("in order"));
        // A script's status 1 is a status; with a panic line it is the panic.
        assert_eq!(script_status("false\n", GuestExit::Status(1)), Ok(1));
        assert!(script_status("panic: x\n", GuestExit::Status(1)).is_err());
        assert!(script_status("", GuestExit::Qemu(1)).unwrap_err().contains("QEMU exited 1"));
    }

    /// The fixtures exist; the script ends with `exit 3` (the case's
    /// status) and the other is an executable `#!/bin/sh` script.
    #[test]
    fn fixtures() {
        use std::os::unix::fs::PermissionsExt;
        for (f, _) in FIXTURES {
            assert!(fixture_dir().join(f).is_file(), "{f}");
        }
        let src = std::fs::read_to_string(fixture_dir().join("script.sh")).unwrap();
        assert_eq!(src.lines().last(), Some("exit 3"));
        let sb = fixture_dir().join("shebang.sh");
        assert!(std::fs::read_to_string(&sb).unwrap().starts_with("#!/bin/sh\n"));
        assert_eq!(std::fs::metadata(&sb).unwrap().permissions().mode() & 0o111, 0o111);
    }

    #[test]
    fn matrix_covers_both_arches_and_smp() {
        let m = matrix();
        for arch in Arch::ALL {
            for &mach in arch.machines() {
                assert!(m.iter().any(|c| c.arch == arch && c.machine == mach && c.expect == Expect::Halt));
            }
            for smp in [1, 4] {
                assert!(m.iter().any(|c| c.arch == arch && c.smp == smp));
            }
            assert!(m.iter().any(|c| c.arch == arch && c.expect == Expect::Fault));
        }
        assert!(m.iter().any(|c| c.initrd && c.arch == Arch::Arm64));
        assert!(m.iter().any(|c| c.initrd && c.arch == Arch::Amd64));
        for arch in Arch::ALL {
            for smp in [1, 4] {
                assert!(m.iter().any(|c| c.arch == arch && c.smp == smp && c.expect == Expect::Regress));
            }
        }
        assert!(m.iter().all(|c| !(c.initrd && c.init.is_some())), "a case cannot have both initrds");
        let names: std::collections::HashSet<_> = m.iter().map(Case::name).collect();
        assert_eq!(names.len(), m.len(), "case names must be unique");
    }
}
