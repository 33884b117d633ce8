//! The console: the NS16550 UART at COM1 (port 0x3f8): polled output,
//! interrupt-driven input.
//!
//! Polled output keeps the console usable from any context (early boot,
//! trap dumps, panic, NMI) with no interrupt routing and no locks; the MI
//! printf serialises CPUs. Every machine we boot on (pc, q35, microvm) has
//! an ISA UART at COM1, on ISA IRQ 4.
//!
//! Input: `com_attach` routes IRQ 4 through the I/O APIC to `COM_VECTOR`
//! on the boot CPU and enables the receive interrupt; `comintr` hands every
//! byte to `kern::tty::cn_rint`. Output and input share no register with a
//! side effect the other cares about (THR/LSR.THRE against RBR/LSR.DR;
//! reading LSR clears only error bits), so the transmit path on any CPU and
//! the receive handler on the boot CPU need no lock between them.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::cpufunc::{inb, outb};
use crate::intr::COM_VECTOR;

pub const COM1: u16 = 0x3f8;

// Register offsets from the base port.
const COM_DATA: u16 = 0; // THR/RBR, or divisor low with DLAB
const COM_IER: u16 = 1; // interrupt enable, or divisor high with DLAB
const COM_FIFO: u16 = 2; // FCR on write, IIR on read
const COM_LCR: u16 = 3;
const COM_MCR: u16 = 4;
const COM_LSR: u16 = 5;
const COM_SCR: u16 = 7;

const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
const FIFO_ENABLE_CLEAR_14: u8 = 0xc7;
const MCR_DTR_RTS: u8 = 0x03;
/// OUT2 gates the UART's interrupt output onto the ISA IRQ line on PC
/// serial ports.
const MCR_OUT2: u8 = 0x08;
/// IER: received data available (and, with FIFOs, the character timeout).
const IER_ERXRDY: u8 = 0x01;
const LSR_RXRDY: u8 = 0x01;
const LSR_TXRDY: u8 = 0x20;
const IIR_FIFO_MASK: u8 = 0xc0;

/// COM1's ISA interrupt line.
pub const COM1_IRQ: u8 = 4;

/// How many status polls before a byte is given up on: a wedged or absent
/// UART must not hang a panic.
const TX_SPIN_LIMIT: u32 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ComType {
    Unprobed = 0,
    Absent,
    Ns8250,
    Ns16450,
    Ns16550a,
}

static COM_TYPE: AtomicU8 = AtomicU8::new(ComType::Unprobed as u8);

/// Program COM1 for 115200 8N1 with FIFOs and probe what it is.
/// Before: nothing (first thing in `init_x86_64`). After: `cnputs` prints.
pub fn cninit() {
    // SAFETY: COM1 belongs to the console; these writes only reprogram the
    // UART (or go nowhere if it is absent).
    unsafe {
        outb(COM1 + COM_SCR, 0x5a);
    }
    if inb(COM1 + COM_SCR) != 0x5a && inb(COM1 + COM_LSR) == 0xff {
        COM_TYPE.store(ComType::Absent as u8, Ordering::Relaxed);
        return;
    }
    // SAFETY: as above; interrupts from the UART stay disabled (IER 0,
    // OUT2 clear) because the console is polled.
    unsafe {
        outb(COM1 + COM_IER, 0);
        outb(COM1 + COM_LCR, LCR_DLAB);
        outb(COM1 + COM_DATA, 1); // 115200 baud: divisor 1
        outb(COM1 + COM_IER, 0);
        outb(COM1 + COM_LCR, LCR_8N1);
        outb(COM1 + COM_FIFO, FIFO_ENABLE_CLEAR_14);
        outb(COM1 + COM_MCR, MCR_DTR_RTS);
    }
    // The FIFO bits of IIR tell the 16550A (working FIFO) from older parts.
    let t = match inb(COM1 + COM_FIFO) & IIR_FIFO_MASK {
        IIR_FIFO_MASK => ComType::Ns16550a,
        0 if inb(COM1 + COM_SCR) == 0x5a => ComType::Ns16450,
        _ => ComType::Ns8250,
    };
    COM_TYPE.store(t as u8, Ordering::Relaxed);
}

/// The chip name for the attach line.
fn com_type_name() -> &'static str {
    match COM_TYPE.load(Ordering::Relaxed) {
        x if x == ComType::Ns16550a as u8 => "ns16550a",
        x if x == ComType::Ns16450 as u8 => "ns16450",
        x if x == ComType::Ns8250 as u8 => "ns8250",
        _ => "absent",
    }
}

fn putc(c: u8) {
    for _ in 0..TX_SPIN_LIMIT {
        if inb(COM1 + COM_LSR) & LSR_TXRDY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: writing the transmit register of the console UART.
    unsafe { outb(COM1 + COM_DATA, c) };
}

/// Polled output; `\n` goes out as CR LF so a raw terminal (QEMU's
/// -nographic) shows lines, as the tty layer's ONLCR would.
pub fn cnputs(s: &[u8]) {
    if COM_TYPE.load(Ordering::Relaxed) == ComType::Absent as u8 {
        return;
    }
    for &c in s {
        if c == b'\n' {
            putc(b'\r');
        }
        putc(c);
    }
}

/// Attach the console UART for input (OpenBSD's com at isa): print its
/// attach line, route ISA IRQ 4 to `COM_VECTOR` on this CPU (honouring the
/// MADT's override for it: GSI, polarity, trigger) and enable the receive
/// interrupt.
///
/// The boot CPU takes the interrupt: it exists on every machine whatever
/// the CPU count, and with one fixed destination the handler never runs
/// on two CPUs at once, so bytes reach `cn_rint` one at a time in arrival
/// order with no lock around the receive FIFO.
///
/// Before: boot CPU, autoconf, interrupts masked here, every I/O APIC
/// attached (pins masked); `trap` sends `COM_VECTOR` to [`comintr`].
/// After: the pin is unmasked and the UART interrupts whenever its receive
/// FIFO holds data (bytes that arrived earlier included), as soon as this
/// CPU takes interrupts. Without ACPI or an I/O APIC holding the GSI,
/// input stays off (warned).
pub fn com_attach(acpi: Option<&crate::acpi::AcpiInfo>) {
    let name = com_type_name();
    log::info!("com0 at isa0 port {COM1:#x} irq {COM1_IRQ}: {name}, console");
    if COM_TYPE.load(Ordering::Relaxed) == ComType::Absent as u8 {
        return;
    }
    let Some(a) = acpi else {
        log::warn!("com0: no ACPI, so no I/O APIC: console input disabled");
        return;
    };
    let r = a.isa_route(COM1_IRQ);
    let ci = kern::machdep::curcpu();
    let Some((unit, pin)) =
        crate::ioapic::ioapic_route(r.gsi, COM_VECTOR, ci.ci_hwid as u32, r.active_low, r.level)
    else {
        log::warn!("com0: no I/O APIC has gsi {}: console input disabled", r.gsi);
        return;
    };
    log::debug!(
        "com0: irq {COM1_IRQ} -> gsi {} (ioapic{unit} pin {pin}), {}, active {}, vector {COM_VECTOR:#x} on cpu{}",
        r.gsi,
        if r.level { "level" } else { "edge" },
        if r.active_low { "low" } else { "high" },
        ci.ci_cpuid
    );
    // SAFETY: COM1 belongs to the console. The pin is live already, so the
    // UART's line must rise only now: OUT2 connects it, ERXRDY arms it.
    // With data already waiting that is the first edge, not a lost one.
    unsafe {
        outb(COM1 + COM_MCR, MCR_DTR_RTS | MCR_OUT2);
        outb(COM1 + COM_IER, IER_ERXRDY);
    }
}

/// The receive interrupt (`COM_VECTOR`, boot CPU only: see `com_attach`).
/// Drains the receive FIFO into `cn_rint`, then EOIs.
///
/// Before: interrupts masked (interrupt gate). After: LSR.DR was seen
/// clear, so the UART's interrupt condition is gone and its line low; a
/// byte arriving after that raises it again, a new edge for an
/// edge-triggered pin, latched by the local APIC until this EOI. With a
/// level-triggered pin, the EOI reaches the I/O APIC and a line still high
/// interrupts again.
pub fn comintr() {
    while inb(COM1 + COM_LSR) & LSR_RXRDY != 0 {
        kern::tty::cn_rint(inb(COM1 + COM_DATA));
    }
    crate::lapic::lapic_eoi();
}
