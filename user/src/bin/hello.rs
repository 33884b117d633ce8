//! /bin/hello: print the arguments and environment, exit 0.
#![no_std]
#![cfg_attr(not(test), no_main)]

use rt::prelude::*;

rt::entry!(main);

fn main(args: &Args) -> i32 {
    println!("hello: pid {}, parent {}, {} args", rt::getpid(), rt::getppid(), args.len());
    for (i, a) in args.strs().enumerate() {
        println!("argv[{i}] = {a:?}");
    }
    for (i, e) in args.env().enumerate() {
        println!("envp[{i}] = {:?}", e.to_str().unwrap_or("\u{fffd}"));
    }
    0
}
