//! The scheduler (filled in with the process model).

/// First code a new thread runs after its first `cpu_switchto`.
pub fn proc_trampoline_mi() {}
