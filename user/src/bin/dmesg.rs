//! /bin/dmesg: print the kernel message buffer (sysctl kern.msgbuf),
//! oldest message first.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::prelude::*;
use sys::sysctl::{CTL_KERN, KERN_MSGBUF};

rt::entry!(main);

fn main(args: &Args) -> i32 {
    if args.len() > 1 {
        return common::usage("dmesg");
    }
    let mib = [CTL_KERN, KERN_MSGBUF];
    // The buffer keeps filling while we read it: ask for its size, allow
    // for growth, and retry if it still did not fit.
    let mut text = Vec::new();
    for _ in 0..4 {
        let want = match rt::sysctl(&mib, None, None) {
            Ok(n) => n,
            Err(e) => {
                common::warn("kern.msgbuf", e);
                return 1;
            }
        };
        text = vec![0u8; want + want / 8 + 256];
        match rt::sysctl(&mib, Some(&mut text), None) {
            Ok(n) => {
                text.truncate(n);
                break;
            }
            Err(Errno::ENOMEM) => text.clear(),
            Err(e) => {
                common::warn("kern.msgbuf", e);
                return 1;
            }
        }
    }
    let out = tidy(&text);
    match rt::io::write_all(&mut rt::io::Fd(1), &out) {
        Ok(()) => 0,
        Err(e) => {
            common::warn("stdout", e);
            1
        }
    }
}

/// The buffer as it should be printed: without NULs (unused space in a
/// ring) and ending in a newline unless it is empty.
fn tidy(buf: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = buf.iter().copied().filter(|&b| b != 0).collect();
    if out.last().is_some_and(|&b| b != b'\n') {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidying() {
        assert_eq!(tidy(b"a\nb\0\0"), b"a\nb\n");
        assert_eq!(tidy(b"a\n"), b"a\n");
        assert_eq!(tidy(b"\0\0"), b"");
    }
}
