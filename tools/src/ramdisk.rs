//! The ramdisk: the user programs and a few files, packed as a newc cpio
//! archive at `target/images/<arch>/ramdisk.cpio`, which `cargo xtask run`
//! hands to QEMU with `-initrd`.
//!
//! Contents: the programs, `/sbin/init`, `halt` (also as `reboot` and
//! `poweroff`) and `sysctl` in `/sbin`, the others in `/bin` (see
//! [`crate::user::install_paths`]); `/etc/rc` and `/etc/motd`; and
//! whatever `--add HOST:GUEST` names. Directories get mode 0755, programs
//! 0755, the /etc files 0644, added files their host permission bits.
//! (`/tmp` is the kernel's own, in memory, whether or not the image has
//! one.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxbsd_tests::Arch;

use crate::build::images_dir;
use crate::cpio::Newc;
use crate::user::{BASE_PROGRAMS, BENCH_DIR, build_bench, build_user, install_path, install_paths};

pub const MOTD: &str = "\
Welcome to oxbsd, a small OpenBSD-shaped kernel in Rust.

Programs live in /bin and /sbin (ls /bin); this file is /etc/motd.
poweroff (or halt, or reboot) ends the session.
";

/// The boot script init runs with /bin/sh before anything else. Plain
/// commands only: the shell has no command substitution.
pub const RC: &str = "\
# /etc/rc: run by init with /bin/sh at boot, before the console shell
# (or the script named by script=PATH on the kernel command line).
echo rc: starting oxbsd
uname -a
sysctl hw.machine hw.ncpu kern.exit
echo rc: done
";

/// Longest path component and path, as the kernel checks them.
const NAME_MAX: usize = sys::dirent::MAXNAMLEN;
const PATH_MAX: usize = sys::fcntl::PATH_MAX;

pub fn ramdisk_path(arch: Arch) -> PathBuf {
    images_dir(arch).join("ramdisk.cpio")
}

/// `--add HOSTPATH:GUESTPATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddSpec {
    pub host: PathBuf,
    pub guest: String,
}

impl std::str::FromStr for AddSpec {
    type Err = String;

    /// Split at the last ':' (host paths may contain colons; guest paths
    /// may not), then check both sides. Errors do not repeat the argument:
    /// clap shows it.
    fn from_str(s: &str) -> Result<AddSpec, String> {
        let (host, guest) = s
            .rsplit_once(':')
            .ok_or_else(|| "expected HOSTPATH:GUESTPATH, e.g. ./notes.txt:/etc/notes".to_string())?;
        if host.is_empty() {
            return Err("the host path is empty".into());
        }
        check_guest_path(guest)?;
        let meta = std::fs::metadata(host).map_err(|e| format!("{host}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{host} is not a regular file"));
        }
        Ok(AddSpec { host: host.into(), guest: guest.to_string() })
    }
}

/// A guest path must be absolute, not "/", made of plain names (no empty,
/// "." or ".." components, no NUL) within the kernel's length limits.
pub fn check_guest_path(p: &str) -> Result<Vec<&str>, String> {
    if !p.starts_with('/') {
        return Err(format!("guest path \"{p}\" is not absolute"));
    }
    if p == "/" {
        return Err("the guest path cannot be \"/\" (name a file inside it)".into());
    }
    if p.len() >= PATH_MAX {
        return Err(format!("guest path is {} bytes; the limit is {}", p.len(), PATH_MAX - 1));
    }
    let comps: Vec<&str> = p[1..].split('/').collect();
    for c in &comps {
        match *c {
            "" => {
                return Err(format!(
                    "guest path \"{p}\" has an empty component (\"//\" or a trailing \"/\")"
                ));
            }
            "." | ".." => return Err(format!("guest path \"{p}\" has a \"{c}\" component")),
            _ if c.contains('\0') => return Err(format!("guest path \"{p}\" contains a NUL")),
            _ if c.len() > NAME_MAX => {
                return Err(format!("guest path component \"{c}\" is longer than {NAME_MAX} bytes"));
            }
            _ => {}
        }
    }
    Ok(comps)
}

enum Item {
    Dir {
        perm: u32,
    },
    File {
        perm: u32,
        data: Vec<u8>,
        from: String,
    },
    /// A character device node (the Linux peer's /dev/console).
    Chr {
        perm: u32,
        major: u32,
        minor: u32,
    },
}

/// The ramdisk's tree before it is packed. Keys are path components, so
/// iteration puts every directory before its contents.
#[derive(Default)]
pub struct Tree {
    items: BTreeMap<Vec<String>, Item>,
}

impl Tree {
    pub fn new() -> Self {
        Tree::default()
    }

    /// Add a directory (and its parents) unless it exists.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<(), String> {
        let comps = check_guest_path(path)?;
        for n in 1..=comps.len() {
            let key: Vec<String> = comps[..n].iter().map(|s| s.to_string()).collect();
            match self.items.get(&key) {
                Some(Item::Dir { .. }) => {}
                Some(Item::File { from, .. }) => {
                    return Err(format!("/{} is a file (from {from}), not a directory", key.join("/")));
                }
                Some(Item::Chr { .. }) => {
                    return Err(format!("/{} is a device, not a directory", key.join("/")));
                }
                None => {
                    self.items.insert(key, Item::Dir { perm: if n == comps.len() { perm } else { 0o755 } });
                }
            }
        }
        Ok(())
    }

    /// Add a file, creating its parent directories. Replacing a file is
    /// allowed and returns a note saying what was replaced; a directory
    /// cannot be replaced.
    pub fn file(
        &mut self,
        path: &str,
        perm: u32,
        data: Vec<u8>,
        from: &str,
    ) -> Result<Option<String>, String> {
        let comps = check_guest_path(path)?;
        if comps.len() > 1 {
            self.dir(&format!("/{}", comps[..comps.len() - 1].join("/")), 0o755)?;
        }
        let key: Vec<String> = comps.iter().map(|s| s.to_string()).collect();
        let note = match self.items.get(&key) {
            Some(Item::Dir { .. }) => return Err(format!("{path} is a directory in the ramdisk")),
            Some(Item::File { from: old, .. }) => Some(format!("{path}: {from} replaces {old}")),
            Some(Item::Chr { .. }) => Some(format!("{path}: {from} replaces a device node")),
            None => None,
        };
        self.items.insert(key, Item::File { perm, data, from: from.to_string() });
        Ok(note)
    }

    /// Add a character device node, creating its parent directories.
    pub fn chardev(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> Result<(), String> {
        let comps = check_guest_path(path)?;
        if comps.len() > 1 {
            self.dir(&format!("/{}", comps[..comps.len() - 1].join("/")), 0o755)?;
        }
        self.items.insert(comps.iter().map(|s| s.to_string()).collect(), Item::Chr { perm, major, minor });
        Ok(())
    }

    pub fn contains_file(&self, path: &str) -> bool {
        let key: Vec<String> = path.trim_start_matches('/').split('/').map(str::to_string).collect();
        matches!(self.items.get(&key), Some(Item::File { .. }))
    }

    /// (files, bytes of file data).
    pub fn totals(&self) -> (usize, usize) {
        self.items.values().fold((0, 0), |(n, b), i| match i {
            Item::File { data, .. } => (n + 1, b + data.len()),
            Item::Dir { .. } | Item::Chr { .. } => (n, b),
        })
    }

    /// Pack as a newc archive: the root as ".", everything else relative.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut a = Newc::new();
        a.dir(".", 0o755);
        for (k, item) in &self.items {
            let name = k.join("/");
            match item {
                Item::Dir { perm } => a.dir(&name, *perm),
                Item::File { perm, data, .. } => a.file(&name, *perm, data),
                Item::Chr { perm, major, minor } => a.chardev(&name, *perm, *major, *minor),
            }
        }
        a.finish()
    }
}

/// The standard contents for `arch` (building the programs) plus `adds`.
pub fn ramdisk_tree(arch: Arch, adds: &[AddSpec]) -> Result<Tree, String> {
    let mut t = Tree::new();
    for d in ["/bin", "/sbin", "/etc"] {
        t.dir(d, 0o755)?;
    }
    let programs = build_user(arch)?;
    for (name, path) in &programs {
        let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        for at in install_paths(name) {
            t.file(&at, 0o755, data.clone(), &format!("user program {name}"))?;
        }
    }
    for base in BASE_PROGRAMS {
        if !programs.iter().any(|(n, _)| n == base) {
            eprintln!(
                "xtask: note: {arch}: no program {base} in user/src/bin yet, so no {}",
                install_path(base)
            );
        }
    }
    add_bench(&mut t, arch)?;
    t.file("/etc/rc", 0o644, RC.as_bytes().to_vec(), "the built-in rc")?;
    t.file("/etc/motd", 0o644, MOTD.as_bytes().to_vec(), "the built-in motd")?;
    for a in adds {
        let data = std::fs::read(&a.host).map_err(|e| format!("--add: reading {}: {e}", a.host.display()))?;
        let perm = host_perm(&a.host);
        if let Some(note) = t.file(&a.guest, perm, data, &a.host.display().to_string())? {
            eprintln!("xtask: note: {note}");
        }
    }
    Ok(t)
}

/// The benchmark's programs in /bench and its sources in /bench/src
/// (`bench::work`), the same files in oxbsd's ramdisk and Linux's.
pub fn add_bench(t: &mut Tree, arch: Arch) -> Result<(), String> {
    for (name, path) in build_bench(arch)? {
        let data = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        t.file(&format!("{BENCH_DIR}/{name}"), 0o755, data, &format!("bench program {name}"))?;
    }
    for n in 0..bench::work::NSRC {
        let src = (0..bench::work::source_len(n)).map(|i| bench::work::source_byte(n, i)).collect();
        t.file(&format!("{BENCH_DIR}/src/{n}.c"), 0o644, src, "a kbuild source")?;
    }
    Ok(())
}

#[cfg(unix)]
fn host_perm(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644)
}

#[cfg(not(unix))]
fn host_perm(_: &Path) -> u32 {
    0o644
}

/// Build the programs and write `target/images/<arch>/ramdisk.cpio`.
/// Returns its path and the tree (to check `--init` against).
pub fn build_ramdisk(arch: Arch, adds: &[AddSpec]) -> Result<(PathBuf, Tree), String> {
    let t = ramdisk_tree(arch, adds)?;
    let img = t.to_cpio();
    let out = ramdisk_path(arch);
    std::fs::create_dir_all(images_dir(arch))
        .map_err(|e| format!("creating {}: {e}", images_dir(arch).display()))?;
    std::fs::write(&out, &img).map_err(|e| format!("writing {}: {e}", out.display()))?;
    let (files, bytes) = t.totals();
    let rel = out.strip_prefix(crate::workspace_root()).unwrap_or(&out).display().to_string();
    eprintln!(
        "xtask: {rel}: {files} files ({} added), {} KiB of data, {} KiB archive",
        adds.len(),
        bytes / 1024,
        img.len() / 1024
    );
    Ok((out, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kern::ramdisk::{NodeKind, Ramdisk};

    #[test]
    fn guest_paths() {
        assert_eq!(check_guest_path("/etc/motd").unwrap(), ["etc", "motd"]);
        for bad in ["etc/motd", "/", "", "/etc//motd", "/etc/", "/a/./b", "/a/../b", "/a\0b"] {
            assert!(check_guest_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_guest_path(&format!("/{}", "x".repeat(NAME_MAX + 1))).unwrap_err().contains("longer"));
        assert!(check_guest_path(&"/x".repeat(PATH_MAX / 2)).unwrap_err().contains("limit"));
    }

    #[test]
    fn add_specs() {
        let dir = std::env::temp_dir().join(format!("oxbsd-add-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a:b.txt");
        std::fs::write(&f, "x").unwrap();
        let spec: AddSpec = format!("{}:/etc/ab", f.display()).parse().unwrap();
        assert_eq!((spec.host.as_path(), spec.guest.as_str()), (f.as_path(), "/etc/ab"));
        let e = format!("{}:etc/ab", f.display()).parse::<AddSpec>().unwrap_err();
        assert!(e.contains("not absolute"), "{e}");
        assert!(format!("{}:/", f.display()).parse::<AddSpec>().unwrap_err().contains("cannot be"));
        assert!("nocolon".parse::<AddSpec>().unwrap_err().contains("HOSTPATH:GUESTPATH"));
        assert!(":/x".parse::<AddSpec>().unwrap_err().contains("empty"));
        let missing = format!("{}:/x", dir.join("missing").display()).parse::<AddSpec>().unwrap_err();
        assert!(missing.contains("missing"), "{missing}");
        let isdir = format!("{}:/x", dir.display()).parse::<AddSpec>().unwrap_err();
        assert!(isdir.contains("not a regular file"), "{isdir}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every command /etc/rc runs is a base program, so the build says
    /// when one is missing.
    #[test]
    fn rc_runs_base_programs() {
        for line in RC.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let cmd = line.split_whitespace().next().unwrap();
            assert!(BASE_PROGRAMS.contains(&cmd), "/etc/rc runs {cmd}, not in BASE_PROGRAMS");
        }
    }

    #[test]
    fn tree_rules() {
        let mut t = Tree::new();
        t.dir("/bin", 0o755).unwrap();
        assert_eq!(t.file("/bin/sh", 0o755, b"one".to_vec(), "first").unwrap(), None);
        let note = t.file("/bin/sh", 0o700, b"two".to_vec(), "second").unwrap().unwrap();
        assert!(note.contains("second replaces first"), "{note}");
        assert!(t.file("/bin", 0o644, vec![], "x").unwrap_err().contains("is a directory"));
        assert!(t.file("/bin/sh/x", 0o644, vec![], "x").unwrap_err().contains("is a file"));
        t.file("/usr/share/doc/a", 0o600, b"deep".to_vec(), "x").unwrap();
        assert!(t.contains_file("/bin/sh") && !t.contains_file("/bin") && !t.contains_file("/nope"));
        assert_eq!(t.totals(), (2, 7));

        let img = t.to_cpio();
        let rd = Ramdisk::parse(&img).unwrap();
        let r = Ramdisk::ROOT;
        let sh = rd.node(rd.lookup(r, "/bin/sh").unwrap());
        assert_eq!((sh.mode, sh.data), (0o100700, &b"two"[..]));
        let usr = rd.node(rd.lookup(r, "/usr/share").unwrap());
        assert_eq!((usr.kind, usr.mode), (NodeKind::Dir, 0o040755));
        assert_eq!(rd.node(rd.lookup(r, "/usr/share/doc/a").unwrap()).mode, 0o100600);
        assert_eq!(rd.node(r).mode, 0o040755);
    }

    /// The real thing, for both arches: every program where it belongs,
    /// the /etc files, and an added file.
    #[test]
    fn standard_ramdisk_contents() {
        let dir = std::env::temp_dir().join(format!("oxbsd-rd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("note");
        std::fs::write(&f, "added\n").unwrap();
        let add: AddSpec = format!("{}:/etc/note", f.display()).parse().unwrap();
        for arch in Arch::ALL {
            let img = ramdisk_tree(arch, std::slice::from_ref(&add)).unwrap().to_cpio();
            let rd = Ramdisk::parse(&img).unwrap();
            let r = Ramdisk::ROOT;
            let init = rd.node(rd.lookup(r, "/sbin/init").unwrap());
            assert_eq!(init.mode, 0o100755);
            assert_eq!(&init.data[..4], b"\x7fELF");
            for p in ["/bin/hello", "/bin/true", "/bin/false", "/bin/echo", "/bin/ls", "/sbin/sysctl"] {
                assert_eq!(rd.node(rd.lookup(r, p).unwrap()).kind, NodeKind::File, "{arch} {p}");
            }
            let halt = rd.node(rd.lookup(r, "/sbin/halt").unwrap()).data;
            for p in ["/sbin/reboot", "/sbin/poweroff"] {
                assert_eq!(rd.node(rd.lookup(r, p).unwrap()).data, halt, "{arch} {p} is halt");
            }
            assert!(rd.lookup(r, "/bin/halt").is_err() && rd.lookup(r, "/bin/init").is_err());
            assert_eq!(rd.node(rd.lookup(r, "/etc/motd").unwrap()).data, MOTD.as_bytes());
            assert_eq!(rd.node(rd.lookup(r, "/etc/rc").unwrap()).data, RC.as_bytes());
            assert_eq!(rd.node(rd.lookup(r, "/etc/note").unwrap()).data, b"added\n");
            for d in ["/", "/bin", "/sbin", "/etc"] {
                assert_eq!(rd.node(rd.lookup(r, d).unwrap()).mode, 0o040755, "{d}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
