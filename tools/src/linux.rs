//! The Linux peer of the benchmark: Debian's cloud kernel for each arch,
//! fetched from the system's package archive and kept under
//! `target/linux/<arch>/`, and an initramfs holding the very programs
//! oxbsd's ramdisk holds under /bench, with the driver as `/init`
//! (`rdinit=`).
//!
//! The kernel is the package `linux-image-cloud-<arch>` depends on (one
//! version of 6.1 at a time); `target/linux/<arch>/version` names it.
//! arm64's package needs the foreign architecture in dpkg, which
//! [`fetch`] adds when it is missing (as root, like the QEMU install).

use std::path::{Path, PathBuf};
use std::process::Command;

use oxbsd_tests::Arch;

use crate::ramdisk::{Tree, add_bench};
use crate::workspace_root;

/// Where the peer's files for `arch` live.
pub fn dir(arch: Arch) -> PathBuf {
    workspace_root().join("target/linux").join(arch.name())
}

/// Debian's name for the arch.
fn deb_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "amd64",
        Arch::Arm64 => "arm64",
    }
}

/// The serial console's device name on the QEMU machine the bench uses.
pub fn console(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "ttyS0",
        Arch::Arm64 => "ttyAMA0",
    }
}

/// The kernel command line: the console, no boot log (printing it over
/// an emulated UART would count against Linux's boot time), the driver
/// as the first process; `tuned` adds what turns the CPU-bug mitigations
/// and KPTI off. Nothing here reaches the driver as an argument (Linux
/// hands init the words it does not know).
pub fn cmdline(arch: Arch, tuned: bool) -> String {
    let mut s = format!("console={} quiet rdinit={}/bench", console(arch), crate::user::BENCH_DIR);
    if tuned {
        s += " mitigations=off kpti=0";
    }
    s
}

/// The versioned image package the meta-package depends on, from
/// `apt-cache depends` output: e.g. `linux-image-6.1.0-57-cloud-amd64`
/// (arm64's comes with its `:arm64` qualifier, which apt wants back).
pub fn image_package(depends: &str) -> Option<String> {
    depends.lines().find_map(|l| {
        let p = l.trim().strip_prefix("Depends: ")?.trim();
        let base = p.split(':').next()?;
        let v = base.strip_prefix("linux-image-")?;
        v.starts_with(|c: char| c.is_ascii_digit()).then(|| p.to_string())
    })
}

fn run(what: &str, cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: cannot run it: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(format!("{what} failed ({}): {last}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The peer's kernel image for `arch` and its package name, fetched and
/// unpacked on first use. An error says what failed (no package archive
/// reachable, no dpkg, ...); the caller goes on without the peer.
pub fn fetch(arch: Arch) -> Result<(PathBuf, String), String> {
    let d = dir(arch);
    let (kernel, version) = (d.join("vmlinuz"), d.join("version"));
    if let (true, Ok(v)) = (kernel.exists(), std::fs::read_to_string(&version)) {
        return Ok((kernel, v.trim().to_string()));
    }
    std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    let da = deb_arch(arch);
    let meta = match arch {
        Arch::Amd64 => format!("linux-image-cloud-{da}"),
        Arch::Arm64 => format!("linux-image-cloud-{da}:{da}"),
    };
    if arch == Arch::Arm64 {
        let foreign = run(
            "dpkg --print-foreign-architectures",
            Command::new("dpkg").arg("--print-foreign-architectures"),
        )?;
        if !foreign.split_whitespace().any(|a| a == da) {
            eprintln!("xtask: bench: adding the {da} package architecture to dpkg for {meta}");
            run("dpkg --add-architecture", Command::new("dpkg").args(["--add-architecture", da]))?;
            run("apt-get update", Command::new("apt-get").args(["update", "-q"]))?;
        }
    }
    let deps = match run("apt-cache depends", Command::new("apt-cache").args(["depends", &meta])) {
        Ok(s) => s,
        Err(_) => {
            // Package lists may never have been fetched on a new machine.
            run("apt-get update", Command::new("apt-get").args(["update", "-q"]))?;
            run("apt-cache depends", Command::new("apt-cache").args(["depends", &meta]))?
        }
    };
    let pkg =
        image_package(&deps).ok_or_else(|| format!("{meta} depends on no linux-image-<version> package"))?;
    eprintln!("xtask: bench: fetching {pkg} (the Linux peer for {arch})");
    let dl = d.join("download");
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(&dl).map_err(|e| format!("creating {}: {e}", dl.display()))?;
    run(
        &format!("apt-get download {pkg}"),
        Command::new("apt-get").args(["download", "-q", &pkg]).current_dir(&dl),
    )?;
    let deb = only_deb(&dl)?;
    let x = dl.join("x");
    run("dpkg-deb -x", Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))?;
    let boot = x.join("boot");
    let image = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .ok_or_else(|| format!("{pkg} has no boot/vmlinuz-*"))?;
    std::fs::rename(&image, &kernel).map_err(|e| format!("moving {} into place: {e}", image.display()))?;
    let name = pkg.split(':').next().unwrap_or(&pkg).to_string();
    std::fs::write(&version, format!("{name}\n"))
        .map_err(|e| format!("writing {}: {e}", version.display()))?;
    let _ = std::fs::remove_dir_all(&dl);
    Ok((kernel, name))
}

fn only_deb(dl: &Path) -> Result<PathBuf, String> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dl)
        .map_err(|e| format!("{}: {e}", dl.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match &debs[..] {
        [one] => Ok(one.clone()),
        _ => Err(format!("apt-get download left {} .deb files, not one", debs.len())),
    }
}

/// The peer's initramfs: /bench as in oxbsd's ramdisk, `/bench/args`,
/// an empty /tmp, /proc for the driver to mount (its system CPU time),
/// and the /dev/console Linux opens for init's standard
/// streams (a devtmpfs is not mounted for an initramfs init).
pub fn initramfs_tree(arch: Arch, args: &str) -> Result<Tree, String> {
    let mut t = Tree::new();
    add_bench(&mut t, arch)?;
    t.file(
        &format!("{}/args", crate::user::BENCH_DIR),
        0o644,
        args.as_bytes().to_vec(),
        "the bench's arguments",
    )?;
    t.dir("/tmp", 0o1777)?;
    t.dir("/proc", 0o555)?;
    t.chardev("/dev/console", 0o600, 5, 1)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_package() {
        let amd = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n";
        assert_eq!(image_package(amd).as_deref(), Some("linux-image-6.1.0-57-cloud-amd64"));
        let arm = "linux-image-cloud-arm64:arm64\n  Depends: linux-image-6.1.0-57-cloud-arm64:arm64\n";
        assert_eq!(image_package(arm).as_deref(), Some("linux-image-6.1.0-57-cloud-arm64:arm64"));
        assert_eq!(image_package("x\n  Depends: linux-image-cloud-amd64\n"), None, "not a versioned image");
        assert_eq!(image_package("x\n  Recommends: firmware\n"), None);
    }

    #[test]
    fn tuned_adds_only_the_mitigation_words() {
        let (a, b) = (cmdline(Arch::Arm64, false), cmdline(Arch::Arm64, true));
        assert!(a.contains("console=ttyAMA0") && a.contains("rdinit=/bench/bench"));
        assert_eq!(b, format!("{a} mitigations=off kpti=0"));
    }
}
