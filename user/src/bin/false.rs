//! /bin/false: exit 1.
#![no_std]
#![cfg_attr(not(test), no_main)]

rt::entry!(main);

fn main(_args: &rt::Args) -> i32 {
    1
}
