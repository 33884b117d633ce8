//! What /bin/regress and its helper /bin/regress-child agree on: the
//! helper's modes (argv[1]) and what each checks. Included by both
//! programs, so the two sides cannot drift apart; each uses only part of
//! it.
#![allow(dead_code)]

/// The helper's path in the ramdisk.
pub const HELPER: &str = "/bin/regress-child";

/// `regress-child args ...`: check argv and envp against the values the
/// parent derived from them (REGRESS_ARGC, REGRESS_SUM, REGRESS_A), then
/// exit with [`args_code`]; a failed check exits with one of the
/// `BAD_*` codes.
pub const MODE_ARGS: &str = "args";
/// `regress-child fds CLOEXEC KEEP`: fd CLOEXEC must be closed (fstat
/// EBADF) and fd KEEP open; exit 0, or a `BAD_*` code.
pub const MODE_FDS: &str = "fds";

pub const BAD_ARGC: i32 = 101;
pub const BAD_SUM: i32 = 102;
pub const BAD_ENV: i32 = 103;
pub const BAD_ARGV0: i32 = 104;
pub const BAD_USAGE: i32 = 105;
pub const BAD_CLOEXEC_OPEN: i32 = 106;
pub const BAD_KEEP_CLOSED: i32 = 107;

/// A checksum of the arguments after argv[0]: their bytes and lengths, so
/// a dropped, reordered-into-another-length or truncated argument shows.
pub fn arg_sum<'a>(args: impl Iterator<Item = &'a [u8]>) -> u32 {
    let mut sum = 0u32;
    for (i, a) in args.enumerate() {
        sum = sum.wrapping_mul(31).wrapping_add(a.len() as u32 + 1000 * i as u32);
        for &b in a {
            sum = sum.wrapping_mul(31).wrapping_add(b as u32);
        }
    }
    sum
}

/// The exit status of a successful `args` run: depends on argc and the
/// number of environment strings.
pub const fn args_code(argc: usize, envc: usize) -> i32 {
    ((argc * 16 + envc) & 0xff) as i32
}
