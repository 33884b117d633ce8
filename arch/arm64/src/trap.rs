//! Exception dispatch, and the register dump for traps the kernel cannot
//! handle.
//!
//! The vectors (locore) build a [`TrapFrame`] on the kernel stack and call
//! one of the `trap_*` functions below with it; on return they restore the
//! frame (so a handler may change `tf_elr`/`tf_spsr`) and `eret`.

use core::sync::atomic::{AtomicU32, Ordering};

use kern::printf;

use crate::{cpu, intr, machdep};

/// Saved state of the interrupted context, as the vectors lay it out.
#[repr(C)]
pub struct TrapFrame {
    pub tf_x: [u64; 31],
    /// SP at the time of the exception (SP_EL0 when from EL0).
    pub tf_sp: u64,
    pub tf_elr: u64,
    pub tf_spsr: u64,
    pub tf_esr: u64,
    pub tf_far: u64,
}

pub const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16), "trap frame must keep sp 16-byte aligned");

// ESR_EL1.EC values we act on or name.
const EC_UNKNOWN: u64 = 0x00;
const EC_IABT_LOW: u64 = 0x20;
const EC_IABT_CUR: u64 = 0x21;
const EC_DABT_LOW: u64 = 0x24;
const EC_DABT_CUR: u64 = 0x25;

/// Name of an exception class (ESR_ELx.EC).
pub fn ec_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE trapped",
        0x07 => "SIMD/FP access trapped",
        0x0d => "branch target exception",
        0x0e => "illegal execution state",
        0x11 => "SVC from AArch32",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "MSR/MRS/system instruction trapped",
        0x19 => "SVE access trapped",
        0x1c => "pointer authentication failure",
        0x20 => "instruction abort from EL0",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from EL0",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError interrupt",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "reserved exception class",
    }
}

/// Decode a data/instruction fault status code (DFSC/IFSC, ISS[5:0]).
pub fn fsc_name(fsc: u64) -> (&'static str, Option<u64>) {
    let level = Some(fsc & 3);
    match fsc {
        0x00..=0x03 => ("address size fault", level),
        0x04..=0x07 => ("translation fault", level),
        0x08..=0x0b => ("access flag fault", level),
        0x0c..=0x0f => ("permission fault", level),
        0x10 => ("synchronous external abort", None),
        0x11 => ("synchronous tag check fault", None),
        0x14..=0x17 => ("external abort on table walk", level),
        0x18 => ("parity/ECC error", None),
        0x21 => ("alignment fault", None),
        0x30 => ("TLB conflict abort", None),
        0x31 => ("unsupported atomic hardware update", None),
        _ => ("unknown fault status", None),
    }
}

/// Short description of the trap in `tf`, for the dump and the panic.
fn describe(tf: &TrapFrame, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let ec = tf.tf_esr >> 26;
    write!(out, "{}", ec_name(ec))?;
    if matches!(ec, EC_IABT_LOW | EC_IABT_CUR | EC_DABT_LOW | EC_DABT_CUR) {
        let iss = tf.tf_esr & 0x1ff_ffff;
        let (what, level) = fsc_name(iss & 0x3f);
        write!(out, ": {what}")?;
        if let Some(l) = level {
            write!(out, " at level {l}")?;
        }
        if ec == EC_DABT_CUR || ec == EC_DABT_LOW {
            let wnr = iss & (1 << 6) != 0;
            let cm = iss & (1 << 8) != 0;
            write!(
                out,
                ", {}",
                if cm {
                    "cache maintenance"
                } else if wnr {
                    "write"
                } else {
                    "read"
                }
            )?;
        } else {
            write!(out, ", instruction fetch")?;
        }
        if iss & (1 << 10) != 0 {
            write!(out, ", address unknown")?;
        } else {
            write!(out, " at {:#x}", tf.tf_far)?;
        }
    }
    Ok(())
}

struct Buf {
    b: [u8; 256],
    n: usize,
}

impl core::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &c in s.as_bytes() {
            if self.n < self.b.len() {
                self.b[self.n] = c;
                self.n += 1;
            }
        }
        Ok(())
    }
}

impl Buf {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.b[..self.n]).unwrap_or("?")
    }
}

/// Print every register of `tf`, the decoded cause, and a frame-pointer
/// backtrace when the frame chain stays on this CPU's kernel stack.
pub fn dump_frame(tf: &TrapFrame, what: &str) {
    let mut d = Buf { b: [0; 256], n: 0 };
    let _ = describe(tf, &mut d);
    let el = (tf.tf_spsr >> 2) & 3;
    printf!("{what} on cpu{}: {} (EL{el}, pc {:#x})\n", cpu::curcpu_md().ci.ci_cpuid, d.as_str(), tf.tf_elr);
    printf!(
        "  esr {:#010x} (EC {:#04x}, ISS {:#x})  far {:#018x}\n",
        tf.tf_esr,
        tf.tf_esr >> 26,
        tf.tf_esr & 0x1ff_ffff,
        tf.tf_far
    );
    for row in 0..8 {
        let mut line = Buf { b: [0; 256], n: 0 };
        for col in 0..4 {
            let i = row * 4 + col;
            if i < 31 {
                let name = match i {
                    29 => "fp",
                    30 => "lr",
                    _ => "",
                };
                let _ = core::fmt::Write::write_fmt(
                    &mut line,
                    format_args!(
                        "{:>5} {:016x}  ",
                        if name.is_empty() { XNAMES[i] } else { name },
                        tf.tf_x[i]
                    ),
                );
            } else {
                let _ =
                    core::fmt::Write::write_fmt(&mut line, format_args!("{:>5} {:016x}  ", "sp", tf.tf_sp));
            }
        }
        printf!("{}\n", line.as_str().trim_end());
    }
    printf!(
        "  elr {:016x}  spsr {:016x}  esr {:016x}  far {:016x}\n",
        tf.tf_elr,
        tf.tf_spsr,
        tf.tf_esr,
        tf.tf_far
    );
    backtrace(tf);
}

const XNAMES: [&str; 31] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
    "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30",
];

/// Walk the frame-pointer chain (the kernel is built with frame pointers),
/// reading only inside this CPU's kernel stack.
fn backtrace(tf: &TrapFrame) {
    if (tf.tf_spsr >> 2) & 3 == 0 {
        return;
    }
    let md = cpu::curcpu_md();
    let (lo, hi) = (md.ci_kstack_lo, md.ci_kstack_hi);
    let mut line = Buf { b: [0; 256], n: 0 };
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("  backtrace: {:#x}", tf.tf_elr));
    let mut fp = tf.tf_x[29];
    for _ in 0..8 {
        if fp < lo || fp + 16 > hi || fp & 7 != 0 {
            break;
        }
        // SAFETY: fp lies inside this CPU's mapped kernel stack (checked
        // above) and is 8-byte aligned; a frame record is {fp, lr}.
        let (next, lr) = unsafe {
            let p = fp as *const u64;
            (p.read_volatile(), p.add(1).read_volatile())
        };
        if lr == 0 {
            break;
        }
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {lr:#x}"));
        if next <= fp {
            break;
        }
        fp = next;
    }
    printf!("{}\n", line.as_str());
}

/// Traps taken while already handling a fatal one, per CPU.
static FATAL_DEPTH: [AtomicU32; kern::cpu::MAXCPUS] = [const { AtomicU32::new(0) }; kern::cpu::MAXCPUS];

/// Report a trap the kernel cannot handle and panic.
fn fatal(tf: &TrapFrame, what: &str) -> ! {
    let id = cpu::curcpu_md().ci.ci_cpuid as usize % kern::cpu::MAXCPUS;
    if FATAL_DEPTH[id].fetch_add(1, Ordering::Relaxed) > 0 {
        // The dump itself faulted: do not try again.
        machdep::console_emergency(b"\ntrap: fault while reporting a fault\n");
        panic!("trap: recursive fault at pc {:#x}", tf.tf_elr);
    }
    dump_frame(tf, what);
    let mut d = Buf { b: [0; 256], n: 0 };
    let _ = describe(tf, &mut d);
    panic!("{what}: {} (pc {:#x})", d.as_str(), tf.tf_elr);
}

/// Synchronous exception from EL1.
pub extern "C" fn trap_el1_sync(tf: &mut TrapFrame) {
    let ec = tf.tf_esr >> 26;
    if ec == EC_UNKNOWN && machdep::powering_down() {
        // The semihosting `hlt` of powerdown() is undefined without
        // QEMU's -semihosting: fall back to PSCI.
        machdep::powerdown_fallback();
    }
    fatal(tf, "kernel trap");
}

/// Synchronous exception from EL0. No user programs run yet.
pub extern "C" fn trap_el0_sync(tf: &mut TrapFrame) {
    fatal(tf, "user trap (no user support yet)");
}

/// IRQ from either EL.
pub extern "C" fn trap_irq(_tf: &mut TrapFrame) {
    intr::intr_dispatch();
}

/// A vector the kernel never expects (FIQ, SError, SP_EL0, AArch32).
pub extern "C" fn trap_bad(tf: &mut TrapFrame, vector: u64) {
    let kind = match vector {
        0 => "synchronous exception on SP_EL0",
        1 => "IRQ on SP_EL0",
        2 => "FIQ on SP_EL0",
        3 => "SError on SP_EL0",
        6 => "FIQ from EL1",
        7 => "SError from EL1",
        10 => "FIQ from EL0",
        11 => "SError from EL0",
        _ => "exception from AArch32 EL0",
    };
    fatal(tf, kind);
}

/// The kernel stack pointer left its stack (hit the guard below it). We
/// are on the CPU's emergency stack; x0 and the old sp were recovered.
pub extern "C" fn trap_kstack_overflow(tf: &mut TrapFrame) {
    fatal(tf, "kernel stack overflow");
}
