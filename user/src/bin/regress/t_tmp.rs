//! The writable /tmp, `#!` scripts, and the kernel's identity strings.

use rt::prelude::*;
use sys::fcntl::*;
use sys::stat::{S_IFDIR, S_IFMT, S_IFREG};
use sys::sysctl::*;

use crate::util::*;

fn slurp(path: &str) -> Res<Vec<u8>> {
    let fd = rt::open(path, O_RDONLY, 0).ctx(path)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let n = rt::read(fd, &mut buf).ctx("read")?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    rt::close(fd).ctx("close")?;
    Ok(out)
}

fn names_in(dir: &str) -> Res<Vec<String>> {
    let fd = rt::open(dir, O_RDONLY | O_DIRECTORY, 0).ctx(dir)?;
    let mut buf = [0u8; 2048];
    let mut names = Vec::new();
    loop {
        let n = rt::getdents(fd, &mut buf).ctx("getdents")?;
        if n == 0 {
            break;
        }
        names.extend(rt::fs::Dirents::new(&buf[..n]).map(|d| String::from(d.name_str())));
    }
    rt::close(fd).ctx("close")?;
    Ok(names)
}

/// Files in /tmp: create, write, append, truncate, O_EXCL, stat, list,
/// unlink (an open file outlives its name); the ramdisk stays read-only.
pub fn files() -> Outcome {
    let p = format!("/tmp/regress.{}", rt::getpid());
    let fd = rt::open(&p, O_WRONLY | O_CREAT | O_TRUNC, 0o644).ctx("create")?;
    write_all(fd, b"hello ")?;
    rt::close(fd).ctx("close")?;
    let fd = rt::open(&p, O_WRONLY | O_APPEND, 0).ctx("open O_APPEND")?;
    write_all(fd, b"world\n")?;
    rt::close(fd).ctx("close")?;
    ensure!(slurp(&p)? == b"hello world\n", "contents {:?}", String::from_utf8_lossy(&slurp(&p)?));
    let st = rt::stat(&p).ctx("stat")?;
    ensure!(
        st.st_mode & S_IFMT == S_IFREG && st.st_size == 12,
        "stat mode {:o} size {}",
        st.st_mode,
        st.st_size
    );
    expect_err(
        "O_EXCL on an existing file",
        rt::open(&p, O_WRONLY | O_CREAT | O_EXCL, 0o644),
        Errno::EEXIST,
    )?;
    let name = p.trim_start_matches("/tmp/");
    ensure!(names_in("/tmp")?.iter().any(|n| n == name), "{name} not listed in /tmp");
    ensure!(names_in("/")?.iter().any(|n| n == "tmp"), "/ does not list tmp");
    let st = rt::stat("/tmp").ctx("stat /tmp")?;
    ensure!(st.st_mode & S_IFMT == S_IFDIR, "/tmp is not a directory");
    // Truncation, and a descriptor that outlives the name.
    let fd = rt::open(&p, O_RDWR | O_TRUNC, 0).ctx("open O_TRUNC")?;
    ensure!(rt::fstat(fd).ctx("fstat")?.st_size == 0, "O_TRUNC left data");
    write_all(fd, b"kept")?;
    rt::unlink(&p).ctx("unlink")?;
    expect_err("stat after unlink", rt::stat(&p), Errno::ENOENT)?;
    expect_err("unlink twice", rt::unlink(&p), Errno::ENOENT)?;
    ensure!(rt::fstat(fd).ctx("fstat unlinked")?.st_size == 4, "unlinked file lost its data");
    rt::close(fd).ctx("close")?;
    expect_err("create on the ramdisk", rt::open("/etc/new", O_WRONLY | O_CREAT, 0o644), Errno::EROFS)?;
    expect_err("write a ramdisk file", rt::open("/etc/motd", O_WRONLY, 0), Errno::EROFS)?;
    expect_err("unlink a ramdisk file", rt::unlink("/etc/motd"), Errno::EROFS)?;
    expect_err("mkdir in /tmp", rt::mkdir("/tmp/d", 0o755), Errno::EOPNOTSUPP)?;
    expect_err("a path under a /tmp file", rt::open("/tmp/nope/x", O_RDONLY, 0), Errno::ENOENT)?;
    Ok("create, append, O_EXCL, truncate, list, unlink with the file open; EROFS elsewhere".into())
}

/// chdir into /tmp: relative names there, getcwd, and ".." back out.
pub fn cwd() -> Outcome {
    rt::chdir("/tmp").ctx("chdir /tmp")?;
    let mut buf = [0u8; 64];
    ensure!(rt::getcwd(&mut buf).ctx("getcwd")? == "/tmp", "getcwd in /tmp");
    let fd = rt::open("rel", O_WRONLY | O_CREAT, 0o644).ctx("create relative")?;
    rt::close(fd).ctx("close")?;
    rt::stat("/tmp/rel").ctx("stat absolute")?;
    rt::stat("../bin/echo").ctx("stat ../bin/echo from /tmp")?;
    rt::unlink("rel").ctx("unlink relative")?;
    rt::chdir("..").ctx("chdir ..")?;
    ensure!(rt::getcwd(&mut buf).ctx("getcwd")? == "/", "getcwd after ..");
    Ok("relative create/stat/unlink in /tmp, ../bin/echo, back to /".into())
}

/// `#!interp arg` runs interp with arg, the script's path and the rest of
/// argv — from a file in /tmp, which cannot itself be mapped.
pub fn shebang() -> Outcome {
    let p = format!("/tmp/script.{}", rt::getpid());
    let fd = rt::open(&p, O_WRONLY | O_CREAT | O_TRUNC, 0o755).ctx("create")?;
    write_all(fd, b"#!/bin/echo from-script\nignored\n")?;
    rt::close(fd).ctx("close")?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let path = p.clone();
    let pid = spawn(move || {
        let _ = rt::dup2(w, 1);
        let e = rt::execve(&path, &["script", "one", "two"], &[]);
        eprintln!("regress: exec {path}: {e}");
        127
    })?;
    rt::close(w).ctx("close")?;
    let mut out = [0u8; 200];
    let n = read_full(r, &mut out)?;
    let st = wait_for(pid)?;
    let _ = rt::unlink(&p);
    let got = String::from_utf8_lossy(&out[..n]);
    let want = format!("from-script {p} one two\n");
    ensure!(st.exited() == Some(0), "script {st}");
    ensure!(got == want, "output {got:?}, expected {want:?}");
    // A data file in /tmp is not executable.
    let fd = rt::open(&p, O_WRONLY | O_CREAT | O_TRUNC, 0o755).ctx("create")?;
    write_all(fd, b"\x7fELF")?;
    rt::close(fd).ctx("close")?;
    let e = rt::execve(&p, &["x"], &[]);
    let _ = rt::unlink(&p);
    ensure!(e == Errno::EACCES, "exec of a non-script in /tmp: {e:?}");
    Ok(format!("{:?}", got.trim_end()))
}

/// kern.version, kern.hostname, kern.cmdline and kern.msgbuf.
pub fn sysctl_strings() -> Outcome {
    let v = rt::sysctl::sysctl_string(&[CTL_KERN, KERN_VERSION]).ctx("kern.version")?;
    ensure!(v.starts_with("oxbsd "), "kern.version {v:?}");
    let h = rt::sysctl::sysctl_string(&[CTL_KERN, KERN_HOSTNAME]).ctx("kern.hostname")?;
    ensure!(!h.is_empty(), "empty kern.hostname");
    let c = rt::sysctl::sysctl_string(&[CTL_KERN, KERN_CMDLINE]).ctx("kern.cmdline")?;
    ensure!(c.contains("init=/bin/regress"), "kern.cmdline {c:?}");
    let n = rt::sysctl(&[CTL_KERN, KERN_MSGBUF], None, None).ctx("kern.msgbuf size")?;
    let mut m = alloc::vec![0u8; n];
    let got = rt::sysctl(&[CTL_KERN, KERN_MSGBUF], Some(&mut m), None).ctx("kern.msgbuf")?;
    let text = String::from_utf8_lossy(&m[..got]);
    ensure!(text.contains(v.as_str()), "the message buffer lacks the banner {v:?}");
    Ok(format!("{v}; msgbuf {got} bytes"))
}

/// /dev/null: writes vanish, reads see end of file, nothing is created.
pub fn dev_null() -> Outcome {
    let fd = rt::open("/dev/null", O_RDWR, 0).ctx("open /dev/null")?;
    ensure!(rt::write(fd, b"gone").ctx("write")? == 4, "short write to /dev/null");
    let mut b = [0u8; 8];
    ensure!(rt::read(fd, &mut b).ctx("read")? == 0, "read from /dev/null found data");
    rt::close(fd).ctx("close")?;
    let fd = rt::open("/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644).ctx("open O_CREAT|O_TRUNC")?;
    rt::close(fd).ctx("close")?;
    expect_err("unlink /dev/null", rt::unlink("/dev/null"), Errno::EROFS)?;
    Ok("4 bytes written, 0 read".into())
}
