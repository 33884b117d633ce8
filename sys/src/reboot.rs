//! reboot(2) flags (OpenBSD <sys/reboot.h> values).

/// Reboot (no flags).
pub const RB_AUTOBOOT: i32 = 0;
/// Halt the machine instead of rebooting.
pub const RB_HALT: i32 = 0x0008;
/// With RB_HALT: power the machine off.
pub const RB_POWERDOWN: i32 = 0x1000;

/// Exit status the kernel reports to the hypervisor when it powers off after
/// a clean shutdown. A panic reports [`EXIT_PANIC`].
pub const EXIT_SUCCESS: u32 = 0;
/// Exit status reported to the hypervisor when the kernel panics.
pub const EXIT_PANIC: u32 = 1;

/// oxbsd: with RB_HALT, bits 24..31 of `howto` carry the status to report
/// to the hypervisor on power-off (OpenBSD's reboot(2) has none; the test
/// tools read it as the guest's exit status). Zero means success.
pub const RB_STATUS_SHIFT: u32 = 24;

/// `howto` for "power off and report `status`".
pub const fn rb_poweroff_status(status: u8) -> i32 {
    RB_HALT | RB_POWERDOWN | ((status as i32) << RB_STATUS_SHIFT)
}
