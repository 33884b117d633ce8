//! Trap and interrupt dispatch, and the register dump of a fatal trap.
//!
//! Every vector enters through its locore stub and `alltraps`, which build
//! a [`TrapFrame`] on the current stack (or the IST stack for double
//! fault, NMI and machine check) and call [`trap`]. The kernel runs no
//! user code yet, so every exception is a kernel bug (or the deliberate
//! `fault` boot word): dump, then panic. Copyin/copyout fault recovery
//! will hook in here.

use core::fmt::{self, Write};

use crate::cpufunc::{rcr2, rcr3};
use crate::intr::{
    self, ICU_OFFSET, LAPIC_IPI_INVLRANGE, LAPIC_IPI_VECTOR, LAPIC_SPURIOUS_VECTOR, LAPIC_TIMER_VECTOR,
    T_DOUBLEFLT, T_NMI,
};

/// What `alltraps` saved, lowest address first.
#[repr(C)]
#[derive(Debug)]
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

pub const T_PAGEFLT: u64 = 14;

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

/// The C-ABI target of `alltraps`. Runs with interrupts masked (all gates
/// are interrupt gates); returning resumes the interrupted code.
pub extern "C" fn trap(tf: &mut TrapFrame) {
    match tf.trapno {
        T_NMI => {
            // An NMI can interrupt the console lock's holder on this CPU:
            // report it on the raw UART, lock-free.
            if !intr::nmi_intr() {
                crate::cons::cnputs(b"NMI received, ignored\n");
            }
        }
        0..=31 => fatal(tf),
        v if v == LAPIC_TIMER_VECTOR as u64 => crate::clock::clockintr(),
        v if v == LAPIC_IPI_VECTOR as u64 => intr::ipi_intr(),
        v if v == LAPIC_IPI_INVLRANGE as u64 => intr::invlrange_intr(),
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
