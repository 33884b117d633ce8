//! Console output, the kernel message buffer, the `log` backend and panic.
//!
//! All console output goes through one lock so lines from different CPUs
//! never interleave, and every byte also lands in the message buffer that
//! dmesg(8) will read. The lock masks interrupts (an interrupt handler may
//! print). Once a panic has started, the lock is taken with a bounded spin
//! and then ignored, so a CPU stopped while holding it cannot silence the
//! panic message.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::machdep;

/// Size of the kernel message buffer (bytes kept for dmesg).
pub const MSGBUFSIZE: usize = 32 * 1024;

struct MsgBuf {
    buf: [u8; MSGBUFSIZE],
    /// Total bytes ever written; the buffer holds the last MSGBUFSIZE.
    written: usize,
}

impl MsgBuf {
    fn put(&mut self, s: &[u8]) {
        for &b in s {
            self.buf[self.written % MSGBUFSIZE] = b;
            self.written += 1;
        }
    }
}

static CONS_LOCKED: AtomicBool = AtomicBool::new(false);
static PANIC_MODE: AtomicBool = AtomicBool::new(false);
/// Protected by `CONS_LOCKED`.
static mut MSGBUF: MsgBuf = MsgBuf { buf: [0; MSGBUFSIZE], written: 0 };

struct ConsGuard {
    saved: usize,
    held: bool,
}

fn cons_lock() -> ConsGuard {
    let saved = machdep::intr_disable();
    let mut spins: u64 = 0;
    loop {
        if CONS_LOCKED.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return ConsGuard { saved, held: true };
        }
        spins += 1;
        if PANIC_MODE.load(Ordering::Relaxed) && spins > 1_000_000 {
            return ConsGuard { saved, held: false };
        }
        core::hint::spin_loop();
    }
}

impl Drop for ConsGuard {
    fn drop(&mut self) {
        if self.held {
            CONS_LOCKED.store(false, Ordering::Release);
        }
        machdep::intr_restore(self.saved);
    }
}

/// Console writer; only constructed while the console lock is held.
struct Cons;

impl Write for Cons {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        machdep::cnputs(s.as_bytes());
        // SAFETY: we hold CONS_LOCKED (or a panic has stopped every other
        // CPU and this one owns the machine), which serialises MSGBUF.
        unsafe { (*core::ptr::addr_of_mut!(MSGBUF)).put(s.as_bytes()) };
        Ok(())
    }
}

/// Print formatted text on the console; see [`printf!`](crate::printf).
pub fn kprintf(args: fmt::Arguments<'_>) {
    let _g = cons_lock();
    let _ = Cons.write_fmt(args);
}

/// User output to the console (tty writes): serialised with kernel
/// messages line by line, but kept out of the kernel message buffer.
pub fn cons_write(b: &[u8]) {
    let _g = cons_lock();
    machdep::cnputs(b);
}

/// Print on the console and into the message buffer, like OpenBSD's printf(9).
#[macro_export]
macro_rules! printf {
    ($($arg:tt)*) => { $crate::subr_prf::kprintf(format_args!($($arg)*)) };
}

/// Copy the message buffer's contents, oldest first, into `out`; returns
/// the number of bytes copied.
pub fn msgbuf_read(out: &mut [u8]) -> usize {
    let _g = cons_lock();
    // SAFETY: serialised by the console lock held above.
    let mb = unsafe { &*core::ptr::addr_of!(MSGBUF) };
    let have = mb.written.min(MSGBUFSIZE);
    let start = mb.written - have;
    let n = have.min(out.len());
    for (i, o) in out.iter_mut().take(n).enumerate() {
        *o = mb.buf[(start + i) % MSGBUFSIZE];
    }
    n
}

struct KernLogger;

impl log::Log for KernLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        // Info is the dmesg voice: plain lines, as OpenBSD prints them.
        match r.level() {
            log::Level::Info => kprintf(format_args!("{}\n", r.args())),
            log::Level::Warn => kprintf(format_args!("warning: {}\n", r.args())),
            log::Level::Error => kprintf(format_args!("error: {}\n", r.args())),
            l => kprintf(format_args!("{}: {}: {}\n", l.as_str(), r.target(), r.args())),
        }
    }

    fn flush(&self) {}
}

static LOGGER: KernLogger = KernLogger;

/// Install the kernel logger at `level`. Idempotent.
pub fn log_init(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// The cpuid that is panicking, or `u32::MAX`.
static PANICKER: AtomicU32 = AtomicU32::new(u32::MAX);

/// Whether a panic is in progress (the console ignores its lock then).
pub fn panicking() -> bool {
    PANIC_MODE.load(Ordering::Relaxed)
}

/// The body of the kernel's panic handler: print the message, stop the
/// other CPUs and power off with a failure status. A second CPU that
/// panics meanwhile waits to be stopped; a panic inside the panic path
/// powers off at once.
pub fn panic_enter(info: &core::panic::PanicInfo<'_>) -> ! {
    machdep::intr_disable();
    let me = machdep::curcpu().ci_cpuid;
    if let Err(who) = PANICKER.compare_exchange(u32::MAX, me, Ordering::AcqRel, Ordering::Acquire) {
        if who == me {
            machdep::cnputs(b"\npanic: recursive panic\n");
            machdep::powerdown(sys::reboot::EXIT_PANIC);
        }
        // Another CPU owns the panic and will stop this one.
        loop {
            core::hint::spin_loop();
        }
    }
    PANIC_MODE.store(true, Ordering::Release);
    printf!("panic: {}\n", info.message());
    if let Some(loc) = info.location() {
        printf!("panic: at {}:{} on cpu{}\n", loc.file(), loc.line(), me);
    }
    machdep::cpu_halt_others();
    printf!("cpu{me}: other cpus stopped; powering off with failure status\n");
    machdep::powerdown(sys::reboot::EXIT_PANIC)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    panic_enter(info)
}
