//! The arm64 machine: the `Machdep` implementation the MI kernel calls,
//! the boot flow from locore to `kern::init_main::main`, power off, and
//! the user register state (setregs, signal delivery, copyin/copyout).

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use kern::bootinfo::{BootInfo, MAX_MEM_REGIONS, MemRegion};
use kern::cpu::CpuInfo;
use kern::machdep::{Efault, Machdep, Pcb, TrapFrame as MiTrapFrame};
use uvm::pmap::{PmapRef, VmProt};
use uvm::{round_page, trunc_page};

use crate::trap::{PSR_BTYPE, PSR_EL0T, PSR_USER_BITS, TrapFrame};
use crate::{clock, cons, cpu, fdt, gic, intr, locore, pmap, psci, selftest, vm_machdep};

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
    pmap::asid_init();
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
    /// released into `cpu_hatch_mi`; the MD self-tests of threads, user
    /// pmaps and user copies passed (they panic otherwise).
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
        selftest::run(m.bootargs);
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

    /// CNTVCT_EL0, common to all CPUs; CNTFRQ_EL0 is set by firmware.
    fn cpu_counter() -> u64 {
        clock::count()
    }
    fn cpu_counter_freq() -> u64 {
        clock::freq()
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
        vm_machdep::kstack_alloc()
    }

    fn kstack_free(top: usize) {
        vm_machdep::kstack_free(top)
    }

    fn cpu_thread_init(pcb: &mut Pcb, kstack_top: usize, func: fn(usize), arg: usize) {
        vm_machdep::cpu_thread_init(pcb, kstack_top, func, arg)
    }

    fn cpu_fork(parent_tf: *const MiTrapFrame, child: &mut Pcb, kstack_top: usize, stack: usize, tls: u64) {
        vm_machdep::cpu_fork(parent_tf, child, kstack_top, stack, tls)
    }

    fn trapframe_of(kstack_top: usize) -> *mut MiTrapFrame {
        vm_machdep::trapframe_of(kstack_top) as *mut MiTrapFrame
    }

    /// Interrupts masked, `old`/`new` live (checked: interrupts). Sets
    /// this CPU's current Pcb (for copy fault recovery) and TPIDR_EL0; the
    /// kernel entry stack is implicit (SP_EL1 travels with the thread).
    fn cpu_switchto(old: *mut Pcb, new: *const Pcb) {
        // SAFETY: the MI caller upholds cpu_switchto's contract (live
        // Pcbs, prepared by cpu_thread_init/cpu_fork or a previous switch).
        unsafe { vm_machdep::cpu_switchto(old, new) }
    }

    fn setregs(tf: *mut MiTrapFrame, pcb: &mut Pcb, entry: u64, sp: u64) {
        setregs(md_tf(tf), pcb, entry, sp)
    }

    fn sendsig(tf: *mut MiTrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
        sendsig(md_tf(tf), catcher, sig, mask)
    }

    fn sigreturn(tf: *mut MiTrapFrame, scp: u64) -> Result<u32, i32> {
        sigreturn(md_tf(tf), scp)
    }

    /// `mov x0, sp; mov x8, #SYS_sigreturn; svc #0; udf #0` (locore).
    fn sigcode() -> &'static [u8] {
        locore::sigcode_bytes()
    }
    /// EM_AARCH64: the only user programs exec accepts here.
    fn elf_machine() -> u16 {
        183
    }

    /// (ELR, SP_EL0) of the frame.
    fn tf_pc_sp(tf: *const MiTrapFrame) -> (u64, u64) {
        // SAFETY: the MI code only passes frames the arch gave it.
        let tf = unsafe { &*(tf as *const TrapFrame) };
        (tf.tf_elr, tf.tf_sp)
    }

    fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault> {
        copyin(uaddr, dst)
    }

    fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault> {
        copyout(src, uaddr)
    }
}

impl uvm::pmap::Pmap for Arm64 {
    fn pmap_create() -> Option<PmapRef> {
        pmap::pmap_create()
    }
    fn pmap_destroy(pm: PmapRef) {
        pmap::pmap_destroy(pm)
    }
    fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
        pmap::pmap_enter(pm, va, pa, prot)
    }
    fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
        pmap::pmap_remove(pm, sva, eva)
    }
    fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
        pmap::pmap_protect(pm, sva, eva, prot)
    }
    fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
        pmap::pmap_extract(pm, va)
    }
    fn pmap_activate(pm: PmapRef) {
        pmap::pmap_activate(pm)
    }
    fn pmap_deactivate(pm: PmapRef) {
        pmap::pmap_deactivate(pm)
    }
    fn pmap_purge(pm: PmapRef) {
        pmap::pmap_purge(pm)
    }
}

// ---------------------------------------------------------------------------
// User register state: exec, signals, user copies.
// ---------------------------------------------------------------------------

fn md_tf<'a>(tf: *mut MiTrapFrame) -> &'a mut TrapFrame {
    // SAFETY: the MI code only passes frames the arch gave it
    // (trapframe_of, or the frame of the trap it is handling), which are
    // live on the thread's kernel stack while it uses them.
    unsafe { &mut *(tf as *mut TrapFrame) }
}

/// setregs (execve): enter `entry` at EL0t with sp = x0 = `sp` and every
/// other register 0, flags clear, nothing masked; TPIDR_EL0 = 0 (also the
/// live register when `pcb` is the running thread's, since cpu_switchto
/// only loads it on the next switch).
pub fn setregs(tf: &mut TrapFrame, pcb: &mut Pcb, entry: u64, sp: u64) {
    *tf = TrapFrame { tf_x: [0; 31], tf_sp: sp, tf_elr: entry, tf_spsr: PSR_EL0T, tf_esr: 0, tf_far: 0 };
    tf.tf_x[0] = sp;
    pcb.pcb_tls = 0;
    if ptr::eq(pcb, cpu::curpcb()) {
        // SAFETY: TPIDR_EL0 is user state of the running thread.
        unsafe { core::arch::asm!("msr tpidr_el0, xzr", options(nomem, nostack)) };
    }
}

/// The signal context `sendsig` pushes on the user stack and `sigreturn`
/// takes back (oxbsd/arm64 `struct sigcontext`), 288 bytes:
///
/// | offset | field       | contents                                    |
/// |--------|-------------|---------------------------------------------|
/// | 0      | `sc_x[31]`  | x0-x30 when the signal was taken            |
/// | 248    | `sc_sp`     | the stack pointer (SP_EL0)                  |
/// | 256    | `sc_pc`     | where to resume (ELR)                       |
/// | 264    | `sc_spsr`   | NZCV and the other user-owned PSTATE bits   |
/// | 272    | `sc_mask`   | the signal mask to restore (u32)            |
/// | 276    | `sc_pad`    | 0                                           |
/// | 280    | `sc_spare`  | 0, reserved                                 |
///
/// It sits 16-byte aligned directly below the interrupted stack pointer;
/// the handler is entered with sp = x2 = its address and lr = SIGCODE_VA,
/// so when the handler returns, the trampoline finds it at sp. No FP/SIMD
/// state: user mode runs with FP/SIMD disabled.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigContext {
    pub sc_x: [u64; 31],
    pub sc_sp: u64,
    pub sc_pc: u64,
    pub sc_spsr: u64,
    pub sc_mask: u32,
    pub sc_pad: u32,
    pub sc_spare: u64,
}

const _: () = assert!(core::mem::size_of::<SigContext>() == 288);

impl SigContext {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C) of u64/u32 fields with no padding (size checked
        // above), so every byte is initialised.
        unsafe { core::slice::from_raw_parts(self as *const _ as *const u8, core::mem::size_of::<Self>()) }
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; any bit pattern is a valid SigContext.
        unsafe { core::slice::from_raw_parts_mut(self as *mut _ as *mut u8, core::mem::size_of::<Self>()) }
    }
}

/// sendsig: push a SigContext of `tf` below its user sp (copyout, so an
/// unmapped or read-only stack fails cleanly) and point `tf` at
/// `catcher(sig, 0, scp)` with sp = scp and lr = SIGCODE_VA. False, with
/// `tf` unchanged, when the context cannot be written.
pub fn sendsig(tf: &mut TrapFrame, catcher: u64, sig: u32, mask: u32) -> bool {
    let size = core::mem::size_of::<SigContext>() as u64;
    let Some(scp) = tf.tf_sp.checked_sub(size).map(|a| a & !15) else { return false };
    if scp < sys::vmparam::VM_MIN_ADDRESS as u64 {
        return false;
    }
    let sc = SigContext {
        sc_x: tf.tf_x,
        sc_sp: tf.tf_sp,
        sc_pc: tf.tf_elr,
        sc_spsr: tf.tf_spsr & PSR_USER_BITS,
        sc_mask: mask,
        sc_pad: 0,
        sc_spare: 0,
    };
    if copyout(sc.as_bytes(), scp).is_err() {
        return false;
    }
    tf.tf_x[0] = sig as u64;
    tf.tf_x[1] = 0;
    tf.tf_x[2] = scp;
    tf.tf_x[30] = sys::vmparam::SIGCODE_VA as u64;
    tf.tf_sp = scp;
    tf.tf_elr = catcher;
    // The handler starts afresh: no branch-type state from the
    // interrupted instruction.
    tf.tf_spsr &= PSR_USER_BITS & !PSR_BTYPE;
    true
}

/// sigreturn: restore `tf` from the SigContext at user address `scp`.
/// EFAULT when it cannot be read; EINVAL when its SPSR holds anything
/// beyond the user-owned bits (another exception level or stack, masked
/// interrupts, illegal state, single step...): such a frame would be a
/// way into the kernel. `tf` is unchanged on error.
pub fn sigreturn(tf: &mut TrapFrame, scp: u64) -> Result<u32, i32> {
    let mut sc = SigContext::default();
    copyin(scp, sc.as_bytes_mut()).map_err(|_| sys::errno::EFAULT)?;
    if sc.sc_spsr & !PSR_USER_BITS != 0 {
        return Err(sys::errno::EINVAL);
    }
    tf.tf_x = sc.sc_x;
    tf.tf_sp = sc.sc_sp;
    tf.tf_elr = sc.sc_pc;
    tf.tf_spsr = sc.sc_spsr;
    Ok(sc.sc_mask)
}

/// Whether `[uaddr, uaddr + len)` is inside user space (and does not wrap).
fn user_range_ok(uaddr: u64, len: usize) -> bool {
    uaddr >= sys::vmparam::VM_MIN_ADDRESS as u64
        && uaddr.checked_add(len as u64).is_some_and(|end| end <= sys::vmparam::VM_MAXUSER_ADDRESS as u64)
}

/// copyin: see `Machdep::copyin`. Unprivileged loads (LDTR), PAN stays on;
/// a fault resolves through kernel_pagefault when interrupts are enabled,
/// else (or if unresolved) ends the copy with EFAULT (trap.rs copy_fault).
/// Before: the current address space is the one `uaddr` belongs to.
pub fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), Efault> {
    if dst.is_empty() {
        return Ok(());
    }
    if !user_range_ok(uaddr, dst.len()) {
        return Err(Efault);
    }
    // SAFETY: `dst` is a valid kernel buffer of that length; user
    // accesses are unprivileged and their faults are recovered.
    match unsafe { locore::copyin_md(dst.as_mut_ptr(), uaddr, dst.len()) } {
        0 => Ok(()),
        _ => Err(Efault),
    }
}

/// copyout: as copyin, with unprivileged stores (STTR), so a read-only
/// user page faults even though the kernel could write it.
pub fn copyout(src: &[u8], uaddr: u64) -> Result<(), Efault> {
    if src.is_empty() {
        return Ok(());
    }
    if !user_range_ok(uaddr, src.len()) {
        return Err(Efault);
    }
    // SAFETY: as copyin.
    match unsafe { locore::copyout_md(uaddr, src.as_ptr(), src.len()) } {
        0 => Ok(()),
        _ => Err(Efault),
    }
}
