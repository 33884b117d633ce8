//! /bin/echo [-n] [string ...]: write the arguments separated by spaces,
//! then a newline unless -n comes first (as OpenBSD's echo: no other
//! options, no escapes).
#![no_std]
#![cfg_attr(not(test), no_main)]

use rt::prelude::*;

rt::entry!(main);

fn main(args: &Args) -> i32 {
    let mut words = args.iter().skip(1).map(|a| a.to_bytes()).peekable();
    let newline = words.next_if(|w| *w == b"-n").is_none();
    let mut out: Vec<u8> = Vec::new();
    for (i, w) in words.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(w);
    }
    if newline {
        out.push(b'\n');
    }
    match rt::io::write_all(&mut rt::io::Fd(1), &out) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("echo: {e}");
            1
        }
    }
}
