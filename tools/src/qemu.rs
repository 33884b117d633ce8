//! QEMU command lines for each arch and machine, and what their exit
//! statuses mean.
//!
//! Exit status protocol (the kernel's `powerdown(status)`, 0 success,
//! 1 panic): the kernel reports `0x10 | status` so that a kernel status can
//! never be confused with QEMU's own failures (QEMU exits 1 on a bad option).
//! - amd64, isa-debug-exit at port 0xf4: QEMU exits `(v << 1) | 1`, so 33
//!   for success and 35 for a panic.
//! - arm64, semihosting SYS_EXIT_EXTENDED: QEMU exits `v`, so 16 and 17.
//!
//! A power-off from user space (reboot(2) with a status: init after
//! `script=`) hands the kernel a status of 0 to 255, but the exit code
//! keeps only the low byte of `v` (arm64) or its low 7 bits (amd64), and
//! status 1 looks like a panic. The kernel also prints
//! `powering off with status N` on the console first; [`decode_logged`]
//! takes N from there when the exit code is exactly what N gives.

use std::path::PathBuf;

use oxbsd_tests::{Arch, GuestExit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub arch: Arch,
    /// A machine short name (`Arch::machines`) or a raw `-M` value.
    pub machine: String,
    pub cpu: Option<String>,
    pub smp: u32,
    pub mem: String,
    pub accel: Accel,
    pub append: String,
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Serial console on this terminal with QEMU's monitor (Ctrl-A X quits),
    /// rather than captured output.
    pub interactive: bool,
    /// Wait for gdb on tcp::1234 before the first instruction.
    pub gdb: bool,
}

pub fn program(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "qemu-system-x86_64",
        Arch::Arm64 => "qemu-system-aarch64",
    }
}

/// The `-M` value for a machine name.
pub fn machine_arg(arch: Arch, m: &str) -> Result<String, String> {
    let known = arch.machines().join(", ");
    Ok(match (arch, m) {
        (Arch::Amd64, "pc" | "q35" | "microvm") => m.to_string(),
        (Arch::Arm64, "gicv3" | "virt") => "virt,gic-version=3".into(),
        (Arch::Arm64, "gicv2") => "virt,gic-version=2".into(),
        (Arch::Arm64, "el2") => "virt,virtualization=on,gic-version=3".into(),
        (Arch::Arm64, "el2-gicv2") => "virt,virtualization=on,gic-version=2".into(),
        (Arch::Amd64, _) if ["pc,", "q35,", "microvm,"].iter().any(|p| m.starts_with(p)) => m.to_string(),
        (Arch::Arm64, _) if m.starts_with("virt,") => m.to_string(),
        _ => {
            return Err(format!("unknown {arch} machine \"{m}\"; use one of {known}, or a raw -M value"));
        }
    })
}

/// Arguments for QEMU (without the program name).
pub fn args(o: &Opts) -> Result<Vec<String>, String> {
    if !(1..=8).contains(&o.smp) {
        return Err(format!("--smp {} out of range: oxbsd is tested with 1 to 8 CPUs", o.smp));
    }
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    push(&["-M", &machine_arg(o.arch, &o.machine)?]);
    // Under KVM the default is QEMU's own CPU model: "host" and "max" make
    // nested KVM abort setting MSR 0x10a on some hosts.
    let cpu = match (&o.cpu, o.arch, o.accel) {
        (Some(c), _, _) => Some(c.clone()),
        (None, _, Accel::Kvm) => None,
        (None, Arch::Amd64, Accel::Tcg) => Some("max".into()),
        (None, Arch::Arm64, Accel::Tcg) => Some("cortex-a72".into()),
    };
    if let Some(cpu) = cpu {
        push(&["-cpu", &cpu]);
    }
    push(&["-accel", if o.accel == Accel::Kvm { "kvm" } else { "tcg" }]);
    push(&["-m", &o.mem, "-smp", &o.smp.to_string(), "-no-reboot"]);
    if o.interactive {
        push(&["-nographic"]);
    } else {
        push(&["-display", "none", "-serial", "stdio", "-monitor", "none"]);
    }
    match o.arch {
        Arch::Amd64 => push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]),
        Arch::Arm64 => push(&["-semihosting"]),
    }
    push(&["-kernel", &o.kernel.to_string_lossy()]);
    if let Some(rd) = &o.initrd {
        push(&["-initrd", &rd.to_string_lossy()]);
    }
    push(&["-append", &o.append]);
    if o.gdb {
        push(&["-s", "-S"]);
    }
    Ok(a)
}

/// What a QEMU exit code says about the guest.
pub fn decode_exit(arch: Arch, code: i32) -> GuestExit {
    let v = match arch {
        Arch::Amd64 if code & 1 == 1 => (code - 1) >> 1,
        Arch::Amd64 => return GuestExit::Qemu(code),
        Arch::Arm64 => code,
    };
    if v & !0xf == 0x10 { GuestExit::Status((v & 0xf) as u32) } else { GuestExit::Qemu(code) }
}

/// The QEMU exit code the kernel's `powerdown(status)` produces.
pub fn encode_exit(arch: Arch, status: u32) -> i32 {
    let v = (0x10 | status) as u8 as i32;
    match arch {
        Arch::Amd64 => ((v << 1) | 1) & 0xff,
        Arch::Arm64 => v,
    }
}

/// The kernel's last word before a power-off with a non-zero status from
/// reboot(2).
const STATUS_LINE: &str = "powering off with status ";

/// [`decode_exit`], with the full status from the console `log` when the
/// exit code carried only part of it (see the module comment).
pub fn decode_logged(arch: Arch, code: i32, log: &str) -> GuestExit {
    let said =
        log.lines().filter_map(|l| l.trim_end().strip_prefix(STATUS_LINE)?.parse::<u32>().ok()).next_back();
    match said {
        Some(n) if n <= 0xff && encode_exit(arch, n) == code => GuestExit::Status(n),
        _ => decode_exit(arch, code),
    }
}

/// A one-line explanation of a guest exit for people.
pub fn describe(e: GuestExit) -> String {
    match e {
        GuestExit::Status(0) => "kernel powered off: success".into(),
        GuestExit::Status(1) => "kernel powered off after a panic".into(),
        GuestExit::Status(s) => format!("kernel powered off with status {s}"),
        GuestExit::Qemu(c) => {
            format!("QEMU exited {c} without a kernel status (QEMU error, or quit by hand)")
        }
        GuestExit::Timeout => "timed out; QEMU was killed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(arch: Arch, machine: &str) -> Opts {
        Opts {
            arch,
            machine: machine.into(),
            cpu: None,
            smp: 4,
            mem: "512M".into(),
            accel: Accel::Tcg,
            append: "halt".into(),
            kernel: "bsd".into(),
            initrd: None,
            interactive: false,
            gdb: false,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(decode_exit(Arch::Amd64, 33), GuestExit::Status(0));
        assert_eq!(decode_exit(Arch::Amd64, 35), GuestExit::Status(1));
        assert_eq!(decode_exit(Arch::Amd64, 1), GuestExit::Qemu(1));
        assert_eq!(decode_exit(Arch::Amd64, 0), GuestExit::Qemu(0));
        assert_eq!(decode_exit(Arch::Arm64, 16), GuestExit::Status(0));
        assert_eq!(decode_exit(Arch::Arm64, 17), GuestExit::Status(1));
        assert_eq!(decode_exit(Arch::Arm64, 1), GuestExit::Qemu(1));
        assert_eq!(decode_exit(Arch::Arm64, 0), GuestExit::Qemu(0));
    }

    #[test]
    fn statuses_from_the_console() {
        for arch in Arch::ALL {
            for s in [0, 1, 3, 15] {
                assert_eq!(decode_exit(arch, encode_exit(arch, s)), GuestExit::Status(s), "{arch} {s}");
            }
            // Only the console line tells 130 (^C) or 255 apart.
            for s in [16, 130, 131, 255] {
                let log = format!("syncing disks... done\r\n{STATUS_LINE}{s}\r\n");
                assert_eq!(
                    decode_logged(arch, encode_exit(arch, s), &log),
                    GuestExit::Status(s),
                    "{arch} {s}"
                );
                assert_ne!(decode_exit(arch, encode_exit(arch, s)), GuestExit::Status(s), "{arch} {s}");
            }
            // A line that the exit code contradicts is not believed.
            let log = format!("{STATUS_LINE}3\n");
            assert_eq!(decode_logged(arch, encode_exit(arch, 4), &log), GuestExit::Status(4));
            assert_eq!(decode_logged(arch, 0, &log), GuestExit::Qemu(0));
            assert_eq!(decode_logged(arch, encode_exit(arch, 1), "panic: x\n"), GuestExit::Status(1));
        }
        assert_eq!(encode_exit(Arch::Amd64, 0), 33);
        assert_eq!(encode_exit(Arch::Arm64, 1), 17);
    }

    #[test]
    fn machines() {
        assert_eq!(machine_arg(Arch::Arm64, "el2").unwrap(), "virt,virtualization=on,gic-version=3");
        assert_eq!(machine_arg(Arch::Amd64, "microvm").unwrap(), "microvm");
        assert!(machine_arg(Arch::Amd64, "gicv3").unwrap_err().contains("q35"));
        assert!(machine_arg(Arch::Arm64, "q35").is_err());
    }

    #[test]
    fn command_lines() {
        let a = args(&opts(Arch::Amd64, "q35")).unwrap().join(" ");
        assert!(a.contains("-M q35 -cpu max -accel tcg -m 512M -smp 4"));
        assert!(a.contains("isa-debug-exit,iobase=0xf4"));
        assert!(a.contains("-serial stdio"));
        let mut o = opts(Arch::Arm64, "gicv2");
        o.interactive = true;
        o.gdb = true;
        let a = args(&o).unwrap().join(" ");
        assert!(a.contains("-M virt,gic-version=2 -cpu cortex-a72"));
        assert!(a.contains("-semihosting") && a.contains("-nographic") && a.ends_with("-s -S"));
        o.smp = 9;
        assert!(args(&o).is_err());
    }
}
