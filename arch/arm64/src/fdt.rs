//! The device tree QEMU passes in x0: everything this kernel learns about
//! the machine (RAM, CPUs, PSCI, GIC, timer, UART, initrd, command line)
//! comes from here, parsed with the `fdt` crate.
//!
//! The tree is read twice: once through the boot identity map for the RAM
//! ranges (to build the direct map), then through the direct map for the
//! rest, keeping `&'static str`s into it. The tree's pages are withheld
//! from the page allocator, so those references stay valid.

use ::fdt::Fdt;
use ::fdt::node::FdtNode;
use kern::cpu::MAXCPUS;

use crate::cpu::MPIDR_AFF_MASK;

pub const MAX_MEM: usize = 16;
pub const MAX_RSV: usize = 16;
pub const MAX_REDIST_REGIONS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    V2,
    V3,
}

#[derive(Clone, Copy, Debug)]
pub struct GicInfo {
    pub version: GicVersion,
    pub dist: (u64, u64),
    /// GICv2 CPU interface.
    pub cpu: Option<(u64, u64)>,
    redist: [(u64, u64); MAX_REDIST_REGIONS],
    nredist: usize,
}

impl GicInfo {
    /// GICv3 redistributor regions.
    pub fn redist(&self) -> &[(u64, u64)] {
        &self.redist[..self.nredist]
    }
}

/// A shared peripheral interrupt of the GIC, from an `interrupts`
/// specifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spi {
    /// INTID: 32 + the specifier's number.
    pub intid: u32,
    /// Rising-edge (flags 1) rather than level-high (flags 4); the GIC has
    /// no falling-edge or level-low inputs, so flags 2 and 8 map to these.
    pub edge: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Hvc,
    Smc,
}

/// A fixed-capacity list (no heap exists while the tree is parsed).
#[derive(Clone, Copy, Debug)]
pub struct List<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
    /// Entries that did not fit.
    pub dropped: usize,
}

impl<T: Copy + Default, const N: usize> List<T, N> {
    pub fn new() -> Self {
        List { items: [T::default(); N], len: 0, dropped: 0 }
    }
    pub fn push(&mut self, v: T) {
        if self.len < N {
            self.items[self.len] = v;
            self.len += 1;
        } else {
            self.dropped += 1;
        }
    }
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

impl<T: Copy + Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the kernel takes from the device tree.
pub struct MachInfo {
    pub model: &'static str,
    pub bootargs: &'static str,
    /// RAM ranges `(start, size)`.
    pub mem: List<(u64, u64), MAX_MEM>,
    /// Ranges the firmware or loader still uses (`/memreserve/`,
    /// `/reserved-memory`).
    pub rsv: List<(u64, u64), MAX_RSV>,
    cpus: List<u64, MAXCPUS>,
    pub psci: Option<PsciMethod>,
    pub gic: Option<GicInfo>,
    /// INTID of the EL1 virtual timer PPI.
    pub timer_irq: Option<u32>,
    pub uart: Option<(u64, u64)>,
    /// The console UART's interrupt, if the tree gives it as a GIC SPI.
    pub uart_irq: Option<Spi>,
    /// `[start, end)` of the initial ramdisk.
    pub initrd: Option<(u64, u64)>,
    /// The tree itself, `(pa, size)`.
    pub dtb: (u64, u64),
}

impl MachInfo {
    /// MPIDR affinity values of the enabled CPUs, in tree order.
    pub fn cpus(&self) -> &[u64] {
        self.cpus.as_slice()
    }
    pub fn cpus_dropped(&self) -> usize {
        self.cpus.dropped
    }
}

static MACH: spin::Once<MachInfo> = spin::Once::new();

/// The parsed device tree. Before: `scan` ran (early in `arm64_init`).
pub fn mach() -> &'static MachInfo {
    MACH.get().expect("device tree not scanned yet")
}

/// # Safety
/// `va` maps a device tree for the rest of the kernel's life.
unsafe fn open(va: u64) -> Fdt<'static> {
    // SAFETY: forwarded; from_ptr reads the header, then `totalsize` bytes.
    match unsafe { Fdt::from_ptr(va as *const u8) } {
        Ok(f) => f,
        Err(e) => panic!("device tree at {va:#x}: {e:?}"),
    }
}

fn status_ok(n: FdtNode<'_, '_>) -> bool {
    n.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
}

fn regs<'b, 'a>(n: FdtNode<'b, 'a>) -> impl Iterator<Item = (u64, u64)> + 'a {
    n.reg().into_iter().flatten().map(|r| (r.starting_address as u64, r.size.unwrap_or(0) as u64))
}

fn first_reg(n: FdtNode<'_, '_>) -> Option<(u64, u64)> {
    regs(n).next()
}

fn memory_nodes(fdt: &Fdt<'static>, out: &mut List<(u64, u64), MAX_MEM>) {
    let Some(root) = fdt.find_node("/") else {
        return;
    };
    for n in root.children() {
        let is_mem = n.property("device_type").and_then(|p| p.as_str()) == Some("memory");
        if is_mem && status_ok(n) {
            for (start, size) in regs(n) {
                if size > 0 {
                    out.push((start, size));
                }
            }
        }
    }
}

/// RAM ranges, read through the boot identity map.
///
/// Before: `dtb_pa` is identity mapped (boot tables). After: nothing kept.
pub fn early_memory(dtb_pa: u64) -> List<(u64, u64), MAX_MEM> {
    assert!(dtb_pa != 0, "no device tree: boot with qemu -kernel (x0 = 0)");
    // SAFETY: the boot code identity-maps the GiB holding the tree, and the
    // tree is never written.
    let fdt = unsafe { open(dtb_pa) };
    let mut mem = List::new();
    memory_nodes(&fdt, &mut mem);
    assert!(!mem.as_slice().is_empty(), "device tree lists no memory");
    mem
}

fn be_cells(v: &[u8]) -> impl Iterator<Item = u32> + '_ {
    v.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

fn prop_u64(n: FdtNode<'_, '_>, name: &str) -> Option<u64> {
    n.property(name)?.as_usize().map(|v| v as u64)
}

const GICV3_COMPAT: [&str; 1] = ["arm,gic-v3"];
const GICV2_COMPAT: [&str; 4] =
    ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic", "arm,cortex-a7-gic"];

/// GIC `interrupts` specifier type for an SPI (1 is a PPI).
const GIC_SPI: u32 = 0;
/// SPIs are INTIDs 32..1019: specifier numbers below 988.
const GIC_SPI_COUNT: u32 = 988;
/// Specifier flags: edge rising 1, edge falling 2 (level 4 and 8).
const IRQ_TYPE_EDGE_BOTH: u32 = 0x3;

/// The first interrupt of device node `dev` when it is an SPI of the GIC
/// node `gic`: `interrupts` = <type num flags>, type 0 meaning SPI, INTID
/// 32 + num. The interrupt parent is `dev`'s `interrupt-parent`, else the
/// root's (the `fdt` crate cannot walk up to intermediate parents; the
/// devices we look at are children of the root); it must be the GIC, with
/// three cells per specifier.
fn gic_spi(root: FdtNode<'_, 'static>, dev: FdtNode<'_, 'static>, gic: FdtNode<'_, 'static>) -> Option<Spi> {
    let phandle =
        |n: FdtNode<'_, 'static>, name: &str| n.property(name).and_then(|p| be_cells(p.value).next());
    let parent = phandle(dev, "interrupt-parent").or_else(|| phandle(root, "interrupt-parent"))?;
    if phandle(gic, "phandle") != Some(parent) || gic.interrupt_cells() != Some(3) {
        return None;
    }
    let mut c = be_cells(dev.property("interrupts")?.value);
    let (kind, num, flags) = (c.next()?, c.next()?, c.next()?);
    (kind == GIC_SPI && num < GIC_SPI_COUNT)
        .then_some(Spi { intid: 32 + num, edge: flags & IRQ_TYPE_EDGE_BOTH != 0 })
}

/// Parse everything else. Before: `dtb_va` maps the tree at `dtb_pa` for
/// good (direct map). After: [`mach`] works.
pub fn scan(dtb_va: u64, dtb_pa: u64) {
    // SAFETY: see the function contract.
    let fdt = unsafe { open(dtb_va) };
    let root = fdt.find_node("/").expect("device tree without a root");
    let model = root
        .property("model")
        .and_then(|p| p.as_str())
        .or_else(|| root.compatible().map(|c| c.first()))
        .unwrap_or("unknown machine");

    let mut mem = List::new();
    memory_nodes(&fdt, &mut mem);

    let mut rsv = List::new();
    for r in fdt.memory_reservations() {
        rsv.push((r.address() as u64, r.size() as u64));
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for n in rm.children() {
            for r in regs(n) {
                rsv.push(r);
            }
        }
    }

    let mut cpus = List::new();
    for c in fdt.cpus() {
        let ok = c.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok");
        if ok {
            cpus.push(c.ids().first() as u64 & MPIDR_AFF_MASK);
        }
    }

    let psci = fdt
        .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        .and_then(|n| n.property("method"))
        .and_then(|p| p.as_str())
        .and_then(|m| match m {
            "hvc" => Some(PsciMethod::Hvc),
            "smc" => Some(PsciMethod::Smc),
            _ => None,
        });

    let (gic_v3, gic_v2) = (fdt.find_compatible(&GICV3_COMPAT), fdt.find_compatible(&GICV2_COMPAT));
    let gic = if let Some(n) = gic_v3 {
        let nr = prop_u64(n, "#redistributor-regions").unwrap_or(1) as usize;
        let mut it = regs(n);
        let dist = it.next().expect("GICv3 without registers");
        let mut redist = [(0, 0); MAX_REDIST_REGIONS];
        let mut nredist = 0;
        for r in it.take(nr.min(MAX_REDIST_REGIONS)) {
            redist[nredist] = r;
            nredist += 1;
        }
        Some(GicInfo { version: GicVersion::V3, dist, cpu: None, redist, nredist })
    } else if let Some(n) = gic_v2 {
        let mut it = regs(n);
        let dist = it.next().expect("GICv2 without registers");
        Some(GicInfo {
            version: GicVersion::V2,
            dist,
            cpu: it.next(),
            redist: [(0, 0); MAX_REDIST_REGIONS],
            nredist: 0,
        })
    } else {
        None
    };

    // interrupts = <type num flags> x 4: secure phys, phys, virt, hyp.
    let timer_irq = fdt
        .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
        .and_then(|n| n.property("interrupts"))
        .and_then(|p| {
            let cells: [u32; 12] = {
                let mut a = [0u32; 12];
                for (i, c) in be_cells(p.value).take(12).enumerate() {
                    a[i] = c;
                }
                a
            };
            // Entry 2 (virtual timer), type 1 (PPI): INTID = 16 + num.
            (p.value.len() >= 36 && cells[6] == 1).then(|| 16 + cells[7])
        });

    let chosen = fdt.find_node("/chosen");
    // stdout-path may carry options ("/pl011@9000000:115200n8").
    let uart_node = chosen
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|s| fdt.find_node(s.split(':').next().unwrap_or(s)))
        .filter(|n| n.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011")))
        .or_else(|| fdt.find_compatible(&["arm,pl011"]));
    let uart = uart_node.and_then(first_reg);
    let uart_irq = uart_node.zip(gic_v3.or(gic_v2)).and_then(|(u, g)| gic_spi(root, u, g));
    let bootargs = chosen.and_then(|c| c.property("bootargs")).and_then(|p| p.as_str()).unwrap_or("");
    let initrd = chosen.and_then(|c| {
        let s = prop_u64(c, "linux,initrd-start")?;
        let e = prop_u64(c, "linux,initrd-end")?;
        (e > s).then_some((s, e))
    });

    MACH.call_once(|| MachInfo {
        model,
        bootargs,
        mem,
        rsv,
        cpus,
        psci,
        gic,
        timer_irq,
        uart,
        uart_irq,
        initrd,
        dtb: (dtb_pa, fdt.total_size() as u64),
    });
}
