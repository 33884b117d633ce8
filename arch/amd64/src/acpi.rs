//! The ACPI tables the kernel needs: RSDP -> RSDT/XSDT -> MADT (CPUs, I/O
//! APICs, interrupt overrides), FADT (PM timer, sleep registers) and the
//! DSDT's `\_S5` package (power-off).
//!
//! Everything is parsed once, on the boot CPU, before the page allocator
//! exists, through the boot identity map, and copied into [`AcpiInfo`]:
//! no table is read after boot, so the kernel keeps no pointers into
//! firmware memory. The ranges the tables occupy are still withheld from
//! the page allocator (firmware may place them in RAM the memory map calls
//! usable).

use core::fmt::Write;

use kern::cpu::MAXCPUS;
use spin::Once;

/// An enabled processor the MADT describes (type 0 or 9).
#[derive(Clone, Copy, Debug, Default)]
pub struct MadtLapic {
    pub apic_id: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MadtIoapic {
    pub id: u8,
    pub address: u64,
    pub gsi_base: u32,
}

/// An ISA interrupt override (MADT type 2): ISA IRQ `source` is wired to
/// `gsi` with the MPS INTI `flags` (polarity bits 1:0, trigger bits 3:2).
#[derive(Clone, Copy, Debug, Default)]
pub struct MadtOverride {
    pub source: u8,
    pub gsi: u32,
    pub flags: u16,
}

/// Where an ISA IRQ arrives at the I/O APICs, and how it signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    pub gsi: u32,
    pub active_low: bool,
    pub level: bool,
}

// MPS INTI flags, as MADT overrides carry them. "Conforms" means the bus's
// own convention, which for ISA is active high and edge triggered.
const INTI_POLARITY_MASK: u16 = 0x3;
const INTI_POLARITY_LOW: u16 = 0x3;
const INTI_TRIGGER_MASK: u16 = 0xc;
const INTI_TRIGGER_LEVEL: u16 = 0xc;

/// A Generic Address Structure, for the registers the kernel writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gas {
    pub space: u8,
    pub width: u8,
    pub address: u64,
}

pub const GAS_MEMORY: u8 = 0;
pub const GAS_IO: u8 = 1;

pub const MAX_IOAPICS: usize = 8;
pub const MAX_OVERRIDES: usize = 16;
pub const MAX_TABLES: usize = 32;

#[derive(Clone, Debug)]
pub struct AcpiInfo {
    pub rsdp_pa: u64,
    pub revision: u8,
    pub oem: [u8; 6],
    pub sigs: [[u8; 4]; MAX_TABLES],
    pub nsigs: usize,
    /// Physical ranges of the tables read, `[start, end)`.
    pub ranges: [(u64, u64); MAX_TABLES + 1],
    pub nranges: usize,
    pub fadt_revision: u8,
    pub fadt_minor: u8,

    pub have_madt: bool,
    pub lapic_pa: u64,
    pub pcat_compat: bool,
    /// Enabled processors, in MADT order (the firmware's boot CPU first on
    /// every PC firmware; the kernel does not rely on it).
    pub lapics: [MadtLapic; MAXCPUS],
    pub nlapics: usize,
    /// Enabled processors beyond MAXCPUS, ignored.
    pub lapics_dropped: usize,
    pub ioapics: [MadtIoapic; MAX_IOAPICS],
    pub nioapics: usize,
    pub overrides: [MadtOverride; MAX_OVERRIDES],
    pub noverrides: usize,

    pub hw_reduced: bool,
    /// PM timer I/O port, 0 if none.
    pub pm_tmr_port: u16,
    pub pm_tmr_32bit: bool,
    pub pm1a_cnt: u16,
    pub pm1b_cnt: u16,
    /// Hardware-reduced ACPI's sleep control register.
    pub sleep_control: Gas,
    /// SLP_TYPa/SLP_TYPb for S5 from the DSDT.
    pub s5: Option<(u8, u8)>,
}

impl AcpiInfo {
    const fn empty() -> AcpiInfo {
        AcpiInfo {
            rsdp_pa: 0,
            revision: 0,
            oem: [0; 6],
            sigs: [[0; 4]; MAX_TABLES],
            nsigs: 0,
            ranges: [(0, 0); MAX_TABLES + 1],
            nranges: 0,
            fadt_revision: 0,
            fadt_minor: 0,
            have_madt: false,
            lapic_pa: 0,
            pcat_compat: false,
            lapics: [MadtLapic { apic_id: 0 }; MAXCPUS],
            nlapics: 0,
            lapics_dropped: 0,
            ioapics: [MadtIoapic { id: 0, address: 0, gsi_base: 0 }; MAX_IOAPICS],
            nioapics: 0,
            overrides: [MadtOverride { source: 0, gsi: 0, flags: 0 }; MAX_OVERRIDES],
            noverrides: 0,
            hw_reduced: false,
            pm_tmr_port: 0,
            pm_tmr_32bit: false,
            pm1a_cnt: 0,
            pm1b_cnt: 0,
            sleep_control: Gas { space: 0, width: 0, address: 0 },
            s5: None,
        }
    }

    pub fn has_table(&self, sig: &[u8; 4]) -> bool {
        self.sigs[..self.nsigs].iter().any(|s| s == sig)
    }

    pub fn lapics(&self) -> &[MadtLapic] {
        &self.lapics[..self.nlapics]
    }

    pub fn ioapics(&self) -> &[MadtIoapic] {
        &self.ioapics[..self.nioapics]
    }

    pub fn overrides(&self) -> &[MadtOverride] {
        &self.overrides[..self.noverrides]
    }

    /// How ISA IRQ `irq` reaches the I/O APICs: its override if the MADT
    /// has one (each field that says "conforms" keeps the ISA default),
    /// else identity-mapped to GSI `irq`, edge triggered, active high.
    pub fn isa_route(&self, irq: u8) -> IsaRoute {
        match self.overrides().iter().find(|o| o.source == irq) {
            Some(o) => IsaRoute {
                gsi: o.gsi,
                active_low: o.flags & INTI_POLARITY_MASK == INTI_POLARITY_LOW,
                level: o.flags & INTI_TRIGGER_MASK == INTI_TRIGGER_LEVEL,
            },
            None => IsaRoute { gsi: irq as u32, active_low: false, level: false },
        }
    }

    /// "1.0", "2.0", "6.4"...: what the RSDP and FADT revisions say.
    pub fn version(&self, out: &mut impl Write) -> core::fmt::Result {
        match (self.revision, self.fadt_revision) {
            (0, _) | (_, 0..=2) => out.write_str("1.0"),
            (_, 3) => out.write_str("2.0"),
            (_, 4) => out.write_str("3.0"),
            (_, r) => write!(out, "{r}.{}", self.fadt_minor & 0xf),
        }
    }

    fn note_range(&mut self, pa: u64, len: u64) {
        if self.nranges < self.ranges.len() {
            self.ranges[self.nranges] = (pa, pa + len);
            self.nranges += 1;
        }
    }
}

static ACPI: Once<AcpiInfo> = Once::new();

/// What `acpi_init` found; `None` without ACPI (or before it ran).
pub fn acpi_info() -> Option<&'static AcpiInfo> {
    ACPI.get().filter(|a| a.rsdp_pa != 0)
}

/// Highest physical address the boot identity map covers.
const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;

/// `len` bytes at physical `pa`, through the boot identity map.
fn phys(pa: u64, len: usize) -> Option<&'static [u8]> {
    if pa == 0 || pa.checked_add(len as u64)? > BOOT_IDENTITY_LIMIT {
        return None;
    }
    // SAFETY: before the kernel page tables are built the boot tables
    // identity-map [0, 4 GiB), checked above; firmware tables are not
    // written by anyone while we read them.
    Some(unsafe { core::slice::from_raw_parts(crate::pmap::phys_ptr(pa), len) })
}

fn rd8(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}
fn rd16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([rd8(b, off), rd8(b, off + 1)])
}
fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([rd8(b, off), rd8(b, off + 1), rd8(b, off + 2), rd8(b, off + 3)])
}
fn rd64(b: &[u8], off: usize) -> u64 {
    rd32(b, off) as u64 | (rd32(b, off + 4) as u64) << 32
}
fn gas(b: &[u8], off: usize) -> Gas {
    if b.len() < off + 12 {
        return Gas::default();
    }
    Gas { space: rd8(b, off), width: rd8(b, off + 1), address: rd64(b, off + 4) }
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
}

const SDT_HEADER_LEN: usize = 36;

/// A system description table with a valid checksum.
fn sdt(pa: u64) -> Option<&'static [u8]> {
    let hdr = phys(pa, SDT_HEADER_LEN)?;
    let len = rd32(hdr, 4) as usize;
    if !(SDT_HEADER_LEN..=1 << 20).contains(&len) {
        return None;
    }
    let t = phys(pa, len)?;
    checksum_ok(t).then_some(t)
}

fn find_rsdp_in(start: u64, len: u64) -> Option<u64> {
    let area = phys(start, len as usize)?;
    (0..area.len().saturating_sub(20)).step_by(16).find_map(|off| {
        let c = &area[off..];
        (c.starts_with(b"RSD PTR ") && checksum_ok(&c[..20])).then_some(start + off as u64)
    })
}

/// The RSDP: from PVH start_info, else the BIOS areas the spec names.
fn find_rsdp(hint: u64) -> Option<u64> {
    if hint != 0 {
        return Some(hint);
    }
    let ebda = (rd16(phys(0x40e, 2)?, 0) as u64) << 4;
    if ebda != 0
        && let Some(p) = find_rsdp_in(ebda, 1024)
    {
        return Some(p);
    }
    find_rsdp_in(0xe_0000, 0x2_0000)
}

/// Parse the tables, on the boot CPU, while the boot identity map is live.
/// `rsdp_hint` is PVH start_info's `rsdp_paddr` (0 if none). After:
/// [`acpi_info`] answers; without valid tables it answers `None` and the
/// kernel runs uniprocessor on the local APIC alone.
pub fn acpi_init(rsdp_hint: u64) {
    let mut a = AcpiInfo::empty();
    if let Some(rsdp_pa) = find_rsdp(rsdp_hint) {
        parse(&mut a, rsdp_pa);
    }
    ACPI.call_once(|| a);
}

fn parse(a: &mut AcpiInfo, rsdp_pa: u64) {
    let Some(rsdp) = phys(rsdp_pa, 36) else {
        return;
    };
    if !rsdp.starts_with(b"RSD PTR ") || !checksum_ok(&rsdp[..20]) {
        return;
    }
    a.rsdp_pa = rsdp_pa;
    a.revision = rd8(rsdp, 15);
    a.oem.copy_from_slice(&rsdp[9..15]);
    a.note_range(rsdp_pa, if a.revision >= 2 { 36 } else { 20 });
    let xsdt = if a.revision >= 2 { rd64(rsdp, 24) } else { 0 };
    let (root, entsz) = match xsdt {
        0 => (rd32(rsdp, 16) as u64, 4),
        x => (x, 8),
    };
    let Some(root_t) = sdt(root) else { return };
    a.note_range(root, root_t.len() as u64);
    let entries = &root_t[SDT_HEADER_LEN..];
    for i in 0..entries.len() / entsz {
        let pa = if entsz == 8 { rd64(entries, i * 8) } else { rd32(entries, i * 4) as u64 };
        let Some(t) = sdt(pa) else { continue };
        a.note_range(pa, t.len() as u64);
        let sig: [u8; 4] = t[..4].try_into().unwrap();
        if a.nsigs < MAX_TABLES {
            a.sigs[a.nsigs] = sig;
            a.nsigs += 1;
        }
        match &sig {
            b"APIC" => parse_madt(a, t),
            b"FACP" => parse_fadt(a, t),
            _ => {}
        }
    }
}

fn parse_madt(a: &mut AcpiInfo, t: &[u8]) {
    a.have_madt = true;
    a.lapic_pa = rd32(t, 36) as u64;
    a.pcat_compat = rd32(t, 40) & 1 != 0;
    let mut off = 44;
    while off + 2 <= t.len() {
        let (typ, len) = (t[off], t[off + 1] as usize);
        if len < 2 || off + len > t.len() {
            break;
        }
        let e = &t[off..off + len];
        match typ {
            // Processor local APIC: flags bit 0 = enabled. Disabled ones
            // are hot-plug slots, never started.
            0 if rd32(e, 4) & 1 != 0 => add_lapic(a, rd8(e, 3) as u32),
            1 if a.nioapics < MAX_IOAPICS => {
                a.ioapics[a.nioapics] =
                    MadtIoapic { id: rd8(e, 2), address: rd32(e, 4) as u64, gsi_base: rd32(e, 8) };
                a.nioapics += 1;
            }
            2 if a.noverrides < MAX_OVERRIDES => {
                a.overrides[a.noverrides] =
                    MadtOverride { source: rd8(e, 3), gsi: rd32(e, 4), flags: rd16(e, 8) };
                a.noverrides += 1;
            }
            5 => a.lapic_pa = rd64(e, 4),
            // Processor local x2APIC, for ids the 8-bit entry cannot hold.
            9 if rd32(e, 8) & 1 != 0 => add_lapic(a, rd32(e, 4)),
            _ => {}
        }
        off += len;
    }
}

fn add_lapic(a: &mut AcpiInfo, apic_id: u32) {
    if a.lapics().iter().any(|l| l.apic_id == apic_id) {
        return;
    }
    if a.nlapics == MAXCPUS {
        a.lapics_dropped += 1;
        return;
    }
    a.lapics[a.nlapics] = MadtLapic { apic_id };
    a.nlapics += 1;
}

const FADT_TMR_VAL_EXT: u32 = 1 << 8;
const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;

fn parse_fadt(a: &mut AcpiInfo, t: &[u8]) {
    a.fadt_revision = rd8(t, 8);
    a.fadt_minor = rd8(t, 131);
    let flags = rd32(t, 112);
    a.hw_reduced = flags & FADT_HW_REDUCED_ACPI != 0;
    a.pm_tmr_32bit = flags & FADT_TMR_VAL_EXT != 0;
    let io = |legacy: u32, x: Gas| -> u16 {
        if x.space == GAS_IO && x.address != 0 && x.address <= 0xffff {
            x.address as u16
        } else if legacy <= 0xffff {
            legacy as u16
        } else {
            0
        }
    };
    if rd8(t, 91) == 4 {
        a.pm_tmr_port = io(rd32(t, 76), gas(t, 208));
    }
    a.pm1a_cnt = io(rd32(t, 64), gas(t, 172));
    a.pm1b_cnt = io(rd32(t, 68), gas(t, 184));
    if a.hw_reduced {
        a.sleep_control = gas(t, 244);
    }
    let dsdt = match rd64(t, 140) {
        0 => rd32(t, 40) as u64,
        x => x,
    };
    if let Some(d) = sdt(dsdt) {
        a.note_range(dsdt, d.len() as u64);
        if a.nsigs < MAX_TABLES {
            a.sigs[a.nsigs] = *b"DSDT";
            a.nsigs += 1;
        }
        a.s5 = find_s5(&d[SDT_HEADER_LEN..]);
    }
}

/// The `\_S5` package's first two integers (SLP_TYPa, SLP_TYPb), found by
/// looking for its AML encoding: NameOp "_S5_" PackageOp PkgLength
/// NumElements, then two small integers. A full AML interpreter is not
/// needed for one constant.
fn find_s5(aml: &[u8]) -> Option<(u8, u8)> {
    let at = aml.windows(4).position(|w| w == b"_S5_")?;
    // NameOp, optionally with a root prefix: "\_S5_".
    let named = at >= 1 && (aml[at - 1] == 0x08 || (at >= 2 && aml[at - 1] == b'\\' && aml[at - 2] == 0x08));
    if !named {
        return None;
    }
    let mut p = at + 4;
    if *aml.get(p)? != 0x12 {
        return None; // not a PackageOp
    }
    p += 1;
    // PkgLength: bits 7-6 of the lead byte count the bytes that follow.
    p += 1 + (*aml.get(p)? >> 6) as usize;
    p += 1; // NumElements
    let mut int = || -> Option<u8> {
        let op = *aml.get(p)?;
        let (v, n) = match op {
            0x00 => (0, 1),                // ZeroOp
            0x01 => (1, 1),                // OneOp
            0x0a => (*aml.get(p + 1)?, 2), // BytePrefix
            _ => return None,
        };
        p += n;
        Some(v)
    };
    let a = int()?;
    let b = int().unwrap_or(0);
    Some((a, b))
}
