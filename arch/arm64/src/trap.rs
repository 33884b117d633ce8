//! Exception dispatch, and the register dump for traps the kernel cannot
//! handle.
//!
//! The vectors (locore) build a [`TrapFrame`] on the kernel stack and call
//! one of the `trap_*` functions below with it; on return they restore the
//! frame (so a handler may change `tf_elr`/`tf_spsr`) and `eret`.
//!
//! From EL0: `trap_el0_sync` turns SVC into `kern::trap::syscall`, data and
//! instruction aborts into `kern::trap::user_pagefault`, and every other
//! exception class into `kern::trap::trapsignal` with the fitting signal;
//! `trap_el0_irq` takes the interrupt; both then return through locore's
//! `el0_return`, which calls [`trap_userret`] (and so
//! `kern::trap::userret`) before the `eret`.
//!
//! From EL1: a data abort inside copyin/copyout (locore's copy routines)
//! on a user address goes to `kern::trap::kernel_pagefault` and is retried
//! when that resolved it, or resumes at the thread's `pcb_onfault`; every
//! other kernel exception is fatal.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kern::printf;
use sys::signal::{SIGBUS, SIGFPE, SIGILL, SIGTRAP};
use uvm::pmap::VmProt;

use crate::{cpu, intr, locore, machdep};

/// Saved state of the interrupted context, as the vectors lay it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The MI view of a frame (an opaque pointer).
pub fn mi_tf(tf: &mut TrapFrame) -> *mut kern::machdep::TrapFrame {
    tf as *mut TrapFrame as *mut kern::machdep::TrapFrame
}

// ESR_EL1.EC values we act on or name.
const EC_UNKNOWN: u64 = 0x00;
const EC_FP_ACCESS: u64 = 0x07;
const EC_ILLEGAL_STATE: u64 = 0x0e;
const EC_SVC64: u64 = 0x15;
const EC_SYSREG: u64 = 0x18;
const EC_IABT_LOW: u64 = 0x20;
const EC_IABT_CUR: u64 = 0x21;
const EC_PC_ALIGN: u64 = 0x22;
const EC_DABT_LOW: u64 = 0x24;
const EC_DABT_CUR: u64 = 0x25;
const EC_SP_ALIGN: u64 = 0x26;
const EC_FP_EXC64: u64 = 0x2c;
const EC_BREAKPOINT_LOW: u64 = 0x30;
const EC_STEP_LOW: u64 = 0x32;
const EC_WATCHPOINT_LOW: u64 = 0x34;
const EC_BRK64: u64 = 0x3c;

// Abort ISS fields.
const ISS_MASK: u64 = 0x1ff_ffff;
/// WnR: the faulting access was a write.
const ISS_WNR: u64 = 1 << 6;
/// CM: the fault came from a cache maintenance instruction.
const ISS_CM: u64 = 1 << 8;
/// FnV: FAR is not valid.
const ISS_FNV: u64 = 1 << 10;

// PSTATE/SPSR bits.
pub const PSR_M_MASK: u64 = 0x1f;
pub const PSR_DAIF: u64 = 0xf << 6;
pub const PSR_I: u64 = 1 << 7;
pub const PSR_BTYPE: u64 = 3 << 10;
pub const PSR_SSBS: u64 = 1 << 12;
pub const PSR_DIT: u64 = 1 << 24;
pub const PSR_TCO: u64 = 1 << 25;
pub const PSR_C: u64 = 1 << 29;
pub const PSR_NZCV: u64 = 0xf << 28;
/// EL0t, AArch64, nothing masked: how every user frame returns.
pub const PSR_EL0T: u64 = 0;
/// The SPSR bits user mode owns (it can change them itself): flags, DIT,
/// TCO, SSBS and the branch type. A user frame holds nothing else.
pub const PSR_USER_BITS: u64 = PSR_NZCV | PSR_TCO | PSR_DIT | PSR_SSBS | PSR_BTYPE;

/// Calls of `kern::trap::kernel_pagefault` from the copy fault path.
pub static KERNEL_PAGEFAULTS: AtomicU64 = AtomicU64::new(0);
/// Copy faults resumed at `pcb_onfault`.
pub static ONFAULT_RECOVERIES: AtomicU64 = AtomicU64::new(0);

/// What a user exception would hand to the MI code, for [`UserHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserEvent {
    /// SVC with this number in x8.
    Syscall(u64),
    /// A page fault at this address for this access.
    Fault(u64, VmProt),
    /// Any other exception, as this signal and address.
    Signal(u32, u64),
}

/// What a [`UserHook`] did with an event.
pub enum HookResult {
    /// Not the hook's: hand the event to the MI code.
    Pass,
    /// Consumed (the hook may have changed the frame).
    Handled,
    /// A system call the hook completed, with this result.
    Syscall(Result<(u64, u64), i32>),
}

/// A function that sees user exceptions before the MI code, so the boot
/// self-test can run code in user mode before there are processes.
pub type UserHook = fn(&mut TrapFrame, UserEvent) -> HookResult;

/// The installed hook as a function pointer, 0 for none (the normal case:
/// one relaxed load per user exception).
static USER_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Install (Some) or remove (None) the user exception hook.
pub fn set_user_hook(h: Option<UserHook>) {
    USER_HOOK.store(h.map_or(0, |f| f as usize), Ordering::Release);
}

fn user_hook(tf: &mut TrapFrame, ev: UserEvent) -> HookResult {
    let h = USER_HOOK.load(Ordering::Acquire);
    if h == 0 {
        return HookResult::Pass;
    }
    // SAFETY: the only non-zero values stored are `UserHook` pointers
    // (set_user_hook), and fn pointers round-trip through usize.
    let f: UserHook = unsafe { core::mem::transmute::<usize, UserHook>(h) };
    f(tf, ev)
}

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
    // SAFETY: ci_curpcb always points at a live Pcb (the boot Pcb or the
    // running thread's, which cannot go away while it runs).
    let top = unsafe { (*cpu::curpcb()).pcb_kstack_top } as u64;
    let (lo, hi) =
        if top != 0 { (top - crate::pmap::KSTACK_SIZE, top) } else { (md.ci_kstack_lo, md.ci_kstack_hi) };
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

/// Translation, access flag and permission faults: what the VM system can
/// resolve (or turn into SIGSEGV); anything else is a bus error.
fn is_vm_fault(fsc: u64) -> bool {
    (0x04..=0x0f).contains(&fsc)
}

/// The access a data abort was for (a cache maintenance fault counts as a
/// read: it must not trigger copy-on-write).
fn dabt_access(iss: u64) -> VmProt {
    if iss & ISS_WNR != 0 && iss & ISS_CM == 0 { VmProt::WRITE } else { VmProt::READ }
}

/// Synchronous exception from EL1.
pub extern "C" fn trap_el1_sync(tf: &mut TrapFrame) {
    let ec = tf.tf_esr >> 26;
    if ec == EC_UNKNOWN && machdep::powering_down() {
        // The semihosting `hlt` of powerdown() is undefined without
        // QEMU's -semihosting: fall back to PSCI.
        machdep::powerdown_fallback();
    }
    if ec == EC_DABT_CUR && copy_fault(tf) {
        return;
    }
    fatal(tf, "kernel trap");
}

/// A data abort at EL1. Only the unprivileged loads and stores of locore's
/// copy routines may fault on purpose; anything else (a stray kernel
/// access to user memory under PAN included) is a bug, so it is not
/// retried through the VM system, which could loop on a PAN fault.
///
/// In a copy routine: when the address is a user address and the copy ran
/// with interrupts enabled, enable them and ask `kernel_pagefault`; retry
/// if it resolved the fault. Otherwise resume at `pcb_onfault` of the
/// running thread (the routine returns EFAULT). A copy made with
/// interrupts masked never reaches the VM system (it may sleep): it gets
/// EFAULT on any page not already mapped as needed.
fn copy_fault(tf: &mut TrapFrame) -> bool {
    if !locore::in_copy_routine(tf.tf_elr) {
        return false;
    }
    let iss = tf.tf_esr & ISS_MASK;
    if !is_vm_fault(iss & 0x3f) {
        return false;
    }
    let va = tf.tf_far;
    if va < sys::vmparam::VM_MAXUSER_ADDRESS as u64 && tf.tf_spsr & PSR_I == 0 {
        KERNEL_PAGEFAULTS.fetch_add(1, Ordering::Relaxed);
        intr::intr_enable();
        let resolved = kern::trap::kernel_pagefault(va, dabt_access(iss));
        // The frame is restored into ELR/SPSR next: no interrupt may
        // overwrite them in between.
        intr::intr_disable();
        if resolved {
            return true;
        }
    }
    // SAFETY: ci_curpcb points at the running thread's live Pcb.
    let onfault = unsafe { (*cpu::curpcb()).pcb_onfault };
    if onfault == 0 {
        return false;
    }
    ONFAULT_RECOVERIES.fetch_add(1, Ordering::Relaxed);
    tf.tf_elr = onfault as u64;
    true
}

/// Synchronous exception from EL0: a system call, a page fault or a
/// signal. Runs with interrupts enabled; locore's `el0_return` follows.
pub extern "C" fn trap_el0_sync(tf: &mut TrapFrame) {
    // Before the unmask below: the accounting runs with interrupts masked.
    kern::cpu::acct_user_leave();
    // Exception entry masked D, A, I and F; the MI handlers run with
    // interrupts (and SError) enabled, as after a user exception anywhere.
    // SAFETY: the frame is saved, so interrupts may nest from here on.
    unsafe { core::arch::asm!("msr daifclr, #7", options(nomem, nostack)) };
    let esr = tf.tf_esr;
    match esr >> 26 {
        EC_SVC64 => syscall(tf),
        ec @ (EC_DABT_LOW | EC_IABT_LOW) => {
            let iss = esr & ISS_MASK;
            let far_ok = iss & ISS_FNV == 0;
            let va = if far_ok { tf.tf_far } else { 0 };
            if far_ok && is_vm_fault(iss & 0x3f) {
                let access = if ec == EC_IABT_LOW { VmProt::EXECUTE } else { dabt_access(iss) };
                if let HookResult::Pass = user_hook(tf, UserEvent::Fault(va, access)) {
                    kern::trap::user_pagefault(mi_tf(tf), va, access);
                }
            } else {
                // Alignment faults, external aborts and the like.
                user_signal(tf, SIGBUS, va);
            }
        }
        ec => {
            let (sig, addr) = match ec {
                EC_PC_ALIGN => (SIGBUS, tf.tf_far),
                EC_SP_ALIGN => (SIGBUS, tf.tf_sp),
                EC_FP_EXC64 => (SIGFPE, tf.tf_elr),
                EC_BREAKPOINT_LOW | EC_STEP_LOW | EC_BRK64 => (SIGTRAP, tf.tf_elr),
                EC_WATCHPOINT_LOW => (SIGTRAP, tf.tf_far),
                // Undefined instructions, trapped FP/SIMD (user FP is not
                // enabled), system registers EL0 may not touch, illegal
                // execution state, BTI and PAC failures, AArch32: SIGILL.
                EC_UNKNOWN | EC_FP_ACCESS | EC_ILLEGAL_STATE | EC_SYSREG => (SIGILL, tf.tf_elr),
                _ => (SIGILL, tf.tf_elr),
            };
            user_signal(tf, sig, addr);
        }
    }
}

fn user_signal(tf: &mut TrapFrame, sig: u32, addr: u64) {
    if let HookResult::Pass = user_hook(tf, UserEvent::Signal(sig, addr)) {
        kern::trap::trapsignal(mi_tf(tf), sig, addr);
    }
}

/// SVC #0 from EL0: number in x8, arguments in x0-x5; results in x0/x1
/// with PSTATE.C clear, or errno in x0 with C set (sys/src/lib.rs).
/// ELR already points past the SVC.
fn syscall(tf: &mut TrapFrame) {
    let code = tf.tf_x[8];
    let r = match user_hook(tf, UserEvent::Syscall(code)) {
        HookResult::Pass => {
            let args = [tf.tf_x[0], tf.tf_x[1], tf.tf_x[2], tf.tf_x[3], tf.tf_x[4], tf.tf_x[5]];
            kern::trap::syscall(mi_tf(tf), code, args)
        }
        HookResult::Handled => return,
        HookResult::Syscall(r) => r,
    };
    match r {
        Ok((r0, r1)) => {
            tf.tf_x[0] = r0;
            tf.tf_x[1] = r1;
            tf.tf_spsr &= !PSR_C;
        }
        Err(sys::errno::EJUSTRETURN) => {}
        Err(e) => {
            tf.tf_x[0] = e as u64;
            tf.tf_spsr |= PSR_C;
        }
    }
}

/// IRQ from EL1.
pub extern "C" fn trap_irq(_tf: &mut TrapFrame) {
    // Exception entry masked interrupts; the handlers keep them masked.
    let saved = kern::cpu::acct_intr_enter();
    intr::intr_dispatch();
    kern::cpu::acct_intr_leave(saved);
}

/// IRQ from EL0; locore's `el0_return` follows.
pub extern "C" fn trap_el0_irq(_tf: &mut TrapFrame) {
    cpu::curcpu_md().ci_uintr.fetch_add(1, Ordering::Relaxed);
    // As trap_irq; the state resumed is SYS, for the way out via userret.
    let saved = kern::cpu::acct_intr_enter();
    intr::intr_dispatch();
    kern::cpu::acct_intr_leave(saved);
}

/// Last call before every return to EL0 (locore `el0_return`), with
/// interrupts masked: `kern::trap::userret` (signals, rescheduling), then
/// interrupts masked again for the frame restore.
///
/// The frame must return to EL0t with nothing masked: a privileged mode or
/// mask bit means a kernel bug (every writer of a user SPSR -- setregs,
/// cpu_fork, sendsig, sigreturn -- keeps to PSR_USER_BITS), so it panics
/// rather than eret into EL1. Bits outside PSR_USER_BITS that hardware may
/// have saved (a single-step or PAN bit) are dropped.
pub extern "C" fn trap_userret(tf: &mut TrapFrame) {
    kern::trap::userret(mi_tf(tf));
    intr::intr_disable();
    // Masked until the eret: what follows is user time.
    kern::cpu::acct_user_enter();
    if tf.tf_spsr & (PSR_M_MASK | PSR_DAIF) != 0 {
        fatal(tf, "return to user mode with a privileged SPSR");
    }
    tf.tf_spsr &= PSR_USER_BITS;
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
