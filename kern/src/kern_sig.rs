//! Signals (filled in with the process model).

use uvm::pmap::VmProt;

use crate::machdep::TrapFrame;

pub fn userret(_tf: *mut TrapFrame) {}

pub fn user_pagefault(_tf: *mut TrapFrame, va: u64, _access: VmProt) {
    panic!("user page fault at {va:#x} before the process model exists")
}

pub fn trapsignal(_tf: *mut TrapFrame, sig: u32, addr: u64) {
    panic!("user trap (signal {sig}, address {addr:#x}) before the process model exists")
}

pub fn kernel_pagefault(_va: u64, _access: VmProt) -> bool {
    false
}
