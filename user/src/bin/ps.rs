//! /bin/ps [-Aaklx]: one line per process, sorted by pid:
//!
//!       PID  PPID STAT       TIME COMMAND
//!         1     0 S       0:00.01 init
//!
//! from sysctl {CTL_KERN, KERN_PROC, KERN_PROC_ALL}. TIME is user plus
//! system time. -l adds UID (always 0: oxbsd has no users) and PGID
//! after PID. Kernel processes are shown only with -k. Every process is
//! always listed, so OpenBSD's -a, -x and -A are accepted and change
//! nothing, as is the dashless BSD form (`ps lax`).
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;
use sys::sysctl::{
    CTL_KERN, KERN_PROC, KERN_PROC_ALL, KinfoProc, SDEAD, SIDL, SONPROC, SRUN, SSLEEP, SSTOP, SZOMB,
};

rt::entry!(main);

const USAGE: &str = "ps [-Aaklx]";

/// p_flag of a kernel thread's process (the kernel's PS_SYSTEM; sys does
/// not export the process flags).
const PS_SYSTEM: u32 = 0x0001_0000;

/// The last word of the MIB: how many records we take at most. Far above
/// the kernel's process limit, so it never cuts the list short.
const MAX_RECORDS: i32 = 1 << 16;

fn main(args: &Args) -> i32 {
    let mut argv = common::operands(args);
    // BSD style: "ps ax" means "ps -ax".
    let dashed;
    if let Some(first) = argv.first_mut()
        && !first.starts_with('-')
    {
        dashed = format!("-{first}");
        *first = &dashed;
    }
    let mut opts = common::Getopt::new(&argv, "Aaklx");
    let (mut kernel, mut long) = (false, false);
    for o in opts.by_ref() {
        match o {
            Ok(('k', _)) => kernel = true,
            Ok(('l', _)) => long = true,
            Ok(_) => {}
            Err(e) => return common::bad_option(e, USAGE),
        }
    }
    if !opts.operands().is_empty() {
        return common::usage(USAGE);
    }
    let mib = [CTL_KERN, KERN_PROC, KERN_PROC_ALL, 0, size_of::<KinfoProc>() as i32, MAX_RECORDS];
    let mut procs: Vec<KinfoProc> = match rt::sysctl::sysctl_vec(&mib) {
        Ok(v) => v,
        Err(e) => {
            common::warn("kern.proc", e);
            return 1;
        }
    };
    procs.retain(|p| kernel || p.p_flag & PS_SYSTEM == 0);
    procs.sort_by_key(|p| p.p_pid);
    let mut out = String::from(if long { LONG_HEADER } else { HEADER });
    out.push('\n');
    for p in &procs {
        out += &line(p, long);
        out.push('\n');
    }
    match rt::io::write_all(&mut rt::io::Fd(1), out.as_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            common::warn("stdout", e);
            1
        }
    }
}

const HEADER: &str = "  PID  PPID STAT       TIME COMMAND";
const LONG_HEADER: &str = "  UID   PID  PPID  PGID STAT       TIME COMMAND";

fn line(p: &KinfoProc, long: bool) -> String {
    let comm = p.p_comm.split(|&b| b == 0).next().unwrap_or(&[]);
    let comm = core::str::from_utf8(comm).ok().filter(|c| !c.is_empty()).unwrap_or("?");
    // A zombie's name in parentheses, as OpenBSD shows a process whose
    // arguments are gone.
    let comm = if matches!(p.p_stat, SZOMB | SDEAD) { format!("({comm})") } else { comm.to_string() };
    let time = cpu_time(p.p_uutime_us.saturating_add(p.p_ustime_us));
    let (pid, ppid, stat) = (p.p_pid, p.p_ppid, state(p.p_stat));
    if long {
        format!("{:5} {pid:5} {ppid:5} {:5} {stat:<4} {time:>10} {comm}", 0, p.p_pgid)
    } else {
        format!("{pid:5} {ppid:5} {stat:<4} {time:>10} {comm}")
    }
}

/// The STAT letter for p_stat.
fn state(stat: u8) -> char {
    match stat {
        SRUN | SONPROC => 'R',
        SSLEEP => 'S',
        SSTOP => 'T',
        SZOMB | SDEAD => 'Z',
        SIDL => 'I',
        _ => '?',
    }
}

/// Microseconds as M:SS.ss (minutes unbounded), as ps's TIME column.
fn cpu_time(us: u64) -> String {
    let secs = us / 1_000_000;
    format!("{}:{:02}.{:02}", secs / 60, secs % 60, us % 1_000_000 / 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(cpu_time(0), "0:00.00");
        assert_eq!(cpu_time(12_345), "0:00.01");
        assert_eq!(cpu_time(61_990_000), "1:01.99");
        assert_eq!(cpu_time(7_200_000_000), "120:00.00");
    }

    #[test]
    fn lines() {
        let mut p = KinfoProc {
            p_pid: 12,
            p_ppid: 1,
            p_pgid: 12,
            p_stat: SSLEEP,
            p_ustime_us: 250_000,
            ..Default::default()
        };
        p.p_comm[..2].copy_from_slice(b"sh");
        assert_eq!(line(&p, false), "   12     1 S       0:00.25 sh");
        assert_eq!(line(&p, true), "    0    12     1    12 S       0:00.25 sh");
        // The columns line up under the headers.
        for (l, head) in [(line(&p, false), HEADER), (line(&p, true), LONG_HEADER)] {
            assert_eq!(l.find(" S ").map(|i| i + 1), head.find("STAT"));
            assert_eq!(l.find(" sh").map(|i| i + 1), head.find("COMMAND"));
            assert_eq!(l.find(" 1 ").map(|i| i + 1), head.find("PPID").map(|i| i + 3));
        }
        p.p_stat = SZOMB;
        assert!(line(&p, false).ends_with(" Z       0:00.25 (sh)"), "{}", line(&p, false));
        p.p_comm = [0; sys::sysctl::KI_MAXCOMLEN];
        assert!(line(&p, false).ends_with(" (?)"));
        assert_eq!([SRUN, SONPROC, SSTOP, SZOMB, SIDL, 99].map(state), ['R', 'R', 'T', 'Z', 'I', '?']);
    }
}
