//! The Arm Generic Interrupt Controller: GICv2 (OpenBSD's ampintc: memory
//! mapped distributor and CPU interface) and GICv3 (agintc: distributor,
//! one redistributor per CPU, CPU interface through system registers).
//!
//! Every interrupt is group 1 / non-secure at one priority, and no
//! interrupt preempts another (handlers run with PSTATE.I set), so the
//! priority machinery only has to let everything through.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;

use crate::cpu::{self, CpuInfoMd};
use crate::fdt::{self, GicVersion};
use crate::pmap;

/// SGI that carries the MI kernel IPI (`kern_ipi::ipi_intr`).
pub const SGI_IPI: u32 = 1;
/// SGI that stops a CPU for good (panic).
pub const SGI_HALT: u32 = 2;

/// Priority given to every interrupt; PMR lets anything above 0xf0 in.
const IRQ_PRIO: u8 = 0x80;
const PMR_ALLOW_ALL: u64 = 0xf0;
/// INTIDs at and above this are special (1020-1023: spurious etc.).
const INTID_SPECIAL: u32 = 1020;

// GICv2/v3 distributor.
const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_IGROUPR: u64 = 0x080;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ICPENDR: u64 = 0x280;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_ICFGR: u64 = 0xc00;
const GICD_SGIR: u64 = 0xf00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICv3: ARE_NS | EnableGrp1A | EnableGrp1 (non-secure view), which with
/// a single security state reads as ARE | EnableGrp1 | EnableGrp0.
const GICD_CTLR_V3_ENABLE: u32 = (1 << 4) | (1 << 1) | (1 << 0);
const GICD_CTLR_V3_ARE: u32 = 1 << 4;

// GICv2 CPU interface.
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_BPR: u64 = 0x08;
const GICC_IAR: u64 = 0x0c;
const GICC_EOIR: u64 = 0x10;

// GICv3 redistributor: RD_base frame, then SGI_base frame 64 KiB above.
const GICR_CTLR: u64 = 0x0000;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_SGI_BASE: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = GICR_SGI_BASE + 0x080;
const GICR_ISENABLER0: u64 = GICR_SGI_BASE + 0x100;
const GICR_ICENABLER0: u64 = GICR_SGI_BASE + 0x180;
const GICR_IPRIORITYR: u64 = GICR_SGI_BASE + 0x400;
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;

/// 0: not attached, 2: GICv2, 3: GICv3.
static VERSION: AtomicU8 = AtomicU8::new(0);
static DIST: AtomicU64 = AtomicU64::new(0);
/// GICv2 CPU interface (banked per CPU at the same address).
static CPUIF: AtomicU64 = AtomicU64::new(0);
/// GICv3 redistributor regions (VA, size).
static REDIST: [(AtomicU64, AtomicU64); fdt::MAX_REDIST_REGIONS] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; fdt::MAX_REDIST_REGIONS];

fn rd32(a: u64) -> u32 {
    // SAFETY: every address passed here is inside a GIC register window
    // mapped Device-nGnRE by `attach`.
    unsafe { read_volatile(a as *const u32) }
}
fn wr32(a: u64, v: u32) {
    // SAFETY: as rd32.
    unsafe { write_volatile(a as *mut u32, v) }
}
fn rd64(a: u64) -> u64 {
    // SAFETY: as rd32.
    unsafe { read_volatile(a as *const u64) }
}
fn wr64(a: u64, v: u64) {
    // SAFETY: as rd32.
    unsafe { write_volatile(a as *mut u64, v) }
}
fn wr8(a: u64, v: u8) {
    // SAFETY: as rd32 (priority registers are byte accessible).
    unsafe { write_volatile(a as *mut u8, v) }
}

macro_rules! sysreg_read {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading a GIC CPU-interface register; enabled for EL1
        // (ICC_SRE_EL2 at boot when there is an EL2).
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) v, options(nomem, nostack)) };
        v
    }};
}
macro_rules! sysreg_write {
    ($name:literal, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: writing a GIC CPU-interface register with a value the
        // GICv3 architecture defines for it.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) v, options(nostack)) };
    }};
}

pub fn attached() -> bool {
    VERSION.load(Ordering::Acquire) != 0
}

fn wait_rwp_dist() {
    let d = DIST.load(Ordering::Relaxed);
    let mut n = 0u32;
    while rd32(d + GICD_CTLR) & GICD_CTLR_RWP != 0 && n < 1_000_000 {
        n += 1;
        core::hint::spin_loop();
    }
}

fn wait_rwp_redist(rd: u64) {
    let mut n = 0u32;
    while rd32(rd + GICR_CTLR) & GICR_CTLR_RWP != 0 && n < 1_000_000 {
        n += 1;
        core::hint::spin_loop();
    }
}

/// Number of interrupt IDs the distributor implements (SGIs included).
fn nirq(dist: u64) -> u32 {
    (32 * ((rd32(dist + GICD_TYPER) & 0x1f) + 1)).min(INTID_SPECIAL)
}

/// Map and initialise the distributor, then the boot CPU's interface.
///
/// Before: heap and page allocator up (device mappings need page tables);
/// interrupts masked on this CPU. After: all SPIs disabled and routed to
/// the boot CPU, SGIs enabled, the boot CPU's interface accepts interrupts
/// (still masked by PSTATE.I).
pub fn attach() {
    let g = fdt::mach().gic.as_ref().expect("no interrupt controller in the device tree");
    let dist = pmap::mapdev(g.dist.0, g.dist.1);
    DIST.store(dist, Ordering::Relaxed);
    let n = nirq(dist);
    match g.version {
        GicVersion::V2 => {
            let (pa, len) = g.cpu.expect("GICv2 without a CPU interface");
            CPUIF.store(pmap::mapdev(pa, len.max(0x2000)), Ordering::Relaxed);
            wr32(dist + GICD_CTLR, 0);
            for i in (32..n).step_by(32) {
                wr32(dist + GICD_ICENABLER + (i / 8) as u64, !0);
                wr32(dist + GICD_ICPENDR + (i / 8) as u64, !0);
            }
            for i in 32..n {
                wr8(dist + GICD_IPRIORITYR + i as u64, IRQ_PRIO);
                // Until a driver routes it, an SPI goes to the boot CPU.
                wr8(dist + GICD_ITARGETSR + i as u64, 1);
            }
            wr32(dist + GICD_CTLR, 1);
            let ncpu = ((rd32(dist + GICD_TYPER) >> 5) & 7) + 1;
            log::info!("ampintc0 at mainbus0 addr {:#x}: nirq {n}, ncpu {ncpu} (GICv2)", g.dist.0);
        }
        GicVersion::V3 => {
            let mut nredist = 0;
            for (i, &(pa, len)) in g.redist().iter().enumerate() {
                REDIST[i].0.store(pmap::mapdev(pa, len), Ordering::Relaxed);
                REDIST[i].1.store(len, Ordering::Relaxed);
                nredist += count_redists(REDIST[i].0.load(Ordering::Relaxed), len);
            }
            wr32(dist + GICD_CTLR, 0);
            wait_rwp_dist();
            wr32(dist + GICD_CTLR, GICD_CTLR_V3_ARE);
            wait_rwp_dist();
            let boot_aff = cpu::curcpu_md().ci_mpidr;
            for i in (32..n).step_by(32) {
                wr32(dist + GICD_IGROUPR + (i / 8) as u64, !0);
                wr32(dist + GICD_ICENABLER + (i / 8) as u64, !0);
                wr32(dist + GICD_ICPENDR + (i / 8) as u64, !0);
            }
            wait_rwp_dist();
            for i in 32..n {
                wr8(dist + GICD_IPRIORITYR + i as u64, IRQ_PRIO);
                wr64(dist + GICD_IROUTER + 8 * i as u64, boot_aff);
            }
            wr32(dist + GICD_CTLR, GICD_CTLR_V3_ENABLE);
            wait_rwp_dist();
            log::info!("agintc0 at mainbus0 addr {:#x}: nirq {n}, nredist {nredist} (GICv3)", g.dist.0);
        }
    }
    VERSION.store(
        match g.version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        },
        Ordering::Release,
    );
    cpu_init(cpu::curcpu_md());
}

/// Redistributor frames in a region, for the attach message.
fn count_redists(base: u64, len: u64) -> u32 {
    let mut n = 0;
    let mut rd = base;
    while rd < base + len {
        let typer = rd64(rd + GICR_TYPER);
        n += 1;
        if typer & GICR_TYPER_LAST != 0 {
            break;
        }
        rd += if typer & GICR_TYPER_VLPIS != 0 { 0x4_0000 } else { 0x2_0000 };
    }
    n
}

/// This CPU's redistributor: the frame whose GICR_TYPER affinity is ours.
fn find_redist(mpidr: u64) -> Option<u64> {
    let aff = ((mpidr >> 8) & 0xff00_0000) | (mpidr & 0xff_ffff);
    for r in REDIST.iter() {
        let (base, len) = (r.0.load(Ordering::Relaxed), r.1.load(Ordering::Relaxed));
        if base == 0 {
            break;
        }
        let mut rd = base;
        while rd < base + len {
            let typer = rd64(rd + GICR_TYPER);
            if typer >> 32 == aff {
                return Some(rd);
            }
            if typer & GICR_TYPER_LAST != 0 {
                break;
            }
            rd += if typer & GICR_TYPER_VLPIS != 0 { 0x4_0000 } else { 0x2_0000 };
        }
    }
    None
}

/// Initialise the calling CPU's GIC interface (and, on GICv3, its
/// redistributor).
///
/// Before: `attach` ran (on the boot CPU); interrupts masked here. After:
/// SGIs enabled and PPIs disabled on this CPU; the interface signals
/// interrupts of any priority; `md` records how to target this CPU.
pub fn cpu_init(md: &CpuInfoMd) {
    let dist = DIST.load(Ordering::Relaxed);
    match VERSION.load(Ordering::Acquire) {
        2 => {
            let cpuif = CPUIF.load(Ordering::Relaxed);
            // The banked ITARGETSR0..7 read back this CPU's own mask.
            // A GIC with one CPU interface may read 0 here: that CPU is
            // interface 0.
            let mask = match rd32(dist + GICD_ITARGETSR) & 0xff {
                0 => 1,
                m => m,
            };
            md.ci_gic_mask.store(mask, Ordering::Relaxed);
            wr32(dist + GICD_ICENABLER, 0xffff_0000);
            wr32(dist + GICD_ISENABLER, 0x0000_ffff);
            for i in 0..32u64 {
                wr8(dist + GICD_IPRIORITYR + i, IRQ_PRIO);
            }
            wr32(cpuif + GICC_PMR, PMR_ALLOW_ALL as u32);
            wr32(cpuif + GICC_BPR, 0);
            wr32(cpuif + GICC_CTLR, 1);
        }
        3 => {
            let rd = find_redist(md.ci_mpidr).unwrap_or_else(|| {
                panic!("cpu{}: no GICv3 redistributor for mpidr {:#x}", md.ci.ci_cpuid, md.ci_mpidr)
            });
            md.ci_gicr.store(rd, Ordering::Relaxed);
            let w = rd32(rd + GICR_WAKER);
            wr32(rd + GICR_WAKER, w & !GICR_WAKER_PROCESSOR_SLEEP);
            let mut n = 0u32;
            while rd32(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP != 0 && n < 1_000_000 {
                n += 1;
                core::hint::spin_loop();
            }
            wr32(rd + GICR_IGROUPR0, !0);
            wr32(rd + GICR_ICENABLER0, 0xffff_0000);
            wait_rwp_redist(rd);
            for i in 0..32u64 {
                wr8(rd + GICR_IPRIORITYR + i, IRQ_PRIO);
            }
            wr32(rd + GICR_ISENABLER0, 0x0000_ffff);
            let sre = sysreg_read!("S3_0_C12_C12_5"); // ICC_SRE_EL1
            sysreg_write!("S3_0_C12_C12_5", sre | 1);
            barrier::isb(barrier::SY);
            sysreg_write!("S3_0_C4_C6_0", PMR_ALLOW_ALL); // ICC_PMR_EL1
            sysreg_write!("S3_0_C12_C12_3", 0); // ICC_BPR1_EL1
            sysreg_write!("S3_0_C12_C12_4", 0); // ICC_CTLR_EL1: EOImode 0
            sysreg_write!("S3_0_C12_C12_7", 1); // ICC_IGRPEN1_EL1
            barrier::isb(barrier::SY);
        }
        _ => {}
    }
}

/// Enable private interrupt `irq` (a PPI, 16-31) on the calling CPU.
pub fn enable_ppi(irq: u32) {
    debug_assert!((16..32).contains(&irq));
    match VERSION.load(Ordering::Acquire) {
        2 => wr32(DIST.load(Ordering::Relaxed) + GICD_ISENABLER, 1 << irq),
        3 => {
            let rd = cpu::curcpu_md().ci_gicr.load(Ordering::Relaxed);
            wr32(rd + GICR_ISENABLER0, 1 << irq);
        }
        _ => {}
    }
}

/// Route shared peripheral interrupt `spi` to CPU `target` alone (GICv2:
/// ITARGETSR = its interface; GICv3: IROUTER = its affinity, IRM 0), with
/// its trigger mode, at the common priority, and enable it. The group is
/// the one `attach` gave every interrupt (GICv3: group 1 non-secure;
/// GICv2: the default group, which a GIC without security extensions, as
/// on QEMU's virt, signals as IRQ like the SGIs and the timer).
///
/// Before: `attach` ran, so the SPI is disabled and nothing is pending;
/// boot CPU, autoconf: the configuration registers are shared by 16 or 32
/// INTIDs and updated read-modify-write, which only this CPU does, before
/// the others run. After: the SPI reaches `target`'s `intr_dispatch`
/// whenever its line is asserted (level) or was raised (edge).
pub fn establish_spi(spi: fdt::Spi, target: &CpuInfoMd) {
    let dist = DIST.load(Ordering::Relaxed);
    let n = spi.intid;
    debug_assert!((32..INTID_SPECIAL).contains(&n));
    // Two bits per INTID; the upper one selects edge. Written while the
    // SPI is disabled, as the architecture requires.
    let cfg = dist + GICD_ICFGR + 4 * (n / 16) as u64;
    let edge_bit = 1 << (2 * (n % 16) + 1);
    let v = rd32(cfg) & !edge_bit;
    wr32(cfg, if spi.edge { v | edge_bit } else { v });
    wr8(dist + GICD_IPRIORITYR + n as u64, IRQ_PRIO);
    match VERSION.load(Ordering::Acquire) {
        2 => wr8(dist + GICD_ITARGETSR + n as u64, target.ci_gic_mask.load(Ordering::Relaxed) as u8),
        3 => wr64(dist + GICD_IROUTER + 8 * n as u64, target.ci_mpidr),
        _ => return,
    }
    wr32(dist + GICD_ISENABLER + 4 * (n / 32) as u64, 1 << (n % 32));
}

/// Disable interrupt `irq` (stray and unclaimed interrupts).
pub fn disable_irq(irq: u32) {
    let dist = DIST.load(Ordering::Relaxed);
    let bit = 1u32 << (irq % 32);
    match VERSION.load(Ordering::Acquire) {
        3 if irq < 32 => {
            let rd = cpu::curcpu_md().ci_gicr.load(Ordering::Relaxed);
            wr32(rd + GICR_ICENABLER0, bit);
        }
        2 | 3 => wr32(dist + GICD_ICENABLER + 4 * (irq / 32) as u64, bit),
        _ => {}
    }
}

/// An acknowledged interrupt; hand it back to [`eoi`].
#[derive(Clone, Copy)]
pub struct Ack {
    raw: u32,
    pub irq: u32,
}

/// Acknowledge the highest-priority pending interrupt, if any.
pub fn ack() -> Option<Ack> {
    let raw = match VERSION.load(Ordering::Relaxed) {
        2 => rd32(CPUIF.load(Ordering::Relaxed) + GICC_IAR),
        3 => {
            let v = sysreg_read!("S3_0_C12_C12_0") as u32; // ICC_IAR1_EL1
            barrier::dsb(barrier::SY);
            v
        }
        _ => return None,
    };
    let irq = if VERSION.load(Ordering::Relaxed) == 2 { raw & 0x3ff } else { raw & 0xff_ffff };
    if (INTID_SPECIAL..1024).contains(&irq) {
        return None;
    }
    Some(Ack { raw, irq })
}

/// Signal end of interrupt for `a`.
pub fn eoi(a: Ack) {
    match VERSION.load(Ordering::Relaxed) {
        2 => wr32(CPUIF.load(Ordering::Relaxed) + GICC_EOIR, a.raw),
        3 => {
            sysreg_write!("S3_0_C12_C12_1", a.raw as u64); // ICC_EOIR1_EL1
            barrier::isb(barrier::SY);
        }
        _ => {}
    }
}

/// Raise SGI `sgi` on CPU `target`. Lock free: usable from any context.
pub fn send_sgi(target: &CpuInfoMd, sgi: u32) {
    // Whatever the sender wrote before must be visible to the target's
    // handler, which the interrupt does not order by itself.
    barrier::dsb(barrier::ISHST);
    match VERSION.load(Ordering::Acquire) {
        2 => {
            let mask = target.ci_gic_mask.load(Ordering::Relaxed);
            wr32(DIST.load(Ordering::Relaxed) + GICD_SGIR, (mask << 16) | sgi);
        }
        3 => {
            let m = target.ci_mpidr;
            let aff0 = m & 0xff;
            let v = (((m >> 32) & 0xff) << 48)
                | (((m >> 16) & 0xff) << 32)
                | ((aff0 >> 4) << 44)
                | ((sgi as u64) << 24)
                | (((m >> 8) & 0xff) << 16)
                | (1 << (aff0 & 0xf));
            sysreg_write!("S3_0_C12_C11_5", v); // ICC_SGI1R_EL1
            barrier::isb(barrier::SY);
        }
        _ => {}
    }
}

/// Raise SGI `sgi` on every CPU but this one.
pub fn send_sgi_others(sgi: u32) {
    barrier::dsb(barrier::ISHST);
    match VERSION.load(Ordering::Acquire) {
        2 => wr32(DIST.load(Ordering::Relaxed) + GICD_SGIR, (1 << 24) | sgi),
        3 => {
            // IRM: all PEs but self.
            sysreg_write!("S3_0_C12_C11_5", (1u64 << 40) | ((sgi as u64) << 24));
            barrier::isb(barrier::SY);
        }
        _ => {}
    }
}
