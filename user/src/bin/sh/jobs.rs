//! The job table: each pipeline started by the shell, its processes and
//! their states, which jobs are current (`%+`) and previous (`%-`), and
//! how they are shown.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sys::ioctl::Termios;
use sys::wait;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PState {
    Running,
    Stopped(u32),
    /// The raw wait status.
    Done(i32),
}

#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub state: PState,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: usize,
    /// The process group (without job control: the first process).
    pub pgid: i32,
    pub procs: Vec<Proc>,
    pub text: String,
    /// Its latest change of state has been reported.
    pub notified: bool,
    /// The terminal's modes when it stopped, given back by `fg`.
    pub tmodes: Option<Termios>,
    /// CPU time of its reaped processes, user and system, in µs.
    pub cpu: (u64, u64),
}

/// `$?` for a wait status: the exit status, or 128 + the signal.
pub fn exit_code(raw: i32) -> i32 {
    if wait::wifexited(raw) {
        wait::wexitstatus(raw)
    } else if wait::wifsignaled(raw) {
        128 + wait::wtermsig(raw)
    } else if wait::wifstopped(raw) {
        128 + wait::wstopsig(raw)
    } else {
        0
    }
}

impl Job {
    pub fn is_done(&self) -> bool {
        self.procs.iter().all(|p| matches!(p.state, PState::Done(_)))
    }

    /// Stopped: nothing runs, and something is stopped.
    pub fn is_stopped(&self) -> bool {
        !self.procs.iter().any(|p| p.state == PState::Running)
            && self.procs.iter().any(|p| matches!(p.state, PState::Stopped(_)))
    }

    pub fn is_running(&self) -> bool {
        self.procs.iter().any(|p| p.state == PState::Running)
    }

    /// The status of the job: its last process's.
    pub fn status(&self) -> i32 {
        match self.procs.last().map(|p| p.state) {
            Some(PState::Done(raw)) => exit_code(raw),
            Some(PState::Stopped(sig)) => 128 + sig as i32,
            _ => 0,
        }
    }

    /// "Running", "Stopped", "Done", "Done(3)", "Terminated"...
    pub fn state_text(&self) -> String {
        if self.is_running() {
            return "Running".into();
        }
        if self.is_stopped() {
            return "Stopped".into();
        }
        match self.procs.last().map(|p| p.state) {
            Some(PState::Done(raw)) if wait::wifsignaled(raw) => {
                let sig = wait::wtermsig(raw) as u32;
                let core = if wait::wcoredump(raw) { " (core dumped)" } else { "" };
                format!("{}{core}", crate::sig::describe(sig))
            }
            Some(PState::Done(raw)) if wait::wexitstatus(raw) != 0 => {
                format!("Done({})", wait::wexitstatus(raw))
            }
            _ => "Done".into(),
        }
    }

    pub fn last_pid(&self) -> i32 {
        self.procs.last().map_or(0, |p| p.pid)
    }
}

#[derive(Default)]
pub struct Jobs {
    pub list: Vec<Job>,
    /// Job ids from least to most recently started or stopped: the last
    /// is `%+`, the one before `%-`.
    order: Vec<usize>,
}

/// One line of `jobs`: "[2]+ Stopped  vi x".
pub fn line(id: usize, mark: char, state: &str, text: &str) -> String {
    format!("[{id}]{mark} {state}  {text}")
}

impl Jobs {
    /// A new job; returns its id (one more than the highest in use).
    pub fn add(&mut self, pgid: i32, pids: &[i32], text: &str) -> usize {
        let id = self.list.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        self.list.push(Job {
            id,
            pgid,
            procs: pids.iter().map(|&pid| Proc { pid, state: PState::Running }).collect(),
            text: text.into(),
            notified: false,
            tmodes: None,
            cpu: (0, 0),
        });
        self.order.push(id);
        id
    }

    pub fn get(&self, id: usize) -> Option<&Job> {
        self.list.iter().find(|j| j.id == id)
    }

    pub fn get_mut(&mut self, id: usize) -> Option<&mut Job> {
        self.list.iter_mut().find(|j| j.id == id)
    }

    pub fn remove(&mut self, id: usize) -> Option<Job> {
        self.order.retain(|&j| j != id);
        let i = self.list.iter().position(|j| j.id == id)?;
        Some(self.list.remove(i))
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.order.clear();
    }

    /// Make `id` the current job.
    pub fn touch(&mut self, id: usize) {
        self.order.retain(|&j| j != id);
        self.order.push(id);
    }

    pub fn current(&self) -> Option<usize> {
        self.order.last().copied()
    }

    pub fn previous(&self) -> Option<usize> {
        self.order.len().checked_sub(2).map(|i| self.order[i])
    }

    pub fn mark(&self, id: usize) -> char {
        if self.current() == Some(id) {
            '+'
        } else if self.previous() == Some(id) {
            '-'
        } else {
            ' '
        }
    }

    /// Record a wait status for `pid`; returns the job's id if it has
    /// that process.
    pub fn update(&mut self, pid: i32, raw: i32, cpu: (u64, u64)) -> Option<usize> {
        let job = self.list.iter_mut().find(|j| j.procs.iter().any(|p| p.pid == pid))?;
        let p = job.procs.iter_mut().find(|p| p.pid == pid)?;
        if wait::wifstopped(raw) {
            p.state = PState::Stopped(wait::wstopsig(raw) as u32);
        } else if wait::wifcontinued(raw) {
            p.state = PState::Running;
        } else {
            p.state = PState::Done(raw);
            job.cpu.0 += cpu.0;
            job.cpu.1 += cpu.1;
        }
        job.notified = false;
        let id = job.id;
        if self.get(id).is_some_and(|j| j.is_stopped()) {
            self.touch(id);
        }
        Some(id)
    }

    /// The job a `%spec` (or a bare number) names: `%n`, `%%`, `%+`,
    /// `%-`, `%prefix` of its command, `%?text` in its command.
    pub fn resolve(&self, spec: Option<&str>) -> Result<usize, String> {
        let none = || format!("{}: no such job", spec.unwrap_or("%%"));
        let s = match spec {
            None => return self.current().ok_or_else(|| String::from("no current job")),
            Some(s) => s.strip_prefix('%').unwrap_or(s),
        };
        let found = match s {
            "" | "%" | "+" => self.current(),
            "-" => self.previous(),
            _ if s.bytes().all(|c| c.is_ascii_digit()) => s.parse().ok().filter(|&n| self.get(n).is_some()),
            _ => {
                let hits: Vec<usize> = match s.strip_prefix('?') {
                    Some(sub) => self.list.iter().filter(|j| j.text.contains(sub)).map(|j| j.id).collect(),
                    None => self.list.iter().filter(|j| j.text.starts_with(s)).map(|j| j.id).collect(),
                };
                if hits.len() > 1 {
                    return Err(format!("{}: ambiguous", spec.unwrap_or("")));
                }
                hits.first().copied()
            }
        };
        found.ok_or_else(none)
    }

    /// Mark the stopped processes of `targets` running again (they were
    /// sent SIGCONT): a pid, or a group as a negative number.
    pub fn continued(&mut self, target: i32) {
        for j in &mut self.list {
            let whole = target < 0 && j.pgid == -target;
            for p in &mut j.procs {
                if (whole || p.pid == target) && matches!(p.state, PState::Stopped(_)) {
                    p.state = PState::Running;
                    j.notified = false;
                }
            }
        }
    }

    /// The job with process `pid`.
    pub fn by_pid(&self, pid: i32) -> Option<usize> {
        self.list.iter().find(|j| j.procs.iter().any(|p| p.pid == pid)).map(|j| j.id)
    }
}

/// `time`'s line, from hundredths of a second (as OpenBSD's time(1)).
pub fn times_line(real: u64, user: u64, sys: u64) -> String {
    format!(
        "{:>10}.{:02} real {:>10}.{:02} user {:>10}.{:02} sys",
        real / 100,
        real % 100,
        user / 100,
        user % 100,
        sys / 100,
        sys % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::wait::{w_coredump, w_exitcode, w_stopcode};

    #[test]
    fn states_and_text() {
        let mut j = Jobs::default();
        let a = j.add(10, &[10, 11], "sleep 9 | cat");
        let b = j.add(12, &[12], "vi x");
        assert_eq!((a, b), (1, 2));
        assert_eq!(j.mark(b), '+');
        assert_eq!(j.mark(a), '-');
        assert_eq!(j.get(a).unwrap().state_text(), "Running");
        // Stopping job 1 makes it current.
        j.update(10, w_stopcode(18), (0, 0));
        assert_eq!(j.get(a).unwrap().state_text(), "Running");
        j.update(11, w_stopcode(18), (0, 0));
        assert!(j.get(a).unwrap().is_stopped());
        assert_eq!(j.current(), Some(a));
        assert_eq!(j.get(a).unwrap().status(), 128 + 18);
        let jb = j.get(b).unwrap();
        assert_eq!(line(b, j.mark(b), &jb.state_text(), &jb.text), "[2]- Running  vi x");
        j.update(12, w_exitcode(3, 0), (1500, 250));
        let jb = j.get(b).unwrap();
        assert!(jb.is_done());
        assert_eq!((jb.state_text().as_str(), jb.status(), jb.cpu), ("Done(3)", 3, (1500, 250)));
        j.update(10, w_exitcode(0, 15), (0, 0));
        j.update(11, w_coredump(11), (0, 0));
        let ja = j.get(a).unwrap();
        assert_eq!(ja.state_text(), "Segmentation fault (core dumped)");
        assert_eq!(ja.status(), 139);
        assert_eq!(j.update(99, 0, (0, 0)), None);
        j.remove(a);
        assert_eq!(j.current(), Some(b));
        let c = j.add(20, &[20, 21], "a | b");
        j.update(20, w_stopcode(17), (0, 0));
        j.update(21, w_stopcode(17), (0, 0));
        j.continued(21);
        assert_eq!(j.get(c).unwrap().state_text(), "Running");
        j.update(21, w_stopcode(17), (0, 0));
        j.continued(-20);
        assert!(j.get(c).unwrap().procs.iter().all(|p| p.state == PState::Running));
        j.remove(c);
        assert_eq!(j.add(1, &[1], "x"), 3);
    }

    #[test]
    fn specs() {
        let mut j = Jobs::default();
        assert!(j.resolve(None).is_err());
        j.add(1, &[1], "sleep 10");
        j.add(2, &[2], "cat file");
        j.add(3, &[3], "sleep 20");
        assert_eq!(j.resolve(None), Ok(3));
        assert_eq!(j.resolve(Some("%%")), Ok(3));
        assert_eq!(j.resolve(Some("%+")), Ok(3));
        assert_eq!(j.resolve(Some("%-")), Ok(2));
        assert_eq!(j.resolve(Some("%1")), Ok(1));
        assert_eq!(j.resolve(Some("1")), Ok(1));
        assert_eq!(j.resolve(Some("%cat")), Ok(2));
        assert_eq!(j.resolve(Some("%?20")), Ok(3));
        assert!(j.resolve(Some("%sleep")).unwrap_err().contains("ambiguous"));
        assert!(j.resolve(Some("%9")).is_err());
        assert!(j.resolve(Some("%nope")).is_err());
        assert_eq!(j.by_pid(2), Some(2));
    }

    #[test]
    fn exit_codes_and_times() {
        assert_eq!(exit_code(w_exitcode(7, 0)), 7);
        assert_eq!(exit_code(w_exitcode(0, 2)), 130);
        assert_eq!(exit_code(w_stopcode(18)), 146);
        assert_eq!(times_line(123, 5, 100_000), "         1.23 real          0.05 user       1000.00 sys");
    }
}
