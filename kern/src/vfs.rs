//! The file namespace: the ramdisk served read-only, `/dev/console`,
//! `/dev/null`, and the writable in-memory `/tmp` ([`crate::tmpfs`]).
//!
//! The ramdisk image stays where QEMU loaded it (withheld from the page
//! allocator, reached through the direct map); files are slices of it, so
//! exec maps program text and data straight from the image.
//!
//! A path is first resolved lexically against the current directory to
//! see whether it lands in `/tmp` (or on `/dev/console`); everything else
//! is walked in the ramdisk as before. A process whose current directory
//! is `/tmp` has `ps_cwd == TMP_CWD`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sys::errno::*;
use sys::fcntl::*;
use sys::stat::*;

use crate::kern_descrip::{self, File, FileKind};
use crate::kern_sched::curproc;
use crate::ramdisk::{NodeId, NodeKind, Ramdisk};
use crate::tmpfs::{self, TmpFile};
use crate::uvm_glue::{copyinstr, copyout, copyout_val};

static RAMDISK: spin::Once<Ramdisk<'static>> = spin::Once::new();
static EMPTY: [u8; 0] = [];

/// Boot: serve `img` (the initrd) as the root. A bad image is reported
/// and replaced by an empty tree, so the kernel still comes up.
pub fn vfs_init(img: Option<&'static [u8]>) {
    RAMDISK.call_once(|| match img.map(Ramdisk::parse) {
        Some(Ok(rd)) => {
            crate::printf!("rd0: {} files and directories\n", rd.len());
            rd
        }
        Some(Err(e)) => {
            crate::printf!("rd0: not a cpio (newc) archive ({e:?}); empty root\n");
            Ramdisk::parse(&EMPTY).expect("empty ramdisk")
        }
        None => Ramdisk::parse(&EMPTY).expect("empty ramdisk"),
    });
}

pub fn rd() -> &'static Ramdisk<'static> {
    RAMDISK.get().expect("vfs: not initialised")
}

/// What a path names.
pub enum Target {
    Node(NodeId),
    Console,
    /// `/dev/null`.
    Null,
    /// `/tmp` itself.
    TmpDir,
    /// A file in `/tmp`.
    Tmp(Arc<TmpFile>),
    /// A name in `/tmp` that does not exist (yet): open(O_CREAT) makes it.
    TmpMissing(String),
}

/// `ps_cwd` of a process whose current directory is `/tmp`.
const TMP_CWD: u32 = u32::MAX;

fn cwd_raw() -> u32 {
    curproc().p_p.ps_cwd.load(Ordering::Relaxed)
}

fn cwd_path() -> String {
    match cwd_raw() {
        TMP_CWD => String::from("/tmp"),
        id => rd().path_of(NodeId(id)),
    }
}

/// `path` made absolute against the current directory and reduced
/// lexically ("." and ".." removed): its components.
fn components(path: &str) -> Vec<String> {
    let base = if path.starts_with('/') { String::new() } else { cwd_path() };
    let mut out: Vec<String> = Vec::new();
    for c in base.split('/').chain(path.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(String::from(c)),
        }
    }
    out
}

pub fn namei(path: &[u8]) -> Result<Target, i32> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let s = core::str::from_utf8(path).map_err(|_| ENOENT)?;
    if s.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    let comps = components(s);
    match comps.as_slice() {
        [d, c] if d == "dev" && c == "console" => return Ok(Target::Console),
        [d, c] if d == "dev" && c == "null" => return Ok(Target::Null),
        [t] if t == "tmp" => return Ok(Target::TmpDir),
        [t, name] if t == "tmp" => {
            if s.ends_with('/') {
                return Err(if tmpfs::lookup(name).is_some() { ENOTDIR } else { ENOENT });
            }
            return Ok(match tmpfs::lookup(name) {
                Some(f) => Target::Tmp(f),
                None => Target::TmpMissing(name.clone()),
            });
        }
        [t, name, ..] if t == "tmp" => {
            return Err(if tmpfs::lookup(name).is_some() { ENOTDIR } else { ENOENT });
        }
        _ => {}
    }
    match cwd_raw() {
        // Relative to /tmp and leaving it: walk the reduced absolute path.
        TMP_CWD => rd().lookup(Ramdisk::ROOT, &alloc::format!("/{}", comps.join("/"))).map(Target::Node),
        id => rd().lookup(NodeId(id), s).map(Target::Node),
    }
}

fn user_path(upath: u64) -> Result<Vec<u8>, i32> {
    copyinstr(upath, PATH_MAX - 1)
}

pub fn sys_open(upath: u64, flags: i32) -> Result<i32, i32> {
    let path = user_path(upath)?;
    if flags & !(O_ACCMODE | O_NONBLOCK | O_APPEND | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_DIRECTORY)
        != 0
        || flags & O_ACCMODE == O_ACCMODE
    {
        return Err(EINVAL);
    }
    let writing = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0;
    let excl = flags & O_CREAT != 0 && flags & O_EXCL != 0;
    let kind = match namei(&path) {
        Ok(Target::Console) => FileKind::Console,
        Ok(Target::Null) => FileKind::Null,
        Ok(Target::Node(id)) => {
            let n = rd().node(id);
            if excl {
                return Err(EEXIST);
            }
            if writing {
                return Err(if n.kind == NodeKind::Dir { EISDIR } else { EROFS });
            }
            if flags & O_DIRECTORY != 0 && n.kind != NodeKind::Dir {
                return Err(ENOTDIR);
            }
            FileKind::Vnode(id)
        }
        Ok(Target::TmpDir) => {
            if excl {
                return Err(EEXIST);
            }
            if writing {
                return Err(EISDIR);
            }
            FileKind::TmpDir
        }
        Ok(Target::Tmp(f)) => {
            if excl {
                return Err(EEXIST);
            }
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY {
                f.truncate();
            }
            FileKind::Tmp(f)
        }
        Ok(Target::TmpMissing(name)) if flags & O_CREAT != 0 => {
            if flags & O_DIRECTORY != 0 {
                return Err(ENOTDIR);
            }
            FileKind::Tmp(tmpfs::create(&name, excl)?)
        }
        Ok(Target::TmpMissing(_)) => return Err(ENOENT),
        Err(ENOENT) if flags & O_CREAT != 0 => return Err(EROFS),
        Err(e) => return Err(e),
    };
    let f =
        Arc::new(File { f_kind: kind, f_flags: flags & (O_ACCMODE | O_APPEND), f_offset: AtomicU64::new(0) });
    let pr = curproc().p_p.clone();

    pr.ps_fd.lock().alloc(f, flags & O_CLOEXEC != 0, 0)
}

/// unlink(2): only /tmp's files can go.
pub fn sys_unlink(upath: u64) -> Result<(), i32> {
    let path = user_path(upath)?;
    match namei(&path)? {
        Target::Tmp(_) => {
            let comps = components(core::str::from_utf8(&path).map_err(|_| ENOENT)?);
            tmpfs::remove(comps.last().map(String::as_str).unwrap_or(""))
        }
        Target::TmpMissing(_) => Err(ENOENT),
        Target::TmpDir => Err(EPERM),
        Target::Node(id) if rd().node(id).kind == NodeKind::Dir => Err(EPERM),
        Target::Node(_) | Target::Console | Target::Null => Err(EROFS),
    }
}

/// mkdir(2): nothing is creatable but files in /tmp, which is flat.
pub fn sys_mkdir(upath: u64, _mode: u32) -> Result<(), i32> {
    let path = user_path(upath)?;
    match namei(&path) {
        Ok(Target::TmpMissing(_)) => Err(EOPNOTSUPP),
        Ok(_) => Err(EEXIST),
        Err(ENOENT) => Err(EROFS),
        Err(e) => Err(e),
    }
}

fn stat_node(id: NodeId) -> Stat {
    let n = rd().node(id);
    Stat {
        st_mode: n.mode,
        st_dev: 0,
        st_ino: n.ino,
        st_nlink: 1,
        st_size: n.data.len() as i64,
        st_blocks: n.data.len().div_ceil(512) as i64,
        st_blksize: 4096,
        ..Stat::default()
    }
}

fn stat_console() -> Stat {
    Stat { st_mode: S_IFCHR | 0o620, st_rdev: 0, st_blksize: 4096, ..Stat::default() }
}

fn stat_tmpdir() -> Stat {
    Stat {
        st_mode: S_IFDIR | 0o1777,
        st_ino: tmpfs::TMPDIR_INO,
        st_nlink: 2,
        st_blksize: 4096,
        ..Stat::default()
    }
}

fn stat_tmp(f: &TmpFile) -> Stat {
    let size = f.size();
    Stat {
        st_mode: S_IFREG | 0o644,
        st_ino: f.ino,
        st_nlink: 1,
        st_size: size as i64,
        st_blocks: size.div_ceil(512) as i64,
        st_blksize: 4096,
        ..Stat::default()
    }
}

fn stat_file(f: &File) -> Stat {
    match &f.f_kind {
        FileKind::Console | FileKind::Null => stat_console(),
        FileKind::Vnode(id) => stat_node(*id),
        FileKind::TmpDir => stat_tmpdir(),
        FileKind::Tmp(t) => stat_tmp(t),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => {
            Stat { st_mode: S_IFIFO | 0o600, st_blksize: kern_descrip::PIPE_SIZE as i32, ..Stat::default() }
        }
        // As OpenBSD's kqueue_stat: the events queued, in kevents.
        FileKind::Kqueue(kq) => Stat {
            st_mode: S_IFIFO | 0o600,
            st_size: kq.count() as i64,
            st_blksize: core::mem::size_of::<sys::event::Kevent>() as i32,
            ..Stat::default()
        },
    }
}

pub fn sys_stat(upath: u64, ust: u64) -> Result<(), i32> {
    let path = user_path(upath)?;
    let st = match namei(&path)? {
        Target::Console | Target::Null => stat_console(),
        Target::Node(id) => stat_node(id),
        Target::TmpDir => stat_tmpdir(),
        Target::Tmp(f) => stat_tmp(&f),
        Target::TmpMissing(_) => return Err(ENOENT),
    };
    copyout_val(&st, ust)
}

pub fn sys_fstat(fd: i32, ust: u64) -> Result<(), i32> {
    let f = curproc().p_p.ps_fd.lock().get(fd)?;
    copyout_val(&stat_file(&f), ust)
}

/// One directory's entries for getdents, "." and ".." first.
fn dir_entries(kind: &FileKind) -> Result<Vec<(String, u64, u8)>, i32> {
    use sys::dirent::{DT_DIR, DT_REG};
    let r = rd();
    match kind {
        FileKind::Vnode(id) => {
            let id = *id;
            if r.node(id).kind != NodeKind::Dir {
                return Err(ENOTDIR);
            }
            let mut v = alloc::vec![
                (String::from("."), r.node(id).ino, DT_DIR),
                (String::from(".."), r.node(r.node(id).parent).ino, DT_DIR),
            ];
            for &k in r.children(id) {
                let n = r.node(k);
                v.push((String::from(n.name), n.ino, if n.kind == NodeKind::Dir { DT_DIR } else { DT_REG }));
            }
            // /tmp is always there, whether or not the image has one.
            if id == Ramdisk::ROOT && r.child(id, "tmp").is_none() {
                v.push((String::from("tmp"), tmpfs::TMPDIR_INO, DT_DIR));
            }
            Ok(v)
        }
        FileKind::TmpDir => {
            let mut v = alloc::vec![
                (String::from("."), tmpfs::TMPDIR_INO, DT_DIR),
                (String::from(".."), r.node(Ramdisk::ROOT).ino, DT_DIR),
            ];
            v.extend(tmpfs::list().into_iter().map(|(n, ino)| (n, ino, DT_REG)));
            Ok(v)
        }
        _ => Err(ENOTDIR),
    }
}

/// getdents: whole records only; the file offset counts entries.
/// EINVAL when `len` cannot hold the next record.
pub fn sys_getdents(fd: i32, ubuf: u64, len: usize) -> Result<usize, i32> {
    use sys::dirent::*;
    let f = curproc().p_p.ps_fd.lock().get(fd)?;
    let ents = dir_entries(&f.f_kind)?;
    let mut idx = f.f_offset.load(Ordering::Relaxed) as usize;
    let mut out: Vec<u8> = Vec::new();
    while let Some((name, ino, ty)) = ents.get(idx) {
        let reclen = dirent_reclen(name.len());
        if out.len() + reclen > len {
            break;
        }
        let h = DirentHeader {
            d_fileno: *ino,
            d_off: (idx + 1) as i64,
            d_reclen: reclen as u16,
            d_type: *ty,
            d_namlen: name.len() as u8,
            d_padding: [0; 4],
        };
        let start = out.len();
        out.extend_from_slice(crate::uvm_glue::as_bytes(&h));
        out.extend_from_slice(name.as_bytes());
        out.resize(start + reclen, 0);
        idx += 1;
    }
    if out.is_empty() && idx < ents.len() {
        return Err(EINVAL);
    }
    copyout(&out, ubuf)?;
    f.f_offset.store(idx as u64, Ordering::Relaxed);
    Ok(out.len())
}

pub fn sys_chdir(upath: u64) -> Result<(), i32> {
    let path = user_path(upath)?;
    let id = match namei(&path)? {
        Target::TmpDir => TMP_CWD,
        Target::Node(id) if rd().node(id).kind == NodeKind::Dir => id.0,
        Target::TmpMissing(_) => return Err(ENOENT),
        _ => return Err(ENOTDIR),
    };
    curproc().p_p.ps_cwd.store(id, Ordering::Relaxed);
    Ok(())
}

/// __getcwd: the path with its NUL; ERANGE when `len` is too small.
pub fn sys_getcwd(ubuf: u64, len: usize) -> Result<usize, i32> {
    let mut p = cwd_path().into_bytes();
    p.push(0);
    if len == 0 {
        return Err(EINVAL);
    }
    if p.len() > len {
        return Err(ERANGE);
    }
    copyout(&p, ubuf)?;
    Ok(p.len())
}

/// Read a whole regular file (exec).
pub fn file_data(id: NodeId) -> Result<&'static [u8], i32> {
    let n = rd().node(id);
    match n.kind {
        NodeKind::File => Ok(n.data),
        NodeKind::Dir => Err(EACCES),
    }
}
