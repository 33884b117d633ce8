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
//!
//! The second half of this file is the user pmap (`uvm::pmap::Pmap`):
//! TTBR0 tables tagged with ASIDs; see "User pmaps" below.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR1_EL1, Readable};
use kern::mutex::Mutex;
use uvm::pmap::{PmapKernel, PmapRef, VmProt};

use crate::{cpu, locore};

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

/// Kernel stack slots in the stack window.
const NKSTACK_SLOTS: usize = ((VM_KSTACK_END - VM_KSTACK_START) / KSTACK_SLOT) as usize;

struct KvaState {
    kva_next: u64,
    dev_next: u64,
    /// One bit per kernel stack slot, set while the slot is in use. A
    /// bitmap rather than a bump pointer with a short free list, so that
    /// any number of threads can come and go without leaking slots; the
    /// lowest free slot is reused first, which keeps the page-table pages
    /// of the stack window few.
    kstack_used: [u64; NKSTACK_SLOTS / 64],
}

/// Serialises every change to the kernel page tables and KVA allocation.
static KPMAP: Mutex<KvaState> = Mutex::new(KvaState {
    kva_next: VM_KVA_START,
    dev_next: VM_DEV_START,
    // The first slot is never used: its lower half is the address that
    // `trap_selftest` reads, and its upper half the guard of the next.
    kstack_used: {
        let mut b = [0u64; NKSTACK_SLOTS / 64];
        b[0] = 1;
        b
    },
});

/// Kernel page-table pages taken from uvm since boot (they are never given
/// back: the kernel half only grows), so tests can account for them.
static KPT_PAGES: AtomicU64 = AtomicU64::new(0);

/// Kernel page-table pages allocated from uvm so far.
pub fn kernel_ptpages() -> u64 {
    KPT_PAGES.load(Ordering::Relaxed)
}

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
/// the pool is handed to the page allocator, from uvm afterwards. None
/// when uvm has no free page (the boot pool running dry is a build
/// configuration error and panics).
fn alloc_page() -> Option<u64> {
    if !POOL_CLOSED.load(Ordering::Acquire) {
        let va = POOL_NEXT.fetch_add(PAGE_SIZE, Ordering::Relaxed);
        assert!(va + PAGE_SIZE <= &raw const __bootpool_end as u64, "pmap: boot page pool exhausted");
        return Some(kimg_pa(va));
    }
    kern::uvm_init::uvm_pagealloc()
}

/// A zeroed kernel page-table page, or None when memory is exhausted.
fn alloc_ptp() -> Option<u64> {
    let from_uvm = POOL_CLOSED.load(Ordering::Acquire);
    let pa = alloc_page()?;
    if from_uvm {
        KPT_PAGES.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: the page was just allocated to us and is reachable at
    // ptp_va (kernel window or direct map), one page long.
    unsafe { ptr::write_bytes(ptp_va(pa) as *mut u8, 0, PAGE_SIZE as usize) };
    Some(pa)
}

const fn l_index(va: u64, level: u32) -> usize {
    ((va >> (39 - 9 * level)) & 0x1ff) as usize
}

/// Pointer to the descriptor for `va` at `level` (1-3) under `root`,
/// creating intermediate tables when `alloc`. None when a table is missing
/// (and `alloc` is false) or cannot be allocated.
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
        let new = alloc_ptp()?;
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
        let slot = unsafe { pte_slot(root, va, level, true) }.expect("pmap: no page for a kernel page table");
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
    kern::cpu::count(|s| &s.tlb_page);
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
    let root = alloc_ptp().expect("pmap: boot pool");
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
    kern::cpu::count(|s| &s.tlb_all);
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

/// Take the lowest free kernel stack slot; None when all are in use.
fn kstack_slot(st: &mut KvaState) -> Option<u64> {
    let (w, word) = st.kstack_used.iter().enumerate().find(|(_, w)| **w != u64::MAX)?;
    let bit = word.trailing_ones() as usize;
    st.kstack_used[w] |= 1 << bit;
    Some(VM_KSTACK_START + (w * 64 + bit) as u64 * KSTACK_SLOT)
}

fn kstack_slot_free(st: &mut KvaState, slot: u64) {
    let i = ((slot - VM_KSTACK_START) / KSTACK_SLOT) as usize;
    assert!(
        i != 0 && st.kstack_used[i / 64] & (1 << (i % 64)) != 0,
        "kstack_free: slot {slot:#x} not in use"
    );
    st.kstack_used[i / 64] &= !(1 << (i % 64));
}

/// Allocate a kernel stack of `pages` pages (at most KSTACK_SIZE), placed
/// at the top of the lower half of a free slot so the overflow check in
/// the exception vectors holds for it. None when physical pages or stack
/// slots run out; nothing is left allocated then (except page-table pages
/// of the stack window, which stay for the next stack).
pub fn kstack_alloc_pages(pages: u64) -> Option<KStack> {
    assert!(pages >= 1 && pages * PAGE_SIZE <= KSTACK_SIZE);
    let mut st = KPMAP.lock();
    let slot = kstack_slot(&mut st)?;
    let hi = slot + KSTACK_SIZE;
    let lo = hi - pages * PAGE_SIZE;
    let mut va = lo;
    while va < hi {
        // SAFETY: KPMAP is held and the kernel table is live.
        let pte = alloc_page().and_then(|pa| match unsafe { pte_slot(kernel_l1_pa(), va, 3, true) } {
            Some(pte) => Some((pa, pte)),
            None => {
                kern::uvm_init::uvm_pagefree(pa);
                None
            }
        });
        let Some((pa, pte)) = pte else {
            kremove_locked(lo, va - lo, true);
            kstack_slot_free(&mut st, slot);
            return None;
        };
        // SAFETY: `pte` is the level 3 descriptor of va, in our slot, which
        // is unmapped; `pa` was just allocated.
        unsafe { pte.write_volatile(pa | attrs(Prot::Rw) | DESC_PAGE) };
        va += PAGE_SIZE;
    }
    // New entries replace invalid ones: nothing stale can be cached.
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
    drop(st);
    Some(KStack { lo, hi })
}

/// A full-size kernel stack (KSTACK_SIZE) with its guard, or None.
pub fn kstack_alloc() -> Option<KStack> {
    kstack_alloc_pages(KSTACK_SIZE / PAGE_SIZE)
}

/// Unmap and free a stack from [`kstack_alloc_pages`] made after the page
/// allocator started. Before: no CPU runs on it. After: its pages are
/// back in uvm, no TLB holds them, and its slot is reusable.
pub fn kstack_free(ks: KStack) {
    assert!(POOL_CLOSED.load(Ordering::Acquire), "kstack_free: boot-pool stack");
    let mut st = KPMAP.lock();
    kremove_locked(ks.lo, ks.hi - ks.lo, true);
    kstack_slot_free(&mut st, ks.hi - KSTACK_SIZE);
}

/// Remove the kernel mappings of `[va, va + len)` (page aligned), giving
/// the pages back to uvm when `free` (at most a kernel stack's worth).
/// One barrier pair for the whole range: clear every entry, make the
/// clears visible to the walkers, invalidate each page on every CPU, and
/// wait for that before a page can be reused.
fn kremove_locked(va: u64, len: u64, free: bool) {
    const MAXFREE: usize = (KSTACK_SIZE / PAGE_SIZE) as usize;
    assert!(!free || len <= KSTACK_SIZE);
    let mut pages = [0u64; MAXFREE];
    let mut n = 0;
    let mut v = va;
    while v < va + len {
        // SAFETY: the caller holds KPMAP; the kernel table is live.
        if let Some(pte) = unsafe { pte_slot(kernel_l1_pa(), v, 3, false) } {
            // SAFETY: `pte` is the level 3 descriptor of v.
            let old = unsafe { pte.read_volatile() };
            if old & DESC_VALID != 0 {
                // SAFETY: as above.
                unsafe { pte.write_volatile(0) };
                if free {
                    pages[n] = old & OA_MASK;
                    n += 1;
                }
            }
        }
        v += PAGE_SIZE;
    }
    barrier::dsb(barrier::ISHST);
    let mut v = va;
    while v < va + len {
        tlb_flush_kernel_page(v);
        v += PAGE_SIZE;
    }
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    for &pa in &pages[..n] {
        kern::uvm_init::uvm_pagefree(pa);
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
        let start = uvm::trunc_page(va);
        kremove_locked(start, uvm::round_page(va + len) - start, false);
    }
}

// ---------------------------------------------------------------------------
// User pmaps
//
// Each address space has its own level 1 table for TTBR0 (39-bit user
// range, three levels, 4 KiB pages) and an ASID. User leaf entries are
// non-global (nG), EL0-accessible (AP[1]), read-only unless writable was
// asked for, UXN unless executable was asked for, and always PXN; table
// entries carry PXNTable as well, so nothing below a user table can ever
// be executed by the kernel.
//
// Tables change only under the owner's map lock (see uvm::pmap), so the
// pmap takes no lock for them. Page-table pages come from uvm and go back
// at pmap_purge/pmap_destroy; pmap_remove keeps emptied tables.
//
// ASIDs (Linux-style generations): an ASID value is `gen << 16 | number`;
// numbers are handed out from a bitmap in the current generation and
// never reused within it. When numbers run out, the generation advances,
// the bitmap is cleared except for the numbers loaded on some CPU right
// now (those pmaps keep their number in the new generation, because
// another CPU may be using it at this instant), and every CPU flushes its
// whole local TLB before it next loads an ASID of the new generation
// (`ci_asid_gen`, checked in pmap_activate). So a number is never loaded
// by a CPU whose TLB may hold another pmap's entries under it, and no IPI
// is needed. Number 0 is reserved for "no user space" (the empty table).
// ---------------------------------------------------------------------------

/// AP[1]: EL0 may access.
const ATTR_AP_USER: u64 = 1 << 6;
/// Not global: the entry is tagged with the ASID.
const ATTR_NG: u64 = 1 << 11;
/// PXNTable: nothing reached through this table is executable at EL1.
const TABLE_PXN: u64 = 1 << 59;
/// Removing more pages than this at once flushes the whole ASID instead
/// of issuing one TLBI per page.
const TLBI_RANGE_MAX: usize = 64;

const ASID_GEN_SHIFT: u32 = 16;
const ASID_NUM_MASK: u64 = (1 << ASID_GEN_SHIFT) - 1;
const ASID_MAX: usize = 1 << 16;

/// TLB maintenance issued by the user pmap since boot, for the benchmark
/// (teardown cost against pages touched) and the tests. Global atomics:
/// the counts are sums over CPUs and only ever read as totals.
pub static TLBI_PAGE: AtomicU64 = AtomicU64::new(0);
/// TLBI ASIDE1IS (by ASID, broadcast).
pub static TLBI_ASID: AtomicU64 = AtomicU64::new(0);
/// Local full flushes (TLBI VMALLE1) before a new ASID generation.
pub static TLBI_ALL_LOCAL: AtomicU64 = AtomicU64::new(0);
/// ASID generation rollovers.
pub static ASID_ROLLOVERS: AtomicU64 = AtomicU64::new(0);

/// A snapshot of the TLB counters: (per-page TLBIs, TLBIs by ASID, local
/// full flushes, ASID rollovers).
pub fn tlb_stats() -> (u64, u64, u64, u64) {
    (
        TLBI_PAGE.load(Ordering::Relaxed),
        TLBI_ASID.load(Ordering::Relaxed),
        TLBI_ALL_LOCAL.load(Ordering::Relaxed),
        ASID_ROLLOVERS.load(Ordering::Relaxed),
    )
}

struct AsidState {
    /// Current generation, from 1 (so an ASID value of 0 means "none").
    generation: u64,
    /// Where the search for a free number starts.
    next: usize,
    used: [u64; ASID_MAX / 64],
}

/// The ASID allocator. Taken with interrupts masked (pmap_activate runs
/// in the switch path); hold times are a bitmap search, or a rollover.
static ASIDS: Mutex<AsidState> = Mutex::new(AsidState {
    generation: 1,
    next: 1,
    used: {
        let mut b = [0u64; ASID_MAX / 64];
        b[0] = 1;
        b
    },
});

/// ASID numbers this CPU model offers (256 or 65536, from TCR_EL1.AS,
/// which locore set from ID_AA64MMFR0_EL1.ASIDBits).
static ASID_COUNT: AtomicUsize = AtomicUsize::new(256);
/// Test override: hand out numbers below this only (0: no limit), so the
/// boot self-test can force rollovers.
static ASID_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Read the ASID size this CPU runs with. Before: TCR_EL1 is final (boot
/// CPU, after `bootstrap`).
pub fn asid_init() {
    let tcr: u64;
    // SAFETY: reading TCR_EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, tcr_el1", out(reg) tcr, options(nomem, nostack)) };
    ASID_COUNT.store(if tcr & locore::TCR_AS != 0 { 1 << 16 } else { 1 << 8 }, Ordering::Relaxed);
}

/// ASID bits in use (8 or 16).
pub fn asid_bits() -> u32 {
    ASID_COUNT.load(Ordering::Relaxed).trailing_zeros()
}

/// Limit ASID numbers to `[1, n)` (0 lifts the limit). For the self-test.
pub fn asid_set_limit(n: usize) {
    ASID_LIMIT.store(n, Ordering::Relaxed);
}

/// The current ASID generation.
pub fn asid_generation() -> u64 {
    ASIDS.lock().generation
}

fn asid_limit() -> usize {
    let count = ASID_COUNT.load(Ordering::Relaxed);
    match ASID_LIMIT.load(Ordering::Relaxed) {
        0 => count,
        l => l.min(count),
    }
}

/// A fresh ASID value in the current generation, rolling over to a new
/// generation when the numbers are used up. Caller holds ASIDS.
fn asid_alloc(st: &mut AsidState) -> u64 {
    let limit = asid_limit();
    for _ in 0..2 {
        for n in (st.next..limit).chain(1..st.next.min(limit)) {
            if st.used[n / 64] & (1 << (n % 64)) == 0 {
                st.used[n / 64] |= 1 << (n % 64);
                st.next = n + 1;
                return st.generation << ASID_GEN_SHIFT | n as u64;
            }
        }
        asid_rollover(st);
    }
    panic!("pmap: no ASID free after a rollover ({limit} numbers, all loaded)");
}

/// Start a new generation. Numbers loaded on some CPU stay with their
/// pmap (the CPU may be using them right now), moved into the new
/// generation; everything else becomes free. Every CPU flushes its TLB
/// before it next loads a new-generation ASID (its `ci_asid_gen` is old).
fn asid_rollover(st: &mut AsidState) {
    st.generation += 1;
    st.used.fill(0);
    st.used[0] = 1;
    st.next = 1;
    for ci in (0..kern::cpu::MAXCPUS as u32).filter_map(cpu::cpu_md) {
        // Every writer of ci_asid/ci_curpm holds ASIDS, as we do.
        let a = ci.ci_asid.load(Ordering::Relaxed);
        if a == 0 {
            continue;
        }
        let n = a & ASID_NUM_MASK;
        let v = st.generation << ASID_GEN_SHIFT | n;
        st.used[n as usize / 64] |= 1 << (n % 64);
        ci.ci_asid.store(v, Ordering::Relaxed);
        let pm = ci.ci_curpm.load(Ordering::Relaxed);
        if !pm.is_null() {
            pm_ref(pm as PmapRef).pm_asid.store(v, Ordering::Release);
        }
    }
    ASID_ROLLOVERS.fetch_add(1, Ordering::Relaxed);
}

/// The arm64 user pmap (OpenBSD's `struct pmap`).
pub struct PmapMd {
    /// Physical address of the level 1 table (TTBR0_EL1.BADDR).
    pm_l1: u64,
    /// `gen << 16 | number`, 0 until first activated. Written under ASIDS.
    pm_asid: AtomicU64,
    /// Loaded on some CPU since the last flush of its ASID: its entries
    /// may sit in TLBs and walk caches.
    pm_dirty: AtomicBool,
    /// Page-table pages held, the level 1 table included.
    pm_ptpages: AtomicUsize,
    /// Valid leaf entries.
    pm_resident: AtomicUsize,
}

fn pm_ref(pm: PmapRef) -> &'static PmapMd {
    assert!(pm != 0, "pmap: null pmap");
    // SAFETY: a PmapRef is only ever made by pmap_create from a leaked Box
    // and stays valid until pmap_destroy, after which the MI code no
    // longer passes it (interface contract).
    unsafe { &*(pm as *const PmapMd) }
}

/// Page-table pages and resident pages of `pm`.
pub fn pmap_counts(pm: PmapRef) -> (usize, usize) {
    let p = pm_ref(pm);
    (p.pm_ptpages.load(Ordering::Relaxed), p.pm_resident.load(Ordering::Relaxed))
}

/// The ASID value of `pm` (`gen << 16 | number`), 0 if never loaded.
pub fn pmap_asid(pm: PmapRef) -> u64 {
    pm_ref(pm).pm_asid.load(Ordering::Acquire)
}

/// The raw level 3 descriptor for `va`, if its tables exist (tests).
pub fn pmap_pte(pm: PmapRef, va: u64) -> Option<u64> {
    // SAFETY: reading a live table of a live pmap.
    user_pte(pm_ref(pm), va, false).ok().map(|p| unsafe { p.read_volatile() })
}

/// Why a user walk found no level 3 slot.
enum NoPte {
    /// The table at this level (1 or 2) has no entry for the address.
    Missing(u32),
    /// A table page could not be allocated.
    NoMem,
}

/// The level 3 descriptor slot for user `va`, creating the tables on the
/// way when `alloc`.
fn user_pte(pm: &PmapMd, va: u64, alloc: bool) -> Result<*mut u64, NoPte> {
    let mut table = pm.pm_l1;
    for lvl in 1..3u32 {
        // SAFETY: `table` is a live table page of `pm`, reached through
        // the direct map; the index is < 512.
        let e = unsafe { ptp_va(table).add(l_index(va, lvl)) };
        // SAFETY: `e` points into that table.
        let d = unsafe { e.read_volatile() };
        if d & DESC_TYPE_MASK == DESC_TABLE {
            table = d & OA_MASK;
            continue;
        }
        debug_assert!(d == 0, "pmap: stray user descriptor {d:#x}");
        if !alloc {
            return Err(NoPte::Missing(lvl));
        }
        let Some(new) = kern::uvm_init::uvm_pagealloc() else { return Err(NoPte::NoMem) };
        // SAFETY: the page was just allocated to us; direct-mapped.
        unsafe { ptr::write_bytes(ptp_va(new) as *mut u8, 0, PAGE_SIZE as usize) };
        pm.pm_ptpages.fetch_add(1, Ordering::Relaxed);
        // The walker must see the zeroed table before it sees the link.
        barrier::dsb(barrier::ISHST);
        // SAFETY: as above; the map lock serialises writers.
        unsafe { e.write_volatile(new | TABLE_PXN | DESC_TABLE) };
        table = new;
    }
    // SAFETY: `table` is a live level 3 table.
    Ok(unsafe { ptp_va(table).add(l_index(va, 3)) })
}

/// The leaf descriptor bits for a user page with `prot` (not NONE).
/// EXECUTE implies READ: EL0 execute-only pages would need AP[1] clear,
/// which makes them writable by the kernel with PAN not applying.
fn user_attrs(prot: VmProt) -> u64 {
    let mut a = (ATTR_NORMAL << ATTR_SHIFT) | SH_INNER | AF | ATTR_NG | ATTR_AP_USER | PXN | DESC_PAGE;
    if !prot.contains(VmProt::WRITE) {
        a |= AP_RO;
    }
    if !prot.contains(VmProt::EXECUTE) {
        a |= UXN;
    }
    a
}

/// Issue TLBI VALE1IS for each page (or one TLBI ASIDE1IS for many) of
/// `pm`, after its leaf entries for them were changed, and wait for every
/// CPU to complete them. `vas` holds the first pages changed, `n` counts
/// all of them. Nothing is issued for a pmap that never had an ASID: no
/// TLB can hold its entries.
fn user_tlb_flush(pm: &PmapMd, vas: &[u64], n: usize) {
    if n == 0 {
        return;
    }
    // The cleared/changed entries must be visible to every walker before
    // we read the ASID: an activation that assigns a new ASID after this
    // read can then only walk the new entries (see pmap_activate).
    barrier::dsb(barrier::ISH);
    let a = pm.pm_asid.load(Ordering::Acquire);
    if a == 0 {
        return;
    }
    let asid = (a & ASID_NUM_MASK) << 48;
    if n > vas.len() {
        tlbi_asid(asid);
    } else {
        for &va in vas {
            // SAFETY: TLB maintenance has no memory-safety effect.
            unsafe {
                core::arch::asm!("tlbi vale1is, {}", in(reg) asid | ((va >> 12) & 0xfff_ffff_ffff), options(nostack))
            };
        }
        TLBI_PAGE.fetch_add(n as u64, Ordering::Relaxed);
        kern::cpu::count_n(|s| &s.tlb_page, n as u64);
    }
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// TLBI ASIDE1IS for `asid` (already shifted to bits 63:48); the caller
/// waits with DSB ISH.
fn tlbi_asid(asid: u64) {
    // SAFETY: TLB maintenance has no memory-safety effect.
    unsafe { core::arch::asm!("tlbi aside1is, {}", in(reg) asid, options(nostack)) };
    TLBI_ASID.fetch_add(1, Ordering::Relaxed);
    kern::cpu::count(|s| &s.tlb_asid);
}

/// Make the instruction stream see the page at `pa` as written through
/// the direct map: clean its data cache lines to the point of
/// unification, then invalidate every instruction cache in the inner
/// shareable domain (by all, so VIPT aliases of other user mappings of the
/// page cannot survive).
fn icache_sync_page(pa: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line = 4u64 << ((ctr >> 16) & 0xf);
    let va = phys_to_kva(pa);
    let mut a = va;
    while a < va + PAGE_SIZE {
        // SAFETY: cleaning lines of a mapped page writes nothing new.
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) a, options(nostack)) };
        a += line;
    }
    // SAFETY: cache maintenance and barriers only.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}

/// Whether any CPU has `pm` loaded right now.
fn pmap_loaded_anywhere(pm: PmapRef) -> bool {
    (0..kern::cpu::MAXCPUS as u32)
        .filter_map(cpu::cpu_md)
        .any(|ci| ci.ci_curpm.load(Ordering::Acquire) as PmapRef == pm)
}

/// Free every table below the level 1 table of `pm` and clear the level 1
/// table; returns how many valid leaves were still there.
fn user_free_tables(pm: &PmapMd) -> usize {
    let mut leaves = 0;
    let l1 = ptp_va(pm.pm_l1);
    for i in 0..512 {
        // SAFETY: index < 512 of the live level 1 table.
        let d1 = unsafe { l1.add(i).read_volatile() };
        if d1 & DESC_TYPE_MASK != DESC_TABLE {
            continue;
        }
        let l2pa = d1 & OA_MASK;
        let l2 = ptp_va(l2pa);
        for j in 0..512 {
            // SAFETY: index < 512 of a live level 2 table.
            let d2 = unsafe { l2.add(j).read_volatile() };
            if d2 & DESC_TYPE_MASK != DESC_TABLE {
                continue;
            }
            let l3pa = d2 & OA_MASK;
            let l3 = ptp_va(l3pa);
            // SAFETY: a live level 3 table, 512 entries.
            leaves += (0..512).filter(|&k| unsafe { l3.add(k).read_volatile() } & DESC_VALID != 0).count();
            kern::uvm_init::uvm_pagefree(l3pa);
        }
        kern::uvm_init::uvm_pagefree(l2pa);
        // SAFETY: as above.
        unsafe { l1.add(i).write_volatile(0) };
    }
    pm.pm_ptpages.store(1, Ordering::Relaxed);
    pm.pm_resident.store(0, Ordering::Relaxed);
    leaves
}

/// Apply `f` to every valid leaf of `pm` in `[sva, eva)`: `f` returns the
/// new descriptor (0 removes). Skips missing tables. Then invalidates the
/// changed pages in every TLB.
fn user_update_range(pm: &PmapMd, sva: u64, eva: u64, f: impl Fn(u64) -> u64) {
    assert!((sva | eva) & (PAGE_SIZE - 1) == 0 && sva <= eva, "pmap: bad range {sva:#x}-{eva:#x}");
    let eva = eva.min(sys::vmparam::VM_MAXUSER_ADDRESS as u64);
    let mut vas = [0u64; TLBI_RANGE_MAX];
    let mut n = 0;
    let mut va = sva;
    while va < eva {
        let pte = match user_pte(pm, va, false) {
            Ok(p) => p,
            Err(NoPte::Missing(lvl)) => {
                // Nothing mapped up to the end of the missing table's span.
                let span = if lvl == 1 { L1_SIZE } else { L2_SIZE };
                va = (va | (span - 1)) + 1;
                continue;
            }
            Err(NoPte::NoMem) => unreachable!("user_pte allocated without alloc"),
        };
        // SAFETY: a live leaf slot; the map lock serialises writers.
        let old = unsafe { pte.read_volatile() };
        if old & DESC_VALID != 0 {
            let new = f(old);
            if new != old {
                // SAFETY: as above.
                unsafe { pte.write_volatile(new) };
                if new & DESC_VALID == 0 {
                    pm.pm_resident.fetch_sub(1, Ordering::Relaxed);
                }
                if n < vas.len() {
                    vas[n] = va;
                }
                n += 1;
            }
        }
        va += PAGE_SIZE;
    }
    user_tlb_flush(pm, &vas[..n.min(vas.len())], n);
}

/// pmap_create: a pmap with an empty level 1 table and no ASID yet.
pub fn pmap_create() -> Option<PmapRef> {
    let l1 = kern::uvm_init::uvm_pagealloc()?;
    // SAFETY: a page just allocated to us, direct-mapped.
    unsafe { ptr::write_bytes(ptp_va(l1) as *mut u8, 0, PAGE_SIZE as usize) };
    let pm = alloc::boxed::Box::new(PmapMd {
        pm_l1: l1,
        pm_asid: AtomicU64::new(0),
        pm_dirty: AtomicBool::new(false),
        pm_ptpages: AtomicUsize::new(1),
        pm_resident: AtomicUsize::new(0),
    });
    Some(alloc::boxed::Box::into_raw(pm) as PmapRef)
}

/// pmap_destroy: free the tables and the structure. Before: no mappings
/// and not loaded anywhere (both checked). No TLB flush is needed even if
/// stale entries remain: the ASID number is not handed out again in this
/// generation, and a CPU flushes its TLB before it loads any number of a
/// later one; a number carried across a rollover belongs to a loaded pmap,
/// which this one is not.
pub fn pmap_destroy(pm: PmapRef) {
    assert!(!pmap_loaded_anywhere(pm), "pmap_destroy: pmap {pm:#x} still loaded");
    let p = pm_ref(pm);
    let leaves = user_free_tables(p);
    assert!(leaves == 0, "pmap_destroy: {leaves} mappings left");
    kern::uvm_init::uvm_pagefree(p.pm_l1);
    // SAFETY: made by Box::into_raw in pmap_create; the caller gives up
    // the reference (interface contract).
    drop(unsafe { alloc::boxed::Box::from_raw(pm as *mut PmapMd) });
}

/// pmap_enter: map `va` to `pa` with `prot`. NONE removes the mapping.
/// A valid entry with another physical page is replaced break-before-make
/// (invalid, TLBI, then the new entry); a permission change on the same
/// page is written in place, then invalidated.
pub fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
    assert!(
        va & (PAGE_SIZE - 1) == 0 && pa & (PAGE_SIZE - 1) == 0,
        "pmap_enter: unaligned {va:#x} -> {pa:#x}"
    );
    assert!(
        (sys::vmparam::VM_MIN_ADDRESS as u64..sys::vmparam::VM_MAXUSER_ADDRESS as u64).contains(&va),
        "pmap_enter: {va:#x} is not a user address"
    );
    let p = pm_ref(pm);
    if prot == VmProt::NONE {
        user_update_range(p, va, va + PAGE_SIZE, |_| 0);
        return true;
    }
    let Ok(pte) = user_pte(p, va, true) else { return false };
    if prot.contains(VmProt::EXECUTE) {
        icache_sync_page(pa);
    }
    let new = pa | user_attrs(prot);
    // SAFETY: a live leaf slot; the map lock serialises writers.
    let old = unsafe { pte.read_volatile() };
    if old & DESC_VALID == 0 {
        // SAFETY: as above.
        unsafe { pte.write_volatile(new) };
        p.pm_resident.fetch_add(1, Ordering::Relaxed);
        // A TLB never holds an invalid entry: only the store must be seen.
        barrier::dsb(barrier::ISHST);
        barrier::isb(barrier::SY);
        return true;
    }
    if old == new {
        return true;
    }
    if old & OA_MASK != pa {
        // Another page: break (invalid, invalidated everywhere), then make.
        // SAFETY: as above.
        unsafe { pte.write_volatile(0) };
        user_tlb_flush(p, &[va], 1);
        // SAFETY: as above.
        unsafe { pte.write_volatile(new) };
        barrier::dsb(barrier::ISHST);
        barrier::isb(barrier::SY);
    } else {
        // Same page, other permissions: allowed in place; the old
        // permissions may still be cached.
        // SAFETY: as above.
        unsafe { pte.write_volatile(new) };
        user_tlb_flush(p, &[va], 1);
    }
    true
}

/// pmap_remove: clear the leaves in `[sva, eva)`, invalidating them by VA
/// and ASID on every CPU (broadcast); tables stay until purge/destroy.
pub fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
    user_update_range(pm_ref(pm), sva, eva, |_| 0);
}

/// pmap_protect: lower the permissions in `[sva, eva)` to `prot` (never
/// raise them); NONE removes.
pub fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
    if prot == VmProt::NONE {
        return pmap_remove(pm, sva, eva);
    }
    user_update_range(pm_ref(pm), sva, eva, |old| {
        let mut new = old;
        if !prot.contains(VmProt::WRITE) {
            new |= AP_RO;
        }
        if !prot.contains(VmProt::EXECUTE) {
            new |= UXN;
        }
        new
    });
}

/// pmap_extract: the physical address `va` maps to.
pub fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
    if va >= sys::vmparam::VM_MAXUSER_ADDRESS as u64 {
        return None;
    }
    let pte = user_pte(pm_ref(pm), va, false).ok()?;
    // SAFETY: a live leaf slot.
    let d = unsafe { pte.read_volatile() };
    (d & DESC_VALID != 0).then_some((d & OA_MASK) | (va & (PAGE_SIZE - 1)))
}

/// Load TTBR0_EL1 with the empty table and ASID 0: no user translation is
/// usable after this (ASID 0 never tags an entry, the table has none).
fn ttbr0_load_empty() {
    // SAFETY: the empty table is a zeroed page that lives forever.
    unsafe {
        core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) locore::empty_table_pa(), options(nostack))
    };
}

/// pmap_activate: load `pm` (0: none) in TTBR0 with its ASID on this CPU.
/// Before: interrupts masked. After: `ci_curpm`/`ci_asid` name it, and the
/// TLB holds no entry of another pmap under its ASID number.
pub fn pmap_activate(pm: PmapRef) {
    let ci = cpu::curcpu_md();
    if pm == 0 {
        let _g = ASIDS.lock();
        ci.ci_asid.store(0, Ordering::Relaxed);
        ci.ci_curpm.store(ptr::null_mut(), Ordering::Release);
        ttbr0_load_empty();
        return;
    }
    let p = pm_ref(pm);
    let (num, flush) = {
        let mut st = ASIDS.lock();
        let mut a = p.pm_asid.load(Ordering::Relaxed);
        if a >> ASID_GEN_SHIFT != st.generation {
            a = asid_alloc(&mut st);
            p.pm_asid.store(a, Ordering::Release);
        }
        let flush = ci.ci_asid_gen.load(Ordering::Relaxed) != st.generation;
        if flush {
            ci.ci_asid_gen.store(st.generation, Ordering::Relaxed);
        }
        // Recorded before the lock is dropped, so a rollover on another
        // CPU keeps this number for this pmap.
        ci.ci_asid.store(a, Ordering::Relaxed);
        ci.ci_curpm.store(pm as *mut (), Ordering::Release);
        p.pm_dirty.store(true, Ordering::Relaxed);
        (a & ASID_NUM_MASK, flush)
    };
    if flush {
        // Flush with the empty table loaded, so that no speculative walk
        // can refill old-generation entries between the flush and the
        // switch to the new ASID.
        ttbr0_load_empty();
        // SAFETY: local TLB invalidation only.
        unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
        TLBI_ALL_LOCAL.fetch_add(1, Ordering::Relaxed);
        kern::cpu::count(|s| &s.tlb_all);
    }
    // SAFETY: pm_l1 is a live level 1 table; the DSB makes table updates
    // made on this CPU visible to the walker before it can start walking.
    unsafe {
        core::arch::asm!(
            "dsb ish",
            "msr ttbr0_el1, {}",
            "isb",
            in(reg) p.pm_l1 | num << 48,
            options(nostack)
        )
    };
}

/// pmap_deactivate: this CPU stops using `pm`. Before: interrupts masked,
/// `pm` loaded here. After: TTBR0 has the empty table and ASID 0.
pub fn pmap_deactivate(pm: PmapRef) {
    let ci = cpu::curcpu_md();
    {
        let _g = ASIDS.lock();
        let cur = ci.ci_curpm.load(Ordering::Relaxed) as PmapRef;
        assert!(cur == pm, "pmap_deactivate: {pm:#x} is not loaded here ({cur:#x} is)");
        ci.ci_asid.store(0, Ordering::Relaxed);
        ci.ci_curpm.store(ptr::null_mut(), Ordering::Release);
    }
    ttbr0_load_empty();
}

/// pmap_purge: free every table page of `pm` (exit), with one TLBI
/// ASIDE1IS if it was loaded since its last flush and none otherwise.
/// Before: loaded nowhere (checked). The flush comes first: with the pmap
/// loaded nowhere no walk can start after it, so the tables can then be
/// freed without any per-page invalidation.
pub fn pmap_purge(pm: PmapRef) {
    assert!(!pmap_loaded_anywhere(pm), "pmap_purge: pmap {pm:#x} still loaded");
    let p = pm_ref(pm);
    if p.pm_dirty.swap(false, Ordering::AcqRel) {
        let a = p.pm_asid.load(Ordering::Acquire);
        debug_assert!(a != 0);
        tlbi_asid((a & ASID_NUM_MASK) << 48);
        barrier::dsb(barrier::ISH);
    }
    user_free_tables(p);
}
