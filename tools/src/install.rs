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

/// What `rust-toolchain.toml` asks rustup for: `targets` and `components`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolchainSpec {
    pub channel: String,
    pub targets: Vec<String>,
    pub components: Vec<String>,
}

/// Read the `[toolchain]` table of a rust-toolchain.toml. Only the shape
/// this repository uses is understood (`key = "str"` and
/// `key = ["a", "b"]` on one line each); anything else is an error, so a
/// file edited into another shape is noticed rather than half-read.
pub fn parse_toolchain_toml(text: &str) -> Result<ToolchainSpec, String> {
    let mut spec = ToolchainSpec::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line == "[toolchain]" {
            continue;
        }
        let (key, val) = line
            .split_once('=')
            .ok_or_else(|| format!("rust-toolchain.toml:{}: not `key = value`", n + 1))?;
        let strings = |v: &str| -> Result<Vec<String>, String> {
            let v = v.trim();
            let inner = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(v);
            inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .map(str::to_string)
                        .ok_or_else(|| format!("rust-toolchain.toml:{}: {s} is not a quoted string", n + 1))
                })
                .collect()
        };
        match key.trim() {
            "channel" => spec.channel = strings(val)?.concat(),
            "targets" => spec.targets = strings(val)?,
            "components" => spec.components = strings(val)?,
            _ => {}
        }
    }
    if spec.channel.is_empty() {
        return Err("rust-toolchain.toml names no channel".into());
    }
    Ok(spec)
}

/// Which of `wanted` are not in rustup's `--installed` listing. Component
/// names in that listing carry the host triple (`rust-src`,
/// `clippy-x86_64-unknown-linux-gnu`); rustup also lists `llvm-tools` as
/// `llvm-tools-<host>` (the old name `llvm-tools-preview` counts too).
pub fn missing_from(wanted: &[String], installed: &str) -> Vec<String> {
    let have: Vec<&str> = installed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    wanted
        .iter()
        .filter(|w| {
            !have.iter().any(|h| {
                *h == w.as_str()
                    || h.strip_prefix(w.as_str()).is_some_and(is_host_suffix)
                    || (w.as_str() == "llvm-tools" && h.starts_with("llvm-tools-preview"))
            })
        })
        .cloned()
        .collect()
}

/// `-<triple>` as rustup appends it to a component's name: a dash, then
/// at least three dash-separated words (`-x86_64-unknown-linux-gnu`), so
/// that `-softfloat` of another target's name is not taken for one.
fn is_host_suffix(rest: &str) -> bool {
    rest.strip_prefix('-').is_some_and(|t| t.split('-').count() >= 3)
}

fn rustup_list(root: &std::path::Path, what: &str) -> Result<String, String> {
    let out = Command::new("rustup").args([what, "list", "--installed"]).current_dir(root).output().map_err(
        |e| format!("running rustup: {e} (oxbsd's toolchain comes from rustup and rust-toolchain.toml)"),
    )?;
    if !out.status.success() {
        return Err(format!(
            "rustup {what} list --installed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Ensure the targets and components `rust-toolchain.toml` lists are
/// installed for the pinned toolchain: a machine can come with the
/// toolchain but without its bare-metal targets, and then every kernel
/// build fails with "can't find crate for `core`". When something is
/// missing, `rustup toolchain install` (run in the workspace, where it
/// reads rust-toolchain.toml) adds it; then the listing is checked again.
pub fn ensure_toolchain() -> Result<(), String> {
    let root = crate::workspace_root();
    let path = root.join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let spec = parse_toolchain_toml(&text)?;
    let missing = |root: &std::path::Path| -> Result<Vec<String>, String> {
        let mut m = missing_from(&spec.targets, &rustup_list(root, "target")?);
        m.extend(missing_from(&spec.components, &rustup_list(root, "component")?));
        Ok(m)
    };
    if missing(&root)?.is_empty() {
        return Ok(());
    }
    // rustup does not lock its own tree: two installs at once (two xtask
    // commands started together on a fresh machine) rename each other's
    // files away and can leave the toolchain without cargo. One install at
    // a time; whoever waited looks again, since the first may have done it.
    let lock_path = std::env::temp_dir().join("oxbsd-rustup-install.lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock().map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let m = missing(&root)?;
    if m.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: toolchain {} lacks {}; running rustup toolchain install", spec.channel, m.join(" "));
    // Under `cargo xtask` rustup's proxy has set RUSTUP_TOOLCHAIN, which
    // overrides the file: without it rustup reads rust-toolchain.toml.
    let ok = Command::new("rustup")
        .args(["toolchain", "install"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(&root)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let still = missing(&root)?;
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!("rustup toolchain install did not install {}", still.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_repositorys_toolchain_file() {
        let text = std::fs::read_to_string(crate::workspace_root().join("rust-toolchain.toml")).unwrap();
        let spec = parse_toolchain_toml(&text).unwrap();
        assert!(!spec.channel.is_empty());
        for t in ["x86_64-unknown-none", "aarch64-unknown-none-softfloat"] {
            assert!(spec.targets.iter().any(|x| x == t), "{t} not in {:?}", spec.targets);
        }
        assert!(spec.components.iter().any(|c| c == "rust-src"));
    }

    #[test]
    fn parse_rejects_other_shapes() {
        assert!(parse_toolchain_toml("[toolchain]\ntargets = [x86]\nchannel = \"1\"").is_err());
        assert!(parse_toolchain_toml("[toolchain]\ntargets = []").is_err(), "no channel");
        let s =
            parse_toolchain_toml("[toolchain]\nchannel = \"1.95.0\" # pinned\ntargets = [\"a\", \"b\"]\n")
                .unwrap();
        assert_eq!(s.channel, "1.95.0");
        assert_eq!(s.targets, ["a", "b"]);
    }

    /// The fresh-machine case: the toolchain is there, with only the host
    /// target; every bare-metal target is reported missing. Components
    /// match with their host suffix.
    #[test]
    fn missing_targets_and_components_are_found() {
        let wanted: Vec<String> =
            ["x86_64-unknown-none", "aarch64-unknown-none"].iter().map(|s| s.to_string()).collect();
        assert_eq!(missing_from(&wanted, "x86_64-unknown-linux-gnu\n"), wanted);
        assert!(missing_from(&wanted, "aarch64-unknown-none\nx86_64-unknown-none\n").is_empty());
        // A prefix of another target's name is not that target.
        assert_eq!(missing_from(&wanted[1..], "aarch64-unknown-none-softfloat\n"), ["aarch64-unknown-none"]);
        let comps: Vec<String> = ["rust-src", "clippy", "llvm-tools"].iter().map(|s| s.to_string()).collect();
        let listed = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\nrust-src\n";
        assert_eq!(missing_from(&comps, listed), ["llvm-tools"]);
        assert!(missing_from(&comps, &format!("{listed}llvm-tools-x86_64-unknown-linux-gnu\n")).is_empty());
    }
}
