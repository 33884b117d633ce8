//! I/O APICs, found through the ACPI MADT.
//!
//! Attaching one means: map it, report it, and mask every pin so nothing
//! the firmware left armed can fire into a vector the kernel does not
//! expect. A driver then unmasks the pins it owns with [`ioapic_route`]
//! (today only the console UART, `cons`).
//!
//! Every register access goes through the index/window pair, which is not
//! atomic; all of them happen on the boot CPU during autoconf (attach and
//! routing), before any other CPU runs, so no lock is needed. The
//! interrupt handlers never touch an I/O APIC: EOI goes to the local APIC,
//! which forwards it to the I/O APICs for level-triggered pins.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::acpi::{MAX_IOAPICS, MadtIoapic};

const IOAPIC_REGSEL: u64 = 0x00;
const IOAPIC_WINDOW: u64 = 0x10;

const IOAPIC_ID: u32 = 0x00;
const IOAPIC_VER: u32 = 0x01;
const IOAPIC_REDLO: u32 = 0x10;
const IOAPIC_REDHI: u32 = 0x11;

// Redirection entry, low word. Delivery mode fixed (0) and physical
// destination mode (0) are the zero bits.
const REDLO_ACTIVE_LOW: u32 = 1 << 13;
const REDLO_LEVEL: u32 = 1 << 15;
const REDLO_MASKED: u32 = 1 << 16;
/// High word: the destination APIC id, physical mode.
const REDHI_DEST_SHIFT: u32 = 24;

struct Ioapic {
    va: u64,
}

impl Ioapic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `va` maps the I/O APIC's register page uncached; the
        // index/window pair is only used by the boot CPU during autoconf
        // (module comment), so no other access splits the pair.
        unsafe {
            core::ptr::write_volatile((self.va + IOAPIC_REGSEL) as *mut u32, reg);
            core::ptr::read_volatile((self.va + IOAPIC_WINDOW) as *const u32)
        }
    }

    fn write(&self, reg: u32, v: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile((self.va + IOAPIC_REGSEL) as *mut u32, reg);
            core::ptr::write_volatile((self.va + IOAPIC_WINDOW) as *mut u32, v);
        }
    }
}

/// An attached I/O APIC: register page (0 if the slot is unused), first
/// GSI, number of pins. Written once by `ioapic_attach`.
struct Attached {
    va: AtomicU64,
    gsi_base: AtomicU32,
    pins: AtomicU32,
}

static IOAPICS: [Attached; MAX_IOAPICS] =
    [const { Attached { va: AtomicU64::new(0), gsi_base: AtomicU32::new(0), pins: AtomicU32::new(0) } };
        MAX_IOAPICS];

/// Attach I/O APIC number `unit` (`unit < MAX_IOAPICS`, as the MADT parser
/// guarantees). Before: boot CPU, autoconf, memory and the heap work (the
/// register page is mapped on demand). After: all its pins are masked and
/// [`ioapic_route`] can find it.
pub fn ioapic_attach(unit: usize, m: &MadtIoapic) {
    let va = crate::pmap::pmap_mapdev(m.address, uvm::PAGE_SIZE);
    let io = Ioapic { va };
    let ver = io.read(IOAPIC_VER);
    let pins = (ver >> 16 & 0xff) + 1;
    let hwid = io.read(IOAPIC_ID) >> 24 & 0xf;
    for pin in 0..pins {
        let lo = io.read(IOAPIC_REDLO + 2 * pin);
        io.write(IOAPIC_REDLO + 2 * pin, lo | REDLO_MASKED);
    }
    let slot = &IOAPICS[unit];
    slot.gsi_base.store(m.gsi_base, Ordering::Relaxed);
    slot.pins.store(pins, Ordering::Relaxed);
    slot.va.store(va, Ordering::Relaxed);
    log::info!(
        "ioapic{unit} at mainbus0: apid {} pa {:#x}, version {:x}, {pins} pins",
        m.id,
        m.address,
        ver & 0xff
    );
    log::debug!("ioapic{unit}: gsi base {}, id register {hwid}", m.gsi_base);
}

/// Deliver global system interrupt `gsi` as `vector` to the local APIC
/// with id `dest` (fixed delivery, physical destination), with the given
/// polarity and trigger mode, and unmask it. Returns `(unit, pin)` of the
/// I/O APIC input used, or `None` if no attached I/O APIC has that GSI.
///
/// Before: boot CPU, autoconf, after `ioapic_attach` of every I/O APIC;
/// the device behind the pin is quiet or its handler is ready (the pin
/// may fire as soon as it is unmasked). After: the pin is live.
pub fn ioapic_route(gsi: u32, vector: u8, dest: u32, active_low: bool, level: bool) -> Option<(usize, u32)> {
    let (unit, slot) = IOAPICS.iter().enumerate().find(|(_, s)| {
        let base = s.gsi_base.load(Ordering::Relaxed);
        s.va.load(Ordering::Relaxed) != 0 && (base..base + s.pins.load(Ordering::Relaxed)).contains(&gsi)
    })?;
    let io = Ioapic { va: slot.va.load(Ordering::Relaxed) };
    let pin = gsi - slot.gsi_base.load(Ordering::Relaxed);
    let mut lo = vector as u32;
    if active_low {
        lo |= REDLO_ACTIVE_LOW;
    }
    if level {
        lo |= REDLO_LEVEL;
    }
    // Destination first, while the pin is still masked, so it never fires
    // towards a half-written entry.
    io.write(IOAPIC_REDHI + 2 * pin, dest << REDHI_DEST_SHIFT);
    io.write(IOAPIC_REDLO + 2 * pin, lo);
    Some((unit, pin))
}
