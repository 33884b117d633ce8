//! /bin/kill: send a signal to processes or process groups.
//!
//!     kill [-s signal_name] pid ...
//!     kill -signal_name pid ...
//!     kill -signal_number pid ...
//!     kill -l [exit_status]
//!
//! The default signal is TERM. Names are taken with or without "SIG", in
//! any case. A negative pid names a process group; after the signal (or
//! "--") every word is a pid, so `kill -s TERM -5` and `kill -- -5` signal
//! group 5. As OpenBSD's kill(1), a pid that cannot be signalled is
//! reported and the others are still tried; the status is then 1.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;
use rt::signal::{signum as signal_number, sigshortname as short_name};
use sys::signal::{NSIG, SIGTERM};

rt::entry!(main);

const USAGE: &str = "kill [-s signal_name] pid ...\n       kill -l [exit_status]\n       \
                     kill -signal_name pid ...\n       kill -signal_number pid ...";

fn main(args: &Args) -> i32 {
    let argv = common::operands(args);
    let cmd = match parse(&argv) {
        Ok(c) => c,
        Err(Bad::Usage) => return common::usage(USAGE),
        Err(Bad::Signal(name)) => {
            common::warnx(format_args!("unknown signal {name}; valid signals:"));
            eprint!("{}", signal_list());
            return 1;
        }
        Err(Bad::SignalNumber(s)) => {
            common::warnx(format_args!("illegal signal number: {s}"));
            return 1;
        }
    };
    match cmd {
        Cmd::List => {
            print!("{}", signal_list());
            0
        }
        Cmd::Name(sig) => {
            println!("{}", short_name(sig));
            0
        }
        Cmd::Send(sig, pids) => {
            let mut status = 0;
            for p in pids {
                let r = match p.parse::<i32>() {
                    Ok(pid) => rt::kill(pid, sig),
                    Err(_) => {
                        common::warnx(format_args!("illegal process id: {p}"));
                        status = 1;
                        continue;
                    }
                };
                if let Err(e) = r {
                    common::warn(p, e);
                    status = 1;
                }
            }
            status
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Cmd<'a> {
    /// kill -l
    List,
    /// kill -l exit_status: the signal's name.
    Name(u32),
    /// The signal and the pids (as given, checked when sent).
    Send(u32, &'a [&'a str]),
}

#[derive(Debug, PartialEq, Eq)]
enum Bad<'a> {
    Usage,
    Signal(&'a str),
    SignalNumber(&'a str),
}

/// Parse by hand rather than with getopt: "-9", "-KILL" and a negative
/// pid after the signal all look like options to it.
fn parse<'a>(argv: &'a [&'a str]) -> core::result::Result<Cmd<'a>, Bad<'a>> {
    let (sig, rest) = match argv {
        [] => return Err(Bad::Usage),
        ["-l"] => return Ok(Cmd::List),
        ["-l", status] => {
            let n = status.parse::<u32>().map_err(|_| Bad::SignalNumber(status))?;
            // An exit status above 128 means "killed by signal status - 128".
            let n = if n > 128 { n - 128 } else { n };
            return if (1..NSIG).contains(&n) { Ok(Cmd::Name(n)) } else { Err(Bad::SignalNumber(status)) };
        }
        ["-l", ..] => return Err(Bad::Usage),
        ["-s", name, rest @ ..] => (signal_number(name).ok_or(Bad::Signal(name))?, rest),
        ["-s"] => return Err(Bad::Usage),
        ["--", rest @ ..] => (SIGTERM, rest),
        [opt, rest @ ..] if opt.len() > 1 && opt.starts_with('-') => {
            let name = &opt[1..];
            let sig = match name.parse::<u32>() {
                Ok(n) if n < NSIG => n,
                Ok(_) => return Err(Bad::SignalNumber(name)),
                Err(_) => signal_number(name).ok_or(Bad::Signal(name))?,
            };
            (sig, rest)
        }
        rest => (SIGTERM, rest),
    };
    let pids = match rest {
        ["--", pids @ ..] => pids,
        pids => pids,
    };
    if pids.is_empty() {
        return Err(Bad::Usage);
    }
    Ok(Cmd::Send(sig, pids))
}

/// Every signal name, in two lines as OpenBSD prints them.
fn signal_list() -> String {
    let mut s = String::new();
    for n in 1..NSIG {
        s += short_name(n);
        s.push(if n == NSIG / 2 || n == NSIG - 1 { '\n' } else { ' ' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::signal::{SIGHUP, SIGINT, SIGKILL};

    #[test]
    fn signal_list_as_openbsd_prints_it() {
        let list = signal_list();
        assert_eq!(list.lines().count(), 2);
        assert!(list.starts_with("HUP INT QUIT "), "{list}");
        assert!(list.ends_with("USR1 USR2 THR\n"), "{list}");
        assert_eq!(list.split_whitespace().count(), NSIG as usize - 1);
    }

    #[test]
    fn command_lines() {
        assert_eq!(parse(&["5"]), Ok(Cmd::Send(SIGTERM, &["5"])));
        assert_eq!(parse(&["-9", "5", "6"]), Ok(Cmd::Send(SIGKILL, &["5", "6"])));
        assert_eq!(parse(&["-KILL", "5"]), Ok(Cmd::Send(SIGKILL, &["5"])));
        assert_eq!(parse(&["-s", "hup", "-5"]), Ok(Cmd::Send(SIGHUP, &["-5"])));
        assert_eq!(parse(&["-TERM", "--", "-5"]), Ok(Cmd::Send(SIGTERM, &["-5"])));
        assert_eq!(parse(&["-TERM", "-5"]), Ok(Cmd::Send(SIGTERM, &["-5"])));
        assert_eq!(parse(&["--", "-5"]), Ok(Cmd::Send(SIGTERM, &["-5"])));
        assert_eq!(parse(&["-0", "1"]), Ok(Cmd::Send(0, &["1"])));
        assert_eq!(parse(&["-l"]), Ok(Cmd::List));
        assert_eq!(parse(&["-l", "130"]), Ok(Cmd::Name(SIGINT)));
        assert_eq!(parse(&["-l", "9"]), Ok(Cmd::Name(SIGKILL)));
        assert_eq!(parse(&["-l", "0"]), Err(Bad::SignalNumber("0")));
        assert_eq!(parse(&["-l", "x"]), Err(Bad::SignalNumber("x")));
        assert_eq!(parse(&["-FOO", "1"]), Err(Bad::Signal("FOO")));
        assert_eq!(parse(&["-99", "1"]), Err(Bad::SignalNumber("99")));
        for bad in [&[][..], &["-9"], &["-s"], &["-s", "TERM"], &["--"], &["-l", "1", "2"]] {
            assert_eq!(parse(bad), Err(Bad::Usage), "{bad:?}");
        }
    }
}
