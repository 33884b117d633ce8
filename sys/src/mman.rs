//! mmap(2) and mprotect(2) (OpenBSD `<sys/mman.h>`).

pub const PROT_NONE: i32 = 0;
pub const PROT_READ: i32 = 1;
pub const PROT_WRITE: i32 = 2;
pub const PROT_EXEC: i32 = 4;

pub const MAP_SHARED: i32 = 0x0001;
pub const MAP_PRIVATE: i32 = 0x0002;
pub const MAP_FIXED: i32 = 0x0010;
pub const MAP_ANON: i32 = 0x1000;
pub const MAP_STACK: i32 = 0x4000;

pub const MAP_FAILED: usize = usize::MAX;
