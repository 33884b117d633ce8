//! The lowest level: the Image header, the boot CPU's entry, the EL2 to
//! EL1 drop, the boot page tables and MMU enable, the secondary CPU entry,
//! and the exception vectors with their register save/restore.
//!
//! Everything before `primary_high`/`mpentry_high` runs with the MMU off
//! at whatever physical address the loader chose, so it only uses
//! PC-relative addressing (adr/adrp) for its own symbols; absolute link
//! addresses (`ldr xN, =sym`) are only loaded as data or as the branch
//! target that enters the higher half.

use core::arch::global_asm;
use core::mem::offset_of;
use core::sync::atomic::AtomicU64;

use kern::machdep::Pcb;

use crate::cpu::CpuInfoMd;
use crate::pmap::{self, KERNBASE, KSTACK_SHIFT, MAIR_VALUE, TEXT_OFFSET};
use crate::trap::{self, FRAME_SIZE};

// SCTLR_EL1 bits.
const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_SA: u64 = 1 << 3;
const SCTLR_SA0: u64 = 1 << 4;
const SCTLR_SED: u64 = 1 << 8;
const SCTLR_I: u64 = 1 << 12;
const SCTLR_DZE: u64 = 1 << 14;
const SCTLR_UCT: u64 = 1 << 15;
const SCTLR_NTWI: u64 = 1 << 16;
const SCTLR_NTWE: u64 = 1 << 18;
pub const SCTLR_WXN: u64 = 1 << 19;
/// When clear (and the CPU has PAN) every exception to EL1 sets PSTATE.PAN.
pub const SCTLR_SPAN: u64 = 1 << 23;
const SCTLR_UCI: u64 = 1 << 26;
/// Bits that are RES1 on an ARMv8.0 CPU (EOS, TSCXT, EIS, nTLSMD, LSMAOE);
/// later CPUs give them meanings whose "1" is the v8.0 behaviour.
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 28) | (1 << 29);
/// MMU and caches off, little-endian.
const SCTLR_MMU_OFF: u64 = SCTLR_RES1 | SCTLR_SPAN;
/// MMU and caches on, alignment checks on the stack, EL0 allowed to use
/// WFI/WFE, DC ZVA, CTR_EL0 and cache maintenance (as OpenBSD does).
/// WXN is left off while the boot tables (RWX blocks) are in use.
pub const SCTLR_BOOT: u64 = SCTLR_MMU_OFF
    | SCTLR_M
    | SCTLR_C
    | SCTLR_SA
    | SCTLR_SA0
    | SCTLR_SED
    | SCTLR_I
    | SCTLR_DZE
    | SCTLR_UCT
    | SCTLR_NTWI
    | SCTLR_NTWE
    | SCTLR_UCI;

/// TCR_EL1 without IPS and AS (filled in from ID_AA64MMFR0_EL1): 39-bit
/// VAs in both halves, 4 KiB granules, write-back inner-shareable walks.
const TCR_BASE: u64 = 25 // T0SZ
    | (1 << 8) | (1 << 10) | (3 << 12) // IRGN0, ORGN0 WBWA; SH0 inner
    | (25 << 16) // T1SZ
    | (1 << 24) | (1 << 26) | (3 << 28) // IRGN1, ORGN1, SH1
    | (2 << 30); // TG1 = 4 KiB
pub const TCR_AS: u64 = 1 << 36;

/// HCR_EL2 for running the kernel at EL1: AArch64 EL1 (RW), and no traps
/// of pointer-authentication instructions or keys (API, APK).
const HCR_EL2_VALUE: u64 = (1 << 31) | (1 << 41) | (1 << 40);
/// SPSR for the eret to EL1: EL1h with D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// Image header flags: little-endian, 4 KiB pages, 2 MiB aligned base
/// anywhere in RAM.
const IMAGE_FLAGS: u64 = (1 << 1) | (1 << 3);

/// What a secondary CPU needs to turn its MMU on and find its stack, filled
/// by the boot CPU before CPU_ON. Read with the MMU off, so the writer
/// cleans it to the point of coherency. One CPU starts at a time.
#[repr(C)]
pub struct HatchBlock {
    pub mair: AtomicU64,
    pub tcr: AtomicU64,
    pub sctlr: AtomicU64,
    pub ttbr0_idmap: AtomicU64,
    pub ttbr1: AtomicU64,
    pub ttbr0: AtomicU64,
    pub sp: AtomicU64,
    pub ci: AtomicU64,
}

pub static CPU_HATCH: HatchBlock = HatchBlock {
    mair: AtomicU64::new(0),
    tcr: AtomicU64::new(0),
    sctlr: AtomicU64::new(0),
    ttbr0_idmap: AtomicU64::new(0),
    ttbr1: AtomicU64::new(0),
    ttbr0: AtomicU64::new(0),
    sp: AtomicU64::new(0),
    ci: AtomicU64::new(0),
};

unsafe extern "C" {
    /// Switch TTBR1_EL1 and SCTLR_EL1 with the kernel half unmapped in
    /// between (break-before-make for the whole half). Must be called at
    /// its identity-mapped physical address; uses no stack.
    pub fn idmap_switch_ttbr1(ttbr1: u64, sctlr: u64, empty_ttbr1: u64);
    /// Secondary CPU entry point for PSCI CPU_ON (physical address).
    pub fn mpentry();
    /// Continue on stack `sp` by calling `f(arg)`; never returns.
    pub fn call_on_stack(arg: u64, sp: u64, f: extern "C" fn(u64) -> !) -> !;
    static boot_idmap_l1: u8;
    static ttbr0_empty: u8;
}

/// Physical address of the identity-map level 1 table the boot code built.
pub fn idmap_pa() -> u64 {
    pmap::kimg_pa(&raw const boot_idmap_l1 as u64)
}

/// Physical address of an all-invalid level 1 table (TTBR0 while no user
/// address space is active).
pub fn empty_table_pa() -> u64 {
    pmap::kimg_pa(&raw const ttbr0_empty as u64)
}

global_asm!(
    r#"
    .section .text.head, "ax"
    .globl _start
_start:
    b       primary_entry               // code0
    .long   0                           // code1
    .quad   {TEXT_OFFSET}               // text_offset
    .quad   __kernel_size               // image_size: through bss and boot pool
    .quad   {IMAGE_FLAGS}               // flags
    .quad   0, 0, 0                     // res2-res4
    .long   0x644d5241                  // magic "ARM\x64"
    .long   0                           // res5 (no PE header)

    .section .text.boot, "ax"

// Boot CPU. x0 = physical address of the device tree; MMU off; EL2 or EL1.
primary_entry:
    mov     x19, x0
    mrs     x25, CurrentEL
    bl      el_setup
    adr     x20, _start                 // physical load address
    sub     x21, x20, #{TEXT_OFFSET}    // base of the 2 MiB kernel window
    tst     x21, #0x1fffff
    b.ne    boot_hang                   // not loaded per the Image protocol

    // Zero the boot page tables (MMU off: straight to memory).
    adrp    x0, boot_pt_start
    adrp    x1, boot_pt_end
1:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    1b

    // TTBR0: identity 1 GiB blocks over the image and the device tree,
    // read-only and executable, for the MMU-on transition and for reading
    // the device tree until the direct map exists.
    adrp    x22, boot_idmap_l1
    ldr     x2, ={BOOT_BLOCK_IDMAP}
    lsr     x0, x20, #30
    and     x0, x0, #511
    lsl     x1, x0, #30
    orr     x1, x1, x2
    str     x1, [x22, x0, lsl #3]
    cbz     x19, 2f
    lsr     x0, x19, #30
    and     x0, x0, #511
    lsl     x1, x0, #30
    orr     x1, x1, x2
    str     x1, [x22, x0, lsl #3]
2:
    // TTBR1: L1[0] -> boot L2, whose 2 MiB blocks map the kernel window
    // from x21 up to the end of the image (bss and boot pool included).
    adrp    x23, boot_l1
    adrp    x24, boot_l2
    orr     x0, x24, #3
    str     x0, [x23]
    ldr     x0, =__kernel_end
    ldr     x1, ={KERNBASE}
    sub     x0, x0, x1
    add     x0, x0, #0x200, lsl #12
    sub     x0, x0, #1
    lsr     x0, x0, #21                 // number of 2 MiB blocks
    ldr     x2, ={BOOT_BLOCK_RWX}
    orr     x1, x21, x2
    mov     x3, x24
3:  str     x1, [x3], #8
    add     x1, x1, #0x200, lsl #12
    subs    x0, x0, #1
    b.ne    3b

    // Drop any stale cache lines over the tables we wrote uncached, so the
    // first cacheable walk reads what is in memory.
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4
    mov     x4, #4
    lsl     x4, x4, x3                  // D-cache line size
    adrp    x0, boot_pt_start
    adrp    x1, boot_pt_end
4:  dc      ivac, x0
    add     x0, x0, x4
    cmp     x0, x1
    b.lo    4b
    dsb     sy

    ldr     x0, ={MAIR_VALUE}
    msr     mair_el1, x0
    bl      tcr_value
    msr     tcr_el1, x0
    msr     ttbr0_el1, x22
    msr     ttbr1_el1, x23
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x0, ={SCTLR_BOOT}
    msr     sctlr_el1, x0
    isb
    ic      iallu
    dsb     nsh
    isb
    ldr     x0, =primary_high
    br      x0

// TCR_EL1 for this CPU in x0: TCR_BASE plus IPS from PARange (at most
// 48 bits, all a 4 KiB granule without LPA2 can express) and 16-bit ASIDs
// when implemented. Clobbers x1-x3.
tcr_value:
    ldr     x0, ={TCR_BASE}
    mrs     x1, id_aa64mmfr0_el1
    and     x2, x1, #0xf
    mov     x3, #5
    cmp     x2, x3
    csel    x2, x2, x3, ls
    bfi     x0, x2, #32, #3
    ubfx    x2, x1, #4, #4
    cmp     x2, #2
    b.ne    1f
    orr     x0, x0, #{TCR_AS}
1:  ret

// Leave EL2 for EL1 if we are at EL2, returning to the caller at EL1 with
// the MMU off. Clobbers x0; the return goes through x30.
el_setup:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.eq    1f
    b.hi    boot_hang                   // EL3: not supported
    ldr     x0, ={SCTLR_MMU_OFF}
    msr     sctlr_el1, x0
    isb
    ret
1:  ldr     x0, ={HCR_EL2_VALUE}
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #3                  // EL1PCTEN, EL1PCEN: EL1 owns the timers
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr            // virtual counter == physical counter
    mrs     x0, midr_el1
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    mov     x0, #0x22ff                 // CPTR_EL2: RES1 bits only; no FP/SIMD/SVE/SME traps
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    msr     vttbr_el2, xzr
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4
    cbz     x0, 2f
    mrs     x0, S3_4_C12_C9_5           // ICC_SRE_EL2: let EL1 use the
    orr     x0, x0, #0xf                // GICv3 system registers
    msr     S3_4_C12_C9_5, x0
    isb
    msr     S3_4_C12_C11_0, xzr         // ICH_HCR_EL2: no virtual GIC
2:  ldr     x0, ={SCTLR_MMU_OFF}
    msr     sctlr_el1, x0
    mov     x0, #{SPSR_EL1H_MASKED}
    msr     spsr_el2, x0
    msr     elr_el2, x30
    isb
    eret

boot_hang:
    wfe
    b       boot_hang

// Boot CPU, now in the higher half on the boot tables.
primary_high:
    adrp    x0, boot_stack_top
    add     x0, x0, :lo12:boot_stack_top
    mov     sp, x0
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:  adrp    x0, vectors
    add     x0, x0, :lo12:vectors
    msr     vbar_el1, x0
    isb
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x19
    mov     x1, x20
    lsr     x2, x25, #2
    bl      {arm64_init}
    b       boot_hang

// Secondary CPU entry from PSCI CPU_ON: x0 = context id; MMU off; EL2 or
// EL1. The kernel tables already exist; CPU_HATCH says where they are.
    .globl mpentry
mpentry:
    bl      el_setup
    adrp    x1, {hatch}
    add     x1, x1, :lo12:{hatch}
    ldr     x2, [x1, #{HB_MAIR}]
    msr     mair_el1, x2
    ldr     x2, [x1, #{HB_TCR}]
    msr     tcr_el1, x2
    ldr     x2, [x1, #{HB_IDMAP}]
    msr     ttbr0_el1, x2
    ldr     x2, [x1, #{HB_TTBR1}]
    msr     ttbr1_el1, x2
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x2, [x1, #{HB_SCTLR}]
    msr     sctlr_el1, x2
    isb
    ic      iallu
    dsb     nsh
    isb
    ldr     x2, =mpentry_high
    br      x2

mpentry_high:
    adrp    x1, {hatch}
    add     x1, x1, :lo12:{hatch}
    ldr     x2, [x1, #{HB_SP}]
    mov     sp, x2
    ldr     x0, [x1, #{HB_CI}]
    msr     tpidr_el1, x0
    adrp    x2, vectors
    add     x2, x2, :lo12:vectors
    msr     vbar_el1, x2
    ldr     x2, [x1, #{HB_TTBR0}]
    msr     ttbr0_el1, x2
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x29, xzr
    mov     x30, xzr
    bl      {cpu_hatch_md}
    b       boot_hang

    .globl idmap_switch_ttbr1
idmap_switch_ttbr1:
    msr     ttbr1_el1, x2
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     sctlr_el1, x1
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret

    .section .text, "ax"
    .globl call_on_stack
call_on_stack:
    mov     sp, x1
    mov     x29, xzr
    mov     x30, xzr
    br      x2

    .section .bootdata, "aw", %nobits
    .balign 65536
boot_stack:
    .space  16384
boot_stack_top:
    .balign 4096
boot_pt_start:
    .globl boot_idmap_l1
boot_idmap_l1:
    .space  4096
boot_l1:
    .space  4096
boot_l2:
    .space  4096
    .globl ttbr0_empty
ttbr0_empty:
    .space  4096
boot_pt_end:
"#,
    TEXT_OFFSET = const TEXT_OFFSET,
    IMAGE_FLAGS = const IMAGE_FLAGS,
    KERNBASE = const KERNBASE,
    BOOT_BLOCK_IDMAP = const pmap::BOOT_BLOCK_IDMAP,
    BOOT_BLOCK_RWX = const pmap::BOOT_BLOCK_RWX,
    MAIR_VALUE = const MAIR_VALUE,
    TCR_BASE = const TCR_BASE,
    TCR_AS = const TCR_AS,
    SCTLR_BOOT = const SCTLR_BOOT,
    SCTLR_MMU_OFF = const SCTLR_MMU_OFF,
    HCR_EL2_VALUE = const HCR_EL2_VALUE,
    SPSR_EL1H_MASKED = const SPSR_EL1H_MASKED,
    arm64_init = sym crate::machdep::arm64_init,
    cpu_hatch_md = sym crate::cpu::cpu_hatch_md,
    hatch = sym CPU_HATCH,
    HB_MAIR = const offset_of!(HatchBlock, mair),
    HB_TCR = const offset_of!(HatchBlock, tcr),
    HB_SCTLR = const offset_of!(HatchBlock, sctlr),
    HB_IDMAP = const offset_of!(HatchBlock, ttbr0_idmap),
    HB_TTBR1 = const offset_of!(HatchBlock, ttbr1),
    HB_TTBR0 = const offset_of!(HatchBlock, ttbr0),
    HB_SP = const offset_of!(HatchBlock, sp),
    HB_CI = const offset_of!(HatchBlock, ci),
);

// Exception vectors.
//
// Exceptions from EL1 (SP_EL1) first check the stack: after reserving the
// trap frame, a pointer that has left its stack has bit KSTACK_SHIFT set
// (see pmap's kernel stack layout). The check juggles sp and x0 so that no
// memory is touched; on overflow we move to this CPU's emergency stack,
// stashing x0 and the bad sp in the EL0 thread-ID registers, which is
// acceptable because the path ends in a panic.
//
// Exceptions from EL0 find SP_EL1 at the top of the running thread's
// kernel stack (every return to EL0 pops the frame it came in with, and a
// new thread's first return starts from the frame cpu_fork placed at the
// top), so the user trap frame always sits at `trapframe_of(kstack_top)`.
// Every return to EL0 goes through `el0_return`, which calls
// `trap_userret` (kern::trap::userret) before restoring the frame.
global_asm!(
    r#"
.macro KENTRY target
    sub     sp, sp, #{FRAME}
    add     sp, sp, x0                  // sp = frame + x0
    sub     x0, sp, x0                  // x0 = frame
    tbnz    x0, #{KSTACK_SHIFT}, kstack_overflow
    sub     x0, sp, x0                  // x0 = original x0
    sub     sp, sp, x0                  // sp = frame
    b       \target
.endm

.macro UENTRY target
    sub     sp, sp, #{FRAME}
    b       \target
.endm

// x0 (or \first in its place) and x1-x29 into the frame at sp.
.macro STORE_GPRS first
    stp     \first, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
.endm

// x0-x29 and x30 back from the frame at sp.
.macro LOAD_GPRS
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    ldr     x30, [sp, #{TF_LR}]
.endm

.macro SAVE_SYSREGS
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x0, x1, [sp, #{TF_ELR}]
    mrs     x0, esr_el1
    mrs     x1, far_el1
    stp     x0, x1, [sp, #{TF_ESR}]
.endm

// Save the interrupted context (x0 still intact) into the frame at sp.
.macro SAVE_FRAME el
    STORE_GPRS x0
.if \el == 0
    mrs     x0, sp_el0
.else
    add     x0, sp, #{FRAME}
.endif
    stp     x30, x0, [sp, #{TF_LR}]
    SAVE_SYSREGS
.endm

// Restore the frame at sp and return from the exception. Interrupts are
// masked (ELR/SPSR must survive until the eret). The barriers after the
// eret are never executed; they stop straight-line speculation past it.
.macro RESTORE_FRAME el
    ldp     x0, x1, [sp, #{TF_ELR}]
    msr     elr_el1, x0
    msr     spsr_el1, x1
.if \el == 0
    ldr     x0, [sp, #{TF_SP}]
    msr     sp_el0, x0
.endif
    LOAD_GPRS
    add     sp, sp, #{FRAME}
    eret
    dsb     nsh
    isb
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .globl vectors
vectors:
    // Current EL with SP_EL0: the kernel never runs on SP_EL0.
    .balign 0x80
    KENTRY  vec_bad_0
    .balign 0x80
    KENTRY  vec_bad_1
    .balign 0x80
    KENTRY  vec_bad_2
    .balign 0x80
    KENTRY  vec_bad_3
    // Current EL with SP_EL1.
    .balign 0x80
    KENTRY  el1_sync
    .balign 0x80
    KENTRY  el1_irq
    .balign 0x80
    KENTRY  vec_bad_6
    .balign 0x80
    KENTRY  vec_bad_7
    // Lower EL, AArch64.
    .balign 0x80
    UENTRY  el0_sync
    .balign 0x80
    UENTRY  el0_irq
    .balign 0x80
    UENTRY  vec_bad_10
    .balign 0x80
    UENTRY  vec_bad_11
    // Lower EL, AArch32: never allowed to run.
    .balign 0x80
    UENTRY  vec_bad_12
    .balign 0x80
    UENTRY  vec_bad_13
    .balign 0x80
    UENTRY  vec_bad_14
    .balign 0x80
    UENTRY  vec_bad_15
    .balign 0x80

kstack_overflow:
    // x0 = the frame address that fell off the stack, sp = x0 + original x0.
    msr     tpidrro_el0, x0
    sub     x0, sp, x0
    msr     tpidr_el0, x0
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{CI_OVF_SP}]
    mov     sp, x0
    sub     sp, sp, #{FRAME}
    STORE_GPRS xzr
    mrs     x0, tpidr_el0
    str     x0, [sp, #0]
    mrs     x0, tpidrro_el0
    add     x0, x0, #{FRAME}
    stp     x30, x0, [sp, #{TF_LR}]
    SAVE_SYSREGS
    mov     x0, sp
    bl      {trap_kstack_overflow}
1:  wfe
    b       1b

el1_sync:
    SAVE_FRAME 1
    mov     x0, sp
    bl      {trap_el1_sync}
    RESTORE_FRAME 1

el1_irq:
    SAVE_FRAME 1
    mov     x0, sp
    bl      {trap_irq}
    RESTORE_FRAME 1

// From EL0 the frame-pointer chain starts afresh (x29 is the user's).
el0_sync:
    SAVE_FRAME 0
    mov     x29, xzr
    mov     x0, sp
    bl      {trap_el0_sync}
    b       el0_return

el0_irq:
    SAVE_FRAME 0
    mov     x29, xzr
    mov     x0, sp
    bl      {trap_el0_irq}
    b       el0_return

// Return to EL0 through the frame at sp (the top of the thread's kernel
// stack). Also the end of a new thread's first switch (proc_trampoline).
// userret is entered with interrupts masked, so a signal or reschedule
// posted after it checked cannot slip in before the eret; it unmasks them
// while it works and masks them again.
el0_return:
    msr     daifset, #3
    mov     x0, sp
    bl      {trap_userret}
    RESTORE_FRAME 0

.macro BAD n, el
vec_bad_\n:
    SAVE_FRAME \el
    mov     x0, sp
    mov     x1, #\n
    bl      {trap_bad}
    b       .
.endm
    BAD 0, 1
    BAD 1, 1
    BAD 2, 1
    BAD 3, 1
    BAD 6, 1
    BAD 7, 1
    BAD 10, 0
    BAD 11, 0
    BAD 12, 0
    BAD 13, 0
    BAD 14, 0
    BAD 15, 0

    .section .text, "ax"

// cpu_switchto_md(old: *mut Pcb, new: *const Pcb): push the callee-saved
// registers (x19-x29, lr) as a switch frame, save sp and TPIDR_EL0 in old,
// make new the CPU's current Pcb, load its TPIDR_EL0 and sp, pop its
// switch frame and return into it. Interrupts are masked throughout (the
// caller's precondition), so nothing runs between the sp switch and the
// pops. The kernel entry stack needs no setting on arm64: it is SP_EL1,
// which the new thread carries with it.
    .globl cpu_switchto_md
cpu_switchto_md:
    stp     x19, x20, [sp, #-{SF}]!
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    mov     x9, sp
    str     x9, [x0, #{PCB_SP}]
    mrs     x9, tpidr_el0
    str     x9, [x0, #{PCB_TLS}]
    ldr     x9, [x1, #{PCB_SP}]
    ldr     x10, [x1, #{PCB_TLS}]
    mrs     x11, tpidr_el1
    str     x1, [x11, #{CI_CURPCB}]
    mov     sp, x9
    msr     tpidr_el0, x10
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     x19, x20, [sp], #{SF}
    ret

// A new thread's first switch returns here with its switch frame popped,
// so sp is its trap frame: x19 = MI hook (proc_trampoline_mi), x20 =
// function, x21 = argument. If the function returns, the thread goes to
// user mode through the trap frame.
    .globl proc_trampoline
proc_trampoline:
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    bl      {thread_start}
    b       el0_return

// The copy routines. Their user accesses are LDTR/STTR: unprivileged, so
// they are checked against EL0's permissions (a kernel address faults even
// if it slipped past the range check) and PAN does not apply to them, so
// PAN stays on throughout. A fault on them (and only on them: see
// trap.rs copy_fault) resumes at copy_fault through pcb_onfault. x3 keeps
// the Pcb of the thread, which stays right even if a fault sleeps and the
// thread resumes on another CPU.
    .globl copy_routines_start
copy_routines_start:

// copyin_md(kdst, usrc, len) -> 0 or EFAULT
    .globl copyin_md
copyin_md:
    mrs     x3, tpidr_el1
    ldr     x3, [x3, #{CI_CURPCB}]
    adr     x4, copy_fault
    str     x4, [x3, #{PCB_ONFAULT}]
1:  cmp     x2, #8
    b.lo    2f
    ldtr    x4, [x1]
    str     x4, [x0], #8
    add     x1, x1, #8
    sub     x2, x2, #8
    b       1b
2:  cbz     x2, 3f
    ldtrb   w4, [x1]
    strb    w4, [x0], #1
    add     x1, x1, #1
    sub     x2, x2, #1
    b       2b
3:  str     xzr, [x3, #{PCB_ONFAULT}]
    mov     x0, #0
    ret

// copyout_md(udst, ksrc, len) -> 0 or EFAULT
    .globl copyout_md
copyout_md:
    mrs     x3, tpidr_el1
    ldr     x3, [x3, #{CI_CURPCB}]
    adr     x4, copy_fault
    str     x4, [x3, #{PCB_ONFAULT}]
1:  cmp     x2, #8
    b.lo    2f
    ldr     x4, [x1], #8
    sttr    x4, [x0]
    add     x0, x0, #8
    sub     x2, x2, #8
    b       1b
2:  cbz     x2, 3f
    ldrb    w4, [x1], #1
    sttrb   w4, [x0]
    add     x0, x0, #1
    sub     x2, x2, #1
    b       2b
3:  str     xzr, [x3, #{PCB_ONFAULT}]
    mov     x0, #0
    ret

copy_fault:
    str     xzr, [x3, #{PCB_ONFAULT}]
    mov     x0, #{EFAULT}
    ret

    .globl copy_routines_end
copy_routines_end:

// The signal trampoline, copied by the MI code to SIGCODE_VA in every
// process. A handler returns here (lr = SIGCODE_VA) with sp back at the
// signal context sendsig pushed: sigreturn(sp). It does not return; if it
// fails, the udf traps (SIGILL).
    .section .rodata.sigcode, "a"
    .balign 16
    .globl sigcode, esigcode
sigcode:
    mov     x0, sp
    mov     x8, #{SYS_SIGRETURN}
    svc     #0
    udf     #0
esigcode:
"#,
    FRAME = const FRAME_SIZE,
    KSTACK_SHIFT = const KSTACK_SHIFT,
    TF_LR = const offset_of!(trap::TrapFrame, tf_x) + 30 * 8,
    TF_SP = const offset_of!(trap::TrapFrame, tf_sp),
    TF_ELR = const offset_of!(trap::TrapFrame, tf_elr),
    TF_ESR = const offset_of!(trap::TrapFrame, tf_esr),
    CI_OVF_SP = const offset_of!(CpuInfoMd, ci_ovf_sp),
    CI_CURPCB = const offset_of!(CpuInfoMd, ci_curpcb),
    PCB_SP = const offset_of!(Pcb, pcb_sp),
    PCB_TLS = const offset_of!(Pcb, pcb_tls),
    PCB_ONFAULT = const offset_of!(Pcb, pcb_onfault),
    SF = const SWITCHFRAME_SIZE,
    EFAULT = const sys::errno::EFAULT,
    SYS_SIGRETURN = const sys::syscall::SYS_sigreturn,
    trap_kstack_overflow = sym trap::trap_kstack_overflow,
    trap_el1_sync = sym trap::trap_el1_sync,
    trap_el0_sync = sym trap::trap_el0_sync,
    trap_el0_irq = sym trap::trap_el0_irq,
    trap_userret = sym trap::trap_userret,
    trap_irq = sym trap::trap_irq,
    trap_bad = sym trap::trap_bad,
    thread_start = sym crate::vm_machdep::thread_start,
);

/// Bytes of the switch frame cpu_switchto_md pushes: x19-x29 and lr.
pub const SWITCHFRAME_SIZE: usize = 12 * 8;

/// The switch frame as cpu_switchto_md pushes and pops it.
#[repr(C)]
pub struct SwitchFrame {
    pub sf_x19: u64,
    pub sf_x20: u64,
    pub sf_x21: u64,
    pub sf_x22_x28: [u64; 7],
    pub sf_x29: u64,
    pub sf_lr: u64,
}
const _: () = assert!(core::mem::size_of::<SwitchFrame>() == SWITCHFRAME_SIZE);

unsafe extern "C" {
    /// See the assembly above. Before: interrupts masked, both Pcbs live.
    pub fn cpu_switchto_md(old: *mut Pcb, new: *const Pcb);
    /// First code of a new thread (the lr of its initial switch frame).
    pub fn proc_trampoline();
    /// Copy `len` bytes from user `usrc` to kernel `kdst`: 0 or EFAULT.
    pub fn copyin_md(kdst: *mut u8, usrc: u64, len: usize) -> i32;
    /// Copy `len` bytes from kernel `ksrc` to user `udst`: 0 or EFAULT.
    pub fn copyout_md(udst: u64, ksrc: *const u8, len: usize) -> i32;
    static copy_routines_start: u8;
    static copy_routines_end: u8;
    static sigcode: u8;
    static esigcode: u8;
}

/// Whether `pc` lies in copyin_md/copyout_md (their faults are expected).
pub fn in_copy_routine(pc: u64) -> bool {
    (&raw const copy_routines_start as u64..&raw const copy_routines_end as u64).contains(&pc)
}

/// The signal trampoline's machine code.
pub fn sigcode_bytes() -> &'static [u8] {
    let start = &raw const sigcode;
    let len = &raw const esigcode as usize - start as usize;
    // SAFETY: sigcode..esigcode is a read-only array of instructions in
    // .rodata that lives forever.
    unsafe { core::slice::from_raw_parts(start, len) }
}
