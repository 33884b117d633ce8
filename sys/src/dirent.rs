//! getdents(2) records (OpenBSD `<sys/dirent.h>`).

pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;

pub const MAXNAMLEN: usize = 255;

/// Fixed part of a record; `d_name` (NUL-terminated, `d_namlen` bytes
/// before the NUL) follows, and the record is padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DirentHeader {
    pub d_fileno: u64,
    pub d_off: i64,
    pub d_reclen: u16,
    pub d_type: u8,
    pub d_namlen: u8,
    pub d_padding: [u8; 4],
}

/// Size of the fixed part.
pub const DIRENT_HDR: usize = 24;

/// Length of a record holding a name of `namlen` bytes.
pub const fn dirent_reclen(namlen: usize) -> usize {
    (DIRENT_HDR + namlen + 1 + 7) & !7
}
