//! Trap, interrupt and system call dispatch, and the register dump of a
//! fatal trap.
//!
//! Every vector enters through its locore stub and `alltraps` (NMI, double
//! fault and machine check through `paranoidtraps`, on their IST stacks),
//! which build a [`TrapFrame`] and call [`trap`] / [`trap_paranoid`];
//! `syscall` enters through `Xsyscall`, which builds the same frame and
//! calls [`syscall_md`].
//!
//! - From user mode: a page fault goes to `kern::trap::user_pagefault`,
//!   any other exception to `kern::trap::trapsignal` with its signal
//!   ([`trap_signal`]), both with interrupts enabled; interrupts are
//!   handled as from the kernel; then `kern::trap::userret` runs before
//!   the return to user mode.
//! - From kernel mode: a page fault on a user address inside the copy
//!   routine goes to `kern::trap::kernel_pagefault` (interrupts enabled
//!   if the copy ran with them on), then resumes the copy or takes its
//!   `pcb_onfault` (EFAULT); every other exception is a kernel bug (or the
//!   deliberate `fault` boot word): dump, then panic.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use sys::errno::EJUSTRETURN;
use sys::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
use uvm::pmap::VmProt;

use crate::cpufunc::{PSL_C, PSL_I, cli, rcr2, rcr3, sti};
use crate::gdt::{GSEL_UCODE_SEL, GSEL_UDATA_SEL};
use crate::intr::{
    self, COM_VECTOR, ICU_OFFSET, LAPIC_IPI_INVLRANGE, LAPIC_IPI_VECTOR, LAPIC_SPURIOUS_VECTOR,
    LAPIC_TIMER_VECTOR, LAPIC_XCALL_VECTOR, T_ALIGNFLT, T_ARITHTRAP, T_BOUND, T_BPTFLT, T_DIVIDE, T_DNA,
    T_DOUBLEFLT, T_NMI, T_OFLOW, T_PRIVINFLT, T_PROTFLT, T_SEGNPFLT, T_STKFLT, T_TRCTRAP, T_TSSFLT, T_XMM,
};

/// The saved state of an interrupted context (OpenBSD's `struct
/// trapframe`), lowest address first: the general registers `alltraps` or
/// `Xsyscall` pushed, the vector (`T_SYSCALL` for a system call), the
/// error code, and the hardware interrupt frame. A thread's user frame
/// sits at the top of its kernel stack (`TRAPFRAME_SIZE` bytes, 16-byte
/// aligned); `kern` sees it only as an opaque pointer.
#[repr(C)]
#[derive(Debug, Clone, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub trapno: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub err: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const TRAPFRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(TRAPFRAME_SIZE == 176 && TRAPFRAME_SIZE.is_multiple_of(16));

pub use crate::intr::T_PAGEFLT;

// Page-fault error code bits.
const PGEX_P: u64 = 1 << 0;
const PGEX_W: u64 = 1 << 1;
const PGEX_U: u64 = 1 << 2;
const PGEX_RSVD: u64 = 1 << 3;
const PGEX_I: u64 = 1 << 4;
const PGEX_PK: u64 = 1 << 5;

const TRAP_NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug exception (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved trap 15",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point error (#XM)",
    "virtualization exception (#VE)",
    "control protection (#CP)",
    "reserved trap 22",
    "reserved trap 23",
    "reserved trap 24",
    "reserved trap 25",
    "reserved trap 26",
    "reserved trap 27",
    "hypervisor injection (#HV)",
    "VMM communication (#VC)",
    "security exception (#SX)",
    "reserved trap 31",
];

pub fn trap_name(v: u64) -> &'static str {
    TRAP_NAMES.get(v as usize).copied().unwrap_or("interrupt")
}

/// A user exception diverted from the MI code by the user-mode self-test
/// (see `selftest`): the frame, the signal and address `trapsignal` would
/// have been given (for a page fault: signal 0 and the access).
pub type UserTrapHook = fn(&mut TrapFrame, u32, u64, VmProt);

/// The installed `UserTrapHook`, 0 when none (always, outside that test).
pub static USER_TRAP_HOOK: AtomicUsize = AtomicUsize::new(0);

/// The trap frame as the MI code sees it.
pub fn tf_opaque(tf: &mut TrapFrame) -> *mut kern::machdep::TrapFrame {
    tf as *mut TrapFrame as *mut kern::machdep::TrapFrame
}

/// The MD trap frame behind an opaque MI pointer.
///
/// # Safety
/// `tf` came from this arch (`tf_opaque`, `trapframe_of`) and points at a
/// live frame nobody else is changing.
pub unsafe fn tf_md<'a>(tf: *mut kern::machdep::TrapFrame) -> &'a mut TrapFrame {
    // SAFETY: delegated to the caller.
    unsafe { &mut *(tf as *mut TrapFrame) }
}

/// The signal for an exception taken in user mode (all but page faults,
/// NMI, double fault and machine check).
pub fn trap_signal(trapno: u64) -> u32 {
    match trapno {
        T_DIVIDE | T_OFLOW | T_BOUND | T_ARITHTRAP | T_XMM => SIGFPE,
        T_TRCTRAP | T_BPTFLT => SIGTRAP,
        // The FPU is off (CR0.EM): an x87/MMX/SSE instruction is illegal.
        T_PRIVINFLT | T_DNA => SIGILL,
        // Privileged instruction, non-canonical address, control-flow
        // protection.
        T_PROTFLT | T_STKFLT | 21 => SIGSEGV,
        T_TSSFLT | T_SEGNPFLT | T_ALIGNFLT => SIGBUS,
        _ => SIGILL,
    }
}

/// The access a page fault's error code describes.
pub fn pf_access(err: u64) -> VmProt {
    if err & PGEX_I != 0 {
        VmProt::EXECUTE
    } else if err & PGEX_W != 0 {
        VmProt::WRITE
    } else {
        VmProt::READ
    }
}

/// Is `va` canonical (sign-extended from bit 47)?
pub fn is_canonical(va: u64) -> bool {
    ((va as i64) << 16 >> 16) as u64 == va
}

/// The C-ABI target of `alltraps`. Runs with interrupts masked (all gates
/// are interrupt gates), on the thread's kernel stack for an entry from
/// user mode. Returns with interrupts masked; `alltraps` then resumes the
/// interrupted code.
pub extern "C" fn trap(tf: &mut TrapFrame) {
    let user = tf.cs & 3 == 3;
    match tf.trapno {
        0..=31 if user => {
            // Still masked (interrupt gate): the accounting's precondition.
            kern::cpu::acct_user_leave();
            user_trap(tf)
        }
        0..=31 => kernel_trap(tf),
        _ => {
            // Masked, as above; the handlers never unmask, so no interrupt
            // nests inside this one (the accounting would allow it).
            let saved = kern::cpu::acct_intr_enter();
            intr_dispatch(tf.trapno);
            kern::cpu::acct_intr_leave(saved);
        }
    }
    if user {
        if tf.trapno >= 32 {
            crate::cpu::curcpu_md().ci_nuser_intr.fetch_add(1, Ordering::Relaxed);
        }
        user_return(tf);
    }
    cli();
}

/// An interrupt vector's handler (time charged to intr_ns by `trap`).
fn intr_dispatch(trapno: u64) {
    match trapno {
        v if v == LAPIC_TIMER_VECTOR as u64 => crate::clock::clockintr(),
        v if v == LAPIC_IPI_VECTOR as u64 => intr::ipi_intr(),
        v if v == LAPIC_IPI_INVLRANGE as u64 => intr::invlrange_intr(),
        v if v == LAPIC_XCALL_VECTOR as u64 => intr::xcall_intr(),
        v if v == COM_VECTOR as u64 => crate::cons::comintr(),
        // Spurious: the APIC did not set an in-service bit; no EOI.
        v if v == LAPIC_SPURIOUS_VECTOR as u64 => {}
        // The masked 8259s can still raise spurious IRQ 7/15; they did not
        // come through the local APIC, so no EOI there either.
        v if (ICU_OFFSET as u64..ICU_OFFSET as u64 + 16).contains(&v) => {}
        v => {
            kern::printf!("cpu{}: stray interrupt vector {v:#x}\n", kern::machdep::curcpu().ci_cpuid);
            crate::lapic::lapic_eoi();
        }
    }
}

/// NMI, double fault and machine check, on their IST stacks, with GS
/// already the kernel's. They never return to user mode through userret.
pub extern "C" fn trap_paranoid(tf: &mut TrapFrame) {
    if tf.trapno == T_NMI {
        // An NMI can interrupt the console lock's holder on this CPU:
        // report it on the raw UART, lock-free.
        if !intr::nmi_intr() {
            crate::cons::cnputs(b"NMI received, ignored\n");
        }
        return;
    }
    fatal(tf)
}

/// An exception in user mode: to the VM (page fault) or a signal.
fn user_trap(tf: &mut TrapFrame) {
    // Before interrupts are enabled: a fault in an interrupt handler would
    // overwrite it.
    let cr2 = rcr2();
    // SAFETY: the frame is saved and GS is the kernel's; this is thread
    // context, where the MI code may take interrupts (and sleep).
    unsafe { sti() };
    let hook = USER_TRAP_HOOK.load(Ordering::Acquire);
    let (sig, addr, access) = if tf.trapno == T_PAGEFLT {
        (0, cr2, pf_access(tf.err))
    } else {
        (trap_signal(tf.trapno), tf.rip, VmProt::NONE)
    };
    if hook != 0 {
        // SAFETY: only the self-test stores here, and it stores a
        // `UserTrapHook`.
        let hook: UserTrapHook = unsafe { core::mem::transmute::<usize, UserTrapHook>(hook) };
        hook(tf, sig, addr, access);
    } else if tf.trapno == T_PAGEFLT {
        kern::trap::user_pagefault(tf_opaque(tf), cr2, access);
    } else {
        kern::trap::trapsignal(tf_opaque(tf), sig, addr);
    }
}

/// An exception in kernel mode: a recoverable fault in the user copy
/// routine, or a panic.
fn kernel_trap(tf: &mut TrapFrame) {
    if tf.trapno == T_PAGEFLT {
        let va = rcr2();
        let ci = crate::cpu::curcpu_md();
        // SAFETY: ci_curpcb always points at a live Pcb (the boot one or
        // the running thread's).
        let pcb = unsafe { &mut *ci.ci_curpcb.load(Ordering::Relaxed) };
        let start = &raw const crate::locore::md_copy_user_start as u64;
        let end = &raw const crate::locore::md_copy_user_end as u64;
        // Only the copy routine touches user memory: a kernel fault on a
        // user address anywhere else is a bug, whatever the VM thinks.
        if va < sys::vmparam::VM_MAXUSER_ADDRESS as u64
            && (start..end).contains(&tf.rip)
            && pcb.pcb_onfault != 0
            && tf.err & PGEX_RSVD == 0
        {
            // The VM may sleep: only if the copy ran with interrupts on.
            if tf.rflags & PSL_I != 0 {
                // SAFETY: the interrupted code had interrupts enabled, so
                // it holds no spin lock and may be interrupted again.
                unsafe { sti() };
                let ok = kern::trap::kernel_pagefault(va, pf_access(tf.err));
                cli();
                if ok {
                    return;
                }
            }
            tf.rip = pcb.pcb_onfault as u64;
            return;
        }
    }
    fatal(tf)
}

/// `Xsyscall`'s C-ABI target: dispatch the system call in the frame, store
/// its results (OpenBSD's convention, sys/src/lib.rs), run userret.
/// Entered with interrupts masked on the thread's kernel stack; returns
/// with them masked, and 1 when SYSRET may return (the frame's %rcx and
/// %r11 equal its %rip and %rflags, so SYSRET restores it exactly), 0 for
/// iretq.
pub extern "C" fn syscall_md(tf: &mut TrapFrame) -> u64 {
    // Before the sti: SYSCALL masked IF (FMASK), as the accounting needs.
    kern::cpu::acct_user_leave();
    // SAFETY: the frame is saved and GS is the kernel's; system calls run
    // in thread context with interrupts enabled.
    unsafe { sti() };
    let code = tf.rax;
    let args = [tf.rdi, tf.rsi, tf.rdx, tf.r10, tf.r8, tf.r9];
    match kern::trap::syscall(tf_opaque(tf), code, args) {
        // execve/sigreturn rewrote the frame: leave every register alone.
        Err(EJUSTRETURN) => {}
        r => {
            match r {
                Ok((r0, r1)) => {
                    tf.rax = r0;
                    tf.rdx = r1;
                    tf.rflags &= !PSL_C;
                }
                Err(errno) => {
                    tf.rax = errno as u64;
                    tf.rflags |= PSL_C;
                }
            }
            // SYSCALL clobbers these, and SYSRET leaves them so: say so in
            // the frame, which then qualifies for SYSRET.
            tf.rcx = tf.rip;
            tf.r11 = tf.rflags;
        }
    }
    user_return(tf);
    sysret_exact(tf) as u64
}

/// Can SYSRET return to this frame exactly?
pub fn sysret_exact(tf: &TrapFrame) -> bool {
    tf.rcx == tf.rip
        && tf.r11 == tf.rflags
        && is_canonical(tf.rip)
        && tf.cs == GSEL_UCODE_SEL as u64
        && tf.ss == GSEL_UDATA_SEL as u64
}

/// `Xsyscall32`: SYSCALL from compatibility mode, which needs a 32-bit
/// user code segment this kernel never creates.
pub extern "C" fn syscall32() -> ! {
    panic!("syscall from compatibility mode, which has no code segment")
}

/// The last steps before any return to user mode: userret (signals,
/// rescheduling), then, with interrupts masked until the iretq/sysretq,
/// this thread's FS base if the MI code changed its `pcb_tls`.
pub fn user_return(tf: &mut TrapFrame) {
    kern::trap::userret(tf_opaque(tf));
    cli();
    // Masked until the iretq/sysretq: what follows is user time.
    kern::cpu::acct_user_enter();
    crate::machdep::fsbase_sync();
    // Every writer of a user %rip checks it (setregs, sendsig, sigreturn;
    // fork copies one): iretq to a non-canonical one would fault in ring 0
    // with the user's GS.
    assert!(is_canonical(tf.rip), "return to user mode at non-canonical rip {:#x}", tf.rip);
}

/// Console sink for the dump: the MI printf (locked, into the message
/// buffer), or the raw UART for a double fault, which may come from a
/// stack overflow inside printf itself.
struct DumpSink {
    raw: bool,
}

impl Write for DumpSink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.raw {
            crate::cons::cnputs(s.as_bytes());
        } else {
            kern::printf!("{s}");
        }
        Ok(())
    }
}

fn pf_decode(err: u64) -> [&'static str; 4] {
    [
        if err & PGEX_P != 0 { "protection violation" } else { "not-present page" },
        if err & PGEX_W != 0 { "write" } else { "read" },
        if err & PGEX_U != 0 { "user" } else { "supervisor" },
        if err & PGEX_I != 0 {
            "instruction fetch"
        } else if err & PGEX_RSVD != 0 {
            "reserved bit set"
        } else if err & PGEX_PK != 0 {
            "protection key"
        } else {
            "data access"
        },
    ]
}

/// Print everything about a trap the kernel cannot handle, then panic.
fn fatal(tf: &TrapFrame) -> ! {
    let cr2 = rcr2();
    let cr3 = rcr3();
    let ci = crate::cpu::curcpu_md();
    let mode = if tf.cs & 3 == 0 { "supervisor" } else { "user" };
    let name = trap_name(tf.trapno);
    let mut w = DumpSink { raw: tf.trapno == T_DOUBLEFLT };
    let _ = writeln!(w, "fatal {name} in {mode} mode on cpu{}", ci.ci_mi.ci_cpuid);
    if tf.trapno == T_PAGEFLT {
        let [p, rw, us, what] = pf_decode(tf.err);
        let _ = writeln!(w, "page fault: {p}, {rw}, {us}, {what}, fault address {cr2:#x}");
        if ci.stack_guard_contains(cr2) {
            let _ = writeln!(w, "page fault: address is this cpu's kernel stack guard page");
        }
    }
    if tf.trapno == T_DOUBLEFLT && (ci.stack_guard_contains(tf.rsp) || ci.stack_guard_contains(cr2)) {
        let _ = writeln!(w, "double fault: kernel stack overflow into the guard page");
    }
    let _ = writeln!(
        w,
        "trap type {} code {:#x} rip {:#018x} cs {:#x} rflags {:#x} cr2 {cr2:#x} cr3 {cr3:#x} cpl {}",
        tf.trapno,
        tf.err,
        tf.rip,
        tf.cs,
        tf.rflags,
        tf.cs & 3
    );
    let regs = [
        ("rax", tf.rax),
        ("rbx", tf.rbx),
        ("rcx", tf.rcx),
        ("rdx", tf.rdx),
        ("rsi", tf.rsi),
        ("rdi", tf.rdi),
        ("rbp", tf.rbp),
        ("rsp", tf.rsp),
        ("r8", tf.r8),
        ("r9", tf.r9),
        ("r10", tf.r10),
        ("r11", tf.r11),
        ("r12", tf.r12),
        ("r13", tf.r13),
        ("r14", tf.r14),
        ("r15", tf.r15),
    ];
    for row in regs.chunks(4) {
        for (i, (n, v)) in row.iter().enumerate() {
            let sep = if i + 1 == row.len() { "\n" } else { "  " };
            let _ = write!(w, "{n:>3} {v:#018x}{sep}");
        }
    }
    let _ = writeln!(w, "rip {:#018x}  rflags {:#x}  cs {:#x}  ss {:#x}", tf.rip, tf.rflags, tf.cs, tf.ss);
    if tf.trapno == T_PAGEFLT {
        let [p, rw, us, what] = pf_decode(tf.err);
        panic!("kernel page fault: {p}, {rw}, {us}, {what} at address {cr2:#x}, rip {:#x}", tf.rip);
    }
    panic!("fatal {name}, code {:#x}, rip {:#x}", tf.err, tf.rip);
}
