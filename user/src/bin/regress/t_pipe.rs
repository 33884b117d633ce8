//! Pipes: a transfer larger than the pipe buffer, end of file, EPIPE and
//! SIGPIPE, dup and dup2 of pipe ends.

use rt::prelude::*;
use rt::signal::{Handler, signal};
use sys::signal::SIGPIPE;

use crate::util::*;

fn byte(i: usize) -> u8 {
    (i.wrapping_mul(7) % 251) as u8
}

/// 64 KiB (four times the pipe buffer) from parent to child, written in
/// odd-sized pieces and checked byte by byte.
pub fn large() -> Outcome {
    const N: usize = 64 << 10;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        let _ = rt::close(w);
        let mut got = 0usize;
        let mut buf = [0u8; 3000];
        loop {
            match rt::read(r, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if buf[..n].iter().enumerate().any(|(i, &b)| b != byte(got + i)) {
                        return 10;
                    }
                    got += n;
                }
                Err(Errno::EINTR) => {}
                Err(_) => return 11,
            }
        }
        if got == N { 0 } else { 12 }
    })?;
    let _ = rt::close(r);
    let data: Vec<u8> = (0..N).map(byte).collect();
    let mut off = 0;
    let mut piece = 1;
    while off < N {
        let n = piece.min(N - off);
        write_all(w, &data[off..off + n])?;
        off += n;
        piece = piece * 3 + 1;
    }
    let _ = rt::close(w);
    match wait_for(pid)?.exited() {
        Some(0) => Ok(format!("{N} bytes intact")),
        Some(10) => Err("the reader got wrong bytes".into()),
        Some(11) => Err("the reader's read failed".into()),
        Some(12) => Err("the reader got a different length".into()),
        other => Err(format!("reader: {other:?}")),
    }
}

/// A reader sees the data, then end of file once every write end is
/// closed (the writer exits).
pub fn eof() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || write_all(w, b"abc").map_or(1, |_| 0))?;
    let _ = rt::close(w);
    let mut buf = [0u8; 16];
    let n = read_full(r, &mut buf)?;
    let again = rt::read(r, &mut buf).ctx("read after EOF")?;
    let _ = rt::close(r);
    expect_exit("writer", wait_for(pid)?, 0)?;
    ensure!(&buf[..n] == b"abc", "read {:?}", String::from_utf8_lossy(&buf[..n]));
    ensure!(again == 0, "a read after EOF returned {again}");
    Ok("3 bytes, then 0 (EOF), again 0".into())
}

/// With SIGPIPE ignored, writing to a pipe without readers fails with
/// EPIPE.
pub fn epipe() -> Outcome {
    signal(SIGPIPE, Handler::Ignore).ctx("signal(SIGPIPE, SIG_IGN)")?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let _ = rt::close(r);
    expect_err("write with no reader", rt::write(w, b"x"), Errno::EPIPE)?;
    // Also when the last reader was another process that exited.
    let [r2, w2] = rt::pipe().ctx("pipe")?;
    let pid = spawn(move || {
        let _ = rt::close(w2);
        let _ = read_byte(r2);
        0
    })?;
    let _ = rt::close(r2);
    write_all(w2, b"y")?;
    expect_exit("reader", wait_for(pid)?, 0)?;
    expect_err("write after the reader exited", rt::write(w2, b"z"), Errno::EPIPE)?;
    Ok("EPIPE with SIGPIPE ignored".into())
}

/// With the default action, writing to a pipe without readers kills the
/// writer with SIGPIPE.
pub fn sigpipe() -> Outcome {
    let st = in_child(|| {
        let Ok([r, w]) = rt::pipe() else { return 2 };
        let _ = rt::close(r);
        let _ = rt::write(w, b"x");
        3
    })?;
    expect_signal("writer to a readerless pipe", st, SIGPIPE)?;
    Ok("killed by SIGPIPE".into())
}

/// dup and dup2 make more write ends: EOF comes only when all are
/// closed, and each writes into the same pipe.
pub fn dup() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let d = rt::dup(w).ctx("dup")?;
    ensure!(d != w && d != r, "dup returned {d}");
    let target = 20;
    let d2 = rt::dup2(w, target).ctx("dup2")?;
    ensure!(d2 == target, "dup2(.., {target}) returned {d2}");
    let same = rt::dup2(d, d).ctx("dup2(fd, fd)")?;
    ensure!(same == d, "dup2(fd, fd) returned {same}");
    expect_err("dup2 of a closed fd", rt::dup2(77, 78), Errno::EBADF)?;
    write_all(w, b"1")?;
    let _ = rt::close(w);
    write_all(d, b"2")?;
    let _ = rt::close(d);
    // One write end left (target): a child writes through it after
    // the parent has closed its copy.
    let pid = spawn(move || write_all(target, b"3").map_or(1, |_| 0))?;
    let _ = rt::close(target);
    let mut buf = [0u8; 8];
    let n = read_full(r, &mut buf)?;
    let _ = rt::close(r);
    expect_exit("writer", wait_for(pid)?, 0)?;
    ensure!(
        &buf[..n] == b"123",
        "read {:?} through the duplicates, expected \"123\"",
        String::from_utf8_lossy(&buf[..n])
    );
    // dup2 onto an open descriptor closes what was there.
    let [r, w] = rt::pipe().ctx("pipe")?;
    let [r2, w2] = rt::pipe().ctx("pipe")?;
    rt::dup2(w2, w).ctx("dup2 onto a write end")?;
    let _ = rt::close(w2);
    let mut b = [0u8; 1];
    // The first pipe's only write end was replaced: its reader sees EOF.
    let k = rt::read(r, &mut b).ctx("read")?;
    write_all(w, b"q")?;
    let k2 = rt::read(r2, &mut b).ctx("read")?;
    for fd in [r, w, r2] {
        let _ = rt::close(fd);
    }
    ensure!(k == 0, "reader of the replaced write end got {k} bytes, not EOF");
    ensure!(k2 == 1 && b[0] == b'q', "write through the dup2'd fd did not reach the second pipe");
    Ok("dup, dup2: all ends write to the pipe, EOF after the last".into())
}
