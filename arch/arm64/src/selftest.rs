//! Boot self-tests of the arm64 process-model code, run at the end of
//! `cpu_configure` on the boot CPU (interrupts masked, the other CPUs idle
//! in `cpu_hatch_mi`). Each panics on the first thing that is wrong, so a
//! boot that reaches `boot: halt requested` passed them all.
//!
//! - kernel stacks: guards, accounting;
//! - user pmaps: enter/extract/protect/remove/purge/destroy, descriptor
//!   bits, EL0 and PAN views of the mappings (AT instructions), TLB
//!   invalidation counts, copyin/copyout and every EFAULT case, signal
//!   frames (sendsig/sigreturn) on a live user stack;
//! - ASID generations: a forced rollover with a loaded pmap;
//! - cpu_switchto: two threads ping-ponging, TPIDR_EL0 and callee-saved
//!   state kept;
//! - with the boot word `usertest`: a forked thread runs in user mode
//!   (signal handler, sigreturn, a system call through the MI dispatch,
//!   interrupts from EL0, page faults and signals of each kind);
//! - with the boot word `kstackoverflow`: a thread overruns its kernel
//!   stack into the guard page, which must end in the "kernel stack
//!   overflow" panic (reported from the per-CPU emergency stack).
//!
//! These tests never call the MI scheduler hooks: the threads they make
//! use their own trampoline hook, because the real `proc_trampoline_mi`
//! will release the scheduler lock, which they do not hold. The user-mode
//! test does go through `kern::trap::syscall` and `kern::trap::userret`,
//! so it is behind a boot word: it needs those to cope with a thread that
//! belongs to no process (true of today's placeholders).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kern::machdep::Pcb;
use kern::mutex::Mutex;
use kern::printf;
use kern::uvm_init::{uvm_pagealloc, uvm_pagefree, uvmexp_free};
use sys::signal::{SIGILL, SIGTRAP, SIGUSR1};
use sys::vmparam::{SIGCODE_VA, USER_TEXT_BASE, USRSTACK, VM_MAXUSER_ADDRESS};
use uvm::pmap::{PmapRef, VmProt};

use crate::machdep::{self, SigContext};
use crate::pmap::{self, KSTACK_SIZE, PAGE_SIZE};
use crate::trap::{
    self, HookResult, PSR_BTYPE, PSR_I, PSR_NZCV, PSR_SSBS, PSR_USER_BITS, TrapFrame, UserEvent,
};
use crate::{cpu, intr, locore, vm_machdep};

/// Run every test; `bootargs` selects the optional ones.
pub fn run(bootargs: &str) {
    kstack_test();
    pmap_test();
    asid_test();
    switch_test();
    let words = || bootargs.split_ascii_whitespace();
    if words().any(|w| w == "usertest") {
        usertest();
    }
    if words().any(|w| w == "kstackoverflow") {
        kstack_overflow();
    }
}

const MAXUSER: u64 = VM_MAXUSER_ADDRESS as u64;

fn kva(pa: u64) -> *mut u8 {
    pmap::phys_to_kva(pa) as *mut u8
}

/// A fresh page filled with `fill`.
fn page_with(fill: u8) -> u64 {
    let pa = uvm_pagealloc().expect("selftest: out of pages");
    // SAFETY: a page just allocated to us, direct-mapped.
    unsafe { core::ptr::write_bytes(kva(pa), fill, PAGE_SIZE as usize) };
    pa
}

fn free_pages() -> u64 {
    uvmexp_free() as u64
}

/// Whether EL0 may read (write) `va` through the current TTBR0 (AT
/// S1E0R/S1E0W check EL0's permissions without accessing memory).
fn el0_can(va: u64, write: bool) -> bool {
    let par: u64;
    // SAFETY: address translation only fills PAR_EL1; interrupts are
    // masked, so nothing else uses PAR_EL1 in between.
    unsafe {
        if write {
            core::arch::asm!("at s1e0w, {v}", "isb", "mrs {p}, par_el1", v = in(reg) va, p = out(reg) par, options(nostack));
        } else {
            core::arch::asm!("at s1e0r, {v}", "isb", "mrs {p}, par_el1", v = in(reg) va, p = out(reg) par, options(nostack));
        }
    }
    par & 1 == 0
}

/// Whether a privileged read of `va` would pass, with PAN taken into
/// account (AT S1E1RP, FEAT_PAN2) or not (AT S1E1R).
fn el1_can_read(va: u64, pan: bool) -> bool {
    let par: u64;
    // SAFETY: as el0_can. S1E1RP is written as its SYS encoding.
    unsafe {
        if pan {
            core::arch::asm!("sys #0, c7, c9, #0, {v}", "isb", "mrs {p}, par_el1", v = in(reg) va, p = out(reg) par, options(nostack));
        } else {
            core::arch::asm!("at s1e1r, {v}", "isb", "mrs {p}, par_el1", v = in(reg) va, p = out(reg) par, options(nostack));
        }
    }
    par & 1 == 0
}

/// FEAT_PAN2 (AT S1E1RP) present, and PAN on.
fn pan2_on() -> bool {
    let mmfr1: u64;
    // SAFETY: reading an ID register.
    unsafe { core::arch::asm!("mrs {}, id_aa64mmfr1_el1", out(reg) mmfr1, options(nomem, nostack)) };
    if (mmfr1 >> 20) & 0xf < 2 {
        return false;
    }
    let pan: u64;
    // SAFETY: reading PSTATE.PAN, which exists on this CPU (checked).
    unsafe { core::arch::asm!("mrs {}, S3_0_C4_C2_3", out(reg) pan, options(nomem, nostack)) };
    pan != 0
}

fn tpidr_el0() -> u64 {
    let v: u64;
    // SAFETY: reading a thread-ID register.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) v, options(nomem, nostack)) };
    v
}

fn set_tpidr_el0(v: u64) {
    // SAFETY: TPIDR_EL0 is user state; the tests restore it.
    unsafe { core::arch::asm!("msr tpidr_el0, {}", in(reg) v, options(nomem, nostack)) };
}

fn onfault_clear() -> bool {
    // SAFETY: ci_curpcb points at a live Pcb.
    unsafe { (*cpu::curpcb()).pcb_onfault == 0 }
}

// ---------------------------------------------------------------------------
// Kernel stacks
// ---------------------------------------------------------------------------

fn kstack_test() {
    let free0 = free_pages();
    let kpt0 = pmap::kernel_ptpages();
    let pages = KSTACK_SIZE / PAGE_SIZE;
    let mut tops = [0usize; 4];
    for t in &mut tops {
        *t = vm_machdep::kstack_alloc().expect("kstack test: no stack");
    }
    for (i, &t) in tops.iter().enumerate() {
        assert!(!tops[..i].contains(&t), "kstack test: stack {t:#x} handed out twice");
        let t = t as u64;
        assert_eq!(
            pmap::kvtophys(t - KSTACK_SIZE - PAGE_SIZE),
            None,
            "kstack test: guard below {t:#x} mapped"
        );
        assert_eq!(pmap::kvtophys(t), None, "kstack test: page above {t:#x} mapped");
        for p in 0..pages {
            let va = (t - KSTACK_SIZE + p * PAGE_SIZE) as *mut u64;
            // SAFETY: a page of a stack we own, mapped RW.
            unsafe {
                va.write_volatile(t ^ p);
                assert_eq!(va.read_volatile(), t ^ p, "kstack test: stack page lost a write");
            }
        }
    }
    let kpt = pmap::kernel_ptpages() - kpt0;
    assert_eq!(free0 - free_pages(), 4 * pages + kpt, "kstack test: pages taken");
    for &t in &tops {
        vm_machdep::kstack_free(t);
        assert_eq!(pmap::kvtophys(t as u64 - 8), None, "kstack test: stack still mapped after free");
    }
    assert_eq!(free_pages(), free0 - kpt, "kstack test: pages not all returned");
    // The lowest free slot is reused: no new page-table page.
    let t = vm_machdep::kstack_alloc().expect("kstack test: no stack");
    assert!(tops.contains(&t), "kstack test: a freed slot was not reused");
    vm_machdep::kstack_free(t);
    assert_eq!(free_pages(), free0 - kpt, "kstack test: reuse leaked pages");
    assert_eq!(pmap::kernel_ptpages() - kpt0, kpt, "kstack test: reuse took table pages");
    printf!(
        "kstack: 4 stacks of {} KiB with guard pages allocated and freed, back to baseline ({} table pages kept)\n",
        KSTACK_SIZE / 1024,
        kpt
    );
}

// ---------------------------------------------------------------------------
// User pmaps, copyin/copyout, signal frames
// ---------------------------------------------------------------------------

const VA_RW: u64 = 0x40_0000;
const VA_RO: u64 = VA_RW + 0x1000;
const VA_HOLE: u64 = VA_RW + 0x2000;
/// Another level 1 entry, mapped executable.
const VA_X: u64 = 0x3f_4000_0000;
/// The last user page.
const VA_TOP: u64 = SIGCODE_VA as u64;
/// A run of pages, more than one TLBI per page is worth.
const VA_RUN: u64 = 0x1000_0000;
const RUN_PAGES: u64 = 70;

// Descriptor bits the test checks.
const D_AP_USER: u64 = 1 << 6;
const D_AP_RO: u64 = 1 << 7;
const D_NG: u64 = 1 << 11;
const D_PXN: u64 = 1 << 53;
const D_UXN: u64 = 1 << 54;

fn copy_ok(what: &str, r: Result<(), kern::machdep::Efault>) {
    assert!(r.is_ok(), "pmap test: {what} failed");
    assert!(onfault_clear(), "pmap test: pcb_onfault left set after {what}");
}

fn copy_efault(what: &str, r: Result<(), kern::machdep::Efault>) {
    assert!(r.is_err(), "pmap test: {what} did not fail with EFAULT");
    assert!(onfault_clear(), "pmap test: pcb_onfault left set after {what}");
}

fn pmap_test() {
    let free0 = free_pages();
    let (tp0, ta0, _, _) = pmap::tlb_stats();
    let faults0 = trap::ONFAULT_RECOVERIES.load(Ordering::Relaxed);
    let kpf0 = trap::KERNEL_PAGEFAULTS.load(Ordering::Relaxed);

    // A pmap never loaded anywhere costs no TLB invalidation at all.
    let pm2 = pmap::pmap_create().expect("pmap test: pmap_create");
    let scratch = page_with(0);
    for va in [VA_RW, VA_X, VA_TOP] {
        assert!(pmap::pmap_enter(pm2, va, scratch, VmProt::RW), "pmap test: pmap_enter");
    }
    pmap::pmap_protect(pm2, VA_RW, VA_RW + PAGE_SIZE, VmProt::READ);
    pmap::pmap_remove(pm2, sys::vmparam::VM_MIN_ADDRESS as u64, MAXUSER);
    assert_eq!(pmap::pmap_counts(pm2).1, 0, "pmap test: full-range remove left mappings");
    pmap::pmap_purge(pm2);
    assert_eq!(pmap::pmap_counts(pm2).0, 1, "pmap test: purge kept table pages");
    pmap::pmap_destroy(pm2);
    uvm_pagefree(scratch);
    assert_eq!(
        pmap::tlb_stats().0 - tp0 + pmap::tlb_stats().1 - ta0,
        0,
        "pmap test: TLBI for a never-loaded pmap"
    );
    assert_eq!(free_pages(), free0, "pmap test: unloaded pmap leaked pages");

    let pm = pmap::pmap_create().expect("pmap test: pmap_create");
    let (p_rw, p_ro, p_x, p_top, p_new) =
        (page_with(0x11), page_with(0x22), page_with(0x33), page_with(0x44), page_with(0x55));
    assert!(pmap::pmap_enter(pm, VA_RW, p_rw, VmProt::RW));
    assert!(pmap::pmap_enter(pm, VA_RO, p_ro, VmProt::READ));
    assert!(pmap::pmap_enter(pm, VA_X, p_x, VmProt::RX));
    assert!(pmap::pmap_enter(pm, VA_TOP, p_top, VmProt::RW));
    // Level 1 + (level 2 + level 3) for each of three level 1 entries.
    assert_eq!(pmap::pmap_counts(pm), (7, 4), "pmap test: table pages / resident pages");
    assert_eq!(pmap::pmap_extract(pm, VA_RW), Some(p_rw));
    assert_eq!(pmap::pmap_extract(pm, VA_RO + 0x10), Some(p_ro + 0x10));
    assert_eq!(pmap::pmap_extract(pm, VA_HOLE), None);
    assert_eq!(pmap::pmap_extract(pm, MAXUSER), None);
    let d_rw = pmap::pmap_pte(pm, VA_RW).unwrap();
    let d_ro = pmap::pmap_pte(pm, VA_RO).unwrap();
    let d_x = pmap::pmap_pte(pm, VA_X).unwrap();
    for d in [d_rw, d_ro, d_x] {
        assert!(d & (D_AP_USER | D_NG | D_PXN) == D_AP_USER | D_NG | D_PXN, "pmap test: descriptor {d:#x}");
    }
    assert!(d_rw & (D_AP_RO | D_UXN) == D_UXN, "pmap test: RW descriptor {d_rw:#x}");
    assert!(d_ro & (D_AP_RO | D_UXN) == D_AP_RO | D_UXN, "pmap test: RO descriptor {d_ro:#x}");
    assert!(d_x & (D_AP_RO | D_UXN) == D_AP_RO, "pmap test: RX descriptor {d_x:#x}");

    let kaddr = &raw const KSTATIC as u64;
    assert!(!el0_can(VA_RW, false), "pmap test: a user page is reachable before activation");
    pmap::pmap_activate(pm);
    let ci = cpu::curcpu_md();
    assert_eq!(ci.ci_curpm.load(Ordering::Relaxed) as PmapRef, pm, "pmap test: ci_curpm");
    let asid = pmap::pmap_asid(pm);
    assert!(asid & 0xffff != 0 && ci.ci_asid.load(Ordering::Relaxed) == asid, "pmap test: asid {asid:#x}");
    assert!(el0_can(VA_RW, true) && el0_can(VA_RO, false) && el0_can(VA_X, false) && el0_can(VA_TOP, true));
    assert!(!el0_can(VA_RO, true) && !el0_can(VA_X, true), "pmap test: EL0 can write a read-only page");
    assert!(
        !el0_can(VA_HOLE, false) && !el0_can(kaddr, false),
        "pmap test: EL0 reaches a hole or the kernel"
    );
    let pan = pan2_on();
    if pan {
        assert!(el1_can_read(VA_RW, false), "pmap test: AT S1E1R on a user page");
        assert!(!el1_can_read(VA_RW, true), "pmap test: PAN does not stop a privileged read of a user page");
    }

    // copyin/copyout, PAN on where present.
    let mut buf = [0u8; 256];
    copy_ok("copyin of a read-only page", machdep::copyin(VA_RO + 100, &mut buf));
    assert!(buf.iter().all(|&b| b == 0x22), "pmap test: copyin read the wrong bytes");
    let msg: [u8; 100] = core::array::from_fn(|i| i as u8 ^ 0xa5);
    copy_ok("unaligned copyout", machdep::copyout(&msg, VA_RW + 3));
    // SAFETY: p_rw is ours, direct-mapped.
    let back = unsafe { core::slice::from_raw_parts(kva(p_rw).add(3), 100) };
    assert_eq!(back, &msg[..], "pmap test: copyout wrote the wrong bytes");
    copy_ok("copyin across two pages", machdep::copyin(VA_RW + 4000, &mut buf));
    assert!(buf[..96].iter().all(|&b| b == 0x11) && buf[96..].iter().all(|&b| b == 0x22));
    let mut top = [0u8; 4096];
    copy_ok("copyin of the last user page", machdep::copyin(VA_TOP, &mut top));
    copy_ok("empty copyin at a bad address", machdep::copyin(u64::MAX, &mut []));
    let f0 = trap::ONFAULT_RECOVERIES.load(Ordering::Relaxed);
    copy_efault("copyout into a read-only page", machdep::copyout(&msg, VA_RW + 4090));
    // SAFETY: p_ro is ours, direct-mapped.
    assert!(unsafe { *kva(p_ro) } == 0x22, "pmap test: copyout wrote into a read-only page");
    copy_efault("copyin from a hole", machdep::copyin(VA_HOLE + 8, &mut buf));
    copy_efault("copyin from page 0", machdep::copyin(8, &mut buf));
    copy_efault("copyin from a kernel address", machdep::copyin(kaddr, &mut buf));
    copy_efault("copyin that wraps", machdep::copyin(u64::MAX - 8, &mut buf));
    copy_efault("copyin across the top of user space", machdep::copyin(MAXUSER - 8, &mut buf));
    copy_efault("copyin one byte past user space", machdep::copyin(VA_TOP + 1, &mut top));
    // Past the range check, the unprivileged load itself refuses a kernel
    // address (defence in depth).
    // SAFETY: buf is a valid kernel buffer; the fault is recovered.
    let r = unsafe { locore::copyin_md(buf.as_mut_ptr(), kaddr, 8) };
    assert_eq!(r, sys::errno::EFAULT, "pmap test: LDTR read a kernel address");
    assert!(onfault_clear());
    let recovered = trap::ONFAULT_RECOVERIES.load(Ordering::Relaxed) - f0;
    assert_eq!(recovered, 3, "pmap test: {recovered} copy faults recovered, expected 3");

    // protect lowers (and never raises) permissions, with a TLBI.
    let tp = pmap::tlb_stats().0;
    pmap::pmap_protect(pm, VA_RW, VA_RW + PAGE_SIZE, VmProt::READ);
    assert_eq!(pmap::tlb_stats().0 - tp, 1, "pmap test: protect issued no (or several) TLBIs");
    assert!(!el0_can(VA_RW, true), "pmap test: still writable after protect");
    copy_efault("copyout after protect", machdep::copyout(&msg, VA_RW));
    pmap::pmap_protect(pm, VA_RW, VA_RW + PAGE_SIZE, VmProt::RX);
    assert!(
        pmap::pmap_pte(pm, VA_RW).unwrap() & (D_AP_RO | D_UXN) == D_AP_RO | D_UXN,
        "protect raised rights"
    );
    assert!(pmap::pmap_enter(pm, VA_RW, p_rw, VmProt::RW));
    copy_ok("copyout after re-enter", machdep::copyout(&msg, VA_RW));
    // Replacing the page (break-before-make): the TLB entry of the old
    // one (warm from the copy above) must be gone.
    assert!(pmap::pmap_enter(pm, VA_RW, p_new, VmProt::RW));
    copy_ok("copyin after replace", machdep::copyin(VA_RW + 200, &mut buf[..8]));
    assert!(buf[..8].iter().all(|&b| b == 0x55), "pmap test: stale translation after replacing a page");
    assert_eq!(pmap::pmap_counts(pm).1, 4, "pmap test: replace changed the resident count");
    let tp = pmap::tlb_stats().0;
    pmap::pmap_remove(pm, VA_RW, VA_RW + PAGE_SIZE);
    assert_eq!(pmap::tlb_stats().0 - tp, 1, "pmap test: remove of one page");
    assert_eq!(pmap::pmap_extract(pm, VA_RW), None);
    copy_efault("copyin after remove", machdep::copyin(VA_RW, &mut buf));

    // Many pages at once: one TLBI by ASID instead of one per page.
    for i in 0..RUN_PAGES {
        assert!(pmap::pmap_enter(pm, VA_RUN + i * PAGE_SIZE, p_new, VmProt::READ));
    }
    copy_ok("copyin of the run", machdep::copyin(VA_RUN + (RUN_PAGES - 1) * PAGE_SIZE, &mut buf));
    let (tp, ta, _, _) = pmap::tlb_stats();
    pmap::pmap_remove(pm, VA_RUN, VA_RUN + RUN_PAGES * PAGE_SIZE);
    let (tp1, ta1, _, _) = pmap::tlb_stats();
    assert!(
        tp1 == tp && ta1 == ta + 1,
        "pmap test: removing {RUN_PAGES} pages: {} page TLBIs, {} by ASID",
        tp1 - tp,
        ta1 - ta
    );
    copy_efault("copyin after a large remove", machdep::copyin(VA_RUN, &mut buf));

    sig_test();

    // Deactivated: no user translation is usable any more.
    pmap::pmap_deactivate(pm);
    assert!(ci.ci_curpm.load(Ordering::Relaxed).is_null() && ci.ci_asid.load(Ordering::Relaxed) == 0);
    assert!(!el0_can(VA_RO, false), "pmap test: user page reachable after deactivate");
    copy_efault("copyin after deactivate", machdep::copyin(VA_RO, &mut buf));

    // Teardown of a loaded-before pmap: exactly one TLBI by ASID.
    let (tp, ta, _, _) = pmap::tlb_stats();
    pmap::pmap_purge(pm);
    let (tp1, ta1, _, _) = pmap::tlb_stats();
    assert!(
        tp1 == tp && ta1 == ta + 1,
        "pmap test: purge issued {} page TLBIs, {} by ASID",
        tp1 - tp,
        ta1 - ta
    );
    assert_eq!(pmap::pmap_counts(pm), (1, 0), "pmap test: purge left tables or pages");
    assert_eq!(pmap::pmap_extract(pm, VA_RO), None);
    pmap::pmap_purge(pm);
    assert_eq!(pmap::tlb_stats().1, ta1, "pmap test: purge of a clean pmap flushed again");
    pmap::pmap_destroy(pm);
    for pa in [p_rw, p_ro, p_x, p_top, p_new] {
        uvm_pagefree(pa);
    }
    assert_eq!(
        trap::KERNEL_PAGEFAULTS.load(Ordering::Relaxed),
        kpf0,
        "pmap test: kernel_pagefault called with interrupts masked"
    );
    let free1 = free_pages();
    assert_eq!(free1, free0, "pmap test: free pages {free1}, baseline {free0}");
    printf!(
        "pmap: user pmap test ok: asid {:#x} ({}-bit), PAN {}, {} copy faults recovered, purge 1 TLBI by ASID, back to baseline ({} free pages)\n",
        asid & 0xffff,
        pmap::asid_bits(),
        if pan { "checked" } else { "absent" },
        trap::ONFAULT_RECOVERIES.load(Ordering::Relaxed) - faults0,
        free1
    );
}

/// A kernel object whose address user copies must refuse.
static KSTATIC: u64 = 0x0b5d;

/// sendsig/sigreturn against the pmap of pmap_test (loaded): VA_TOP is a
/// writable stack page, VA_RO a read-only one.
fn sig_test() {
    let mask = 0x5a5a_u32;
    let orig = TrapFrame {
        tf_x: core::array::from_fn(|i| 0x1000 + i as u64),
        tf_sp: MAXUSER - 8, // unaligned on purpose
        tf_elr: USER_TEXT_BASE as u64 + 0x1234,
        tf_spsr: (PSR_NZCV & !(1 << 29)) | PSR_SSBS | PSR_BTYPE,
        tf_esr: 0x5600_0000,
        tf_far: 0,
    };
    let mut tf = orig;
    let catcher = USER_TEXT_BASE as u64 + 0x800;
    assert!(machdep::sendsig(&mut tf, catcher, SIGUSR1, mask), "sig test: sendsig failed");
    let scp = tf.tf_x[2];
    let size = core::mem::size_of::<SigContext>() as u64;
    assert!(
        scp.is_multiple_of(16) && scp + size <= orig.tf_sp && orig.tf_sp - scp < size + 16,
        "sig test: scp {scp:#x}"
    );
    assert!(tf.tf_x[0] == SIGUSR1 as u64 && tf.tf_x[1] == 0, "sig test: handler arguments");
    assert!(
        tf.tf_sp == scp && tf.tf_x[30] == SIGCODE_VA as u64 && tf.tf_elr == catcher,
        "sig test: handler entry"
    );
    assert_eq!(tf.tf_spsr, orig.tf_spsr & PSR_USER_BITS & !PSR_BTYPE, "sig test: handler SPSR");
    let mut sc = SigContext::default();
    machdep::copyin(scp, sc.as_bytes_mut()).expect("sig test: reading the context back");
    assert!(
        sc.sc_x == orig.tf_x
            && sc.sc_sp == orig.tf_sp
            && sc.sc_pc == orig.tf_elr
            && sc.sc_spsr == orig.tf_spsr
            && sc.sc_mask == mask,
        "sig test: context {sc:x?}"
    );

    // The handler changes a register in the context; sigreturn takes it.
    sc.sc_x[5] = 0x5555;
    machdep::copyout(sc.as_bytes(), scp).expect("sig test: writing the context");
    let mut tf2 = tf;
    assert_eq!(machdep::sigreturn(&mut tf2, scp), Ok(mask), "sig test: sigreturn");
    let mut want = orig;
    want.tf_x[5] = 0x5555;
    assert_eq!(tf2, want, "sig test: frame after sigreturn");

    // Contexts that would leave user mode or mask interrupts are refused.
    for bad in [0x5, 0x4, 0x1, 1 << 4, PSR_I, 1 << 20, 1 << 21, 1 << 22] {
        sc.sc_spsr = PSR_NZCV | bad;
        machdep::copyout(sc.as_bytes(), scp).expect("sig test: writing the context");
        let before = tf2;
        assert_eq!(
            machdep::sigreturn(&mut tf2, scp),
            Err(sys::errno::EINVAL),
            "sig test: SPSR {bad:#x} accepted"
        );
        assert_eq!(tf2, before, "sig test: a refused sigreturn changed the frame");
    }
    for bad in [VA_HOLE, &raw const KSTATIC as u64, MAXUSER - 16] {
        assert_eq!(
            machdep::sigreturn(&mut tf2, bad),
            Err(sys::errno::EFAULT),
            "sig test: context at {bad:#x}"
        );
    }

    // No room on the stack: the context would land in a read-only page or
    // below user space.
    for sp in [VA_HOLE + 16, 0x100] {
        let mut t = orig;
        t.tf_sp = sp;
        assert!(!machdep::sendsig(&mut t, catcher, SIGUSR1, mask), "sig test: sendsig with sp {sp:#x}");
        assert_eq!(t, TrapFrame { tf_sp: sp, ..orig }, "sig test: a failed sendsig changed the frame");
    }
    printf!(
        "sig: sendsig/sigreturn ok: {size}-byte context at {scp:#x}, 8 bad SPSRs and 3 bad pointers refused\n"
    );
}

// ---------------------------------------------------------------------------
// ASID generations
// ---------------------------------------------------------------------------

fn asid_test() {
    const N: usize = 5;
    const LIMIT: usize = 4; // numbers 1..3
    let free0 = free_pages();
    let (_, _, fl0, ro0) = pmap::tlb_stats();
    let gen0 = pmap::asid_generation();
    pmap::asid_set_limit(LIMIT);
    let mut pms = [0; N];
    let mut pages = [0u64; N];
    for i in 0..N {
        pms[i] = pmap::pmap_create().expect("asid test: pmap_create");
        pages[i] = page_with(0xa0 + i as u8);
        assert!(pmap::pmap_enter(pms[i], VA_RW, pages[i], VmProt::READ));
    }
    let mut prev = 0;
    for round in 0..3 {
        for (i, &pm) in pms.iter().enumerate() {
            let before = if prev != 0 { pmap::pmap_asid(prev) } else { 0 };
            let g = pmap::asid_generation();
            pmap::pmap_activate(pm);
            if prev != 0 && pmap::asid_generation() != g {
                // The pmap loaded here during the rollover keeps its number.
                let after = pmap::pmap_asid(prev);
                assert!(
                    after & 0xffff == before & 0xffff && after >> 16 == pmap::asid_generation(),
                    "asid test: loaded pmap's ASID {before:#x} became {after:#x} at rollover"
                );
            }
            let a = pmap::pmap_asid(pm);
            assert!(a >> 16 == pmap::asid_generation() && (1..LIMIT as u64).contains(&(a & 0xffff)));
            let mut b = [0u8; 16];
            machdep::copyin(VA_RW, &mut b).expect("asid test: copyin");
            assert!(
                b.iter().all(|&x| x == 0xa0 + i as u8),
                "asid test: round {round}: pmap {i} sees another's page"
            );
            // Numbers of the current generation are never shared.
            for &o in &pms {
                let oa = pmap::pmap_asid(o);
                assert!(
                    o == pm || oa >> 16 != a >> 16 || oa & 0xffff != a & 0xffff,
                    "asid test: ASID {a:#x} shared"
                );
            }
            prev = pm;
        }
    }
    pmap::pmap_deactivate(prev);
    pmap::asid_set_limit(0);
    let (_, _, fl1, ro1) = pmap::tlb_stats();
    let gens = pmap::asid_generation() - gen0;
    assert!(ro1 - ro0 == gens && gens >= 4, "asid test: {gens} generations, {} rollovers", ro1 - ro0);
    assert!(fl1 - fl0 >= gens, "asid test: {} local flushes for {gens} generations", fl1 - fl0);
    for i in 0..N {
        pmap::pmap_purge(pms[i]);
        pmap::pmap_destroy(pms[i]);
        uvm_pagefree(pages[i]);
    }
    assert_eq!(free_pages(), free0, "asid test: pages leaked");
    printf!(
        "pmap: asid test ok: {N} pmaps on {} numbers, {gens} rollovers, {} local TLB flushes, back to baseline\n",
        LIMIT - 1,
        fl1 - fl0
    );
}

// ---------------------------------------------------------------------------
// cpu_switchto
// ---------------------------------------------------------------------------

struct SwitchTest {
    main: UnsafeCell<Pcb>,
    a: UnsafeCell<Pcb>,
    b: UnsafeCell<Pcb>,
    step: AtomicU32,
    hooks: AtomicU32,
}

// SAFETY: only the boot CPU touches it, with interrupts masked, and only
// one of the test's threads runs at a time.
unsafe impl Sync for SwitchTest {}

const fn pcb0() -> Pcb {
    Pcb { pcb_sp: 0, pcb_kstack_top: 0, pcb_onfault: 0, pcb_tls: 0, pcb_md: [0; 4] }
}

static SW: SwitchTest = SwitchTest {
    main: UnsafeCell::new(pcb0()),
    a: UnsafeCell::new(pcb0()),
    b: UnsafeCell::new(pcb0()),
    step: AtomicU32::new(0),
    hooks: AtomicU32::new(0),
};

const ROUNDS: u32 = 50;
const TLS_A: u64 = 0xa000;
const TLS_B: u64 = 0xb000;

fn sw_hook() {
    SW.hooks.fetch_add(1, Ordering::Relaxed);
}

fn sw_thread(which: usize) {
    let (me, other, tls) =
        if which == 0 { (SW.a.get(), SW.b.get(), TLS_A) } else { (SW.b.get(), SW.a.get(), TLS_B) };
    // SAFETY: our own Pcb; only its kstack top is read.
    let top = unsafe { (*me).pcb_kstack_top } as u64;
    assert_eq!(tpidr_el0(), tls, "switch test: TPIDR_EL0 of a new thread");
    let mut acc = [0u64; 6];
    for i in 0..ROUNDS {
        let s = SW.step.fetch_add(1, Ordering::Relaxed);
        assert_eq!(s, 2 * i + which as u32, "switch test: threads ran out of order");
        assert_eq!(cpu::curpcb(), me, "switch test: ci_curpcb");
        let sp: u64;
        // SAFETY: reading sp.
        unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
        assert!((top - KSTACK_SIZE..top).contains(&sp), "switch test: running off its stack");
        let mine = tls + i as u64 + 1;
        set_tpidr_el0(mine);
        for (k, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_mul(31).wrapping_add(i as u64 * 7 + k as u64 + tls);
        }
        let keep = acc;
        // SAFETY: both Pcbs are live statics, the other one prepared by
        // thread_init_md or saved by its last switch; interrupts masked.
        unsafe { vm_machdep::cpu_switchto(me, other) };
        assert_eq!(tpidr_el0(), mine, "switch test: TPIDR_EL0 not kept across a switch");
        assert_eq!(acc, keep, "switch test: locals lost across a switch");
    }
    // SAFETY: as above; main waits in its own switch.
    unsafe { vm_machdep::cpu_switchto(me, SW.main.get()) };
    panic!("switch test: a finished thread was resumed");
}

fn switch_test() {
    let free0 = free_pages();
    let ta = vm_machdep::kstack_alloc().expect("switch test: no stack");
    let tb = vm_machdep::kstack_alloc().expect("switch test: no stack");
    // SAFETY: the test's Pcbs, used by nobody else; interrupts masked.
    unsafe {
        vm_machdep::thread_init_md(&mut *SW.a.get(), ta, sw_hook, sw_thread, 0);
        vm_machdep::thread_init_md(&mut *SW.b.get(), tb, sw_hook, sw_thread, 1);
        assert_eq!((*SW.a.get()).pcb_sp, ta - trap::FRAME_SIZE - locore::SWITCHFRAME_SIZE);
        (*SW.a.get()).pcb_tls = TLS_A;
        (*SW.b.get()).pcb_tls = TLS_B;
    }
    assert!(intr::intr_disable() & PSR_I as usize != 0, "switch test: interrupts enabled");
    set_tpidr_el0(0x3a1);
    // SAFETY: as in sw_thread; the first switch saves this context in the
    // test's own Pcb, as the MI code will from its idle context.
    unsafe { vm_machdep::cpu_switchto(SW.main.get(), SW.a.get()) };
    assert_eq!(tpidr_el0(), 0x3a1, "switch test: TPIDR_EL0 of the boot context");
    set_tpidr_el0(0);
    cpu::reset_curpcb();
    assert_eq!(SW.step.load(Ordering::Relaxed), 2 * ROUNDS, "switch test: steps");
    assert_eq!(SW.hooks.load(Ordering::Relaxed), 2, "switch test: trampoline hook calls");
    vm_machdep::kstack_free(ta);
    vm_machdep::kstack_free(tb);
    assert_eq!(free_pages(), free0, "switch test: pages leaked");
    printf!("cpu_switchto: 2 threads, {} switches, TPIDR_EL0 and callee-saved state kept\n", 2 * ROUNDS + 2);
}

// ---------------------------------------------------------------------------
// User mode (boot word `usertest`)
// ---------------------------------------------------------------------------

const UT_RO: u64 = 0x30_0000;
const UT_HOLE: u64 = 0x31_0000;
const UT_STACK_PAGE: u64 = USRSTACK as u64 - PAGE_SIZE;
const UT_TLS: u64 = 0x715;
/// A system call number nothing implements.
const UT_NOSYS: u64 = 0x7fff;
const UT_MASK: u32 = 0x0123;
/// How many user events the program causes.
const UT_EVENTS: usize = 8;

// Result bits the user program sets in x9.
const R_FORK: u64 = 1; // C clear and N kept from the parent's flags
const R_HANDLER: u64 = 2; // the handler saw what sendsig promised
const R_SIGRETURN: u64 = 4; // x0, x1, sp as cpu_fork left them, restored
const R_ENOSYS: u64 = 8; // the unknown system call: C set, x0 = ENOSYS
const R_REGS: u64 = 16; // x19.. kept across the SVC and sigreturn
const R_TLS: u64 = 32; // TPIDR_EL0 = cpu_fork's tls
const R_ALL: u64 = 63;

core::arch::global_asm!(
    r#"
    .section .rodata.usertest, "a"
    .balign 16
    .globl usertest_code, usertest_handler, usertest_main, usertest_fp, usertest_udf, usertest_brk
    .globl usertest_code_end
usertest_code:
// handler(sig, info, scp): collects what it sees in x9 and stores it in
// the context's x20, for main to check after sigreturn.
usertest_handler:
    mov     x9, #0
    cmp     x0, #{SIGUSR1}
    b.ne    1f
    orr     x9, x9, #1
1:  cbnz    x1, 2f
    orr     x9, x9, #2
2:  mov     x10, sp
    cmp     x2, x10
    b.ne    3f
    orr     x9, x9, #4
3:  tst     x10, #15
    b.ne    4f
    orr     x9, x9, #8
4:  ldr     x11, 9f
    cmp     x30, x11
    b.ne    5f
    orr     x9, x9, #16
5:  str     x9, [x2, #{SC_X20}]
    ret
    .balign 8
9:  .quad   {SIGCODE_VA}

// Where the interrupted context resumes after sigreturn.
usertest_main:
    mov     x9, #0
    b.cs    1f
    b.pl    1f
    orr     x9, x9, #{R_FORK}
1:  cmp     x20, #0x1f
    b.ne    2f
    orr     x9, x9, #{R_HANDLER}
2:  cbnz    x0, 3f
    cbnz    x1, 3f
    mov     x10, sp
    ldr     x11, 18f
    cmp     x10, x11
    b.ne    3f
    orr     x9, x9, #{R_SIGRETURN}
3:  mov     x8, #{NOSYS}
    svc     #0
    b.cc    4f
    cmp     x0, #{ENOSYS}
    b.ne    4f
    orr     x9, x9, #{R_ENOSYS}
4:  cmp     x19, #0x19
    b.ne    5f
    cmp     x21, #0x21
    b.ne    5f
    cmp     x28, #0x28
    b.ne    5f
    orr     x9, x9, #{R_REGS}
5:  mrs     x10, tpidr_el0
    cmp     x10, #{TLS}
    b.ne    6f
    orr     x9, x9, #{R_TLS}
6:  mov     x12, #3
7:  wfi
    subs    x12, x12, #1
    b.ne    7b
    ldr     x10, 19f
    str     x9, [x10]               // read-only page: fault (write)
    ldr     x10, 20f
    ldr     x11, [x10]              // hole: fault (read)
    ldr     x10, 21f
    blr     x10                     // stack page: fault (execute)
usertest_fp:
    .inst   0x9e670120              // fmov d0, x9: FP is off at EL0, SIGILL
usertest_udf:
    udf     #0                      // SIGILL
usertest_brk:
    brk     #0x77                   // SIGTRAP: the end, result in x9
    b       .
    .balign 8
18: .quad   {USRSTACK}
19: .quad   {RO}
20: .quad   {HOLE}
21: .quad   {STACK_PAGE}
usertest_code_end:
"#,
    SIGUSR1 = const SIGUSR1,
    SC_X20 = const 20 * 8,
    SIGCODE_VA = const SIGCODE_VA,
    R_FORK = const R_FORK,
    R_HANDLER = const R_HANDLER,
    R_SIGRETURN = const R_SIGRETURN,
    R_ENOSYS = const R_ENOSYS,
    R_REGS = const R_REGS,
    R_TLS = const R_TLS,
    NOSYS = const UT_NOSYS,
    ENOSYS = const sys::errno::ENOSYS,
    TLS = const UT_TLS,
    USRSTACK = const USRSTACK,
    RO = const UT_RO,
    HOLE = const UT_HOLE,
    STACK_PAGE = const UT_STACK_PAGE,
);

unsafe extern "C" {
    static usertest_code: u8;
    static usertest_handler: u8;
    static usertest_main: u8;
    static usertest_fp: u8;
    static usertest_udf: u8;
    static usertest_brk: u8;
    static usertest_code_end: u8;
}

/// User VA of a label of the user program once copied to USER_TEXT_BASE.
fn ut_va(label: *const u8) -> u64 {
    USER_TEXT_BASE as u64 + (label as u64 - &raw const usertest_code as u64)
}

struct UserTest {
    driver: UnsafeCell<Pcb>,
    child: UnsafeCell<Pcb>,
    events: Mutex<([Option<UserEvent>; UT_EVENTS], usize)>,
    result: AtomicU64,
    mask: AtomicU64,
    hooks: AtomicU32,
    child_ok: AtomicU32,
}

// SAFETY: only the boot CPU runs the test; the Pcbs are used by one
// context at a time, and everything else is atomic or locked.
unsafe impl Sync for UserTest {}

static UT: UserTest = UserTest {
    driver: UnsafeCell::new(pcb0()),
    child: UnsafeCell::new(pcb0()),
    events: Mutex::new(([None; UT_EVENTS], 0)),
    result: AtomicU64::new(0),
    mask: AtomicU64::new(0),
    hooks: AtomicU32::new(0),
    child_ok: AtomicU32::new(0),
};

fn ut_mi_hook() {
    UT.hooks.fetch_add(1, Ordering::Relaxed);
}

/// The child's kernel code before its first return to user mode: a copy
/// fault with interrupts enabled (so kernel_pagefault is consulted), then
/// what the MI userret does with a pending caught signal: sendsig.
fn ut_child(_: usize) {
    // SAFETY: ci_curpcb is this thread's Pcb.
    let top = unsafe { (*cpu::curpcb()).pcb_kstack_top };
    let kpf = trap::KERNEL_PAGEFAULTS.load(Ordering::Relaxed);
    intr::intr_enable();
    let mut b = [0u8; 8];
    let r = machdep::copyin(UT_HOLE, &mut b);
    intr::intr_disable();
    if r.is_err() && trap::KERNEL_PAGEFAULTS.load(Ordering::Relaxed) == kpf + 1 {
        UT.child_ok.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: the child's own frame at the top of its stack.
    let tf = unsafe { &mut *vm_machdep::trapframe_of(top) };
    if machdep::sendsig(tf, ut_va(&raw const usertest_handler), SIGUSR1, UT_MASK) {
        UT.child_ok.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sees the user thread's exceptions in place of the MI code: sigreturn
/// is done as sys_sigreturn will do it; faults and signals are logged and
/// skipped; the final SIGTRAP switches back to the driver for good.
fn ut_hook(tf: &mut TrapFrame, ev: UserEvent) -> HookResult {
    {
        let mut ev_log = UT.events.lock();
        let n = ev_log.1;
        if n < ev_log.0.len() {
            ev_log.0[n] = Some(ev);
        }
        ev_log.1 += 1;
    }
    match ev {
        UserEvent::Syscall(code) if code == sys::syscall::SYS_sigreturn as u64 => {
            if tf.tf_x[0] != tf.tf_sp {
                return HookResult::Syscall(Err(sys::errno::EINVAL));
            }
            match machdep::sigreturn(tf, tf.tf_x[0]) {
                Ok(m) => {
                    UT.mask.store(m as u64, Ordering::Relaxed);
                    HookResult::Syscall(Err(sys::errno::EJUSTRETURN))
                }
                Err(e) => HookResult::Syscall(Err(e)),
            }
        }
        UserEvent::Syscall(_) => HookResult::Pass,
        UserEvent::Fault(_, VmProt::EXECUTE) => {
            tf.tf_elr = tf.tf_x[30];
            HookResult::Handled
        }
        UserEvent::Signal(SIGTRAP, _) => {
            UT.result.store(tf.tf_x[9], Ordering::Relaxed);
            intr::intr_disable();
            // SAFETY: both Pcbs are the test's statics; the driver waits
            // in its switch; interrupts masked. This thread never runs
            // again, and its stack is freed by the driver.
            unsafe { vm_machdep::cpu_switchto(UT.child.get(), UT.driver.get()) };
            panic!("usertest: the finished user thread was resumed");
        }
        UserEvent::Fault(..) | UserEvent::Signal(..) => {
            tf.tf_elr += 4;
            HookResult::Handled
        }
    }
}

fn usertest() {
    let free0 = free_pages();
    let pm = pmap::pmap_create().expect("usertest: pmap_create");
    let code = page_with(0);
    let sigpage = page_with(0);
    let stack = page_with(0);
    let ro = page_with(0x77);
    let start = &raw const usertest_code;
    let len = &raw const usertest_code_end as usize - start as usize;
    let sc = locore::sigcode_bytes();
    // SAFETY: the user program and sigcode are read-only data of the
    // kernel image; the destinations are our fresh pages, direct-mapped,
    // and the lengths fit in a page.
    unsafe {
        core::ptr::copy_nonoverlapping(start, kva(code), len);
        core::ptr::copy_nonoverlapping(sc.as_ptr(), kva(sigpage), sc.len());
    }
    // Executable pages are entered after being written: pmap_enter makes
    // the instruction cache see them.
    assert!(pmap::pmap_enter(pm, USER_TEXT_BASE as u64, code, VmProt::RX));
    assert!(pmap::pmap_enter(pm, SIGCODE_VA as u64, sigpage, VmProt::RX));
    assert!(pmap::pmap_enter(pm, UT_STACK_PAGE, stack, VmProt::RW));
    assert!(pmap::pmap_enter(pm, UT_RO, ro, VmProt::READ));

    // The "parent" at its fork system call; the child gets a copy.
    let mut parent = TrapFrame { tf_x: [0; 31], tf_sp: 0, tf_elr: 0, tf_spsr: 0, tf_esr: 0, tf_far: 0 };
    let mut scratch = pcb0();
    machdep::setregs(&mut parent, &mut scratch, ut_va(&raw const usertest_main), USRSTACK as u64 - 0x100);
    // x19..x28 = 0x19..0x28 as hex digits, which the program compares.
    for (r, v) in (19..=28).zip([0x19, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]) {
        parent.tf_x[r] = v;
    }
    parent.tf_x[0] = 0xdead;
    parent.tf_x[1] = 0xbeef;
    parent.tf_spsr = PSR_NZCV;
    let top = vm_machdep::kstack_alloc().expect("usertest: no stack");
    // SAFETY: the test's own Pcb, nobody else uses it.
    vm_machdep::fork_md(
        &parent,
        unsafe { &mut *UT.child.get() },
        top,
        USRSTACK,
        UT_TLS,
        ut_mi_hook,
        ut_child,
    );

    trap::set_user_hook(Some(ut_hook));
    let uintr0 = cpu::curcpu_md().ci_uintr.load(Ordering::Relaxed);
    let s = intr::intr_disable();
    pmap::pmap_activate(pm);
    // SAFETY: both Pcbs are the test's statics; the child was prepared by
    // fork_md; interrupts masked.
    unsafe { vm_machdep::cpu_switchto(UT.driver.get(), UT.child.get()) };
    pmap::pmap_deactivate(pm);
    intr::intr_restore(s);
    trap::set_user_hook(None);
    cpu::reset_curpcb();
    let uintr = cpu::curcpu_md().ci_uintr.load(Ordering::Relaxed) - uintr0;

    let result = UT.result.load(Ordering::Relaxed);
    let (events, n) = *UT.events.lock();
    let want: [UserEvent; UT_EVENTS] = [
        UserEvent::Syscall(sys::syscall::SYS_sigreturn as u64),
        UserEvent::Syscall(UT_NOSYS),
        UserEvent::Fault(UT_RO, VmProt::WRITE),
        UserEvent::Fault(UT_HOLE, VmProt::READ),
        UserEvent::Fault(UT_STACK_PAGE, VmProt::EXECUTE),
        UserEvent::Signal(SIGILL, ut_va(&raw const usertest_fp)),
        UserEvent::Signal(SIGILL, ut_va(&raw const usertest_udf)),
        UserEvent::Signal(SIGTRAP, ut_va(&raw const usertest_brk)),
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(events[i], Some(*w), "usertest: event {i}");
    }
    assert_eq!(n, want.len(), "usertest: {n} user events");
    assert_eq!(result, R_ALL, "usertest: user checks {result:#x}, expected {R_ALL:#x}");
    assert_eq!(UT.mask.load(Ordering::Relaxed), UT_MASK as u64, "usertest: sigreturn mask");
    assert_eq!(UT.hooks.load(Ordering::Relaxed), 1, "usertest: trampoline hook");
    assert_eq!(UT.child_ok.load(Ordering::Relaxed), 2, "usertest: child kernel side");
    assert!(uintr > 0, "usertest: no interrupt taken in user mode");

    pmap::pmap_purge(pm);
    pmap::pmap_destroy(pm);
    for pa in [code, sigpage, stack, ro] {
        uvm_pagefree(pa);
    }
    vm_machdep::kstack_free(top);
    assert_eq!(free_pages(), free0, "usertest: pages leaked");
    printf!(
        "usertest: ok: handler, sigreturn, ENOSYS with C set, {} faults and signals, {uintr} interrupts from EL0\n",
        n - 2
    );
}

// ---------------------------------------------------------------------------
// Kernel stack overflow (boot word `kstackoverflow`; ends in a panic)
// ---------------------------------------------------------------------------

static OVF_MAIN: SwitchTest = SwitchTest {
    main: UnsafeCell::new(pcb0()),
    a: UnsafeCell::new(pcb0()),
    b: UnsafeCell::new(pcb0()),
    step: AtomicU32::new(0),
    hooks: AtomicU32::new(0),
};

fn no_hook() {}

/// Recurse with 512-byte frames until the stack runs into its guard.
fn overflow_thread(depth: usize) {
    let mut buf = [depth as u8; 512];
    core::hint::black_box(&mut buf);
    if depth < usize::MAX {
        overflow_thread(depth + 1);
    }
    core::hint::black_box(&buf);
}

fn kstack_overflow() {
    let top = vm_machdep::kstack_alloc().expect("overflow test: no stack");
    printf!("kstack: overflowing a thread's kernel stack on purpose (boot word kstackoverflow)\n");
    // SAFETY: the test's Pcbs; interrupts masked (cpu_configure).
    unsafe {
        vm_machdep::thread_init_md(&mut *OVF_MAIN.a.get(), top, no_hook, overflow_thread, 0);
        vm_machdep::cpu_switchto(OVF_MAIN.main.get(), OVF_MAIN.a.get());
    }
    panic!("overflow test: the overflowing thread came back");
}
