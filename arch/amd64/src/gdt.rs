//! Per-CPU global descriptor table and task state segment.
//!
//! Each CPU has its own GDT because its TSS descriptor must be its own (the
//! CPU marks it busy on `ltr`), and its own TSS for the interrupt stacks
//! (IST): double fault, NMI and machine check run on stacks of their own,
//! so a kernel stack overflow into its guard page, which turns the page
//! fault into a double fault, still gets a working stack for the dump.
//!
//! The selector order is the one SYSCALL/SYSRET require (kernel code 0x08,
//! kernel data 0x10 = STAR[47:32] + 8; then STAR[63:48] = 0x18 for SYSRET,
//! which takes user data from 0x18 + 8 = 0x20 and 64-bit user code from
//! 0x18 + 16 = 0x28, both with RPL 3), as in OpenBSD's GCODE_SEL ..
//! GUCODE_SEL; the TSS follows at 0x30. Slot 0x18 is where a 32-bit user
//! code segment would go (only a 32-bit SYSRET uses it): oxbsd runs no
//! 32-bit code, so the slot stays null and a far jump to compatibility mode
//! faults (#GP, SIGSEGV) instead of reaching the unused CSTAR entry.

use core::arch::asm;

use crate::cpufunc::{MSR_GSBASE, wrmsr};

pub const GSEL_KCODE: u16 = 0x08;
pub const GSEL_KDATA: u16 = 0x10;
/// STAR[63:48]: the base SYSRET adds 8 (SS) and 16 (CS) to.
pub const GSEL_USYSRET: u16 = 0x18;
pub const GSEL_UDATA: u16 = 0x20;
pub const GSEL_UCODE: u16 = 0x28;
pub const GSEL_TSS: u16 = 0x30;
/// User selectors as the CPU holds them in user mode (RPL 3).
pub const GSEL_UDATA_SEL: u16 = GSEL_UDATA | 3;
pub const GSEL_UCODE_SEL: u16 = GSEL_UCODE | 3;

/// IST slots (1-based, as the IDT encodes them).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
pub const IST_MACHINE_CHECK: u8 = 3;

// Flat segment descriptors: G, L (code) or D/B (data), P, DPL, S, type.
pub const SEG_KCODE64: u64 = 0x00af_9a00_0000_ffff;
pub const SEG_KDATA: u64 = 0x00cf_9200_0000_ffff;
const SEG_UDATA: u64 = 0x00cf_f200_0000_ffff;
const SEG_UCODE64: u64 = 0x00af_fa00_0000_ffff;

const TSS_SIZE: usize = 104;
/// Offset of RSP0 (the stack for entries from user mode) in the TSS.
pub const TSS_RSP0: usize = 4;
/// Present, DPL 0, type 9: available 64-bit TSS.
const SDT_SYS386TSS_P: u64 = 0x89;

/// The 64-bit TSS, as 26 aligned dwords: its 64-bit fields sit at 4 mod 8
/// offsets, so a struct would have to be packed.
#[repr(C, align(16))]
pub struct Tss([u32; TSS_SIZE / 4]);

impl Tss {
    pub const fn new() -> Tss {
        let mut t = [0u32; TSS_SIZE / 4];
        // No I/O permission bitmap: its offset is the segment limit + 1.
        t[25] = (TSS_SIZE as u32) << 16;
        Tss(t)
    }

    fn set_u64(&mut self, byte_off: usize, v: u64) {
        self.0[byte_off / 4] = v as u32;
        self.0[byte_off / 4 + 1] = (v >> 32) as u32;
    }

    /// The stack the CPU switches to on an interrupt or exception taken in
    /// user mode (`cpu_switchto` rewrites it at every switch, in asm).
    pub fn set_rsp0(&mut self, top: u64) {
        self.set_u64(TSS_RSP0, top);
    }

    /// The current RSP0.
    pub fn rsp0(&self) -> u64 {
        self.0[TSS_RSP0 / 4] as u64 | (self.0[TSS_RSP0 / 4 + 1] as u64) << 32
    }

    /// Interrupt stack `n` (1..=7).
    pub fn set_ist(&mut self, n: u8, top: u64) {
        assert!((1..=7).contains(&n));
        self.set_u64(36 + 8 * (n as usize - 1), top);
    }
}

impl Default for Tss {
    fn default() -> Self {
        Self::new()
    }
}

#[repr(C, align(16))]
pub struct Gdt([u64; 8]);

impl Gdt {
    pub const fn new() -> Gdt {
        Gdt([0, SEG_KCODE64, SEG_KDATA, 0, SEG_UDATA, SEG_UCODE64, 0, 0])
    }

    /// Point the TSS descriptor at `tss` (a kernel virtual address).
    pub fn set_tss(&mut self, tss: u64) {
        let limit = (TSS_SIZE - 1) as u64;
        let lo = (limit & 0xffff)
            | (tss & 0xff_ffff) << 16
            | SDT_SYS386TSS_P << 40
            | (limit >> 16 & 0xf) << 48
            | (tss >> 24 & 0xff) << 56;
        self.0[(GSEL_TSS >> 3) as usize] = lo;
        self.0[(GSEL_TSS >> 3) as usize + 1] = tss >> 32;
    }
}

impl Default for Gdt {
    fn default() -> Self {
        Self::new()
    }
}

#[repr(C, packed)]
struct DescriptorTablePointer {
    limit: u16,
    base: u64,
}

/// Load `gdt` on this CPU, reload every segment register from it, load its
/// TSS and set GS base to `gsbase` (the CPU's `cpu_info`).
///
/// # Safety
/// `gdt` must stay valid and in place for as long as the CPU runs, with its
/// TSS descriptor pointing at a TSS that does too, and neither may have
/// been loaded on another CPU. Interrupts must be masked: GS base is
/// briefly wrong (loading %gs may clear it).
pub unsafe fn gdt_load(gdt: *const Gdt, gsbase: u64) {
    let dtr = DescriptorTablePointer { limit: (core::mem::size_of::<Gdt>() - 1) as u16, base: gdt as u64 };
    // SAFETY: per the contract, `gdt` is valid forever; its code and data
    // descriptors are the flat kernel ones the running code already uses,
    // so reloading CS (by a far return), SS and the data segments changes
    // nothing but the table they come from.
    unsafe {
        asm!("lgdt [{}]", in(reg) &dtr, options(readonly, nostack, preserves_flags));
        asm!(
            "pushq ${sel}",
            "leaq 2f(%rip), {tmp}",
            "pushq {tmp}",
            "lretq",
            "2:",
            sel = const GSEL_KCODE,
            tmp = out(reg) _,
            options(att_syntax, preserves_flags),
        );
        asm!(
            "mov ds, {0:x}",
            "mov es, {0:x}",
            "mov ss, {0:x}",
            in(reg) GSEL_KDATA,
            options(nostack, preserves_flags)
        );
        asm!("mov fs, {0:x}", "mov gs, {0:x}", in(reg) 0u16, options(nostack, preserves_flags));
        asm!("ltr {0:x}", in(reg) GSEL_TSS, options(nostack, preserves_flags));
        wrmsr(MSR_GSBASE, gsbase);
    }
}
