//! __tfork(2): create a thread in the calling process.

/// `__tfork(&param, sizeof(param))`. The new thread starts where the
/// caller returns, with the stack pointer at `tf_stack`, its TCB (FS base /
/// TPIDR_EL0) at `tf_tcb` and a return value of 0; the caller gets the new
/// thread id, which is also stored at `*tf_tid` when that is not NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tfork {
    pub tf_tcb: usize,
    pub tf_tid: usize,
    pub tf_stack: usize,
}

/// Thread ids are offset from pids so the two cannot be confused.
pub const THREAD_PID_OFFSET: i32 = 100000;
