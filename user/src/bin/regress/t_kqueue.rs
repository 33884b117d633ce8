//! kqueue and kevent: EVFILT_PROC (NOTE_EXIT with the wait status for a
//! child and for another process's child, NOTE_FORK, NOTE_TRACK,
//! NOTE_EXEC), EVFILT_SIGNAL counting, pipe and console readiness,
//! timers, timeouts, EINTR, the errors, and that closing a kqueue (or
//! exiting with one open) frees every knote.

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use rt::event::*;
use rt::prelude::*;
use rt::signal::{Handler, raise, signal};
use sys::signal::{SIGKILL, SIGTERM, SIGUSR1, SIGUSR2};
use sys::time::Timespec;

use crate::util::*;

/// A kqueue descriptor, closed when dropped (so a failing test leaves
/// nothing behind).
struct Kq(i32);

impl Kq {
    fn new() -> Res<Kq> {
        rt::kqueue().ctx("kqueue").map(Kq)
    }

    fn add(&self, k: Kevent) -> Res<()> {
        rt::event::kevent_change(self.0, &k)
            .map_err(|e| format!("kevent(add {} on {}): {e}", fname(k.filter), k.ident))
    }

    /// Up to `events.len()` events, waiting at most `ms` (None: forever).
    fn wait(&self, events: &mut [Kevent], ms: Option<u64>) -> Res<usize> {
        let ts = ms.map(|m| rt::time::to_timespec(Duration::from_millis(m)));
        rt::kevent(self.0, &[], events, ts.as_ref()).ctx("kevent")
    }

    /// One event within `ms`, or a failure saying what was awaited.
    fn one(&self, ms: u64, what: &str) -> Res<Kevent> {
        let mut e = [Kevent::default(); 1];
        let n = self.wait(&mut e, Some(ms))?;
        ensure!(n == 1, "no event within {ms} ms ({what})");
        Ok(e[0])
    }

    /// Whatever is ready now.
    fn poll(&self) -> Res<Vec<Kevent>> {
        let mut e = [Kevent::default(); 16];
        let n = self.wait(&mut e, Some(0))?;
        Ok(e[..n].to_vec())
    }
}

impl Drop for Kq {
    fn drop(&mut self) {
        let _ = rt::close(self.0);
    }
}

fn fname(f: i16) -> &'static str {
    match f {
        EVFILT_READ => "EVFILT_READ",
        EVFILT_WRITE => "EVFILT_WRITE",
        EVFILT_PROC => "EVFILT_PROC",
        EVFILT_SIGNAL => "EVFILT_SIGNAL",
        EVFILT_TIMER => "EVFILT_TIMER",
        _ => "filter?",
    }
}

fn proc_ev(pid: i32, fflags: u32) -> Kevent {
    Kevent::new(pid as u64, EVFILT_PROC, EV_ADD, fflags, 0, pid as u64)
}

/// (kqueues, knotes) in the system.
fn kq_counts() -> Res<(u32, u32)> {
    vmstats().map(|s| (s.nkqueues, s.nknotes))
}

/// A child that waits for a byte (or end of file) on `gate`, then exits
/// with `code`.
fn gated(gate: i32, code: i32) -> Res<i32> {
    spawn(move || {
        let _ = read_byte(gate);
        code
    })
}

fn read_pid(fd: i32) -> Res<i32> {
    let mut b = [0u8; 4];
    ensure!(read_full(fd, &mut b)? == 4, "no pid on the pipe");
    Ok(i32::from_ne_bytes(b))
}

/// Collect EVFILT_PROC events for `pid` until one has NOTE_EXIT; returns
/// the fflags seen over all of them and the last event.
fn until_exit(kq: &Kq, pid: i32) -> Res<(u32, Kevent)> {
    let mut seen = 0;
    loop {
        let e = kq.one(10_000, "NOTE_EXIT")?;
        ensure!(e.filter == EVFILT_PROC && e.ident == pid as u64, "unexpected event {e:?}");
        seen |= e.fflags;
        if e.fflags & NOTE_EXIT != 0 {
            return Ok((seen, e));
        }
    }
}

/// NOTE_EXIT for a child: data is exactly the status wait4 then reports,
/// for a normal exit and for a death by signal; nothing but NOTE_EXIT is
/// reported though NOTE_FORK and NOTE_EXEC were asked for too; the knote
/// is gone once read.
pub fn exit_child() -> Outcome {
    let kq = Kq::new()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    // b waits on a pipe nobody writes, until SIGTERM.
    let [r2, w2] = rt::pipe().ctx("pipe")?;
    let a = gated(r, 42)?;
    let b = gated(r2, 0)?;
    kq.add(proc_ev(a, NOTE_EXIT | NOTE_FORK | NOTE_EXEC))?;
    kq.add(proc_ev(b, NOTE_EXIT))?;
    ensure!(kq.poll()?.is_empty(), "an event before anything happened");
    write_all(w, b"x")?;
    let (seen, ea) = until_exit(&kq, a)?;
    let sa = wait_for(a)?;
    rt::kill(b, SIGTERM).ctx("kill(SIGTERM)")?;
    let (_, eb) = until_exit(&kq, b)?;
    let sb = wait_for(b)?;
    for fd in [r, w, r2, w2] {
        let _ = rt::close(fd);
    }
    expect_exit("child a", sa, 42)?;
    expect_signal("child b", sb, SIGTERM)?;
    ensure!(seen == NOTE_EXIT, "fflags {seen:#x}, expected only NOTE_EXIT");
    ensure!(ea.data == sa.0 as i64, "NOTE_EXIT data {:#x}, wait status {:#x}", ea.data, sa.0);
    ensure!(eb.data == sb.0 as i64, "NOTE_EXIT data {:#x}, wait status {:#x} (SIGTERM)", eb.data, sb.0);
    ensure!(ea.flags & EV_EOF != 0 && ea.udata == a as u64, "flags {:#x} udata {:#x}", ea.flags, ea.udata);
    expect_err(
        "EV_DELETE after NOTE_EXIT",
        rt::event::kevent_change(kq.0, &Kevent::new(a as u64, EVFILT_PROC, EV_DELETE, 0, 0, 0)),
        Errno::ENOENT,
    )?;
    Ok(format!("exit 42 -> data {:#x}, SIGTERM -> data {:#x}", ea.data, eb.data))
}

/// NOTE_EXIT for processes that are not the watcher's children (another
/// child's children, adopted by init): the exit status and the killing
/// signal arrive in data all the same.
pub fn exit_nonchild() -> Outcome {
    let [gr, gw] = rt::pipe().ctx("pipe")?;
    let [pr, pw] = rt::pipe().ctx("pipe")?;
    let mid = spawn(move || {
        let Ok(x) = gated(gr, 7) else { return 1 };
        let Ok(y) = gated(gr, 8) else { return 2 };
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&x.to_ne_bytes());
        b[4..].copy_from_slice(&y.to_ne_bytes());
        if write_all(pw, &b).is_err() { 3 } else { 0 }
    })?;
    expect_exit("middle process", wait_for(mid)?, 0)?;
    let x = read_pid(pr)?;
    let y = read_pid(pr)?;
    let kq = Kq::new()?;
    kq.add(proc_ev(x, NOTE_EXIT))?;
    kq.add(proc_ev(y, NOTE_EXIT))?;
    rt::kill(y, SIGKILL).ctx("kill(y, SIGKILL)")?;
    let (_, ey) = until_exit(&kq, y)?;
    write_all(gw, b"x")?;
    let (_, ex) = until_exit(&kq, x)?;
    for fd in [gr, gw, pr, pw] {
        let _ = rt::close(fd);
    }
    let want_x = sys::wait::w_exitcode(7, 0) as i64;
    let want_y = sys::wait::w_exitcode(0, SIGKILL as i32) as i64;
    ensure!(ex.data == want_x, "grandchild exit 7: data {:#x}, expected {want_x:#x}", ex.data);
    ensure!(ey.data == want_y, "grandchild SIGKILL: data {:#x}, expected {want_y:#x}", ey.data);
    Ok(format!("exit 7 -> {want_x:#x}, SIGKILL -> {want_y:#x} for two of init's children"))
}

/// NOTE_FORK: data is the new child's pid.
pub fn fork_note() -> Outcome {
    let [g1r, g1w] = rt::pipe().ctx("pipe")?;
    let [g2r, g2w] = rt::pipe().ctx("pipe")?;
    let [pr, pw] = rt::pipe().ctx("pipe")?;
    let c = spawn(move || {
        let _ = read_byte(g1r);
        let Ok(g) = spawn(|| 0) else { return 1 };
        if write_all(pw, &g.to_ne_bytes()).is_err() {
            return 2;
        }
        let _ = read_byte(g2r);
        if wait_for(g).is_err() { 3 } else { 0 }
    })?;
    let kq = Kq::new()?;
    kq.add(proc_ev(c, NOTE_FORK | NOTE_EXIT))?;
    write_all(g1w, b"x")?;
    let e = kq.one(10_000, "NOTE_FORK")?;
    let g = read_pid(pr)?;
    write_all(g2w, b"x")?;
    let (_, ex) = until_exit(&kq, c)?;
    let st = wait_for(c)?;
    for fd in [g1r, g1w, g2r, g2w, pr, pw] {
        let _ = rt::close(fd);
    }
    expect_exit("forking child", st, 0)?;
    ensure!(e.fflags == NOTE_FORK, "first event fflags {:#x}, expected NOTE_FORK", e.fflags);
    ensure!(e.data == g as i64, "NOTE_FORK data {}, the child forked {g}", e.data);
    ensure!(ex.fflags == NOTE_EXIT && ex.data == 0, "then {ex:?}");
    Ok(format!("NOTE_FORK data {g} (the new child), then NOTE_EXIT"))
}

/// NOTE_TRACK: the kqueue follows the fork to the grandchild, whose first
/// event is NOTE_CHILD with its parent's pid in data, and whose exit is
/// then reported with its status.
pub fn track() -> Outcome {
    let [g1r, g1w] = rt::pipe().ctx("pipe")?;
    let [g2r, g2w] = rt::pipe().ctx("pipe")?;
    let c = spawn(move || {
        let _ = read_byte(g1r);
        let Ok(g) = gated(g2r, 5) else { return 1 };
        match wait_for(g) {
            Ok(st) if st.exited() == Some(5) => 3,
            _ => 4,
        }
    })?;
    let kq = Kq::new()?;
    kq.add(proc_ev(c, NOTE_FORK | NOTE_EXIT | NOTE_TRACK))?;
    write_all(g1w, b"x")?;
    let (mut fork, mut child) = (None, None);
    while fork.is_none() || child.is_none() {
        let e = kq.one(10_000, "NOTE_FORK and NOTE_CHILD")?;
        if e.ident == c as u64 && e.fflags & NOTE_FORK != 0 {
            fork = Some(e);
        } else if e.fflags & NOTE_CHILD != 0 {
            child = Some(e);
        } else {
            return Err(format!("unexpected {e:?} before the grandchild ran"));
        }
    }
    let (fork, child) = (fork.unwrap(), child.unwrap());
    let g = fork.data;
    write_all(g2w, b"x")?;
    // Both exits, in whichever order they come.
    let (mut gx, mut cx) = (None, None);
    while gx.is_none() || cx.is_none() {
        let e = kq.one(10_000, "both NOTE_EXITs")?;
        ensure!(e.fflags & NOTE_EXIT != 0, "unexpected {e:?} after the grandchild ran");
        if e.ident == g as u64 {
            gx = Some(e);
        } else if e.ident == c as u64 {
            cx = Some(e);
        } else {
            return Err(format!("NOTE_EXIT for {}, neither {c} nor {g}", e.ident));
        }
    }
    let (gx, cx) = (gx.unwrap(), cx.unwrap());
    let st = wait_for(c)?;
    for fd in [g1r, g1w, g2r, g2w] {
        let _ = rt::close(fd);
    }
    expect_exit("tracked child", st, 3)?;
    ensure!(child.ident == g as u64, "NOTE_CHILD for {}, NOTE_FORK said {g}", child.ident);
    ensure!(child.data == c as i64, "NOTE_CHILD data {}, the parent is {c}", child.data);
    ensure!(child.fflags & NOTE_TRACKERR == 0 && fork.fflags & NOTE_TRACKERR == 0, "NOTE_TRACKERR");
    let want = sys::wait::w_exitcode(5, 0) as i64;
    ensure!(gx.data == want, "grandchild NOTE_EXIT data {:#x}, expected {want:#x}", gx.data);
    ensure!(cx.data == st.0 as i64, "child NOTE_EXIT data {:#x}, status {:#x}", cx.data, st.0);
    Ok(format!("followed {c} to {g}: NOTE_CHILD, NOTE_EXIT {want:#x}"))
}

/// NOTE_EXEC when the child executes /bin/true, then NOTE_EXIT with its
/// status.
pub fn exec_note() -> Outcome {
    let [r, w] = rt::pipe().ctx("pipe")?;
    let c = spawn(move || {
        let _ = read_byte(r);
        let e = rt::execv("/bin/true", &["true"]);
        100 + e.0
    })?;
    let kq = Kq::new()?;
    kq.add(proc_ev(c, NOTE_EXEC | NOTE_EXIT))?;
    write_all(w, b"x")?;
    let (seen, ex) = until_exit(&kq, c)?;
    let st = wait_for(c)?;
    let _ = rt::close(r);
    let _ = rt::close(w);
    expect_exit("/bin/true", st, 0)?;
    ensure!(seen & NOTE_EXEC != 0, "no NOTE_EXEC (fflags seen {seen:#x})");
    ensure!(ex.data == st.0 as i64, "NOTE_EXIT data {:#x}, status {:#x}", ex.data, st.0);
    Ok("NOTE_EXEC, then NOTE_EXIT 0".into())
}

/// The errors: ESRCH for no such process and for one that has exited (a
/// zombie), as an EV_ERROR entry when there is room and as kevent's error
/// when not; EBADF, EINVAL, ENOENT; EV_RECEIPT; a kqueue is not
/// inherited by fork and cannot be read.
pub fn errors() -> Outcome {
    use sys::errno::{EBADF, EINVAL, ENOENT, ESRCH};
    let kq = Kq::new()?;
    let gone = spawn(|| 0)?;
    wait_for(gone)?;
    let zombie = spawn(|| 0)?;
    // Until the zombie shows in the process list.
    let t0 = now();
    while kinfo(zombie)?.is_none_or(|k| k.p_stat != sys::sysctl::SZOMB) {
        ensure!(now() - t0 < Duration::from_secs(5), "child {zombie} never became a zombie");
        sleep_ms(5);
    }
    let pipefd = rt::pipe().ctx("pipe")?;
    let changes = [
        proc_ev(gone, NOTE_EXIT),
        proc_ev(zombie, NOTE_EXIT),
        proc_ev(0, NOTE_EXIT),
        Kevent::new(77, EVFILT_READ, EV_ADD, 0, 0, 0),
        Kevent::new(0, EVFILT_VNODE, EV_ADD, 0, 0, 0),
        Kevent::new(1, EVFILT_TIMER, EV_ADD | 0x0100, 0, 10, 0),
        Kevent::new(1, EVFILT_TIMER, EV_DELETE, 0, 0, 0),
        Kevent::new(1, EVFILT_TIMER, EV_ADD, 0, -5, 0),
        Kevent::new(0, EVFILT_SIGNAL, EV_ADD, 0, 0, 0),
        Kevent::new(pipefd[0] as u64, EVFILT_WRITE, EV_ADD, 0, 0, 0),
        Kevent::new(SIGUSR1 as u64, EVFILT_SIGNAL, EV_ADD | EV_RECEIPT, 0, 0, 0),
    ];
    let want = [ESRCH, ESRCH, ESRCH, EBADF, EINVAL, EINVAL, ENOENT, EINVAL, EINVAL, EINVAL, 0];
    let mut out = [Kevent::default(); 16];
    let n = rt::kevent(kq.0, &changes, &mut out, None).ctx("kevent(changes)")?;
    let _ = wait_for(zombie);
    ensure!(n == want.len(), "{n} error entries for {} bad changes and one receipt", want.len());
    for (i, (e, &w)) in out[..n].iter().zip(&want).enumerate() {
        ensure!(
            e.flags == EV_ERROR && e.data == w as i64 && e.ident == changes[i].ident,
            "change {i}: entry {e:?}, expected EV_ERROR with {}",
            Errno(w)
        );
    }
    // The receipt's change was applied: the signal is watched.
    signal(SIGUSR1, Handler::Ignore).ctx("signal")?;
    raise(SIGUSR1).ctx("raise")?;
    let ev = kq.poll()?;
    ensure!(ev.len() == 1 && ev[0].filter == EVFILT_SIGNAL, "after EV_RECEIPT's add: {ev:?}");
    // Without room, the first failure is kevent's error.
    expect_err("no room, ESRCH", rt::kevent(kq.0, &changes[..1], &mut [], None), Errno::ESRCH)?;
    expect_err(
        "kevent on a pipe",
        rt::kevent(pipefd[0], &[], &mut out, Some(&Timespec::default())),
        Errno::EBADF,
    )?;
    expect_err("kevent on a closed fd", rt::kevent(99, &[], &mut out, None), Errno::EBADF)?;
    let bad_ts = Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 };
    expect_err("timeout 1e9 ns", rt::kevent(kq.0, &[], &mut out, Some(&bad_ts)), Errno::EINVAL)?;
    let mut b = [0u8; 8];
    expect_err("read(kqueue)", rt::read(kq.0, &mut b), Errno::ENXIO)?;
    let fd = kq.0;
    let st = in_child(move || match rt::kevent(fd, &[], &mut [], None) {
        Err(Errno::EBADF) => 0,
        _ => 1,
    })?;
    for f in pipefd {
        let _ = rt::close(f);
    }
    ensure!(st.exited() == Some(0), "a forked child could use its parent's kqueue: {st}");
    Ok(format!("{n} EV_ERROR entries as expected; EBADF, EINVAL, ENXIO; no kqueue across fork"))
}

static CAUGHT: AtomicU32 = AtomicU32::new(0);

extern "C" fn caught(_sig: i32) {
    CAUGHT.fetch_add(1, Ordering::SeqCst);
}

/// EVFILT_SIGNAL counts deliveries since the last read, of ignored and of
/// caught signals, and wakes a kevent waiting for them; others do not
/// show.
pub fn signal_count() -> Outcome {
    let kq = Kq::new()?;
    signal(SIGUSR1, Handler::Ignore).ctx("signal(SIGUSR1, SIG_IGN)")?;
    signal(SIGUSR2, Handler::Catch(caught)).ctx("signal(SIGUSR2)")?;
    signal(SIGTERM, Handler::Ignore).ctx("signal(SIGTERM, SIG_IGN)")?;
    kq.add(Kevent::new(SIGUSR1 as u64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0))?;
    kq.add(Kevent::new(SIGUSR2 as u64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0))?;
    for _ in 0..3 {
        raise(SIGUSR1).ctx("raise")?;
    }
    raise(SIGUSR2).ctx("raise")?;
    raise(SIGUSR2).ctx("raise")?;
    raise(SIGTERM).ctx("raise")?;
    let ev = kq.poll()?;
    let count = |s: u32| ev.iter().find(|e| e.ident == s as u64).map(|e| e.data);
    ensure!(ev.len() == 2, "{} events: {ev:?}", ev.len());
    ensure!(count(SIGUSR1) == Some(3), "SIGUSR1 (ignored) x3: {:?}", count(SIGUSR1));
    ensure!(count(SIGUSR2) == Some(2), "SIGUSR2 (caught) x2: {:?}", count(SIGUSR2));
    ensure!(CAUGHT.load(Ordering::SeqCst) == 2, "the handler still runs");
    ensure!(kq.poll()?.is_empty(), "counts not cleared by the read");
    // From another process, while kevent waits.
    let me = rt::getpid();
    let pid = spawn(move || {
        sleep_ms(50);
        rt::kill(me, SIGUSR1).map_or(1, |_| 0)
    })?;
    let e = kq.one(10_000, "SIGUSR1 from a child")?;
    expect_exit("sender", wait_for(pid)?, 0)?;
    ensure!(e.ident == SIGUSR1 as u64 && e.data == 1, "woke with {e:?}");
    Ok("ignored x3, caught x2, then 1 from a child while waiting".into())
}

/// Pipes: EVFILT_READ with the bytes readable, level-triggered, gone once
/// drained, woken by a writer in another process, EV_EOF when the writer
/// closes; EVFILT_WRITE with the room left, not ready when full, EV_EOF
/// when the reader closes.
pub fn pipe_ready() -> Outcome {
    let kq = Kq::new()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    kq.add(Kevent::new(r as u64, EVFILT_READ, EV_ADD, 0, 0, 1))?;
    kq.add(Kevent::new(w as u64, EVFILT_WRITE, EV_ADD, 0, 0, 2))?;
    let ev = kq.poll()?;
    ensure!(ev.len() == 1 && ev[0].ident == w as u64, "empty pipe: {ev:?}, expected only writable");
    let room0 = ev[0].data;
    ensure!(room0 == 16384, "room {room0} in an empty pipe");
    write_all(w, b"hello")?;
    let find = |ev: &[Kevent], fd: i32| ev.iter().find(|e| e.ident == fd as u64).copied();
    let ev = kq.poll()?;
    ensure!(find(&ev, r).map(|e| e.data) == Some(5), "after 5 bytes: {ev:?}");
    ensure!(find(&ev, w).map(|e| e.data) == Some(room0 - 5), "room after 5 bytes: {ev:?}");
    let ev = kq.poll()?;
    ensure!(find(&ev, r).map(|e| e.data) == Some(5), "not level-triggered: {ev:?}");
    let mut b = [0u8; 5];
    read_full(r, &mut b)?;
    ensure!(find(&kq.poll()?, r).is_none(), "still readable once drained");
    // Full: not writable.
    write_all(w, &vec![0u8; room0 as usize])?;
    let ev = kq.poll()?;
    ensure!(find(&ev, w).is_none(), "a full pipe is writable: {ev:?}");
    let mut big = vec![0u8; room0 as usize];
    read_full(r, &mut big)?;
    // A writer in another process wakes a waiting kevent.
    let pid = spawn(move || {
        sleep_ms(50);
        write_all(w, b"abc").map_or(1, |_| 0)
    })?;
    kq.add(Kevent::new(w as u64, EVFILT_WRITE, EV_DELETE, 0, 0, 0))?;
    let e = kq.one(10_000, "data from a child")?;
    expect_exit("writer", wait_for(pid)?, 0)?;
    ensure!(e.ident == r as u64 && e.data == 3 && e.flags & EV_EOF == 0, "woke with {e:?}");
    // EOF when the last writer closes.
    rt::close(w).ctx("close")?;
    let e = kq.one(1000, "EV_EOF")?;
    ensure!(e.flags & EV_EOF != 0 && e.data == 3, "after close of the writer: {e:?}");
    // Closing a watched descriptor deletes its knote.
    rt::close(r).ctx("close")?;
    ensure!(kq.poll()?.is_empty(), "events for a closed descriptor");
    expect_err(
        "EV_DELETE of a closed descriptor's knote",
        rt::event::kevent_change(kq.0, &Kevent::new(r as u64, EVFILT_READ, EV_DELETE, 0, 0, 0)),
        Errno::ENOENT,
    )?;
    // EV_EOF on the write side when the reader goes.
    let [r2, w2] = rt::pipe().ctx("pipe")?;
    kq.add(Kevent::new(w2 as u64, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, 0))?;
    let e = kq.one(1000, "writable")?;
    ensure!(e.flags & EV_EOF == 0, "EV_EOF with a reader: {e:?}");
    ensure!(kq.poll()?.iter().all(|e| e.ident != w2 as u64), "EV_CLEAR: reported twice");
    rt::close(r2).ctx("close")?;
    let e = kq.one(1000, "EV_EOF on the write end")?;
    ensure!(e.ident == w2 as u64 && e.flags & EV_EOF != 0, "after close of the reader: {e:?}");
    rt::close(w2).ctx("close")?;
    ensure!(kq.poll()?.is_empty(), "events for a closed descriptor");
    Ok(format!("read 5, room {room0}, full, woken, EV_EOF both ways"))
}

/// The console: always writable; not readable while nobody types.
pub fn tty_ready() -> Outcome {
    ensure!(rt::isatty(0) && rt::isatty(1), "the test does not run on the console");
    let kq = Kq::new()?;
    kq.add(Kevent::new(0, EVFILT_READ, EV_ADD, 0, 0, 0))?;
    kq.add(Kevent::new(1, EVFILT_WRITE, EV_ADD, 0, 0, 0))?;
    let mut e = [Kevent::default(); 4];
    let n = kq.wait(&mut e, Some(50))?;
    ensure!(n == 1 && e[0].ident == 1 && e[0].filter == EVFILT_WRITE, "events {:?}", &e[..n]);
    ensure!(e[0].data > 0, "no room on the console: {:?}", e[0]);
    Ok(format!("writable ({} bytes), not readable", e[0].data))
}

/// Timers: a periodic one counts expirations within a tick or two of the
/// time elapsed; a one-shot fires once, no earlier than asked, and is
/// gone.
pub fn timer() -> Outcome {
    let kq = Kq::new()?;
    let t0 = now();
    kq.add(Kevent::new(1, EVFILT_TIMER, EV_ADD, 0, 20, 0))?;
    sleep_ms(200);
    let e = kq.one(1000, "periodic timer")?;
    let elapsed = now() - t0;
    kq.add(Kevent::new(1, EVFILT_TIMER, EV_DELETE, 0, 0, 0))?;
    let expect = (elapsed.as_millis() / 20) as i64;
    ensure!(e.ident == 1 && e.filter == EVFILT_TIMER, "{e:?}");
    ensure!(
        e.data >= 5 && (e.data - expect).abs() <= 2,
        "20 ms timer: {} expirations in {elapsed:?} (about {expect} expected)",
        e.data
    );
    let periodic = e.data;
    // Blocking until a timer fires.
    let t1 = now();
    kq.add(Kevent::new(2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 30, 0))?;
    let e = kq.one(5000, "one-shot timer")?;
    let took = now() - t1;
    ensure!(e.ident == 2 && e.data == 1, "one-shot: {e:?}");
    ensure!(took >= Duration::from_millis(30), "a 30 ms timer fired after {took:?}");
    ensure!(took < Duration::from_secs(2), "a 30 ms timer took {took:?}");
    let mut rest = [Kevent::default(); 2];
    ensure!(kq.wait(&mut rest, Some(100))? == 0, "the one-shot timer fired again");
    expect_err(
        "EV_DELETE of a fired one-shot timer",
        rt::event::kevent_change(kq.0, &Kevent::new(2, EVFILT_TIMER, EV_DELETE, 0, 0, 0)),
        Errno::ENOENT,
    )?;
    Ok(format!("{periodic} expirations of 20 ms in {elapsed:?}; one-shot 30 ms after {took:?}"))
}

/// kevent's timeout: zero returns at once, 50 ms returns 0 after at least
/// 50 ms (and not much more).
pub fn timeout() -> Outcome {
    let kq = Kq::new()?;
    kq.add(Kevent::new(1, EVFILT_TIMER, EV_ADD, 0, 60_000, 0))?;
    let mut e = [Kevent::default(); 2];
    let t0 = now();
    let n = kq.wait(&mut e, Some(0))?;
    let zero = now() - t0;
    ensure!(n == 0, "{n} events from an idle kqueue");
    ensure!(zero < Duration::from_millis(500), "a zero timeout took {zero:?}");
    let t1 = now();
    let n = kq.wait(&mut e, Some(50))?;
    let fifty = now() - t1;
    ensure!(n == 0, "{n} events within 50 ms");
    ensure!(fifty >= Duration::from_millis(50), "a 50 ms timeout returned after {fifty:?}");
    ensure!(fifty < Duration::from_secs(2), "a 50 ms timeout returned after {fifty:?}");
    Ok(format!("0 -> {zero:?}, 50 ms -> {fifty:?}"))
}

/// A signal with a handler interrupts a waiting kevent: EINTR.
pub fn eintr() -> Outcome {
    let kq = Kq::new()?;
    signal(SIGUSR1, Handler::Catch(caught)).ctx("signal")?;
    // Signal repeatedly, so one landing before kevent sleeps does not
    // leave it waiting.
    let pid = signal_repeatedly(rt::getpid(), SIGUSR1, 50)?;
    let mut e = [Kevent::default(); 1];
    let t0 = now();
    let r = rt::kevent(kq.0, &[], &mut e, Some(&Timespec { tv_sec: 5, tv_nsec: 0 }));
    let took = now() - t0;
    let _ = rt::kill(pid, SIGKILL);
    let _ = wait_for(pid);
    expect_err("kevent(5 s) with signals coming", r, Errno::EINTR)?;
    ensure!(CAUGHT.load(Ordering::SeqCst) >= 1, "EINTR but the handler never ran");
    ensure!(took < Duration::from_secs(4), "EINTR only after {took:?}");
    Ok(format!("EINTR after {took:?}"))
}

/// Closing a kqueue with knotes on a live process, a pipe, a signal and a
/// timer frees them all; the process exits normally afterwards.
pub fn close_live() -> Outcome {
    let base = kq_counts()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let c = gated(r, 9)?;
    let kq = Kq::new()?;
    kq.add(proc_ev(c, NOTE_EXIT | NOTE_FORK))?;
    kq.add(Kevent::new(r as u64, EVFILT_READ, EV_ADD, 0, 0, 0))?;
    kq.add(Kevent::new(SIGUSR1 as u64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0))?;
    kq.add(Kevent::new(5, EVFILT_TIMER, EV_ADD, 0, 10, 0))?;
    let open = kq_counts()?;
    drop(kq);
    let closed = kq_counts()?;
    write_all(w, b"x")?;
    let st = wait_for(c)?;
    let after = kq_counts()?;
    let _ = rt::close(r);
    let _ = rt::close(w);
    ensure!(open == (base.0 + 1, base.1 + 4), "with the kqueue open: {open:?}, base {base:?}");
    ensure!(closed == base, "after close: {closed:?}, base {base:?}");
    expect_exit("watched child", st, 9)?;
    ensure!(after == base, "after the child exited: {after:?}");
    Ok(format!("(kqueues, knotes) {base:?} -> {open:?} -> {closed:?}"))
}

/// Many kqueues with many knotes, a dup'd kqueue, and a process that exits
/// with kqueues open: every kqueue and knote is freed at the end.
pub fn many() -> Outcome {
    const NKQ: usize = 32;
    let base = kq_counts()?;
    let [r, w] = rt::pipe().ctx("pipe")?;
    let c = gated(r, 0)?;
    let me = rt::getpid();
    let mut kqs = Vec::new();
    for i in 0..NKQ {
        let kq = Kq::new()?;
        kq.add(proc_ev(c, NOTE_EXIT))?;
        kq.add(proc_ev(me, NOTE_EXIT | NOTE_FORK))?;
        kq.add(Kevent::new(r as u64, EVFILT_READ, EV_ADD, 0, 0, 0))?;
        kq.add(Kevent::new(w as u64, EVFILT_WRITE, EV_ADD, 0, 0, 0))?;
        kq.add(Kevent::new(SIGUSR2 as u64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0))?;
        for t in 0..3 {
            kq.add(Kevent::new(t, EVFILT_TIMER, EV_ADD, 0, 1000 + i as i64, 0))?;
        }
        kqs.push(kq);
    }
    let full = kq_counts()?;
    ensure!(
        full == (base.0 + NKQ as u32, base.1 + 8 * NKQ as u32),
        "{NKQ} kqueues of 8: {full:?}, base {base:?}"
    );
    // A child makes kqueues of its own and exits without closing them.
    let st = in_child(move || {
        for _ in 0..8 {
            let Ok(kq) = rt::kqueue() else { return 1 };
            let evs = [
                Kevent::new(SIGUSR1 as u64, EVFILT_SIGNAL, EV_ADD, 0, 0, 0),
                Kevent::new(1, EVFILT_TIMER, EV_ADD, 0, 5, 0),
                proc_ev(rt::getpid(), NOTE_EXIT),
                proc_ev(me, NOTE_EXIT),
            ];
            if rt::kevent(kq, &evs, &mut [], None).is_err() {
                return 2;
            }
        }
        0
    })?;
    expect_exit("child with open kqueues", st, 0)?;
    let after_child = kq_counts()?;
    // A duplicate keeps a kqueue alive; the last close frees it.
    let d = rt::dup(kqs[0].0).ctx("dup(kqueue)")?;
    drop(kqs.remove(0));
    let dup_open = kq_counts()?;
    rt::close(d).ctx("close(dup)")?;
    let dup_closed = kq_counts()?;
    drop(kqs);
    let closed = kq_counts()?;
    write_all(w, b"x")?;
    expect_exit("watched child", wait_for(c)?, 0)?;
    let _ = rt::close(r);
    let _ = rt::close(w);
    ensure!(after_child == full, "the exited child's kqueues remain: {after_child:?}, expected {full:?}");
    ensure!(dup_open == full, "closing one of two descriptors freed the kqueue: {dup_open:?}");
    ensure!(dup_closed == (full.0 - 1, full.1 - 8), "the last close did not free it: {dup_closed:?}");
    ensure!(closed == base, "after closing all: {closed:?}, base {base:?}");
    Ok(format!("{NKQ} kqueues, {} knotes, and a child's 8, all freed", 8 * NKQ))
}
