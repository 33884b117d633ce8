//! The kernel's page tables (TTBR1), the direct map, kernel stacks and
//! device mappings.
//!
//! Translation regime: 4 KiB granule, 39-bit virtual addresses in both
//! halves (T0SZ = T1SZ = 25), so a walk starts at level 1 (1 GiB per
//! entry), as on OpenBSD/arm64. TTBR0 is reserved for user address spaces
//! (ASID-tagged, later); the kernel half looks like this:
//!
//! | range                                   | use                               |
//! |-----------------------------------------|-----------------------------------|
//! | `KERNBASE` .. +1 GiB                    | kernel image (linked at +0x80000)  |
//! | `VM_KSTACK_START` .. `VM_KSTACK_END`    | kernel stacks, each with a guard  |
//! | `VM_KVA_START` .. `VM_KVA_END`          | other wired kernel mappings       |
//! | `VM_DEV_START` .. `VM_DEV_END`          | device registers (Device-nGnRE)   |
//! | `DMAP_BASE` .. top                      | direct map of all RAM (256 GiB)   |
//!
//! Permissions: kernel text RX, rodata R, data/bss RW, everything writable
//! is also execute-never, and SCTLR_EL1.WXN makes the hardware enforce
//! that no mapping is both (W^X). The direct map is RW+XN except over the
//! kernel's own text and rodata, which it maps read-only. Nothing in the
//! kernel half is accessible from EL0.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR1_EL1, Readable};
use kern::mutex::Mutex;
use uvm::pmap::{PmapKernel, VmProt};

use crate::locore;

pub const PAGE_SIZE: u64 = uvm::PAGE_SIZE;
const L1_SIZE: u64 = 1 << 30;
const L2_SIZE: u64 = 1 << 21;

/// Base of the kernel window; 2 MiB aligned (see link.ld, which repeats it).
pub const KERNBASE: u64 = 0xffff_ff80_0000_0000;
/// Where the image sits above a 2 MiB boundary (Image header text_offset).
pub const TEXT_OFFSET: u64 = 0x8_0000;

pub const VM_KSTACK_START: u64 = KERNBASE + L1_SIZE;
pub const VM_KSTACK_END: u64 = KERNBASE + 2 * L1_SIZE;
pub const VM_KVA_START: u64 = VM_KSTACK_END;
pub const VM_KVA_END: u64 = KERNBASE + 64 * L1_SIZE;
pub const VM_DEV_START: u64 = VM_KVA_END;
pub const VM_DEV_END: u64 = KERNBASE + 128 * L1_SIZE;
pub const DMAP_BASE: u64 = 0xffff_ffc0_0000_0000;
/// Physical addresses the direct map can reach.
pub const DMAP_MAX_PA: u64 = 1 << 38;

/// Kernel stacks are KSTACK_SIZE bytes at the bottom of a 2*KSTACK_SIZE
/// aligned slot whose top half stays unmapped: the guard of the stack in
/// the slot above. So a valid stack pointer has bit KSTACK_SHIFT clear and
/// one that ran off its stack has it set, which the exception vectors test
/// without touching memory (see locore).
pub const KSTACK_SHIFT: u32 = 15;
pub const KSTACK_SIZE: u64 = 1 << KSTACK_SHIFT;
const KSTACK_SLOT: u64 = 2 * KSTACK_SIZE;
/// Pages of the per-CPU emergency stack used to report a stack overflow.
pub const OVFSTACK_PAGES: u64 = 4;

// Stage 1 descriptor bits (4 KiB granule).
const DESC_VALID: u64 = 1;
const DESC_TYPE_MASK: u64 = 3;
const DESC_TABLE: u64 = 3; // levels 1-2
const DESC_PAGE: u64 = 3; // level 3
const DESC_BLOCK: u64 = 1; // levels 1-2
const ATTR_SHIFT: u64 = 2;
pub const AP_RO: u64 = 1 << 7;
pub const SH_INNER: u64 = 3 << 8;
pub const AF: u64 = 1 << 10;
pub const PXN: u64 = 1 << 53;
pub const UXN: u64 = 1 << 54;
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

/// MAIR_EL1 attribute indices in use (index 0 is Device-nGnRnE and 3
/// Normal non-cacheable, for drivers that will need them).
pub const ATTR_NORMAL: u64 = 1;
pub const ATTR_DEVICE_NGNRE: u64 = 2;
/// Index 0: Device-nGnRnE, 1: Normal write-back RW-allocate,
/// 2: Device-nGnRE, 3: Normal non-cacheable.
pub const MAIR_VALUE: u64 = 0x44_04_ff_00;

/// Normal memory, inner shareable, accessed, for the boot block mappings.
pub const BOOT_BLOCK_RWX: u64 = DESC_BLOCK | (ATTR_NORMAL << ATTR_SHIFT) | SH_INNER | AF | UXN;
/// Identity blocks: read-only so that they stay executable under WXN.
pub const BOOT_BLOCK_IDMAP: u64 = BOOT_BLOCK_RWX | AP_RO;

/// What a kernel mapping may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// Kernel text: read, execute at EL1.
    Text,
    /// Read-only kernel data.
    Ro,
    /// Read-write kernel data, never executable.
    Rw,
    /// Device registers: Device-nGnRE, read-write, never executable.
    Dev,
}

const fn attrs(p: Prot) -> u64 {
    let normal = (ATTR_NORMAL << ATTR_SHIFT) | SH_INNER | AF | UXN;
    match p {
        Prot::Text => normal | AP_RO,
        Prot::Ro => normal | AP_RO | PXN,
        Prot::Rw => normal | PXN,
        Prot::Dev => (ATTR_DEVICE_NGNRE << ATTR_SHIFT) | AF | PXN | UXN,
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
    static __bootpool_start: u8;
    static __bootpool_end: u8;
}

fn kernel_start() -> u64 {
    &raw const __kernel_start as u64
}
fn text_end() -> u64 {
    &raw const __text_end as u64
}
fn rodata_end() -> u64 {
    &raw const __rodata_end as u64
}
pub fn kernel_end() -> u64 {
    &raw const __kernel_end as u64
}

/// Kernel image VA minus PA (set once, before anything is mapped).
static KERNEL_DELTA: AtomicU64 = AtomicU64::new(0);
/// The direct map exists and page-table pages are reached through it.
static DMAP_READY: AtomicBool = AtomicBool::new(false);
/// Physical address of the kernel's level 1 table (TTBR1_EL1).
static KERNEL_L1: AtomicU64 = AtomicU64::new(0);
/// Next free boot-pool page (VA), and whether the pool was handed to uvm.
static POOL_NEXT: AtomicU64 = AtomicU64::new(0);
static POOL_CLOSED: AtomicBool = AtomicBool::new(false);

struct KvaState {
    kstack_next: u64,
    kva_next: u64,
    dev_next: u64,
    /// Kernel stack slots given back, ready for reuse.
    free_slots: [u64; 64],
    nfree: usize,
}

/// Serialises every change to the kernel page tables and KVA allocation.
static KPMAP: Mutex<KvaState> = Mutex::new(KvaState {
    // The first slot is never used: its lower half is the address that
    // `trap_selftest` reads, and its upper half the guard of the next.
    kstack_next: VM_KSTACK_START + KSTACK_SLOT,
    kva_next: VM_KVA_START,
    dev_next: VM_DEV_START,
    free_slots: [0; 64],
    nfree: 0,
});

/// Physical address of a kernel-image virtual address.
pub fn kimg_pa(va: u64) -> u64 {
    va - KERNEL_DELTA.load(Ordering::Relaxed)
}

/// Kernel virtual address of physical address `pa` in the direct map.
pub fn phys_to_kva(pa: u64) -> u64 {
    debug_assert!(pa < DMAP_MAX_PA);
    DMAP_BASE + pa
}

/// Where this code can write a page-table page at `pa`: through the
/// direct map once it exists, before that through the kernel window
/// (boot-pool pages are inside the image).
fn ptp_va(pa: u64) -> *mut u64 {
    if DMAP_READY.load(Ordering::Relaxed) {
        phys_to_kva(pa) as *mut u64
    } else {
        (pa + KERNEL_DELTA.load(Ordering::Relaxed)) as *mut u64
    }
}

/// One page for page tables or kernel stacks: from the boot pool until
/// the pool is handed to the page allocator, from uvm afterwards.
fn alloc_page() -> u64 {
    if !POOL_CLOSED.load(Ordering::Acquire) {
        let va = POOL_NEXT.fetch_add(PAGE_SIZE, Ordering::Relaxed);
        assert!(va + PAGE_SIZE <= &raw const __bootpool_end as u64, "pmap: boot page pool exhausted");
        return kimg_pa(va);
    }
    kern::uvm_init::uvm_pagealloc().expect("pmap: out of physical pages")
}

/// A zeroed page-table page.
fn alloc_ptp() -> u64 {
    let pa = alloc_page();
    // SAFETY: the page was just allocated to us and is reachable at
    // ptp_va (kernel window or direct map), one page long.
    unsafe { ptr::write_bytes(ptp_va(pa) as *mut u8, 0, PAGE_SIZE as usize) };
    pa
}

const fn l_index(va: u64, level: u32) -> usize {
    ((va >> (39 - 9 * level)) & 0x1ff) as usize
}

/// Pointer to the descriptor for `va` at `level` (1-3) under `root`,
/// creating intermediate tables when `alloc`.
///
/// # Safety
/// `root` is a live level 1 table and the caller serialises table updates.
unsafe fn pte_slot(root: u64, va: u64, level: u32, alloc: bool) -> Option<*mut u64> {
    let mut table = root;
    for lvl in 1..level {
        // SAFETY: `table` is a live table page; the index is < 512.
        let e = unsafe { ptp_va(table).add(l_index(va, lvl)) };
        // SAFETY: `e` points into that table.
        let d = unsafe { e.read_volatile() };
        if d & DESC_TYPE_MASK == DESC_TABLE {
            table = d & OA_MASK;
            continue;
        }
        if d & DESC_VALID != 0 {
            // A block covers va: a caller wants a finer mapping inside one.
            panic!("pmap: {va:#x} is inside a level {lvl} block");
        }
        if !alloc {
            return None;
        }
        let new = alloc_ptp();
        // The walker must see the zeroed table before it sees the link.
        barrier::dsb(barrier::ISHST);
        // SAFETY: as above.
        unsafe { e.write_volatile(new | DESC_TABLE) };
        table = new;
    }
    // SAFETY: `table` is a live table page at the requested level.
    Some(unsafe { ptp_va(table).add(l_index(va, level)) })
}

/// Map `[va, va + len)` to `[pa, pa + len)`, with 1 GiB / 2 MiB blocks
/// where both addresses allow it and `blocks` is set.
///
/// # Safety
/// As [`pte_slot`]; the range is unmapped and the physical memory belongs
/// to whatever the mapping is for.
unsafe fn map_range(root: u64, mut va: u64, mut pa: u64, mut len: u64, prot: Prot, blocks: bool) {
    assert!((va | pa | len) & (PAGE_SIZE - 1) == 0, "pmap: unaligned map");
    let a = attrs(prot);
    while len > 0 {
        let fits = |size: u64| blocks && (va | pa) & (size - 1) == 0 && len >= size;
        let (level, size, kind) = if fits(L1_SIZE) {
            (1, L1_SIZE, DESC_BLOCK)
        } else if fits(L2_SIZE) {
            (2, L2_SIZE, DESC_BLOCK)
        } else {
            (3, PAGE_SIZE, DESC_PAGE)
        };
        // SAFETY: forwarded from our caller.
        let slot = unsafe { pte_slot(root, va, level, true) }.expect("pte_slot with alloc");
        // SAFETY: `slot` points at the descriptor for va.
        unsafe {
            let old = slot.read_volatile();
            assert!(old & DESC_VALID == 0, "pmap: {va:#x} already mapped ({old:#x})");
            slot.write_volatile(pa | a | kind);
        }
        va += size;
        pa += size;
        len -= size;
    }
    // New entries replace invalid ones, so nothing stale can be in a TLB;
    // the walker only has to observe the stores.
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
}

/// Invalidate the TLB entries of one kernel page on every CPU.
fn tlb_flush_kernel_page(va: u64) {
    // SAFETY: TLB maintenance has no memory-safety effect; VAALE1IS takes
    // VA[55:12], which includes the bits that select the TTBR1 half.
    unsafe {
        core::arch::asm!("tlbi vaale1is, {}", in(reg) (va >> 12) & 0x0fff_ffff_ffff, options(nostack));
    }
}

/// SCTLR_EL1 once the kernel tables are in place: the boot value plus
/// WXN, and PAN set on every exception entry when the CPU has it.
pub fn final_sctlr() -> u64 {
    let mut v = locore::SCTLR_BOOT | locore::SCTLR_WXN;
    if has_pan() {
        v &= !locore::SCTLR_SPAN;
    }
    v
}

/// FEAT_PAN (privileged access never).
pub fn has_pan() -> bool {
    (ID_AA64MMFR1_EL1.get() >> 20) & 0xf != 0
}

/// Build the kernel page tables and switch to them.
///
/// Before: running on the boot tables (2 MiB RWX blocks over the image in
/// TTBR1, identity blocks in TTBR0), interrupts masked, boot CPU only;
/// `ram` lists the RAM ranges from the device tree.
/// After: TTBR1 holds the final tables (image with W^X, direct map of all
/// RAM below `DMAP_MAX_PA`); WXN (and SPAN for PAN) are set; TTBR0 still
/// holds the identity map; `phys_to_kva` works.
pub fn bootstrap(load_pa: u64, ram: &[(u64, u64)]) {
    let kstart = kernel_start();
    KERNEL_DELTA.store(kstart - load_pa, Ordering::Relaxed);
    POOL_NEXT.store(&raw const __bootpool_start as u64, Ordering::Relaxed);

    let guard = KPMAP.lock();
    let root = alloc_ptp();
    let (te, re, ke) = (text_end(), rodata_end(), kernel_end());
    // SAFETY: `root` is a fresh table nobody else sees yet; the image
    // ranges are ours and page aligned (link.ld).
    unsafe {
        map_range(root, kstart, kimg_pa(kstart), te - kstart, Prot::Text, false);
        map_range(root, te, kimg_pa(te), re - te, Prot::Ro, false);
        map_range(root, re, kimg_pa(re), ke - re, Prot::Rw, false);
    }
    let (ro_lo, ro_hi) = (kimg_pa(kstart), kimg_pa(re));
    for &(s, e) in ram {
        let s = uvm::round_page(s);
        let e = uvm::trunc_page(e.min(DMAP_MAX_PA));
        let pieces = [
            (s, e.min(ro_lo), Prot::Rw),
            (s.max(ro_lo), e.min(ro_hi), Prot::Ro),
            (s.max(ro_hi), e, Prot::Rw),
        ];
        for (a, b, p) in pieces {
            if a < b {
                // SAFETY: RAM the device tree reports, not mapped yet.
                unsafe { map_range(root, phys_to_kva(a), a, b - a, p, true) };
            }
        }
    }
    drop(guard);

    let switch = kimg_pa(locore::idmap_switch_ttbr1 as *const () as u64);
    // SAFETY: idmap_switch_ttbr1 touches no memory and no stack; we call
    // it at its physical address, which TTBR0 maps executable, so it keeps
    // running while TTBR1 changes under it. The new tables map everything
    // the caller uses (image, stack) at the same addresses.
    unsafe {
        let f: unsafe extern "C" fn(u64, u64, u64) = core::mem::transmute(switch as usize);
        f(root, final_sctlr(), locore::empty_table_pa());
    }
    KERNEL_L1.store(root, Ordering::Relaxed);
    DMAP_READY.store(true, Ordering::Release);
}

/// Stop using the identity map on this CPU: TTBR0 points at an empty table
/// until a user pmap is activated. Before: nothing in use lies in the
/// TTBR0 half. After: any access below the kernel half faults.
pub fn drop_idmap() {
    // SAFETY: the empty table is a zeroed page that stays forever; the
    // TLB flush removes identity entries cached for this CPU.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {0}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            in(reg) locore::empty_table_pa(),
            options(nostack)
        );
    }
}

/// Physical address of the kernel's level 1 table (for TTBR1_EL1).
pub fn kernel_l1_pa() -> u64 {
    KERNEL_L1.load(Ordering::Relaxed)
}

/// Hand the unused end of the boot pool to the caller (for the page
/// allocator) and take page-table pages from uvm from now on.
/// Returns `[start, end)` physical, possibly empty.
pub fn close_boot_pool() -> (u64, u64) {
    let next = POOL_NEXT.load(Ordering::Relaxed);
    POOL_CLOSED.store(true, Ordering::Release);
    (kimg_pa(next), kimg_pa(&raw const __bootpool_end as u64))
}

/// The physical range of the kernel image in use: from its first byte to
/// the end of the boot-pool pages consumed so far.
pub fn kernel_image_pa() -> (u64, u64) {
    (kimg_pa(kernel_start()), kimg_pa(POOL_NEXT.load(Ordering::Relaxed)))
}

/// Map device registers `[pa, pa + len)` and return their kernel virtual
/// address. The VA is congruent to the PA modulo 2 MiB so large register
/// windows (GICv3 redistributors) use block mappings.
pub fn mapdev(pa: u64, len: u64) -> u64 {
    let off = pa & (PAGE_SIZE - 1);
    let base = uvm::trunc_page(pa);
    let size = uvm::round_page(pa + len) - base;
    let mut st = KPMAP.lock();
    let mut va = (st.dev_next & !(L2_SIZE - 1)) + (base & (L2_SIZE - 1));
    if va < st.dev_next {
        va += L2_SIZE;
    }
    assert!(va + size <= VM_DEV_END, "pmap: device window full");
    st.dev_next = va + size;
    // SAFETY: the device window range is fresh; `base` is MMIO that the
    // device tree describes.
    unsafe { map_range(kernel_l1_pa(), va, base, size, Prot::Dev, true) };
    drop(st);
    va + off
}

/// A kernel stack: `[lo, hi)` mapped RW, with the unmapped guard below it.
#[derive(Clone, Copy, Debug)]
pub struct KStack {
    pub lo: u64,
    pub hi: u64,
}

fn kstack_slot(st: &mut KvaState) -> u64 {
    if st.nfree > 0 {
        st.nfree -= 1;
        return st.free_slots[st.nfree];
    }
    let slot = st.kstack_next;
    assert!(slot + KSTACK_SLOT <= VM_KSTACK_END, "pmap: out of kernel stack slots");
    st.kstack_next += KSTACK_SLOT;
    slot
}

/// Allocate a kernel stack of `pages` pages (at most KSTACK_SIZE), placed
/// at the top of the lower half of a fresh slot so the overflow check in
/// the exception vectors holds for it.
pub fn kstack_alloc_pages(pages: u64) -> KStack {
    assert!(pages >= 1 && pages * PAGE_SIZE <= KSTACK_SIZE);
    let mut st = KPMAP.lock();
    let slot = kstack_slot(&mut st);
    let hi = slot + KSTACK_SIZE;
    let lo = hi - pages * PAGE_SIZE;
    let mut va = lo;
    while va < hi {
        let pa = alloc_page();
        // SAFETY: the slot is ours and unmapped; `pa` was just allocated.
        unsafe { map_range(kernel_l1_pa(), va, pa, PAGE_SIZE, Prot::Rw, false) };
        va += PAGE_SIZE;
    }
    drop(st);
    KStack { lo, hi }
}

/// A full-size kernel stack (KSTACK_SIZE) with its guard.
pub fn kstack_alloc() -> KStack {
    kstack_alloc_pages(KSTACK_SIZE / PAGE_SIZE)
}

/// Unmap and free a stack from [`kstack_alloc_pages`] made after the page
/// allocator started. Before: no CPU runs on it. After: its pages are free
/// and its slot reusable.
#[allow(dead_code)]
pub fn kstack_free(ks: KStack) {
    let mut st = KPMAP.lock();
    let mut va = ks.lo;
    while va < ks.hi {
        let pa = kvtophys_locked(va).expect("kstack_free: page not mapped");
        unmap_page_locked(va);
        kern::uvm_init::uvm_pagefree(pa);
        va += PAGE_SIZE;
    }
    let slot = ks.hi - KSTACK_SIZE;
    if st.nfree < st.free_slots.len() {
        let n = st.nfree;
        st.free_slots[n] = slot;
        st.nfree += 1;
    }
}

fn unmap_page_locked(va: u64) {
    // SAFETY: the caller holds KPMAP; the kernel table is live.
    if let Some(slot) = unsafe { pte_slot(kernel_l1_pa(), va, 3, false) } {
        // SAFETY: `slot` is the level 3 descriptor of va.
        unsafe { slot.write_volatile(0) };
        barrier::dsb(barrier::ISHST);
        tlb_flush_kernel_page(va);
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
    }
}

/// Physical address behind kernel virtual address `va`, if mapped.
pub fn kvtophys(va: u64) -> Option<u64> {
    let _g = KPMAP.lock();
    kvtophys_locked(va)
}

fn kvtophys_locked(va: u64) -> Option<u64> {
    let mut table = kernel_l1_pa();
    for lvl in 1..=3u32 {
        // SAFETY: walking live tables under the lock.
        let d = unsafe { ptp_va(table).add(l_index(va, lvl)).read_volatile() };
        if d & DESC_VALID == 0 {
            return None;
        }
        let shift = 39 - 9 * lvl;
        if lvl == 3 || d & DESC_TYPE_MASK == DESC_BLOCK {
            let mask = (1u64 << shift) - 1;
            return Some((d & OA_MASK & !mask) | (va & mask));
        }
        table = d & OA_MASK;
    }
    None
}

/// Reserve `len` bytes (page aligned) of kernel virtual address space in
/// the general window, for `pmap_kenter_pa`. Never freed for now.
pub fn kva_alloc(len: u64) -> u64 {
    let len = uvm::round_page(len);
    let mut st = KPMAP.lock();
    let va = st.kva_next;
    assert!(va + len <= VM_KVA_END, "pmap: kernel VA window full");
    st.kva_next += len;
    va
}

/// Exercise kenter/kremove once at boot: a page entered at a fresh VA
/// shows the same memory as the direct map, and is gone after kremove.
///
/// Before: the page allocator works. After: the page and state are back
/// as they were (one page of VA is used up).
pub fn selftest() {
    let pa = kern::uvm_init::uvm_pagealloc().expect("pmap selftest: no page");
    let va = kva_alloc(PAGE_SIZE);
    Arm64Pmap::pmap_kenter_pa(va, pa, VmProt::RW);
    assert_eq!(kvtophys(va), Some(pa), "pmap selftest: kvtophys");
    // SAFETY: va maps the page we own; the direct map sees the same page.
    unsafe {
        (va as *mut u64).write_volatile(0x0b5d_ab6c_0ffe_e000 ^ pa);
        let back = (phys_to_kva(pa) as *const u64).read_volatile();
        assert_eq!(back, 0x0b5d_ab6c_0ffe_e000 ^ pa, "pmap selftest: alias mismatch");
    }
    Arm64Pmap::pmap_kremove(va, PAGE_SIZE);
    assert_eq!(kvtophys(va), None, "pmap selftest: still mapped after kremove");
    kern::uvm_init::uvm_pagefree(pa);
}

/// The arm64 kernel pmap (OpenBSD's pmap_kenter_pa/pmap_kremove).
pub struct Arm64Pmap;

impl PmapKernel for Arm64Pmap {
    fn pmap_kenter_pa(va: u64, pa: u64, prot: VmProt) {
        assert!(
            (VM_KVA_START..VM_KVA_END).contains(&va),
            "pmap_kenter_pa: {va:#x} outside the kernel VA window"
        );
        let p = if prot.contains(VmProt::EXECUTE) {
            assert!(!prot.contains(VmProt::WRITE), "pmap_kenter_pa: W^X");
            Prot::Text
        } else if prot.contains(VmProt::WRITE) {
            Prot::Rw
        } else {
            Prot::Ro
        };
        let _g = KPMAP.lock();
        // SAFETY: va is in the kernel window, page aligned (map_range
        // checks) and unmapped per the trait contract.
        unsafe { map_range(kernel_l1_pa(), va, pa, PAGE_SIZE, p, false) };
    }

    fn pmap_kremove(va: u64, len: u64) {
        let _g = KPMAP.lock();
        let mut v = uvm::trunc_page(va);
        while v < va + len {
            unmap_page_locked(v);
            v += PAGE_SIZE;
        }
    }
}
