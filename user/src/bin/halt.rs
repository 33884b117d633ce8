//! /sbin/halt [-pq], /sbin/reboot [-q], /sbin/poweroff [-q]: one program
//! under three names (the ramdisk builder installs it three times), which
//! tells them apart by argv[0].
//!
//! Without -q they ask init to shut the system down, as OpenBSD's init
//! understands it: SIGUSR1 halts, SIGUSR2 powers off (halt -p, poweroff),
//! SIGINT reboots. init then stops every process, this one included. With
//! -q, or if init cannot be signalled, they call reboot(2) themselves at
//! once. oxbsd under QEMU can only power off, whichever is asked for.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use core::time::Duration;

use rt::prelude::*;
use sys::reboot::{RB_HALT, RB_POWERDOWN};
use sys::signal::{SIGINT, SIGUSR1, SIGUSR2};

rt::entry!(main);

/// reboot(2)'s "reboot normally".
const RB_AUTOBOOT: i32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Halt,
    PowerOff,
    Reboot,
}

impl How {
    fn from_name(name: &str) -> How {
        match name {
            "reboot" => How::Reboot,
            "poweroff" => How::PowerOff,
            _ => How::Halt,
        }
    }

    /// The signal that asks init for this.
    fn signal(self) -> u32 {
        match self {
            How::Halt => SIGUSR1,
            How::PowerOff => SIGUSR2,
            How::Reboot => SIGINT,
        }
    }

    /// reboot(2)'s `howto` for this.
    fn howto(self) -> i32 {
        match self {
            How::Halt => RB_HALT,
            How::PowerOff => RB_HALT | RB_POWERDOWN,
            How::Reboot => RB_AUTOBOOT,
        }
    }
}

fn main(args: &Args) -> i32 {
    let name = args.progname();
    let mut how = How::from_name(name);
    let (spec, usage) = match how {
        How::Halt => ("pq", format!("{name} [-pq]")),
        _ => ("q", format!("{name} [-q]")),
    };
    let mut quick = false;
    let each = |c, _| match c {
        'p' => how = How::PowerOff,
        _ => quick = true,
    };
    match common::getopt(args, spec, &usage, each) {
        Ok(rest) if rest.is_empty() => {}
        Ok(_) => return common::usage(&usage),
        Err(status) => return status,
    }
    // As init itself (booted with init=/sbin/halt), signalling pid 1
    // would only signal ourselves.
    if !quick && rt::getpid() != 1 {
        match rt::kill(1, how.signal()) {
            // init will stop us along with everything else; until then
            // there is nothing left to do.
            Ok(()) => loop {
                let _ = rt::time::sleep(Duration::from_secs(60));
            },
            Err(e) => common::warnx(format_args!("cannot signal init: {}; calling reboot(2)", e.message())),
        }
    }
    let r = if how == How::PowerOff { rt::poweroff(0) } else { rt::reboot(how.howto()) };
    // reboot(2) returns only on failure.
    common::warn("reboot", r.err().unwrap_or(Errno::EINVAL));
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(How::from_name("halt"), How::Halt);
        assert_eq!(How::from_name("reboot").signal(), SIGINT);
        assert_eq!(How::from_name("poweroff").signal(), SIGUSR2);
        assert_eq!(How::Halt.signal(), SIGUSR1);
        assert_eq!(How::PowerOff.howto(), RB_HALT | RB_POWERDOWN);
    }
}
