//! wait4(2) options and status encoding (OpenBSD `<sys/wait.h>`).

pub const WNOHANG: i32 = 1;
pub const WUNTRACED: i32 = 2;
pub const WCONTINUED: i32 = 8;

/// `pid` argument of wait4: any child.
pub const WAIT_ANY: i32 = -1;
/// `pid` argument of wait4: any child in the caller's process group.
pub const WAIT_MYPGRP: i32 = 0;

const WSTOPPED: i32 = 0o177;
const WCOREFLAG: i32 = 0o200;

pub const fn w_exitcode(ret: i32, sig: i32) -> i32 {
    (ret << 8) | sig
}
pub const fn w_stopcode(sig: i32) -> i32 {
    (sig << 8) | WSTOPPED
}
pub const fn w_coredump(sig: i32) -> i32 {
    sig | WCOREFLAG
}
/// Status of a continued process (WCONTINUED).
pub const W_CONTINUED: i32 = 0xffff;

pub const fn wstatus(x: i32) -> i32 {
    x & 0o177
}
pub const fn wifexited(x: i32) -> bool {
    wstatus(x) == 0
}
pub const fn wexitstatus(x: i32) -> i32 {
    (x >> 8) & 0xff
}
pub const fn wifsignaled(x: i32) -> bool {
    wstatus(x) != WSTOPPED && wstatus(x) != 0 && x != W_CONTINUED
}
pub const fn wtermsig(x: i32) -> i32 {
    wstatus(x)
}
pub const fn wcoredump(x: i32) -> bool {
    x & WCOREFLAG != 0
}
pub const fn wifstopped(x: i32) -> bool {
    wstatus(x) == WSTOPPED && x != W_CONTINUED
}
pub const fn wstopsig(x: i32) -> i32 {
    (x >> 8) & 0xff
}
pub const fn wifcontinued(x: i32) -> bool {
    x == W_CONTINUED
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn encodings_round_trip() {
        let e = w_exitcode(42, 0);
        assert!(wifexited(e) && wexitstatus(e) == 42 && !wifsignaled(e));
        let s = w_coredump(11);
        assert!(wifsignaled(s) && wtermsig(s) == 11 && wcoredump(s));
        let t = w_stopcode(17);
        assert!(wifstopped(t) && wstopsig(t) == 17 && !wifsignaled(t));
        assert!(wifcontinued(W_CONTINUED) && !wifstopped(W_CONTINUED) && !wifsignaled(W_CONTINUED));
    }
}
