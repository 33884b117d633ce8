//! /bin/sh: the command interpreter.
//!
//!     sh [-eixf] [file [args...]]
//!     sh [-eixf] -c string [name [args...]]
//!     sh [-eixf] -s [args...]
//!
//! A POSIX-style shell: simple commands with PATH search, pipelines,
//! `;` `&&` `||` `&` lists, redirections (`<` `>` `>>` `<>` `N>&M`
//! `<<` here-documents), quoting, parameters and `${...}` forms, command
//! substitution, arithmetic, pathname expansion, `if`/`while`/`until`/
//! `for`/`case`, subshells, groups and functions, `time`, and job control
//! when interactive on a terminal that allows it.
//!
//! Commands come from a file, from `-c`, or from stdin. On a terminal
//! (or with `-i`) the shell is interactive: it prompts with PS1 ("# ")
//! on stderr, takes the terminal for each foreground job and back, and a
//! ^C at the prompt abandons the line.
//!
//! The modules: `parse` (text to the tree in `ast`), `expand` (words to
//! fields, with `pattern` and `arith`), `exec` (the tree run: processes,
//! redirections, jobs), `builtins`, `jobs` (the job table), `input`
//! (reading lines), `vars`, `sig` and `test`.
#![no_std]
#![cfg_attr(not(test), no_main)]

extern crate alloc;

mod arith;
mod ast;
mod builtins;
mod exec;
mod expand;
mod input;
mod jobs;
mod parse;
mod pattern;
mod sig;
mod test;
mod vars;

use alloc::vec::Vec;

use rt::prelude::*;
use sys::fcntl::O_RDONLY;

use exec::Shell;
use input::FdSource;

rt::entry!(main);

fn usage() -> i32 {
    eprintln!("usage: sh [-eifx] [-c string [name [args...]] | -s [args...] | file [args...]]");
    2
}

fn main(args: &Args) -> i32 {
    let argv: Vec<&'static str> = args.strs().collect();
    let env = args.env().filter_map(|kv| kv.to_str().ok());
    let mut sh = Shell::new(argv.first().copied().unwrap_or("sh"), env);
    let (mut command, mut force_i, mut stdin) = (false, false, false);
    let mut i = 1;
    while let Some(&a) = argv.get(i) {
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        let on = a.starts_with('-');
        if !(on || a.starts_with('+')) || a.len() < 2 {
            break;
        }
        for c in a[1..].chars() {
            match c {
                'c' if on => command = true,
                'i' if on => force_i = true,
                's' if on => stdin = true,
                'e' => sh.errexit = on,
                'x' => sh.xtrace = on,
                'f' => sh.noglob = on,
                _ => {
                    eprintln!("sh: {}{c}: unknown option", &a[..1]);
                    return usage();
                }
            }
        }
        i += 1;
    }
    let rest = |from: usize| argv.get(from..).unwrap_or(&[]).iter().map(|s| String::from(*s)).collect();

    if command {
        let Some(&text) = argv.get(i) else {
            eprintln!("sh: -c: option requires an argument");
            return usage();
        };
        if let Some(&name) = argv.get(i + 1) {
            sh.arg0 = name.into();
        }
        sh.params = rest(i + 2);
        if force_i {
            sh.setup_interactive();
        } else {
            sh.setup_noninteractive();
        }
        let st = sh.run_string(text);
        sh.exit(st);
    }

    if !stdin && let Some(&file) = argv.get(i) {
        sh.arg0 = file.into();
        sh.params = rest(i + 1);
        let fd = match rt::open(file, O_RDONLY, 0) {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("sh: {file}: {}", e.message());
                return if e == Errno::ENOENT { 127 } else { 126 };
            }
        };
        // Out of the way of the script's own redirections, and closed
        // in the commands it runs.
        let fd = match exec::dup_high(fd) {
            Ok(high) => {
                let _ = rt::close(fd);
                high
            }
            Err(_) => fd,
        };
        sh.private_fds.push(fd);
        sh.setup_noninteractive();
        sh.lineno = Some(1);
        let mut src = FdSource::new(fd, false, false);
        let st = sh.run_source(&mut src, true);
        sh.exit(st);
    }

    sh.params = rest(i);
    let tty = rt::isatty(0);
    if force_i || (tty && rt::isatty(2)) {
        sh.setup_interactive();
    } else {
        sh.setup_noninteractive();
        sh.lineno = Some(1);
    }
    let interactive = sh.interactive;
    if sh.arg0.starts_with('-') {
        // A login shell (init starts "-sh"): the profiles first.
        for f in ["/etc/profile", ".profile"] {
            let path = if f.starts_with('/') {
                String::from(f)
            } else {
                format!("{}/{f}", sh.vars.get("HOME").unwrap_or("/").trim_end_matches('/'))
            };
            if rt::stat(&path).is_ok() {
                sh.source_file(&path);
            }
        }
    }
    let mut src = FdSource::new(0, !tty, interactive);
    if sh.jc {
        src.reclaim = Some((sh.ttyfd, sh.shell_pgid));
    }
    let st = sh.run_source(&mut src, true);
    sh.exit(st)
}
