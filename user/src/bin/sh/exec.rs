//! Running the tree: lists, pipelines, simple and compound commands,
//! redirections, processes and job control.
//!
//! Commands the shell forks for are started in a job: with job control
//! (an interactive shell on a terminal that supports it), each job gets
//! its own process group, set by both the parent and the child so that
//! neither depends on which runs first, and a foreground job is given the
//! terminal while the shell waits for it with WUNTRACED. Without job
//! control, children stay in the shell's group.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use rt::Errno;
use rt::signal::Handler;
use rt::{eprint, eprintln};
use sys::fcntl::*;
use sys::ioctl::Termios;
use sys::resource::Rusage;
use sys::signal::{SIGCONT, SIGINT, SIGPIPE, SIGQUIT};
use sys::wait::{WAIT_ANY, WCONTINUED, WNOHANG, WUNTRACED};

use crate::ast::*;
use crate::expand;
use crate::input::{Line, Source, StrSource};
use crate::jobs::{self, Jobs};
use crate::parse::{self, Error as ParseError};
use crate::sig;
use crate::vars::{Vars, quote};

pub const DEFAULT_PATH: &str = "/bin:/sbin";

/// Function calls, `eval` and `.` nest this deep at most: each level
/// costs stack.
const MAX_CALL_DEPTH: usize = 64;

/// Here-documents up to this size are written into the pipe at once
/// (it holds more); larger ones by a child of their own.
const HEREDOC_INLINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Normal,
    Break(usize),
    Continue(usize),
    Return,
}

pub struct Shell {
    pub vars: Vars,
    pub funcs: BTreeMap<String, Rc<Command>>,
    pub arg0: String,
    pub params: Vec<String>,
    /// `$?`
    pub status: i32,
    /// `$!`
    pub last_bg: Option<i32>,
    /// `$$`: the main shell's pid, also in subshells.
    pub pid: i32,
    pub interactive: bool,
    /// Job control is on.
    pub jc: bool,
    pub shell_pgid: i32,
    /// The terminal's foreground group when the shell took it, given
    /// back when the shell exits.
    pub orig_pgrp: i32,
    /// The terminal, for job control (a private copy of fd 0).
    pub ttyfd: i32,
    pub tmodes: Option<Termios>,
    pub jobs: Jobs,
    /// set -e, -x, -f
    pub errexit: bool,
    pub xtrace: bool,
    pub noglob: bool,
    pub flow: Flow,
    pub loop_depth: usize,
    pub call_depth: usize,
    pub func_depth: usize,
    /// Inside an if/while condition, a `!` or the left of && and ||,
    /// where set -e does not apply.
    pub cond_depth: usize,
    /// Descriptors the shell keeps for itself (script, terminal, saved
    /// fds): its children close them.
    pub private_fds: Vec<i32>,
    /// This process is a subshell (a forked child running shell code).
    pub subshell: bool,
    /// CPU time (user, system; µs) of the foreground children reaped,
    /// for `time`.
    pub cpu_us: (u64, u64),
    /// Signals ignored when the shell started.
    pub orig_ignored: Vec<u32>,
    /// Status of the last command substitution (the status of a command
    /// that is only assignments).
    pub cmdsub_status: Option<i32>,
    /// The stopped-jobs warning was given; the next exit goes.
    pub warned_stopped: bool,
    /// What "line N" counts from in error messages (None: no numbers).
    pub lineno: Option<usize>,
}

fn msg(e: Errno) -> &'static str {
    e.message()
}

/// Move `fd` to a descriptor at or above 10, close-on-exec if the kernel
/// can; the original stays open. Returns the copy, or the error.
pub fn dup_high(fd: i32) -> Result<i32, Errno> {
    match rt::fcntl(fd, F_DUPFD_CLOEXEC, 10) {
        Ok(n) => return Ok(n),
        Err(Errno::EBADF) => return Err(Errno::EBADF),
        Err(_) => {}
    }
    // No fcntl: dup until the copy lands high enough.
    let mut low = Vec::new();
    let r = loop {
        match rt::dup(fd) {
            Ok(n) if n >= 10 => break Ok(n),
            Ok(n) => low.push(n),
            Err(e) => break Err(e),
        }
        if low.len() > 10 {
            break Err(Errno::EMFILE);
        }
    };
    for n in low {
        let _ = rt::close(n);
    }
    r
}

/// User and system time in a rusage, in µs.
fn cpu_us(ru: &Rusage) -> (u64, u64) {
    let us = |tv: &sys::time::Timeval| (tv.tv_sec.max(0) as u64) * 1_000_000 + tv.tv_usec.max(0) as u64;
    (us(&ru.ru_utime), us(&ru.ru_stime))
}

/// Make `fd` descriptor `to` (closing `fd`).
fn move_fd_to(fd: i32, to: i32) {
    if fd != to {
        let _ = rt::dup2(fd, to);
        let _ = rt::close(fd);
    }
}

/// Everything the exec'd program needs, built before the fork-free exec.
struct ExecArgs {
    argv: Vec<String>,
    env: Vec<String>,
}

impl Shell {
    pub fn new(arg0: &str, env: impl Iterator<Item = &'static str>) -> Shell {
        let mut vars = Vars::from_env(env);
        if vars.get("PATH").is_none() {
            vars.set("PATH", DEFAULT_PATH);
        }
        if vars.get("IFS").is_none() {
            vars.set("IFS", " \t\n");
        }
        let mut buf = [0u8; PATH_MAX];
        if let Ok(cwd) = rt::getcwd(&mut buf) {
            let exported = vars.raw("PWD").is_some_and(|v| v.exported);
            vars.set("PWD", cwd);
            if exported {
                vars.export("PWD", None);
            }
        }
        let pid = rt::getpid();
        Shell {
            vars,
            funcs: BTreeMap::new(),
            arg0: arg0.into(),
            params: Vec::new(),
            status: 0,
            last_bg: None,
            pid,
            interactive: false,
            jc: false,
            shell_pgid: 0,
            orig_pgrp: 0,
            ttyfd: -1,
            tmodes: None,
            jobs: Jobs::default(),
            errexit: false,
            xtrace: false,
            noglob: false,
            flow: Flow::Normal,
            loop_depth: 0,
            call_depth: 0,
            func_depth: 0,
            cond_depth: 0,
            private_fds: Vec::new(),
            subshell: false,
            cpu_us: (0, 0),
            orig_ignored: Vec::new(),
            cmdsub_status: None,
            warned_stopped: false,
            lineno: None,
        }
    }

    // ---- set-up ----

    /// Signals and job control for an interactive shell: its own process
    /// group in the terminal's foreground, the job signals ignored and
    /// SIGINT caught. If the terminal cannot do it, no job control.
    pub fn setup_interactive(&mut self) {
        self.interactive = true;
        self.orig_ignored = sig::JOB_SIGNALS.iter().copied().filter(|&s| sig::ignored(s)).collect();
        self.jc = self.setup_job_control();
        self.interactive_signals();
    }

    fn interactive_signals(&self) {
        sig::catch_sigint();
        for s in [sys::signal::SIGQUIT, sys::signal::SIGTSTP, sys::signal::SIGTTIN, sys::signal::SIGTTOU] {
            sig::set(s, Handler::Ignore);
        }
    }

    fn setup_job_control(&mut self) -> bool {
        let Ok(tty) = dup_high(0) else { return false };
        self.ttyfd = tty;
        self.private_fds.push(tty);
        // Wait until the terminal is ours: a shell started in the
        // background stops itself (SIGTTIN) until it is brought forward.
        for _ in 0..1000 {
            let fg = match rt::tcgetpgrp(tty) {
                Ok(fg) => fg,
                Err(_) => return false,
            };
            let pg = rt::getpgrp();
            if fg <= 0 || pg <= 0 || fg == pg {
                self.orig_pgrp = fg;
                break;
            }
            let _ = rt::kill(-pg, sys::signal::SIGTTIN);
        }
        for s in [sys::signal::SIGTSTP, sys::signal::SIGTTIN, sys::signal::SIGTTOU] {
            sig::set(s, Handler::Ignore);
        }
        let pid = rt::getpid();
        if rt::setpgid(0, 0).is_err() && rt::getpgid(0) != Ok(pid) {
            return false;
        }
        self.shell_pgid = rt::getpgid(0).unwrap_or(pid);
        if rt::tcsetpgrp(tty, self.shell_pgid).is_err() {
            return false;
        }
        self.tmodes = rt::tcgetattr(tty).ok();
        true
    }

    /// Remember what was ignored at start in a non-interactive shell.
    pub fn setup_noninteractive(&mut self) {
        self.orig_ignored = sig::JOB_SIGNALS.iter().copied().filter(|&s| sig::ignored(s)).collect();
    }

    /// Leave the shell, giving the terminal back to whoever had it.
    pub fn exit(&mut self, status: i32) -> ! {
        if self.jc {
            // Stopped jobs would stay stopped for good once orphaned:
            // hang them up and let them run to see it (what the kernel
            // does for orphaned groups on OpenBSD).
            for j in self.jobs.list.iter().filter(|j| j.is_stopped()) {
                let _ = rt::kill(-j.pgid, sys::signal::SIGHUP);
                let _ = rt::kill(-j.pgid, SIGCONT);
            }
            // No group had it: the one that started the shell gets it.
            let to = if self.orig_pgrp > 0 { Ok(self.orig_pgrp) } else { rt::getpgid(rt::getppid()) };
            if let Ok(pg) = to
                && pg > 0
                && pg != self.shell_pgid
            {
                let _ = rt::tcsetpgrp(self.ttyfd, pg);
            }
        }
        rt::exit(status)
    }

    // ---- errors ----

    pub fn error(&self, m: &str) {
        eprintln!("sh: {m}");
    }

    /// After an error already reported that ends a script: exit if not
    /// interactive.
    fn fail(&mut self, status: i32) -> i32 {
        if !self.interactive {
            self.exit(status);
        }
        status
    }

    /// A fatal error in a script (expansion errors, bad special builtin
    /// use): exit if not interactive.
    fn fatal(&mut self, m: &str, status: i32) -> i32 {
        self.error(m);
        self.fail(status)
    }

    // ---- running text ----

    /// Read, parse and run commands from `src` until it ends; returns the
    /// last status. `top` is the main input of the shell (prompts, job
    /// notices).
    pub fn run_source(&mut self, src: &mut dyn Source, top: bool) -> i32 {
        let mut buf = String::new();
        let prompting = top && self.interactive;
        loop {
            if prompting {
                if buf.is_empty() {
                    self.reap_and_notify();
                    sig::set_interrupted(false);
                    let ps1 = self.prompt("PS1", "# ");
                    eprint!("{ps1}");
                } else {
                    let ps2 = self.prompt("PS2", "> ");
                    eprint!("{ps2}");
                }
            } else if top && !self.interactive {
                // Keep finished background jobs from piling up as zombies.
                self.reap(false);
            }
            match src.read_line() {
                Line::Eof => {
                    if !buf.is_empty() {
                        self.syntax_error("unexpected end of file", &buf);
                        return 2;
                    }
                    if prompting {
                        eprintln!();
                    }
                    return self.status;
                }
                Line::Interrupted => {
                    // The terminal echoed "^C" and ended the line.
                    buf.clear();
                    self.status = 130;
                    continue;
                }
                Line::Text(l) => {
                    // The terminal flushes the line being edited on ^C,
                    // so a ^C that came just before the read is stale.
                    if prompting {
                        sig::set_interrupted(false);
                    }
                    buf.push_str(&l);
                }
            }
            match parse::parse(&buf) {
                Err(ParseError::Incomplete) => continue,
                Err(ParseError::Syntax(m)) => {
                    self.syntax_error(&m, &buf);
                    if let Some(n) = self.lineno.as_mut() {
                        *n += buf.matches('\n').count();
                    }
                    buf.clear();
                    if !self.interactive {
                        return 2;
                    }
                }
                Ok(list) => {
                    if let Some(n) = self.lineno.as_mut() {
                        *n += buf.matches('\n').count();
                    }
                    buf.clear();
                    self.run_list(&list);
                    if self.flow != Flow::Normal && !top {
                        // `return` from a sourced file.
                        break;
                    }
                    self.flow = Flow::Normal;
                }
            }
        }
        self.status
    }

    /// A prompt variable, with its parameters expanded (PS1='$PWD# ').
    fn prompt(&mut self, var: &str, default: &str) -> String {
        let raw = self.vars.get(var).unwrap_or(default).to_string();
        if !raw.contains('$') {
            return raw;
        }
        let saved = self.status;
        let r = match parse::parse_document(&raw) {
            Ok(w) => expand::string(self, &w).unwrap_or(raw),
            Err(_) => raw,
        };
        self.status = saved;
        r
    }

    fn syntax_error(&mut self, m: &str, buf: &str) {
        self.status = 2;
        match self.lineno {
            // The error is somewhere in the text parsed; its first line
            // is as close as the parser says.
            Some(n) if !buf.is_empty() => eprintln!("sh: syntax error: {m} (line {n})"),
            _ => eprintln!("sh: syntax error: {m}"),
        }
    }

    /// Parse and run a string (`-c`, `eval`).
    pub fn run_string(&mut self, s: &str) -> i32 {
        let mut src = StrSource::new(s);
        self.run_source(&mut src, false)
    }

    // ---- lists ----

    /// Stop running commands: ^C at an interactive shell, or a break,
    /// continue or return on its way out.
    fn stop(&self) -> bool {
        self.flow != Flow::Normal || (self.interactive && !self.subshell && sig::interrupted())
    }

    pub fn run_list(&mut self, list: &List) -> i32 {
        let mut st = self.status;
        for item in &list.items {
            if self.stop() {
                break;
            }
            st = if item.background {
                self.run_background(&item.and_or)
            } else {
                self.run_and_or(&item.and_or)
            };
            self.status = st;
        }
        st
    }

    fn run_and_or(&mut self, ao: &AndOr) -> i32 {
        let n = ao.rest.len();
        let mut st = self.run_pipeline(&ao.first, n > 0);
        for (i, (conn, p)) in ao.rest.iter().enumerate() {
            if self.stop() {
                break;
            }
            let run = match conn {
                Connector::And => st == 0,
                Connector::Or => st != 0,
            };
            if run {
                st = self.run_pipeline(p, i + 1 < n);
            }
        }
        st
    }

    fn run_pipeline(&mut self, p: &Pipeline, cond: bool) -> i32 {
        let t0 = rt::time::now().unwrap_or_default();
        let cpu0 = self.cpu_us;
        let guarded = cond || p.negate;
        if guarded {
            self.cond_depth += 1;
        }
        let st = match p.cmds.len() {
            0 => 0,
            1 => self.run_command(&p.cmds[0], &p.text),
            _ => match self.spawn_pipeline(&p.cmds, &p.text, true) {
                Some(id) => self.wait_fg(id),
                None => 1,
            },
        };
        if guarded {
            self.cond_depth -= 1;
        }
        let st = if p.negate { (st == 0) as i32 } else { st };
        self.status = st;
        if p.timed {
            let real = rt::time::now().unwrap_or_default().saturating_sub(t0);
            let user = (self.cpu_us.0 - cpu0.0) / 10_000;
            let sys = (self.cpu_us.1 - cpu0.1) / 10_000;
            let real = real.as_secs() * 100 + (real.subsec_nanos() / 10_000_000) as u64;
            eprintln!("{}", jobs::times_line(real, user, sys));
        }
        if st != 0 && self.errexit && !guarded && self.cond_depth == 0 && self.flow == Flow::Normal {
            self.exit(st);
        }
        st
    }

    /// Start `a &`: a pipeline as a job of its own, anything more
    /// (an and-or list, a timed pipeline) in a subshell.
    fn run_background(&mut self, ao: &AndOr) -> i32 {
        let p = &ao.first;
        let id = if ao.rest.is_empty() && !p.timed && !p.negate && !p.cmds.is_empty() {
            self.spawn_pipeline(&p.cmds, &ao.text, false)
        } else {
            let mut pgid = 0;
            match self.fork_child(&mut pgid, false, true) {
                Ok(0) => {
                    let st = self.run_and_or(ao);
                    rt::exit(st);
                }
                Ok(pid) => Some(self.jobs.add(pgid, &[pid], &ao.text)),
                Err(e) => {
                    self.error(&format!("fork: {}", msg(e)));
                    None
                }
            }
        };
        let Some(id) = id else { return 1 };
        let job = self.jobs.get(id).expect("job just added");
        self.last_bg = Some(job.last_pid());
        if self.interactive && !self.subshell {
            eprintln!("[{id}] {}", job.last_pid());
        }
        0
    }

    // ---- processes ----

    /// fork(2) for a job's process. In the child: its process group (and
    /// the terminal, for a foreground job), the signals back to their
    /// defaults, the shell's private descriptors closed. `pgid` is the
    /// job's group (0: this child starts it).
    fn fork_child(&mut self, pgid: &mut i32, fg: bool, bg: bool) -> Result<i32, Errno> {
        let pid = rt::fork()?;
        if pid == 0 {
            if self.jc {
                let pg = if *pgid == 0 { rt::getpid() } else { *pgid };
                let _ = rt::setpgid(0, pg);
                if fg {
                    let _ = rt::tcsetpgrp(self.ttyfd, pg);
                }
            }
            self.enter_child(bg);
            return Ok(0);
        }
        if *pgid == 0 {
            *pgid = pid;
        }
        if self.jc {
            // The child may have exec'd already (EACCES): its own call
            // did the job then.
            let _ = rt::setpgid(pid, *pgid);
        }
        Ok(pid)
    }

    /// Become a subshell: a process that runs shell code for its parent.
    fn enter_child(&mut self, bg: bool) {
        let was_jc = self.jc;
        for s in sig::JOB_SIGNALS {
            if self.orig_ignored.contains(&s) {
                sig::set(s, Handler::Ignore);
            } else {
                sig::set(s, Handler::Default);
            }
        }
        if bg && !was_jc {
            // Without job control a background command must not be
            // killed by the keyboard, nor read the terminal.
            sig::set(SIGINT, Handler::Ignore);
            sig::set(SIGQUIT, Handler::Ignore);
            self.orig_ignored.extend([SIGINT, SIGQUIT]);
            if let Ok(fd) = rt::open("/dev/null", O_RDONLY, 0)
                && fd != 0
            {
                let _ = rt::dup2(fd, 0);
                let _ = rt::close(fd);
            }
        }
        for fd in core::mem::take(&mut self.private_fds) {
            let _ = rt::close(fd);
        }
        self.ttyfd = -1;
        self.jc = false;
        self.interactive = false;
        self.subshell = true;
        self.jobs.clear();
        sig::set_interrupted(false);
    }

    /// Start `cmds` as a pipeline, each in a process of its own, as a new
    /// job; returns its id.
    fn spawn_pipeline(&mut self, cmds: &[Command], text: &str, fg: bool) -> Option<usize> {
        let mut pgid = 0;
        let mut pids = Vec::new();
        let mut prev_read = -1;
        let n = cmds.len();
        // With job control, the children wait on this pipe until all of
        // them are forked: the group leader must not exit (and its group
        // vanish) before the others have joined it.
        let sync = if self.jc && n > 1 { rt::pipe().ok() } else { None };
        for (i, cmd) in cmds.iter().enumerate() {
            let (r, w) = if i + 1 < n {
                match rt::pipe() {
                    Ok([r, w]) => (r, w),
                    Err(e) => {
                        self.error(&format!("pipe: {}", msg(e)));
                        break;
                    }
                }
            } else {
                (-1, -1)
            };
            match self.fork_child(&mut pgid, fg, !fg) {
                Ok(0) => {
                    if let Some([sr, sw]) = sync {
                        let _ = rt::close(sw);
                        let mut b = [0u8; 1];
                        while matches!(rt::read(sr, &mut b), Ok(1..) | Err(Errno::EINTR)) {}
                        let _ = rt::close(sr);
                    }
                    if prev_read >= 0 {
                        move_fd_to(prev_read, 0);
                    }
                    if w >= 0 {
                        let _ = rt::close(r);
                        move_fd_to(w, 1);
                    }
                    let st = self.run_in_child(cmd);
                    rt::exit(st);
                }
                Ok(pid) => pids.push(pid),
                Err(e) => {
                    self.error(&format!("fork: {}", msg(e)));
                    if r >= 0 {
                        let _ = rt::close(r);
                        let _ = rt::close(w);
                    }
                    break;
                }
            }
            if prev_read >= 0 {
                let _ = rt::close(prev_read);
            }
            if w >= 0 {
                let _ = rt::close(w);
            }
            prev_read = r;
        }
        if prev_read >= 0 {
            let _ = rt::close(prev_read);
        }
        if let Some([sr, sw]) = sync {
            let _ = rt::close(sw);
            let _ = rt::close(sr);
        }
        if pids.is_empty() {
            return None;
        }
        Some(self.jobs.add(pgid, &pids, text))
    }

    /// Run `cmd` in this process, which is a child made for it: external
    /// commands replace it.
    fn run_in_child(&mut self, cmd: &Command) -> i32 {
        match cmd {
            Command::Simple(sc) => self.run_simple(sc, "", false),
            Command::Compound(c, redirs) => {
                if self.apply_redirs(redirs, false).is_err() {
                    return 1;
                }
                match &**c {
                    Compound::Subshell(l) => self.run_list(l),
                    c => self.run_compound(c),
                }
            }
            Command::FuncDef(name, body) => {
                self.funcs.insert(name.clone(), body.clone());
                0
            }
        }
    }

    /// A single command in the foreground of this shell.
    fn run_command(&mut self, cmd: &Command, text: &str) -> i32 {
        match cmd {
            Command::Simple(sc) => self.run_simple(sc, text, true),
            Command::Compound(c, redirs) => {
                if let Compound::Subshell(_) = &**c {
                    return match self.spawn_pipeline(core::slice::from_ref(cmd), text, true) {
                        Some(id) => self.wait_fg(id),
                        None => 1,
                    };
                }
                let saved = match self.apply_redirs(redirs, true) {
                    Ok(s) => s,
                    Err(()) => return 1,
                };
                let st = self.run_compound(c);
                self.restore_fds(saved);
                st
            }
            Command::FuncDef(name, body) => {
                self.funcs.insert(name.clone(), body.clone());
                0
            }
        }
    }

    fn loop_flow(&mut self) -> bool {
        // true: leave the loop.
        match self.flow {
            Flow::Break(n) => {
                self.flow = if n > 1 { Flow::Break(n - 1) } else { Flow::Normal };
                true
            }
            Flow::Continue(n) if n > 1 => {
                self.flow = Flow::Continue(n - 1);
                true
            }
            Flow::Continue(_) => {
                self.flow = Flow::Normal;
                false
            }
            Flow::Return => true,
            Flow::Normal => self.stop(),
        }
    }

    fn cond(&mut self, l: &List) -> i32 {
        self.cond_depth += 1;
        let st = self.run_list(l);
        self.cond_depth -= 1;
        st
    }

    fn run_compound(&mut self, c: &Compound) -> i32 {
        match c {
            Compound::Subshell(l) | Compound::Group(l) => self.run_list(l),
            Compound::If { arms, otherwise } => {
                for (cond, body) in arms {
                    let c = self.cond(cond);
                    if self.stop() {
                        return c;
                    }
                    if c == 0 {
                        return self.run_list(body);
                    }
                }
                match otherwise {
                    Some(e) => self.run_list(e),
                    None => 0,
                }
            }
            Compound::Loop { until, cond, body } => {
                self.loop_depth += 1;
                let mut st = 0;
                loop {
                    let c = self.cond(cond);
                    if self.flow != Flow::Normal {
                        if self.loop_flow() {
                            break;
                        }
                        continue;
                    }
                    if self.stop() || (c == 0) == *until {
                        break;
                    }
                    st = self.run_list(body);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loop_depth -= 1;
                st
            }
            Compound::For { var, words, body } => {
                let items = match words {
                    Some(ws) => match expand::fields(self, ws) {
                        Ok(v) => v,
                        Err(m) => return self.fatal(&m, 1),
                    },
                    None => self.params.clone(),
                };
                self.loop_depth += 1;
                let mut st = 0;
                for it in items {
                    self.vars.set(var, &it);
                    st = self.run_list(body);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loop_depth -= 1;
                st
            }
            Compound::Case { word, arms } => {
                let w = match expand::string(self, word) {
                    Ok(w) => w,
                    Err(m) => return self.fatal(&m, 1),
                };
                for (pats, body) in arms {
                    for p in pats {
                        let pat = match expand::pattern(self, p) {
                            Ok(p) => p,
                            Err(m) => return self.fatal(&m, 1),
                        };
                        if crate::pattern::matches(&pat, &w) {
                            return self.run_list(body);
                        }
                    }
                }
                0
            }
        }
    }

    // ---- simple commands ----

    /// Run a simple command. `fork` is false in a child made for it,
    /// which an external command replaces.
    fn run_simple(&mut self, sc: &Simple, text: &str, fork: bool) -> i32 {
        self.cmdsub_status = None;
        let words = match expand::fields(self, &sc.words) {
            Ok(w) => w,
            Err(m) => return self.fatal(&m, 1),
        };
        let mut assigns = Vec::new();
        for (name, w) in &sc.assigns {
            match expand::string(self, w) {
                Ok(v) => assigns.push((name.clone(), v)),
                Err(m) => return self.fatal(&m, 1),
            }
        }
        if self.xtrace {
            let mut t = String::from("+");
            for (n, v) in &assigns {
                t.push_str(&format!(" {n}={}", quote(v)));
            }
            for w in &words {
                t.push(' ');
                t.push_str(&quote(w));
            }
            eprintln!("{t}");
        }
        let Some(name) = words.first() else {
            for (n, v) in &assigns {
                self.vars.set(n, v);
            }
            let st = self.cmdsub_status.unwrap_or(0);
            return match self.apply_redirs(&sc.redirs, true) {
                Ok(saved) => {
                    self.restore_fds(saved);
                    st
                }
                Err(()) => 1,
            };
        };
        if name == "exec" {
            return self.exec_builtin(&words, &assigns, &sc.redirs);
        }
        if let Some((f, special)) = crate::builtins::lookup(name) {
            // A special builtin's assignments stay; others' are for the
            // command only.
            let old: Vec<_> = assigns.iter().map(|(n, _)| (n.clone(), self.vars.raw(n).cloned())).collect();
            for (n, v) in &assigns {
                self.vars.set(n, v);
            }
            let st = match self.apply_redirs(&sc.redirs, true) {
                Ok(saved) => {
                    let st = f(self, &words);
                    self.restore_fds(saved);
                    st
                }
                Err(()) if special => self.fail(1),
                Err(()) => 1,
            };
            if !special {
                for (n, v) in old {
                    self.vars.restore(&n, v);
                }
            }
            return st;
        }
        if let Some(body) = self.funcs.get(name).cloned() {
            let old: Vec<_> = assigns.iter().map(|(n, _)| (n.clone(), self.vars.raw(n).cloned())).collect();
            for (n, v) in &assigns {
                self.vars.set(n, v);
            }
            let st = match self.apply_redirs(&sc.redirs, true) {
                Ok(saved) => {
                    let st = self.call_function(name, &body, &words[1..]);
                    self.restore_fds(saved);
                    st
                }
                Err(()) => 1,
            };
            for (n, v) in old {
                self.vars.restore(&n, v);
            }
            return st;
        }
        let args = ExecArgs { argv: words.clone(), env: self.vars.environ(&assigns) };
        if !fork {
            if self.apply_redirs(&sc.redirs, false).is_err() {
                return 1;
            }
            let (st, m) = self.exec_search(&args);
            self.error(&m);
            return st;
        }
        let mut pgid = 0;
        match self.fork_child(&mut pgid, true, false) {
            Ok(0) => {
                if self.apply_redirs(&sc.redirs, false).is_err() {
                    rt::exit(1);
                }
                let (st, m) = self.exec_search(&args);
                self.error(&m);
                rt::exit(st);
            }
            Ok(pid) => {
                let text = if text.is_empty() { words.join(" ") } else { text.to_string() };
                let id = self.jobs.add(pgid, &[pid], &text);
                self.wait_fg(id)
            }
            Err(e) => {
                self.error(&format!("fork: {}", msg(e)));
                1
            }
        }
    }

    pub fn call_function(&mut self, name: &str, body: &Rc<Command>, args: &[String]) -> i32 {
        if self.call_depth >= MAX_CALL_DEPTH {
            self.error(&format!("{name}: calls nested too deeply"));
            return 2;
        }
        self.call_depth += 1;
        self.func_depth += 1;
        let saved = core::mem::replace(&mut self.params, args.to_vec());
        let st = self.run_command(body, "");
        self.params = saved;
        self.func_depth -= 1;
        self.call_depth -= 1;
        if self.flow == Flow::Return {
            self.flow = Flow::Normal;
            return self.status;
        }
        st
    }

    /// Search PATH and exec; returns only on failure, with the status
    /// and message to give ("NAME: not found", 127; other errors, 126).
    fn exec_search(&self, a: &ExecArgs) -> (i32, String) {
        let argv: Vec<&str> = a.argv.iter().map(|s| s.as_str()).collect();
        let env: Vec<&str> = a.env.iter().map(|s| s.as_str()).collect();
        let name = argv[0];
        let try_one = |path: &str| -> Errno {
            let e = rt::execve(path, &argv, &env);
            if e == Errno::ENOEXEC {
                // A script without "#!": run it with the shell.
                let mut sargv = vec!["sh", path];
                sargv.extend_from_slice(&argv[1..]);
                return match rt::execve("/bin/sh", &sargv, &env) {
                    Errno::ENOENT => Errno::ENOEXEC,
                    e => e,
                };
            }
            e
        };
        if name.contains('/') {
            return match try_one(name) {
                Errno::ENOENT | Errno::ENOTDIR => (127, format!("{name}: not found")),
                e => (126, format!("{name}: {}", msg(e))),
            };
        }
        let path = self.vars.get("PATH").unwrap_or(DEFAULT_PATH);
        let mut first: Option<Errno> = None;
        if !name.is_empty() {
            for dir in path.split(':') {
                let full = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
                match try_one(&full) {
                    Errno::ENOENT | Errno::ENOTDIR => {}
                    e => {
                        first.get_or_insert(e);
                    }
                }
            }
        }
        match first {
            Some(e) => (126, format!("{name}: {}", msg(e))),
            None => (127, format!("{name}: not found")),
        }
    }

    /// `exec [cmd args]`: with a command, replace the shell; with only
    /// redirections, make them the shell's own.
    fn exec_builtin(&mut self, words: &[String], assigns: &[(String, String)], redirs: &[Redir]) -> i32 {
        let mut words = &words[1..];
        if words.first().is_some_and(|w| w == "--") {
            words = &words[1..];
        }
        if words.is_empty() {
            for (n, v) in assigns {
                self.vars.set(n, v);
            }
            return match self.apply_redirs(redirs, false) {
                Ok(_) => 0,
                Err(()) => self.fail(1),
            };
        }
        if self.apply_redirs(redirs, false).is_err() {
            return self.fail(1);
        }
        let args = ExecArgs { argv: words.to_vec(), env: self.vars.environ(assigns) };
        for s in sig::JOB_SIGNALS {
            if !self.orig_ignored.contains(&s) {
                sig::set(s, Handler::Default);
            }
        }
        for &fd in &self.private_fds {
            let _ = rt::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        let (st, m) = self.exec_search(&args);
        self.error(&m);
        if !self.interactive {
            self.exit(st);
        }
        self.interactive_signals();
        st
    }

    // ---- redirections ----

    /// Apply `redirs` in order. With `save`, the descriptors they change
    /// are kept first (for [`Shell::restore_fds`]). On failure the error
    /// is printed and what was done is undone.
    pub fn apply_redirs(&mut self, redirs: &[Redir], save: bool) -> Result<Vec<(i32, i32)>, ()> {
        let mut saved: Vec<(i32, i32)> = Vec::new();
        for r in redirs {
            if let Err(m) = self.apply_one(r, save, &mut saved) {
                self.error(&m);
                self.restore_fds(saved);
                return Err(());
            }
        }
        Ok(saved)
    }

    fn apply_one(&mut self, r: &Redir, save: bool, saved: &mut Vec<(i32, i32)>) -> Result<(), String> {
        let target = if r.op == RedirOp::HereDoc {
            expand::string(self, &r.target)?
        } else {
            expand::redir_target(self, &r.target)?
        };
        if save && !saved.iter().any(|s| s.0 == r.fd) {
            let copy = match dup_high(r.fd) {
                Ok(c) => {
                    self.private_fds.push(c);
                    c
                }
                Err(Errno::EBADF) => -1,
                Err(e) => return Err(format!("{}: cannot save: {}", r.fd, msg(e))),
            };
            saved.push((r.fd, copy));
        }
        let flags = match r.op {
            RedirOp::In => O_RDONLY,
            RedirOp::Out => O_WRONLY | O_CREAT | O_TRUNC,
            RedirOp::Append => O_WRONLY | O_CREAT | O_APPEND,
            RedirOp::ReadWrite => O_RDWR | O_CREAT,
            RedirOp::DupIn | RedirOp::DupOut => {
                if target == "-" {
                    let _ = rt::close(r.fd);
                    return Ok(());
                }
                let Ok(from) = target.parse::<i32>() else {
                    return Err(format!("{target}: bad file descriptor"));
                };
                if from != r.fd {
                    rt::dup2(from, r.fd).map_err(|e| format!("{from}: {}", msg(e)))?;
                }
                return Ok(());
            }
            RedirOp::HereDoc => {
                let fd = self.heredoc_fd(&target)?;
                return self.move_fd(fd, r.fd);
            }
        };
        let fd = rt::open(&target, flags, 0o644).map_err(|e| format!("{target}: {}", msg(e)))?;
        self.move_fd(fd, r.fd)
    }

    fn move_fd(&self, fd: i32, to: i32) -> Result<(), String> {
        if fd != to {
            let r = rt::dup2(fd, to);
            let _ = rt::close(fd);
            r.map_err(|e| format!("{to}: {}", msg(e)))?;
        }
        Ok(())
    }

    /// A descriptor to read a here-document's text from.
    fn heredoc_fd(&mut self, text: &str) -> Result<i32, String> {
        let [r, w] = rt::pipe().map_err(|e| format!("pipe: {}", msg(e)))?;
        if text.len() <= HEREDOC_INLINE {
            let res = rt::io::write_all(&mut rt::io::Fd(w), text.as_bytes());
            let _ = rt::close(w);
            return match res {
                Ok(()) => Ok(r),
                Err(e) => {
                    let _ = rt::close(r);
                    Err(format!("here-document: {}", msg(e)))
                }
            };
        }
        match rt::fork() {
            Ok(0) => {
                let _ = rt::close(r);
                sig::set(SIGPIPE, Handler::Default);
                let ok = rt::io::write_all(&mut rt::io::Fd(w), text.as_bytes()).is_ok();
                rt::exit(if ok { 0 } else { 1 });
            }
            Ok(_) => {
                let _ = rt::close(w);
                Ok(r)
            }
            Err(e) => {
                let _ = rt::close(r);
                let _ = rt::close(w);
                Err(format!("fork: {}", msg(e)))
            }
        }
    }

    pub fn restore_fds(&mut self, saved: Vec<(i32, i32)>) {
        for (fd, copy) in saved.into_iter().rev() {
            if copy >= 0 {
                let _ = rt::dup2(copy, fd);
                let _ = rt::close(copy);
                self.private_fds.retain(|&p| p != copy);
            } else {
                let _ = rt::close(fd);
            }
        }
    }

    // ---- waiting ----

    /// Record what wait4 said about `pid`.
    fn record(&mut self, pid: i32, raw: i32, ru: &Rusage) {
        self.jobs.update(pid, raw, cpu_us(ru));
    }

    /// Wait for foreground job `id` to finish or stop; returns its status.
    pub fn wait_fg(&mut self, id: usize) -> i32 {
        let Some(job) = self.jobs.get(id) else { return 0 };
        let pgid = job.pgid;
        if self.jc {
            let _ = rt::tcsetpgrp(self.ttyfd, pgid);
        }
        let opts = if self.jc { WUNTRACED } else { 0 };
        while let Some(job) = self.jobs.get(id) {
            if job.is_done() || job.is_stopped() {
                break;
            }
            let mut raw = 0;
            let mut ru = Rusage::default();
            match rt::wait4(WAIT_ANY, Some(&mut raw), opts, Some(&mut ru)) {
                Ok(pid) if pid > 0 => self.record(pid, raw, &ru),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    // ECHILD: they are gone without a status.
                    self.error(&format!("wait: {}", msg(e)));
                    if let Some(j) = self.jobs.get_mut(id) {
                        for p in j.procs.iter_mut().filter(|p| p.state == jobs::PState::Running) {
                            p.state = jobs::PState::Done(sys::wait::w_exitcode(127, 0));
                        }
                    }
                    break;
                }
            }
        }
        if self.jc {
            let _ = rt::tcsetpgrp(self.ttyfd, self.shell_pgid);
        }
        let Some(job) = self.jobs.get(id) else { return 0 };
        let (cu, cs) = job.cpu;
        self.cpu_us.0 += cu;
        self.cpu_us.1 += cs;
        if job.is_stopped() {
            if self.jc {
                let tm = rt::tcgetattr(self.ttyfd).ok();
                if let Some(t) = &self.tmodes {
                    let _ = rt::tcsetattr(self.ttyfd, t);
                }
                let j = self.jobs.get_mut(id).expect("job");
                j.tmodes = tm;
                j.notified = true;
                j.cpu = (0, 0);
            }
            self.jobs.touch(id);
            let j = self.jobs.get(id).expect("job");
            // The terminal echoed "^Z" and a newline already.
            eprintln!("{}", jobs::line(id, '+', "Stopped", &j.text));
            return j.status();
        }
        if self.jc
            && let Some(t) = &self.tmodes
        {
            let _ = rt::tcsetattr(self.ttyfd, t);
        }
        let st = job.status();
        if let Some(jobs::PState::Done(raw)) = job.procs.last().map(|p| p.state)
            && sys::wait::wifsignaled(raw)
        {
            let s = sys::wait::wtermsig(raw) as u32;
            if s == SIGINT {
                // The terminal echoed "^C" and a newline. ^C ends the
                // whole command line, as if it had come to the shell too.
                if self.interactive {
                    sig::set_interrupted(true);
                }
            } else if s != SIGPIPE {
                let core = if sys::wait::wcoredump(raw) { " (core dumped)" } else { "" };
                eprintln!("{}{core}", sig::describe(s));
            }
        }
        self.jobs.remove(id);
        st
    }

    /// One blocking wait4 for any child, recorded. ECHILD means the
    /// processes the table thinks run are gone: they count as done.
    pub fn wait_once(&mut self) -> Result<(), Errno> {
        let mut raw = 0;
        let mut ru = Rusage::default();
        // A job continued by someone else's SIGCONT counts as running again.
        let opts = if self.jc { WUNTRACED | WCONTINUED } else { 0 };
        match rt::wait4(WAIT_ANY, Some(&mut raw), opts, Some(&mut ru)) {
            Ok(pid) if pid > 0 => {
                self.record(pid, raw, &ru);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(Errno::ECHILD) => {
                for j in &mut self.jobs.list {
                    for p in j.procs.iter_mut().filter(|p| p.state == jobs::PState::Running) {
                        p.state = jobs::PState::Done(sys::wait::w_exitcode(127, 0));
                    }
                }
                Err(Errno::ECHILD)
            }
            Err(e) => Err(e),
        }
    }

    /// Collect the status of every child that has changed, without
    /// blocking. `stopped`: ask about stopped ones too.
    pub fn reap(&mut self, stopped: bool) {
        let opts = WNOHANG | if stopped && self.jc { WUNTRACED | WCONTINUED } else { 0 };
        loop {
            let mut raw = 0;
            let mut ru = Rusage::default();
            match rt::wait4(WAIT_ANY, Some(&mut raw), opts, Some(&mut ru)) {
                Ok(pid) if pid > 0 => self.record(pid, raw, &ru),
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
        if !self.interactive {
            // Keep the statuses for `wait`, but not without bound.
            let done: Vec<usize> = self.jobs.list.iter().filter(|j| j.is_done()).map(|j| j.id).collect();
            if done.len() > 100 {
                for id in &done[..done.len() - 100] {
                    self.jobs.remove(*id);
                }
            }
        }
    }

    /// Before a prompt: report jobs that finished or stopped.
    pub fn reap_and_notify(&mut self) {
        self.reap(true);
        let mut gone = Vec::new();
        for j in &mut self.jobs.list {
            if j.is_done() {
                eprintln!("{}", jobs::line(j.id, ' ', &j.state_text(), &j.text));
                gone.push(j.id);
            } else if j.is_stopped() && !j.notified {
                j.notified = true;
                eprintln!("{}", jobs::line(j.id, '+', "Stopped", &j.text));
            }
        }
        for id in gone {
            self.jobs.remove(id);
        }
    }

    /// Continue job `id` (SIGCONT to its group), in the foreground or
    /// the background.
    pub fn continue_job(&mut self, id: usize, fg: bool) -> i32 {
        let Some(j) = self.jobs.get_mut(id) else { return 1 };
        for p in j.procs.iter_mut() {
            if let jobs::PState::Stopped(_) = p.state {
                p.state = jobs::PState::Running;
            }
        }
        j.notified = false;
        let (pgid, tm) = (j.pgid, j.tmodes.take());
        if fg {
            let _ = rt::tcsetpgrp(self.ttyfd, pgid);
            if let Some(t) = tm {
                let _ = rt::tcsetattr(self.ttyfd, &t);
            }
        }
        if let Err(e) = rt::kill(-pgid, SIGCONT) {
            self.error(&format!("{}: {}", if fg { "fg" } else { "bg" }, msg(e)));
        }
        if fg { self.wait_fg(id) } else { 0 }
    }

    // ---- command substitution ----

    fn command_output(&mut self, list: &List) -> Result<String, String> {
        let [r, w] = rt::pipe().map_err(|e| format!("pipe: {}", msg(e)))?;
        let pid = match rt::fork() {
            Ok(0) => {
                let _ = rt::close(r);
                if w != 1 {
                    let _ = rt::dup2(w, 1);
                    let _ = rt::close(w);
                }
                self.enter_child(false);
                let st = self.run_list(list);
                rt::exit(st);
            }
            Ok(pid) => pid,
            Err(e) => {
                let _ = rt::close(r);
                let _ = rt::close(w);
                return Err(format!("fork: {}", msg(e)));
            }
        };
        let _ = rt::close(w);
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match rt::read(r, &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        let _ = rt::close(r);
        let mut raw = 0;
        let mut ru = Rusage::default();
        loop {
            match rt::wait4(pid, Some(&mut raw), 0, Some(&mut ru)) {
                Err(Errno::EINTR) => {}
                Ok(_) => {
                    self.cmdsub_status = Some(jobs::exit_code(raw));
                    let (u, s) = cpu_us(&ru);
                    self.cpu_us.0 += u;
                    self.cpu_us.1 += s;
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Pathname expansion against the real file system.
struct RealFs;

impl crate::pattern::Fs for RealFs {
    fn list(&mut self, dir: &str) -> Option<Vec<String>> {
        let fd = rt::open(dir, O_RDONLY | O_DIRECTORY, 0).ok()?;
        let mut names = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            match rt::getdents(fd, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for d in rt::fs::Dirents::new(&buf[..n]) {
                        let name = d.name_str();
                        if name != "." && name != ".." {
                            names.push(name.to_string());
                        }
                    }
                }
            }
        }
        let _ = rt::close(fd);
        Some(names)
    }

    fn exists(&mut self, path: &str) -> bool {
        rt::stat(path).is_ok()
    }
}

impl expand::Env for Shell {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(String::from)
    }

    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.vars.set(name, value);
        Ok(())
    }

    fn positional(&self) -> &[String] {
        &self.params
    }

    fn arg0(&self) -> String {
        self.arg0.clone()
    }

    fn special(&self, c: u8) -> Option<String> {
        match c {
            b'?' => Some(self.status.to_string()),
            b'$' => Some(self.pid.to_string()),
            b'!' => self.last_bg.map(|p| p.to_string()),
            b'-' => {
                let mut s = String::new();
                for (on, ch) in
                    [(self.errexit, 'e'), (self.noglob, 'f'), (self.interactive, 'i'), (self.xtrace, 'x')]
                {
                    if on {
                        s.push(ch);
                    }
                }
                Some(s)
            }
            _ => None,
        }
    }

    fn cmdsub(&mut self, list: &List) -> Result<String, String> {
        self.command_output(list)
    }

    fn glob(&mut self, pat: &str) -> Option<Vec<String>> {
        if self.noglob {
            return None;
        }
        Some(crate::pattern::glob(pat, &mut RealFs))
    }
}
