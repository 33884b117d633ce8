//! The ramdisk: a read-only tree parsed from a "newc" cpio archive.
//!
//! The tools pack the user programs into a newc archive that QEMU hands
//! the kernel as its initrd; this module turns those bytes into a tree the
//! file system calls can walk. It borrows the archive (file contents are
//! slices of it, never copies) and allocates only the node table.
//!
//! Archive format (as written by `cpio -H newc`): each entry is a 110-byte
//! ASCII header — magic `070701` (or `070702`, whose check field is the
//! byte sum of the file data) and thirteen 8-digit hex fields — then the
//! NUL-terminated name padded so header + name is a multiple of 4, then the
//! file data padded to a multiple of 4. The entry named `TRAILER!!!` ends
//! the archive; anything after it (block padding) is ignored.
//!
//! Decisions:
//! - Only directories and regular files are represented. Any other type
//!   (symlink, device, fifo, socket) makes `parse` fail with
//!   [`RdError::Unsupported`]: the tools never write one, so meeting one
//!   means the image was not built by them, and a kernel that silently
//!   dropped `/bin/sh -> ...` would fail much later and less clearly.
//! - Names are normalised: leading `/` and `./`, empty and `.` components
//!   are dropped, so `./bin//sh`, `/bin/sh` and `bin/sh` are one path; `.`
//!   alone names the root (its mode is taken). A `..` component or a
//!   non-UTF-8 name is [`RdError::BadName`].
//! - Parent directories that have no entry of their own are created with
//!   mode 0755.
//! - The same path twice: the last entry wins. A path whose parent is a
//!   file (after that rule) is [`RdError::NotADirectory`].
//! - Inode numbers in the archive are ignored (archives built on a host
//!   carry the host's, which need not be unique here); nodes are numbered
//!   from 2, the root's number in UFS, in tree order.
//! - Children are kept sorted by name (byte order), which is the order
//!   getdents returns them in.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use sys::errno::{ENAMETOOLONG, ENOENT, ENOTDIR};
use sys::fcntl::PATH_MAX;
use sys::stat::{S_IFDIR, S_IFMT, S_IFREG};

const HDR_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// Longest path component (`MAXNAMLEN`).
const NAME_MAX: usize = sys::dirent::MAXNAMLEN;
/// Inode number of the root, as in UFS; the others follow in tree order.
const ROOT_INO: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
}

#[derive(Clone, Debug)]
pub struct Node<'a> {
    /// Last path component; "" for the root.
    pub name: &'a str,
    pub kind: NodeKind,
    /// The full `st_mode`: `S_IFDIR` or `S_IFREG` and the permission bits.
    pub mode: u32,
    pub ino: u64,
    /// File contents, a slice of the archive; empty for directories.
    pub data: &'a [u8],
    /// The containing directory; the root is its own parent.
    pub parent: NodeId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RdError {
    /// No `070701`/`070702` magic at this offset.
    BadMagic { offset: usize },
    /// A header field at this entry is not 8 hex digits.
    BadHeader { offset: usize },
    /// The entry at this offset runs past the end of the image.
    Truncated { offset: usize },
    /// The image ended without a `TRAILER!!!` entry.
    NoTrailer { offset: usize },
    /// The name is empty, not NUL-terminated, not UTF-8, has a `..`
    /// component or a component longer than MAXNAMLEN, or is too long.
    BadName { offset: usize },
    /// A `070702` entry whose data does not add up to its check field.
    BadChecksum { offset: usize },
    /// The entry is neither a directory nor a regular file (symlinks,
    /// devices, fifos and sockets are refused; `mode` says which).
    Unsupported { offset: usize, mode: u32 },
    /// `path` needs a directory where the archive has a file.
    NotADirectory { path: String },
}

impl core::fmt::Display for RdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RdError::BadMagic { offset } => write!(f, "no newc cpio magic at offset {offset:#x}"),
            RdError::BadHeader { offset } => write!(f, "bad cpio header field in the entry at {offset:#x}"),
            RdError::Truncated { offset } => write!(f, "the cpio entry at {offset:#x} is truncated"),
            RdError::NoTrailer { offset } => {
                write!(f, "the cpio archive ends at {offset:#x} without a TRAILER!!! entry")
            }
            RdError::BadName { offset } => write!(f, "bad file name in the cpio entry at {offset:#x}"),
            RdError::BadChecksum { offset } => {
                write!(f, "checksum mismatch in the cpio entry at {offset:#x}")
            }
            RdError::Unsupported { offset, mode } => write!(
                f,
                "the cpio entry at {offset:#x} has file type {:#o}: only directories and regular files are supported",
                mode & S_IFMT
            ),
            RdError::NotADirectory { path } => {
                write!(f, "{path}: a parent in the cpio archive is not a directory")
            }
        }
    }
}

/// One archive entry after parsing, before the tree is built.
struct Entry<'a> {
    mode: u32,
    data: &'a [u8],
}

pub struct Ramdisk<'a> {
    nodes: Vec<Node<'a>>,
    /// Sorted by name; empty for files.
    children: Vec<Vec<NodeId>>,
}

impl<'a> Ramdisk<'a> {
    pub const ROOT: NodeId = NodeId(0);

    /// Parse a newc archive and build its tree.
    pub fn parse(img: &'a [u8]) -> Result<Ramdisk<'a>, RdError> {
        let mut root_mode = S_IFDIR | 0o755;
        // Keyed by path components: the last duplicate overwrites, and
        // iteration visits a directory before anything inside it and
        // siblings in name order.
        let mut entries: BTreeMap<Vec<&'a str>, Entry<'a>> = BTreeMap::new();
        let mut off = 0;
        loop {
            if off >= img.len() {
                return Err(RdError::NoTrailer { offset: off });
            }
            let (name, e, next) = parse_entry(img, off)?;
            if name == TRAILER {
                break;
            }
            let comps = split_name(name).ok_or(RdError::BadName { offset: off })?;
            if comps.is_empty() {
                if e.mode & S_IFMT != S_IFDIR {
                    return Err(RdError::NotADirectory { path: String::from("/") });
                }
                root_mode = e.mode;
            } else {
                entries.insert(comps, e);
            }
            off = next;
        }

        let mut rd = Ramdisk {
            nodes: alloc::vec![Node {
                name: "",
                kind: NodeKind::Dir,
                mode: root_mode,
                ino: ROOT_INO,
                data: &[],
                parent: Self::ROOT,
            }],
            children: alloc::vec![Vec::new()],
        };
        let mut index: BTreeMap<Vec<&'a str>, NodeId> = BTreeMap::new();
        for (comps, e) in entries {
            let mut dir = Self::ROOT;
            for depth in 1..comps.len() {
                let prefix = &comps[..depth];
                dir = match index.get(prefix) {
                    Some(&id) => id,
                    None => {
                        let id = rd.push(dir, prefix[depth - 1], S_IFDIR | 0o755, &[]);
                        index.insert(prefix.to_vec(), id);
                        id
                    }
                };
                if rd.node(dir).kind != NodeKind::Dir {
                    return Err(RdError::NotADirectory { path: join(&comps) });
                }
            }
            let id = rd.push(dir, comps[comps.len() - 1], e.mode, e.data);
            index.insert(comps, id);
        }
        for c in &mut rd.children {
            c.sort_by(|a, b| rd.nodes[a.0 as usize].name.cmp(rd.nodes[b.0 as usize].name));
        }
        Ok(rd)
    }

    fn push(&mut self, parent: NodeId, name: &'a str, mode: u32, data: &'a [u8]) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        let kind = if mode & S_IFMT == S_IFDIR { NodeKind::Dir } else { NodeKind::File };
        self.nodes.push(Node {
            name,
            kind,
            mode,
            ino: ROOT_INO + id.0 as u64,
            data: if kind == NodeKind::File { data } else { &[] },
            parent,
        });
        self.children.push(Vec::new());
        self.children[parent.0 as usize].push(id);
        id
    }

    /// The node `id`. Panics on an id this ramdisk did not hand out.
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id.0 as usize]
    }

    /// Resolve `path`, absolute or relative to the directory `cwd`.
    /// Handles `.`, `..` (the root is its own parent), repeated slashes
    /// and a trailing slash (which requires a directory). Errors are
    /// errno values: ENOENT (missing, or an empty path), ENOTDIR (a file
    /// where a directory is needed), ENAMETOOLONG (a component over
    /// MAXNAMLEN, or the path not shorter than PATH_MAX).
    pub fn lookup(&self, cwd: NodeId, path: &str) -> Result<NodeId, i32> {
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        if path.is_empty() {
            return Err(ENOENT);
        }
        let mut cur = if path.starts_with('/') { Self::ROOT } else { cwd };
        for c in path.split('/').filter(|c| !c.is_empty()) {
            if c.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            if self.node(cur).kind != NodeKind::Dir {
                return Err(ENOTDIR);
            }
            cur = match c {
                "." => cur,
                ".." => self.node(cur).parent,
                _ => self.child(cur, c).ok_or(ENOENT)?,
            };
        }
        if self.node(cur).kind != NodeKind::Dir && path.ends_with('/') {
            return Err(ENOTDIR);
        }
        Ok(cur)
    }

    /// The entry `name` in directory `dir`.
    pub fn child(&self, dir: NodeId, name: &str) -> Option<NodeId> {
        let c = self.children(dir);
        c.binary_search_by(|id| self.node(*id).name.cmp(name)).ok().map(|i| c[i])
    }

    /// The entries of a directory sorted by name; empty for a file.
    pub fn children(&self, dir: NodeId) -> &[NodeId] {
        &self.children[dir.0 as usize]
    }

    /// The absolute path of a node: "/" for the root.
    pub fn path_of(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        while cur != Self::ROOT {
            names.push(self.node(cur).name);
            cur = self.node(cur).parent;
        }
        if names.is_empty() {
            return String::from("/");
        }
        let mut s = String::new();
        for n in names.iter().rev() {
            s.push('/');
            s.push_str(n);
        }
        s
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: there is always a root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node id, the root first, each directory before its contents.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// Total bytes of file data.
    pub fn file_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.data.len()).sum()
    }
}

fn join(comps: &[&str]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(c);
    }
    s
}

/// Normalise an archive name into components; None if it cannot name a
/// node here.
fn split_name(name: &str) -> Option<Vec<&str>> {
    let mut v = Vec::new();
    // Length of the absolute path this becomes, "/a/b".
    let mut abs_len = 0;
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            _ if c.len() > NAME_MAX => return None,
            _ => {
                abs_len += 1 + c.len();
                v.push(c);
            }
        }
    }
    if abs_len >= PATH_MAX { None } else { Some(v) }
}

fn hex_field(img: &[u8], at: usize, hdr: usize) -> Result<u32, RdError> {
    let digits = &img[at..at + 8];
    let mut v: u32 = 0;
    for &d in digits {
        let x = (d as char).to_digit(16).ok_or(RdError::BadHeader { offset: hdr })?;
        v = (v << 4) | x;
    }
    Ok(v)
}

const fn align4(x: usize) -> usize {
    (x + 3) & !3
}

/// Parse the entry at `off`: its name, mode and data, and where the next
/// entry starts.
fn parse_entry(img: &[u8], off: usize) -> Result<(&str, Entry<'_>, usize), RdError> {
    let end_hdr =
        off.checked_add(HDR_LEN).filter(|&e| e <= img.len()).ok_or(RdError::Truncated { offset: off })?;
    let magic = &img[off..off + 6];
    let crc = match magic {
        b"070701" => false,
        b"070702" => true,
        _ => return Err(RdError::BadMagic { offset: off }),
    };
    // The 13 fields after the magic, 8 hex digits each: ino, mode, uid,
    // gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
    // rdevminor, namesize, check. All are checked to be hex.
    let mut f = [0u32; 13];
    for (i, v) in f.iter_mut().enumerate() {
        *v = hex_field(img, off + 6 + 8 * i, off)?;
    }
    let (mode, filesize, namesize, check) = (f[1], f[6] as usize, f[11] as usize, f[12]);

    let name_end = end_hdr
        .checked_add(namesize)
        .filter(|&e| e <= img.len())
        .ok_or(RdError::Truncated { offset: off })?;
    if namesize == 0 || img[name_end - 1] != 0 {
        return Err(RdError::BadName { offset: off });
    }
    let name =
        core::str::from_utf8(&img[end_hdr..name_end - 1]).map_err(|_| RdError::BadName { offset: off })?;
    if name.is_empty() || name.contains('\0') {
        return Err(RdError::BadName { offset: off });
    }
    // Clamped so that an empty file (the trailer, say) whose padding was
    // cut off at the end of the image still parses.
    let data_start = align4(name_end).min(img.len());
    let data_end = data_start
        .checked_add(filesize)
        .filter(|&e| e <= img.len())
        .ok_or(RdError::Truncated { offset: off })?;
    let data = &img[data_start..data_end];
    // The trailer's padding may be cut off at the end of the image.
    let next = align4(data_end);
    if name == TRAILER {
        return Ok((name, Entry { mode, data }, next));
    }
    match mode & S_IFMT {
        S_IFDIR | S_IFREG => {}
        _ => return Err(RdError::Unsupported { offset: off, mode }),
    }
    if crc && data.iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) != check {
        return Err(RdError::BadChecksum { offset: off });
    }
    Ok((name, Entry { mode, data }, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-encode one newc entry.
    fn entry(out: &mut Vec<u8>, magic: &str, name: &str, mode: u32, data: &[u8]) {
        let check = if magic == "070702" { data.iter().map(|&b| b as u32).sum() } else { 0 };
        let f = [0, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, check];
        out.extend_from_slice(magic.as_bytes());
        for v in f {
            out.extend_from_slice(format!("{v:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    fn archive(items: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, m, d) in items {
            entry(&mut v, "070701", n, *m, d);
        }
        entry(&mut v, "070701", TRAILER, 0, b"");
        v
    }

    const D: u32 = S_IFDIR | 0o755;
    const F: u32 = S_IFREG | 0o644;
    const X: u32 = S_IFREG | 0o755;

    fn sample() -> Vec<u8> {
        archive(&[
            (".", S_IFDIR | 0o700, b""),
            ("bin", D, b""),
            ("bin/sh", X, b"\x7fELF sh"),
            ("bin/echo", X, b"\x7fELF echo"),
            ("./etc/motd", F, b"welcome\n"),
            ("/sbin/init", X, b"\x7fELF init"),
        ])
    }

    #[test]
    fn builds_the_tree() {
        let img = sample();
        let rd = Ramdisk::parse(&img).unwrap();
        // root, bin, sh, echo, etc (implicit), motd, sbin (implicit), init
        assert_eq!(rd.len(), 8);
        assert_eq!(rd.node(Ramdisk::ROOT).mode, S_IFDIR | 0o700);
        assert_eq!(rd.node(Ramdisk::ROOT).ino, 2);
        let names: Vec<&str> = rd.children(Ramdisk::ROOT).iter().map(|&i| rd.node(i).name).collect();
        assert_eq!(names, ["bin", "etc", "sbin"]);
        let bin = rd.lookup(Ramdisk::ROOT, "/bin").unwrap();
        let names: Vec<&str> = rd.children(bin).iter().map(|&i| rd.node(i).name).collect();
        assert_eq!(names, ["echo", "sh"], "children sorted by name");
        let etc = rd.lookup(Ramdisk::ROOT, "etc").unwrap();
        assert_eq!(rd.node(etc).mode, S_IFDIR | 0o755, "implicit directory");
        let motd = rd.lookup(Ramdisk::ROOT, "/etc/motd").unwrap();
        let n = rd.node(motd);
        assert_eq!((n.name, n.kind, n.mode, n.data), ("motd", NodeKind::File, F, &b"welcome\n"[..]));
        assert_eq!(n.parent, etc);
        assert_eq!(rd.path_of(motd), "/etc/motd");
        assert_eq!(rd.path_of(Ramdisk::ROOT), "/");
        let init = rd.lookup(Ramdisk::ROOT, "/sbin/init").unwrap();
        assert_eq!(rd.node(init).data, b"\x7fELF init");
        assert_eq!(rd.file_bytes(), 7 + 9 + 8 + 9);
        let mut inos: Vec<u64> = rd.ids().map(|i| rd.node(i).ino).collect();
        inos.dedup();
        assert_eq!(inos.len(), rd.len(), "inode numbers are unique");
        assert!(rd.children(motd).is_empty());
    }

    #[test]
    fn lookup_rules() {
        let img = sample();
        let rd = Ramdisk::parse(&img).unwrap();
        let r = Ramdisk::ROOT;
        let bin = rd.lookup(r, "/bin").unwrap();
        let sh = rd.lookup(r, "/bin/sh").unwrap();
        assert_eq!(rd.lookup(bin, "sh"), Ok(sh));
        assert_eq!(rd.lookup(bin, "./sh"), Ok(sh));
        assert_eq!(rd.lookup(bin, "../bin/.//sh"), Ok(sh));
        assert_eq!(rd.lookup(r, "//bin///sh"), Ok(sh));
        assert_eq!(rd.lookup(r, "/../../bin/sh"), Ok(sh), "the root is its own parent");
        assert_eq!(rd.lookup(bin, ".."), Ok(r));
        assert_eq!(rd.lookup(bin, "/"), Ok(r));
        assert_eq!(rd.lookup(bin, "."), Ok(bin));
        assert_eq!(rd.lookup(r, "bin/"), Ok(bin));
        assert_eq!(rd.lookup(r, "bin/."), Ok(bin));
        assert_eq!(rd.lookup(r, "/bin/sh/"), Err(ENOTDIR));
        assert_eq!(rd.lookup(r, "/bin/sh/."), Err(ENOTDIR));
        assert_eq!(rd.lookup(r, "/bin/sh/.."), Err(ENOTDIR));
        assert_eq!(rd.lookup(r, "/bin/sh/x"), Err(ENOTDIR));
        assert_eq!(rd.lookup(sh, "x"), Err(ENOTDIR), "a file as cwd");
        assert_eq!(rd.lookup(r, "/bin/ls"), Err(ENOENT));
        assert_eq!(rd.lookup(r, "/nope/sh"), Err(ENOENT));
        assert_eq!(rd.lookup(r, ""), Err(ENOENT));
        let long = "a".repeat(NAME_MAX + 1);
        assert_eq!(rd.lookup(r, &long), Err(ENAMETOOLONG));
        assert_eq!(rd.lookup(r, &"/.".repeat(PATH_MAX / 2)), Err(ENAMETOOLONG));
        assert_eq!(rd.lookup(r, &"/.".repeat(PATH_MAX / 2 - 1)), Ok(r));
    }

    #[test]
    fn duplicates_last_wins() {
        let img = archive(&[("a", F, b"one"), ("d", D, b""), ("a", X, b"two"), ("d", S_IFDIR | 0o711, b"")]);
        let rd = Ramdisk::parse(&img).unwrap();
        assert_eq!(rd.len(), 3);
        let a = rd.node(rd.lookup(Ramdisk::ROOT, "a").unwrap());
        assert_eq!((a.mode, a.data), (X, &b"two"[..]));
        assert_eq!(rd.node(rd.lookup(Ramdisk::ROOT, "d").unwrap()).mode, S_IFDIR | 0o711);
        // A directory replaced by a file: what was under it has no parent.
        let img = archive(&[("d", D, b""), ("d/x", F, b""), ("d", F, b"now a file")]);
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::NotADirectory { path: "/d/x".into() }));
    }

    #[test]
    fn crc_format() {
        let mut img = Vec::new();
        entry(&mut img, "070702", "f", F, b"abc");
        entry(&mut img, "070702", TRAILER, 0, b"");
        let rd = Ramdisk::parse(&img).unwrap();
        assert_eq!(rd.node(rd.lookup(Ramdisk::ROOT, "f").unwrap()).data, b"abc");
        // Corrupt the data: the checksum catches it.
        let at = img.windows(3).position(|w| w == b"abc").unwrap();
        img[at] = b'x';
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::BadChecksum { offset: 0 }));
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        let lnk = archive(&[("bin", D, b""), ("bin/sh", 0o120777, b"ksh")]);
        let off = 116; // the second entry: 110 + "bin\0", padded to a multiple of 4
        assert_eq!(Ramdisk::parse(&lnk).err(), Some(RdError::Unsupported { offset: off, mode: 0o120777 }));
        let dev = archive(&[("console", 0o020600, b"")]);
        assert!(matches!(Ramdisk::parse(&dev), Err(RdError::Unsupported { .. })));
        let err = Ramdisk::parse(&dev).err().unwrap();
        assert!(format!("{err}").contains("only directories and regular files"));
        assert_eq!(
            Ramdisk::parse(&archive(&[("a/../b", F, b"")])).err(),
            Some(RdError::BadName { offset: 0 })
        );
        assert_eq!(
            Ramdisk::parse(&archive(&[("f", F, b""), ("f/g", F, b"")]))
                .err()
                .map(|e| matches!(e, RdError::NotADirectory { .. })),
            Some(true)
        );
        assert_eq!(
            Ramdisk::parse(&archive(&[(".", F, b"")])).err(),
            Some(RdError::NotADirectory { path: "/".into() })
        );
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(Ramdisk::parse(&archive(&[(&long, F, b"")])).err(), Some(RdError::BadName { offset: 0 }));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(Ramdisk::parse(b"").err(), Some(RdError::NoTrailer { offset: 0 }));
        let junk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(Ramdisk::parse(&junk).err(), Some(RdError::BadMagic { offset: 0 }));
        let mut img = sample();
        let t = img.len() - 124; // the trailer entry is 110 + 11 + 3 bytes of padding
        img.truncate(t);
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::NoTrailer { offset: t }));
        let mut img = sample();
        img[10] = b'g';
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::BadHeader { offset: 0 }));
        // A file size that points far past the end.
        let mut img = sample();
        img[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"ffffffff");
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::Truncated { offset: 0 }));
        // A name without its NUL.
        let mut img = archive(&[("abc", F, b"")]);
        img[110 + 3] = b'd';
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::BadName { offset: 0 }));
        // Non-UTF-8 name.
        let mut img = archive(&[("abc", F, b"")]);
        img[110] = 0xff;
        assert_eq!(Ramdisk::parse(&img).err(), Some(RdError::BadName { offset: 0 }));
        // Anything after the trailer is ignored; a trailer cut short of its padding is fine.
        let mut img = sample();
        img.extend_from_slice(&[0u8; 512]);
        assert!(Ramdisk::parse(&img).is_ok());
        let mut img = sample();
        img.truncate(img.len() - 3);
        assert!(Ramdisk::parse(&img).is_ok());
    }

    #[test]
    fn every_prefix_and_corruption_is_handled() {
        let img = sample();
        for n in 0..img.len() {
            // Must return, whatever it returns.
            let _ = Ramdisk::parse(&img[..n]).map(|rd| rd.len());
        }
        // Deterministic byte flips over the whole image (xorshift).
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let mut m = img.clone();
            let at = (s as usize) % m.len();
            m[at] = (s >> 32) as u8;
            if let Ok(rd) = Ramdisk::parse(&m) {
                for id in rd.ids() {
                    let _ = rd.path_of(id);
                    assert_eq!(rd.lookup(Ramdisk::ROOT, &rd.path_of(id)), Ok(id));
                }
            }
        }
    }
}
