//! Terminal ioctls and `struct termios` (OpenBSD `<sys/ttycom.h>`,
//! `<sys/termios.h>`), the subset the console tty honours.
//!
//! The request numbers encode direction and size as OpenBSD's `_IOR`/`_IOW`
//! do, so they equal OpenBSD's values.

const IOC_OUT: u32 = 0x4000_0000;
const IOC_IN: u32 = 0x8000_0000;

const fn ioc(dir: u32, group: u8, num: u8, len: usize) -> u32 {
    dir | ((len as u32 & 0x1fff) << 16) | ((group as u32) << 8) | num as u32
}

/// Get the foreground process group (`int`).
pub const TIOCGPGRP: u32 = ioc(IOC_OUT, b't', 119, 4);
/// Set the foreground process group (`int`).
pub const TIOCSPGRP: u32 = ioc(IOC_IN, b't', 118, 4);
/// Get the terminal's modes (`Termios`).
pub const TIOCGETA: u32 = ioc(IOC_OUT, b't', 19, core::mem::size_of::<Termios>());
/// Set the terminal's modes at once (`Termios`).
pub const TIOCSETA: u32 = ioc(IOC_IN, b't', 20, core::mem::size_of::<Termios>());

/// c_lflag bits the console honours.
pub const ECHO: u32 = 0x0000_0008;
pub const ISIG: u32 = 0x0000_0080;
pub const ICANON: u32 = 0x0000_0100;
/// c_oflag: map NL to CR-NL on output.
pub const OPOST: u32 = 0x0000_0001;
pub const ONLCR: u32 = 0x0000_0002;

pub const NCCS: usize = 20;

/// OpenBSD's `struct termios` layout (44 bytes). oxbsd reads `c_lflag`'s
/// ECHO, ICANON and ISIG; the other fields read back as the kernel keeps them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_cc: [u8; NCCS],
    pub c_ispeed: i32,
    pub c_ospeed: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openbsd_values() {
        assert_eq!(core::mem::size_of::<Termios>(), 44);
        assert_eq!(TIOCGPGRP, 0x4004_7477);
        assert_eq!(TIOCSPGRP, 0x8004_7476);
        assert_eq!(TIOCGETA, 0x402c_7413);
        assert_eq!(TIOCSETA, 0x802c_7414);
    }
}
