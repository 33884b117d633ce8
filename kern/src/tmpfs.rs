//! `/tmp`: a small writable file system in kernel memory.
//!
//! One flat directory of regular files (no subdirectories), so a shell has
//! somewhere to redirect output and keep scratch files. Files live in the
//! kernel heap; the total is capped at [`TMPFS_MAXBYTES`] (ENOSPC beyond).
//! An unlinked file lives on while a descriptor still refers to it (the
//! descriptor holds an `Arc`).
//!
//! Locking: `TMPFS` (spin mutex) protects the name table and the byte
//! count; each file's `data` mutex protects its contents. Order: TMPFS,
//! then a file's data. Copies to and from user space never happen under
//! either: callers move data through a kernel buffer.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sys::errno::*;

use crate::mutex::Mutex;

/// Most bytes all files in /tmp may hold together.
pub const TMPFS_MAXBYTES: usize = 8 << 20;
/// Longest file name.
const NAME_MAX: usize = 255;
/// Inode numbers of /tmp's files start here, far above the ramdisk's.
const INO_BASE: u64 = 1 << 32;
/// The inode number of /tmp itself.
pub const TMPDIR_INO: u64 = INO_BASE - 1;

pub struct TmpFile {
    pub ino: u64,
    data: Mutex<Vec<u8>>,
}

struct TmpFs {
    files: BTreeMap<String, Arc<TmpFile>>,
    /// Bytes held by every file, linked or not (see `TmpFile::drop`).
    bytes: usize,
}

static TMPFS: Mutex<TmpFs> = Mutex::new(TmpFs { files: BTreeMap::new(), bytes: 0 });
static NEXT_INO: AtomicU64 = AtomicU64::new(INO_BASE);

impl Drop for TmpFile {
    fn drop(&mut self) {
        let n = self.data.lock().len();
        TMPFS.lock().bytes -= n;
    }
}

fn check_name(name: &str) -> Result<(), i32> {
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(EINVAL);
    }
    Ok(())
}

/// The file `name`, if there is one.
pub fn lookup(name: &str) -> Option<Arc<TmpFile>> {
    TMPFS.lock().files.get(name).cloned()
}

/// open(O_CREAT): the file `name`, created empty if missing. `excl`:
/// EEXIST if it exists.
pub fn create(name: &str, excl: bool) -> Result<Arc<TmpFile>, i32> {
    check_name(name)?;
    let mut fs = TMPFS.lock();
    if let Some(f) = fs.files.get(name) {
        return if excl { Err(EEXIST) } else { Ok(f.clone()) };
    }
    let f = Arc::new(TmpFile { ino: NEXT_INO.fetch_add(1, Ordering::Relaxed), data: Mutex::new(Vec::new()) });
    fs.files.insert(String::from(name), f.clone());
    Ok(f)
}

/// unlink(2).
pub fn remove(name: &str) -> Result<(), i32> {
    let f = TMPFS.lock().files.remove(name).ok_or(ENOENT)?;
    // Dropped outside the table lock: the last reference gives back its
    // bytes, which takes that lock.
    drop(f);
    Ok(())
}

/// Names and inode numbers, sorted by name (getdents).
pub fn list() -> Vec<(String, u64)> {
    TMPFS.lock().files.iter().map(|(n, f)| (n.clone(), f.ino)).collect()
}

impl TmpFile {
    pub fn size(&self) -> usize {
        self.data.lock().len()
    }

    /// Copy out of the file from `off`; the count copied (0 at the end).
    pub fn read_at(&self, off: usize, buf: &mut [u8]) -> usize {
        let d = self.data.lock();
        let n = d.len().saturating_sub(off).min(buf.len());
        buf[..n].copy_from_slice(&d[off..off + n]);
        n
    }

    /// Write `src` at `off` (or at the end with `append`), growing the file
    /// (a hole reads as zeros). Returns the offset after the write.
    pub fn write_at(&self, off: usize, src: &[u8], append: bool) -> Result<usize, i32> {
        let mut fs = TMPFS.lock();
        let mut d = self.data.lock();
        let off = if append { d.len() } else { off };
        let end = off.checked_add(src.len()).ok_or(EFBIG)?;
        let grow = end.saturating_sub(d.len());
        if fs.bytes + grow > TMPFS_MAXBYTES {
            return Err(ENOSPC);
        }
        if grow > 0 {
            d.try_reserve(grow).map_err(|_| ENOSPC)?;
            d.resize(end, 0);
            fs.bytes += grow;
        }
        d[off..end].copy_from_slice(src);
        Ok(end)
    }

    /// O_TRUNC: empty the file.
    pub fn truncate(&self) {
        let mut fs = TMPFS.lock();
        let mut d = self.data.lock();
        fs.bytes -= d.len();
        d.clear();
        d.shrink_to_fit();
    }

    /// The first bytes of the file (exec looks for `#!`).
    pub fn head(&self, n: usize) -> Vec<u8> {
        let d = self.data.lock();
        d[..n.min(d.len())].to_vec()
    }
}
