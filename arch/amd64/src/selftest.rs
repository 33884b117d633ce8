//! Boot-time self-tests of the machine-dependent process support, run by
//! `cpu_configure` on the boot CPU once every CPU has started (so before
//! any MI process exists): thread stacks, `cpu_switchto`, user pmaps with
//! copyin/copyout through them, TLB shootdowns targeted by `ci_proc_pmap`
//! (with two CPUs or more), and the signal frame. Each ends with the free
//! page count back at its baseline and panics on any mismatch, so a boot
//! that reaches the summary line passed them all.
//!
//! None of these depends on the MI process model: the switch test runs its
//! threads with a hook of its own in place of `proc_trampoline_mi` (the
//! same code path otherwise). The user-mode test does depend on it (MI
//! syscall dispatch, userret, `proc_trampoline_mi`, `child_return`), so it
//! runs only with the boot word `usertest`; see [`test_user`].

use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;

use kern::cpu::{CpuInfo, cpus};
use kern::machdep::{Machdep, Pcb};
use kern::printf;
use kern::uvm_init::{uvm_pagealloc, uvm_pagefree, uvmexp_free};
use sys::signal::{SIGFPE, SIGILL, SIGSEGV, SIGTRAP, SIGUSR1};
use sys::vmparam::{SIGCODE_VA, USER_TEXT_BASE, USRSTACK, VM_MAXUSER_ADDRESS};
use uvm::PAGE_SIZE;
use uvm::pmap::{PmapRef, VmProt};

use crate::cpu::{CpuInfoMd, cpu_md, curcpu_md};
use crate::cpufunc::{
    MSR_FSBASE, PSL_AC, PSL_C, PSL_D, PSL_I, PSL_IOPL, PSL_T, PSL_USER, cli, rcr3, rdmsr, sti,
};
use crate::gdt::{GSEL_KCODE, GSEL_UCODE_SEL, GSEL_UDATA_SEL};
use crate::intr::{T_BPTFLT, T_DIVIDE, T_PAGEFLT, T_PRIVINFLT, T_PROTFLT, T_SYSCALL, cpu_xcall};
use crate::locore::md_switch_check;
use crate::machdep::{
    Amd64, SIGCODE, SigContext, copyin, copyout, cpu_fork_hook, cpu_thread_init_hook, sendsig,
    sigframe_layout, sigreturn,
};
use crate::pmap::{
    self, PG_NX, PG_RW, PG_U, PG_V, PMAP_STATS, PcidSpace, USPACE_PAGES, kstack_alloc_thread,
    kstack_free_thread, pg_nx, phys_to_kva, pmap_activate, pmap_create, pmap_deactivate, pmap_destroy,
    pmap_enter, pmap_extract, pmap_protect, pmap_purge, pmap_remove,
};
use crate::trap::{TrapFrame, USER_TRAP_HOOK};

/// Run every MD self-test. Before: on the boot CPU at the end of
/// `cpu_configure`, interrupts masked, the secondaries started. After:
/// the same, with the free page count as on entry; a summary line printed.
pub fn md_selftest() {
    let free0 = uvmexp_free();
    test_pcid_space();
    let nstacks = test_kstacks();
    let rounds = test_switch();
    test_pmap_copy();
    test_signal_frame();
    let ipis = test_shootdown();
    cli();
    let free1 = uvmexp_free();
    assert_eq!(free1, free0, "md selftest: {free1} free pages, baseline {free0}");
    printf!(
        "amd64: md selftest: {nstacks} kstacks, {rounds} switches, user pmap + copyin/out, signal frame, \
         shootdown {}, back to baseline ({free1} free pages)\n",
        match ipis {
            Some(n) => alloc::format!("{n} targeted ipis"),
            None => alloc::string::String::from("local only (1 cpu)"),
        }
    );
    if crate::machdep::boot_word("usertest") {
        test_user();
        let free2 = uvmexp_free();
        assert_eq!(free2, free0, "usertest: {free2} free pages, baseline {free0}");
        printf!("amd64: usertest: user mode, syscall, traps, signal round trip ok ({free2} free pages)\n");
    }
    cli();
}

/// The PCID allocator hands out 1..=max, then starts a new generation;
/// pmaps get distinct PCIDs, keep them until purged; a CPU flushes all on
/// a newer generation and a PCID when its pmap is stale there. (Runs
/// without CR4.PCIDE too: only the %cr3 loads depend on it.)
fn test_pcid_space() {
    let mut sp = PcidSpace { generation: 1, next: 1 };
    let got: [(u64, bool); 4] = core::array::from_fn(|_| sp.alloc(3));
    assert_eq!(got, [(1 << 12 | 1, false), (1 << 12 | 2, false), (1 << 12 | 3, false), (2 << 12 | 1, true)]);
    let mode = pmap::pcid_load_mode;
    assert_eq!(mode(1, 1 << 12 | 5, false), (false, true), "same generation, not stale: keep");
    assert_eq!(mode(1, 1 << 12 | 5, true), (false, false), "stale: flush this PCID");
    assert_eq!(mode(1, 2 << 12 | 5, false), (true, false), "newer generation: flush all");
    let free0 = uvmexp_free();
    let (a, b) = (pmap_create().unwrap(), pmap_create().unwrap());
    let (pa, pb) = (pmap::pmap_pcid_get(a), pmap::pmap_pcid_get(b));
    assert!(pa & 0xfff != 0 && pb & 0xfff != 0 && pa != pb && pa >> 12 == pb >> 12, "pcids {pa:#x} {pb:#x}");
    assert_eq!(pmap::pmap_pcid_get(a), pa, "a pmap's PCID changed");
    pmap_purge(a);
    assert_eq!(pmap::pmap_pcid_state(a), (0, 0), "purge must retire the PCID");
    let pa2 = pmap::pmap_pcid_get(a);
    assert!(pa2 != pa && pa2 != pb, "a retired PCID came back in the same generation");
    pmap_destroy(a);
    pmap_destroy(b);
    assert_eq!(uvmexp_free(), free0);
}

// ----- kernel stacks -----

fn test_kstacks() -> usize {
    const N: usize = 6;
    let free0 = uvmexp_free();
    let n0 = pmap::NKSTACKS.load(Ordering::Relaxed);
    // Freeing waits for the other CPUs' shootdown answers: interrupts on.
    // SAFETY: the boot CPU is set up; the test holds no lock.
    unsafe { sti() };
    let tops: [u64; N] = core::array::from_fn(|_| kstack_alloc_thread().expect("kstack_alloc failed"));
    let size = USPACE_PAGES * PAGE_SIZE;
    for (i, &top) in tops.iter().enumerate() {
        assert_eq!(top % 16, 0);
        assert!(tops[..i].iter().all(|&t| t.abs_diff(top) > size), "kstacks overlap");
        let guard = pmap::kstack_guard(top).expect("kstack_guard");
        assert_eq!(guard, top - size - PAGE_SIZE);
        assert!(pmap::kstack_pte_value(guard).is_none_or(|e| e & PG_V == 0), "guard page mapped");
        let pte = pmap::kstack_pte_value(top - PAGE_SIZE).expect("kstack not mapped");
        assert!(pte & PG_RW != 0 && pte & PG_U == 0 && pte & PG_NX == pg_nx(), "kstack pte {pte:#x}");
        // Every byte is ours to write.
        // SAFETY: the stack was just allocated for this test, mapped RW.
        unsafe { core::ptr::write_bytes((top - size) as *mut u8, i as u8, size as usize) };
    }
    for (i, &top) in tops.iter().enumerate() {
        // SAFETY: as above, still allocated.
        let b = unsafe { core::slice::from_raw_parts((top - size) as *const u8, size as usize) };
        assert!(b.iter().all(|&x| x == i as u8), "kstack {i} lost its contents");
    }
    assert_eq!(uvmexp_free(), free0 - N * USPACE_PAGES as usize - 1, "kstack pages (+1 page table)");
    for &top in &tops {
        kstack_free_thread(top);
    }
    assert_eq!(uvmexp_free(), free0, "kstack_free did not return every page");
    assert_eq!(pmap::NKSTACKS.load(Ordering::Relaxed), n0);
    assert!(pmap::kstack_pte_value(tops[0] - PAGE_SIZE).is_none(), "kstack page table not freed");
    // The lowest slot comes back first.
    let again = kstack_alloc_thread().expect("kstack_alloc failed");
    assert_eq!(again, *tops.iter().min().unwrap(), "kstack slot not reused");
    // Freed with interrupts masked: deferred, then freed by an idle wait
    // (this CPU's, or another's that gets there first).
    cli();
    let d0 = pmap::NKSTACK_DEFERRED.load(Ordering::Relaxed);
    kstack_free_thread(again);
    assert_eq!(pmap::NKSTACK_DEFERRED.load(Ordering::Relaxed), d0 + 1, "masked kstack_free did not defer");
    idle_until_free(free0);
    // And by the next free with interrupts on.
    let (a, b) = (kstack_alloc_thread().unwrap(), kstack_alloc_thread().unwrap());
    cli();
    kstack_free_thread(a);
    // SAFETY: the boot CPU is set up; the test holds no lock.
    unsafe { sti() };
    kstack_free_thread(b);
    idle_until_free(free0);
    assert_eq!(pmap::NKSTACK_DEFERRED.load(Ordering::Relaxed), d0 + 2);
    if kern::cpu::ncpus() > 1 {
        // Another CPU's idle loop takes it while this one stays masked,
        // answering that CPU's shootdown by polling.
        let c = kstack_alloc_thread().unwrap();
        kstack_free_thread(c);
        let deadline = crate::clock::nanouptime() + 2_000_000_000;
        while pmap::kstack_deferred() {
            assert!(crate::clock::nanouptime() < deadline, "no idle cpu drained the deferred kstack");
            crate::intr::shoot_poll();
            core::hint::spin_loop();
        }
        idle_until_free(free0);
    }
    N
}

/// Idle (answering interrupts, draining deferred stacks) until the free
/// page count is `free0` again; panics after 2 s. Returns with interrupts
/// masked.
fn idle_until_free(free0: usize) {
    let deadline = crate::clock::nanouptime() + 2_000_000_000;
    while uvmexp_free() != free0 || pmap::kstack_deferred() {
        assert!(
            crate::clock::nanouptime() < deadline,
            "deferred kstacks not freed: {} != {free0}",
            uvmexp_free()
        );
        <Amd64 as Machdep>::cpu_idle_wait();
    }
    cli();
}

// ----- cpu_switchto -----

/// State shared by the switch test's two threads and the boot context.
/// Only one of them runs at a time, on the boot CPU with interrupts
/// masked, so plain accesses through the UnsafeCell never overlap.
struct SwitchTest {
    pcb: [Pcb; 2],
    top: [u64; 2],
    boot: *mut Pcb,
    log: [u8; SWITCH_ROUNDS],
    n: usize,
    hooks: usize,
    bad_regs: u64,
    errors: u32,
}

struct Shared<T>(UnsafeCell<T>);
// SAFETY: see SwitchTest / UserTest: accessed by one context at a time.
unsafe impl<T> Sync for Shared<T> {}

const SWITCH_ROUNDS: usize = 8;

static SWT: Shared<SwitchTest> = Shared(UnsafeCell::new(SwitchTest {
    pcb: [const { Pcb { pcb_sp: 0, pcb_kstack_top: 0, pcb_onfault: 0, pcb_tls: 0, pcb_md: [0; 4] } }; 2],
    top: [0; 2],
    boot: core::ptr::null_mut(),
    log: [0; SWITCH_ROUNDS],
    n: 0,
    hooks: 0,
    bad_regs: 0,
    errors: 0,
}));

fn swt() -> *mut SwitchTest {
    SWT.0.get()
}

/// Stands in for `proc_trampoline_mi`: checks the state a new thread
/// starts in.
extern "C" fn switch_hook() {
    // SAFETY: see SwitchTest.
    let st = unsafe { &mut *swt() };
    st.hooks += 1;
    if crate::cpufunc::read_rflags() & PSL_I != 0 {
        st.errors |= 1;
    }
}

/// What must hold on the CPU while thread `me` runs.
fn switch_state_ok(ci: &CpuInfoMd, pcb: *const Pcb, top: u64, tls: u64) -> bool {
    // SAFETY: the TSS is this CPU's own, read with interrupts masked.
    let rsp0 = unsafe { (*ci.ci_tss.get()).rsp0() };
    // SAFETY: FS base exists on every x86_64 CPU.
    let fs = unsafe { rdmsr(MSR_FSBASE) };
    core::ptr::eq(ci.ci_curpcb.load(Ordering::Relaxed), pcb)
        && ci.ci_kstack_top.load(Ordering::Relaxed) == top
        && rsp0 == top
        && fs == tls
}

fn switch_thread(me: usize) {
    loop {
        // SAFETY: see SwitchTest.
        let st = unsafe { &mut *swt() };
        let ci = curcpu_md();
        let sp = &raw const st as u64;
        let (top, tls) = (st.top[me], st.pcb[me].pcb_tls);
        if !switch_state_ok(ci, &st.pcb[me], top, tls)
            || !(top - USPACE_PAGES * PAGE_SIZE..top).contains(&sp)
            || crate::cpufunc::read_rflags() & PSL_I != 0
        {
            st.errors |= 2;
        }
        st.log[st.n] = me as u8;
        st.n += 1;
        let next: *const Pcb = if st.n == SWITCH_ROUNDS { st.boot } else { &st.pcb[1 - me] };
        let old: *mut Pcb = &mut st.pcb[me];
        // SAFETY: both Pcbs are live (static or the CPU's boot Pcb);
        // interrupts are masked; the stacks of the two threads stay
        // allocated until the boot context is back.
        let bad = unsafe { md_switch_check(old, next) };
        // SAFETY: see SwitchTest.
        unsafe { (*swt()).bad_regs |= bad };
    }
}

/// Two kernel threads ping-pong through `cpu_switchto`; callee-saved
/// registers, the per-CPU entry stack, `ci_curpcb` and FS base must follow
/// every switch, and the boot context must come back intact.
fn test_switch() -> usize {
    let free0 = uvmexp_free();
    cli();
    let ci = curcpu_md();
    let st = swt();
    // SAFETY: see SwitchTest; no thread runs yet.
    unsafe {
        (*st).boot = ci.ci_bootpcb.get();
        for me in 0..2 {
            let top = kstack_alloc_thread().expect("kstack_alloc failed");
            (*st).top[me] = top;
            cpu_thread_init_hook(
                &mut (*st).pcb[me],
                top as usize,
                switch_hook,
                switch_thread as fn(usize) as usize,
                me,
            );
            (*st).pcb[me].pcb_tls = 0x7000_0000_1000 + me as u64 * 0x1000;
        }
    }
    let boot_top = ci.ci_kstack_top.load(Ordering::Relaxed);
    // SAFETY: the boot Pcb is this CPU's, the thread's was just prepared;
    // interrupts are masked.
    let bad_boot = unsafe { md_switch_check((*st).boot, &(*st).pcb[0]) };
    // SAFETY: see SwitchTest; the threads are parked for good.
    let st = unsafe { &mut *st };
    assert_eq!(bad_boot | st.bad_regs, 0, "cpu_switchto lost callee-saved registers");
    assert_eq!(st.errors, 0, "cpu_switchto: wrong per-CPU state in a thread ({:#x})", st.errors);
    assert_eq!(st.hooks, 2, "the first-switch hook ran {} times", st.hooks);
    assert_eq!(st.log, [0, 1, 0, 1, 0, 1, 0, 1], "switch order");
    assert!(switch_state_ok(ci, st.boot, boot_top, 0), "boot context not restored");
    // SAFETY: back in the boot context; the test holds no lock.
    unsafe { sti() };
    for top in st.top {
        kstack_free_thread(top);
    }
    assert_eq!(uvmexp_free(), free0);
    SWITCH_ROUNDS
}

// ----- user pmaps, copyin/copyout -----

const U1: u64 = 0x40_0000;
const U2: u64 = U1 + PAGE_SIZE;
const U3: u64 = U1 + 2 * PAGE_SIZE;
const UHIGH: u64 = VM_MAXUSER_ADDRESS as u64 - 3 * PAGE_SIZE;

fn page_alloc_filled(v: u8) -> u64 {
    let pa = uvm_pagealloc().expect("selftest: out of pages");
    // SAFETY: a free page, now ours, direct-mapped.
    unsafe { core::ptr::write_bytes(phys_to_kva(pa) as *mut u8, v, PAGE_SIZE as usize) };
    pa
}

fn page_bytes(pa: u64) -> &'static mut [u8] {
    // SAFETY: a page the test allocated and owns until it frees it.
    unsafe { core::slice::from_raw_parts_mut(phys_to_kva(pa) as *mut u8, PAGE_SIZE as usize) }
}

fn read_u64(va: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    copyin(va, &mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

fn activate_here(pm: PmapRef) {
    cli();
    pmap_activate(pm);
    let ci = curcpu_md();
    assert_eq!(ci.ci_proc_pmap.load(Ordering::Relaxed), pm, "ci_proc_pmap after activate");
    assert_eq!(rcr3() & pmap::PG_FRAME, pmap::pmap_pml4(pm), "%cr3 after activate");
    // SAFETY: the boot CPU is fully set up; the test holds no lock.
    unsafe { sti() };
}

fn deactivate_here(pm: PmapRef) {
    cli();
    pmap_deactivate(pm);
    let ci = curcpu_md();
    assert_eq!(ci.ci_proc_pmap.load(Ordering::Relaxed), 0, "ci_proc_pmap after deactivate");
    assert_eq!(rcr3() & pmap::PG_FRAME, pmap::kernel_pml4(), "%cr3 after deactivate");
    // SAFETY: as in activate_here.
    unsafe { sti() };
}

/// Map, load, copy through, change and tear down a user pmap on this CPU.
fn test_pmap_copy() {
    let free0 = uvmexp_free();
    let pt0 = PMAP_STATS.ptpages.load(Ordering::Relaxed);
    // SAFETY: as in activate_here; page faults inside the copies may call
    // the MI fault handler, which wants interrupts on.
    unsafe { sti() };
    let pm = pmap_create().expect("pmap_create");
    let (p1, p2, p3, p4) =
        (page_alloc_filled(0x11), page_alloc_filled(0x22), page_alloc_filled(0x33), page_alloc_filled(0x44));
    for (i, b) in page_bytes(p1).iter_mut().enumerate() {
        *b = i as u8;
    }
    assert!(pmap_enter(pm, U1, p1, VmProt::RW));
    assert!(pmap_enter(pm, U2, p2, VmProt::READ));
    assert!(pmap_enter(pm, UHIGH, p3, VmProt::RW));
    assert_eq!(pmap_extract(pm, U1), Some(p1));
    assert_eq!(pmap_extract(pm, U2), Some(p2));
    assert_eq!(pmap_extract(pm, U3), None);
    assert_eq!(pmap_extract(pm, UHIGH), Some(p3));
    assert_eq!(pmap_extract(pm, VM_MAXUSER_ADDRESS as u64), None);
    // PML4 + (PDPT, PD, PT) for U1/U2 + (PD, PT) for UHIGH.
    assert_eq!(pmap::pmap_ptpages(pm), 5, "page-table pages");
    let e1 = pmap::pmap_pte(pm, U1).unwrap();
    let e2 = pmap::pmap_pte(pm, U2).unwrap();
    assert!(e1 & (PG_V | PG_U | PG_RW) == PG_V | PG_U | PG_RW && e1 & PG_NX == pg_nx(), "pte {e1:#x}");
    assert!(e2 & (PG_V | PG_U) == PG_V | PG_U && e2 & PG_RW == 0 && e2 & pmap::PG_G == 0, "pte {e2:#x}");
    assert!(pmap_enter(pm, U3, p4, VmProt::RX));
    assert_eq!(pmap::pmap_pte(pm, U3).unwrap() & PG_NX, 0, "executable page has NX");
    pmap_remove(pm, U3, U3 + PAGE_SIZE);

    // Not loaded: the copies must fail, the pages are not reachable.
    assert!(read_u64(U1).is_none(), "copyin through an unloaded pmap");
    activate_here(pm);

    let mut buf = [0u8; 200];
    copyin(U1 + 100, &mut buf).expect("copyin");
    assert!(buf.iter().enumerate().all(|(i, &b)| b == (100 + i) as u8), "copyin data");
    let mut cross = [0u8; 64];
    copyin(U2 - 32, &mut cross).expect("copyin across pages");
    assert!(
        cross[..32].iter().enumerate().all(|(i, &b)| b == (4064 + i) as u8)
            && cross[32..].iter().all(|&b| b == 0x22)
    );
    copyout(&[0xa5; 100], U1 + 1000).expect("copyout");
    assert!(page_bytes(p1)[1000..1100].iter().all(|&b| b == 0xa5), "copyout data");
    assert!(page_bytes(p1)[999] == (999 % 256) as u8 && page_bytes(p1)[1100] == (1100 % 256) as u8);
    copyout(&[1, 2, 3], UHIGH + PAGE_SIZE - 3).expect("copyout at the top");
    assert_eq!(&page_bytes(p3)[4093..], &[1, 2, 3]);

    // EFAULT: read-only, unmapped, outside user space, wrapping, page 0.
    assert!(copyout(&[9], U2).is_err(), "copyout to a read-only page");
    assert_eq!(page_bytes(p2)[0], 0x22);
    assert!(copyout(&[9; 64], U2 - 32).is_err(), "copyout running into a read-only page");
    assert!(copyin(U3, &mut buf).is_err(), "copyin from an unmapped page");
    assert!(copyin(U2 + PAGE_SIZE - 8, &mut buf).is_err(), "copyin running into an unmapped page");
    assert!(copyin(0, &mut buf[..8]).is_err() && copyin(8, &mut buf[..8]).is_err(), "copyin from page 0");
    let kva = phys_to_kva(p1);
    assert!(copyin(kva, &mut buf).is_err(), "copyin from a kernel address");
    assert!(copyout(&[0xee; 8], kva).is_err() && page_bytes(p1)[0] == 0, "copyout to a kernel address");
    assert!(copyin(VM_MAXUSER_ADDRESS as u64 - 8, &mut buf[..16]).is_err(), "copyin past user space");
    assert!(copyin(u64::MAX - 7, &mut buf[..16]).is_err(), "copyin wrapping around");
    assert!(copyin(0xffff_0000_0000_0000, &mut buf[..8]).is_err(), "copyin non-canonical");
    assert!(copyin(u64::MAX, &mut []).is_ok(), "an empty copy is always fine");
    let wanted = (U1 + 1000 - 0x1000) as usize;
    assert!(copyin(wanted as u64, &mut buf).is_err(), "copyin below the mapping");

    // pmap_protect with the translation cached here: the write must fault.
    copyout(&[7], U1).expect("copyout before protect");
    pmap_protect(pm, U1, U2 + PAGE_SIZE, VmProt::READ);
    assert!(copyout(&[8], U1).is_err(), "copyout after protect(READ): stale TLB entry");
    assert_eq!(page_bytes(p1)[0], 7);
    assert_eq!(read_u64(U1).map(|v| v as u8), Some(7), "copyin after protect");
    assert!(pmap::pmap_pte(pm, U1).unwrap() & PG_RW == 0);
    // Same page, more rights again: the write works at once.
    assert!(pmap_enter(pm, U1, p1, VmProt::RW));
    copyout(&[9], U1).expect("copyout after re-enter RW");
    // Another page at the same address: the old translation must go.
    assert!(pmap_enter(pm, U1, p4, VmProt::RW));
    assert_eq!(read_u64(U1), Some(0x4444_4444_4444_4444), "stale translation after replace");
    // Removed: must fault although it was just used.
    pmap_remove(pm, U1, U1 + PAGE_SIZE);
    assert!(read_u64(U1).is_none(), "copyin after pmap_remove: stale TLB entry");
    assert_eq!(pmap_extract(pm, U1), None);

    // Stale PCID entries: run pm, stop, change a mapping while it is not
    // loaded anywhere, run it again: the change must be seen.
    assert!(pmap_enter(pm, U1, p1, VmProt::READ));
    assert_eq!(read_u64(U1).map(|v| v as u8), Some(9));
    deactivate_here(pm);
    let flushes0 = PMAP_STATS.pcid_flushes.load(Ordering::Relaxed);
    let mybit = 1u64 << curcpu_md().ci_mi.ci_cpuid;
    assert_eq!(pmap::pmap_pcid_state(pm).1 & mybit, 0, "stale here right after running it");
    assert!(pmap_enter(pm, U1, p4, VmProt::READ));
    assert_eq!(pmap::pmap_pcid_state(pm).1, u64::MAX, "a change while unloaded must mark every cpu");
    activate_here(pm);
    assert_eq!(pmap::pmap_pcid_state(pm).1, !mybit, "activation must take this cpu's stale bit");
    assert_eq!(read_u64(U1), Some(0x4444_4444_4444_4444), "stale translation after reactivation");
    if pmap::pcid_enabled() {
        assert_eq!(PMAP_STATS.pcid_flushes.load(Ordering::Relaxed), flushes0 + 1, "no PCID flush");
    }

    // Remove everything in one sweep over absent tables; tables stay.
    pmap_remove(pm, PAGE_SIZE, VM_MAXUSER_ADDRESS as u64);
    assert!(pmap_extract(pm, U2).is_none() && pmap_extract(pm, UHIGH).is_none());
    assert!(read_u64(U2).is_none() && read_u64(UHIGH).is_none(), "copyin after removing all");
    assert_eq!(pmap::pmap_ptpages(pm), 5);
    deactivate_here(pm);

    // Purge, reuse, destroy.
    pmap_purge(pm);
    assert_eq!(pmap::pmap_ptpages(pm), 0);
    assert_eq!(pmap::pmap_pcid_state(pm).0, 0, "purge keeps the PCID");
    assert!(pmap_enter(pm, U2, p2, VmProt::READ));
    activate_here(pm);
    assert_eq!(read_u64(U2), Some(0x2222_2222_2222_2222), "a purged pmap reused");
    deactivate_here(pm);
    pmap_purge(pm);
    pmap_destroy(pm);
    for p in [p1, p2, p3, p4] {
        uvm_pagefree(p);
    }
    cli();
    assert_eq!(PMAP_STATS.ptpages.load(Ordering::Relaxed), pt0);
    assert_eq!(uvmexp_free(), free0, "user pmap test leaked pages");
}

// ----- signal frame -----

/// sendsig/sigreturn/setregs on a frame, through a user stack page: the
/// context layout, the handler's entry state, and what sigreturn refuses.
fn test_signal_frame() {
    let free0 = uvmexp_free();
    // SAFETY: as in test_pmap_copy.
    unsafe { sti() };
    let pm = pmap_create().expect("pmap_create");
    let stack = page_alloc_filled(0);
    let stack_va = USRSTACK as u64 - PAGE_SIZE;
    assert!(pmap_enter(pm, stack_va, stack, VmProt::RW));
    activate_here(pm);

    let mut tf = TrapFrame {
        rax: 0x1a,
        rbx: 0x1b,
        rcx: 0x1c,
        rdx: 0x1d,
        rsi: 0x51,
        rdi: 0xd1,
        rbp: 0xb9,
        r8: 8,
        r9: 9,
        r10: 10,
        r11: 11,
        r12: 12,
        r13: 13,
        r14: 14,
        r15: 15,
        trapno: T_SYSCALL,
        err: 0,
        rip: USER_TEXT_BASE as u64 + 0x123,
        cs: GSEL_UCODE_SEL as u64,
        rflags: PSL_USER | PSL_C | PSL_D | PSL_T,
        rsp: USRSTACK as u64 - 0x108,
        ss: GSEL_UDATA_SEL as u64,
    };
    let orig = tf.clone();
    let handler = USER_TEXT_BASE as u64 + 0x800;
    assert!(sendsig(&mut tf, handler, SIGUSR1, 0xabcd), "sendsig");
    let (scp, sp) = sigframe_layout(orig.rsp).unwrap();
    assert!(
        scp.is_multiple_of(16) && sp == scp - 8 && (tf.rsp + 8).is_multiple_of(16),
        "signal frame alignment"
    );
    assert!(
        scp + core::mem::size_of::<SigContext>() as u64 <= orig.rsp - 128,
        "signal frame in the red zone"
    );
    assert_eq!((tf.rip, tf.rsp, tf.rdi, tf.rsi, tf.rdx), (handler, sp, SIGUSR1 as u64, 0, scp));
    assert_eq!(tf.rflags & (PSL_D | PSL_T), 0, "handler entered with DF/TF");
    assert_eq!(tf.rflags & PSL_I, PSL_I);
    assert_eq!(read_u64(sp), Some(SIGCODE_VA as u64), "handler return address");
    let mut sc = SigContext::default();
    // SAFETY: SigContext is plain old data.
    let scb = unsafe { &mut *(&mut sc as *mut SigContext as *mut [u8; 184]) };
    copyin(scp, scb).expect("copyin context");
    assert_eq!(
        (sc.sc_rax, sc.sc_rbx, sc.sc_rdi, sc.sc_r15, sc.sc_rip, sc.sc_rsp, sc.sc_rflags, sc.sc_mask),
        (0x1a, 0x1b, 0xd1, 15, orig.rip, orig.rsp, orig.rflags, 0xabcd),
        "saved context"
    );
    assert_eq!(sigreturn(&mut tf, scp), Ok(0xabcd), "sigreturn");
    assert_eq!(format_tf(&tf), format_tf(&orig), "sigreturn did not restore the frame");

    // Contexts sigreturn must refuse, and a frame it must leave alone.
    let good = sc;
    type Spoil = (&'static str, fn(&mut SigContext));
    let bad: [Spoil; 7] = [
        ("kernel cs", |c| c.sc_cs = GSEL_KCODE as u64),
        ("kernel ss", |c| c.sc_ss = 0x10),
        ("iopl 3", |c| c.sc_rflags |= PSL_IOPL),
        ("interrupts off", |c| c.sc_rflags &= !PSL_I),
        ("non-canonical rip", |c| c.sc_rip = 0x8000_0000_0000_0000),
        ("kernel rip", |c| c.sc_rip = 0xffff_ffff_8010_0000),
        ("non-canonical rsp", |c| c.sc_rsp = 0x0000_8000_0000_0000),
    ];
    for (what, f) in bad {
        let mut c = good;
        f(&mut c);
        // SAFETY: plain old data viewed as bytes.
        let b = unsafe { &*(&c as *const SigContext as *const [u8; 184]) };
        copyout(b, scp).expect("copyout context");
        let before = format_tf(&tf);
        assert_eq!(sigreturn(&mut tf, scp), Err(sys::errno::EINVAL), "sigreturn accepted {what}");
        assert_eq!(format_tf(&tf), before, "a refused sigreturn changed the frame");
    }
    let mut ok = good;
    ok.sc_rflags = PSL_USER | PSL_AC | PSL_C;
    // SAFETY: as above.
    copyout(unsafe { &*(&ok as *const SigContext as *const [u8; 184]) }, scp).unwrap();
    assert_eq!(sigreturn(&mut tf, scp), Ok(0xabcd), "sigreturn refused user flags");
    assert_eq!(sigreturn(&mut tf, U3), Err(sys::errno::EFAULT), "sigreturn from unmapped memory");
    assert_eq!(sigreturn(&mut tf, phys_to_kva(stack)), Err(sys::errno::EFAULT), "sigreturn from the kernel");

    // sendsig refuses a kernel handler and a stack it cannot write, and
    // leaves the frame alone then.
    for (rsp, catcher, what) in [
        (orig.rsp, 0xffff_ffff_8010_0000, "a kernel handler"),
        (0x300, handler, "a stack below address 0"),
        (U1 + PAGE_SIZE, handler, "an unmapped stack"),
    ] {
        tf.rsp = rsp;
        let before = format_tf(&tf);
        assert!(!sendsig(&mut tf, catcher, SIGUSR1, 0), "sendsig accepted {what}");
        assert_eq!(format_tf(&tf), before, "a refused sendsig changed the frame");
    }

    // setregs: a fresh program's frame.
    let mut pcb = Pcb { pcb_tls: 0x1234, ..Default::default() };
    <Amd64 as Machdep>::setregs(
        crate::trap::tf_opaque(&mut tf),
        &mut pcb,
        USER_TEXT_BASE as u64,
        0x7f_0000_0000,
    );
    assert_eq!(
        (tf.rip, tf.rsp, tf.rdi, tf.rax, tf.rcx, tf.r11, tf.rflags, tf.cs, tf.ss, pcb.pcb_tls),
        (
            USER_TEXT_BASE as u64,
            0x7f_0000_0000,
            0x7f_0000_0000,
            0,
            0,
            0,
            PSL_USER,
            GSEL_UCODE_SEL as u64,
            GSEL_UDATA_SEL as u64,
            0
        )
    );
    <Amd64 as Machdep>::setregs(crate::trap::tf_opaque(&mut tf), &mut pcb, 1 << 47, 0x1000);
    assert_eq!(tf.rip, 0, "setregs kept an entry outside user space");
    assert!(!crate::trap::sysret_exact(&tf), "a fresh frame must return by iretq");
    let (pc, spv) = <Amd64 as Machdep>::tf_pc_sp(crate::trap::tf_opaque(&mut tf));
    assert_eq!((pc, spv), (0, 0x1000));

    // The trampoline: mov %rsp,%rdi; mov $SYS_sigreturn,%eax; syscall; ud2.
    assert_eq!(SIGCODE, [0x48, 0x89, 0xe7, 0xb8, 103, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b]);

    deactivate_here(pm);
    pmap_purge(pm);
    pmap_destroy(pm);
    uvm_pagefree(stack);
    cli();
    assert_eq!(uvmexp_free(), free0, "signal frame test leaked pages");
}

fn format_tf(tf: &TrapFrame) -> [u64; 22] {
    [
        tf.r15, tf.r14, tf.r13, tf.r12, tf.r11, tf.r10, tf.r9, tf.r8, tf.rbp, tf.rdi, tf.rsi, tf.rdx, tf.rcx,
        tf.rbx, tf.rax, tf.trapno, tf.err, tf.rip, tf.cs, tf.rflags, tf.rsp, tf.ss,
    ]
}

// ----- shootdowns -----

fn x_activate(pm: usize) -> usize {
    pmap_activate(pm);
    curcpu_md().ci_proc_pmap.load(Ordering::Relaxed)
}

fn x_deactivate(pm: usize) -> usize {
    pmap_deactivate(pm);
    curcpu_md().ci_proc_pmap.load(Ordering::Relaxed)
}

fn x_read(va: usize) -> usize {
    read_u64(va as u64).map_or(usize::MAX, |v| v as usize)
}

fn x_write(va: usize) -> usize {
    copyout(&[0x77], va as u64).is_ok() as usize
}

/// A kernel-range shootdown from interrupt context (interrupts masked):
/// the CPU that sent the cross call answers it by polling.
fn x_kshoot(va: usize) -> usize {
    crate::intr::tlb_shootdown(va as u64, PAGE_SIZE);
    1
}

fn nshoot(c: &'static CpuInfo) -> u64 {
    cpu_md(c).ci_nshoot.load(Ordering::Relaxed)
}

/// With a second CPU: load a pmap there, cache a translation, change it
/// here; the IPI must reach that CPU (and no other), and it must see the
/// change. Returns the IPIs sent, None on one CPU.
fn test_shootdown() -> Option<u64> {
    let me = curcpu_md().ci_mi.ci_cpuid;
    let other = cpus().find(|c| c.ci_cpuid != me && crate::cpu::cpu_is_hatched(c))?;
    let free0 = uvmexp_free();
    let ipis0 = PMAP_STATS.shoot_ipis.load(Ordering::Relaxed);
    let counts = || -> [u64; kern::cpu::MAXCPUS] {
        core::array::from_fn(|i| kern::cpu::cpu_info(i as u32).map_or(0, nshoot))
    };
    // SAFETY: as in test_pmap_copy.
    unsafe { sti() };
    let pm = pmap_create().expect("pmap_create");
    let (pa, pb) = (page_alloc_filled(0xaa), page_alloc_filled(0xbb));
    assert!(pmap_enter(pm, U1, pa, VmProt::RW));
    let o = other.ci_cpuid as usize;

    assert_eq!(cpu_xcall(other, x_activate, pm), pm, "ci_proc_pmap on the other cpu");
    assert_eq!(cpu_md(other).ci_proc_pmap.load(Ordering::SeqCst), pm);
    assert_eq!(cpu_xcall(other, x_read, U1 as usize), 0xaaaa_aaaa_aaaa_aaaa);

    let before = counts();
    assert!(pmap_enter(pm, U1, pb, VmProt::RW));
    let after = counts();
    for i in 0..kern::cpu::MAXCPUS {
        let want = before[i] + (i == o) as u64;
        assert_eq!(after[i], want, "shootdown reached cpu{i} wrongly ({} -> {})", before[i], after[i]);
    }
    assert_eq!(cpu_xcall(other, x_read, U1 as usize), 0xbbbb_bbbb_bbbb_bbbb, "stale TLB entry remotely");

    // Write-protect while cached writable there.
    assert_eq!(cpu_xcall(other, x_write, U1 as usize), 1);
    pmap_protect(pm, U1, U1 + PAGE_SIZE, VmProt::READ);
    assert_eq!(cpu_xcall(other, x_write, U1 as usize), 0, "write through a stale writable entry");
    assert_eq!(page_bytes(pb)[0], 0x77);

    // Loaded on both: local invalidation plus one IPI.
    activate_here(pm);
    assert_eq!(read_u64(U1), Some(0xbbbb_bbbb_bbbb_bb77));
    let before = counts();
    pmap_remove(pm, U1, U1 + PAGE_SIZE);
    assert_eq!(counts()[o], before[o] + 1);
    assert!(read_u64(U1).is_none(), "stale entry here");
    assert_eq!(cpu_xcall(other, x_read, U1 as usize), usize::MAX, "stale entry there");

    // Unloaded there: no IPI to it any more.
    assert_eq!(cpu_xcall(other, x_deactivate, pm), 0, "ci_proc_pmap after remote deactivate");
    assert!(pmap_enter(pm, U1, pa, VmProt::RW));
    assert_eq!(read_u64(U1), Some(0xaaaa_aaaa_aaaa_aaaa));
    let before = counts();
    pmap_remove(pm, U1, U1 + PAGE_SIZE);
    assert_eq!(counts(), before, "shootdown IPI to a cpu that does not run the pmap");
    // That cpu may hold entries tagged with pm's PCID: it must flush them
    // when it runs pm again, and then see the current mapping.
    assert!(pmap::pmap_pcid_state(pm).1 & 1 << o != 0, "pmap not marked stale for the cpu that ran it");
    assert!(pmap_enter(pm, U1, pb, VmProt::READ));
    let flushes = || {
        PMAP_STATS.pcid_flushes.load(Ordering::Relaxed) + PMAP_STATS.pcid_full_flushes.load(Ordering::Relaxed)
    };
    let f0 = flushes();
    assert_eq!(cpu_xcall(other, x_activate, pm), pm);
    assert_eq!(pmap::pmap_pcid_state(pm).1 & 1 << o, 0, "reactivation kept the stale bit");
    assert!(!pmap::pcid_enabled() || flushes() > f0, "no PCID flush on reactivation");
    assert_eq!(cpu_xcall(other, x_read, U1 as usize), 0xbbbb_bbbb_bbbb_bb77);
    assert_eq!(cpu_xcall(other, x_deactivate, pm), 0);
    deactivate_here(pm);
    pmap_remove(pm, 0, VM_MAXUSER_ADDRESS as u64);
    pmap_purge(pm);
    pmap_destroy(pm);
    uvm_pagefree(pa);
    uvm_pagefree(pb);

    // A kernel shootdown started by the other cpu with interrupts masked
    // while this one waits for it with interrupts masked: every cpu but
    // the sender answers, this one by polling.
    cli();
    let before = counts();
    let va = curcpu_md().ci_idle_stack.load(Ordering::Relaxed) - PAGE_SIZE;
    assert_eq!(cpu_xcall(other, x_kshoot, va as usize), 1);
    let after = counts();
    for c in cpus().filter(|c| crate::cpu::cpu_is_hatched(c)) {
        let i = c.ci_cpuid as usize;
        assert_eq!(after[i], before[i] + (i != o) as u64, "kernel shootdown answered wrongly by cpu{i}");
    }
    cli();
    assert_eq!(uvmexp_free(), free0, "shootdown test leaked pages");
    Some(PMAP_STATS.shoot_ipis.load(Ordering::Relaxed) - ipis0)
}

// ----- user mode (boot word `usertest`) -----

/// The user program's layout.
const UT_CODE: u64 = USER_TEXT_BASE as u64;
const UT_DATA: u64 = 0x30_0000;
const UT_RO: u64 = 0x30_1000;
const UT_TLS: u64 = 0x30_2000;
const UT_UNMAPPED: u64 = 0x50_0000;
const UT_STACK: u64 = USRSTACK as u64 - PAGE_SIZE;
const UT_TLS_MAGIC: u64 = 0x7e57_7e57_0000_7157;
const UT_NOSYS: u64 = 1000;
const UT_MASK: u32 = 0x5a5a;

unsafe extern "C" {
    static ut_code_start: u8;
    static ut_code_end: u8;
    static ut_after_int3: u8;
    static ut_ud2: u8;
    static ut_after_ud2: u8;
    static ut_div: u8;
    static ut_after_div: u8;
    static ut_cli: u8;
    static ut_after_cli: u8;
    static ut_read: u8;
    static ut_after_read: u8;
    static ut_write: u8;
    static ut_after_write: u8;
    static ut_after_exec: u8;
    static ut_noncanon: u8;
    static ut_after_noncanon: u8;
    static ut_sig_int3: u8;
    static ut_handler: u8;
    static ut_end: u8;
}

/// User VA of a label of the user program.
fn ut_va(label: *const u8) -> u64 {
    UT_CODE + (label as u64 - &raw const ut_code_start as u64)
}

// The user program. It runs in user mode at UT_CODE (copied there): every
// check that fails executes `hlt` right there, a #GP the test reports with
// its address. Addresses it needs are absolute constants or %rip-relative
// inside the program, so it runs wherever it is copied.
core::arch::global_asm!(
    r#"
    .macro UT_FAIL_UNLESS_EQ
    je 1f
    hlt
1:
    .endm

    .pushsection .rodata.usertest, "a"
    .p2align 12
    .globl ut_code_start, ut_code_end, ut_after_int3, ut_ud2, ut_after_ud2, ut_div, ut_after_div
    .globl ut_cli, ut_after_cli, ut_read, ut_after_read, ut_write, ut_after_write, ut_after_exec
    .globl ut_noncanon, ut_after_noncanon, ut_sig_int3, ut_handler, ut_end
ut_code_start:
    /* a forked child: rax = rdx = 0, carry clear */
    jnc 1f
    hlt
1:  testq %rax, %rax
    UT_FAIL_UNLESS_EQ
    testq %rdx, %rdx
    UT_FAIL_UNLESS_EQ
    /* the thread pointer */
    movq %fs:0, %rax
    movabsq ${tls_magic}, %rcx
    cmpq %rcx, %rax
    UT_FAIL_UNLESS_EQ
    /* an unknown system call: ENOSYS with carry set; every register but
       rax, rcx and r11 preserved, rcx = the return address, r11 = rflags */
    movabsq $0x0101010101010101, %rbx
    movabsq $0x0202020202020202, %rbp
    movabsq $0x0303030303030303, %rdi
    movabsq $0x0404040404040404, %rsi
    movabsq $0x0505050505050505, %rdx
    movabsq $0x0606060606060606, %r8
    movabsq $0x0707070707070707, %r9
    movabsq $0x0808080808080808, %r10
    movabsq $0x0909090909090909, %r12
    movabsq $0x0a0a0a0a0a0a0a0a, %r13
    movabsq $0x0b0b0b0b0b0b0b0b, %r14
    movabsq $0x0c0c0c0c0c0c0c0c, %r15
    movq ${nosys}, %rax
    syscall
2:  jc 1f
    hlt
1:  cmpq ${enosys}, %rax
    UT_FAIL_UNLESS_EQ
    leaq 2b(%rip), %rax
    cmpq %rax, %rcx
    UT_FAIL_UNLESS_EQ
    testq $1, %r11
    jnz 1f
    hlt
1:  testq $0x200, %r11
    jnz 1f
    hlt
1:  movabsq $0x0101010101010101, %rax
    cmpq %rax, %rbx
    UT_FAIL_UNLESS_EQ
    movabsq $0x0202020202020202, %rax
    cmpq %rax, %rbp
    UT_FAIL_UNLESS_EQ
    movabsq $0x0303030303030303, %rax
    cmpq %rax, %rdi
    UT_FAIL_UNLESS_EQ
    movabsq $0x0404040404040404, %rax
    cmpq %rax, %rsi
    UT_FAIL_UNLESS_EQ
    movabsq $0x0505050505050505, %rax
    cmpq %rax, %rdx
    UT_FAIL_UNLESS_EQ
    movabsq $0x0606060606060606, %rax
    cmpq %rax, %r8
    UT_FAIL_UNLESS_EQ
    movabsq $0x0707070707070707, %rax
    cmpq %rax, %r9
    UT_FAIL_UNLESS_EQ
    movabsq $0x0808080808080808, %rax
    cmpq %rax, %r10
    UT_FAIL_UNLESS_EQ
    movabsq $0x0909090909090909, %rax
    cmpq %rax, %r12
    UT_FAIL_UNLESS_EQ
    movabsq $0x0a0a0a0a0a0a0a0a, %rax
    cmpq %rax, %r13
    UT_FAIL_UNLESS_EQ
    movabsq $0x0b0b0b0b0b0b0b0b, %rax
    cmpq %rax, %r14
    UT_FAIL_UNLESS_EQ
    movabsq $0x0c0c0c0c0c0c0c0c, %rax
    cmpq %rax, %r15
    UT_FAIL_UNLESS_EQ
    movabsq ${data}, %rax
    movq $1, (%rax)
    /* traps, one after the other; the test resumes after each */
    int3
ut_after_int3:
ut_ud2:
    ud2
ut_after_ud2:
    xorl %ecx, %ecx
    movl $1, %eax
    xorl %edx, %edx
ut_div:
    divl %ecx
ut_after_div:
ut_cli:
    cli
ut_after_cli:
    movabsq ${unmapped}, %rax
ut_read:
    movq (%rax), %rax
ut_after_read:
    movabsq ${ro}, %rax
ut_write:
    movq %rax, (%rax)
ut_after_write:
    movabsq ${data_exec}, %rax
    jmp *%rax
ut_after_exec:
    movabsq $0x8000000000000000, %rax
ut_noncanon:
    movq (%rax), %rax
ut_after_noncanon:
    /* spin in user mode for the TSC count the test left in data[8], so
       timer interrupts arrive here */
    movabsq ${data}, %rsi
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, %rbx
1:  pause
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    subq %rbx, %rax
    cmpq 8(%rsi), %rax
    jb 1b
    /* signal round trip: known registers and carry, a breakpoint where the
       test delivers SIGUSR1; the handler clobbers everything and returns
       through the signal trampoline; sigreturn must bring all back */
    movq $0x11, %rax
    movq $0x12, %rbx
    movq $0x13, %rcx
    movq $0x14, %rdx
    movq $0x15, %rsi
    movq $0x16, %rdi
    movq $0x17, %rbp
    movq $0x18, %r8
    movq $0x19, %r9
    movq $0x1a, %r10
    movq $0x1b, %r11
    movq $0x1c, %r12
    movq $0x1d, %r13
    movq $0x1e, %r14
    movq $0x1f, %r15
    stc
ut_sig_int3:
    int3
ut_after_sig:
    jc 1f
    hlt
1:  cmpq $0x11, %rax
    UT_FAIL_UNLESS_EQ
    cmpq $0x12, %rbx
    UT_FAIL_UNLESS_EQ
    cmpq $0x13, %rcx
    UT_FAIL_UNLESS_EQ
    cmpq $0x14, %rdx
    UT_FAIL_UNLESS_EQ
    cmpq $0x15, %rsi
    UT_FAIL_UNLESS_EQ
    cmpq $0x16, %rdi
    UT_FAIL_UNLESS_EQ
    cmpq $0x17, %rbp
    UT_FAIL_UNLESS_EQ
    cmpq $0x18, %r8
    UT_FAIL_UNLESS_EQ
    cmpq $0x19, %r9
    UT_FAIL_UNLESS_EQ
    cmpq $0x1a, %r10
    UT_FAIL_UNLESS_EQ
    cmpq $0x1b, %r11
    UT_FAIL_UNLESS_EQ
    cmpq $0x1c, %r12
    UT_FAIL_UNLESS_EQ
    cmpq $0x1d, %r13
    UT_FAIL_UNLESS_EQ
    cmpq $0x1e, %r14
    UT_FAIL_UNLESS_EQ
    cmpq $0x1f, %r15
    UT_FAIL_UNLESS_EQ
    movabsq ${data}, %rax
    movq $2, (%rax)
ut_end:
    ud2

    /* SIGUSR1 handler: handler(sig, 0, scp), entered as if called */
ut_handler:
    cmpq ${sigusr1}, %rdi
    UT_FAIL_UNLESS_EQ
    testq %rsi, %rsi
    UT_FAIL_UNLESS_EQ
    leaq 8(%rsp), %rax
    cmpq %rax, %rdx
    UT_FAIL_UNLESS_EQ
    testq $15, %rax
    UT_FAIL_UNLESS_EQ
    movq (%rsp), %rax
    movabsq ${sigcode}, %rcx
    cmpq %rcx, %rax
    UT_FAIL_UNLESS_EQ
    movq {sc_rip}(%rdx), %rax
    leaq ut_after_sig(%rip), %rcx
    cmpq %rcx, %rax
    UT_FAIL_UNLESS_EQ
    movq $-1, %rbx
    movq $-1, %rbp
    movq $-1, %r8
    movq $-1, %r9
    movq $-1, %r10
    movq $-1, %r11
    movq $-1, %r12
    movq $-1, %r13
    movq $-1, %r14
    movq $-1, %r15
    movq $-1, %rsi
    movq $-1, %rdi
    movabsq ${data}, %rax
    movq $3, 16(%rax)
    clc
    ret
ut_code_end:
    .popsection
"#,
    tls_magic = const UT_TLS_MAGIC,
    nosys = const UT_NOSYS,
    enosys = const sys::errno::ENOSYS,
    data = const UT_DATA,
    data_exec = const UT_DATA + 0x800,
    ro = const UT_RO,
    unmapped = const UT_UNMAPPED,
    sigusr1 = const SIGUSR1,
    sigcode = const SIGCODE_VA,
    sc_rip = const core::mem::offset_of!(SigContext, sc_rip),
    options(att_syntax)
);

/// What the user thread's latest diverted trap was.
struct UserTest {
    pcb: Pcb,
    boot: *mut Pcb,
    tf: *mut TrapFrame,
    sig: u32,
    addr: u64,
    access: VmProt,
}

static UT: Shared<UserTest> = Shared(UnsafeCell::new(UserTest {
    pcb: Pcb { pcb_sp: 0, pcb_kstack_top: 0, pcb_onfault: 0, pcb_tls: 0, pcb_md: [0; 4] },
    boot: core::ptr::null_mut(),
    tf: core::ptr::null_mut(),
    sig: 0,
    addr: 0,
    access: VmProt::NONE,
}));

/// The user trap hook: record, switch back to the test; when the test
/// switches here again, return to user mode through the (maybe changed)
/// frame.
fn usertest_hook(tf: &mut TrapFrame, sig: u32, addr: u64, access: VmProt) {
    cli();
    let ut = UT.0.get();
    // SAFETY: see UserTest: the test context waits in cpu_switchto.
    unsafe {
        (*ut).tf = tf;
        (*ut).sig = sig;
        (*ut).addr = addr;
        (*ut).access = access;
        <Amd64 as Machdep>::cpu_switchto(&mut (*ut).pcb, (*ut).boot);
    }
}

/// Run the user thread until its next trap; returns that trap's frame.
fn run_user() -> &'static mut TrapFrame {
    cli();
    let ut = UT.0.get();
    // SAFETY: the boot Pcb is this CPU's; the user thread's Pcb was made
    // by cpu_fork or saved by the hook; interrupts are masked.
    unsafe {
        <Amd64 as Machdep>::cpu_switchto((*ut).boot, &(*ut).pcb);
        &mut *(*ut).tf
    }
}

/// Check the latest user trap: vector, signal (0: page fault) and address.
fn expect_trap(tf: &TrapFrame, trapno: u64, sig: u32, addr: u64) {
    // SAFETY: see UserTest.
    let ut = unsafe { &*UT.0.get() };
    let off = tf.rip.wrapping_sub(UT_CODE);
    assert!(
        tf.trapno == trapno && ut.sig == sig && ut.addr == addr,
        "usertest: trap {} sig {} addr {:#x} at user rip {:#x} (program offset {off:#x}; err {:#x} cs {:#x} \
         rflags {:#x} rsp {:#x} ss {:#x}), expected trap {trapno} sig {sig} addr {addr:#x}",
        tf.trapno,
        ut.sig,
        ut.addr,
        tf.rip,
        tf.err,
        tf.cs,
        tf.rflags,
        tf.rsp,
        tf.ss
    );
}

/// Boot word `usertest`: a user program forked from a hand-made frame runs
/// on this CPU in a user pmap: an unknown system call through the MI
/// dispatch (ENOSYS, carry set, registers kept), breakpoint, invalid
/// opcode, divide error, privileged instruction, page faults (read of an
/// unmapped page, write to a read-only one, fetch from an NX one), a
/// non-canonical access, timer interrupts taken in user mode, and a signal
/// round trip (sendsig, the handler, the trampoline, sigreturn). Its traps
/// are diverted to the test by `USER_TRAP_HOOK` instead of becoming
/// signals, since no process exists. Needs the MI placeholders' behaviour
/// (unknown syscalls are ENOSYS without a process; userret,
/// `proc_trampoline_mi` and `child_return` do nothing harmful without
/// one), hence the boot word.
fn test_user() {
    let free0 = uvmexp_free();
    // SAFETY: as in test_pmap_copy.
    unsafe { sti() };
    let code_len = &raw const ut_code_end as u64 - &raw const ut_code_start as u64;
    assert!(code_len <= PAGE_SIZE, "usertest program larger than a page");
    let pm = pmap_create().expect("pmap_create");
    let pages: [u64; 6] = core::array::from_fn(|_| page_alloc_filled(0));
    let [code, data, ro, tls, stack, sigcode] = pages;
    // SAFETY: the program's bytes in the kernel image, `code_len` long.
    let prog = unsafe { core::slice::from_raw_parts(&raw const ut_code_start, code_len as usize) };
    page_bytes(code)[..prog.len()].copy_from_slice(prog);
    page_bytes(sigcode)[..SIGCODE.len()].copy_from_slice(&SIGCODE);
    page_bytes(tls)[..8].copy_from_slice(&UT_TLS_MAGIC.to_le_bytes());
    let spin = (crate::clock::tsc_hz() / 25).max(1_000_000);
    page_bytes(data)[8..16].copy_from_slice(&spin.to_le_bytes());
    for (va, pa, prot) in [
        (UT_CODE, code, VmProt::RX),
        (UT_DATA, data, VmProt::RW),
        (UT_RO, ro, VmProt::READ),
        (UT_TLS, tls, VmProt::RW),
        (UT_STACK, stack, VmProt::RW),
        (SIGCODE_VA as u64, sigcode, VmProt::RX),
    ] {
        assert!(pmap_enter(pm, va, pa, prot));
    }
    let top = kstack_alloc_thread().expect("kstack_alloc");
    let parent = TrapFrame {
        rax: 0xdead,
        rdx: 0xbeef,
        rflags: PSL_USER | PSL_C,
        rip: UT_CODE,
        cs: GSEL_UCODE_SEL as u64,
        rsp: USRSTACK as u64,
        ss: GSEL_UDATA_SEL as u64,
        trapno: T_SYSCALL,
        ..Default::default()
    };
    let ut = UT.0.get();
    // SAFETY: see UserTest; the thread does not exist yet.
    unsafe {
        (*ut).boot = curcpu_md().ci_bootpcb.get();
        let ptf = &parent as *const TrapFrame as *const kern::machdep::TrapFrame;
        cpu_fork_hook(ptf, &mut (*ut).pcb, top as usize, 0, UT_TLS, md_proc_trampoline_mi_shim);
    }
    USER_TRAP_HOOK.store(usertest_hook as crate::trap::UserTrapHook as usize, Ordering::Release);
    cli();
    pmap_activate(pm);
    let data_word = |i: usize| u64::from_le_bytes(page_bytes(data)[i * 8..i * 8 + 8].try_into().unwrap());
    let l = |p: *const u8| ut_va(p);

    let tf = run_user();
    // A breakpoint is a trap: the saved %rip is past the int3.
    expect_trap(tf, T_BPTFLT, SIGTRAP, l(&raw const ut_after_int3));
    assert_eq!(tf.rip, l(&raw const ut_after_int3));
    assert_eq!(data_word(0), 1, "usertest: the syscall checks did not pass");
    let tf = run_user();
    expect_trap(tf, T_PRIVINFLT, SIGILL, l(&raw const ut_ud2));
    tf.rip = l(&raw const ut_after_ud2);
    let tf = run_user();
    expect_trap(tf, T_DIVIDE, SIGFPE, l(&raw const ut_div));
    tf.rip = l(&raw const ut_after_div);
    let tf = run_user();
    expect_trap(tf, T_PROTFLT, SIGSEGV, l(&raw const ut_cli));
    tf.rip = l(&raw const ut_after_cli);
    let tf = run_user();
    expect_trap(tf, T_PAGEFLT, 0, UT_UNMAPPED);
    // SAFETY: see UserTest.
    assert_eq!(unsafe { (*ut).access }, VmProt::READ);
    assert_eq!(tf.rip, l(&raw const ut_read));
    tf.rip = l(&raw const ut_after_read);
    let tf = run_user();
    expect_trap(tf, T_PAGEFLT, 0, UT_RO);
    // SAFETY: see UserTest.
    assert_eq!(unsafe { (*ut).access }, VmProt::WRITE);
    assert_eq!(tf.err & 7, 7, "page fault error code: present, write, user");
    assert_eq!(tf.rip, l(&raw const ut_write));
    tf.rip = l(&raw const ut_after_write);
    if pg_nx() != 0 {
        let tf = run_user();
        expect_trap(tf, T_PAGEFLT, 0, UT_DATA + 0x800);
        // SAFETY: see UserTest.
        assert_eq!(unsafe { (*ut).access }, VmProt::EXECUTE);
        tf.rip = l(&raw const ut_after_exec);
    } else {
        // Without NX the data page runs: zeros decode as `add %al,(%rax)`
        // on an unmapped %rax; skip the step.
        let tf = run_user();
        tf.rip = l(&raw const ut_after_exec);
    }
    let tf = run_user();
    expect_trap(tf, T_PROTFLT, SIGSEGV, l(&raw const ut_noncanon));
    tf.rip = l(&raw const ut_after_noncanon);
    let uintr0 = curcpu_md().ci_nuser_intr.load(Ordering::Relaxed);
    let tf = run_user();
    let uintr = curcpu_md().ci_nuser_intr.load(Ordering::Relaxed) - uintr0;
    assert!(uintr > 0, "usertest: no interrupt taken in user mode while spinning");
    expect_trap(tf, T_BPTFLT, SIGTRAP, l(&raw const ut_sig_int3) + 1);
    // Deliver SIGUSR1 here, as userret would.
    assert!(sendsig(tf, l(&raw const ut_handler), SIGUSR1, UT_MASK), "usertest: sendsig");
    let scp = tf.rdx;
    assert_ne!(scp, 0, "usertest: no context pointer for the handler");
    let tf = run_user();
    // The handler returned into the trampoline, whose sigreturn (the MI
    // system call, then this arch's sigreturn) restored the frame: the
    // program went on to its end, where it checked every register.
    expect_trap(tf, T_PRIVINFLT, SIGILL, l(&raw const ut_end));
    assert_eq!(data_word(2), 3, "usertest: the signal handler did not run");
    assert_eq!(data_word(0), 2, "usertest: registers not restored by sigreturn");

    // The thread stays parked in the hook; nothing runs on its stack.
    USER_TRAP_HOOK.store(0, Ordering::Release);
    pmap_deactivate(pm);
    // SAFETY: as in test_pmap_copy.
    unsafe { sti() };
    kstack_free_thread(top);
    pmap_purge(pm);
    pmap_destroy(pm);
    for p in pages {
        uvm_pagefree(p);
    }
    cli();
    assert_eq!(uvmexp_free(), free0, "usertest leaked pages");
    printf!("amd64: usertest: {uintr} interrupts taken in user mode\n");
}

/// The MI trampoline hook, as `cpu_fork` uses it.
extern "C" fn md_proc_trampoline_mi_shim() {
    kern::kern_sched::proc_trampoline_mi()
}
