//! Single x86 instructions the rest of the backend needs (OpenBSD's
//! `cpufunc.h`) and the architectural register bits (`specialreg.h`).
//!
//! Each wrapper is one instruction with no memory-safety effect of its own
//! except where it is `unsafe`: those change machine state (paging,
//! descriptor tables, MSRs, devices) and their callers must say why that is
//! sound at the call site.

use core::arch::asm;

// CR0
pub const CR0_PE: u64 = 1 << 0;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR0_PG: u64 = 1 << 31;

// CR4
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_PCIDE: u64 = 1 << 17;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;

// MSRs
pub const MSR_APICBASE: u32 = 0x1b;
pub const APICBASE_X2APIC: u64 = 1 << 10;
pub const APICBASE_ENABLE: u64 = 1 << 11;
pub const MSR_EFER: u32 = 0xc000_0080;
pub const EFER_SCE: u64 = 1 << 0;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_NXE: u64 = 1 << 11;
/// SYSCALL/SYSRET selectors.
pub const MSR_STAR: u32 = 0xc000_0081;
/// 64-bit SYSCALL entry point.
pub const MSR_LSTAR: u32 = 0xc000_0082;
/// Compatibility-mode SYSCALL entry point.
pub const MSR_CSTAR: u32 = 0xc000_0083;
/// RFLAGS bits SYSCALL clears.
pub const MSR_SFMASK: u32 = 0xc000_0084;
pub const MSR_FSBASE: u32 = 0xc000_0100;
pub const MSR_GSBASE: u32 = 0xc000_0101;
/// The GS base SWAPGS exchanges with GS base (the user's while in the kernel).
pub const MSR_KERNELGSBASE: u32 = 0xc000_0102;

// RFLAGS
pub const PSL_C: u64 = 1 << 0;
/// Bit 1 always reads as 1.
pub const PSL_MBO: u64 = 1 << 1;
pub const PSL_PF: u64 = 1 << 2;
pub const PSL_AF: u64 = 1 << 4;
pub const PSL_Z: u64 = 1 << 6;
pub const PSL_N: u64 = 1 << 7;
pub const PSL_T: u64 = 1 << 8;
pub const PSL_I: u64 = 1 << 9;
pub const PSL_D: u64 = 1 << 10;
pub const PSL_V: u64 = 1 << 11;
pub const PSL_IOPL: u64 = 3 << 12;
pub const PSL_NT: u64 = 1 << 14;
pub const PSL_RF: u64 = 1 << 16;
pub const PSL_AC: u64 = 1 << 18;
pub const PSL_ID: u64 = 1 << 21;
/// The flags user code may change freely (popf, sigreturn); every other
/// bit of a user RFLAGS is fixed: IF and bit 1 set, the rest clear.
pub const PSL_USERCHANGE: u64 =
    PSL_C | PSL_PF | PSL_AF | PSL_Z | PSL_N | PSL_T | PSL_D | PSL_V | PSL_RF | PSL_AC | PSL_ID;
/// RFLAGS of a new user thread: interrupts on, nothing else.
pub const PSL_USER: u64 = PSL_MBO | PSL_I;

/// Result of one CPUID leaf.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    CpuidResult { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx }
}

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter (CR4.TSD is clear in
    // the kernel).
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[inline]
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: port reads in this kernel target devices the caller probed
    // (or ports that read as 0xff when absent); they touch no memory.
    unsafe { asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags)) };
    v
}

#[inline]
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as for `inb`.
    unsafe { asm!("in eax, dx", out("eax") v, in("dx") port, options(nomem, nostack, preserves_flags)) };
    v
}

/// Write a byte to an I/O port.
///
/// # Safety
/// The caller owns the device behind `port` and knows the write's effect.
#[inline]
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nostack, preserves_flags)) };
}

/// Write a 16-bit word to an I/O port.
///
/// # Safety
/// As for [`outb`].
#[inline]
pub unsafe fn outw(port: u16, v: u16) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("out dx, ax", in("dx") port, in("ax") v, options(nostack, preserves_flags)) };
}

/// Read a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (reading an absent MSR raises #GP).
#[inline]
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (hi as u64) << 32 | lo as u64
}

/// Write a model-specific register.
///
/// # Safety
/// `msr` must exist and the new value must keep the kernel's invariants.
#[inline]
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: delegated to the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack, preserves_flags))
    };
}

pub fn rcr0() -> u64 {
    let v: u64;
    // SAFETY: reading CR0 has no side effect.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// # Safety
/// The new CR0 must keep paging and protection consistent with the
/// current page tables and code.
pub unsafe fn lcr0(v: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) };
}

pub fn rcr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn rcr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// # Safety
/// `pa` must be a complete page-table hierarchy that maps the code, stack
/// and data in use, with the same meaning as the current one.
pub unsafe fn lcr3(pa: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr3, {}", in(reg) pa, options(nostack, preserves_flags)) };
}

pub fn rcr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effect.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// # Safety
/// Only bits the CPU supports may be set, and the change must not break
/// running code (e.g. SMAP while the kernel touches user pages).
pub unsafe fn lcr4(v: u64) {
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Load CR3 with `pa | pcid`, keeping the PCID's TLB entries (bit 63)
/// when `keep` and CR4.PCIDE is on; otherwise the PCID's (or, without
/// PCIDs, all) non-global entries are flushed.
///
/// # Safety
/// As for [`lcr3`]; `pcid` is 0 unless CR4.PCIDE is on, and `keep` only
/// when PCIDE is on and no entry tagged `pcid` is stale.
pub unsafe fn lcr3_pcid(pa: u64, pcid: u64, keep: bool) {
    let v = pa | pcid | if keep { 1 << 63 } else { 0 };
    // SAFETY: delegated to the caller.
    unsafe { asm!("mov cr3, {}", in(reg) v, options(nostack, preserves_flags)) };
}

/// Invalidate the TLB entry for `va` on this CPU (global entries too).
#[inline]
pub fn invlpg(va: u64) {
    // SAFETY: dropping a TLB entry only costs a later page walk.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) };
}

pub fn read_rflags() -> u64 {
    let v: u64;
    // SAFETY: pushfq/pop leaves the stack balanced and reads flags only.
    unsafe { asm!("pushfq", "pop {}", out(reg) v, options(nomem, preserves_flags)) };
    v
}

/// Mask interrupts. Also a compiler barrier (no `nomem`): accesses to
/// data an interrupt handler shares must not move outside the masked
/// section.
#[inline]
pub fn cli() {
    // SAFETY: masking interrupts cannot break memory safety.
    unsafe { asm!("cli", options(nostack)) };
}

/// Unmask interrupts; a compiler barrier like [`cli`].
///
/// # Safety
/// Interrupt handlers may run at once: the IDT and this CPU's state must be
/// ready for them, and no lock an interrupt handler takes may be held.
#[inline]
pub unsafe fn sti() {
    // SAFETY: delegated to the caller.
    unsafe { asm!("sti", options(nostack)) };
}

/// Halt until the next interrupt (or forever with interrupts masked).
#[inline]
pub fn hlt() {
    // SAFETY: HLT only waits.
    unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
}

/// Stop this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        cli();
        hlt();
    }
}

/// Run `f` with interrupts masked on this CPU, restoring the old state.
#[inline]
pub fn with_intr_disabled<R>(f: impl FnOnce() -> R) -> R {
    let on = read_rflags() & PSL_I != 0;
    cli();
    let r = f();
    if on {
        // SAFETY: interrupts were enabled when we were called, so the caller
        // was ready for them and still is.
        unsafe { sti() };
    }
    r
}
