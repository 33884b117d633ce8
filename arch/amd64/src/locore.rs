//! Assembly the kernel cannot do without: the PVH entry (32-bit protected
//! mode to 64-bit long mode in the higher half), the boot page tables and
//! stack, the real-mode trampoline that secondary CPUs start in, their
//! 64-bit entry, the trap and SYSCALL entries and their returns to user
//! mode, `cpu_switchto` and the new-thread trampolines, and the user copy
//! routine with its fault recovery.
//!
//! Boot (PVH, see Xen's `arch-x86/hvm/start_info.h`): QEMU reads the
//! `XEN_ELFNOTE_PHYS32_ENTRY` note, loads our segments at their physical
//! addresses and enters `pvh_start32` in flat 32-bit protected mode, paging
//! off, interrupts off, `%ebx` = physical address of `hvm_start_info`.
//! Everything here until `start64_high` runs at physical addresses, so
//! symbol references subtract KERNBASE.

use core::arch::global_asm;
use core::mem::offset_of;
use core::sync::atomic::AtomicU8;

use kern::machdep::Pcb;

use crate::cpu::{CpuInfoMd, cpu_hatch};
use crate::cpufunc::MSR_FSBASE;
use crate::gdt::{GSEL_KCODE, GSEL_KDATA, GSEL_UCODE_SEL, GSEL_UDATA_SEL, TSS_RSP0};
use crate::intr::T_SYSCALL;
use crate::machdep::init_x86_64;
use crate::pmap::KERNBASE;
use crate::trap::TrapFrame;

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

/// 1 when the CPUs have SMAP (CR4.SMAP on): the copy routine then sets
/// RFLAGS.AC around its user accesses.
pub static MD_SMAP: AtomicU8 = AtomicU8::new(0);

unsafe extern "C" {
    /// The SYSCALL entry point (MSR_LSTAR).
    pub static Xsyscall: u8;
    /// The compatibility-mode SYSCALL entry (MSR_CSTAR); unreachable, as
    /// no 32-bit user code segment exists.
    pub static Xsyscall32: u8;
    /// First instruction of a new kernel thread (`cpu_thread_init`).
    pub static md_proc_trampoline: u8;
    /// First instruction of a forked thread (`cpu_fork`).
    pub static md_fork_trampoline: u8;
    /// The user copy routine's code range (its faults are recoverable).
    pub static md_copy_user_start: u8;
    pub static md_copy_user_end: u8;
    /// Save the callee-saved registers and %rsp in `old`, load `new`'s,
    /// point the CPU's kernel entry stack (TSS RSP0, SYSCALL stack) and
    /// `ci_curpcb` at `new`, load its user thread pointer (FS base), and
    /// return on `new`'s stack. Interrupts masked throughout.
    pub fn md_cpu_switchto(old: *mut Pcb, new: *const Pcb);
    /// Copy `len` bytes from `src` to `dst`, one side being user memory
    /// already checked to lie in user space; 0, or EFAULT if a page fault
    /// could not be resolved.
    pub fn md_copy_user(dst: *mut u8, src: *const u8, len: usize) -> u64;
    /// Self-test helper: load known values into every callee-saved
    /// register, `md_cpu_switchto(old, new)`, and once back return a mask
    /// of the registers that did not survive.
    pub fn md_switch_check(old: *mut Pcb, new: *const Pcb) -> u64;
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
// as a `trap::TrapFrame` and calls `trap()`.
//
// GS: in user mode GS base is the user's (0) and MSR_KERNELGSBASE holds
// this CPU's `cpu_info`; every entry from user mode swaps them first and
// every return to user mode swaps them back last. `alltraps` tells by the
// saved CS. NMI, double fault and machine check come on IST stacks and
// may interrupt the kernel between SYSCALL and its swapgs, or between the
// final swapgs and sysretq/iretq, so `paranoidtraps` looks at GS base
// itself (a kernel `cpu_info` address has the sign bit set, a user base of
// 0 does not) and undoes exactly what it did; these never call userret
// (they must not switch threads off an IST stack).
//
// SMAP: RFLAGS.AC survives an interrupt, so user mode could enter the
// kernel with SMAP lifted (and an interrupt during a user copy would run
// its handler so): every entry whose saved RFLAGS has AC clears it. AC is
// changed with pushfq/popfq rather than clac/stac: same effect, and the
// nested KVM these kernels are tested under cannot execute clac/stac (its
// instruction emulator gives up and kills the guest).
global_asm!(
    r#"
    .macro PUSH_GPRS
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
    .endm

    .macro POP_GPRS
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
    .endm

    /* after PUSH_GPRS: clear AC if the interrupted context had it */
    .macro CLEAR_AC
    testl ${psl_ac}, {tf_rflags}(%rsp)
    jz 77f
    pushfq
    andl ${not_psl_ac}, (%rsp)
    popfq
77:
    .endm

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
    .if (.Lvec == 2) || (.Lvec == 8) || (.Lvec == 18)
    jmp paranoidtraps
    .else
    jmp alltraps
    .endif
    .set .Lvec, .Lvec + 1
    .endr

    .p2align 4
alltraps:
    PUSH_GPRS
    testb $3, {tf_cs}(%rsp)
    jz 1f
    swapgs
1:
    CLEAR_AC
    cld
    movq %rsp, %rdi
    /* 22 quadwords on a 16-byte aligned hardware frame: still aligned */
    call {trap}
    /* back with interrupts masked */
    testb $3, {tf_cs}(%rsp)
    jnz md_iret_to_user
    POP_GPRS
    addq $16, %rsp                  /* vector, error code */
    iretq

    .p2align 4
paranoidtraps:
    PUSH_GPRS
    cld
    movl $0xc0000101, %ecx          /* MSR_GSBASE */
    rdmsr
    xorl %ebx, %ebx
    testl %edx, %edx
    js 1f
    swapgs
    movl $1, %ebx
1:
    CLEAR_AC
    movq %rsp, %rdi
    call {trap_paranoid}
    testl %ebx, %ebx
    jz 2f
    swapgs
2:
    POP_GPRS
    addq $16, %rsp
    iretq

    /*
     * SYSCALL: %rcx = user %rip, %r11 = user %rflags, interrupts masked by
     * SFMASK, still on the user stack with the user's GS. Build the same
     * frame an interrupt from user mode would, at the top of this
     * thread's kernel stack.
     */
    .p2align 4
    .globl Xsyscall
Xsyscall:
    swapgs
    movq %rsp, %gs:{ci_scratch}
    movq %gs:{ci_kstack_top}, %rsp
    pushq ${udata}
    pushq %gs:{ci_scratch}
    pushq %r11
    pushq ${ucode}
    pushq %rcx
    pushq $0
    pushq ${t_syscall}
    PUSH_GPRS
    movq %rsp, %rdi
    call {syscall_md}
    /* fall through: interrupts masked, %eax = 1 if SYSRET is exact */

    /*
     * Return to user mode from the frame at %rsp, interrupts masked.
     * SYSRET loads %rip from %rcx and %rflags from %r11, so it is used only
     * when the frame's %rcx and %r11 already equal its %rip and %rflags
     * and %rip is canonical (syscall_md checks; a non-canonical %rcx would
     * make SYSRET fault in ring 0 on the user's stack); otherwise iretq
     * restores everything.
     */
    .globl md_syscall_return
md_syscall_return:
    testl %eax, %eax
    jz md_iret_to_user
    POP_GPRS
    addq $16, %rsp
    movq 24(%rsp), %rsp             /* the frame's %rsp */
    swapgs
    sysretq

    .globl md_iret_to_user
md_iret_to_user:
    POP_GPRS
    addq $16, %rsp
    swapgs
    iretq

    .p2align 4
    .globl Xsyscall32
Xsyscall32:
    swapgs
    movq %gs:{ci_kstack_top}, %rsp
    call {syscall32}
    ud2

    /*
     * cpu_switchto(old = %rdi, new = %rsi). The switch frame, lowest
     * address first: r15 r14 r13 r12 rbx rbp, return address.
     */
    .p2align 4
    .globl md_cpu_switchto
md_cpu_switchto:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, {pcb_sp}(%rdi)
    /* nothing of old is touched past this point: it may be freed as soon
       as the new thread says it is off the CPU */
    movq {pcb_sp}(%rsi), %rsp
    movq %rsi, %gs:{ci_curpcb}
    movq {pcb_kstack_top}(%rsi), %rax
    movq %rax, %gs:{ci_kstack_top}
    movq %rax, %gs:{ci_rsp0}
    /* FS base: the new thread's pointer if it is a canonical user
       address (wrmsr faults on a non-canonical one), else 0 */
    movq {pcb_tls}(%rsi), %rax
    movq %rax, %rdx
    shrq $47, %rdx
    jz 1f
    xorl %eax, %eax
1:
    movq %rax, %gs:{ci_fsbase}
    movq %rax, %rdx
    shrq $32, %rdx
    movl ${msr_fsbase}, %ecx
    wrmsr
    /* an interrupt from user mode leaves a null %ss; SYSRET on some CPUs
       then returns with an unusable one, so give every thread a real one */
    movl ${kdata}, %eax
    movw %ax, %ss
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    /* A new kernel thread: %r14 = pre hook, %r12 = func, %r13 = arg;
       %rsp is 16-byte aligned here, at the (zeroed) trap frame. If the
       function returns, it filled that frame in: go to user mode. */
    .p2align 4
    .globl md_proc_trampoline
md_proc_trampoline:
    movq %r14, %rdi
    movq %r12, %rsi
    movq %r13, %rdx
    movq %rsp, %rcx
    call {thread_start}
    jmp md_syscall_return

    /* A forked thread: %rsp = its trap frame, %r14 = pre hook. */
    .p2align 4
    .globl md_fork_trampoline
md_fork_trampoline:
    movq %rsp, %rdi
    movq %r14, %rsi
    call {child_start}
    jmp md_syscall_return

    /*
     * md_copy_user(dst = %rdi, src = %rsi, len = %rdx): the only kernel
     * code that touches user pages. pcb_onfault points at 3: while it
     * runs; a fault the VM cannot resolve resumes there with EFAULT. The
     * previous pcb_onfault is kept in %r9 and put back, so a copy nested
     * in an interrupt handler does not disarm the one it interrupted.
     * %r8 and %r9 survive a fault (the trap frame restores them), and
     * %r8 is this thread's Pcb even if it slept and moved to another CPU.
     */
    .p2align 4
    .globl md_copy_user, md_copy_user_start, md_copy_user_end
md_copy_user:
md_copy_user_start:
    movq %gs:{ci_curpcb}, %r8
    movq {pcb_onfault}(%r8), %r9
    leaq 3f(%rip), %rax
    movq %rax, {pcb_onfault}(%r8)
    testb $1, {smap}(%rip)
    jz 1f
    pushfq                          /* stac */
    orl ${psl_ac}, (%rsp)
    popfq
1:
    movq %rdx, %rcx
    rep movsb
    xorl %eax, %eax
2:
    testb $1, {smap}(%rip)
    jz 4f
    pushfq                          /* clac */
    andl ${not_psl_ac}, (%rsp)
    popfq
4:
    movq %r9, {pcb_onfault}(%r8)
    ret
3:
    movl ${efault}, %eax
    jmp 2b
md_copy_user_end:

    /* Self-test: do the callee-saved registers survive a switch away and
       back? Returns a mask of those that did not. */
    .p2align 4
    .globl md_switch_check
md_switch_check:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movabsq $0x5b5b5b5b00000001, %rbx
    movabsq $0x5b5b5b5b00000002, %rbp
    movabsq $0x5b5b5b5b00000003, %r12
    movabsq $0x5b5b5b5b00000004, %r13
    movabsq $0x5b5b5b5b00000005, %r14
    movabsq $0x5b5b5b5b00000006, %r15
    call md_cpu_switchto
    xorl %eax, %eax
    movabsq $0x5b5b5b5b00000001, %rcx
    cmpq %rcx, %rbx
    je 1f
    orl $1, %eax
1:  movabsq $0x5b5b5b5b00000002, %rcx
    cmpq %rcx, %rbp
    je 1f
    orl $2, %eax
1:  movabsq $0x5b5b5b5b00000003, %rcx
    cmpq %rcx, %r12
    je 1f
    orl $4, %eax
1:  movabsq $0x5b5b5b5b00000004, %rcx
    cmpq %rcx, %r13
    je 1f
    orl $8, %eax
1:  movabsq $0x5b5b5b5b00000005, %rcx
    cmpq %rcx, %r14
    je 1f
    orl $16, %eax
1:  movabsq $0x5b5b5b5b00000006, %rcx
    cmpq %rcx, %r15
    je 1f
    orl $32, %eax
1:  popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .popsection
"#,
    trap = sym crate::trap::trap,
    trap_paranoid = sym crate::trap::trap_paranoid,
    syscall_md = sym crate::trap::syscall_md,
    syscall32 = sym crate::trap::syscall32,
    thread_start = sym crate::machdep::md_thread_start,
    child_start = sym crate::machdep::md_child_start,
    smap = sym MD_SMAP,
    tf_cs = const offset_of!(TrapFrame, cs),
    tf_rflags = const offset_of!(TrapFrame, rflags),
    psl_ac = const crate::cpufunc::PSL_AC,
    not_psl_ac = const !(crate::cpufunc::PSL_AC as u32),
    ci_scratch = const offset_of!(CpuInfoMd, ci_scratch),
    ci_kstack_top = const offset_of!(CpuInfoMd, ci_kstack_top),
    ci_curpcb = const offset_of!(CpuInfoMd, ci_curpcb),
    ci_fsbase = const offset_of!(CpuInfoMd, ci_fsbase),
    ci_rsp0 = const offset_of!(CpuInfoMd, ci_tss) + TSS_RSP0,
    pcb_sp = const offset_of!(Pcb, pcb_sp),
    pcb_kstack_top = const offset_of!(Pcb, pcb_kstack_top),
    pcb_onfault = const offset_of!(Pcb, pcb_onfault),
    pcb_tls = const offset_of!(Pcb, pcb_tls),
    msr_fsbase = const MSR_FSBASE,
    kdata = const GSEL_KDATA,
    udata = const GSEL_UDATA_SEL,
    ucode = const GSEL_UCODE_SEL,
    t_syscall = const T_SYSCALL,
    efault = const sys::errno::EFAULT,
    options(att_syntax)
);
