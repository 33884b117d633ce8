//! System-wide parameters (OpenBSD's <sys/param.h> and friends).

/// Clock interrupts per second on every CPU.
pub const HZ: u64 = 100;

/// Kernel identification, printed in the banner and later by uname(1).
pub const OSTYPE: &str = "oxbsd";
pub const OSRELEASE: &str = env!("CARGO_PKG_VERSION");
/// The host name (kern.hostname); oxbsd has no way to set another.
pub const HOSTNAME: &str = "oxbsd";

/// Bytes of a thread's kernel stack on both arches (OpenBSD's USPACE; the
/// guard page below it is extra). The stack cache reports its pages by it.
pub const USPACE: usize = 32 * 1024;
