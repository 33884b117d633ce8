//! Per-CPU data (`struct cpu_info`), CPU identification and starting the
//! secondary CPUs with PSCI CPU_ON.
//!
//! TPIDR_EL1 holds the address of the CPU's [`CpuInfoMd`], whose first word
//! points at itself (`ci_self`), so `curcpu()` is one register read.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use aarch64_cpu::asm::{self, barrier};
use aarch64_cpu::registers::{
    ID_AA64ISAR0_EL1, ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, ID_AA64PFR0_EL1, MIDR_EL1, MPIDR_EL1, Readable,
    TPIDR_EL1, Writeable,
};
use kern::cpu::{CpuInfo, MAXCPUS};
use kern::machdep::Pcb;

use crate::locore::{self, CPU_HATCH};
use crate::{clock, fdt, gic, pmap, psci};

/// This CPU has read its ID registers (set by the CPU itself).
const CIMD_IDENTIFIED: u32 = 0x1;
/// The boot CPU has attached this CPU; it may enter the MI code.
const CIMD_GO: u32 = 0x2;
/// This CPU took the halt IPI and stopped.
const CIMD_HALTED: u32 = 0x4;

/// The arm64 `struct cpu_info`: `ci_self` first (TPIDR_EL1 points here),
/// the MI part next, then what only this arch needs.
#[repr(C)]
pub struct CpuInfoMd {
    pub ci_self: *const CpuInfoMd,
    pub ci: CpuInfo,
    /// MPIDR_EL1 affinity fields (Aff3..Aff0), as in the device tree.
    pub ci_mpidr: u64,
    /// MIDR_EL1, read by the CPU itself.
    pub ci_midr: AtomicU64,
    /// Top of the emergency stack the vectors switch to on stack overflow.
    pub ci_ovf_sp: u64,
    /// This CPU's boot/idle kernel stack.
    pub ci_kstack_lo: u64,
    pub ci_kstack_hi: u64,
    /// The user pmap loaded in TTBR0 (null: none). Written only by this
    /// CPU in pmap_activate/pmap_deactivate, under the ASID lock.
    pub ci_curpm: AtomicPtr<()>,
    /// The ASID value (`generation << 16 | number`) in TTBR0, 0 for none.
    /// Under the ASID lock; a rollover on another CPU may move it to the
    /// new generation (same number).
    pub ci_asid: AtomicU64,
    /// The ASID generation this CPU's TLB was last flushed for.
    pub ci_asid_gen: AtomicU64,
    /// The Pcb of the thread running here (cpu_switchto sets it): whose
    /// `pcb_onfault` a copyin/copyout fault uses. Points at `ci_bootpcb`
    /// until the first switch.
    pub ci_curpcb: AtomicPtr<Pcb>,
    /// Pcb of the boot/idle context before the MI code switches with its
    /// own; its kernel stack is this CPU's boot stack.
    pub ci_bootpcb: UnsafeCell<Pcb>,
    /// Interrupts taken while in user mode.
    pub ci_uintr: AtomicU64,
    /// GICv2: this CPU's CPU-interface bit for GICD_SGIR target lists.
    pub ci_gic_mask: AtomicU32,
    /// GICv3: kernel VA of this CPU's redistributor (RD_base).
    pub ci_gicr: AtomicU64,
    /// CIMD_* handshake bits.
    pub ci_md_flags: AtomicU32,
}

// SAFETY: `ci_self` is written once before the structure is shared and
// only ever read afterwards; every other mutable field is atomic or
// written before publication.
unsafe impl Sync for CpuInfoMd {}
// SAFETY: as above; the structure is never moved once published.
unsafe impl Send for CpuInfoMd {}

impl CpuInfoMd {
    fn new(cpuid: u32, mpidr: u64, stack: pmap::KStack, ovf: pmap::KStack) -> Self {
        CpuInfoMd {
            ci_self: ptr::null(),
            ci: CpuInfo::new(cpuid, mpidr),
            ci_mpidr: mpidr,
            ci_midr: AtomicU64::new(0),
            ci_ovf_sp: ovf.hi,
            ci_kstack_lo: stack.lo,
            ci_kstack_hi: stack.hi,
            ci_curpm: AtomicPtr::new(ptr::null_mut()),
            ci_asid: AtomicU64::new(0),
            ci_asid_gen: AtomicU64::new(0),
            ci_curpcb: AtomicPtr::new(ptr::null_mut()),
            ci_bootpcb: UnsafeCell::new(Pcb {
                pcb_sp: 0,
                pcb_kstack_top: stack.hi as usize,
                pcb_onfault: 0,
                pcb_tls: 0,
                pcb_md: [0; 4],
            }),
            ci_uintr: AtomicU64::new(0),
            ci_gic_mask: AtomicU32::new(0),
            ci_gicr: AtomicU64::new(0),
            ci_md_flags: AtomicU32::new(0),
        }
    }

    fn has(&self, f: u32) -> bool {
        self.ci_md_flags.load(Ordering::Acquire) & f != 0
    }

    /// Point `ci_self` and `ci_curpcb` at this structure, now that it has
    /// its final address.
    fn set_self(&mut self) {
        self.ci_self = self as *const CpuInfoMd;
        self.ci_curpcb = AtomicPtr::new(self.ci_bootpcb.get());
    }
}

/// The Pcb of the thread running on this CPU.
#[inline]
pub fn curpcb() -> *mut Pcb {
    curcpu_md().ci_curpcb.load(Ordering::Relaxed)
}

/// Make this CPU's boot Pcb current again, after a boot self-test
/// switched between Pcbs of its own.
pub fn reset_curpcb() {
    let md = curcpu_md();
    md.ci_curpcb.store(md.ci_bootpcb.get(), Ordering::Relaxed);
}

/// Put the EL0-visible system state of this CPU in a known state before
/// anything can run in user mode: no debug events (MDSCR_EL1 resets to
/// UNKNOWN, and EL0 runs with PSTATE.D clear), EL0 may read the virtual
/// counter but touch no timer (the kernel's clock is the virtual timer),
/// the thread-ID registers hold nothing of the kernel's, and FP/SIMD/SVE
/// trap at EL0 and EL1 (CPACR_EL1 = 0): the kernel is soft-float and does
/// not switch FP state, so user FP would leak registers between threads.
fn cpu_user_init() {
    const CNTKCTL_EL0VCTEN: u64 = 1 << 1;
    // SAFETY: these registers only affect EL0, debug and FP/SIMD, which
    // the (soft-float) kernel never uses; nothing at EL0 runs yet here.
    unsafe {
        core::arch::asm!(
            "msr cpacr_el1, xzr",
            "msr mdscr_el1, xzr",
            "msr cntkctl_el1, {k}",
            "msr tpidr_el0, xzr",
            "msr tpidrro_el0, xzr",
            "isb",
            k = in(reg) CNTKCTL_EL0VCTEN,
            options(nostack)
        )
    };
}

/// Affinity bits of MPIDR_EL1 (Aff3 at 39:32, Aff2..Aff0 at 23:0).
pub const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;

/// The boot CPU's cpu_info, in .bss so it exists before any allocator.
struct Cpu0(UnsafeCell<MaybeUninit<CpuInfoMd>>);
// SAFETY: written once by the boot CPU before anything can read it.
unsafe impl Sync for Cpu0 {}
static CPU0: Cpu0 = Cpu0(UnsafeCell::new(MaybeUninit::uninit()));

/// Exception level the boot CPU was entered at (1, or 2 when we dropped
/// from EL2 ourselves).
static BOOT_EL: AtomicU32 = AtomicU32::new(1);

/// Each attached CPU's cpu_info by cpuid, for IPIs.
static CPU_MD: [AtomicPtr<CpuInfoMd>; MAXCPUS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAXCPUS];

/// The current CPU's cpu_info.
#[inline]
pub fn curcpu_md() -> &'static CpuInfoMd {
    let p = TPIDR_EL1.get() as *const CpuInfoMd;
    // SAFETY: TPIDR_EL1 is set before any Rust code runs on a CPU (boot:
    // first thing in arm64_init; secondaries: in mpentry) to a CpuInfoMd
    // that lives forever.
    unsafe { &*p }
}

/// cpu_info of CPU `cpuid`, if attached.
pub fn cpu_md(cpuid: u32) -> Option<&'static CpuInfoMd> {
    let p = CPU_MD.get(cpuid as usize)?.load(Ordering::Acquire);
    // SAFETY: only `publish` stores here, and only 'static structures.
    unsafe { p.as_ref() }
}

fn publish(md: &'static CpuInfoMd) {
    CPU_MD[md.ci.ci_cpuid as usize].store(md as *const _ as *mut _, Ordering::Release);
}

/// Install a temporary cpu_info for the boot CPU so that `curcpu()` (and
/// with it the MI panic path) works from the first line of Rust.
///
/// Before: boot CPU, boot tables, nothing attached. After: TPIDR_EL1 points
/// at CPU0 with cpuid 0 and this CPU's MPIDR; stacks are not set yet.
pub fn early_primary(boot_el: u64) {
    BOOT_EL.store(boot_el as u32, Ordering::Relaxed);
    let none = pmap::KStack { lo: 0, hi: 0 };
    let mpidr = MPIDR_EL1.get() & MPIDR_AFF_MASK;
    let p = CPU0.0.get() as *mut CpuInfoMd;
    // SAFETY: only the boot CPU runs; nothing references CPU0 yet.
    unsafe {
        p.write(CpuInfoMd::new(0, mpidr, none, none));
        (*p).set_self();
    }
    TPIDR_EL1.set(p as u64);
    cpu_user_init();
}

/// Give the boot CPU its real stacks and attach it.
///
/// Before: kernel page tables active, boot pool open. After: cpu0's
/// kernel stack and emergency stack exist (returned: the stack to switch
/// to); cpu0 is attached to the MI layer and identified.
pub fn attach_primary() -> pmap::KStack {
    let stack = pmap::kstack_alloc().expect("cpu0: no boot stack");
    let ovf = pmap::kstack_alloc_pages(pmap::OVFSTACK_PAGES).expect("cpu0: no emergency stack");
    let p = CPU0.0.get() as *mut CpuInfoMd;
    // SAFETY: only the boot CPU runs and nothing holds a reference to the
    // fields we write (the emergency-stack pointer and stack bounds; the
    // boot Pcb is only read by the trap path, which cannot run here).
    unsafe {
        (*p).ci_ovf_sp = ovf.hi;
        (*p).ci_kstack_lo = stack.lo;
        (*p).ci_kstack_hi = stack.hi;
        (*(*p).ci_bootpcb.get()).pcb_kstack_top = stack.hi as usize;
    }
    // SAFETY: initialised in early_primary; lives forever.
    let md: &'static CpuInfoMd = unsafe { &*p };
    identify(md);
    // Publish the MD record before the MI attach: once a CPU is in the MI
    // list, IPIs to it must find where to send them.
    publish(md);
    kern::cpu::cpu_attach(&md.ci, true);
    stack
}

/// Read this CPU's identification registers into its cpu_info.
fn identify(md: &CpuInfoMd) {
    md.ci_midr.store(MIDR_EL1.get(), Ordering::Relaxed);
    md.ci_md_flags.fetch_or(CIMD_IDENTIFIED, Ordering::Release);
}

fn part_name(implementer: u64, part: u64) -> Option<&'static str> {
    Some(match (implementer, part) {
        (0x41, 0xd02) => "Cortex-A34",
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd04) => "Cortex-A35",
        (0x41, 0xd05) => "Cortex-A55",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd09) => "Cortex-A73",
        (0x41, 0xd0a) => "Cortex-A75",
        (0x41, 0xd0b) => "Cortex-A76",
        (0x41, 0xd0c) => "Neoverse N1",
        (0x41, 0xd0d) => "Cortex-A77",
        (0x41, 0xd40) => "Neoverse V1",
        (0x41, 0xd41) => "Cortex-A78",
        (0x41, 0xd44) => "Cortex-X1",
        (0x41, 0xd46) => "Cortex-A510",
        (0x41, 0xd47) => "Cortex-A710",
        (0x41, 0xd48) => "Cortex-X2",
        (0x41, 0xd49) => "Neoverse N2",
        (0x41, 0xd4f) => "Neoverse V2",
        _ => return None,
    })
}

fn implementer_name(implementer: u64) -> Option<&'static str> {
    Some(match implementer {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x46 => "Fujitsu",
        0x48 => "HiSilicon",
        0x4e => "NVIDIA",
        0x51 => "Qualcomm",
        0x61 => "Apple",
        0xc0 => "Ampere",
        _ => return None,
    })
}

/// "ARM Cortex-A72 r0p3" from a MIDR value.
struct MidrName(u64);

impl core::fmt::Display for MidrName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        let (imp, var, part, rev) = ((m >> 24) & 0xff, (m >> 20) & 0xf, (m >> 4) & 0xfff, m & 0xf);
        match (implementer_name(imp), part_name(imp, part)) {
            (Some(i), Some(p)) => write!(f, "{i} {p}")?,
            (Some(i), None) => write!(f, "{i} part {part:#05x}")?,
            // QEMU's "max" CPU: implementer 0 (reserved for software
            // use) and part number 'Q'.
            (None, _) if imp == 0 && part == 0x051 => write!(f, "QEMU max")?,
            (None, _) if imp == 0 => write!(f, "software-defined part {part:#05x}")?,
            (None, _) => write!(f, "implementer {imp:#04x} part {part:#05x}")?,
        }
        write!(f, " r{var}p{rev}")
    }
}

/// Feature summary of the running CPU, OpenBSD style.
fn print_features(md: &CpuInfoMd) {
    let isar0 = ID_AA64ISAR0_EL1.get();
    let mmfr0 = ID_AA64MMFR0_EL1.get();
    let mmfr1 = ID_AA64MMFR1_EL1.get();
    let pfr0 = ID_AA64PFR0_EL1.get();
    let f = |reg: u64, shift: u32| (reg >> shift) & 0xf;
    let mut s = alloc::string::String::new();
    let mut add = |w: &str| {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(w);
    };
    match f(isar0, 4) {
        1 => add("AES"),
        2 => add("AES+PMULL"),
        _ => {}
    }
    if f(isar0, 8) != 0 {
        add("SHA1");
    }
    if f(isar0, 12) != 0 {
        add("SHA2");
    }
    if f(isar0, 16) != 0 {
        add("CRC32");
    }
    if f(isar0, 20) >= 2 {
        add("Atomic");
    }
    if f(pfr0, 32) != 0 {
        add("SVE");
    }
    if f(mmfr0, 4) == 2 {
        add("ASID16");
    }
    match f(mmfr1, 20) {
        0 => {}
        1 => add("PAN"),
        2 => add("PAN+ATS1E1"),
        _ => add("PAN+EPAN"),
    }
    if f(mmfr1, 8) != 0 {
        add("VH");
    }
    let pa_bits = match f(mmfr0, 0) {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    };
    log::info!("cpu{}: {}, {}-bit PA", md.ci.ci_cpuid, s, pa_bits);
}

/// Turn PAN on for this CPU when it has it: the kernel never touches user
/// memory except through the (future) copyin/copyout, which clear it.
fn pan_enable() -> bool {
    if !pmap::has_pan() {
        return false;
    }
    // SAFETY: writing PSTATE.PAN only restricts EL1 access to EL0 pages;
    // there are none while no user pmap is active.
    unsafe { core::arch::asm!("msr S3_0_C4_C2_3, {}", in(reg) 1u64 << 22, options(nostack)) };
    true
}

/// Attach messages for the boot CPU. Before: called from `cpu_configure`
/// after the logger exists. After: cpu0 is described and PAN is on if
/// present.
pub fn configure_primary() {
    let md = curcpu_md();
    let pan = pan_enable();
    log::info!("cpu0 at mainbus0 mpidr {:x}: {}", md.ci_mpidr, MidrName(md.ci_midr.load(Ordering::Relaxed)));
    print_features(md);
    log::info!(
        "cpu0: PAN {}; entered at EL{}, running at EL1",
        if pan { "enabled" } else { "not implemented" },
        BOOT_EL.load(Ordering::Relaxed)
    );
}

/// Start every CPU the device tree lists besides the boot CPU, one at a
/// time, and attach those that come up.
///
/// Before: kernel tables, heap, page allocator, GIC distributor, boot CPU
/// timer and PSCI are set up. After: every CPU that answered CPU_ON is
/// attached (`cpu_attach`) and released into `cpu_hatch_mi`.
pub fn boot_secondaries() {
    let me = curcpu_md().ci_mpidr;
    let mut next: u32 = 1;
    let mpentry_pa = pmap::kimg_pa(locore::mpentry as *const () as u64);
    for &mpidr in fdt::mach().cpus() {
        if mpidr == me {
            continue;
        }
        if next as usize >= MAXCPUS {
            log::warn!("cpu at mpidr {mpidr:x}: beyond MAXCPUS ({MAXCPUS}), not started");
            break;
        }
        let (Some(stack), Some(ovf)) = (pmap::kstack_alloc(), pmap::kstack_alloc_pages(pmap::OVFSTACK_PAGES))
        else {
            log::error!("cpu{next} at mainbus0 mpidr {mpidr:x}: no memory for its stacks; not started");
            break;
        };
        let md: &'static mut CpuInfoMd = Box::leak(Box::new(CpuInfoMd::new(next, mpidr, stack, ovf)));
        md.set_self();
        let md: &'static CpuInfoMd = md;

        fill_hatch(md);
        let rc = psci::cpu_on(mpidr, mpentry_pa, next as u64);
        if rc != 0 {
            log::warn!("cpu{next} at mainbus0 mpidr {mpidr:x}: not started ({})", psci::error_name(rc));
            continue;
        }
        let deadline = clock::nanouptime() + 5_000_000_000;
        while !md.has(CIMD_IDENTIFIED) {
            if clock::nanouptime() > deadline {
                // It may still wake up and read the hatch block, so no
                // other CPU may be started with it.
                log::error!(
                    "cpu{next} at mainbus0 mpidr {mpidr:x}: did not respond; giving up on the remaining CPUs"
                );
                return;
            }
            core::hint::spin_loop();
        }
        log::info!("cpu{next} at mainbus0 mpidr {mpidr:x}: {}", MidrName(md.ci_midr.load(Ordering::Relaxed)));
        publish(md);
        kern::cpu::cpu_attach(&md.ci, false);
        md.ci_md_flags.fetch_or(CIMD_GO, Ordering::Release);
        barrier::dsb(barrier::ISH);
        asm::sev();
        next += 1;
    }
}

/// Fill the hatch block for `md` and push it to memory: the secondary
/// reads it with its MMU (and so its caches) off.
fn fill_hatch(md: &'static CpuInfoMd) {
    let h = &CPU_HATCH;
    // SAFETY: reading our own MAIR/TCR has no side effects.
    let (mair, tcr) = unsafe {
        let (m, t): (u64, u64);
        core::arch::asm!("mrs {}, mair_el1", "mrs {}, tcr_el1", out(reg) m, out(reg) t, options(nomem, nostack));
        (m, t)
    };
    h.mair.store(mair, Ordering::Relaxed);
    h.tcr.store(tcr, Ordering::Relaxed);
    h.sctlr.store(pmap::final_sctlr(), Ordering::Relaxed);
    h.ttbr0_idmap.store(locore::idmap_pa(), Ordering::Relaxed);
    h.ttbr1.store(pmap::kernel_l1_pa(), Ordering::Relaxed);
    h.ttbr0.store(locore::empty_table_pa(), Ordering::Relaxed);
    h.sp.store(md.ci_kstack_hi, Ordering::Relaxed);
    h.ci.store(md as *const CpuInfoMd as u64, Ordering::Relaxed);
    barrier::dsb(barrier::ISH);
    let start = h as *const _ as u64 & !63;
    let end = h as *const _ as u64 + core::mem::size_of_val(h) as u64;
    let mut line = start;
    while line < end {
        // SAFETY: cleaning a cache line of mapped kernel data has no
        // effect beyond writing it back to memory.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) line, options(nostack)) };
        line += 16; // smaller than any data cache line
    }
    barrier::dsb(barrier::SY);
}

/// First Rust code on a secondary CPU, on its own kernel stack with the
/// kernel tables, TPIDR_EL1 and VBAR_EL1 set (locore `mpentry_high`).
///
/// Before: MMU on, interrupts masked, the boot CPU waits for us to
/// identify. After (never returns): attached, GIC interface and timer on,
/// in the MI idle loop.
pub extern "C" fn cpu_hatch_md(md: &'static CpuInfoMd) -> ! {
    cpu_user_init();
    identify(md);
    while !md.has(CIMD_GO) {
        asm::wfe();
    }
    pan_enable();
    // SAFETY: the vectors are installed; let SErrors be reported.
    unsafe { core::arch::asm!("msr daifclr, #4", options(nostack)) };
    gic::cpu_init(md);
    clock::cpu_startclock();
    kern::init_main::cpu_hatch_mi()
}

/// Handler of the halt IPI: stop this CPU for good. Takes no locks.
pub fn halt_self() -> ! {
    // SAFETY: masking every exception on this CPU is always allowed.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    curcpu_md().ci_md_flags.fetch_or(CIMD_HALTED, Ordering::Release);
    loop {
        asm::wfe();
    }
}

/// Stop every other CPU (panic path): raise the halt IPI everywhere else
/// and wait a bounded time for them to acknowledge. Takes no locks.
pub fn halt_others() {
    if !gic::attached() {
        return;
    }
    let me = curcpu_md().ci.ci_cpuid;
    gic::send_sgi_others(gic::SGI_HALT);
    let deadline = clock::nanouptime() + 100_000_000;
    loop {
        let all = (0..MAXCPUS as u32).filter(|&i| i != me).filter_map(cpu_md).all(|c| c.has(CIMD_HALTED));
        if all || clock::nanouptime() > deadline {
            return;
        }
        core::hint::spin_loop();
    }
}
