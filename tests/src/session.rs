//! Console sessions: the matrix cases that use oxbsd as a person at the
//! serial console would. Each types a command line, waits for its output
//! and the next prompt, and checks what came back; control characters go
//! in as typed (^C is byte 0x03). A session ends by powering the machine
//! off from the shell, and the tools then check QEMU's exit status.
//!
//! What the guest side agreed to: the interactive shell's prompt is "# "
//! (on the console); the tty echoes what is typed (a control character
//! as `^X`, then CR NL after a signal character) and writes NL as CR NL;
//! Enter sends CR, which the tty reads as NL.

use std::time::{Duration, Instant};

use crate::console::{Console, find, lossy};

/// The interactive shell's prompt.
pub const PROMPT: &str = "# ";

/// From power-on to the first prompt (TCG on a busy host, -smp 4).
const BOOT: Duration = Duration::from_secs(60);
/// For the tty's echo of what was typed.
const ECHO: Duration = Duration::from_secs(5);
/// For a short command's output and the next prompt (TCG fork+exec takes
/// tens of milliseconds; the margin is for a loaded host).
const STEP: Duration = Duration::from_secs(20);
/// How long a command that should still be running is watched first.
const RUNNING: Duration = Duration::from_millis(1500);
/// A prompt that should come back at once after a signal character.
const PROMPTLY: Duration = Duration::from_secs(5);
/// How many times, and how far apart, `ps` is looked at before a process
/// state counts as wrong.
const PS_LOOKS: u32 = 10;
const PS_AGAIN: Duration = Duration::from_millis(200);
/// From `halt` to QEMU's exit.
const POWEROFF: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// Pipelines, redirection, exit statuses, ^C and ^\, `time`, process
    /// states in `ps` (stopped, zombie), init adopting orphans, `halt`.
    Shell,
    /// ^Z stops the foreground job and `fg` brings it back; `poweroff`.
    JobControl,
}

impl SessionKind {
    pub fn name(self) -> &'static str {
        match self {
            SessionKind::Shell => "session",
            SessionKind::JobControl => "jobctl",
        }
    }
}

/// A step that failed: what was being done, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub step: String,
    pub msg: String,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step, self.msg)
    }
}

/// How a session went: each step with the time it took, in order, and the
/// failure that ended it early, if one did.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<(String, Duration)>,
    pub failure: Option<StepError>,
}

/// A shell at the other end of a console.
pub struct Shell<'a> {
    con: &'a mut Console,
    report: Report,
    /// The step under way and when it began.
    step: String,
    t0: Instant,
}

type Step<T> = Result<T, String>;

impl<'a> Shell<'a> {
    pub fn new(con: &'a mut Console) -> Shell<'a> {
        Shell { con, report: Report::default(), step: String::new(), t0: Instant::now() }
    }

    /// Start a step called `name` (ending the one before).
    pub fn step(&mut self, name: &str) {
        self.end_step();
        self.step = name.to_string();
        self.t0 = Instant::now();
    }

    fn end_step(&mut self) {
        if !self.step.is_empty() {
            self.report.steps.push((std::mem::take(&mut self.step), self.t0.elapsed()));
        }
    }

    /// Run `body`, recording its steps; a failure is pinned on the step
    /// that was under way.
    pub fn run(mut self, body: impl FnOnce(&mut Shell) -> Step<()>) -> Report {
        if let Err(msg) = body(&mut self) {
            let step =
                if self.step.is_empty() { "(before the first step)".into() } else { self.step.clone() };
            self.end_step();
            self.report.failure = Some(StepError { step, msg });
        } else {
            self.end_step();
        }
        self.report
    }

    /// Wait for the prompt at the start of a line after the mark; return
    /// the output before it, carriage returns dropped. The search starts
    /// one byte early so that a prompt right after an echoed newline (a
    /// command with no output) is found.
    pub fn prompt(&mut self, timeout: Duration) -> Step<String> {
        let pat = format!("\n{PROMPT}");
        let r = self.con.wait_for(timeout, |buf, mark| {
            let from = mark.saturating_sub(1);
            find(&buf[from..], pat.as_bytes()).map(|i| {
                let nl = from + i;
                let out = if nl >= mark { lossy(&buf[mark..=nl]) } else { String::new() };
                (out.replace('\r', ""), nl + pat.len())
            })
        });
        r.map_err(|m| self.con.missed(m, &format!("prompt {PROMPT:?}"), timeout))
    }

    /// Type `line` and Enter, and wait for the tty's echo of it.
    pub fn type_line(&mut self, line: &str) -> Step<()> {
        self.con.send(format!("{line}\r").as_bytes())?;
        self.con
            .expect(&format!("{line}\r\n"), ECHO)
            .map(drop)
            .map_err(|e| format!("echo of the typed line: {e}"))
    }

    /// Type a control character (`'C'` for ^C) and wait for its echo.
    pub fn control(&mut self, c: char) -> Step<()> {
        self.con.send(&[c as u8 & 0x1f])?;
        self.con.expect(&format!("^{c}"), ECHO).map(drop).map_err(|e| format!("echo of ^{c}: {e}"))
    }

    /// Type a command line; return its output once the prompt is back,
    /// without job-control notices (`[1] + Done ...`), which a shell may
    /// print before any prompt.
    pub fn cmd(&mut self, line: &str) -> Step<String> {
        self.type_line(line)?;
        self.prompt(STEP).map(|o| without_job_notices(&o))
    }

    /// Run a command as its own step and check its whole output.
    pub fn check(&mut self, line: &str, want: &str) -> Step<()> {
        self.step(&format!("`{line}`"));
        let got = self.cmd(line)?;
        if got == want { Ok(()) } else { Err(format!("expected output {want:?}, got {got:?}")) }
    }

    /// The command typed last is still running: no prompt for a while.
    pub fn still_running(&mut self, what: &str) -> Step<()> {
        self.con
            .quiet(&format!("\n{PROMPT}"), RUNNING)
            .map_err(|e| format!("{what} should still be running: {e}"))
    }

    /// `$?` as the shell reports it.
    pub fn status(&mut self) -> Step<String> {
        self.cmd("echo $?").map(|s| s.trim().to_string())
    }

    /// Run `ps` and parse it.
    pub fn ps(&mut self) -> Step<Vec<PsRow>> {
        let out = self.cmd(PS)?;
        parse_ps(&out).map_err(|e| format!("{e}; `{PS}` printed:\n{out}"))
    }

    /// Run `ps` until `want` accepts what it shows, looking again a few
    /// times over about two seconds (a process between fork and exec, a
    /// stop or a reap not done yet), as a person would; then `want`'s
    /// last complaint is the error.
    pub fn ps_until<T>(&mut self, mut want: impl FnMut(&[PsRow]) -> Step<T>) -> Step<T> {
        let mut looks = 1;
        loop {
            match want(&self.ps()?) {
                Ok(v) => return Ok(v),
                Err(e) if looks >= PS_LOOKS => return Err(format!("{e} (ps looked at {looks} times)")),
                Err(_) => {
                    looks += 1;
                    self.pause(PS_AGAIN);
                }
            }
        }
    }

    /// Type a command that powers the machine off and wait for QEMU to go.
    pub fn power_off(&mut self, line: &str) -> Step<()> {
        self.step(&format!("`{line}` powers off"));
        self.type_line(line)?;
        self.con.expect_closed(POWEROFF)
    }

    /// Let guest time pass, doing nothing (a person waiting).
    pub fn pause(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// The ps invocation the sessions use. oxbsd's ps lists every user
/// process with PID, PPID, STAT and COMMAND (the program's name).
pub const PS: &str = "ps";

/// Drive the session `kind` on `con` from power-on to power-off.
pub fn drive(kind: SessionKind, con: &mut Console) -> Report {
    let sh = Shell::new(con);
    match kind {
        SessionKind::Shell => sh.run(shell_session),
        SessionKind::JobControl => sh.run(jobctl_session),
    }
}

fn boot(sh: &mut Shell) -> Step<()> {
    sh.step("boot to the first prompt");
    sh.prompt(BOOT).map(drop)
}

fn shell_session(sh: &mut Shell) -> Step<()> {
    boot(sh)?;
    sh.check("echo a b c | cat | cat", "a b c\n")?;

    // Redirection on the writable /tmp, and a write the read-only
    // ramdisk refuses.
    sh.check("echo hi > /tmp/f", "")?;
    sh.check("cat < /tmp/f", "hi\n")?;
    sh.check("echo more >> /tmp/f", "")?;
    sh.check("cat /tmp/f", "hi\nmore\n")?;
    sh.step("`echo x > /bin/x` fails with EROFS");
    let out = sh.cmd("echo x > /bin/x")?;
    if !out.contains("Read-only file system") {
        return Err(format!("expected a \"Read-only file system\" error, got {out:?}"));
    }
    if sh.status()? == "0" {
        return Err("the failed redirection left $? at 0".into());
    }

    sh.check("false; echo $?", "1\n")?;
    sh.check("true && echo yes", "yes\n")?;
    sh.check("false || echo no", "no\n")?;

    interrupt(sh, 'C', 130)?;
    interrupt(sh, '\\', 131)?;

    sh.step("`time sleep 1`");
    let out = sh.cmd("time sleep 1")?;
    let (real, _, _) = out
        .lines()
        .find_map(parse_time_line)
        .ok_or_else(|| format!("no \"N.NN real N.NN user N.NN sys\" line in {out:?}"))?;
    if !(1.0..30.0).contains(&real) {
        return Err(format!("`time sleep 1` says {real:.2} real"));
    }

    stopped_child(sh)?;
    zombie_child(sh)?;
    orphans(sh)?;
    sh.power_off("halt")
}

/// A foreground `sleep 30` ended by a signal character: the prompt is
/// back at once and `$?` is 128 + the signal.
fn interrupt(sh: &mut Shell, c: char, status: u32) -> Step<()> {
    sh.step(&format!("^{c} stops a foreground `sleep 30`"));
    sh.type_line("sleep 30")?;
    sh.still_running("sleep 30")?;
    sh.control(c)?;
    sh.prompt(PROMPTLY).map_err(|e| format!("after ^{c}: {e}"))?;
    sh.step(&format!("`echo $?` after ^{c}"));
    let s = sh.status()?;
    if s == status.to_string() { Ok(()) } else { Err(format!("expected {status}, got {s:?}")) }
}

/// `kill -STOP` on a background child shows as T in ps.
fn stopped_child(sh: &mut Shell) -> Step<()> {
    sh.step("`sleep 30 &`");
    sh.cmd("sleep 30 &")?;
    let pid = last_bg_pid(sh)?;
    sh.check("kill -STOP $!", "")?;
    sh.step("`ps` shows the stopped sleep as T");
    sh.ps_until(|ps| match ps.iter().find(|r| r.pid == pid) {
        Some(r) if r.stat.contains('T') => Ok(()),
        Some(r) => Err(format!("process {pid} has state {:?}, expected T", r.stat)),
        None => Err(format!("no process {pid} in ps")),
    })?;
    sh.check("kill -CONT $!; kill $!; wait", "")?;
    sh.step("`ps` after killing it");
    sh.ps_until(|ps| match ps.iter().find(|r| r.pid == pid) {
        Some(r) => Err(format!("process {pid} is still there after kill and wait: {r:?}")),
        None => Ok(()),
    })
}

/// A process whose parent never waits for it stays a zombie (Z, the
/// parent's pid as PPID) until that parent exits; then init reaps it.
fn zombie_child(sh: &mut Shell) -> Step<()> {
    sh.step("`sh -c 'sleep 0 & exec sleep 3' &`");
    sh.cmd("sh -c 'sleep 0 & exec sleep 3' &")?;
    let parent = last_bg_pid(sh)?;
    sh.step("`ps` shows the child of `sleep 3` as Z");
    sh.ps_until(|ps| {
        let children: Vec<&PsRow> = ps.iter().filter(|r| r.ppid == Some(parent)).collect();
        match children[..] {
            [r] if r.stat.contains('Z') => Ok(()),
            [r] => Err(format!("the child of {parent} has state {:?}, expected Z: {r:?}", r.stat)),
            _ => Err(format!("expected one child of {parent}, found {children:?}")),
        }
    })?;
    sh.check("wait", "")?;
    sh.step("`ps` has no zombie once `sleep 3` is gone");
    sh.ps_until(no_zombies)
}

/// A background child of a shell that exits is adopted by init (PPID 1)
/// and reaped by it when it ends.
fn orphans(sh: &mut Shell) -> Step<()> {
    sh.step("`echo $$`");
    let me = sh.cmd("echo $$")?;
    let me: u32 = me.trim().parse().map_err(|_| format!("`echo $$` printed {me:?}, not a pid"))?;
    sh.check("sh -c 'sleep 2 &'", "")?;
    sh.step("`ps` shows the orphaned sleep adopted by init");
    let pid = sh.ps_until(|ps| {
        let adopted: Vec<&PsRow> = ps.iter().filter(|r| r.ppid == Some(1) && r.pid != me).collect();
        match adopted[..] {
            [r] if r.command == "sleep" => Ok(r.pid),
            _ => Err(format!(
                "expected one sleep with PPID 1 besides this shell (pid {me}), found {adopted:?}"
            )),
        }
    })?;
    sh.check("sleep 3", "")?;
    sh.step("`ps` after the orphan's end: reaped by init");
    sh.ps_until(|ps| match ps.iter().find(|r| r.pid == pid) {
        Some(r) => Err(format!("the orphan {pid} is still there: {r:?}")),
        None => no_zombies(ps),
    })
}

fn no_zombies(ps: &[PsRow]) -> Step<()> {
    let z: Vec<&PsRow> = ps.iter().filter(|r| r.stat.contains('Z')).collect();
    if z.is_empty() { Ok(()) } else { Err(format!("zombies left: {z:?}")) }
}

/// `$!` as a number.
fn last_bg_pid(sh: &mut Shell) -> Step<u32> {
    let s = sh.cmd("echo $!")?;
    s.trim().parse().map_err(|_| format!("`echo $!` printed {s:?}, not a pid"))
}

fn jobctl_session(sh: &mut Shell) -> Step<()> {
    boot(sh)?;
    const NO_JOBS: &str = "(job control: ^Z must stop the foreground job and `fg` resume it)";
    sh.step("^Z stops a foreground `sleep 30`");
    sh.type_line("sleep 30")?;
    sh.still_running("sleep 30")?;
    sh.control('Z')?;
    sh.prompt(PROMPTLY).map_err(|e| format!("after ^Z: {e} {NO_JOBS}"))?;
    sh.step("`ps` shows the suspended sleep as T");
    sh.ps_until(|ps| {
        let sleeps: Vec<&PsRow> = ps.iter().filter(|r| r.command == "sleep").collect();
        match sleeps[..] {
            [r] if r.stat.contains('T') => Ok(()),
            _ => Err(format!("expected one stopped sleep, found {sleeps:?} {NO_JOBS}")),
        }
    })?;
    sh.step("`fg` resumes it in the foreground");
    sh.type_line("fg")?;
    sh.still_running("the resumed sleep 30").map_err(|e| format!("{e} {NO_JOBS}"))?;
    interrupt_resumed(sh)?;
    sh.power_off("poweroff")
}

/// The job `fg` resumed owns the terminal: ^C ends it.
fn interrupt_resumed(sh: &mut Shell) -> Step<()> {
    sh.step("^C stops the resumed job");
    sh.control('C')?;
    sh.prompt(PROMPTLY).map_err(|e| format!("after ^C: {e}"))?;
    let s = sh.status()?;
    if s == "130" { Ok(()) } else { Err(format!("`echo $?` after ^C: expected 130, got {s:?}")) }
}

/// Lines a shell prints about background jobs changing state: `[1] 42`,
/// `[1] + Done  sleep 1`.
fn is_job_notice(l: &str) -> bool {
    l.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn without_job_notices(out: &str) -> String {
    out.split_inclusive('\n').filter(|l| !is_job_notice(l)).collect()
}

/// One process in `ps` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsRow {
    pub pid: u32,
    /// None when ps has no PPID column.
    pub ppid: Option<u32>,
    pub stat: String,
    /// The command and its arguments (the last column).
    pub command: String,
}

/// Parse ps output by its header: PID, STAT (or S/STATE) and COMMAND (or
/// CMD/COMM/ARGS, last) are needed, PPID is read when present; the
/// columns between are single words.
pub fn parse_ps(out: &str) -> Result<Vec<PsRow>, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("ps printed nothing")?.split_whitespace().collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(h));
    let pid = col(&["PID"]).ok_or("ps header has no PID column")?;
    let stat = col(&["STAT", "S", "STATE"]).ok_or("ps header has no STAT column")?;
    let cmd = col(&["COMMAND", "CMD", "COMM", "ARGS"]).ok_or("ps header has no COMMAND column")?;
    if cmd != header.len() - 1 {
        return Err("the COMMAND column of ps is not the last".into());
    }
    let ppid = col(&["PPID"]);
    let num =
        |w: &str, l: &str| w.parse::<u32>().map_err(|_| format!("ps line {l:?}: {w:?} is not a number"));
    let mut rows = Vec::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < header.len() {
            return Err(format!("ps line {l:?} has fewer fields than the header"));
        }
        rows.push(PsRow {
            pid: num(w[pid], l)?,
            ppid: ppid.map(|i| num(w[i], l)).transpose()?,
            stat: w[stat].to_string(),
            command: w[cmd..].join(" "),
        });
    }
    Ok(rows)
}

/// `time`'s report, `^\s*\d+\.\d\d real\s+\d+\.\d\d user\s+\d+\.\d\d sys$`:
/// (real, user, sys) seconds.
pub fn parse_time_line(l: &str) -> Option<(f64, f64, f64)> {
    fn secs(s: &str) -> Option<(f64, &str)> {
        let int = s.bytes().take_while(u8::is_ascii_digit).count();
        let frac = s.get(int + 1..int + 3)?;
        let ok = int > 0 && s.as_bytes()[int] == b'.' && frac.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| (s[..int + 3].parse().ok(), &s[int + 3..])).and_then(|(v, r)| Some((v?, r)))
    }
    fn field<'a>(s: &'a str, name: &str) -> Option<(f64, &'a str)> {
        let (v, rest) = secs(s)?;
        Some((v, rest.strip_prefix(' ')?.strip_prefix(name)?))
    }
    let (real, r) = field(l.trim_start(), "real")?;
    let r = r.strip_prefix(char::is_whitespace)?.trim_start();
    let (user, r) = field(r, "user")?;
    let r = r.strip_prefix(char::is_whitespace)?.trim_start();
    let (sys, r) = field(r, "sys")?;
    r.is_empty().then_some((real, user, sys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn time_lines() {
        assert_eq!(
            parse_time_line("        1.02 real         0.00 user         0.01 sys"),
            Some((1.02, 0.0, 0.01))
        );
        assert_eq!(parse_time_line("12.50 real 3.25 user 0.75 sys"), Some((12.5, 3.25, 0.75)));
        for bad in [
            "1.0 real 0.00 user 0.00 sys",
            "1.00  real 0.00 user 0.00 sys",
            "1.00 real 0.00 user 0.00 sys ",
            "1.00 real0.00 user 0.00 sys",
            ".50 real 0.00 user 0.00 sys",
            "1.00 real 0.00 user",
            "real 1.00",
        ] {
            assert_eq!(parse_time_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ps_output() {
        let out = "  UID   PID  PPID CPU PRI  NI   VSZ   RSS WCHAN   STAT   TT       TIME COMMAND\n\
                   0     1     0   0  10   0   100    50 wait    Is     co    0:00.01 /sbin/init\n\
                   0     7     1   0  10   0   100    50 pause   Ss     co    0:00.02 sh\n\
                   0     9     7   0  10   0   100    50 -       T      co    0:00.00 sleep 30\n\
                   0    11     9   0  10   0     0     0 -       Z      co    0:00.00 (sleep)\n";
        let rows = parse_ps(out).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[2], PsRow { pid: 9, ppid: Some(7), stat: "T".into(), command: "sleep 30".into() });
        assert_eq!(rows[3].stat, "Z");
        let plain = parse_ps("  PID TT  STAT      TIME COMMAND\n    1 co  Is     0:00.01 init\n").unwrap();
        assert_eq!(plain[0].ppid, None);
        assert!(parse_ps("PID COMMAND\n1 init\n").unwrap_err().contains("STAT"));
        assert!(parse_ps("PID STAT TT COMMAND\n1 S init\n").unwrap_err().contains("fewer"));
        assert!(parse_ps("PID STAT COMMAND\nx S init\n").unwrap_err().contains("not a number"));
    }

    #[test]
    fn job_notices_are_dropped() {
        let out = "[1] 42\nhi\n[1] + Done                 sleep 1\n[x] stays\n";
        assert_eq!(without_job_notices(out), "hi\n[x] stays\n");
    }

    /// A fake shell on the other end of a pipe pair, as the tty and sh
    /// agreed to behave: echo with CR NL, ONLCR output, "# " prompts, ^C
    /// echoed as "^C" CR NL. It knows a few commands.
    fn fake_shell() -> Console {
        let (out_r, mut out_w) = std::io::pipe().unwrap();
        let (in_r, in_w) = std::io::pipe().unwrap();
        std::thread::spawn(move || {
            let put = |w: &mut std::io::PipeWriter, s: &str| w.write_all(s.replace('\n', "\r\n").as_bytes());
            put(&mut out_w, "boot: 4 cpus\ninit: starting\n# ").unwrap();
            let mut line = Vec::new();
            for b in std::io::BufReader::new(in_r).bytes() {
                match b.unwrap() {
                    // The tty echoes ^C at once and the shell prompts again.
                    0x03 => {
                        line.clear();
                        let _ = out_w.write_all(b"^C\r\n# ");
                    }
                    b'\r' => {
                        let l = String::from_utf8_lossy(&std::mem::take(&mut line)).into_owned();
                        let _ = out_w.write_all(format!("{l}\r\n").as_bytes());
                        let reply = match l.as_str() {
                            "echo a b c | cat | cat" => "a b c\n",
                            "sleep 30 &" => "[1] 9\n",
                            "echo $!" => "9\n",
                            PS => {
                                "  PID  PPID STAT       TIME COMMAND\n    1     0 S       0:00.01 init\n    9     7 T       0:00.00 sleep\n"
                            }
                            "sleep 30" => continue,
                            "halt" => return,
                            _ => "",
                        };
                        let _ = put(&mut out_w, &format!("{reply}# "));
                    }
                    c => line.push(c),
                }
            }
        });
        Console::new(in_w, out_r, false)
    }

    #[test]
    fn shell_steps_against_a_fake_shell() {
        let mut con = fake_shell();
        let report = Shell::new(&mut con).run(|sh| {
            boot(sh)?;
            sh.check("echo a b c | cat | cat", "a b c\n")?;
            sh.check("true", "")?;
            sh.step("background");
            sh.cmd("sleep 30 &")?;
            assert_eq!(last_bg_pid(sh)?, 9);
            let ps = sh.ps()?;
            assert_eq!(ps[1].stat, "T");
            sh.type_line("sleep 30")?;
            sh.still_running("sleep 30")?;
            sh.control('C')?;
            sh.prompt(PROMPTLY)?;
            sh.power_off("halt")
        });
        assert_eq!(report.failure, None);
        let names: Vec<&str> = report.steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "boot to the first prompt",
                "`echo a b c | cat | cat`",
                "`true`",
                "background",
                "`halt` powers off"
            ]
        );
    }

    #[test]
    fn ps_until_looks_again_then_gives_up() {
        let mut con = fake_shell();
        let report = Shell::new(&mut con).run(|sh| {
            boot(sh)?;
            sh.step("wait for a zombie");
            let mut seen = 0;
            sh.ps_until(|ps| {
                seen += 1;
                if ps.iter().any(|r| r.stat == "Z") { Ok(()) } else { Err(format!("no Z yet ({seen})")) }
            })
        });
        let f = report.failure.unwrap();
        assert_eq!(f.msg, format!("no Z yet ({PS_LOOKS}) (ps looked at {PS_LOOKS} times)"));
    }

    #[test]
    fn a_failing_step_is_named() {
        let mut con = fake_shell();
        let report = Shell::new(&mut con).run(|sh| {
            boot(sh)?;
            sh.check("echo a b c | cat | cat", "a b\n")
        });
        let f = report.failure.unwrap();
        assert_eq!(f.step, "`echo a b c | cat | cat`");
        assert!(f.msg.contains("expected output \"a b\\n\", got \"a b c\\n\""), "{}", f.msg);
        assert_eq!(report.steps.len(), 2);

        let mut con = fake_shell();
        let report = Shell::new(&mut con).run(|sh| {
            boot(sh)?;
            sh.step("a command that never prompts");
            sh.type_line("halt")?;
            sh.prompt(Duration::from_millis(200)).map(drop)
        });
        let f = report.failure.unwrap();
        assert!(f.to_string().starts_with("step a command that never prompts: "), "{f}");
        assert!(f.msg.contains("prompt"), "{}", f.msg);
    }
}
