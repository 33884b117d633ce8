//! The arm64 machine: the `Machdep` implementation the MI kernel calls,
//! the boot flow from locore to `kern::init_main::main`, and power off.

use core::sync::atomic::{AtomicBool, Ordering};

use kern::bootinfo::{BootInfo, MAX_MEM_REGIONS, MemRegion};
use kern::cpu::CpuInfo;
use kern::machdep::Machdep;
use uvm::{round_page, trunc_page};

use crate::{clock, cons, cpu, fdt, gic, intr, locore, pmap, psci};

/// The arm64 implementation of the MD interface.
pub struct Arm64;

kern::bind_machdep!(Arm64);

/// Or-ed into the exit status given to QEMU (see `powerdown`).
pub const EXIT_TAG: u32 = 0x10;

/// Set by `powerdown` so the trap handler knows an undefined `hlt` is the
/// semihosting call failing, not a bug.
static POWERING_DOWN: AtomicBool = AtomicBool::new(false);

pub fn powering_down() -> bool {
    POWERING_DOWN.load(Ordering::SeqCst)
}

/// Unserialised console output for the trap path's last words.
pub fn console_emergency(s: &[u8]) {
    cons::cnputs(s);
}

/// Memory map handed to the MI code, built once before `main`.
struct BootMem {
    usable: [MemRegion; MAX_MEM_REGIONS],
    n: usize,
    physmem: u64,
}

static BOOTMEM: spin::Once<BootMem> = spin::Once::new();

impl BootMem {
    fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        assert!(self.n < MAX_MEM_REGIONS, "too many memory regions");
        self.usable[self.n] = MemRegion { start, end };
        self.n += 1;
    }

    /// Remove `[s, e)` from every region, splitting where needed.
    fn remove(&mut self, s: u64, e: u64) {
        let (s, e) = (trunc_page(s), round_page(e));
        let old = self.usable;
        let n = self.n;
        self.n = 0;
        for r in &old[..n] {
            if e <= r.start || s >= r.end {
                self.add(r.start, r.end);
            } else {
                self.add(r.start, s.max(r.start).min(r.end));
                self.add(e.min(r.end).max(r.start), r.end);
            }
        }
    }

    fn sort(&mut self) {
        self.usable[..self.n].sort_unstable_by_key(|r| r.start);
    }
}

/// Usable RAM: every RAM range the device tree lists (page aligned and
/// within reach of the direct map), minus what is in use.
fn build_bootmem(m: &fdt::MachInfo) -> BootMem {
    let mut bm = BootMem { usable: [MemRegion { start: 0, end: 0 }; MAX_MEM_REGIONS], n: 0, physmem: 0 };
    for &(start, size) in m.mem.as_slice() {
        bm.physmem += size;
        bm.add(round_page(start), trunc_page((start + size).min(pmap::DMAP_MAX_PA)));
    }
    let (ks, ke) = pmap::kernel_image_pa();
    bm.remove(ks, ke);
    bm.remove(m.dtb.0, m.dtb.0 + m.dtb.1);
    if let Some((s, e)) = m.initrd {
        bm.remove(s, e);
    }
    for &(s, len) in m.rsv.as_slice() {
        bm.remove(s, s + len);
    }
    bm.sort();
    bm
}

/// First Rust code on the boot CPU (from locore `primary_high`).
///
/// Before: EL1, MMU on with the boot tables (image in TTBR1 with RWX
/// blocks, identity map of the image and DTB in TTBR0), on the boot stack,
/// .bss clear, VBAR_EL1 set, interrupts masked. `dtb_pa` is the device
/// tree from x0, `load_pa` where the image was loaded, `boot_el` the
/// exception level the loader entered us at.
/// After (never returns): everything `BootInfo` promises holds, and the
/// boot CPU runs `kern::init_main::main` on its own guarded kernel stack.
pub extern "C" fn arm64_init(dtb_pa: u64, load_pa: u64, boot_el: u64) -> ! {
    cpu::early_primary(boot_el);
    // SAFETY: the vectors are installed; let SErrors be reported.
    unsafe { core::arch::asm!("msr daifclr, #4", options(nostack)) };

    let mem = fdt::early_memory(dtb_pa);
    let mut ram = [(0u64, 0u64); fdt::MAX_MEM];
    let n = mem.as_slice().len();
    for (i, &(s, len)) in mem.as_slice().iter().enumerate() {
        ram[i] = (s, s + len);
    }
    pmap::bootstrap(load_pa, &ram[..n]);
    fdt::scan(pmap::phys_to_kva(dtb_pa), dtb_pa);
    pmap::drop_idmap();

    let m = fdt::mach();
    if let Some((pa, _)) = m.uart {
        cons::init(pa);
    }
    psci::init();
    let stack = cpu::attach_primary();
    pmap::close_boot_pool();
    BOOTMEM.call_once(|| build_bootmem(m));
    // SAFETY: `stack` is this CPU's fresh, mapped kernel stack; nothing on
    // the boot stack is used after the switch.
    unsafe { locore::call_on_stack(0, stack.hi, boot_main) }
}

extern "C" fn boot_main(_: u64) -> ! {
    let m = fdt::mach();
    let bm = BOOTMEM.get().expect("boot memory map");
    let bi = BootInfo {
        cmdline: m.bootargs,
        usable: &bm.usable[..bm.n],
        physmem: bm.physmem,
        platform: m.model,
        machine: "arm64",
        initrd: m.initrd.map(|(start, end)| MemRegion { start, end }),
    };
    kern::init_main::main(&bi)
}

/// Mask everything and wait forever.
fn halt_forever() -> ! {
    loop {
        intr::intr_disable();
        aarch64_cpu::asm::wfi();
    }
}

/// Called by the trap handler when powerdown's semihosting call trapped.
pub fn powerdown_fallback() -> ! {
    psci::system_off();
    cons::cnputs(b"powerdown: no semihosting and no PSCI; halting\n");
    halt_forever()
}

impl Machdep for Arm64 {
    /// Polled PL011 output; a no-op until `arm64_init` mapped the UART.
    fn cnputs(s: &[u8]) {
        cons::cnputs(s)
    }

    /// TPIDR_EL1, set before any Rust code runs on a CPU.
    fn curcpu() -> &'static CpuInfo {
        &cpu::curcpu_md().ci
    }

    /// Masks IRQ and FIQ (DAIF.I, DAIF.F); returns the old DAIF.
    fn intr_disable() -> usize {
        intr::intr_disable()
    }

    /// Writes back a DAIF value from `intr_disable`.
    fn intr_restore(state: usize) {
        intr::intr_restore(state)
    }

    /// Clears DAIF.I and DAIF.F. Before: the GIC is attached (or nothing
    /// can interrupt yet).
    fn intr_enable() {
        intr::intr_enable()
    }

    /// `wfi`, then unmask: see `intr::cpu_idle_wait`.
    fn cpu_idle_wait() {
        intr::cpu_idle_wait()
    }

    /// Before: heap and page allocator work; boot CPU only, interrupts
    /// masked. After: GIC, timer (ticking on cpu0 once interrupts are
    /// enabled), PSCI attached; every CPU that came up is attached and
    /// released into `cpu_hatch_mi`.
    fn cpu_configure() {
        let m = fdt::mach();
        pmap::selftest();
        if let Some(bm) = BOOTMEM.get() {
            for r in &bm.usable[..bm.n] {
                log::debug!("mainbus0: usable {:#x}-{:#x}", r.start, r.end);
            }
        }
        log::info!("mainbus0 at root: {}", m.model);
        cpu::configure_primary();
        psci::attach();
        gic::attach();
        clock::attach();
        cons::attach();
        if m.cpus_dropped() > 0 {
            log::warn!("mainbus0: {} more cpus than MAXCPUS ignored", m.cpus_dropped());
        }
        cpu::boot_secondaries();
    }

    /// SGI `gic::SGI_IPI` to an attached CPU. Before: `cpu_configure` ran.
    fn send_ipi(cpuid: u32) {
        intr::send_ipi(cpuid)
    }

    /// SGI `gic::SGI_HALT` to all others, waiting at most 100 ms for them
    /// to stop. Lock free. A no-op before the GIC is attached.
    fn cpu_halt_others() {
        cpu::halt_others()
    }

    /// Semihosting SYS_EXIT_EXTENDED hands `EXIT_TAG | status` to QEMU
    /// (with `-semihosting`), which exits with it: 16 after a clean halt,
    /// 17 after a panic, never confusable with QEMU's own exit 1 (the
    /// protocol of the README and tools/qemu.rs, shared with amd64).
    /// Without semihosting the `hlt` is undefined and the trap handler
    /// falls back to PSCI SYSTEM_OFF (status lost: QEMU exits 0).
    fn powerdown(status: u32) -> ! {
        intr::intr_disable();
        POWERING_DOWN.store(true, Ordering::SeqCst);
        const SYS_EXIT_EXTENDED: u64 = 0x20;
        const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;
        let block = [ADP_STOPPED_APPLICATION_EXIT, (EXIT_TAG | status) as u64];
        // SAFETY: a semihosting call reads the two-word block we pass; if
        // semihosting is off it traps and never returns here.
        unsafe {
            core::arch::asm!(
                "hlt #0xf000",
                inout("x0") SYS_EXIT_EXTENDED => _,
                in("x1") block.as_ptr(),
                options(nostack, readonly)
            );
        }
        powerdown_fallback()
    }

    /// `DMAP_BASE + pa`. Before: `arm64_init` built the direct map.
    fn phys_to_kva(pa: u64) -> u64 {
        pmap::phys_to_kva(pa)
    }

    /// The virtual counter scaled by CNTFRQ_EL0; works from the first
    /// instruction (it is the time since the machine started).
    fn nanouptime() -> u64 {
        clock::nanouptime()
    }

    /// Reads the lowest kernel-stack slot, which is never mapped.
    fn trap_selftest() {
        let p = pmap::VM_KSTACK_START as *const u64;
        // SAFETY: not safe at all on purpose: the read faults, and the
        // trap handler reports it and panics.
        let v = unsafe { p.read_volatile() };
        log::error!("trap_selftest: read {v:#x} from {p:p} without a fault");
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
        183
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

// Placeholders until this arch implements the process-model half of the
// MD interface (issue 3); nothing calls them yet.
impl uvm::pmap::Pmap for Arm64 {
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
