//! Running QEMU: captured with a timeout (boot cases, `run --timeout` and
//! `run --script`), driven as a console session (session cases), or on
//! this terminal (`run`). The first two go through
//! [`oxbsd_tests::console::Console`], which owns QEMU's stdio pipes.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use oxbsd_tests::console::Console;
use oxbsd_tests::session::{self, Report, SessionKind};

pub struct Captured {
    /// Everything the guest wrote to its serial console, then QEMU's stderr.
    pub log: String,
    /// QEMU's exit code (128 + signal if a signal ended it); None when it
    /// was killed after the timeout (or after a failed session step).
    pub code: Option<i32>,
    pub elapsed: Duration,
}

/// Run `prog args` with no input, collecting its output, killing it after
/// `timeout`. With `echo`, the guest's output is also copied to stdout as it
/// arrives.
pub fn run_captured(prog: &str, args: &[String], timeout: Duration, echo: bool) -> Result<Captured, String> {
    let mut con = Console::spawn(Command::new(prog).args(args), false, echo)?;
    let code = con.wait_exit(timeout)?;
    Ok(Captured { log: con.transcript(), code, elapsed: con.elapsed() })
}

/// Boot `prog args` with its console on pipes and drive session `kind`
/// on it. After the last step (the shell powering the machine off) QEMU
/// gets `timeout` to exit; after a failed step it is stopped at once.
pub fn run_session(
    prog: &str,
    args: &[String],
    kind: SessionKind,
    timeout: Duration,
    echo: bool,
) -> Result<(Captured, Report), String> {
    let mut con = Console::spawn(Command::new(prog).args(args), true, echo)?;
    let report = session::drive(kind, &mut con);
    let wait = if report.failure.is_some() { Duration::ZERO } else { timeout };
    let code = con.wait_exit(wait)?;
    Ok((Captured { log: con.transcript(), code, elapsed: con.elapsed() }, report))
}

/// Run `prog args` on this terminal and return its exit code.
pub fn run_interactive(prog: &str, args: &[String]) -> Result<i32, String> {
    let st = Command::new(prog).args(args).status().map_err(|e| format!("cannot start {prog}: {e}"))?;
    Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
}

/// Run a command, inheriting stdio; Err with a message if it fails.
pub fn run_step(what: &str, cmd: &mut Command, cwd: &Path) -> Result<(), String> {
    let st = cmd.current_dir(cwd).status().map_err(|e| format!("{what}: cannot start: {e}"))?;
    if st.success() { Ok(()) } else { Err(format!("{what} failed ({st})")) }
}
