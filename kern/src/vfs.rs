//! The file namespace: the ramdisk served read-only, plus `/dev/console`.
//!
//! The ramdisk image stays where QEMU loaded it (withheld from the page
//! allocator, reached through the direct map); files are slices of it, so
//! exec maps program text and data straight from the image.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sys::errno::*;
use sys::fcntl::*;
use sys::stat::*;

use crate::kern_descrip::{self, File, FileKind};
use crate::kern_sched::curproc;
use crate::ramdisk::{NodeId, NodeKind, Ramdisk};
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
}

fn cwd() -> NodeId {
    NodeId(curproc().p_p.ps_cwd.load(Ordering::Relaxed))
}

pub fn namei(path: &[u8]) -> Result<Target, i32> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let s = core::str::from_utf8(path).map_err(|_| ENOENT)?;
    if s == "/dev/console" {
        return Ok(Target::Console);
    }
    rd().lookup(cwd(), s).map(Target::Node)
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
    let kind = match namei(&path) {
        Ok(Target::Console) => FileKind::Console,
        Ok(Target::Node(id)) => {
            let n = rd().node(id);
            if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
                return Err(EEXIST);
            }
            if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 {
                return Err(if n.kind == NodeKind::Dir { EISDIR } else { EROFS });
            }
            if flags & O_DIRECTORY != 0 && n.kind != NodeKind::Dir {
                return Err(ENOTDIR);
            }
            FileKind::Vnode(id)
        }
        Err(ENOENT) if flags & O_CREAT != 0 => return Err(EROFS),
        Err(e) => return Err(e),
    };
    let f = Arc::new(File { f_kind: kind, f_flags: flags & O_ACCMODE, f_offset: AtomicU64::new(0) });
    let pr = curproc().p_p.clone();

    pr.ps_fd.lock().alloc(f, flags & O_CLOEXEC != 0, 0)
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

fn stat_file(f: &File) -> Stat {
    match &f.f_kind {
        FileKind::Console => stat_console(),
        FileKind::Vnode(id) => stat_node(*id),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => {
            Stat { st_mode: S_IFIFO | 0o600, st_blksize: kern_descrip::PIPE_SIZE as i32, ..Stat::default() }
        }
    }
}

pub fn sys_stat(upath: u64, ust: u64) -> Result<(), i32> {
    let path = user_path(upath)?;
    let st = match namei(&path)? {
        Target::Console => stat_console(),
        Target::Node(id) => stat_node(id),
    };
    copyout_val(&st, ust)
}

pub fn sys_fstat(fd: i32, ust: u64) -> Result<(), i32> {
    let f = curproc().p_p.ps_fd.lock().get(fd)?;
    copyout_val(&stat_file(&f), ust)
}

/// getdents: whole records only; the file offset counts entries.
/// EINVAL when `len` cannot hold the next record.
pub fn sys_getdents(fd: i32, ubuf: u64, len: usize) -> Result<usize, i32> {
    use sys::dirent::*;
    let f = curproc().p_p.ps_fd.lock().get(fd)?;
    let FileKind::Vnode(id) = f.f_kind else { return Err(ENOTDIR) };
    let r = rd();
    if r.node(id).kind != NodeKind::Dir {
        return Err(ENOTDIR);
    }
    // "." and ".." first, then the children.
    let kids = r.children(id);
    let total = kids.len() + 2;
    let mut idx = f.f_offset.load(Ordering::Relaxed) as usize;
    let mut out: Vec<u8> = Vec::new();
    while idx < total {
        let (name, ino, ty): (&str, u64, u8) = match idx {
            0 => (".", r.node(id).ino, DT_DIR),
            1 => ("..", r.node(r.node(id).parent).ino, DT_DIR),
            i => {
                let n = r.node(kids[i - 2]);
                (n.name, n.ino, if n.kind == NodeKind::Dir { DT_DIR } else { DT_REG })
            }
        };
        let reclen = dirent_reclen(name.len());
        if out.len() + reclen > len {
            break;
        }
        let h = DirentHeader {
            d_fileno: ino,
            d_off: (idx + 1) as i64,
            d_reclen: reclen as u16,
            d_type: ty,
            d_namlen: name.len() as u8,
            d_padding: [0; 4],
        };
        let hb = crate::uvm_glue::as_bytes(&h);
        let start = out.len();
        out.extend_from_slice(hb);
        out.extend_from_slice(name.as_bytes());
        out.resize(start + reclen, 0);
        idx += 1;
    }
    if out.is_empty() && idx < total {
        return Err(EINVAL);
    }
    copyout(&out, ubuf)?;
    f.f_offset.store(idx as u64, Ordering::Relaxed);
    Ok(out.len())
}

pub fn sys_chdir(upath: u64) -> Result<(), i32> {
    let path = user_path(upath)?;
    match namei(&path)? {
        Target::Console => Err(ENOTDIR),
        Target::Node(id) => {
            if rd().node(id).kind != NodeKind::Dir {
                return Err(ENOTDIR);
            }
            curproc().p_p.ps_cwd.store(id.0, Ordering::Relaxed);
            Ok(())
        }
    }
}

/// __getcwd: the path with its NUL; ERANGE when `len` is too small.
pub fn sys_getcwd(ubuf: u64, len: usize) -> Result<usize, i32> {
    let mut p = rd().path_of(cwd()).into_bytes();
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
