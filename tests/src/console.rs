//! A guest's serial console over pipes: QEMU runs with `-serial stdio`
//! and this module owns its stdin, stdout and stderr. A reader thread
//! appends everything the guest prints to a transcript; [`Console::expect`]
//! waits, with a timeout, until the transcript holds a pattern after the
//! last match (the *mark*), and [`Console::send`] types bytes at the guest.
//! The same type collects the output of the non-interactive boot cases and
//! `cargo xtask run --timeout/--script`, so every boot is driven one way.
//!
//! The engine is independent of QEMU: [`Console::new`] takes any pair of
//! pipes, which is how the unit tests feed it canned output.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the reader thread has collected.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    /// The guest's side closed (QEMU exited).
    closed: bool,
}

#[derive(Default)]
struct Shared {
    out: Mutex<Output>,
    /// Signalled whenever `out` changes.
    grew: Condvar,
}

/// Why a wait ended without a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missed {
    Timeout,
    /// The output ended (QEMU exited) first.
    Closed,
}

pub struct Console {
    input: Option<Box<dyn Write + Send>>,
    shared: Arc<Shared>,
    /// Transcript offset where the next expect starts looking.
    mark: usize,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    child: Option<Child>,
    /// QEMU's exit code once it has been collected.
    code: Option<i32>,
    /// QEMU was killed after a timeout.
    killed: bool,
    started: Instant,
}

impl Console {
    /// Drive `output`/`input` (the guest's console). With `echo`, what the
    /// guest prints is also copied to this process's stdout as it arrives.
    pub fn new(
        input: impl Write + Send + 'static,
        output: impl Read + Send + 'static,
        echo: bool,
    ) -> Console {
        let mut c = Console::detached(echo, output);
        c.input = Some(Box::new(input));
        c
    }

    fn detached(echo: bool, mut output: impl Read + Send + 'static) -> Console {
        let shared = Arc::new(Shared::default());
        let sink = Arc::clone(&shared);
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = match output.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if echo {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(&chunk[..n]);
                    let _ = o.flush();
                }
                sink.out.lock().unwrap().buf.extend_from_slice(&chunk[..n]);
                sink.grew.notify_all();
            }
            sink.out.lock().unwrap().closed = true;
            sink.grew.notify_all();
        });
        Console {
            input: None,
            shared,
            mark: 0,
            reader: Some(reader),
            stderr: None,
            child: None,
            code: None,
            killed: false,
            started: Instant::now(),
        }
    }

    /// Start `cmd` (QEMU with its serial console on stdio) with stdout and
    /// stderr on pipes, and stdin on a pipe when `typing`, else /dev/null.
    pub fn spawn(cmd: &mut Command, typing: bool, echo: bool) -> Result<Console, String> {
        let prog = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(if typing { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {prog}: {e}"))?;
        let mut c = Console::detached(echo, child.stdout.take().expect("piped stdout"));
        if let Some(i) = child.stdin.take() {
            c.input = Some(Box::new(i));
        }
        let mut err = child.stderr.take().expect("piped stderr");
        c.stderr = Some(std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        }));
        c.child = Some(child);
        Ok(c)
    }

    /// Time since the console was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Type `bytes` at the guest.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let w = self.input.as_mut().ok_or("this console has no input")?;
        w.write_all(bytes).and_then(|()| w.flush()).map_err(|e| format!("typing at the console: {e}"))
    }

    fn out(&self) -> MutexGuard<'_, Output> {
        self.shared.out.lock().unwrap()
    }

    /// The core wait: call `found(transcript, mark)` now and whenever
    /// output arrives, until it returns `Some((value, new_mark))` or
    /// `timeout` passes or the output closes.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut found: impl FnMut(&[u8], usize) -> Option<(T, usize)>,
    ) -> Result<T, Missed> {
        let deadline = Instant::now() + timeout;
        let shared = Arc::clone(&self.shared);
        let mut out = shared.out.lock().unwrap();
        loop {
            if let Some((v, mark)) = found(&out.buf, self.mark) {
                self.mark = mark;
                return Ok(v);
            }
            if out.closed {
                return Err(Missed::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Missed::Timeout);
            }
            out = shared.grew.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Wait until `pat` appears after the mark; move the mark past it and
    /// return the text before it.
    pub fn expect(&mut self, pat: &str, timeout: Duration) -> Result<String, String> {
        let p = pat.as_bytes();
        self.wait_for(timeout, |buf, mark| {
            find(&buf[mark..], p).map(|i| (lossy(&buf[mark..mark + i]), mark + i + p.len()))
        })
        .map_err(|m| self.missed(m, &format!("{pat:?}"), timeout))
    }

    /// Check that `pat` does not appear after the mark for `dur` (a
    /// command still running, say). The mark stays where it is.
    pub fn quiet(&mut self, pat: &str, dur: Duration) -> Result<(), String> {
        let p = pat.as_bytes();
        let t0 = Instant::now();
        match self.wait_for(dur, |buf, mark| find(&buf[mark..], p).map(|_| ((), mark))) {
            Ok(()) => Err(format!("{pat:?} appeared after {:.2} s", t0.elapsed().as_secs_f64())),
            Err(Missed::Timeout) => Ok(()),
            Err(m) => Err(self.missed(m, &format!("{pat:?} to stay away"), dur)),
        }
    }

    /// Wait until the guest's output ends (QEMU exited or closed it).
    pub fn expect_closed(&mut self, timeout: Duration) -> Result<(), String> {
        let shared = Arc::clone(&self.shared);
        let deadline = Instant::now() + timeout;
        let mut out = shared.out.lock().unwrap();
        while !out.closed {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("QEMU still running {:.1} s later", timeout.as_secs_f64()));
            }
            out = shared.grew.wait_timeout(out, deadline - now).unwrap().0;
        }
        self.mark = out.buf.len();
        Ok(())
    }

    /// An error message for a wait that ended without its match.
    pub fn missed(&mut self, m: Missed, what: &str, timeout: Duration) -> String {
        match m {
            Missed::Timeout => format!("no {what} within {:.1} s", timeout.as_secs_f64()),
            Missed::Closed => {
                let how = match self.try_code() {
                    Some(c) => format!("QEMU exited with code {c}"),
                    None => "the console closed".into(),
                };
                format!("{how} while waiting for {what}")
            }
        }
    }

    fn try_code(&mut self) -> Option<i32> {
        if self.code.is_none()
            && !self.killed
            && let Some(c) = self.child.as_mut()
        {
            // QEMU closes its stdout as it exits: give it a moment.
            for _ in 0..25 {
                if let Ok(Some(st)) = c.try_wait() {
                    self.code = Some(exit_code(st));
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.code
    }

    /// Wait up to `timeout` for QEMU to exit; kill it after that. Returns
    /// its exit code (128 + signal if a signal ended it), None if it had to
    /// be killed. Once it is gone, its output is complete.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let deadline = Instant::now() + timeout;
        if let Some(c) = self.child.as_mut()
            && self.code.is_none()
            && !self.killed
        {
            loop {
                match c.try_wait().map_err(|e| format!("waiting for QEMU: {e}"))? {
                    Some(st) => {
                        self.code = Some(exit_code(st));
                        break;
                    }
                    None if Instant::now() >= deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        self.killed = true;
                        break;
                    }
                    None => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        self.input = None;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        Ok(if self.killed { None } else { self.code })
    }

    /// Everything the guest printed so far, then QEMU's stderr (once it has
    /// exited) as `[qemu stderr] ...` lines.
    pub fn transcript(&mut self) -> String {
        let mut t = lossy(&self.out().buf);
        if self.reader.is_none()
            && let Some(e) = self.stderr.take()
        {
            for l in String::from_utf8_lossy(&e.join().unwrap_or_default()).lines() {
                t += &format!("\n[qemu stderr] {l}");
            }
        }
        t
    }

    /// The last `n` lines of the guest's output so far.
    pub fn tail(&self, n: usize) -> String {
        tail(&lossy(&self.out().buf), n)
    }
}

/// The last `n` lines of a transcript, carriage returns dropped, for
/// failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let t = text.replace('\r', "");
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Console {
    /// Never leave a QEMU behind.
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut()
            && self.code.is_none()
            && !self.killed
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Offset of the first `pat` in `hay`.
pub fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() {
        return Some(0);
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console fed by a thread that writes `chunks`, each after its
    /// delay in milliseconds, then closes; and the read end of what the
    /// console types.
    fn canned(chunks: &[(u64, &str)]) -> (Console, std::io::PipeReader) {
        let (out_r, mut out_w) = std::io::pipe().unwrap();
        let (in_r, in_w) = std::io::pipe().unwrap();
        let chunks: Vec<(u64, String)> = chunks.iter().map(|&(d, s)| (d, s.to_string())).collect();
        std::thread::spawn(move || {
            for (d, s) in chunks {
                std::thread::sleep(Duration::from_millis(d));
                out_w.write_all(s.as_bytes()).unwrap();
            }
        });
        (Console::new(in_w, out_r, false), in_r)
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn expect_returns_what_came_before_and_moves_on() {
        let (mut c, _) = canned(&[(0, "boot\r\nlogin"), (30, ": ok\r\n# "), (30, "two # three")]);
        assert_eq!(c.expect("ok", T).unwrap(), "boot\r\nlogin: ");
        assert_eq!(c.expect("# ", T).unwrap(), "\r\n");
        // Only output after the last match counts.
        assert_eq!(c.expect("# ", T).unwrap(), "two ");
        assert_eq!(c.expect("three", T).unwrap(), "");
        let e = c.expect("four", T).unwrap_err();
        assert!(e.contains("console closed") && e.contains("\"four\""), "{e}");
    }

    #[test]
    fn a_match_split_across_reads_is_found() {
        let (mut c, _) = canned(&[(0, "pan"), (20, "ic: x"), (20, "yz\n")]);
        assert_eq!(c.expect("panic: xyz", T).unwrap(), "");
    }

    #[test]
    fn timeouts_are_reported_and_leave_the_mark() {
        let (mut c, _) = canned(&[(0, "a"), (600, "b")]);
        let t0 = Instant::now();
        let e = c.expect("b", Duration::from_millis(150)).unwrap_err();
        assert!(e.starts_with("no \"b\" within 0.1"), "{e}");
        assert!(t0.elapsed() < Duration::from_millis(500));
        assert_eq!(c.expect("b", T).unwrap(), "a");
    }

    #[test]
    fn quiet_fails_when_the_text_shows_up() {
        let (mut c, _) = canned(&[(0, "running"), (300, "\n# ")]);
        assert_eq!(c.quiet("# ", Duration::from_millis(100)), Ok(()));
        let e = c.quiet("# ", Duration::from_secs(3)).unwrap_err();
        assert!(e.contains("appeared after"), "{e}");
        // quiet never moves the mark.
        assert_eq!(c.expect("# ", T).unwrap(), "running\n");
    }

    #[test]
    fn typed_bytes_reach_the_other_side() {
        let (mut c, mut typed) = canned(&[(0, "x")]);
        c.send(b"echo hi\r").unwrap();
        c.send(&[0x03, 0x1a, 0x04]).unwrap();
        drop(c);
        let mut got = Vec::new();
        typed.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"echo hi\r\x03\x1a\x04");
    }

    #[test]
    fn closing_and_tail() {
        let (mut c, _) = canned(&[(0, "1\r\n2\r\n3\r\n"), (50, "4\r\n")]);
        c.expect_closed(T).unwrap();
        assert_eq!(c.tail(2), "3\n4");
        assert!(c.transcript().starts_with("1\r\n2"));
    }

    /// A real child process: its output, exit code and stderr.
    #[test]
    fn spawned_process() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read l; echo got $l; echo oops >&2; exit 7"]);
        let mut c = Console::spawn(&mut cmd, true, false).unwrap();
        c.send(b"line\n").unwrap();
        assert_eq!(c.expect("got line\n", T).unwrap(), "");
        assert_eq!(c.wait_exit(T).unwrap(), Some(7));
        assert_eq!(c.transcript(), "got line\n\n[qemu stderr] oops");

        let mut slow = Command::new("sleep");
        slow.arg("10");
        let mut c = Console::spawn(&mut slow, false, false).unwrap();
        let t0 = Instant::now();
        assert_eq!(c.wait_exit(Duration::from_millis(100)).unwrap(), None, "killed after the timeout");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
