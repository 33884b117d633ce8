//! Building the user programs.
//!
//! Every file `user/src/bin/NAME.rs` (or `user/src/bin/NAME/main.rs`) is
//! one program; cargo finds them, and [`install_path`] says where each
//! goes in the ramdisk. They are built for the same triples as the
//! kernels (soft-float on both arches) but with the `user` cargo profile,
//! so they land in `target/<triple>/user/` and never share build output
//! with the kernel's `release` builds. Each binary is checked with
//! [`elf::check_user_program`] before it is used.

use std::path::PathBuf;

use oxbsd_tests::Arch;

use crate::build::{cargo, kernel_target};
use crate::{elf, runner, workspace_root};

pub const USER_PACKAGE: &str = "oxbsd-user";
pub const USER_PROFILE: &str = "user";

/// Programs that go in /sbin; every other program goes in /bin.
pub const SBIN_PROGRAMS: &[&str] = &["init", "halt", "sysctl"];

/// More names a program is installed under, beside its own and in the
/// same directory: one binary that tells by argv[0] what it was run as.
/// (The copies are whole: the kernel's ramdisk has no hard links.)
pub const ALIASES: &[(&str, &[&str])] = &[("halt", &["reboot", "poweroff"])];

/// What the system needs in its ramdisk: init, the shell it runs, and
/// the commands of /etc/rc. A program not built (yet: the shell is
/// written apart) is left out with a note rather than failing the build.
pub const BASE_PROGRAMS: &[&str] = &["init", "sh", "echo", "uname", "sysctl"];

/// The Rust target the user programs are built for: the kernel's.
pub fn user_target(arch: Arch) -> &'static str {
    kernel_target(arch)
}

/// Where program `name` is installed in the ramdisk.
pub fn install_path(name: &str) -> String {
    if SBIN_PROGRAMS.contains(&name) { format!("/sbin/{name}") } else { format!("/bin/{name}") }
}

/// Every path program `name` is installed at: [`install_path`], then one
/// per alias in the same directory.
pub fn install_paths(name: &str) -> Vec<String> {
    let main = install_path(name);
    let dir = &main[..main.rfind('/').unwrap_or(0)];
    let aliases = ALIASES.iter().filter(|(n, _)| *n == name).flat_map(|(_, a)| a.iter());
    std::iter::once(main.clone()).chain(aliases.map(|a| format!("{dir}/{a}"))).collect()
}

/// The program names, from the files in `user/src/bin/`, sorted.
pub fn program_names() -> Result<Vec<String>, String> {
    let dir = workspace_root().join("user/src/bin");
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let path = ent.path();
        let name = if path.is_dir() && path.join("main.rs").is_file() {
            ent.file_name().to_string_lossy().into_owned()
        } else if path.extension().is_some_and(|x| x == "rs") {
            path.file_stem().unwrap().to_string_lossy().into_owned()
        } else {
            continue;
        };
        names.push(name);
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("no programs in {}", dir.display()));
    }
    Ok(names)
}

/// The benchmark's package (`user/bench`) and its programs, installed
/// under [`BENCH_DIR`] in oxbsd's ramdisk and in the Linux peer's.
pub const BENCH_PACKAGE: &str = "oxbsd-bench";
pub const BENCH_PROGRAMS: &[&str] = &["as", "bench", "cc", "cc1", "true"];
pub const BENCH_DIR: &str = "/bench";

/// Build every user program for `arch` and check each binary. Returns
/// (name, path) pairs, sorted by name.
pub fn build_user(arch: Arch) -> Result<Vec<(String, PathBuf)>, String> {
    build_package(arch, USER_PACKAGE, program_names()?)
}

/// Build the benchmark's programs for `arch`, checked like the others.
pub fn build_bench(arch: Arch) -> Result<Vec<(String, PathBuf)>, String> {
    build_package(arch, BENCH_PACKAGE, BENCH_PROGRAMS.iter().map(|s| s.to_string()).collect())
}

fn build_package(arch: Arch, package: &str, names: Vec<String>) -> Result<Vec<(String, PathBuf)>, String> {
    let root = workspace_root();
    let target = user_target(arch);
    eprintln!("xtask: building {package} for {arch} ({target}): {}", names.join(" "));
    runner::run_step(
        &format!("building {package} for {arch}"),
        cargo().args([
            "build",
            "--quiet",
            "--profile",
            USER_PROFILE,
            "-p",
            package,
            "--bins",
            "--target",
            target,
        ]),
        &root,
    )?;
    let dir = root.join("target").join(target).join(USER_PROFILE);
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        elf::check_user_program(
            &bytes,
            elf::machine_of(arch),
            sys::vmparam::USER_TEXT_BASE as u64,
            sys::vmparam::VM_MAXUSER_ADDRESS as u64,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((name, path));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_programs_go() {
        assert_eq!(install_path("init"), "/sbin/init");
        assert_eq!(install_path("hello"), "/bin/hello");
        assert_eq!(install_paths("sysctl"), ["/sbin/sysctl"]);
        assert_eq!(install_paths("ls"), ["/bin/ls"]);
        assert_eq!(install_paths("halt"), ["/sbin/halt", "/sbin/reboot", "/sbin/poweroff"]);
    }

    #[test]
    fn the_base_programs_exist() {
        let names = program_names().unwrap();
        let utilities =
            ["hello", "true", "false", "cat", "ls", "ps", "kill", "sleep", "dmesg", "env", "pwd", "halt"];
        // The shell is written apart and joins once it is merged.
        for p in BASE_PROGRAMS.iter().filter(|&&p| p != "sh").chain(&utilities) {
            assert!(names.iter().any(|n| n == p), "{p} missing from user/src/bin");
        }
        for (name, _) in ALIASES {
            assert!(names.iter().any(|n| n == name), "alias of {name}, which is missing");
        }
    }

    /// Build the real programs for both arches (a no-op when they are up
    /// to date) and check every binary: static, ET_EXEC, the right
    /// machine, entry in an R-X segment at or above USER_TEXT_BASE, no
    /// W+X segment. build_user fails on any of that; this also pins the
    /// exact segment layout of the linker script.
    #[test]
    fn user_programs_are_static_executables() {
        for arch in Arch::ALL {
            let progs = build_user(arch).unwrap();
            assert_eq!(progs.len(), program_names().unwrap().len());
            for (name, path) in progs {
                let h = elf::parse(&std::fs::read(&path).unwrap()).unwrap();
                let loads: Vec<u32> = h.phdrs.iter().filter(|p| p.p_type == 1).map(|p| p.flags).collect();
                let (r, w, x) = (elf::PF_R, elf::PF_W, elf::PF_X);
                assert_eq!(loads, [r | x, r, r | w], "{arch} {name}: text, rodata, data segments");
                assert_eq!(
                    h.entry,
                    sys::vmparam::USER_TEXT_BASE as u64,
                    "{arch} {name}: _start first in .text"
                );
            }
        }
    }
}
