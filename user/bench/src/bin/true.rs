//! /bench/true: exit 0. The fork+exec test runs this same image on both
//! kernels, so neither execs a smaller binary.
#![no_std]
#![cfg_attr(not(test), no_main)]

bench::entry!(main);

fn main(_args: &bench::Args) -> i32 {
    0
}
