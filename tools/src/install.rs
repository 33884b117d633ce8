//! Making sure what the tools run is installed.

use std::process::Command;

use oxbsd_tests::Arch;

use crate::qemu;

/// Debian packages that provide each QEMU. `--no-install-recommends` is
/// needed: the recommended set does not install on minimal images.
const PACKAGES: [&str; 2] = ["qemu-system-x86", "qemu-system-arm"];

fn have(prog: &str) -> bool {
    Command::new(prog).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Ensure QEMU for every arch in `arches` is installed: install it with
/// apt-get when running as root, else explain what to run.
pub fn ensure_qemu(arches: &[Arch]) -> Result<(), String> {
    let missing: Vec<&str> = arches.iter().map(|&a| qemu::program(a)).filter(|p| !have(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = format!("apt-get update && apt-get install -y --no-install-recommends {}", PACKAGES.join(" "));
    if !is_root() || !have("apt-get") {
        return Err(format!(
            "{} not found; install QEMU first, e.g. as root:\n    {cmd}",
            missing.join(" and ")
        ));
    }
    eprintln!("xtask: {} not found; installing: {cmd}", missing.join(" and "));
    let ok = Command::new("sh")
        .args(["-c", &cmd])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let still: Vec<&str> = missing.into_iter().filter(|p| !have(p)).collect();
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!("installing QEMU failed; still missing: {}", still.join(" ")))
    }
}
