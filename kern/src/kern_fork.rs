//! fork1 and friends (filled in with the process model).

/// A forked thread's first MI code before it returns to user mode.
pub fn child_return() {}
