//! Writing "newc" cpio archives (magic 070701), the ramdisk format the
//! kernel reads (`kern::ramdisk`).
//!
//! Each entry: a 110-byte header of ASCII hex fields, the NUL-terminated
//! name padded to a multiple of 4 (counting the header), the data padded
//! likewise; `TRAILER!!!` ends the archive. Output is reproducible: inode
//! numbers count up from 1, owners are 0 and times are 0.

use std::fmt::Write as _;

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFCHR: u32 = 0o020000;

#[derive(Default)]
pub struct Newc {
    out: Vec<u8>,
    next_ino: u32,
}

impl Newc {
    pub fn new() -> Self {
        Newc { out: Vec::new(), next_ino: 1 }
    }

    /// A directory entry; `path` is relative ("bin") or "." for the root;
    /// `perm` is the permission bits.
    pub fn dir(&mut self, path: &str, perm: u32) {
        self.entry(path, S_IFDIR | (perm & 0o7777), 2, &[]);
    }

    /// A regular file entry.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, data);
    }

    /// A character device node (major, minor).
    pub fn chardev(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        self.entry_dev(path, S_IFCHR | (perm & 0o7777), 1, &[], (major, minor));
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        self.entry_dev(name, mode, nlink, data, (0, 0));
    }

    fn entry_dev(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8], rdev: (u32, u32)) {
        assert!(!name.is_empty() && !name.contains('\0'), "bad cpio name {name:?}");
        let size = u32::try_from(data.len()).expect("newc cpio entries are limited to 4 GiB");
        let ino = if name == TRAILER { 0 } else { self.next_ino };
        self.next_ino += 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor
        // rdevmajor rdevminor namesize check
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        let mut hdr = String::with_capacity(110);
        hdr.push_str(MAGIC);
        for f in fields {
            write!(hdr, "{f:08x}").unwrap();
        }
        self.out.extend_from_slice(hdr.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    /// Add the trailer and return the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry(TRAILER, 0, 1, &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kern::ramdisk::{NodeKind, Ramdisk};

    #[test]
    fn layout_of_one_entry() {
        let mut a = Newc::new();
        a.file("ab", 0o644, b"xyz");
        let img = a.finish();
        let hdr = std::str::from_utf8(&img[..110]).unwrap();
        assert!(hdr.starts_with("070701"));
        assert_eq!(&hdr[6..14], "00000001", "ino");
        assert_eq!(&hdr[14..22], "000081a4", "mode S_IFREG|0644");
        assert_eq!(&hdr[54..62], "00000003", "filesize");
        assert_eq!(&hdr[94..102], "00000003", "namesize with the NUL");
        assert_eq!(&img[110..113], b"ab\0");
        assert_eq!(img[113], 0, "header + name padded to 4");
        assert_eq!(&img[116..119], b"xyz");
        assert_eq!(img[119], 0);
        assert_eq!(img.len() % 4, 0);
        assert!(img.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    /// What the tools write, the kernel reads back the same.
    #[test]
    fn round_trip_through_the_kernel_parser() {
        let mut a = Newc::new();
        a.dir(".", 0o755);
        a.dir("bin", 0o755);
        a.file("bin/echo", 0o755, b"\x7fELF echo");
        a.dir("etc", 0o755);
        a.file("etc/motd", 0o644, b"hi\n");
        a.file("etc/empty", 0o600, b"");
        let big: Vec<u8> = (0..100_001u32).map(|i| (i * 7) as u8).collect();
        a.file("big", 0o644, &big);
        let img = a.finish();
        let rd = Ramdisk::parse(&img).unwrap();
        assert_eq!(rd.len(), 7);
        let root = Ramdisk::ROOT;
        let n = rd.node(rd.lookup(root, "/bin/echo").unwrap());
        assert_eq!((n.kind, n.mode, n.data), (NodeKind::File, S_IFREG | 0o755, &b"\x7fELF echo"[..]));
        let n = rd.node(rd.lookup(root, "/etc").unwrap());
        assert_eq!((n.kind, n.mode), (NodeKind::Dir, S_IFDIR | 0o755));
        assert_eq!(rd.node(rd.lookup(root, "/etc/empty").unwrap()).data, b"");
        assert_eq!(rd.node(rd.lookup(root, "/etc/motd").unwrap()).mode, S_IFREG | 0o644);
        assert_eq!(rd.node(rd.lookup(root, "/big").unwrap()).data, &big[..]);
        let names: Vec<&str> = rd.children(root).iter().map(|&i| rd.node(i).name).collect();
        assert_eq!(names, ["big", "bin", "etc"]);
    }
}
