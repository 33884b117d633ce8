//! File descriptors and the objects behind them: the console, read-only
//! files and directories of the ramdisk, and pipes.
//!
//! A [`FileDesc`] is a process's table (under its `ps_fd` mutex); entries
//! share [`File`]s by `Arc` (dup, fork). Closing the last reference to a
//! pipe end wakes the other side. A table operation never sleeps while
//! holding `ps_fd`: reads and writes clone the `Arc<File>` first.
//!
//! Kqueues (`kern_event`) are files too, but fork does not copy them, as
//! in OpenBSD: a kqueue belongs to the process that made it. Every close
//! of a descriptor number (close, dup2 over it, close-on-exec) tells
//! `kern_event::knote_fdclose`, which deletes the knotes registered on
//! that number. A pipe tells its klist (`Pipe::knote`) about every change
//! of its state, under its lock.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sys::errno::*;

use crate::kern_sched::{PSOCK, curproc};
use crate::kern_synch::{msleep, wakeup};
use crate::mutex::Mutex;
use crate::proc::Process;
use crate::ramdisk::{NodeId, NodeKind};
use crate::vfs;

/// Most descriptors a process may have open.
pub const NOFILE: usize = 128;
/// Pipe buffer size (OpenBSD's PIPE_SIZE).
pub const PIPE_SIZE: usize = 16384;

pub enum FileKind {
    Console,
    /// `/dev/null`: reads see end of file, writes vanish.
    Null,
    Vnode(NodeId),
    PipeRead(Arc<Pipe>),
    PipeWrite(Arc<Pipe>),
    /// The directory /tmp.
    TmpDir,
    /// A file in /tmp.
    Tmp(Arc<crate::tmpfs::TmpFile>),
    /// A kqueue; dropping it (with the last descriptor) frees it.
    Kqueue(crate::kern_event::Kqueue),
}

pub struct File {
    pub f_kind: FileKind,
    pub f_flags: i32,
    pub f_offset: AtomicU64,
}

impl File {
    pub fn new(kind: FileKind, flags: i32) -> File {
        File { f_kind: kind, f_flags: flags, f_offset: AtomicU64::new(0) }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        match &self.f_kind {
            FileKind::PipeRead(p) => p.close_end(true),
            FileKind::PipeWrite(p) => p.close_end(false),
            _ => {}
        }
    }
}

#[derive(Clone)]
struct FdEntry {
    file: Arc<File>,
    cloexec: bool,
}

pub struct FileDesc {
    fd_ofiles: Vec<Option<FdEntry>>,
}

impl Default for FileDesc {
    fn default() -> Self {
        Self::new()
    }
}

impl FileDesc {
    pub const fn new() -> FileDesc {
        FileDesc { fd_ofiles: Vec::new() }
    }

    /// fork: the child shares every open file (close-on-exec kept) but
    /// the kqueues, which stay the parent's (OpenBSD's fdcopy skips them
    /// too: a kqueue's signal and descriptor knotes are its process's).
    pub fn copy(&self) -> FileDesc {
        let kq = |e: &FdEntry| matches!(e.file.f_kind, FileKind::Kqueue(_));
        FileDesc { fd_ofiles: self.fd_ofiles.iter().map(|e| e.clone().filter(|e| !kq(e))).collect() }
    }

    pub fn get(&self, fd: i32) -> Result<Arc<File>, i32> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fd_ofiles.get(i))
            .and_then(|e| e.as_ref())
            .map(|e| e.file.clone())
            .ok_or(EBADF)
    }

    /// The lowest free descriptor at or above `min`.
    pub fn alloc(&mut self, file: Arc<File>, cloexec: bool, min: usize) -> Result<i32, i32> {
        let i = (min..NOFILE).find(|&i| self.fd_ofiles.get(i).is_none_or(|e| e.is_none())).ok_or(EMFILE)?;
        if self.fd_ofiles.len() <= i {
            self.fd_ofiles.resize(i + 1, None);
        }
        self.fd_ofiles[i] = Some(FdEntry { file, cloexec });
        Ok(i as i32)
    }

    /// Remove `fd` and return its file for the caller to drop outside the
    /// table lock (dropping may wake pipe peers).
    pub fn close(&mut self, fd: i32) -> Result<Arc<File>, i32> {
        let i = usize::try_from(fd).map_err(|_| EBADF)?;
        self.fd_ofiles.get_mut(i).and_then(|e| e.take()).map(|e| e.file).ok_or(EBADF)
    }

    pub fn dup2(&mut self, old: i32, new: i32) -> Result<(i32, Option<Arc<File>>), i32> {
        let f = self.get(old)?;
        let n = usize::try_from(new).ok().filter(|&n| n < NOFILE).ok_or(EBADF)?;
        if old == new {
            return Ok((new, None));
        }
        if self.fd_ofiles.len() <= n {
            self.fd_ofiles.resize(n + 1, None);
        }
        let prev = self.fd_ofiles[n].replace(FdEntry { file: f, cloexec: false }).map(|e| e.file);
        Ok((new, prev))
    }

    /// F_GETFD: whether `fd` is close-on-exec.
    pub fn cloexec(&self, fd: i32) -> Result<bool, i32> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fd_ofiles.get(i))
            .and_then(|e| e.as_ref())
            .map(|e| e.cloexec)
            .ok_or(EBADF)
    }

    /// F_SETFD.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), i32> {
        let e = usize::try_from(fd)
            .ok()
            .and_then(|i| self.fd_ofiles.get_mut(i))
            .and_then(|e| e.as_mut())
            .ok_or(EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    /// exec: close the close-on-exec descriptors; their numbers and files.
    pub fn close_on_exec(&mut self) -> Vec<(i32, Arc<File>)> {
        let mut out = Vec::new();
        for (i, e) in self.fd_ofiles.iter_mut().enumerate() {
            if e.as_ref().is_some_and(|x| x.cloexec) {
                out.push((i as i32, e.take().unwrap().file));
            }
        }
        out
    }

    pub fn take_all(&mut self) -> Vec<Arc<File>> {
        self.fd_ofiles.drain(..).flatten().map(|e| e.file).collect()
    }

    pub fn count(&self) -> usize {
        self.fd_ofiles.iter().flatten().count()
    }
}

/// exit: close every descriptor. May sleep? No: dropping files only wakes
/// and takes spin locks (a kqueue's close included). No knote_fdclose: the
/// knotes on these descriptors are on this process's kqueues, which close
/// here too.
pub fn fdfree(pr: &Process) {
    let files = pr.ps_fd.lock().take_all();
    drop(files);
}

/// exec: close the close-on-exec descriptors and the knotes on them.
pub fn fdcloseexec(pr: &Process) {
    let closed = pr.ps_fd.lock().close_on_exec();
    for (fd, _) in closed.iter() {
        crate::kern_event::knote_fdclose(pr, *fd);
    }
    drop(closed);
}

/// A pipe: a bounded byte queue with reader and writer counts.
pub struct Pipe {
    st: Mutex<PipeState>,
    /// Knotes watching either end (EVFILT_READ on the read end,
    /// EVFILT_WRITE on the write end); told of every change under `st`.
    pipe_klist: crate::kern_event::Klist,
}

/// A pipe's state as its knotes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeStat {
    /// Bytes to read.
    pub avail: usize,
    /// Room to write.
    pub space: usize,
    pub readers: u32,
    pub writers: u32,
}

struct PipeState {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            st: Mutex::new(PipeState { buf: VecDeque::new(), readers: 1, writers: 1 }),
            pipe_klist: crate::kern_event::Klist::new(),
        }
    }

    #[cfg(test)]
    pub fn new_for_test() -> Arc<Pipe> {
        Arc::new(Pipe::new())
    }

    fn ident(&self) -> usize {
        self as *const Pipe as usize
    }

    pub fn klist(&self) -> &crate::kern_event::Klist {
        &self.pipe_klist
    }

    fn stat(st: &PipeState) -> PipeStat {
        PipeStat {
            avail: st.buf.len(),
            space: PIPE_SIZE - st.buf.len(),
            readers: st.readers,
            writers: st.writers,
        }
    }

    /// Tell the knotes the state changed (KNOTE); under the state lock so
    /// the state they get is the state now.
    fn knote(&self, st: &PipeState) {
        if !self.pipe_klist.is_empty() {
            crate::kern_event::knote(&self.pipe_klist, crate::kern_event::Hint::Pipe(Self::stat(st)));
        }
    }

    /// Attach a knote (pipe_kqfilter): `f` runs with the state lock held
    /// and the state as it is, so no change can come between its reading
    /// and the knote's insertion.
    pub fn kqfilter<R>(&self, f: impl FnOnce(PipeStat) -> R) -> R {
        let st = self.st.lock();
        f(Self::stat(&st))
    }

    fn close_end(&self, reader: bool) {
        let mut st = self.st.lock();
        if reader {
            st.readers -= 1;
        } else {
            st.writers -= 1;
        }
        self.knote(&st);
        drop(st);
        wakeup(self.ident());
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        let mut st = self.st.lock();
        loop {
            if !st.buf.is_empty() {
                let n = buf.len().min(st.buf.len());
                for (i, b) in st.buf.drain(..n).enumerate() {
                    buf[i] = b;
                }
                self.knote(&st);
                drop(st);
                wakeup(self.ident());
                return Ok(n);
            }
            if st.writers == 0 {
                return Ok(0);
            }
            let (g, r) = msleep(self.ident(), st, &self.st, PSOCK, "piperd", 0, true);
            st = g;
            r.map_err(|e| e.errno())?;
        }
    }

    fn write(&self, data: &[u8]) -> Result<usize, i32> {
        let mut done = 0;
        let mut st = self.st.lock();
        while done < data.len() {
            if st.readers == 0 {
                drop(st);
                crate::kern_sig::psignal(&curproc().p_p, sys::signal::SIGPIPE);
                return if done > 0 { Ok(done) } else { Err(EPIPE) };
            }
            let room = PIPE_SIZE - st.buf.len();
            if room == 0 {
                wakeup(self.ident());
                let (g, r) = msleep(self.ident(), st, &self.st, PSOCK, "pipewr", 0, true);
                st = g;
                if let Err(e) = r {
                    return if done > 0 { Ok(done) } else { Err(e.errno()) };
                }
                continue;
            }
            let n = room.min(data.len() - done);
            st.buf.extend(&data[done..done + n]);
            self.knote(&st);
            done += n;
        }
        drop(st);
        wakeup(self.ident());
        Ok(done)
    }
}

pub fn pipe_create() -> (Arc<File>, Arc<File>) {
    let p = Arc::new(Pipe::new());
    let r = Arc::new(File::new(FileKind::PipeRead(p.clone()), 0));
    let w = Arc::new(File::new(FileKind::PipeWrite(p), 1));
    (r, w)
}

fn curfd() -> Arc<Process> {
    curproc().p_p.clone()
}

/// Bytes moved per copy step: reads and writes go through a kernel bounce
/// buffer, so no lock is held across a user copy.
const CHUNK: usize = 4096;

pub fn sys_read(fd: i32, ubuf: u64, len: usize) -> Result<usize, i32> {
    let f = curfd().ps_fd.lock().get(fd)?;
    if f.f_flags & sys::fcntl::O_ACCMODE == sys::fcntl::O_WRONLY {
        return Err(EBADF);
    }
    let mut kbuf = alloc::vec![0u8; len.min(CHUNK)];
    // Refuse a bad buffer before taking data from a file or a pipe, so
    // the data stays for the next read.
    if !crate::uvm_glue::user_writable(ubuf, kbuf.len()) {
        return Err(EFAULT);
    }
    let n = match &f.f_kind {
        FileKind::Console => crate::tty::ttread(&mut kbuf)?,
        FileKind::Null => 0,
        FileKind::Vnode(id) => {
            let node = vfs::rd().node(*id);
            if node.kind == NodeKind::Dir {
                return Err(EISDIR);
            }
            let off = f.f_offset.load(Ordering::Relaxed) as usize;
            let avail = node.data.len().saturating_sub(off);
            let n = avail.min(kbuf.len());
            kbuf[..n].copy_from_slice(&node.data[off..off + n]);
            f.f_offset.fetch_add(n as u64, Ordering::Relaxed);
            n
        }
        FileKind::PipeRead(p) => p.read(&mut kbuf)?,
        FileKind::PipeWrite(_) => return Err(EBADF),
        FileKind::TmpDir => return Err(EISDIR),
        FileKind::Kqueue(_) => return Err(ENXIO),
        FileKind::Tmp(t) => {
            let n = t.read_at(f.f_offset.load(Ordering::Relaxed) as usize, &mut kbuf);
            f.f_offset.fetch_add(n as u64, Ordering::Relaxed);
            n
        }
    };
    crate::uvm_glue::copyout(&kbuf[..n], ubuf)?;
    Ok(n)
}

pub fn sys_write(fd: i32, ubuf: u64, len: usize) -> Result<usize, i32> {
    let f = curfd().ps_fd.lock().get(fd)?;
    let mut done = 0;
    let mut kbuf = alloc::vec![0u8; len.min(CHUNK)];
    while done < len {
        let n = (len - done).min(kbuf.len());
        if let Err(e) = crate::uvm_glue::copyin(ubuf + done as u64, &mut kbuf[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        let w = match &f.f_kind {
            FileKind::Console => {
                crate::tty::ttwrite(&kbuf[..n]);
                n
            }
            FileKind::Null => n,
            FileKind::PipeWrite(p) => match p.write(&kbuf[..n]) {
                Ok(w) => w,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            },
            FileKind::Tmp(t) => {
                if f.f_flags & sys::fcntl::O_ACCMODE == sys::fcntl::O_RDONLY {
                    return Err(EBADF);
                }
                let append = f.f_flags & sys::fcntl::O_APPEND != 0;
                match t.write_at(f.f_offset.load(Ordering::Relaxed) as usize, &kbuf[..n], append) {
                    Ok(end) => f.f_offset.store(end as u64, Ordering::Relaxed),
                    Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
                }
                n
            }
            FileKind::Vnode(_) | FileKind::TmpDir => return Err(EBADF),
            FileKind::PipeRead(_) => return Err(EBADF),
            FileKind::Kqueue(_) => return Err(ENXIO),
        };
        done += w;
        if w < n {
            break;
        }
    }
    Ok(done)
}

pub fn sys_close(fd: i32) -> Result<(), i32> {
    let pr = curfd();
    let f = pr.ps_fd.lock().close(fd)?;
    crate::kern_event::knote_fdclose(&pr, fd);
    drop(f);
    Ok(())
}

pub fn sys_dup(fd: i32) -> Result<i32, i32> {
    let pr = curfd();
    let mut t = pr.ps_fd.lock();
    let f = t.get(fd)?;
    t.alloc(f, false, 0)
}

pub fn sys_dup2(old: i32, new: i32) -> Result<i32, i32> {
    let pr = curfd();
    let (fd, prev) = pr.ps_fd.lock().dup2(old, new)?;
    if prev.is_some() {
        crate::kern_event::knote_fdclose(&pr, fd);
    }
    drop(prev);
    Ok(fd)
}

/// fcntl: descriptor duplication and flags. F_SETFL accepts and ignores
/// O_NONBLOCK and O_APPEND changes it cannot honour on these files.
pub fn sys_fcntl(fd: i32, cmd: i32, arg: i64) -> Result<i32, i32> {
    use sys::fcntl::*;
    let pr = curfd();
    let mut t = pr.ps_fd.lock();
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg).ok().filter(|&m| m < NOFILE).ok_or(EINVAL)?;
            let f = t.get(fd)?;
            t.alloc(f, cmd == F_DUPFD_CLOEXEC, min)
        }
        F_GETFD => t.cloexec(fd).map(|c| if c { FD_CLOEXEC } else { 0 }),
        F_SETFD => t.set_cloexec(fd, arg as i32 & FD_CLOEXEC != 0).map(|_| 0),
        F_GETFL => t.get(fd).map(|f| f.f_flags),
        F_SETFL => t.get(fd).map(|_| 0),
        _ => Err(EINVAL),
    }
}

/// ioctl: terminal requests on the console; ENOTTY on anything else.
pub fn sys_ioctl(fd: i32, req: u64, arg: u64) -> Result<(), i32> {
    let f = curfd().ps_fd.lock().get(fd)?;
    match f.f_kind {
        FileKind::Console => crate::tty::ttioctl(req as u32, arg),
        _ => Err(ENOTTY),
    }
}

pub fn sys_pipe(ufds: u64) -> Result<(), i32> {
    let pr = curfd();
    let (r, w) = pipe_create();
    let (a, b) = {
        let mut t = pr.ps_fd.lock();
        let a = t.alloc(r, false, 0)?;
        match t.alloc(w, false, 0) {
            Ok(b) => (a, b),
            Err(e) => {
                let f = t.close(a);
                drop(t);
                drop(f);
                return Err(e);
            }
        }
    };
    if let Err(e) = crate::uvm_glue::copyout_val(&[a, b], ufds) {
        let mut t = pr.ps_fd.lock();
        let fa = t.close(a);
        let fb = t.close(b);
        drop(t);
        crate::kern_event::knote_fdclose(&pr, a);
        crate::kern_event::knote_fdclose(&pr, b);
        drop((fa, fb));
        return Err(e);
    }
    Ok(())
}

/// Open a console file (init's stdin/stdout/stderr, /dev/console).
pub fn console_file(flags: i32) -> Arc<File> {
    Arc::new(File::new(FileKind::Console, flags))
}
