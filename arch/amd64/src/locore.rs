//! Assembly the kernel cannot do without: the PVH entry (32-bit protected
//! mode to 64-bit long mode in the higher half), the boot page tables and
//! stack, the real-mode trampoline that secondary CPUs start in, their
//! 64-bit entry, and the trap entry stubs.
//!
//! Boot (PVH, see Xen's `arch-x86/hvm/start_info.h`): QEMU reads the
//! `XEN_ELFNOTE_PHYS32_ENTRY` note, loads our segments at their physical
//! addresses and enters `pvh_start32` in flat 32-bit protected mode, paging
//! off, interrupts off, `%ebx` = physical address of `hvm_start_info`.
//! Everything here until `start64_high` runs at physical addresses, so
//! symbol references subtract KERNBASE.

use core::arch::global_asm;
use core::mem::offset_of;

use crate::cpu::cpu_hatch;
use crate::gdt::{GSEL_KCODE, GSEL_KDATA};
use crate::machdep::init_x86_64;
use crate::pmap::KERNBASE;

/// Bytes per trap entry stub; the IDT points at `trap_vectors + n * 16`.
pub const TRAP_STUB_SIZE: u64 = 16;

/// Parameters the BSP writes into the trampoline copy for one AP. The
/// layout is shared with the assembly below through `offset_of!`.
#[repr(C)]
pub struct MpTrampData {
    /// Temporary GDT: null, 64-bit code, data (selectors as the kernel's).
    pub gdt: [u64; 3],
    /// `lgdtl` operand: limit, then the 32-bit linear base in two halves.
    pub gdtr: [u16; 4],
    /// `ljmpl *` operand: 32-bit offset in two halves, then the selector.
    pub farjmp: [u16; 4],
    /// Physical address of the trampoline's own PML4 (below 4 GiB).
    pub cr3: u64,
    /// EFER bits to set besides nothing else (LME, NXE when present).
    pub efer: u64,
    /// The kernel's PML4, loaded once running in the higher half.
    pub kcr3: u64,
    /// Top of the AP's idle stack (kernel virtual).
    pub stack: u64,
    /// The AP's `cpu_info`, first argument of `cpu_hatch`.
    pub arg: u64,
    /// `mp_entry64` (kernel virtual).
    pub entry: u64,
}

unsafe extern "C" {
    /// Switch to the stack whose top is `top` and call `f(arg)` there.
    /// Never returns. Frame-pointer chains end at the call.
    pub fn md_call_on_stack(arg: usize, top: u64, f: extern "C" fn(usize) -> !) -> !;
    /// First of the 256 trap entry stubs, `TRAP_STUB_SIZE` bytes apart.
    pub static trap_vectors: u8;
    /// The AP trampoline image (copied to a page below 1 MiB).
    pub static mptramp_start: u8;
    pub static mptramp_data: u8;
    pub static mptramp_end: u8;
    /// Offset of the trampoline's 64-bit code from its start.
    pub static mptramp_64: u8;
    /// The 64-bit higher-half entry of an AP.
    pub static mp_entry64: u8;
    /// Linker-script symbols delimiting the kernel image's sections.
    pub static __kernel_start: u8;
    pub static __etext: u8;
    pub static __erodata: u8;
    pub static __kernel_end: u8;
}

// The PVH note and the 32-bit entry.
global_asm!(
    r#"
    .set KERNBASE, {kernbase}

    .pushsection .note.Xen, "a", @note
    .p2align 2
    .long 4                         /* namesz */
    .long 8                         /* descsz */
    .long 18                        /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32 - KERNBASE
    .p2align 2
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    /* start_info: %ebx is clobbered by cpuid, %edx by rdmsr */
    movl %ebx, %esi

    /* zero .bss ourselves rather than trust every loader to */
    movl $(__bss_start - KERNBASE), %edi
    movl $(__bss_end - KERNBASE), %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl $(boot_stack_top - KERNBASE), %esp

    /* without long mode there is nothing this kernel can do */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 9f
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz 9f

    movl %cr4, %eax
    orl $0x20, %eax                 /* CR4.PAE */
    movl %eax, %cr4
    movl $(boot_pml4 - KERNBASE), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx          /* EFER */
    rdmsr
    orl $0x100, %eax                /* EFER.LME; NXE waits for CPUID in Rust */
    wrmsr
    movl $0x80010031, %eax          /* PG WP NE ET PE; caches on */
    movl %eax, %cr0

    lgdt (boot_gdtr - KERNBASE)
    ljmp ${kcode}, $(start64 - KERNBASE)
9:
    hlt
    jmp 9b

    .code64
start64:
    movl ${kdata}, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $start64_high, %rax
    jmp *%rax
start64_high:
    movabsq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl %esi, %edi
    call {init}
    ud2
    .popsection

    /*
     * Boot page tables: the first 4 GiB identity-mapped (the PVH
     * structures and ACPI tables sit there) and the first 1 GiB again at
     * KERNBASE, all with 2 MiB pages. init_x86_64 replaces them.
     */
    .pushsection .data
    .p2align 12
boot_pml4:
    .quad boot_pdpt_low - KERNBASE + 0x3
    .fill 510, 8, 0
    .quad boot_pdpt_high - KERNBASE + 0x3
    .p2align 12
boot_pdpt_low:
    .quad boot_pd - KERNBASE + 0x0000 + 0x3
    .quad boot_pd - KERNBASE + 0x1000 + 0x3
    .quad boot_pd - KERNBASE + 0x2000 + 0x3
    .quad boot_pd - KERNBASE + 0x3000 + 0x3
    .fill 508, 8, 0
    .p2align 12
boot_pdpt_high:
    .fill 510, 8, 0
    .quad boot_pd - KERNBASE + 0x3
    .quad 0
    .p2align 12
boot_pd:
    .set .Lpd_i, 0
    .rept 2048
    .quad (.Lpd_i << 21) | 0x83     /* P RW PS */
    .set .Lpd_i, .Lpd_i + 1
    .endr

    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* kernel code, long mode */
    .quad 0x00cf92000000ffff        /* kernel data */
boot_gdt_end:
boot_gdtr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KERNBASE
    .popsection

    /* The boot stack, used until init_x86_64 has a guarded one. */
    .pushsection .bss
    .p2align 12
    .globl boot_stack
boot_stack:
    .skip 16384
boot_stack_top:
    .popsection
"#,
    kernbase = const KERNBASE as i64,
    kcode = const GSEL_KCODE,
    kdata = const GSEL_KDATA,
    init = sym init_x86_64,
    options(att_syntax)
);

// The AP trampoline: copied to a page below 1 MiB, entered by the startup
// IPI in real mode at CS = page >> 4, IP = 0. It goes straight from real
// mode to long mode (PAE, EFER.LME, then PG and PE together), running on
// its own identity map, jumps to the kernel's higher half and loads the
// kernel's page tables there. Every address in it is either relative to
// its start (16-bit part, %ds = %cs) or %rip-relative (64-bit part), or
// patched in by the BSP (MpTrampData).
global_asm!(
    r#"
    .pushsection .rodata.mptramp, "a"
    .p2align 12
    .globl mptramp_start, mptramp_64, mptramp_data, mptramp_end
    .code16
mptramp_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movl $0x20, %eax                /* CR4.PAE */
    movl %eax, %cr4
    movl (mptramp_data - mptramp_start + {cr3}), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl (mptramp_data - mptramp_start + {efer}), %eax
    wrmsr
    lgdtl (mptramp_data - mptramp_start + {gdtr})
    movl $0x80010031, %eax          /* PG WP NE ET PE; clears INIT's CD/NW */
    movl %eax, %cr0
    ljmpl *(mptramp_data - mptramp_start + {farjmp})

    .code64
mptramp_64:
    movl ${kdata}, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq (mptramp_data + {stack})(%rip), %rsp
    movq (mptramp_data + {arg})(%rip), %rdi
    movq (mptramp_data + {kcr3})(%rip), %rsi
    jmpq *(mptramp_data + {entry})(%rip)

    .p2align 3
mptramp_data:
    .fill {datasize}, 1, 0
mptramp_end:
    .popsection

    /* An AP in the higher half: %rdi = cpu_info, %rsi = kernel PML4,
       %rsp = its idle stack. */
    .pushsection .text
    .globl mp_entry64
mp_entry64:
    movq %rsi, %cr3
    xorl %ebp, %ebp
    call {hatch}
    ud2

    .globl md_call_on_stack
md_call_on_stack:
    movq %rsi, %rsp
    xorl %ebp, %ebp
    call *%rdx
    ud2
    .popsection
"#,
    cr3 = const offset_of!(MpTrampData, cr3),
    efer = const offset_of!(MpTrampData, efer),
    gdtr = const offset_of!(MpTrampData, gdtr),
    farjmp = const offset_of!(MpTrampData, farjmp),
    stack = const offset_of!(MpTrampData, stack),
    arg = const offset_of!(MpTrampData, arg),
    kcr3 = const offset_of!(MpTrampData, kcr3),
    entry = const offset_of!(MpTrampData, entry),
    datasize = const core::mem::size_of::<MpTrampData>(),
    kdata = const GSEL_KDATA,
    hatch = sym cpu_hatch,
    options(att_syntax)
);

// Trap entry. One 16-byte stub per vector makes the stack look the same for
// every vector (a zero pushed where the CPU pushes no error code, then the
// vector number) and jumps to `alltraps`, which saves the general registers
// as a `trap::TrapFrame` and calls `trap()`. The kernel does not run user
// code yet, so there is no swapgs here: %gs always holds the kernel's base.
global_asm!(
    r#"
    .pushsection .text
    .p2align 4
    .globl trap_vectors
trap_vectors:
    .set .Lvec, 0
    .rept 256
    .p2align 4
    /* the CPU pushes an error code for #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX */
    .if (.Lvec == 8) || (.Lvec == 10) || (.Lvec == 11) || (.Lvec == 12) || (.Lvec == 13) || (.Lvec == 14) || (.Lvec == 17) || (.Lvec == 21) || (.Lvec == 29) || (.Lvec == 30)
    .else
    pushq $0
    .endif
    pushq $.Lvec
    jmp alltraps
    .set .Lvec, .Lvec + 1
    .endr

    .p2align 4
alltraps:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    /* 22 quadwords on a 16-byte aligned hardware frame: still aligned */
    call {trap}
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                  /* vector, error code */
    iretq
    .popsection
"#,
    trap = sym crate::trap::trap,
    options(att_syntax)
);
