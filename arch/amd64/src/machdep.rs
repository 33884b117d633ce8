//! The amd64 machine: the `Machdep` implementation the MI kernel calls,
//! the early boot flow (`init_x86_64`, after locore), autoconfiguration
//! (`cpu_configure`) and power-off.
//!
//! Boot flow, on the boot CPU with interrupts masked:
//! locore `pvh_start32` (long mode, boot page tables, boot stack) ->
//! `init_x86_64`: cpu_info + GDT/TSS + GS base, IDT, console, CPU features
//! -> copy what is needed out of PVH start_info -> parse ACPI -> the boot
//! memory list -> kernel page tables (`pmap_bootstrap`) -> local APIC ->
//! clock calibration -> guarded stacks -> attach cpu0 -> `main` on the
//! guarded stack. `main` calls back into `cpu_configure` once memory works.

use core::sync::atomic::{AtomicU64, Ordering};

use kern::bootinfo::{BootInfo, MAX_MEM_REGIONS, MemRegion};
use kern::cpu::CpuInfo;
use kern::machdep::Machdep;
use spin::Once;
use uvm::PAGE_SIZE;

use crate::acpi::{self, GAS_IO, GAS_MEMORY};
use crate::cpu::{self, LineBuf};
use crate::cpufunc::{self, MSR_APICBASE, PSL_I, halt_forever, outb, outw, rdmsr, read_rflags};
use crate::pmap::{self, BOOTMEM, MemList};
use crate::{clock, cons, intr, lapic};

/// The machine type bound to the MI kernel.
pub struct Amd64;

kern::bind_machdep!(Amd64);

// Each method's contract (what holds before and after) is the trait's, in
// kern/src/machdep.rs; the notes here say how amd64 meets it.
impl Machdep for Amd64 {
    /// Polled COM1 (`cons`); no lock, usable from NMI and panic.
    fn cnputs(s: &[u8]) {
        cons::cnputs(s)
    }

    /// `%gs:0` -> this CPU's `CpuInfoMd`. Valid from `cpu0_init` (boot CPU)
    /// or `cpu_hatch` (others) on.
    fn curcpu() -> &'static CpuInfo {
        &cpu::curcpu_md().ci_mi
    }

    /// After: RFLAGS.IF clear; returns 1 if it was set, else 0.
    fn intr_disable() -> usize {
        let on = read_rflags() & PSL_I != 0;
        cpufunc::cli();
        on as usize
    }

    /// After: RFLAGS.IF as it was before the matching `intr_disable`.
    fn intr_restore(state: usize) {
        if state != 0 {
            // SAFETY: interrupts were on when the matching intr_disable ran,
            // so this CPU was ready for them then and still is.
            unsafe { cpufunc::sti() };
        }
    }

    /// After: RFLAGS.IF set.
    fn intr_enable() {
        // SAFETY: the MI code enables interrupts only once this CPU's IDT,
        // local APIC and cpu_info are set up (after early init / hatch).
        unsafe { cpufunc::sti() };
    }

    /// `sti; hlt`: returns after one interrupt, with interrupts enabled.
    fn cpu_idle_wait() {
        // SAFETY: `sti` takes effect after the next instruction, so an
        // interrupt pending now is taken after `hlt` starts waiting, and
        // wakes it: no wakeup is lost between the caller's check and here.
        unsafe { core::arch::asm!("sti", "hlt", options(nostack)) };
    }

    /// See `cpu_configure` below.
    fn cpu_configure() {
        cpu_configure()
    }

    /// Fixed IPI on `LAPIC_IPI_VECTOR` to the CPU's APIC id (`ci_hwid`).
    fn send_ipi(cpuid: u32) {
        intr::send_ipi(cpuid)
    }

    /// NMI to all but self; the NMI handler halts. Bounded wait, no lock.
    fn cpu_halt_others() {
        intr::cpu_halt_others()
    }

    /// isa-debug-exit, then ACPI S5, then halt (see `powerdown` below).
    fn powerdown(status: u32) -> ! {
        powerdown(status)
    }

    /// `DMAP_BASE + pa`; the direct map covers all RAM (and the ACPI areas).
    fn phys_to_kva(pa: u64) -> u64 {
        pmap::phys_to_kva(pa)
    }

    /// TSC since kernel entry, scaled by the boot-time calibration; 0 until
    /// `clock::calibrate` ran (before `main`).
    fn nanouptime() -> u64 {
        clock::nanouptime()
    }

    /// Reads the unmapped guard page under this CPU's stack. After: never
    /// returns (the #PF handler dumps registers and panics).
    fn trap_selftest() {
        let top = cpu::curcpu_md().ci_idle_stack.load(Ordering::Relaxed);
        let guard = top - (pmap::KSTACK_PAGES + 1) * PAGE_SIZE;
        // SAFETY: not sound as a memory access, on purpose: the read faults
        // and the trap handler panics; it never returns a value.
        unsafe { core::ptr::read_volatile(guard as *const u64) };
    }
    fn kstack_alloc() -> Option<usize> {
        None
    }
    fn kstack_free(_top: usize) {
        unimplemented!("kstack_free")
    }
    fn cpu_thread_init(_pcb: &mut kern::machdep::Pcb, _top: usize, _func: fn(usize), _arg: usize) {
        unimplemented!("cpu_thread_init")
    }
    fn cpu_fork(
        _tf: *const kern::machdep::TrapFrame,
        _child: &mut kern::machdep::Pcb,
        _top: usize,
        _stack: usize,
        _tls: u64,
    ) {
        unimplemented!("cpu_fork")
    }
    fn trapframe_of(_top: usize) -> *mut kern::machdep::TrapFrame {
        unimplemented!("trapframe_of")
    }
    fn cpu_switchto(_old: *mut kern::machdep::Pcb, _new: *const kern::machdep::Pcb) {
        unimplemented!("cpu_switchto")
    }
    fn setregs(_tf: *mut kern::machdep::TrapFrame, _pcb: &mut kern::machdep::Pcb, _entry: u64, _sp: u64) {
        unimplemented!("setregs")
    }
    fn sendsig(_tf: *mut kern::machdep::TrapFrame, _catcher: u64, _sig: u32, _mask: u32) -> bool {
        false
    }
    fn sigreturn(_tf: *mut kern::machdep::TrapFrame, _scp: u64) -> Result<u32, i32> {
        Err(sys::errno::ENOSYS)
    }
    fn sigcode() -> &'static [u8] {
        &[]
    }
    fn elf_machine() -> u16 {
        62
    }
    fn tf_pc_sp(_tf: *const kern::machdep::TrapFrame) -> (u64, u64) {
        (0, 0)
    }
    fn copyin(_uaddr: u64, _dst: &mut [u8]) -> Result<(), kern::machdep::Efault> {
        Err(kern::machdep::Efault)
    }
    fn copyout(_src: &[u8], _uaddr: u64) -> Result<(), kern::machdep::Efault> {
        Err(kern::machdep::Efault)
    }
}

// --- PVH start_info (Xen's arch-x86/hvm/start_info.h) ---

const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
const E820_RAM: u32 = 1;
const E820_ACPI: u32 = 3;
const E820_NVS: u32 = 4;
const MAX_CMDLINE: usize = 2048;
const MAX_MEMMAP: usize = 128;

/// What the MI `main` receives, copied out of firmware memory.
struct BootData {
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    usable: [MemRegion; MAX_MEM_REGIONS],
    nusable: usize,
    physmem: u64,
    platform: LineBuf,
}

static BOOTDATA: Once<BootData> = Once::new();

/// The first PVH module (the initrd), `[start, end)` physical, if any.
static INITRD: Once<Option<MemRegion>> = Once::new();

/// The initrd QEMU passed with `-initrd` (a PVH module). It is withheld
/// from the page allocator and reachable through `phys_to_kva`.
pub fn initrd() -> Option<MemRegion> {
    INITRD.get().copied().flatten()
}

/// Parsed start_info: everything read from it, owned by the kernel.
struct PvhInfo {
    /// `rsdp_paddr`, 0 if the loader gave none.
    rsdp: u64,
    /// RAM and ACPI areas: what the direct map covers.
    ram: MemList,
    /// Type-1 RAM: what may become free memory.
    usable: MemList,
    physmem: u64,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    initrd: Option<MemRegion>,
}

/// `len` bytes at physical `pa` through the boot identity map (< 4 GiB).
fn boot_phys(pa: u64, len: usize) -> &'static [u8] {
    assert!(pa != 0 && pa + len as u64 <= 4 << 30, "pvh: structure at {pa:#x} out of reach");
    // SAFETY: the boot page tables identity-map [0, 4 GiB) (checked above)
    // and nothing writes the firmware's structures while we copy them.
    unsafe { core::slice::from_raw_parts(pmap::phys_ptr(pa), len) }
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Copy out of start_info the memory map, command line, RSDP and initrd
/// location. Before: the boot identity map is live. After: nothing in low
/// memory is needed any more.
fn pvh_parse(si_pa: u64) -> PvhInfo {
    let si = boot_phys(si_pa, 56);
    if le32(si, 0) != XEN_HVM_START_MAGIC {
        panic!("pvh: bad start_info magic {:#x} at {si_pa:#x}", le32(si, 0));
    }
    let version = le32(si, 4);
    let mut p = PvhInfo {
        rsdp: le64(si, 32),
        ram: MemList::new(),
        usable: MemList::new(),
        physmem: 0,
        cmdline: [0; MAX_CMDLINE],
        cmdline_len: 0,
        initrd: None,
    };
    let cmd_pa = le64(si, 24);
    if cmd_pa != 0 {
        let avail = (4u64 << 30).saturating_sub(cmd_pa).min(MAX_CMDLINE as u64 - 1) as usize;
        let raw = boot_phys(cmd_pa, avail);
        let n = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        p.cmdline[..n].copy_from_slice(&raw[..n]);
        // Non-ASCII bytes become '?': the MI side wants a &str, and boot
        // words are ASCII.
        for c in &mut p.cmdline[..n] {
            if !c.is_ascii() {
                *c = b'?';
            }
        }
        p.cmdline_len = n;
    }
    if version < 1 || le32(si, 48) == 0 {
        panic!("pvh: start_info version {version} has no memory map");
    }
    let n = (le32(si, 48) as usize).min(MAX_MEMMAP);
    let map = boot_phys(le64(si, 40), n * 24);
    for e in map.chunks(24) {
        let (addr, size, typ) = (le64(e, 0), le64(e, 8), le32(e, 16));
        if typ == E820_RAM {
            p.physmem += size;
            p.usable.add(addr, addr + size);
        }
        // The direct map covers RAM and the ACPI areas (tables stay
        // readable through phys_to_kva).
        if matches!(typ, E820_RAM | E820_ACPI | E820_NVS) && !p.ram.add(addr, addr + size) {
            cons::cnputs(b"pvh: too many memory ranges, some RAM ignored\n");
        }
    }
    if le32(si, 12) > 0 && le64(si, 16) != 0 {
        let m = boot_phys(le64(si, 16), 32);
        let (start, size) = (le64(m, 0), le64(m, 8));
        if size != 0 {
            p.initrd = Some(MemRegion { start, end: start + size });
        }
    }
    p
}

/// Fill BOOTMEM with usable RAM: type-1 ranges minus page 0, the kernel
/// image, the initrd, the ACPI tables and the AP trampoline's pages.
/// Before: `acpi_init` ran (its table ranges are known).
fn bootmem_init(p: &PvhInfo) {
    let mut m = BOOTMEM.lock();
    for r in p.usable.as_slice() {
        m.add(r.start, r.end);
    }
    // Page 0 holds the real-mode IVT and BIOS data; never hand it out.
    m.remove(0, PAGE_SIZE);
    let (ks, ke) = pmap::kernel_phys_range();
    m.remove(ks, ke);
    if let Some(r) = p.initrd {
        m.remove(r.start, r.end);
    }
    if let Some(a) = acpi::acpi_info() {
        for &(s, e) in &a.ranges[..a.nranges] {
            m.remove(s, e);
        }
    }
    // The AP trampoline must sit below 1 MiB (the startup IPI's vector is
    // a page number under 0x100).
    if let Some(pa) = m.steal_top_below(cpu::MPTRAMP_PAGES, 0xa_0000) {
        cpu::set_mptramp_pa(pa);
    }
}

/// "QEMU q35" and the like, for the banner.
fn platform_name(out: &mut LineBuf) {
    use core::fmt::Write;
    let Some(a) = acpi::acpi_info() else {
        let _ = out.write_str("PC (no ACPI)");
        return;
    };
    let chipset = if a.hw_reduced {
        "microvm"
    } else if a.has_table(b"MCFG") {
        "q35"
    } else {
        "pc"
    };
    if &a.oem == b"BOCHS " {
        let _ = write!(out, "QEMU {chipset}");
    } else {
        let oem = core::str::from_utf8(&a.oem).unwrap_or("?").trim();
        let _ = write!(out, "{oem} {chipset}");
    }
}

/// The boot CPU's first Rust code, called by locore with start_info's
/// physical address. Before: long mode, boot page tables (4 GiB identity
/// map plus the image at KERNBASE), the .bss boot stack, interrupts
/// masked. It runs the early MD init (see the module comment) and leaves
/// everything `BootInfo` promises true, then calls `main` on the boot
/// CPU's guarded stack. Never returns.
pub extern "C" fn init_x86_64(start_info: u32) -> ! {
    clock::tsc_epoch_init();
    cpu::cpu0_init();
    intr::idt_init();
    intr::idt_load();
    cons::cninit();
    cpu::cpu_enable_features();

    let pvh = pvh_parse(start_info as u64);
    acpi::acpi_init(pvh.rsdp);
    bootmem_init(&pvh);
    INITRD.call_once(|| pvh.initrd);

    pmap::pmap_bootstrap(pvh.ram.as_slice(), cpu::ident().has_nx());

    let acpi = acpi::acpi_info();
    if acpi.is_none_or(|a| a.pcat_compat) {
        intr::pic_disable();
    }
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let msr_base = unsafe { rdmsr(MSR_APICBASE) } & 0x000f_ffff_ffff_f000;
    let lapic_pa = acpi.map_or(msr_base, |a| if a.lapic_pa != 0 { a.lapic_pa } else { msr_base });
    lapic::lapic_attach(lapic_pa, cpu::ident().has_x2apic());
    lapic::lapic_enable();
    clock::calibrate();

    let top = cpu::cpu0_init_stacks();
    kern::cpu::cpu_attach(&cpu::cpu0().ci_mi, true);

    let mut bd = BootData {
        cmdline: pvh.cmdline,
        cmdline_len: pvh.cmdline_len,
        usable: [MemRegion { start: 0, end: 0 }; MAX_MEM_REGIONS],
        nusable: 0,
        physmem: pvh.physmem,
        platform: LineBuf::new(),
    };
    {
        let m = BOOTMEM.lock();
        let s = m.as_slice();
        bd.usable[..s.len()].copy_from_slice(s);
        bd.nusable = s.len();
    }
    platform_name(&mut bd.platform);
    BOOTDATA.call_once(|| bd);
    pmap::pmap_steal_close();

    // SAFETY: `top` is the top of a freshly mapped stack nobody uses, and
    // `boot_main` never returns, so nothing on the boot stack is needed.
    unsafe { crate::locore::md_call_on_stack(0, top, boot_main) }
}

/// `main`, on the boot CPU's guarded stack.
extern "C" fn boot_main(_: usize) -> ! {
    let bd = BOOTDATA.get().expect("boot data");
    let bi = BootInfo {
        cmdline: core::str::from_utf8(&bd.cmdline[..bd.cmdline_len]).unwrap_or(""),
        usable: &bd.usable[..bd.nusable],
        physmem: bd.physmem,
        platform: bd.platform.as_str(),
        machine: "amd64",
        initrd: initrd(),
    };
    kern::init_main::main(&bi)
}

/// Kernel virtual address of the hardware-reduced ACPI sleep control
/// register when it is memory-mapped (mapped at autoconf so power-off
/// never has to touch the page tables).
static SLEEP_CTL_VA: AtomicU64 = AtomicU64::new(0);

/// Autoconfiguration (OpenBSD's mainbus/cpu/ioapic attach), on the boot
/// CPU, called by `main` with interrupts masked. Before: page allocator
/// and heap work; the local APIC is enabled and the clocks calibrated.
/// After: the attach lines are printed, every I/O APIC is masked, the boot
/// CPU's hardclock is armed (it ticks once `main` unmasks interrupts), and
/// every AP that answered its startup IPIs is attached and on its way into
/// `cpu_hatch_mi` with its own timer running.
fn cpu_configure() {
    use core::fmt::Write;
    log::info!("mainbus0 at root");
    let acpi = acpi::acpi_info();
    if let Some(a) = acpi {
        log::info!("bios0 at mainbus0");
        let mut l = LineBuf::new();
        let _ = a.version(&mut l);
        log::info!("acpi0 at bios0: ACPI {}", l.as_str());
        let mut l = LineBuf::new();
        for s in &a.sigs[..a.nsigs] {
            let _ = write!(l, " {}", core::str::from_utf8(s).unwrap_or("????"));
        }
        log::info!("acpi0: tables{}", l.as_str());
        if a.s5.is_some() {
            log::info!("acpi0: sleep states S5");
        }
        if a.pm_tmr_port != 0 {
            log::info!(
                "acpitimer0 at acpi0: 3579545 Hz, {} bits, port {:#x}",
                if a.pm_tmr_32bit { 32 } else { 24 },
                a.pm_tmr_port
            );
        }
        if a.have_madt {
            log::info!(
                "acpimadt0 at acpi0 addr {:#x}{}",
                a.lapic_pa,
                if a.pcat_compat { ": PC-AT compat" } else { "" }
            );
        }
        if a.hw_reduced && a.sleep_control.space == GAS_MEMORY && a.sleep_control.address != 0 {
            SLEEP_CTL_VA.store(pmap::pmap_mapdev(a.sleep_control.address, 1), Ordering::Release);
        }
    } else {
        log::warn!("acpi: no valid ACPI tables; one cpu, no I/O APIC");
    }

    cpu::cpu0_attach_print();
    log::info!(
        "lapic: {} at {:#x}, version {:#x}, timer {} MHz",
        if lapic::x2apic_mode() { "x2APIC" } else { "xAPIC" },
        lapic::lapic_pa(),
        lapic::lapic_version() & 0xff,
        clock::lapic_bus_hz() / 1_000_000
    );
    log::info!(
        "clock: lapic timer at {} Hz, tsc {} MHz, calibrated against {}",
        kern::param::HZ,
        clock::tsc_hz() / 1_000_000,
        clock::reference_name()
    );
    if let Some(a) = acpi {
        for (unit, io) in a.ioapics().iter().enumerate() {
            crate::ioapic::ioapic_attach(unit, io);
        }
        for o in a.overrides() {
            log::debug!("acpimadt0: isa irq {} -> gsi {}, flags {:#x}", o.source, o.gsi, o.flags);
        }
    }
    log::info!("isa0 at mainbus0");
    log::info!("com0 at isa0 port {:#x}: {}, console", cons::COM1, cons::com_type_name());

    clock::cpu_startclock();
    cpu::cpu_boot_secondaries();
}

/// isa-debug-exit: QEMU exits with `(value << 1) | 1`.
const DEBUG_EXIT_PORT: u16 = 0xf4;
const SLP_EN_PM1: u16 = 1 << 13;
const SLP_EN_HWR: u8 = 1 << 5;

/// Power off, reporting `status` to QEMU (see `Machdep::powerdown`):
/// isa-debug-exit, else ACPI S5, else halt forever.
fn powerdown(status: u32) -> ! {
    cpufunc::cli();
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit when configured and
    // unassigned (writes ignored) otherwise.
    unsafe { outb(DEBUG_EXIT_PORT, (0x10 | status) as u8) };
    acpi_poweroff();
    cons::cnputs(b"powerdown: the machine did not power off; halting\n");
    halt_forever()
}

/// Enter S5 with the sleep type from `\_S5`: PM1 control on a full ACPI
/// machine, the sleep control register on a hardware-reduced one.
fn acpi_poweroff() {
    let Some(a) = acpi::acpi_info() else { return };
    let Some((typa, typb)) = a.s5 else { return };
    // SAFETY: these are the ACPI power-management registers the FADT
    // names, written with the documented S5 sequence; the machine is going
    // down anyway.
    unsafe {
        if a.hw_reduced {
            let v = (typa & 7) << 2 | SLP_EN_HWR;
            let g = a.sleep_control;
            let va = SLEEP_CTL_VA.load(Ordering::Acquire);
            match g.space {
                GAS_IO if g.address <= 0xffff && g.address != 0 => outb(g.address as u16, v),
                GAS_MEMORY if va != 0 => core::ptr::write_volatile(va as *mut u8, v),
                _ => {}
            }
        } else {
            if a.pm1a_cnt != 0 {
                outw(a.pm1a_cnt, (typa as u16 & 7) << 10 | SLP_EN_PM1);
            }
            if a.pm1b_cnt != 0 {
                outw(a.pm1b_cnt, (typb as u16 & 7) << 10 | SLP_EN_PM1);
            }
        }
    }
    // Give the chipset a moment before declaring failure.
    for _ in 0..10_000_000 {
        core::hint::spin_loop();
    }
}

// Placeholders until this arch implements the process-model half of the
// MD interface (issue 3); nothing calls them yet.
impl uvm::pmap::Pmap for Amd64 {
    fn pmap_create() -> Option<uvm::pmap::PmapRef> {
        None
    }
    fn pmap_destroy(_pm: uvm::pmap::PmapRef) {
        unimplemented!("pmap_destroy")
    }
    fn pmap_enter(_pm: uvm::pmap::PmapRef, _va: u64, _pa: u64, _prot: uvm::pmap::VmProt) -> bool {
        false
    }
    fn pmap_remove(_pm: uvm::pmap::PmapRef, _sva: u64, _eva: u64) {
        unimplemented!("pmap_remove")
    }
    fn pmap_protect(_pm: uvm::pmap::PmapRef, _sva: u64, _eva: u64, _prot: uvm::pmap::VmProt) {
        unimplemented!("pmap_protect")
    }
    fn pmap_extract(_pm: uvm::pmap::PmapRef, _va: u64) -> Option<u64> {
        None
    }
    fn pmap_activate(_pm: uvm::pmap::PmapRef) {}
    fn pmap_deactivate(_pm: uvm::pmap::PmapRef) {}
    fn pmap_purge(_pm: uvm::pmap::PmapRef) {
        unimplemented!("pmap_purge")
    }
}
