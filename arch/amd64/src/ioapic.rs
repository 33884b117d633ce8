//! I/O APICs, found through the ACPI MADT.
//!
//! No device interrupt is routed yet (the console is polled), so attaching
//! one means: map it, report it, and mask every pin so nothing the firmware
//! left armed can fire into a vector the kernel does not expect.

use crate::acpi::MadtIoapic;

const IOAPIC_REGSEL: u64 = 0x00;
const IOAPIC_WINDOW: u64 = 0x10;

const IOAPIC_ID: u32 = 0x00;
const IOAPIC_VER: u32 = 0x01;
const IOAPIC_REDLO: u32 = 0x10;

const REDLO_MASKED: u32 = 1 << 16;

struct Ioapic {
    va: u64,
}

impl Ioapic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `va` maps the I/O APIC's register page uncached; the
        // index/window pair is only used by the boot CPU during autoconf.
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

/// Attach I/O APIC number `unit`. Before: memory and the heap work (the
/// register page is mapped on demand). After: all its pins are masked.
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
    log::info!(
        "ioapic{unit} at mainbus0: apid {} pa {:#x}, version {:x}, {pins} pins",
        m.id,
        m.address,
        ver & 0xff
    );
    log::debug!("ioapic{unit}: gsi base {}, id register {hwid}", m.gsi_base);
}
