//! The PL011 UART console (OpenBSD's pluart), polled.

use core::sync::atomic::{AtomicU64, Ordering};

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use crate::pmap;

register_bitfields! {
    u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Still shifting out the last byte.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) []
    ]
}

register_structs! {
    Pl011Regs {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => @END),
    }
}

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
    // The firmware (QEMU) already chose the line settings; only make sure
    // the transmitter is on.
    r.cr.modify(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    UART_PA.store(pa, Ordering::Relaxed);
    UART.store(va, Ordering::Release);
}

/// Attach line for autoconf. Before: `init` ran and the logger exists.
pub fn attach() {
    if regs().is_some() {
        log::info!("pluart0 at mainbus0 addr {:#x}: console", UART_PA.load(Ordering::Relaxed));
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
