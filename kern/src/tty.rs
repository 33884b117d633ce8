//! The console terminal (OpenBSD `tty.c` for the one console line).
//!
//! The machine-dependent console driver calls [`cn_rint`] from its receive
//! interrupt for every byte; this module runs it through the line
//! discipline ([`crate::tty_ldisc`]), echoes, posts the signal characters'
//! signals to the foreground process group and wakes readers. Reads sleep
//! until a line (or, in raw mode, a byte) is ready. A write goes out in one
//! piece under the console lock, so lines written by different CPUs never
//! interleave; the console driver's `cnputs` does output processing (NL to
//! CR NL) for it as for kernel messages.
//!
//! Locking: `TTY` (a spin mutex, interrupts masked) protects the line
//! discipline and the foreground group. It is taken from the receive
//! interrupt, so it is held only for short, non-sleeping work; echo output
//! takes the console lock inside it (order: TTY, then the console lock;
//! nothing takes them the other way round). Signals are posted after `TTY`
//! is released, because psignal takes PROCTREE and ps_mtx. Knotes on the
//! console ([`TTY_KLIST`]) are told of every change of the input under
//! `TTY` (order: TTY, then kern_event's KQ_LOCK).
//!
//! Job control, as far as oxbsd has it: one session, so any process may
//! set the foreground group to any existing group. A read from a process
//! outside the foreground group stops its group with SIGTTIN (or fails
//! with EIO when SIGTTIN is ignored or blocked); writes are always allowed
//! (no TOSTOP). With no foreground group set (0), anyone may read.

use sys::errno::*;
use sys::ioctl::*;

use crate::kern_event::{self, Hint, Klist};
use crate::kern_proc::PROCTREE;
use crate::kern_sched::{PZERO, curproc};
use crate::kern_sig;
use crate::kern_synch::{msleep, wakeup};
use crate::mutex::Mutex;
use crate::proc::Pid;
use crate::subr_prf;
use crate::tty_ldisc::{LineDisc, Modes, ReadResult};

/// Sleep priority of a terminal read (OpenBSD's TTIPRI).
const TTIPRI: u8 = PZERO + 3;

struct TtyState {
    ld: LineDisc,
    /// Foreground process group; 0 when none has been set.
    t_pgrp: Pid,
}

static TTY: Mutex<TtyState> = Mutex::new(TtyState { ld: LineDisc::new(), t_pgrp: 0 });

/// Knotes watching the console (EVFILT_READ, EVFILT_WRITE).
pub static TTY_KLIST: Klist = Klist::new();

/// The console's input as its knotes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtyStat {
    /// A read would return at once (data, or end of file).
    pub readable: bool,
    /// Bytes of completed input.
    pub nread: usize,
}

fn tty_stat(st: &TtyState) -> TtyStat {
    TtyStat { readable: st.ld.readable(), nread: st.ld.nread() }
}

/// KNOTE on the console: called under `TTY` after the input changed.
fn tty_knote(st: &TtyState) {
    if !TTY_KLIST.is_empty() {
        kern_event::knote(&TTY_KLIST, Hint::Tty(tty_stat(st)));
    }
}

/// Attach a knote to the console (ttkqfilter): `f` runs under `TTY` with
/// the input as it is.
pub fn tty_kqfilter<R>(f: impl FnOnce(TtyStat) -> R) -> R {
    let st = TTY.lock();
    f(tty_stat(&st))
}

fn ident() -> usize {
    &TTY as *const _ as usize
}

/// Receive interrupt: one byte arrived on the console UART.
///
/// Before: called with interrupts masked on this CPU, from the console
/// driver's interrupt handler, once per byte in arrival order. After: the
/// byte is in the line discipline's queues or dropped (queue full, with a
/// bell), its echo is on the console, readers are awake if input became
/// readable, and a signal character's signal is posted to the foreground
/// group.
pub fn cn_rint(c: u8) {
    let (sig, pgrp, readable) = {
        let mut st = TTY.lock();
        let sig = st.ld.input(c, &mut |b| subr_prf::cons_write(b));
        tty_knote(&st);
        (sig, st.t_pgrp, st.ld.readable())
    };
    if readable {
        wakeup(ident());
    }
    if let Some(sig) = sig {
        kern_sig::pgsignal(pgrp, sig);
    }
}

fn my_pgid() -> Pid {
    let me = curproc().p_p.ps_pid;
    PROCTREE.lock().get(me).map(|e| e.pgid).unwrap_or(0)
}

/// read(2) on the console: one line in canonical mode, what is there in
/// raw mode; 0 at end of file (^D at the start of a line). Sleeps until
/// input is ready; EINTR when a signal interrupts the sleep.
pub fn ttread(buf: &mut [u8]) -> Result<usize, i32> {
    let p = curproc();
    loop {
        let mypg = my_pgid();
        let mut st = TTY.lock();
        if st.t_pgrp != 0 && mypg != st.t_pgrp {
            drop(st);
            if kern_sig::sig_ignored_or_blocked(p, sys::signal::SIGTTIN) {
                return Err(EIO);
            }
            kern_sig::pgsignal(mypg, sys::signal::SIGTTIN);
            // Stop here, then look again once continued (perhaps now in
            // the foreground); a caught or other signal ends the read.
            if kern_sig::stop_if_stop_pending(p) {
                continue;
            }
            return Err(EINTR);
        }
        let r = st.ld.read(buf);
        if r != ReadResult::Empty {
            tty_knote(&st);
        }
        match r {
            ReadResult::Data(n) => return Ok(n),
            ReadResult::Eof => return Ok(0),
            ReadResult::Empty => {
                let (g, r) = msleep(ident(), st, &TTY, TTIPRI, "ttyin", 0, true);
                drop(g);
                if r.is_err() {
                    if kern_sig::stop_if_stop_pending(p) {
                        continue;
                    }
                    return Err(EINTR);
                }
            }
        }
    }
}

/// write(2) on the console: one console write, so the whole buffer (a
/// kernel bounce-buffer chunk) appears together.
pub fn ttwrite(data: &[u8]) {
    subr_prf::cons_write(data);
}

/// The termios the console reports: OpenBSD's default control characters,
/// and the local modes in force.
fn termios_of(m: Modes) -> Termios {
    let mut cc = [0u8; NCCS];
    // VEOF, VERASE, VWERASE, VKILL, VINTR, VQUIT, VSUSP, VMIN, VTIME.
    for (i, v) in
        [(0, 0x04), (3, 0x7f), (4, 0x17), (5, 0x15), (8, 0x03), (9, 0x1c), (10, 0x1a), (16, 1), (17, 0)]
    {
        cc[i] = v;
    }
    let mut lflag = 0;
    if m.echo {
        lflag |= ECHO;
    }
    if m.icanon {
        lflag |= ICANON;
    }
    if m.isig {
        lflag |= ISIG;
    }
    Termios {
        c_iflag: 0x100, // ICRNL
        c_oflag: OPOST | ONLCR,
        c_cflag: 0x4b00, // CS8 | CREAD | HUPCL
        c_lflag: lflag,
        c_cc: cc,
        c_ispeed: 115200,
        c_ospeed: 115200,
    }
}

/// ioctl(2) on the console. `arg` is the user address of the argument.
pub fn ttioctl(req: u32, arg: u64) -> Result<(), i32> {
    use crate::uvm_glue::{copyin_val, copyout_val};
    match req {
        TIOCGPGRP => {
            // Copied out after the lock is dropped: copyout may fault.
            let pg = TTY.lock().t_pgrp;
            copyout_val(&pg, arg)
        }
        TIOCSPGRP => {
            let pg: Pid = copyin_val(arg)?;
            if pg <= 0 {
                return Err(EINVAL);
            }
            // Check and set under the tree lock, so the group cannot
            // vanish in between (order: PROCTREE, then TTY).
            let tree = PROCTREE.lock();
            if !tree.pgrp_exists(pg) {
                return Err(EPERM);
            }
            TTY.lock().t_pgrp = pg;
            Ok(())
        }
        TIOCGETA => {
            let m = TTY.lock().ld.modes;
            copyout_val(&termios_of(m), arg)
        }
        TIOCSETA => {
            let t: Termios = copyin_val(arg)?;
            let m = Modes {
                echo: t.c_lflag & ECHO != 0,
                icanon: t.c_lflag & ICANON != 0,
                isig: t.c_lflag & ISIG != 0,
            };
            let mut st = TTY.lock();
            st.ld.set_modes(m);
            tty_knote(&st);
            Ok(())
        }
        _ => Err(ENOTTY),
    }
}
