//! The system call table (filled in with the process model).

use crate::machdep::TrapFrame;

pub fn dispatch(_tf: *mut TrapFrame, _code: u64, _args: [u64; 6]) -> Result<(u64, u64), i32> {
    Err(sys::errno::ENOSYS)
}
