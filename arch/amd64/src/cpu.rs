//! Per-CPU state (`struct cpu_info`), CPU identification and features, and
//! starting the secondary CPUs (INIT-SIPI-SIPI into the real-mode
//! trampoline, then `cpu_hatch`).
//!
//! Each CPU's `CpuInfoMd` starts with `ci_self`, and GS base points at it,
//! so `curcpu()` is one `mov %gs:0` plus a constant offset. The boot CPU's
//! lives in .bss (it is needed before any allocator exists); the others'
//! are allocated in `cpu_configure`.

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::mem::{MaybeUninit, offset_of};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use alloc::boxed::Box;
use kern::cpu::{CpuInfo, MAXCPUS, cpu_attach};
use kern::machdep::Pcb;
use spin::Once;
use uvm::PAGE_SIZE;

use crate::clock;
use crate::cpufunc::{
    CR0_CD, CR0_EM, CR0_ET, CR0_MP, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR0_WP, CR4_OSFXSR, CR4_PAE, CR4_PCIDE,
    CR4_PGE, CR4_SMAP, CR4_SMEP, EFER_LME, EFER_NXE, EFER_SCE, MSR_CSTAR, MSR_EFER, MSR_FSBASE,
    MSR_KERNELGSBASE, MSR_LSTAR, MSR_SFMASK, MSR_STAR, PSL_AC, PSL_D, PSL_I, PSL_IOPL, PSL_NT, PSL_T, cpuid,
    lcr0, lcr4, rcr0, rdmsr, wrmsr,
};
use crate::gdt::{
    GSEL_KCODE, GSEL_USYSRET, Gdt, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, SEG_KCODE64, SEG_KDATA, Tss,
    gdt_load,
};
use crate::lapic::{self, ICR_DM_INIT, ICR_DM_STARTUP, ICR_LEVEL_ASSERT};
use crate::locore::{MpTrampData, mp_entry64, mptramp_64, mptramp_data, mptramp_end, mptramp_start};
use crate::pmap::{self, ISTACK_PAGES, KSTACK_PAGES, PG_PS, PG_RW, PG_V, phys_to_kva};

/// `ci_md_flags`: the CPU finished its MD init (set by the CPU itself).
const CIF_HATCHED: u32 = 0x1;
/// `ci_md_flags`: the boot CPU registered it; it may enter the MI code.
const CIF_GO: u32 = 0x2;

#[repr(C, align(64))]
pub struct CpuInfoMd {
    /// Must stay first: `%gs:0`.
    pub ci_self: *const CpuInfoMd,
    /// Top of the running thread's kernel stack: where the SYSCALL entry
    /// builds its trap frame (the TSS's RSP0 holds the same value for
    /// interrupts and exceptions from user mode). Written by
    /// `cpu_switchto`, read by the SYSCALL entry, both in asm.
    pub ci_kstack_top: AtomicU64,
    /// The user %rsp between SYSCALL entry and the frame being built.
    pub ci_scratch: AtomicU64,
    /// The running thread's `Pcb` (the CPU's boot `Pcb` until its first
    /// `cpu_switchto`): copyin/copyout keep their fault recovery address
    /// there. Written by `cpu_switchto` in asm.
    pub ci_curpcb: AtomicPtr<Pcb>,
    /// The FS base (user thread pointer) this CPU last loaded, so the
    /// return to user mode writes the MSR only when it changes.
    pub ci_fsbase: AtomicU64,
    /// The machine-independent part.
    pub ci_mi: CpuInfo,
    pub ci_apicid: u32,
    pub ci_md_flags: AtomicU32,
    /// The user pmap whose tables are in this CPU's %cr3 (0: kernel only).
    /// Exact after every `pmap_activate`/`pmap_deactivate`; user TLB
    /// shootdowns are sent to the CPUs whose `ci_proc_pmap` is the pmap.
    pub ci_proc_pmap: AtomicUsize,
    /// With PCIDs: the PCID generation this CPU last flushed its whole TLB
    /// for; every PCID it has used since is of this generation.
    pub ci_pcid_gen: AtomicU64,
    /// A TLB shootdown request (`intr::SHOOT`) waits for this CPU.
    pub ci_shoot_pending: AtomicBool,
    /// Shootdown requests this CPU handled (tests, statistics).
    pub ci_nshoot: AtomicU64,
    /// Interrupts taken in user mode (tests, statistics).
    pub ci_nuser_intr: AtomicU64,
    /// Cross-call mailbox (`intr::cpu_xcall`): function, argument, result.
    pub ci_xcall_fn: AtomicUsize,
    pub ci_xcall_arg: AtomicUsize,
    pub ci_xcall_ret: AtomicUsize,
    /// Top of this CPU's idle stack (the boot CPU's runs `main`).
    pub ci_idle_stack: AtomicU64,
    /// The switch state of whatever this CPU runs before its first
    /// `cpu_switchto` (boot, then the MI idle loop): `ci_curpcb` starts
    /// here so copyin/copyout work before any thread exists.
    pub ci_bootpcb: UnsafeCell<Pcb>,
    pub ci_tss: UnsafeCell<Tss>,
    pub ci_gdt: UnsafeCell<Gdt>,
}

// SAFETY: `ci_self` points at the structure itself, which is never moved or
// freed. The TSS and GDT are written only before the CPU owning them loads
// them, and later only by that CPU (RSP0, in `cpu_switchto`); the boot Pcb
// only by that CPU's switch code; everything else is atomic or immutable
// after construction.
unsafe impl Sync for CpuInfoMd {}

impl CpuInfoMd {
    fn new(cpuid: u32, apicid: u32) -> CpuInfoMd {
        CpuInfoMd {
            ci_self: core::ptr::null(),
            ci_kstack_top: AtomicU64::new(0),
            ci_scratch: AtomicU64::new(0),
            ci_curpcb: AtomicPtr::new(core::ptr::null_mut()),
            ci_fsbase: AtomicU64::new(0),
            ci_mi: CpuInfo::new(cpuid, apicid as u64),
            ci_apicid: apicid,
            ci_md_flags: AtomicU32::new(0),
            ci_proc_pmap: AtomicUsize::new(0),
            ci_pcid_gen: AtomicU64::new(0),
            ci_shoot_pending: AtomicBool::new(false),
            ci_nshoot: AtomicU64::new(0),
            ci_nuser_intr: AtomicU64::new(0),
            ci_xcall_fn: AtomicUsize::new(0),
            ci_xcall_arg: AtomicUsize::new(0),
            ci_xcall_ret: AtomicUsize::new(0),
            ci_idle_stack: AtomicU64::new(0),
            ci_bootpcb: UnsafeCell::new(Pcb::default()),
            ci_tss: UnsafeCell::new(Tss::new()),
            ci_gdt: UnsafeCell::new(Gdt::new()),
        }
    }

    /// Point `ci_self` and `ci_curpcb` at this structure's own fields, now
    /// that it sits at its final address.
    ///
    /// # Safety
    /// `this` is where the structure lives for good, and its CPU does not
    /// run yet (or is the caller, before it uses either field).
    unsafe fn init_self(this: *mut CpuInfoMd) {
        // SAFETY: per the contract, nobody else reads these fields yet.
        unsafe {
            (*this).ci_self = this;
            (*this).ci_curpcb.store((*this).ci_bootpcb.get(), Ordering::Relaxed);
        }
    }

    /// Is `va` in the guard page under this CPU's idle stack, or under the
    /// kernel stack of the thread it runs?
    pub fn stack_guard_contains(&self, va: u64) -> bool {
        let top = self.ci_idle_stack.load(Ordering::Relaxed);
        let guard = top.wrapping_sub((KSTACK_PAGES + 1) * PAGE_SIZE);
        if top != 0 && (guard..guard + PAGE_SIZE).contains(&va) {
            return true;
        }
        let pcb = self.ci_curpcb.load(Ordering::Relaxed);
        // SAFETY: ci_curpcb always points at a live Pcb: the boot one, or
        // the running thread's, which lives at least while it runs here.
        let ktop = unsafe { (*pcb).pcb_kstack_top } as u64;
        pmap::kstack_guard(ktop).is_some_and(|g| (g..g + PAGE_SIZE).contains(&va))
    }

    /// Give the CPU its interrupt stacks (each with a guard page).
    ///
    /// # Safety
    /// The CPU owning this TSS is not taking a trap that uses these slots
    /// (it has not started yet, or it is the caller with interrupts masked
    /// and not on an IST stack).
    unsafe fn alloc_istacks(&self) {
        for ist in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK] {
            let top = pmap::kstack_alloc(ISTACK_PAGES);
            // SAFETY: per the contract, nobody uses these slots meanwhile.
            unsafe { (*self.ci_tss.get()).set_ist(ist, top) };
        }
    }

    /// Set the stack for entries from user mode (TSS RSP0 and the SYSCALL
    /// stack) before this CPU has run any thread.
    ///
    /// # Safety
    /// The CPU owning this TSS is not in user mode and not switching.
    unsafe fn set_kstack_top(&self, top: u64) {
        self.ci_kstack_top.store(top, Ordering::Relaxed);
        // SAFETY: per the contract, nothing reads RSP0 concurrently; the
        // boot Pcb is this CPU's and not running through the switch code.
        unsafe {
            (*self.ci_tss.get()).set_rsp0(top);
            (*self.ci_bootpcb.get()).pcb_kstack_top = top as usize;
        }
    }
}

/// The boot CPU's `cpu_info`.
struct Cpu0(UnsafeCell<MaybeUninit<CpuInfoMd>>);
// SAFETY: initialised once by `cpu0_init` before anything else runs, then
// only shared (see `impl Sync for CpuInfoMd`).
unsafe impl Sync for Cpu0 {}
static CPU0: Cpu0 = Cpu0(UnsafeCell::new(MaybeUninit::uninit()));

/// Emergency IST stack for the boot CPU until its guarded ones exist.
#[repr(C, align(16))]
struct BootIst(UnsafeCell<[u8; 8192]>);
// SAFETY: only the boot CPU's hardware uses it, as a stack.
unsafe impl Sync for BootIst {}
static BOOT_IST: BootIst = BootIst(UnsafeCell::new([0; 8192]));

/// This CPU's `cpu_info`. Before: the CPU ran `cpu0_init` / `cpu_hatch`.
#[inline]
pub fn curcpu_md() -> &'static CpuInfoMd {
    let p: *const CpuInfoMd;
    // SAFETY: GS base holds this CPU's CpuInfoMd, whose first word is a
    // pointer to itself; the structure lives forever.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, preserves_flags, readonly));
        &*p
    }
}

/// The MD structure around an attached MI `CpuInfo`.
pub fn cpu_md(ci: &'static CpuInfo) -> &'static CpuInfoMd {
    // SAFETY: every CpuInfo this kernel attaches is the `ci_mi` field of a
    // CpuInfoMd that lives forever, so stepping back to the container is
    // in bounds of that allocation.
    unsafe { &*((ci as *const CpuInfo as *const u8).sub(offset_of!(CpuInfoMd, ci_mi)) as *const CpuInfoMd) }
}

/// Has this CPU finished its MD init (so it answers IPIs)?
pub fn cpu_is_hatched(ci: &'static CpuInfo) -> bool {
    cpu_md(ci).ci_md_flags.load(Ordering::Acquire) & CIF_HATCHED != 0
}

/// The APIC id CPUID reports for the running CPU (x2APIC id if leaf 0xb).
fn cpuid_apic_id() -> u32 {
    if cpuid(0, 0).eax >= 0xb && cpuid(0xb, 0).ebx != 0 { cpuid(0xb, 0).edx } else { cpuid(1, 0).ebx >> 24 }
}

/// Set up the boot CPU's `cpu_info`, GDT and TSS, and point GS base at it.
/// First thing in `init_x86_64`: after it `curcpu()` works (the panic path
/// needs it), with an emergency IST stack until `cpu0_init_stacks`.
pub fn cpu0_init() {
    let p = CPU0.0.get() as *mut CpuInfoMd;
    // SAFETY: single-threaded early boot; nothing references CPU0 yet. The
    // struct is written whole, then its own address stored in ci_self.
    unsafe {
        p.write(CpuInfoMd::new(0, cpuid_apic_id()));
        CpuInfoMd::init_self(p);
        let ist_top = BOOT_IST.0.get() as u64 + 8192;
        let tss = &mut *(*p).ci_tss.get();
        for ist in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK] {
            tss.set_ist(ist, ist_top);
        }
        (*(*p).ci_gdt.get()).set_tss((*p).ci_tss.get() as u64);
        gdt_load((*p).ci_gdt.get(), p as u64);
    }
    cpu_init_syscall();
}

/// The boot CPU's `cpu_info`.
pub fn cpu0() -> &'static CpuInfoMd {
    // SAFETY: initialised by `cpu0_init`, the first thing the kernel does.
    unsafe { (*CPU0.0.get()).assume_init_ref() }
}

/// Give the boot CPU guarded interrupt stacks and its idle stack; returns
/// the idle stack's top. Before: kernel page tables live, interrupts masked.
pub fn cpu0_init_stacks() -> u64 {
    let ci = cpu0();
    // SAFETY: the boot CPU runs this with interrupts masked, on its boot
    // stack, not on an IST stack.
    unsafe { ci.alloc_istacks() };
    let top = pmap::kstack_alloc(KSTACK_PAGES);
    ci.ci_idle_stack.store(top, Ordering::Relaxed);
    // SAFETY: the boot CPU is the caller, in the kernel, not switching.
    unsafe { ci.set_kstack_top(top) };
    ci.ci_md_flags.fetch_or(CIF_HATCHED | CIF_GO, Ordering::Release);
    top
}

/// What CPUID says about the boot CPU (assumed for all: QEMU's CPUs are
/// identical and the kernel does not support mixed CPU types).
pub struct CpuIdent {
    pub vendor: [u8; 12],
    pub brand: [u8; 48],
    pub max_leaf: u32,
    pub max_ext: u32,
    pub signature: u32,
    pub f1_ecx: u32,
    pub f1_edx: u32,
    pub e1_ecx: u32,
    pub e1_edx: u32,
    pub l7_ebx: u32,
    pub l7_ecx: u32,
    pub e7_edx: u32,
    pub hv_vendor: [u8; 12],
}

// CPUID feature bits the kernel acts on.
pub const CPUIDECX_PCID: u32 = 1 << 17;
pub const CPUIDECX_X2APIC: u32 = 1 << 21;
pub const CPUIDECX_HV: u32 = 1 << 31;
pub const CPUID_NXE: u32 = 1 << 20;
pub const SEFF0EBX_SMEP: u32 = 1 << 7;
pub const SEFF0EBX_SMAP: u32 = 1 << 20;
pub const CPUIDEDX_ITSC: u32 = 1 << 8;

impl CpuIdent {
    pub fn has_nx(&self) -> bool {
        self.e1_edx & CPUID_NXE != 0
    }
    pub fn has_x2apic(&self) -> bool {
        self.f1_ecx & CPUIDECX_X2APIC != 0
    }
    pub fn has_smep(&self) -> bool {
        self.l7_ebx & SEFF0EBX_SMEP != 0
    }
    pub fn has_smap(&self) -> bool {
        self.l7_ebx & SEFF0EBX_SMAP != 0
    }
    pub fn has_pcid(&self) -> bool {
        self.f1_ecx & CPUIDECX_PCID != 0
    }

    fn brand_str(&self) -> &str {
        let b = &self.brand;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        core::str::from_utf8(&b[..end]).unwrap_or("?").trim()
    }

    fn family_model_stepping(&self) -> (u32, u32, u32) {
        let s = self.signature;
        let mut fam = s >> 8 & 0xf;
        let mut model = s >> 4 & 0xf;
        if fam == 0xf {
            fam += s >> 20 & 0xff;
        }
        if fam >= 6 {
            model |= (s >> 16 & 0xf) << 4;
        }
        (fam, model, s & 0xf)
    }
}

static IDENT: Once<CpuIdent> = Once::new();

pub fn ident() -> &'static CpuIdent {
    IDENT.call_once(identify)
}

fn regs_bytes(out: &mut [u8], regs: &[u32]) {
    for (chunk, r) in out.chunks_mut(4).zip(regs) {
        chunk.copy_from_slice(&r.to_le_bytes());
    }
}

fn identify() -> CpuIdent {
    let mut id = CpuIdent {
        vendor: [0; 12],
        brand: [0; 48],
        max_leaf: 0,
        max_ext: 0,
        signature: 0,
        f1_ecx: 0,
        f1_edx: 0,
        e1_ecx: 0,
        e1_edx: 0,
        l7_ebx: 0,
        l7_ecx: 0,
        e7_edx: 0,
        hv_vendor: [0; 12],
    };
    let l0 = cpuid(0, 0);
    id.max_leaf = l0.eax;
    regs_bytes(&mut id.vendor, &[l0.ebx, l0.edx, l0.ecx]);
    let l1 = cpuid(1, 0);
    id.signature = l1.eax;
    id.f1_ecx = l1.ecx;
    id.f1_edx = l1.edx;
    if id.max_leaf >= 7 {
        let l7 = cpuid(7, 0);
        id.l7_ebx = l7.ebx;
        id.l7_ecx = l7.ecx;
    }
    id.max_ext = cpuid(0x8000_0000, 0).eax;
    if id.max_ext >= 0x8000_0001 {
        let e1 = cpuid(0x8000_0001, 0);
        id.e1_ecx = e1.ecx;
        id.e1_edx = e1.edx;
    }
    if id.max_ext >= 0x8000_0004 {
        for (i, leaf) in (0x8000_0002..=0x8000_0004u32).enumerate() {
            let r = cpuid(leaf, 0);
            regs_bytes(&mut id.brand[i * 16..i * 16 + 16], &[r.eax, r.ebx, r.ecx, r.edx]);
        }
    }
    if id.max_ext >= 0x8000_0007 {
        id.e7_edx = cpuid(0x8000_0007, 0).edx;
    }
    if id.f1_ecx & CPUIDECX_HV != 0 {
        let h = cpuid(0x4000_0000, 0);
        regs_bytes(&mut id.hv_vendor, &[h.ebx, h.ecx, h.edx]);
    }
    id
}

/// Turn on what the kernel relies on, on the running CPU: write protection
/// in ring 0 (CR0.WP, so W^X holds for the kernel too), caches, global
/// pages, NX, SMEP/SMAP when present (the kernel never executes or touches
/// user pages; copyin/copyout bracket theirs with stac/clac), and PCIDs
/// when present. The x87/SSE unit stays off (CR0.EM, no CR4.OSFXSR): the
/// kernel is soft-float and does not switch FPU state yet, so a user FP
/// instruction traps (SIGILL) instead of seeing another thread's registers.
/// Before: in long mode, CR3's low 12 bits 0 (a PCID of 0).
/// After: same mappings, stricter rules.
pub fn cpu_enable_features() {
    let id = ident();
    // SAFETY: every bit set is supported (checked against CPUID) and the
    // kernel page tables were built for exactly these rules: no kernel code
    // writes read-only pages or touches user pages.
    unsafe {
        let mut efer = rdmsr(MSR_EFER);
        if id.has_nx() {
            efer |= EFER_NXE;
        }
        wrmsr(MSR_EFER, efer);
        lcr0((rcr0() | CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_PE | CR0_EM | CR0_MP) & !(CR0_CD | CR0_NW));
        let mut cr4 = (crate::cpufunc::rcr4() | CR4_PAE | CR4_PGE) & !CR4_OSFXSR;
        if id.has_pcid() {
            cr4 |= CR4_PCIDE;
        }
        if id.has_smep() {
            cr4 |= CR4_SMEP;
        }
        if id.has_smap() {
            cr4 |= CR4_SMAP;
            crate::locore::MD_SMAP.store(1, Ordering::Relaxed);
        }
        lcr4(cr4);
    }
}

/// RFLAGS bits SYSCALL clears on entry: interrupts stay masked until the
/// frame is built, and nothing user mode chose (single-step, direction,
/// alignment check, which would lift SMAP, nested task, I/O privilege)
/// leaks into the kernel.
const SYSCALL_FMASK: u64 = PSL_T | PSL_I | PSL_D | PSL_AC | PSL_NT | PSL_IOPL;

/// Enable SYSCALL/SYSRET on the running CPU and start it with the user
/// FS and GS bases at 0. Before: its GDT is loaded (the selectors STAR
/// names exist). After: `syscall` in user mode enters `Xsyscall`.
fn cpu_init_syscall() {
    let star = (GSEL_USYSRET as u64 | 3) << 48 | (GSEL_KCODE as u64) << 32;
    // SAFETY: these MSRs exist on every x86_64 CPU; the entry points are
    // kernel text that handles exactly these transitions, and the user
    // bases of 0 are what a thread starts with.
    unsafe {
        wrmsr(MSR_STAR, star);
        wrmsr(MSR_LSTAR, &raw const crate::locore::Xsyscall as u64);
        wrmsr(MSR_CSTAR, &raw const crate::locore::Xsyscall32 as u64);
        wrmsr(MSR_SFMASK, SYSCALL_FMASK);
        wrmsr(MSR_FSBASE, 0);
        wrmsr(MSR_KERNELGSBASE, 0);
        wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    }
}

/// The feature names OpenBSD prints, for the bits set in `reg`.
fn feature_names(out: &mut impl Write, first: &mut bool, reg: u32, names: &[(u32, &str)]) {
    for &(bit, name) in names {
        if reg & (1 << bit) != 0 {
            let _ = out.write_str(if *first { "" } else { "," });
            let _ = out.write_str(name);
            *first = false;
        }
    }
}

/// A fixed-size line buffer for building dmesg lines without the heap
/// (the lines are printed from places that must not allocate).
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub const fn new() -> LineBuf {
        LineBuf { buf: [0; 512], len: 0 }
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Print the boot CPU's attach lines (OpenBSD's identifycpu).
pub fn cpu0_attach_print() {
    let id = ident();
    let ci = cpu0();
    log::info!("cpu0 at mainbus0: apid {} (boot processor)", ci.ci_apicid);
    let (fam, model, step) = id.family_model_stepping();
    let mhz = clock::tsc_hz() / 10_000;
    log::info!(
        "cpu0: {}, {}.{:02} MHz, {:02x}-{:02x}-{:02x}",
        id.brand_str(),
        mhz / 100,
        mhz % 100,
        fam,
        model,
        step
    );
    let mut l = LineBuf::new();
    let mut first = true;
    feature_names(
        &mut l,
        &mut first,
        id.f1_edx,
        &[
            (0, "FPU"),
            (1, "VME"),
            (2, "DE"),
            (3, "PSE"),
            (4, "TSC"),
            (5, "MSR"),
            (6, "PAE"),
            (7, "MCE"),
            (8, "CX8"),
            (9, "APIC"),
            (11, "SEP"),
            (12, "MTRR"),
            (13, "PGE"),
            (14, "MCA"),
            (15, "CMOV"),
            (16, "PAT"),
            (17, "PSE36"),
            (19, "CFLUSH"),
            (23, "MMX"),
            (24, "FXSR"),
            (25, "SSE"),
            (26, "SSE2"),
            (28, "HTT"),
        ],
    );
    feature_names(
        &mut l,
        &mut first,
        id.f1_ecx,
        &[
            (0, "SSE3"),
            (1, "PCLMUL"),
            (3, "MWAIT"),
            (9, "SSSE3"),
            (12, "FMA3"),
            (13, "CX16"),
            (17, "PCID"),
            (19, "SSE4.1"),
            (20, "SSE4.2"),
            (21, "x2APIC"),
            (22, "MOVBE"),
            (23, "POPCNT"),
            (24, "DEADLINE"),
            (25, "AES"),
            (26, "XSAVE"),
            (28, "AVX"),
            (29, "F16C"),
            (30, "RDRAND"),
            (31, "HV"),
        ],
    );
    feature_names(
        &mut l,
        &mut first,
        id.e1_edx,
        &[(20, "NXE"), (26, "PAGE1GB"), (27, "RDTSCP"), (29, "LONG")],
    );
    feature_names(&mut l, &mut first, id.e1_ecx, &[(0, "LAHF")]);
    feature_names(
        &mut l,
        &mut first,
        id.l7_ebx,
        &[(0, "FSGSBASE"), (3, "BMI1"), (7, "SMEP"), (8, "BMI2"), (9, "ERMS"), (10, "INVPCID"), (20, "SMAP")],
    );
    feature_names(&mut l, &mut first, id.l7_ecx, &[(2, "UMIP")]);
    feature_names(&mut l, &mut first, id.e7_edx, &[(8, "ITSC")]);
    log::info!("cpu0: {}", l.as_str());
    let onoff = |b: bool| if b { "on" } else { "not present" };
    log::info!(
        "cpu0: smep {}, smap {}, pcid {}{}",
        onoff(id.has_smep()),
        onoff(id.has_smap()),
        onoff(id.has_pcid()),
        if id.e7_edx & CPUIDEDX_ITSC != 0 { ", invariant tsc" } else { "" }
    );
    if id.hv_vendor != [0; 12] {
        let hv = core::str::from_utf8(&id.hv_vendor).unwrap_or("?").trim_end_matches('\0');
        log::info!("cpu0: running under a hypervisor, \"{hv}\"");
    }
}

/// Physical base of the AP trampoline's four pages (code, PML4, PDPT,
/// PD), reserved below 1 MiB at boot; 0 if none could be found.
static MPTRAMP_PA: AtomicU64 = AtomicU64::new(0);
pub const MPTRAMP_PAGES: u64 = 4;

/// Record where the trampoline goes (reserved by the boot memory code).
pub fn set_mptramp_pa(pa: u64) {
    MPTRAMP_PA.store(pa, Ordering::Relaxed);
}

/// How long an AP may take from its startup IPI to `cpu_hatch` signalling.
/// Generous: under TCG eight vCPUs may share two host cores.
const HATCH_TIMEOUT_US: u64 = 2_000_000;

/// Copy the trampoline to its page and build its page tables: the first
/// 2 MiB identity-mapped (where the trampoline runs) plus the kernel half
/// of the kernel's PML4 (where it jumps). Returns its physical address.
fn mptramp_setup() -> Option<u64> {
    let pa = MPTRAMP_PA.load(Ordering::Relaxed);
    if pa == 0 {
        return None;
    }
    let start = &raw const mptramp_start as u64;
    let len = &raw const mptramp_end as u64 - start;
    assert!(len <= PAGE_SIZE, "mptramp: trampoline larger than a page");
    let (pml4, pdpt, pd) = (pa + PAGE_SIZE, pa + 2 * PAGE_SIZE, pa + 3 * PAGE_SIZE);
    // SAFETY: the four pages were reserved for the trampoline at boot, are
    // RAM reachable through the direct map, and no AP is running in them.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, phys_to_kva(pa) as *mut u8, len as usize);
        for t in [pml4, pdpt, pd] {
            core::ptr::write_bytes(phys_to_kva(t) as *mut u8, 0, PAGE_SIZE as usize);
        }
        let k = phys_to_kva(pmap::kernel_pml4()) as *const u64;
        let t = phys_to_kva(pml4) as *mut u64;
        for i in 256..512 {
            t.add(i).write(k.add(i).read());
        }
        t.write(pdpt | PG_V | PG_RW);
        (phys_to_kva(pdpt) as *mut u64).write(pd | PG_V | PG_RW);
        (phys_to_kva(pd) as *mut u64).write(PG_V | PG_RW | PG_PS);
    }
    Some(pa)
}

/// Fill the trampoline's parameter block for one AP.
fn mptramp_params(pa: u64, ci: &'static CpuInfoMd) {
    let start = &raw const mptramp_start as u64;
    let data_off = &raw const mptramp_data as u64 - start;
    let gdt = pa + data_off + offset_of!(MpTrampData, gdt) as u64;
    let code64 = pa + (&raw const mptramp_64 as u64 - start);
    let efer = EFER_LME | if ident().has_nx() { EFER_NXE } else { 0 };
    let d = MpTrampData {
        gdt: [0, SEG_KCODE64, SEG_KDATA],
        gdtr: [23, gdt as u16, (gdt >> 16) as u16, 0],
        farjmp: [code64 as u16, (code64 >> 16) as u16, crate::gdt::GSEL_KCODE, 0],
        cr3: pa + PAGE_SIZE,
        efer,
        kcr3: pmap::kernel_pml4(),
        stack: ci.ci_idle_stack.load(Ordering::Relaxed),
        arg: ci as *const CpuInfoMd as u64,
        entry: &raw const mp_entry64 as u64,
    };
    // SAFETY: the parameter block lies inside the trampoline page (checked
    // in mptramp_setup), 8-byte aligned, and no AP reads it until the
    // startup IPI that follows; the fence below orders the write before it.
    unsafe { (phys_to_kva(pa + data_off) as *mut MpTrampData).write_volatile(d) };
    core::sync::atomic::fence(Ordering::SeqCst);
}

/// Start every other CPU the MADT lists, one at a time. Before: on the
/// boot CPU in `cpu_configure` (heap, page allocator, local APIC and
/// calibrated clocks work). After: every AP that answered is attached and
/// running `cpu_hatch_mi`; one that did not is reported and left out.
pub fn cpu_boot_secondaries() {
    let Some(acpi) = crate::acpi::acpi_info() else {
        return;
    };
    let bsp = cpu0().ci_apicid;
    let aps = || acpi.lapics().iter().filter(move |l| l.apic_id != bsp);
    if aps().next().is_none() {
        return;
    }
    let Some(tramp) = mptramp_setup() else {
        log::warn!("cpu: no low memory for the AP trampoline; running uniprocessor");
        return;
    };
    // INIT every AP first, so the mandated 10 ms settle time is paid once.
    for l in aps() {
        lapic::lapic_send(l.apic_id, ICR_DM_INIT | ICR_LEVEL_ASSERT);
    }
    clock::delay_us(10_000);
    let mut next = 1u32;
    for l in aps() {
        if !lapic::x2apic_mode() && l.apic_id > 0xfe {
            log::warn!("cpu: apid {} needs x2APIC, which this CPU lacks; not started", l.apic_id);
            continue;
        }
        if next as usize >= MAXCPUS {
            log::warn!("cpu: apid {} beyond MAXCPUS ({MAXCPUS}), not started", l.apic_id);
            continue;
        }
        let ci = cpu_alloc(next, l.apic_id);
        mptramp_params(tramp, ci);
        let vector = (tramp >> 12) as u32;
        // Two startup IPIs, as Intel's MP protocol says; a CPU already
        // started ignores the second.
        for _ in 0..2 {
            lapic::lapic_send(l.apic_id, ICR_DM_STARTUP | vector);
            clock::delay_us(200);
        }
        let deadline = clock::nanouptime() + HATCH_TIMEOUT_US * 1000;
        while ci.ci_md_flags.load(Ordering::Acquire) & CIF_HATCHED == 0 && clock::nanouptime() < deadline {
            core::hint::spin_loop();
        }
        if ci.ci_md_flags.load(Ordering::Acquire) & CIF_HATCHED == 0 {
            // Its memory is leaked on purpose: it might still wake up.
            log::warn!("cpu{next}: apid {} did not start", l.apic_id);
            continue;
        }
        cpu_attach(&ci.ci_mi, false);
        log::info!("cpu{next} at mainbus0: apid {} (application processor)", l.apic_id);
        ci.ci_md_flags.fetch_or(CIF_GO, Ordering::Release);
        next += 1;
    }
    if acpi.lapics_dropped > 0 {
        log::warn!("cpu: {} more processors beyond MAXCPUS ignored", acpi.lapics_dropped);
    }
}

/// A `cpu_info` for an AP, with its idle and interrupt stacks, GDT and TSS.
fn cpu_alloc(cpuid: u32, apicid: u32) -> &'static CpuInfoMd {
    let p: *mut CpuInfoMd = Box::leak(Box::new(CpuInfoMd::new(cpuid, apicid)));
    // SAFETY: leaked, so it stays at `p` for good; its CPU has not started.
    unsafe { CpuInfoMd::init_self(p) };
    // SAFETY: as above; from here on it is only shared.
    let ci: &'static CpuInfoMd = unsafe { &*p };
    let top = pmap::kstack_alloc(KSTACK_PAGES);
    ci.ci_idle_stack.store(top, Ordering::Relaxed);
    // SAFETY: the CPU has not started; nothing else sees this TSS/GDT.
    unsafe {
        ci.alloc_istacks();
        (*ci.ci_gdt.get()).set_tss(ci.ci_tss.get() as u64);
        ci.set_kstack_top(top);
    }
    ci
}

/// An AP's first Rust code, from `mp_entry64`, on its idle stack with the
/// kernel page tables loaded and interrupts masked. Sets up the CPU (its
/// GDT, TSS, GS base, the IDT, features, local APIC and clock), reports
/// in, waits to be attached and enters the MI code. Never returns.
pub extern "C" fn cpu_hatch(ci: *const CpuInfoMd) -> ! {
    // SAFETY: the boot CPU passed a `&'static CpuInfoMd` through the
    // trampoline (`MpTrampData::arg`).
    let ci: &'static CpuInfoMd = unsafe { &*ci };
    cpu_enable_features();
    // SAFETY: this CPU's own GDT/TSS, allocated for it and never moved;
    // interrupts are masked.
    unsafe { gdt_load(ci.ci_gdt.get(), ci as *const CpuInfoMd as u64) };
    cpu_init_syscall();
    crate::intr::idt_load();
    lapic::lapic_enable();
    clock::cpu_startclock();
    ci.ci_md_flags.fetch_or(CIF_HATCHED, Ordering::Release);
    while ci.ci_md_flags.load(Ordering::Acquire) & CIF_GO == 0 {
        core::hint::spin_loop();
    }
    kern::init_main::cpu_hatch_mi()
}
