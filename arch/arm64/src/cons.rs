//! The PL011 UART console (OpenBSD's pluart): polled output,
//! interrupt-driven input.
//!
//! Input: `attach` routes the UART's SPI (from the device tree) to the boot
//! CPU and unmasks the receive and receive-timeout interrupts;
//! `pluart_intr` hands every byte to `kern::tty::cn_rint`. The transmit
//! path (DR writes, FR reads, on any CPU) and the receive handler (DR
//! reads, ICR writes, on the boot CPU) touch no shared state with side
//! effects on each other, so they need no lock between them.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use crate::{cpu, fdt, gic, pmap};

register_bitfields! {
    u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Still shifting out the last byte.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    LCR_H [
        /// FIFOs on (16 or 32 deep) rather than one-byte holding registers.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) []
    ],
    /// IMSC, RIS, MIS and ICR share one layout.
    INT [
        /// Receive FIFO at or above its trigger level.
        RX OFFSET(4) NUMBITS(1) [],
        /// Receive timeout: data waiting, none arriving for 32 bit periods.
        RT OFFSET(6) NUMBITS(1) []
    ]
}

register_structs! {
    Pl011Regs {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _ifls),
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => _ris_mis),
        (0x044 => icr: WriteOnly<u32, INT::Register>),
        (0x048 => @END),
    }
}

/// Reads that empty any receive FIFO (32 deep at most on PL011 revisions).
const RX_FLUSH_LIMIT: u32 = 64;

/// Kernel VA of the UART registers; 0 until `init`.
static UART: AtomicU64 = AtomicU64::new(0);
static UART_PA: AtomicU64 = AtomicU64::new(0);

fn regs() -> Option<&'static Pl011Regs> {
    let va = UART.load(Ordering::Acquire);
    // SAFETY: a non-zero UART is a Device mapping of a PL011 made by
    // `init`, kept forever.
    (va != 0).then(|| unsafe { &*(va as *const Pl011Regs) })
}

/// Map the UART at `pa` and make it transmit.
///
/// Before: kernel page tables active (boot pool open or page allocator
/// up). After: `cnputs` writes to this UART.
pub fn init(pa: u64) {
    let va = pmap::mapdev(pa, 0x1000);
    // SAFETY: just mapped, a PL011 per the device tree.
    let r = unsafe { &*(va as *const Pl011Regs) };
    // The firmware (QEMU) already chose the line settings; keep them, but
    // turn the FIFOs on: with one-byte holding registers a byte arriving
    // while the boot CPU runs with interrupts masked for longer than one
    // character time (echoing a line at the same baud rate, say) would be
    // overrun. The PL011 wants to be disabled, with the transmitter idle,
    // while its line control changes. Changing FEN empties the FIFOs, so
    // bytes typed before the kernel took the UART are lost either way;
    // reading them out first also keeps FR.RXFE true to the FIFO on
    // emulations (QEMU 7.2) whose flush resets only the count. Bounded,
    // against a receiver that never reports empty.
    r.cr.modify(CR::UARTEN::CLEAR);
    while r.fr.is_set(FR::BUSY) {
        core::hint::spin_loop();
    }
    for _ in 0..RX_FLUSH_LIMIT {
        if r.fr.is_set(FR::RXFE) {
            break;
        }
        let _ = r.dr.get();
    }
    r.lcr_h.modify(LCR_H::FEN::SET);
    r.cr.modify(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    UART_PA.store(pa, Ordering::Relaxed);
    UART.store(va, Ordering::Release);
}

/// INTID of the receive interrupt; `NO_IRQ` until `attach` routes it.
static RX_IRQ: AtomicU32 = AtomicU32::new(NO_IRQ);
const NO_IRQ: u32 = u32::MAX;

/// Attach for autoconf: print the attach line, route the UART's SPI from
/// the device tree to this CPU and unmask receive and receive timeout in
/// the UART.
///
/// The boot CPU takes the interrupt: it exists on every machine whatever
/// the CPU count, and with one target the handler never runs on two CPUs
/// at once, so bytes reach `cn_rint` one at a time in arrival order with
/// no lock around the receive FIFO.
///
/// Before: `init` ran, the logger exists, `gic::attach` ran; boot CPU,
/// autoconf, interrupts masked here. After: the UART interrupts this CPU
/// whenever its receive FIFO holds data (bytes that arrived earlier
/// included), as soon as it takes interrupts; `intr_dispatch` sends that
/// INTID to [`pluart_intr`]. Without an SPI in the tree input stays off
/// (warned).
pub fn attach() {
    let Some(r) = regs() else {
        return;
    };
    let pa = UART_PA.load(Ordering::Relaxed);
    let Some(spi) = fdt::mach().uart_irq else {
        log::info!("pluart0 at mainbus0 addr {pa:#x}: console");
        log::warn!("pluart0: no GIC SPI in the device tree: console input disabled");
        return;
    };
    log::info!("pluart0 at mainbus0 addr {pa:#x} irq {}: console", spi.intid);
    let md = cpu::curcpu_md();
    log::debug!(
        "pluart0: intid {}, {}, on cpu{}",
        spi.intid,
        if spi.edge { "edge" } else { "level" },
        md.ci.ci_cpuid
    );
    RX_IRQ.store(spi.intid, Ordering::Relaxed);
    gic::establish_spi(spi, md);
    // Arm receive and its timeout. Their raw status is left as it is: if
    // data arrived since `init`, it is what raises the line now (clearing
    // it would leave that data waiting for an interrupt that, with the
    // FIFO past its trigger level, may never come).
    r.imsc.write(INT::RX::SET + INT::RT::SET);
}

/// Whether `irq` is the console's receive interrupt.
pub fn is_rx_irq(irq: u32) -> bool {
    irq == RX_IRQ.load(Ordering::Relaxed)
}

/// The receive interrupt (boot CPU only: see `attach`), between the GIC
/// acknowledge and EOI. Clears the receive interrupts first, then drains
/// the FIFO into `cn_rint`: a byte arriving after the last look at RXFE
/// raises a fresh interrupt (at the trigger level, or by timeout) that the
/// clear can no longer erase.
///
/// Before: interrupts masked, the INTID acknowledged. After: FR.RXFE was
/// seen set; the caller EOIs, and the level-sensitive SPI, if its line is
/// high again, is acknowledged anew.
pub fn pluart_intr() {
    let Some(r) = regs() else {
        return;
    };
    r.icr.write(INT::RX::SET + INT::RT::SET);
    while !r.fr.is_set(FR::RXFE) {
        // DR bits 11:8 are the byte's error flags (framing, parity, break,
        // overrun); the MI tty takes plain bytes.
        kern::tty::cn_rint(r.dr.get() as u8);
    }
}

fn putc(r: &Pl011Regs, c: u8) {
    while r.fr.is_set(FR::TXFF) {
        core::hint::spin_loop();
    }
    r.dr.set(c as u32);
}

/// Write bytes, `\n` as CR LF. Drops output before `init`.
pub fn cnputs(s: &[u8]) {
    let Some(r) = regs() else {
        return;
    };
    for &c in s {
        if c == b'\n' {
            putc(r, b'\r');
        }
        putc(r, c);
    }
}
