//! open(2) flags (OpenBSD `<sys/fcntl.h>`).

pub const O_RDONLY: i32 = 0x0000;
pub const O_WRONLY: i32 = 0x0001;
pub const O_RDWR: i32 = 0x0002;
pub const O_ACCMODE: i32 = 0x0003;
pub const O_NONBLOCK: i32 = 0x0004;
pub const O_APPEND: i32 = 0x0008;
pub const O_CREAT: i32 = 0x0200;
pub const O_TRUNC: i32 = 0x0400;
pub const O_EXCL: i32 = 0x0800;
pub const O_CLOEXEC: i32 = 0x10000;
pub const O_DIRECTORY: i32 = 0x20000;

/// Path length limit including the terminating NUL (`PATH_MAX`).
pub const PATH_MAX: usize = 1024;

/// fcntl(2) commands.
pub const F_DUPFD: i32 = 0;
pub const F_GETFD: i32 = 1;
pub const F_SETFD: i32 = 2;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
pub const F_DUPFD_CLOEXEC: i32 = 10;
/// The descriptor flag F_GETFD/F_SETFD carry.
pub const FD_CLOEXEC: i32 = 1;
