//! /bin/env [-i] [name=value ...] [utility [argument ...]]: print the
//! environment, or run utility in it. Each name=value replaces or adds a
//! variable; -i (or a lone "-") starts from an empty environment.
//! utility is searched for in the PATH of the new environment (default
//! /bin:/sbin) unless it contains a '/'; a file that is not an executable
//! image is run with /bin/sh, as execvp(3) does. Exit status: 127 if
//! utility was not found, 126 if it could not be run.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;

rt::entry!(main);

const USAGE: &str = "env [-i] [name=value ...] [utility [argument ...]]";
const DEFAULT_PATH: &str = "/bin:/sbin";

fn main(args: &Args) -> i32 {
    let mut argv = common::operands(args);
    let mut clear = false;
    // "env -" is the old spelling of -i.
    if argv.first() == Some(&"-") {
        clear = true;
        argv.remove(0);
    }
    let mut opts = common::Getopt::new(&argv, "i");
    for o in opts.by_ref() {
        match o {
            Ok(_) => clear = true,
            Err(e) => return common::bad_option(e, USAGE),
        }
    }
    let mut rest = opts.operands();
    let mut env: Vec<String> =
        if clear { Vec::new() } else { args.env().map(|kv| kv.to_string_lossy().into_owned()).collect() };
    while let Some((&kv, tail)) = rest.split_first()
        && kv.contains('=')
    {
        set(&mut env, kv);
        rest = tail;
    }
    let Some(&utility) = rest.first() else {
        let mut out = String::new();
        for kv in &env {
            out += kv;
            out.push('\n');
        }
        return match rt::io::write_all(&mut rt::io::Fd(1), out.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                common::warn("stdout", e);
                1
            }
        };
    };
    let envp: Vec<&str> = env.iter().map(String::as_str).collect();
    let path = envp.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let e = exec_search(utility, rest, &envp, path);
    common::warn(utility, e);
    if e == Errno::ENOENT { 127 } else { 126 }
}

/// Put `kv` ("NAME=value") into `env`, replacing NAME's old value.
fn set(env: &mut Vec<String>, kv: &str) {
    let name = &kv[..=kv.find('=').unwrap_or(kv.len() - 1)];
    match env.iter_mut().find(|old| old.starts_with(name)) {
        Some(old) => *old = kv.to_string(),
        None => env.push(kv.to_string()),
    }
}

/// The paths to try for `utility` in the search path `path` (an empty
/// component means the current directory).
fn candidates(utility: &str, path: &str) -> Vec<String> {
    if utility.contains('/') {
        return vec![utility.to_string()];
    }
    path.split(':')
        .map(|dir| if dir.is_empty() { utility.to_string() } else { format!("{dir}/{utility}") })
        .collect()
}

/// execvp(3): try each candidate; returns the error that best says why
/// none could be run (EACCES and the like over ENOENT).
fn exec_search(utility: &str, argv: &[&str], envp: &[&str], path: &str) -> Errno {
    let mut err = Errno::ENOENT;
    for file in candidates(utility, path) {
        match rt::execve(&file, argv, envp) {
            Errno::ENOENT | Errno::ENOTDIR => {}
            Errno::ENOEXEC => {
                // Not an executable image: a script for the shell.
                let mut sh_argv = vec!["sh", file.as_str()];
                sh_argv.extend_from_slice(&argv[1..]);
                return rt::execve("/bin/sh", &sh_argv, envp);
            }
            e => err = e,
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_variables() {
        let mut env = vec!["HOME=/".to_string(), "PATH=/bin".to_string(), "PATHX=1".to_string()];
        set(&mut env, "PATH=/sbin");
        set(&mut env, "TERM=vt100");
        set(&mut env, "HOME=");
        assert_eq!(env, ["HOME=", "PATH=/sbin", "PATHX=1", "TERM=vt100"]);
    }

    #[test]
    fn search_path() {
        assert_eq!(candidates("ls", "/bin:/sbin"), ["/bin/ls", "/sbin/ls"]);
        assert_eq!(candidates("ls", "/bin::"), ["/bin/ls", "ls", "ls"]);
        assert_eq!(candidates("./ls", "/bin"), ["./ls"]);
        assert_eq!(candidates("/bin/ls", "/sbin"), ["/bin/ls"]);
    }
}
