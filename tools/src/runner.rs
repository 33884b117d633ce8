//! Running QEMU: captured with a timeout (tests), or on this terminal.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Captured {
    /// Everything the guest wrote to its serial console, then QEMU's stderr.
    pub log: String,
    /// QEMU's exit code (128 + signal if a signal ended it); None when it
    /// was killed after the timeout.
    pub code: Option<i32>,
    pub elapsed: Duration,
}

/// Run `prog args` with no input, collecting its output, killing it after
/// `timeout`. With `echo`, the guest's output is also copied to stdout as it
/// arrives.
pub fn run_captured(prog: &str, args: &[String], timeout: Duration, echo: bool) -> Result<Captured, String> {
    let t0 = Instant::now();
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let sink = Arc::clone(&out);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            if echo {
                let _ = std::io::stdout().write_all(&buf[..n]);
                let _ = std::io::stdout().flush();
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let code = loop {
        match child.try_wait().map_err(|e| format!("waiting for {prog}: {e}"))? {
            // Killed by a signal (QEMU aborting on an assertion, say):
            // report it the shell's way, 128 + signal.
            Some(st) => break Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))),
            None if t0.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = reader.join();
    let err = err_reader.join().unwrap_or_default();
    let mut log = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    for l in String::from_utf8_lossy(&err).lines() {
        log += &format!("\n[qemu stderr] {l}");
    }
    Ok(Captured { log, code, elapsed: t0.elapsed() })
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
