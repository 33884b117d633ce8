//! The builtin commands. Each takes the expanded words, its own name
//! first, and returns its status; `exec` is handled by the executor,
//! which has its redirections and assignments.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rt::Errno;
use rt::eprintln;
use sys::fcntl::{O_RDONLY, PATH_MAX};
use sys::signal::{NSIG, SIGCONT, SIGHUP, SIGTERM};
use sys::stat::{S_IFMT, S_IFREG};

use crate::exec::{DEFAULT_PATH, Flow, Shell};
use crate::input::StrSource;
use crate::jobs;
use crate::parse::is_name;
use crate::vars::quote;

pub type Builtin = fn(&mut Shell, &[String]) -> i32;

/// (name, function, special): the special builtins' assignments stay
/// and their errors end a script.
const TABLE: &[(&str, Builtin, bool)] = &[
    (".", b_dot, true),
    (":", b_true, true),
    ("[", b_test, false),
    ("bg", b_bg, false),
    ("break", b_break, true),
    ("cd", b_cd, false),
    ("continue", b_continue, true),
    ("echo", b_echo, false),
    ("eval", b_eval, true),
    ("exit", b_exit, true),
    ("export", b_export, true),
    ("false", b_false, false),
    ("fg", b_fg, false),
    ("jobs", b_jobs, false),
    ("kill", b_kill, false),
    ("pwd", b_pwd, false),
    ("read", b_read, false),
    ("return", b_return, true),
    ("set", b_set, true),
    ("shift", b_shift, true),
    ("source", b_dot, true),
    ("test", b_test, false),
    ("true", b_true, false),
    ("type", b_type, false),
    ("unset", b_unset, true),
    ("wait", b_wait, false),
];

pub fn lookup(name: &str) -> Option<(Builtin, bool)> {
    TABLE.iter().find(|(n, _, _)| *n == name).map(|&(_, f, s)| (f, s))
}

pub fn is_builtin(name: &str) -> bool {
    name == "exec" || lookup(name).is_some()
}

fn err(name: &str, m: &str) -> i32 {
    eprintln!("sh: {name}: {m}");
    1
}

fn out(s: &str) -> i32 {
    match rt::io::write_all(&mut rt::io::Fd(1), s.as_bytes()) {
        Ok(()) => 0,
        Err(e) => err("write", e.message()),
    }
}

fn b_true(_: &mut Shell, _: &[String]) -> i32 {
    0
}

fn b_false(_: &mut Shell, _: &[String]) -> i32 {
    1
}

/// As /bin/echo: `-n` first suppresses the newline; no escapes.
fn b_echo(_: &mut Shell, a: &[String]) -> i32 {
    let mut words = &a[1..];
    let newline = words.first().is_none_or(|w| w != "-n");
    if !newline {
        words = &words[1..];
    }
    let mut s = words.join(" ");
    if newline {
        s.push('\n');
    }
    out(&s)
}

fn b_cd(sh: &mut Shell, a: &[String]) -> i32 {
    let args: Vec<&str> = a[1..].iter().map(|s| s.as_str()).filter(|s| *s != "-L" && *s != "-P").collect();
    if args.len() > 1 {
        return err("cd", "too many arguments");
    }
    let mut print = false;
    let dir = match args.first() {
        None => sh.vars.get("HOME").unwrap_or("/").to_string(),
        Some(&"-") => match sh.vars.get("OLDPWD") {
            Some(d) => {
                print = true;
                d.to_string()
            }
            None => return err("cd", "OLDPWD not set"),
        },
        Some(d) => d.to_string(),
    };
    if let Err(e) = rt::chdir(&dir) {
        return err("cd", &format!("{dir}: {}", e.message()));
    }
    let old = sh.vars.get("PWD").map(String::from);
    let mut buf = [0u8; PATH_MAX];
    let new = match rt::getcwd(&mut buf) {
        Ok(c) => c.to_string(),
        Err(_) if dir.starts_with('/') => dir.clone(),
        Err(_) => format!("{}/{dir}", old.as_deref().unwrap_or("").trim_end_matches('/')),
    };
    if let Some(o) = old {
        sh.vars.set("OLDPWD", &o);
    }
    sh.vars.set("PWD", &new);
    if print {
        out(&format!("{new}\n"));
    }
    0
}

fn b_pwd(sh: &mut Shell, _: &[String]) -> i32 {
    let mut buf = [0u8; PATH_MAX];
    match rt::getcwd(&mut buf) {
        Ok(c) => out(&format!("{c}\n")),
        Err(e) => match sh.vars.get("PWD") {
            Some(p) => out(&format!("{p}\n")),
            None => err("pwd", e.message()),
        },
    }
}

fn parse_status(name: &str, s: &str) -> Result<i32, i32> {
    match s.parse::<i64>() {
        Ok(n) if n >= 0 => Ok((n & 0xff) as i32),
        _ => {
            eprintln!("sh: {name}: {s}: bad number");
            Err(2)
        }
    }
}

fn b_exit(sh: &mut Shell, a: &[String]) -> i32 {
    let st = match a.get(1) {
        None => sh.status,
        Some(s) => match parse_status("exit", s) {
            Ok(n) => n,
            Err(n) => n,
        },
    };
    if sh.interactive && sh.jc && !sh.warned_stopped && sh.jobs.list.iter().any(|j| j.is_stopped()) {
        sh.warned_stopped = true;
        return err("exit", "there are stopped jobs");
    }
    sh.exit(st)
}

fn b_export(sh: &mut Shell, a: &[String]) -> i32 {
    let args: Vec<&String> = a[1..].iter().filter(|s| *s != "-p").collect();
    if args.is_empty() {
        let mut s = String::new();
        for (k, v) in sh.vars.exported() {
            match v {
                Some(v) => s.push_str(&format!("export {k}={}\n", quote(v))),
                None => s.push_str(&format!("export {k}\n")),
            }
        }
        return out(&s);
    }
    let mut st = 0;
    for arg in args {
        let (n, v) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        if !is_name(n) {
            st = err("export", &format!("{arg}: bad variable name"));
            continue;
        }
        sh.vars.export(n, v);
    }
    st
}

fn b_unset(sh: &mut Shell, a: &[String]) -> i32 {
    let mut funcs = false;
    let mut st = 0;
    for arg in &a[1..] {
        match arg.as_str() {
            "-f" => funcs = true,
            "-v" => funcs = false,
            n if !is_name(n) => st = err("unset", &format!("{n}: bad variable name")),
            n if funcs => {
                sh.funcs.remove(n);
            }
            n => sh.vars.unset(n),
        }
    }
    st
}

fn b_set(sh: &mut Shell, a: &[String]) -> i32 {
    if a.len() == 1 {
        let mut s = String::new();
        for (k, v) in sh.vars.all() {
            s.push_str(&format!("{k}={}\n", quote(v)));
        }
        return out(&s);
    }
    let mut i = 1;
    while i < a.len() {
        let arg = &a[i];
        if arg == "--" {
            sh.params = a[i + 1..].to_vec();
            return 0;
        }
        let on = arg.starts_with('-');
        if !(on || arg.starts_with('+')) || arg.len() < 2 {
            break;
        }
        for c in arg[1..].chars() {
            match c {
                'e' => sh.errexit = on,
                'x' => sh.xtrace = on,
                'f' => sh.noglob = on,
                _ => {
                    eprintln!("sh: set: {}{c}: unknown option", &arg[..1]);
                    return 2;
                }
            }
        }
        i += 1;
    }
    if i < a.len() {
        sh.params = a[i..].to_vec();
    }
    0
}

fn b_shift(sh: &mut Shell, a: &[String]) -> i32 {
    let n = match a.get(1).map(|s| s.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return err("shift", &format!("{}: bad number", a[1])),
    };
    if n > sh.params.len() {
        return err("shift", &format!("{n}: shift count out of range"));
    }
    sh.params.drain(..n);
    0
}

fn loop_count(name: &str, a: &[String]) -> Result<usize, i32> {
    match a.get(1).map(|s| s.parse::<usize>()) {
        None => Ok(1),
        Some(Ok(n)) if n >= 1 => Ok(n),
        _ => Err(err(name, &format!("{}: bad number", a[1]))),
    }
}

fn b_break(sh: &mut Shell, a: &[String]) -> i32 {
    let n = match loop_count("break", a) {
        Ok(n) => n,
        Err(st) => return st,
    };
    if sh.loop_depth > 0 {
        sh.flow = Flow::Break(n.min(sh.loop_depth));
    }
    0
}

fn b_continue(sh: &mut Shell, a: &[String]) -> i32 {
    let n = match loop_count("continue", a) {
        Ok(n) => n,
        Err(st) => return st,
    };
    if sh.loop_depth > 0 {
        sh.flow = Flow::Continue(n.min(sh.loop_depth));
    }
    0
}

fn b_return(sh: &mut Shell, a: &[String]) -> i32 {
    let st = match a.get(1) {
        None => sh.status,
        Some(s) => match parse_status("return", s) {
            Ok(n) => n,
            Err(n) => return n,
        },
    };
    if sh.call_depth == 0 {
        return err("return", "not in a function or sourced file");
    }
    sh.status = st;
    sh.flow = Flow::Return;
    st
}

fn b_eval(sh: &mut Shell, a: &[String]) -> i32 {
    let text = a[1..].join(" ");
    if sh.call_depth >= 64 {
        return err("eval", "nested too deeply");
    }
    sh.call_depth += 1;
    let saved = sh.lineno.take();
    let st = sh.run_source(&mut StrSource::new(&text), false);
    sh.lineno = saved;
    sh.call_depth -= 1;
    st
}

fn read_file(path: &str) -> Result<String, Errno> {
    let fd = rt::open(path, O_RDONLY, 0)?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let r = loop {
        match rt::read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => break Err(e),
        }
    };
    let _ = rt::close(fd);
    r.map(|()| String::from_utf8_lossy(&data).into_owned())
}

fn is_file(path: &str) -> bool {
    rt::stat(path).is_ok_and(|s| s.st_mode & S_IFMT == S_IFREG)
}

/// `NAME` along PATH, as a regular file.
fn search_path(sh: &Shell, name: &str) -> Option<String> {
    let path = sh.vars.get("PATH").unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| if d.is_empty() { name.to_string() } else { format!("{d}/{name}") })
        .find(|p| is_file(p))
}

impl Shell {
    /// Run the commands in file `path` in this shell (`.`, profiles).
    pub fn source_file(&mut self, path: &str) -> i32 {
        let text = match read_file(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(&format!("{path}: {}", e.message()));
                return 1;
            }
        };
        let saved_line = self.lineno.take();
        let st = self.run_source(&mut StrSource::new(&text), false);
        self.lineno = saved_line;
        if self.flow == Flow::Return {
            self.flow = Flow::Normal;
        }
        st
    }
}

fn b_dot(sh: &mut Shell, a: &[String]) -> i32 {
    let Some(name) = a.get(1) else {
        eprintln!("sh: {}: filename argument required", a[0]);
        return 2;
    };
    let path = if name.contains('/') { name.clone() } else { search_path(sh, name).unwrap_or(name.clone()) };
    let text = match read_file(&path) {
        Ok(t) => t,
        Err(e) => {
            let m = format!("{}: {name}: {}", a[0], e.message());
            sh.error(&m);
            if !sh.interactive {
                sh.exit(1);
            }
            return 1;
        }
    };
    if sh.call_depth >= 64 {
        return err(&a[0], "nested too deeply");
    }
    sh.call_depth += 1;
    let saved_params = (a.len() > 2).then(|| core::mem::replace(&mut sh.params, a[2..].to_vec()));
    let saved_line = sh.lineno.take();
    let st = sh.run_source(&mut StrSource::new(&text), false);
    sh.lineno = saved_line;
    if let Some(p) = saved_params {
        sh.params = p;
    }
    sh.call_depth -= 1;
    if sh.flow == Flow::Return {
        sh.flow = Flow::Normal;
    }
    st
}

/// POSIX read: split a line on IFS into `n` fields, the last taking the
/// rest of the line. Characters marked escaped never split.
pub fn read_split(chars: &[(char, bool)], ifs: &str, n: usize) -> Vec<String> {
    let white = |&(c, esc): &(char, bool)| !esc && ifs.contains(c) && matches!(c, ' ' | '\t' | '\n');
    let delim = |&(c, esc): &(char, bool)| !esc && ifs.contains(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() && white(&chars[i]) {
        i += 1;
    }
    while out.len() + 1 < n && i < chars.len() {
        let mut f = String::new();
        while i < chars.len() && !delim(&chars[i]) {
            f.push(chars[i].0);
            i += 1;
        }
        out.push(f);
        while i < chars.len() && white(&chars[i]) {
            i += 1;
        }
        if i < chars.len() && delim(&chars[i]) {
            i += 1;
            while i < chars.len() && white(&chars[i]) {
                i += 1;
            }
        }
    }
    if out.len() < n {
        let mut end = chars.len();
        while end > i && white(&chars[end - 1]) {
            end -= 1;
        }
        out.push(chars[i..end].iter().map(|c| c.0).collect());
    }
    while out.len() < n {
        out.push(String::new());
    }
    out
}

fn b_read(sh: &mut Shell, a: &[String]) -> i32 {
    let mut raw = false;
    let mut names = Vec::new();
    for arg in &a[1..] {
        if arg == "-r" && names.is_empty() {
            raw = true;
        } else if !is_name(arg) {
            return err("read", &format!("{arg}: bad variable name"));
        } else {
            names.push(arg.clone());
        }
    }
    if names.is_empty() {
        names.push("REPLY".into());
    }
    // One byte at a time: the rest of the input belongs to whoever
    // reads it next.
    let mut bytes = Vec::new();
    let mut esc_at = Vec::new();
    let mut escaped = false;
    let mut got_newline = false;
    loop {
        let mut b = [0u8; 1];
        match rt::read(0, &mut b) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::EINTR) if sh.interactive && crate::sig::interrupted() => return 130,
            Err(Errno::EINTR) => continue,
            Err(e) => return err("read", e.message()),
        }
        let c = b[0];
        if escaped {
            escaped = false;
            if c == b'\n' {
                continue;
            }
            esc_at.push(bytes.len());
            bytes.push(c);
            continue;
        }
        if c == b'\\' && !raw {
            escaped = true;
            continue;
        }
        if c == b'\n' {
            got_newline = true;
            break;
        }
        bytes.push(c);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // Map escape marks from byte offsets onto characters.
    let mut chars = Vec::new();
    for (off, c) in text.char_indices() {
        chars.push((c, esc_at.contains(&off)));
    }
    let ifs = sh.vars.get("IFS").unwrap_or(" \t\n").to_string();
    for (n, v) in names.iter().zip(read_split(&chars, &ifs, names.len())) {
        sh.vars.set(n, &v);
    }
    if got_newline { 0 } else { 1 }
}

struct RealFiles;

impl crate::test::Files for RealFiles {
    fn stat(&self, path: &str) -> Option<(u32, i64)> {
        rt::stat(path).ok().map(|s| (s.st_mode, s.st_size))
    }
    fn isatty(&self, fd: i32) -> bool {
        rt::isatty(fd)
    }
}

fn b_test(_: &mut Shell, a: &[String]) -> i32 {
    let args: Vec<&str> = a[1..].iter().map(|s| s.as_str()).collect();
    match crate::test::run(&a[0], &args, &RealFiles) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(m) => {
            eprintln!("sh: {}: {m}", a[0]);
            2
        }
    }
}

fn b_type(sh: &mut Shell, a: &[String]) -> i32 {
    const RESERVED: &[&str] = &[
        "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{", "}",
        "!", "in", "time",
    ];
    let mut st = 0;
    for name in &a[1..] {
        let what = if RESERVED.contains(&name.as_str()) {
            "a reserved word".to_string()
        } else if sh.funcs.contains_key(name) {
            "a function".to_string()
        } else if is_builtin(name) {
            "a shell builtin".to_string()
        } else if name.contains('/') && rt::stat(name).is_ok() {
            name.clone()
        } else if let Some(p) = search_path(sh, name).filter(|_| !name.contains('/')) {
            p
        } else {
            st = err("type", &format!("{name}: not found"));
            continue;
        };
        if out(&format!("{name} is {what}\n")) != 0 {
            return 1;
        }
    }
    st
}

// ---- jobs ----

fn b_jobs(sh: &mut Shell, a: &[String]) -> i32 {
    let (mut long, mut pids) = (false, false);
    for arg in &a[1..] {
        match arg.as_str() {
            "-l" => long = true,
            "-p" => pids = true,
            _ => return err("jobs", &format!("{arg}: bad option")),
        }
    }
    sh.reap(true);
    let mut s = String::new();
    let mut gone = Vec::new();
    let mut ids: Vec<usize> = sh.jobs.list.iter().map(|j| j.id).collect();
    ids.sort();
    for id in ids {
        let mark = sh.jobs.mark(id);
        let Some(j) = sh.jobs.get_mut(id) else { continue };
        if pids {
            s.push_str(&format!("{}\n", j.pgid));
        } else if long {
            let pid = j.procs.first().map_or(0, |p| p.pid);
            s.push_str(&format!("[{id}]{mark} {pid} {}  {}\n", j.state_text(), j.text));
        } else {
            s.push_str(&jobs::line(id, mark, &j.state_text(), &j.text));
            s.push('\n');
        }
        j.notified = true;
        if j.is_done() {
            gone.push(id);
        }
    }
    for id in gone {
        sh.jobs.remove(id);
    }
    out(&s)
}

fn b_fg(sh: &mut Shell, a: &[String]) -> i32 {
    if !sh.jc {
        return err("fg", "no job control");
    }
    let id = match sh.jobs.resolve(a.get(1).map(|s| s.as_str())) {
        Ok(id) => id,
        Err(m) => return err("fg", &m),
    };
    let text = sh.jobs.get(id).map(|j| j.text.clone()).unwrap_or_default();
    out(&format!("{text}\n"));
    sh.jobs.touch(id);
    sh.continue_job(id, true)
}

fn b_bg(sh: &mut Shell, a: &[String]) -> i32 {
    if !sh.jc {
        return err("bg", "no job control");
    }
    let specs: Vec<Option<&str>> =
        if a.len() > 1 { a[1..].iter().map(|s| Some(s.as_str())).collect() } else { alloc::vec![None] };
    let mut st = 0;
    for spec in specs {
        let id = match sh.jobs.resolve(spec) {
            Ok(id) => id,
            Err(m) => {
                st = err("bg", &m);
                continue;
            }
        };
        let Some(j) = sh.jobs.get(id) else { continue };
        if !j.is_stopped() {
            st = err("bg", &format!("job {id} already in background"));
            continue;
        }
        out(&format!("[{id}]{} {} &\n", sh.jobs.mark(id), j.text));
        sh.continue_job(id, false);
    }
    st
}

fn b_wait(sh: &mut Shell, a: &[String]) -> i32 {
    if a.len() == 1 {
        while sh.jobs.list.iter().any(|j| j.is_running()) {
            match sh.wait_once() {
                Ok(()) => {}
                Err(Errno::EINTR) if sh.interactive && crate::sig::interrupted() => return 130,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        let done: Vec<usize> = sh.jobs.list.iter().filter(|j| j.is_done()).map(|j| j.id).collect();
        for id in done {
            sh.jobs.remove(id);
        }
        return 0;
    }
    let mut st = 0;
    for arg in &a[1..] {
        let (id, pid) = if arg.starts_with('%') {
            match sh.jobs.resolve(Some(arg)) {
                Ok(id) => (id, None),
                Err(m) => {
                    st = 127;
                    err("wait", &m);
                    continue;
                }
            }
        } else {
            let Ok(pid) = arg.parse::<i32>() else {
                st = 2;
                err("wait", &format!("{arg}: bad pid"));
                continue;
            };
            match sh.jobs.by_pid(pid) {
                Some(id) => (id, Some(pid)),
                None => {
                    st = 127;
                    err("wait", &format!("pid {pid} is not a child of this shell"));
                    continue;
                }
            }
        };
        let finished = |sh: &Shell| -> Option<i32> {
            let j = sh.jobs.get(id)?;
            match pid {
                Some(p) => match j.procs.iter().find(|x| x.pid == p)?.state {
                    jobs::PState::Done(raw) => Some(jobs::exit_code(raw)),
                    jobs::PState::Stopped(s) => Some(128 + s as i32),
                    jobs::PState::Running => None,
                },
                None if j.is_running() => None,
                None => Some(j.status()),
            }
        };
        loop {
            if let Some(s) = finished(sh) {
                st = s;
                break;
            }
            match sh.wait_once() {
                Ok(()) => {}
                Err(Errno::EINTR) if sh.interactive && crate::sig::interrupted() => return 130,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    st = 127;
                    break;
                }
            }
        }
        if sh.jobs.get(id).is_some_and(|j| j.is_done()) {
            sh.jobs.remove(id);
        }
    }
    st
}

fn b_kill(sh: &mut Shell, a: &[String]) -> i32 {
    let mut sig = SIGTERM;
    let mut i = 1;
    if a.get(1).is_some_and(|s| s == "-l") {
        if let Some(n) = a.get(2) {
            let n: u32 = match n.parse() {
                Ok(n) if n > 128 => n - 128,
                Ok(n) => n,
                Err(_) => return err("kill", &format!("{n}: bad number")),
            };
            if n == 0 || n >= NSIG {
                return err("kill", &format!("{n}: unknown signal"));
            }
            return out(&format!("{}\n", crate::sig::short_name(n)));
        }
        let names: Vec<&str> = (1..NSIG).map(crate::sig::short_name).collect();
        return out(&format!("{}\n", names.join(" ")));
    }
    while let Some(arg) = a.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        if arg == "-s" {
            let Some(name) = a.get(i + 1) else { return err("kill", "-s: signal name expected") };
            match crate::sig::parse(name) {
                Some(s) => sig = s,
                None => return err("kill", &format!("{name}: unknown signal")),
            }
            i += 2;
            continue;
        }
        if let Some(name) = arg.strip_prefix('-')
            && !name.is_empty()
            && i == 1
        {
            match crate::sig::parse(name) {
                Some(s) => sig = s,
                None => return err("kill", &format!("{name}: unknown signal")),
            }
            i += 1;
            continue;
        }
        break;
    }
    if i >= a.len() {
        eprintln!("sh: kill: usage: kill [-s signal | -signal] pid | %job ...");
        return 2;
    }
    let mut st = 0;
    for t in &a[i..] {
        let r = if t.starts_with('%') {
            match sh.jobs.resolve(Some(t)) {
                Ok(id) => {
                    let j = sh.jobs.get(id).expect("resolved job");
                    let stopped = j.is_stopped();
                    let r = if sh.jc {
                        rt::kill(-j.pgid, sig)
                    } else {
                        // Every process, whichever fails.
                        let mut r = Ok(());
                        for p in &j.procs {
                            r = r.and(rt::kill(p.pid, sig));
                        }
                        r
                    };
                    let pgid = j.pgid;
                    // A stopped job only sees the signal once it runs.
                    if stopped && (sig == SIGTERM || sig == SIGHUP) && sh.jc {
                        let _ = rt::kill(-pgid, SIGCONT);
                        sh.jobs.continued(-pgid);
                    }
                    if sig == SIGCONT && r.is_ok() {
                        sh.jobs.continued(-pgid);
                    }
                    r
                }
                Err(m) => {
                    st = err("kill", &m);
                    continue;
                }
            }
        } else {
            match t.parse::<i32>() {
                Ok(pid) => {
                    let r = rt::kill(pid, sig);
                    if sig == SIGCONT && r.is_ok() {
                        sh.jobs.continued(pid);
                    }
                    r
                }
                Err(_) => {
                    st = err("kill", &format!("{t}: arguments must be process or job IDs"));
                    continue;
                }
            }
        };
        if let Err(e) = r {
            st = err("kill", &format!("{t}: {}", e.message()));
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str, ifs: &str, n: usize) -> Vec<String> {
        let chars: Vec<(char, bool)> = s.chars().map(|c| (c, false)).collect();
        read_split(&chars, ifs, n)
    }

    #[test]
    fn read_splitting() {
        let ws = " \t\n";
        assert_eq!(split("  a b  c  ", ws, 1), ["a b  c"]);
        assert_eq!(split("  a b  c  ", ws, 2), ["a", "b  c"]);
        assert_eq!(split("a b", ws, 3), ["a", "b", ""]);
        assert_eq!(split("", ws, 2), ["", ""]);
        assert_eq!(split("a:b::c", ":", 4), ["a", "b", "", "c"]);
        assert_eq!(split("a : b", " :", 2), ["a", "b"]);
        assert_eq!(split("a b", "", 2), ["a b", ""]);
        let esc = [('a', false), (' ', true), ('b', false), (' ', false), ('c', false)];
        assert_eq!(read_split(&esc, ws, 2), ["a b", "c"]);
    }

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for n in ["cd", "exit", "wait", "jobs", "fg", "bg", "export", "unset", "true", "false", ":", "kill"] {
            assert!(lookup(n).is_some(), "{n}");
        }
        assert!(is_builtin("exec") && !is_builtin("ls"));
    }
}
