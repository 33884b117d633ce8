//! The kernel's page tables: 4-level paging, higher half, W^X.
//!
//! Kernel virtual layout (the top half is shared by every future user
//! pmap, so its PML4 slots are all created here at boot and never change
//! afterwards; user pmaps will copy slots 256..511 once):
//!
//! | PML4 slots | base                  | what                                   |
//! |------------|-----------------------|----------------------------------------|
//! | 256..383   | `DMAP_BASE`           | direct map of all RAM, RW+NX, 2 MiB    |
//! | 510        | `KVA_BASE`            | kernel stacks and other wired KVA, 4K  |
//! | 511        | `KERNBASE` (-2 GiB)   | the kernel image, 4 KiB pages, W^X     |
//!
//! The image is mapped by section: text RX, rodata R+NX, data and bss
//! RW+NX; the boot page tables' big RWX mapping is dropped. Device
//! registers (local APIC, I/O APIC) are mapped uncached inside the direct
//! map at their physical address (`pmap_mapdev`), so `phys_to_kva` holds
//! for them too. Kernel stacks live in KVA with an unmapped guard page
//! below each.
//!
//! Until `main` runs, page-table pages and boot stacks are stolen from the
//! boot memory list (and so never reach the MI page allocator); afterwards
//! they come from `uvm_pagealloc`.
//!
//! Thread kernel stacks (`kstack_alloc_thread`) live in the upper half of
//! the KVA window, in fixed slots of `USPACE_PAGES` plus a guard page, and
//! are given back whole: pages, the page-table page once empty, and the
//! slot, so the free page count returns to its baseline.
//!
//! # User pmaps
//!
//! One PML4 per address space; user space is `[0, 512 GiB)`, exactly PML4
//! slot 0, and slots 256..511 are copied from the kernel's (which never
//! change after boot). Leaves carry PG_U, NX unless executable, and never
//! PG_G; SMEP and SMAP keep the kernel from executing or touching them
//! outside copyin/copyout. Page-table pages come from `uvm_pagealloc` and
//! return through `pmap_purge`/`pmap_destroy`.
//!
//! Shootdowns: a change to a mapping that may be cached goes by IPI only to
//! the CPUs whose `ci_proc_pmap` is the pmap (and is done locally when it
//! is this CPU's). `pmap_activate` publishes `ci_proc_pmap` before loading
//! %cr3 and the changer reads every `ci_proc_pmap` after changing the
//! PTE (both SeqCst), so a CPU is either sent the IPI or loads %cr3 after
//! the PTE changed.
//!
//! # PCIDs
//!
//! With CR4.PCIDE, a CPU keeps TLB entries of pmaps it ran before, tagged
//! with their PCID, across %cr3 loads; the shootdown rule above misses
//! those. So: (1) each pmap gets a PCID (1..4095; 0 is the kernel-only
//! PML4) from a global allocator with a generation number; when the 4095
//! run out the generation advances, and a CPU that loads a PCID of a newer
//! generation than it last used first flushes its whole TLB (toggling
//! CR4.PGE), so a PCID reused for another pmap never meets old entries;
//! (2) each pmap has `pm_stale`, a mask of CPUs that may hold stale entries
//! for it: every shootdown first sets all bits, then the CPUs that still
//! run the pmap invalidate and clear their own bit; any other CPU clears
//! its bit on its next `pmap_activate` of that pmap by loading %cr3 with
//! the flush bit for that PCID. (3) `pmap_purge` retires the pmap's PCID
//! instead of flushing it: the PCID is not handed out again before the
//! next generation, whose first use on each CPU flushes everything; the
//! purged pmap gets a fresh PCID if it is used again. Without PCIDs every
//! %cr3 load flushes the user (non-global) entries and none of this is
//! needed.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use alloc::boxed::Box;
use kern::bootinfo::{MAX_MEM_REGIONS, MemRegion};
use kern::uvm_init::{uvm_pagealloc, uvm_pagefree};
use spin::Mutex;
use uvm::pmap::{PmapRef, VmProt};
use uvm::{PAGE_SIZE, round_page, trunc_page};

use crate::cpu::{cpu_md, curcpu_md};
use crate::cpufunc::{self, invlpg, lcr3, lcr3_pcid, with_intr_disabled};
use crate::locore::{__erodata, __etext, __kernel_end, __kernel_start};

pub const KERNBASE: u64 = 0xffff_ffff_8000_0000;
pub const DMAP_BASE: u64 = 0xffff_8000_0000_0000;
/// The direct map spans 128 PML4 slots: 64 TiB of physical space.
pub const DMAP_SIZE: u64 = 64 << 40;
pub const KVA_BASE: u64 = 0xffff_ff00_0000_0000;
pub const KVA_SIZE: u64 = 512 << 30;

pub const PG_V: u64 = 1 << 0;
pub const PG_RW: u64 = 1 << 1;
pub const PG_U: u64 = 1 << 2;
pub const PG_A: u64 = 1 << 5;
pub const PG_D: u64 = 1 << 6;
pub const PG_WT: u64 = 1 << 3;
pub const PG_N: u64 = 1 << 4;
pub const PG_PS: u64 = 1 << 7;
pub const PG_G: u64 = 1 << 8;
pub const PG_NX: u64 = 1 << 63;
pub const PG_FRAME: u64 = 0x000f_ffff_ffff_f000;

const NBPD: u64 = 2 << 20;
const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;
/// Stolen pages come from at or above here, keeping low memory for the
/// AP trampoline.
const STEAL_FLOOR: u64 = 1 << 20;

/// How the kernel reaches physical memory right now: 0 while the boot
/// identity map is live, `DMAP_BASE` after `pmap_bootstrap`.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);
/// Physical address of the kernel PML4.
static KERNEL_PML4: AtomicU64 = AtomicU64::new(0);
/// The NX bit if the CPU has it, else 0 (then W^X is W^-only).
static NX: AtomicU64 = AtomicU64::new(0);
/// CR4.PCIDE is on (every CPU enables it when CPUID has it).
static PCID_ON: AtomicBool = AtomicBool::new(false);
/// Set just before `main`: page allocations go to the MI allocator.
static STEAL_CLOSED: AtomicBool = AtomicBool::new(false);
/// Next free kernel virtual address in the KVA window.
static KVA_NEXT: AtomicU64 = AtomicU64::new(KVA_BASE);
/// Serialises changes to the kernel page tables.
static KPT_LOCK: Mutex<()> = Mutex::new(());

/// Idle (per-CPU boot) stack size (plus one guard page below).
pub const KSTACK_PAGES: u64 = 8;
/// Thread kernel stack size: 32 KiB (plus one guard page below). The trap
/// frame of a user thread takes its top 176 bytes.
pub const USPACE_PAGES: u64 = 8;
/// Interrupt-stack size for double fault, NMI and machine check.
pub const ISTACK_PAGES: u64 = 4;

/// The physical memory list the boot code carves from and finally hands to
/// the MI allocator: sorted, disjoint, page aligned.
pub struct MemList {
    r: [MemRegion; MAX_MEM_REGIONS],
    n: usize,
}

impl MemList {
    pub const fn new() -> MemList {
        MemList { r: [MemRegion { start: 0, end: 0 }; MAX_MEM_REGIONS], n: 0 }
    }

    pub fn as_slice(&self) -> &[MemRegion] {
        &self.r[..self.n]
    }

    fn insert_at(&mut self, i: usize, m: MemRegion) -> bool {
        if self.n == MAX_MEM_REGIONS {
            return false;
        }
        self.r.copy_within(i..self.n, i + 1);
        self.r[i] = m;
        self.n += 1;
        true
    }

    fn remove_at(&mut self, i: usize) {
        self.r.copy_within(i + 1..self.n, i);
        self.n -= 1;
    }

    /// Add the whole pages inside `[start, end)`, merging with neighbours.
    /// Returns false (the range is lost) if the list is full.
    pub fn add(&mut self, start: u64, end: u64) -> bool {
        let (start, end) = (round_page(start), trunc_page(end));
        if start >= end {
            return true;
        }
        let mut m = MemRegion { start, end };
        // Absorb every region that overlaps or touches the new one.
        let mut i = 0;
        while i < self.n {
            let r = self.r[i];
            if r.end >= m.start && r.start <= m.end {
                m.start = m.start.min(r.start);
                m.end = m.end.max(r.end);
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        let at = self.r[..self.n].iter().position(|r| r.start > m.start).unwrap_or(self.n);
        self.insert_at(at, m)
    }

    /// Take every page touching `[start, end)` out of the list.
    pub fn remove(&mut self, start: u64, end: u64) {
        let (start, end) = (trunc_page(start), round_page(end));
        let mut i = 0;
        while i < self.n {
            let r = self.r[i];
            if r.end <= start || r.start >= end {
                i += 1;
                continue;
            }
            let (lo, hi) = (MemRegion { start: r.start, end: start }, MemRegion { start: end, end: r.end });
            self.remove_at(i);
            for part in [lo, hi] {
                if !part.is_empty() {
                    // A split can only fail when the list is full; losing
                    // the piece only loses memory, never hands out a page
                    // in use.
                    self.insert_at(i, part);
                    i += 1;
                }
            }
        }
    }

    /// Take `n` contiguous pages from the lowest region at or above
    /// `floor` that ends below `limit`.
    pub fn steal(&mut self, n: u64, floor: u64, limit: u64) -> Option<u64> {
        let len = n * PAGE_SIZE;
        let i = self.r[..self.n].iter().position(|r| {
            let s = r.start.max(floor);
            s + len <= r.end && s + len <= limit
        })?;
        let s = self.r[i].start.max(floor);
        self.remove(s, s + len);
        Some(s)
    }

    /// Take `n` contiguous pages from the top of the highest region that
    /// lies below `limit` (used for the AP trampoline, below 1 MiB).
    pub fn steal_top_below(&mut self, n: u64, limit: u64) -> Option<u64> {
        let len = n * PAGE_SIZE;
        let r =
            self.r[..self.n].iter().rev().find(|r| r.start < limit && r.end.min(limit) >= r.start + len)?;
        let s = r.end.min(limit) - len;
        self.remove(s, s + len);
        Some(s)
    }
}

impl Default for MemList {
    fn default() -> Self {
        Self::new()
    }
}

/// The boot memory list (usable RAM minus everything in use).
pub static BOOTMEM: Mutex<MemList> = Mutex::new(MemList::new());

/// A pointer to physical address `pa` through whatever maps physical
/// memory now (the boot identity map early, then the direct map).
pub fn phys_ptr(pa: u64) -> *mut u8 {
    (PHYS_OFFSET.load(Ordering::Relaxed) + pa) as *mut u8
}

#[inline]
pub fn phys_to_kva(pa: u64) -> u64 {
    DMAP_BASE + pa
}

pub fn kernel_pml4() -> u64 {
    KERNEL_PML4.load(Ordering::Relaxed)
}

pub fn pg_nx() -> u64 {
    NX.load(Ordering::Relaxed)
}

/// One zeroed physical page, from the boot list before `main`, from the
/// MI allocator afterwards.
fn page_alloc() -> u64 {
    let pa = if STEAL_CLOSED.load(Ordering::Acquire) {
        kern::uvm_init::uvm_pagealloc().expect("pmap: out of physical memory")
    } else {
        BOOTMEM.lock().steal(1, STEAL_FLOOR, BOOT_IDENTITY_LIMIT).expect("pmap: out of boot memory")
    };
    // SAFETY: the page was just taken from a free list, so nothing else
    // uses it; `phys_ptr` maps RAM (identity below 4 GiB early, the
    // direct map afterwards), and the page is RAM.
    unsafe { core::ptr::write_bytes(phys_ptr(pa), 0, PAGE_SIZE as usize) };
    pa
}

/// Close the boot memory list: from now on pages come from `uvm`.
/// Called right before `main`, which builds its allocator from the list.
pub fn pmap_steal_close() {
    STEAL_CLOSED.store(true, Ordering::Release);
}

fn pt_index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// The entry slot for `va` at `level` (1 = 4 KiB PTE, 2 = 2 MiB PDE) in the
/// tables rooted at `pml4`, creating missing intermediate tables. `None`
/// if a large page already covers `va` above `level`.
///
/// # Safety
/// Caller holds `KPT_LOCK` (or runs before any other CPU), and `pml4` is
/// a page-table tree reachable through `phys_ptr`.
unsafe fn pte_slot(pml4: u64, va: u64, level: u32) -> Option<*mut u64> {
    let mut table = pml4;
    for lvl in (level + 1..=4).rev() {
        // SAFETY: `table` is a page-table page (root or taken from an
        // entry below), reachable through `phys_ptr`; the index is < 512.
        let slot = unsafe { (phys_ptr(table) as *mut u64).add(pt_index(va, lvl)) };
        // SAFETY: as above; the caller serialises writers.
        let e = unsafe { slot.read_volatile() };
        if e & PG_V == 0 {
            let n = page_alloc();
            // Intermediate entries grant everything; the leaf decides.
            // SAFETY: as above.
            unsafe { slot.write_volatile(n | PG_V | PG_RW) };
            table = n;
        } else if e & PG_PS != 0 {
            return None;
        } else {
            table = e & PG_FRAME;
        }
    }
    // SAFETY: as above.
    Some(unsafe { (phys_ptr(table) as *mut u64).add(pt_index(va, level)) })
}

fn prot_bits(prot: VmProt) -> u64 {
    let mut b = PG_V | PG_G;
    if prot.contains(VmProt::WRITE) {
        b |= PG_RW;
    }
    if !prot.contains(VmProt::EXECUTE) {
        b |= pg_nx();
    }
    b
}

/// Map one 4 KiB page. Panics if a large page covers `va`.
///
/// # Safety
/// As for `pte_slot`; the mapping must not break memory in use.
unsafe fn map_4k(pml4: u64, va: u64, pa: u64, bits: u64) {
    // SAFETY: forwarded from the caller.
    let slot = unsafe { pte_slot(pml4, va, 1) }.expect("pmap: 4K mapping under a large page");
    // SAFETY: `slot` is the PTE for `va`.
    unsafe { slot.write_volatile(pa | bits) };
}

/// Build the kernel page tables and switch to them.
///
/// Before: boot page tables (identity 4 GiB + image at KERNBASE); `ram`
/// lists every RAM range to direct-map; BOOTMEM holds the free pages; NX
/// support has been probed and EFER.NXE set if present. After: CR3 holds
/// the kernel PML4 (no identity map: low memory and start_info are no
/// longer reachable except through the direct map), `phys_ptr` and
/// `phys_to_kva` use the direct map.
pub fn pmap_bootstrap(ram: &[MemRegion], nx: bool) {
    NX.store(if nx { PG_NX } else { 0 }, Ordering::Relaxed);
    PCID_ON.store(crate::cpu::ident().has_pcid(), Ordering::Relaxed);
    let pml4 = page_alloc();

    // SAFETY (whole block): only the boot CPU runs; every table written is
    // new and not yet live, so nothing can observe it half built.
    unsafe {
        let dmap_bits = PG_V | PG_RW | PG_PS | PG_G | pg_nx();
        for r in ram {
            let mut pa = r.start & !(NBPD - 1);
            let end = (r.end + NBPD - 1) & !(NBPD - 1);
            while pa < end.min(DMAP_SIZE) {
                let slot = pte_slot(pml4, DMAP_BASE + pa, 2).expect("pmap: direct map overlap");
                if slot.read() & PG_V == 0 {
                    slot.write(pa | dmap_bits);
                }
                pa += NBPD;
            }
        }

        let (text, rodata, end) = image_bounds();
        let mut va = &raw const __kernel_start as u64;
        while va < end {
            let bits = if va < text {
                PG_V | PG_G
            } else if va < rodata {
                PG_V | PG_G | pg_nx()
            } else {
                PG_V | PG_G | PG_RW | pg_nx()
            };
            map_4k(pml4, va, va - KERNBASE, bits);
            va += PAGE_SIZE;
        }

        // The KVA window's PDPT exists from the start so the kernel half of
        // the PML4 never changes after boot (user pmaps copy it).
        let kva_pdpt = page_alloc();
        (phys_ptr(pml4) as *mut u64).add(pt_index(KVA_BASE, 4)).write(kva_pdpt | PG_V | PG_RW);
        // The thread-stack area's page directories are made now, from boot
        // memory: page-table pages that come and go with stacks then go
        // back to the MI allocator whole, and its free count stays exact.
        let mut va = KSTACK_AREA;
        while va < KSTACK_AREA + MAX_KSTACKS as u64 * KSTACK_SLOT {
            pte_slot(pml4, va, 2).expect("pmap: kstack area under a large page");
            va += 1 << 30;
        }

        KERNEL_PML4.store(pml4, Ordering::Relaxed);
        // Both the old and the new tables map this code, its stack (in
        // .bss) and every static, at the same addresses.
        lcr3(pml4);
    }
    PHYS_OFFSET.store(DMAP_BASE, Ordering::Relaxed);
}

/// End of text, end of rodata, end of the image (kernel virtual).
fn image_bounds() -> (u64, u64, u64) {
    (&raw const __etext as u64, &raw const __erodata as u64, round_page(&raw const __kernel_end as u64))
}

/// Physical range of the loaded kernel image.
pub fn kernel_phys_range() -> (u64, u64) {
    let (_, _, end) = image_bounds();
    (&raw const __kernel_start as u64 - KERNBASE, end - KERNBASE)
}

/// Map `len` bytes of device registers at `pa` uncached and return their
/// kernel virtual address (`phys_to_kva(pa)`). Idempotent. Before: the
/// kernel page tables are live. After: the registers are reachable on
/// every CPU (the kernel half of the tables is shared).
pub fn pmap_mapdev(pa: u64, len: u64) -> u64 {
    let _g = KPT_LOCK.lock();
    let mut p = trunc_page(pa);
    while p < pa + len {
        let va = phys_to_kva(p);
        // SAFETY: KPT_LOCK is held; the kernel PML4 is live and reachable.
        match unsafe { pte_slot(kernel_pml4(), va, 1) } {
            // Already covered by a RAM large page: firmware put registers
            // in a RAM 2 MiB frame; the MTRRs keep them uncached.
            None => {}
            // SAFETY: the slot is the PTE for `va`; the address was not
            // mapped (no stale TLB entry) or maps the same registers.
            Some(slot) => unsafe {
                slot.write_volatile(p | PG_V | PG_RW | PG_N | PG_WT | PG_G | pg_nx());
            },
        }
        p += PAGE_SIZE;
    }
    phys_to_kva(pa)
}

/// Map one wired kernel page (OpenBSD's pmap_kenter_pa).
/// Before: `va` is page aligned, in KVA, and unmapped. After: mapped here;
/// other CPUs see it on first use (nothing stale can be cached for an
/// unmapped address).
pub fn pmap_kenter_pa(va: u64, pa: u64, prot: VmProt) {
    assert!((KVA_BASE..KVA_BASE + KVA_SIZE).contains(&va) && va & (PAGE_SIZE - 1) == 0);
    let _g = KPT_LOCK.lock();
    // SAFETY: KPT_LOCK is held; `va` is in KVA, whose tables are ours.
    unsafe { map_4k(kernel_pml4(), va, pa, prot_bits(prot)) };
}

/// Remove `len` bytes of kernel mappings at `va` and invalidate them on
/// every CPU. Before: interrupts enabled if other CPUs run (the shootdown
/// waits for them). After: no CPU reaches the old pages through `va`.
pub fn pmap_kremove(va: u64, len: u64) {
    assert!(va >= KVA_BASE && va + len <= KVA_BASE + KVA_SIZE);
    {
        let _g = KPT_LOCK.lock();
        let mut v = trunc_page(va);
        while v < va + len {
            // SAFETY: KPT_LOCK held; `v` is in KVA. A missing table means
            // nothing is mapped there (pte_slot creates an empty one).
            if let Some(slot) = unsafe { pte_slot(kernel_pml4(), v, 1) } {
                // SAFETY: the PTE for `v`.
                unsafe { slot.write_volatile(0) };
            }
            v += PAGE_SIZE;
        }
    }
    crate::intr::tlb_shootdown(trunc_page(va), round_page(va + len) - trunc_page(va));
}

/// Invalidate `[va, va + len)` in this CPU's TLB.
pub fn tlb_invalidate_local(va: u64, len: u64) {
    // Past this many pages one full flush (global pages included, by
    // toggling CR4.PGE) is cheaper than walking the range.
    const INVLPG_MAX: u64 = 32;
    if len / PAGE_SIZE > INVLPG_MAX {
        let cr4 = crate::cpufunc::rcr4();
        // SAFETY: toggling PGE off and on flushes the whole TLB, global
        // entries included, and changes nothing else.
        unsafe {
            crate::cpufunc::lcr4(cr4 & !crate::cpufunc::CR4_PGE);
            crate::cpufunc::lcr4(cr4);
        }
        kern::cpu::count(|s| &s.tlb_all);
        return;
    }
    invlpg_range(va, len);
}

/// INVLPG each page of `[va, va + len)`, counted on this CPU.
fn invlpg_range(va: u64, len: u64) {
    let mut v = va;
    let mut n = 0;
    while v < va + len {
        invlpg(v);
        v += PAGE_SIZE;
        n += 1;
    }
    kern::cpu::count_n(|s| &s.tlb_page, n);
}

/// Allocate `npages` of wired kernel memory in KVA with an unmapped guard
/// page below it; returns the top (exclusive end) address, 16-byte
/// aligned as a stack top must be.
pub fn kstack_alloc(npages: u64) -> u64 {
    let base = KVA_NEXT.fetch_add((npages + 1) * PAGE_SIZE, Ordering::Relaxed);
    assert!(base + (npages + 1) * PAGE_SIZE <= KVA_BASE + KVA_SIZE, "pmap: KVA exhausted");
    for i in 0..npages {
        let pa = page_alloc();
        pmap_kenter_pa(base + (i + 1) * PAGE_SIZE, pa, VmProt::RW);
    }
    base + (npages + 1) * PAGE_SIZE
}

// ----- thread kernel stacks -----

/// KVA per thread stack: the guard page, then the stack.
const KSTACK_SLOT: u64 = (USPACE_PAGES + 1) * PAGE_SIZE;
/// Thread stacks live in the upper half of the KVA window; the lower half
/// belongs to the boot-time bump allocator (idle and interrupt stacks,
/// never freed).
const KSTACK_AREA: u64 = KVA_BASE + KVA_SIZE / 2;
/// Most thread stacks at once: 2.25 GiB of KVA, more than RAM can back.
const MAX_KSTACKS: usize = 65536;

/// Which thread-stack slots are taken.
struct KstackMap {
    used: [u64; MAX_KSTACKS / 64],
    /// Every word below this one is full.
    hint: usize,
}

static KSTACKS: kern::mutex::Mutex<KstackMap> =
    kern::mutex::Mutex::new(KstackMap { used: [0; MAX_KSTACKS / 64], hint: 0 });
/// Thread stacks allocated now (tests, statistics).
pub static NKSTACKS: AtomicUsize = AtomicUsize::new(0);

impl KstackMap {
    /// The lowest free slot, now taken; lowest-first keeps the stacks (and
    /// so their page-table pages) packed.
    fn take(&mut self) -> Option<usize> {
        let w = (self.hint..self.used.len()).find(|&w| self.used[w] != u64::MAX)?;
        let b = (!self.used[w]).trailing_zeros() as usize;
        self.used[w] |= 1 << b;
        self.hint = w;
        Some(w * 64 + b)
    }

    fn give(&mut self, slot: usize) {
        let (w, b) = (slot / 64, slot % 64);
        assert!(self.used[w] & 1 << b != 0, "kstack_free: slot {slot} is not allocated");
        self.used[w] &= !(1 << b);
        self.hint = self.hint.min(w);
    }
}

/// The 4 KiB kernel PTE for `va` (in KVA) through the direct map; a missing
/// page table is made from the MI allocator when `alloc`. None when missing
/// (and not `alloc`) or when no page was free.
///
/// # Safety
/// KPT_LOCK is held; `va` is in the thread-stack area, whose page
/// directories exist from boot.
unsafe fn kstack_pte(va: u64, alloc: bool) -> Option<*mut u64> {
    let mut table = kernel_pml4();
    for lvl in [4, 3, 2] {
        // SAFETY: `table` is a kernel page-table page, direct-mapped; the
        // index is below 512; KPT_LOCK serialises writers.
        let slot = unsafe { (phys_to_kva(table) as *mut u64).add(pt_index(va, lvl)) };
        // SAFETY: as above.
        let e = unsafe { slot.read_volatile() };
        if e & PG_V != 0 {
            assert!(e & PG_PS == 0, "pmap: large page in the kstack area");
            table = e & PG_FRAME;
            continue;
        }
        if !alloc {
            return None;
        }
        let n = uvm_pagealloc()?;
        // SAFETY: a free page, now ours, direct-mapped; the zeroed table is
        // linked in only once complete. Nothing can have a stale cached
        // entry for a missing table (x86 does not cache non-present ones).
        unsafe {
            core::ptr::write_bytes(phys_to_kva(n) as *mut u8, 0, PAGE_SIZE as usize);
            slot.write_volatile(n | PG_V | PG_RW);
        }
        table = n;
    }
    // SAFETY: as above, the leaf table.
    Some(unsafe { (phys_to_kva(table) as *mut u64).add(pt_index(va, 1)) })
}

/// A thread kernel stack: `USPACE_PAGES` of wired memory with an unmapped
/// guard page below, in its own KVA slot. Returns the top (16-byte
/// aligned), or None when out of pages or slots (nothing is kept then).
/// The pages are not zeroed: nothing reads a stack before writing it.
pub fn kstack_alloc_thread() -> Option<u64> {
    if cpufunc::read_rflags() & cpufunc::PSL_I != 0 {
        kstack_drain_deferred();
    }
    let slot = KSTACKS.lock().take()?;
    let base = KSTACK_AREA + slot as u64 * KSTACK_SLOT;
    let mut ok = true;
    for i in 1..=USPACE_PAGES {
        let Some(pa) = uvm_pagealloc() else {
            ok = false;
            break;
        };
        let _g = KPT_LOCK.lock();
        // SAFETY: KPT_LOCK held, `va` is in the kstack area.
        match unsafe { kstack_pte(base + i * PAGE_SIZE, true) } {
            // SAFETY: the PTE of an address in a slot we own, unmapped.
            Some(pte) => unsafe { pte.write_volatile(pa | PG_V | PG_RW | PG_G | pg_nx()) },
            None => {
                uvm_pagefree(pa);
                ok = false;
                break;
            }
        }
    }
    NKSTACKS.fetch_add(1, Ordering::Relaxed);
    let top = base + KSTACK_SLOT;
    if !ok {
        // Deferred if interrupts are masked, like any free.
        kstack_free_thread(top);
        return None;
    }
    Some(top)
}

/// Stacks freed with interrupts masked, waiting to be freed for real: a
/// list linked through each stack's top word (the stack is still mapped
/// and nobody runs on it), newest first.
static KSTACK_DEFERRED: AtomicU64 = AtomicU64::new(0);
/// Frees that were deferred so far (tests, statistics).
pub static NKSTACK_DEFERRED: AtomicU64 = AtomicU64::new(0);

/// Free a thread stack from `kstack_alloc_thread`. Freeing means a TLB
/// shootdown that waits for every other CPU, which must not happen where
/// another CPU may be spinning with interrupts masked for a lock the caller
/// holds (the scheduler lock in the switch path, say). So: with interrupts
/// enabled the stack is freed now (and any deferred ones with it); with
/// them masked it is queued and freed by the next `kstack_alloc_thread` or
/// `kstack_free_thread` with interrupts enabled, or by the next
/// `cpu_idle_wait` on any CPU. Before: no CPU runs on the stack. After:
/// now or at that point, the free page count is back to what it was
/// before the allocation.
pub fn kstack_free_thread(top: u64) {
    assert!(kstack_guard(top).is_some(), "kstack_free: {top:#x} is not a thread stack top");
    if cpufunc::read_rflags() & cpufunc::PSL_I == 0 {
        let link = (top - 8) as *mut u64;
        let mut head = KSTACK_DEFERRED.load(Ordering::Relaxed);
        loop {
            // SAFETY: the stack is still mapped and no CPU runs on it
            // (contract); its top word is ours until the drain.
            unsafe { link.write_volatile(head) };
            match KSTACK_DEFERRED.compare_exchange_weak(head, top, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    NKSTACK_DEFERRED.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(h) => head = h,
            }
        }
    }
    kstack_drain_deferred();
    kstack_free_now(top);
}

/// Are stacks waiting in the deferred list?
pub fn kstack_deferred() -> bool {
    KSTACK_DEFERRED.load(Ordering::Relaxed) != 0
}

/// Free every deferred stack. Before: interrupts enabled.
pub fn kstack_drain_deferred() {
    let mut top = KSTACK_DEFERRED.swap(0, Ordering::Acquire);
    while top != 0 {
        // SAFETY: written by kstack_free_thread before the stack was
        // queued; the stack is still mapped.
        let next = unsafe { ((top - 8) as *const u64).read_volatile() };
        kstack_free_now(top);
        top = next;
    }
}

/// Unmap a thread stack, shoot the range down on every CPU, then free its
/// pages, its page-table page if no other stack uses it, and its slot.
/// Before: nobody runs on it; interrupts enabled (the shootdown waits).
fn kstack_free_now(top: u64) {
    let off = top - KSTACK_AREA;
    let slot = (off / KSTACK_SLOT - 1) as usize;
    let base = top - KSTACK_SLOT;
    // The stack's pages and at most two page-table pages (a slot may
    // straddle a 2 MiB boundary).
    let mut pages = [0u64; USPACE_PAGES as usize + 2];
    let mut n = 0;
    {
        let _g = KPT_LOCK.lock();
        for i in 1..=USPACE_PAGES {
            // SAFETY: KPT_LOCK held; the slot is the caller's.
            if let Some(pte) = unsafe { kstack_pte(base + i * PAGE_SIZE, false) } {
                // SAFETY: the PTE of a page of this stack.
                let e = unsafe { pte.read_volatile() };
                if e & PG_V != 0 {
                    pages[n] = e & PG_FRAME;
                    n += 1;
                    // SAFETY: as above; nobody runs on the stack any more.
                    unsafe { pte.write_volatile(0) };
                }
            }
        }
        for va in [base + PAGE_SIZE, top - PAGE_SIZE] {
            let pd_slot = kstack_pde(va);
            // SAFETY: the PDE covering part of this slot, under KPT_LOCK.
            let pde = unsafe { pd_slot.read_volatile() };
            if pde & PG_V == 0 {
                continue;
            }
            let pt = pde & PG_FRAME;
            // SAFETY: a kernel page table, direct-mapped, under KPT_LOCK.
            let empty = unsafe { &*(phys_to_kva(pt) as *const [u64; 512]) }.iter().all(|&e| e == 0);
            if empty {
                // SAFETY: as above; the shootdown below also drops cached
                // paging-structure entries for it (INVLPG does that).
                unsafe { pd_slot.write_volatile(0) };
                pages[n] = pt;
                n += 1;
            }
        }
    }
    crate::intr::tlb_shootdown(base + PAGE_SIZE, USPACE_PAGES * PAGE_SIZE);
    for &pa in &pages[..n] {
        uvm_pagefree(pa);
    }
    // Only now may the slot be mapped again: no CPU can still reach the
    // old pages through it.
    KSTACKS.lock().give(slot);
    NKSTACKS.fetch_sub(1, Ordering::Relaxed);
}

/// The PDE covering `va` in the kstack area (the directories exist from
/// boot).
fn kstack_pde(va: u64) -> *mut u64 {
    let mut table = kernel_pml4();
    for lvl in [4, 3] {
        // SAFETY: kernel page-table pages, direct-mapped, index < 512; the
        // kstack area's PDPT and PDs are never freed.
        let e = unsafe { (phys_to_kva(table) as *const u64).add(pt_index(va, lvl)).read_volatile() };
        assert!(e & PG_V != 0 && e & PG_PS == 0, "pmap: kstack area directory missing");
        table = e & PG_FRAME;
    }
    (phys_to_kva(table) as *mut u64).wrapping_add(pt_index(va, 2))
}

/// The guard page under the thread stack whose top is `top`, if it is one.
pub fn kstack_guard(top: u64) -> Option<u64> {
    let off = top.wrapping_sub(KSTACK_AREA);
    (top > KSTACK_AREA && off.is_multiple_of(KSTACK_SLOT) && off / KSTACK_SLOT <= MAX_KSTACKS as u64)
        .then(|| top - KSTACK_SLOT)
}

// ----- user pmaps -----

/// A user address space's page tables (OpenBSD's `struct pmap`).
pub struct PmapMd {
    /// Physical address of the PML4.
    pm_pml4: u64,
    /// `generation << 12 | pcid`, 0 while it has none (see the module
    /// comment). Only used with CR4.PCIDE.
    pm_pcid: AtomicU64,
    /// CPUs (bit per cpuid) that may hold stale TLB entries tagged with
    /// this pmap's PCID and must flush them before running it again.
    pm_stale: AtomicU64,
    /// Page-table pages below the PML4.
    pm_ptpages: AtomicUsize,
}

/// Highest PCID; 0 is the kernel-only PML4's.
const PCID_MAX: u64 = 4095;

/// The PCID allocator: the current generation and the next free PCID in it.
pub struct PcidSpace {
    pub generation: u64,
    pub next: u64,
}

impl PcidSpace {
    /// Hand out `gen << 12 | pcid` from `1..=max`, moving to a new
    /// generation (returned as true) when the current one is used up.
    pub fn alloc(&mut self, max: u64) -> (u64, bool) {
        let rolled = self.next > max;
        if rolled {
            self.generation += 1;
            self.next = 1;
        }
        let v = self.generation << 12 | self.next;
        self.next += 1;
        (v, rolled)
    }
}

static PCID_SPACE: kern::mutex::Mutex<PcidSpace> =
    kern::mutex::Mutex::new(PcidSpace { generation: 1, next: 1 });
/// The current PCID generation, readable without the lock.
static PCID_GEN: AtomicU64 = AtomicU64::new(1);

/// Counters for tests and statistics.
pub struct PmapStats {
    /// Shootdowns of user ranges (each may have no remote target).
    pub shootdowns: AtomicU64,
    /// Shootdown IPIs sent for user ranges.
    pub shoot_ipis: AtomicU64,
    /// PCID generations started after the first.
    pub pcid_rollovers: AtomicU64,
    /// Whole-TLB flushes for a new PCID generation.
    pub pcid_full_flushes: AtomicU64,
    /// %cr3 loads that flushed one pmap's PCID (stale entries).
    pub pcid_flushes: AtomicU64,
    /// Page-table pages of user pmaps right now.
    pub ptpages: AtomicUsize,
}

pub static PMAP_STATS: PmapStats = PmapStats {
    shootdowns: AtomicU64::new(0),
    shoot_ipis: AtomicU64::new(0),
    pcid_rollovers: AtomicU64::new(0),
    pcid_full_flushes: AtomicU64::new(0),
    pcid_flushes: AtomicU64::new(0),
    ptpages: AtomicUsize::new(0),
};

pub fn pcid_enabled() -> bool {
    PCID_ON.load(Ordering::Relaxed)
}

/// The pmap behind a `PmapRef`.
fn pm_of(pm: PmapRef) -> &'static PmapMd {
    assert!(pm != 0, "pmap: null pmap");
    // SAFETY: every PmapRef the MI code holds came from `pmap_create`
    // (Box::into_raw) and stays valid until `pmap_destroy`, after which the
    // MI code no longer uses it.
    unsafe { &*(pm as *const PmapMd) }
}

/// A page-table page as 512 atomics (the MMU updates A/D bits in leaves
/// concurrently, so the kernel accesses them atomically too).
fn ptp(pa: u64) -> &'static [AtomicU64; 512] {
    // SAFETY: `pa` is a page-table page of a live pmap (or the kernel's),
    // RAM reachable through the direct map, 4 KiB aligned; AtomicU64 has
    // the layout of u64.
    unsafe { &*(phys_to_kva(pa) as *const [AtomicU64; 512]) }
}

fn cpu_bit(cpuid: u32) -> u64 {
    1 << cpuid
}

/// The leaf PTE for user `va` in `pm`, making missing tables from the MI
/// allocator when `alloc`. None when a table is missing (and not `alloc`)
/// or no page was free.
fn user_pte(pm: &PmapMd, va: u64, alloc: bool) -> Option<&'static AtomicU64> {
    let mut table = pm.pm_pml4;
    for lvl in [4, 3, 2] {
        let e = &ptp(table)[pt_index(va, lvl)];
        let v = e.load(Ordering::Acquire);
        if v & PG_V != 0 {
            table = v & PG_FRAME;
            continue;
        }
        if !alloc {
            return None;
        }
        let n = uvm_pagealloc()?;
        // SAFETY: a free page, now ours, direct-mapped.
        unsafe { core::ptr::write_bytes(phys_to_kva(n) as *mut u8, 0, PAGE_SIZE as usize) };
        // Intermediate entries grant everything; the leaf decides. The
        // compare-exchange keeps the tables sound even if two changers
        // raced (the map lock says they do not).
        match e.compare_exchange(0, n | PG_V | PG_RW | PG_U, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                pm.pm_ptpages.fetch_add(1, Ordering::Relaxed);
                PMAP_STATS.ptpages.fetch_add(1, Ordering::Relaxed);
                table = n;
            }
            Err(cur) => {
                uvm_pagefree(n);
                table = cur & PG_FRAME;
            }
        }
    }
    Some(&ptp(table)[pt_index(va, 1)])
}

/// Call `f(va, pte)` for every leaf slot in `[sva, eva)` whose tables
/// exist, skipping absent tables whole.
fn for_each_pte(pm: &PmapMd, sva: u64, eva: u64, mut f: impl FnMut(u64, &AtomicU64)) {
    let mut va = sva;
    while va < eva {
        let mut table = pm.pm_pml4;
        let mut missing = 0;
        for lvl in [4, 3, 2] {
            let v = ptp(table)[pt_index(va, lvl)].load(Ordering::Acquire);
            if v & PG_V == 0 {
                missing = lvl;
                break;
            }
            table = v & PG_FRAME;
        }
        if missing != 0 {
            let shift = 12 + 9 * (missing - 1);
            va = ((va >> shift) + 1) << shift;
            continue;
        }
        let pt = ptp(table);
        loop {
            f(va, &pt[pt_index(va, 1)]);
            va += PAGE_SIZE;
            if va >= eva || pt_index(va, 1) == 0 {
                break;
            }
        }
    }
}

fn user_range_ok(sva: u64, eva: u64) -> bool {
    sva <= eva && eva <= sys::vmparam::VM_MAXUSER_ADDRESS as u64 && (sva | eva) & (PAGE_SIZE - 1) == 0
}

/// Leaf bits for `prot` in a user pmap.
fn user_prot_bits(prot: VmProt) -> u64 {
    let mut b = PG_V | PG_U;
    if prot.contains(VmProt::WRITE) {
        b |= PG_RW;
    }
    if !prot.contains(VmProt::EXECUTE) {
        b |= pg_nx();
    }
    b
}

/// Invalidate user `[va, va + len)` on this CPU, in the current PCID.
/// Before: interrupts masked (the loaded pmap must not change under us).
pub fn tlb_invalidate_user_local(va: u64, len: u64) {
    const INVLPG_MAX: u64 = 32;
    if len / PAGE_SIZE > INVLPG_MAX {
        // Reloading %cr3 without the keep bit flushes the current PCID's
        // (or, without PCIDs, every) non-global entry.
        // SAFETY: the same tables and PCID as now, only flushed.
        unsafe { lcr3(crate::cpufunc::rcr3()) };
        kern::cpu::count(|s| &s.tlb_asid);
        return;
    }
    invlpg_range(va, len);
}

/// After a shootdown request for `pm` reached this CPU while it runs `pm`
/// and it invalidated the range: it holds no stale entry for `pm` now.
pub fn pmap_shot_here(pm: PmapRef, cpuid: u32) {
    pm_of(pm).pm_stale.fetch_and(!cpu_bit(cpuid), Ordering::SeqCst);
}

/// Make every CPU stop using translations of `[va, va + len)` in `pm`:
/// invalidate here if `pm` is loaded here, send the shootdown IPI to every
/// other CPU whose `ci_proc_pmap` is `pm` and wait for them; with PCIDs,
/// mark `pm` stale on all the others first (kept without PCIDs too). Before: the PTEs are changed;
/// interrupts enabled (or see `intr::tlb_shootdown`).
fn pmap_shootrange(pm_ref: PmapRef, pm: &PmapMd, va: u64, len: u64) {
    PMAP_STATS.shootdowns.fetch_add(1, Ordering::Relaxed);
    // Kept without PCIDs too (the loads ignore it then): one atomic, and
    // the protocol is exercised, and tested, on every CPU.
    pm.pm_stale.fetch_or(u64::MAX, Ordering::SeqCst);
    let targets = with_intr_disabled(|| {
        let me = curcpu_md();
        let mut mask = 0;
        for c in kern::cpu::cpus() {
            if cpu_md(c).ci_proc_pmap.load(Ordering::SeqCst) != pm_ref {
                continue;
            }
            if c.ci_cpuid == me.ci_mi.ci_cpuid {
                tlb_invalidate_user_local(va, len);
                pmap_shot_here(pm_ref, c.ci_cpuid);
            } else {
                mask |= cpu_bit(c.ci_cpuid);
            }
        }
        mask
    });
    PMAP_STATS.shoot_ipis.fetch_add(targets.count_ones() as u64, Ordering::Relaxed);
    crate::intr::shoot_remote(pm_ref, va, len, targets);
}

pub fn pmap_create() -> Option<PmapRef> {
    let pml4 = uvm_pagealloc()?;
    let t = ptp(pml4);
    let k = ptp(kernel_pml4());
    for i in 0..512 {
        t[i].store(if i < 256 { 0 } else { k[i].load(Ordering::Relaxed) }, Ordering::Relaxed);
    }
    let pm = Box::new(PmapMd {
        pm_pml4: pml4,
        pm_pcid: AtomicU64::new(0),
        pm_stale: AtomicU64::new(0),
        pm_ptpages: AtomicUsize::new(0),
    });
    Some(Box::into_raw(pm) as PmapRef)
}

/// Free every page-table page below `pm`'s PML4 and empty its user half.
/// Returns how many pages went back. Before: no CPU has `pm` loaded.
fn free_user_tables(pm: &PmapMd) -> usize {
    let mut n = 0;
    for e4 in &ptp(pm.pm_pml4)[..256] {
        let v4 = e4.swap(0, Ordering::AcqRel);
        if v4 & PG_V == 0 {
            continue;
        }
        for e3 in ptp(v4 & PG_FRAME) {
            let v3 = e3.load(Ordering::Acquire);
            if v3 & PG_V == 0 {
                continue;
            }
            for e2 in ptp(v3 & PG_FRAME) {
                let v2 = e2.load(Ordering::Acquire);
                if v2 & PG_V != 0 {
                    uvm_pagefree(v2 & PG_FRAME);
                    n += 1;
                }
            }
            uvm_pagefree(v3 & PG_FRAME);
            n += 1;
        }
        uvm_pagefree(v4 & PG_FRAME);
        n += 1;
    }
    let had = pm.pm_ptpages.swap(0, Ordering::Relaxed);
    assert_eq!(n, had, "pmap: freed {n} page-table pages, counted {had}");
    PMAP_STATS.ptpages.fetch_sub(n, Ordering::Relaxed);
    n
}

fn assert_not_loaded(pm: PmapRef, what: &str) {
    for c in kern::cpu::cpus() {
        let on = cpu_md(c).ci_proc_pmap.load(Ordering::SeqCst);
        assert!(on != pm, "{what}: pmap {pm:#x} still loaded on cpu{}", c.ci_cpuid);
    }
}

pub fn pmap_purge(pm_ref: PmapRef) {
    assert_not_loaded(pm_ref, "pmap_purge");
    let pm = pm_of(pm_ref);
    free_user_tables(pm);
    // Retire the PCID: it is not handed out again in this generation, and
    // every CPU flushes everything before using the next one, so its
    // entries on any CPU can never be used again. A later activation gets
    // a fresh PCID, which no CPU has entries for: nothing is stale.
    pm.pm_pcid.store(0, Ordering::SeqCst);
    pm.pm_stale.store(0, Ordering::SeqCst);
}

pub fn pmap_destroy(pm_ref: PmapRef) {
    assert_not_loaded(pm_ref, "pmap_destroy");
    let pm = pm_of(pm_ref);
    // Tables left by pmap_remove (which keeps them) go too; they hold no
    // mappings by the contract.
    free_user_tables(pm);
    uvm_pagefree(pm.pm_pml4);
    // SAFETY: from Box::into_raw in pmap_create; the MI code drops its
    // last reference with this call, and no CPU has it loaded.
    drop(unsafe { Box::from_raw(pm_ref as *mut PmapMd) });
}

pub fn pmap_enter(pm_ref: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
    assert!(user_range_ok(va, va + PAGE_SIZE), "pmap_enter: bad user address {va:#x}");
    if prot == VmProt::NONE {
        // x86 has no present-but-inaccessible page: no access = no mapping.
        pmap_remove(pm_ref, va, va + PAGE_SIZE);
        return true;
    }
    let pm = pm_of(pm_ref);
    let Some(pte) = user_pte(pm, va, true) else { return false };
    let new = (pa & PG_FRAME) | user_prot_bits(prot);
    let old = pte.swap(new, Ordering::AcqRel);
    // Any old translation goes, even one with fewer rights than the new:
    // a CPU could keep using it and fault, and the MI fault handler would
    // then see a fault on a page already mapped as asked.
    if old & PG_V != 0 && old & !(PG_A | PG_D) != new {
        pmap_shootrange(pm_ref, pm, va, PAGE_SIZE);
    }
    true
}

pub fn pmap_remove(pm_ref: PmapRef, sva: u64, eva: u64) {
    assert!(user_range_ok(sva, eva), "pmap_remove: bad user range {sva:#x}-{eva:#x}");
    let pm = pm_of(pm_ref);
    let (mut lo, mut hi) = (u64::MAX, 0);
    for_each_pte(pm, sva, eva, |va, pte| {
        if pte.swap(0, Ordering::AcqRel) & PG_V != 0 {
            lo = lo.min(va);
            hi = va + PAGE_SIZE;
        }
    });
    if lo < hi {
        pmap_shootrange(pm_ref, pm, lo, hi - lo);
    }
}

pub fn pmap_protect(pm_ref: PmapRef, sva: u64, eva: u64, prot: VmProt) {
    assert!(user_range_ok(sva, eva), "pmap_protect: bad user range {sva:#x}-{eva:#x}");
    if prot == VmProt::NONE {
        pmap_remove(pm_ref, sva, eva);
        return;
    }
    let pm = pm_of(pm_ref);
    let clear = if prot.contains(VmProt::WRITE) { 0 } else { PG_RW };
    let set = if prot.contains(VmProt::EXECUTE) { 0 } else { pg_nx() };
    let (mut lo, mut hi) = (u64::MAX, 0);
    for_each_pte(pm, sva, eva, |va, pte| {
        let old = pte.load(Ordering::Acquire);
        if old & PG_V == 0 || (old & clear == 0 && old & set == set) {
            return;
        }
        // Atomic bit operations: the MMU may be setting A/D meanwhile.
        pte.fetch_and(!clear, Ordering::AcqRel);
        pte.fetch_or(set, Ordering::AcqRel);
        lo = lo.min(va);
        hi = va + PAGE_SIZE;
    });
    if lo < hi {
        pmap_shootrange(pm_ref, pm, lo, hi - lo);
    }
}

pub fn pmap_extract(pm_ref: PmapRef, va: u64) -> Option<u64> {
    if va >= sys::vmparam::VM_MAXUSER_ADDRESS as u64 {
        return None;
    }
    let v = user_pte(pm_of(pm_ref), va, false)?.load(Ordering::Acquire);
    (v & PG_V != 0).then_some(v & PG_FRAME)
}

/// This pmap's PCID value (`gen << 12 | pcid`) of the current generation,
/// allocating one if it has none yet in it.
fn pcid_of(pm: &PmapMd) -> u64 {
    let v = pm.pm_pcid.load(Ordering::SeqCst);
    if v != 0 && v >> 12 == PCID_GEN.load(Ordering::SeqCst) {
        return v;
    }
    let mut sp = PCID_SPACE.lock();
    let v = pm.pm_pcid.load(Ordering::SeqCst);
    if v != 0 && v >> 12 == sp.generation {
        return v;
    }
    let (v, rolled) = sp.alloc(PCID_MAX);
    if rolled {
        PCID_GEN.store(sp.generation, Ordering::SeqCst);
        PMAP_STATS.pcid_rollovers.fetch_add(1, Ordering::Relaxed);
    }
    pm.pm_pcid.store(v, Ordering::SeqCst);
    v
}

/// Flush every TLB entry of every PCID, global ones included, on this CPU.
fn tlb_flush_all_pcids() {
    let cr4 = cpufunc::rcr4();
    // SAFETY: toggling CR4.PGE flushes the whole TLB (all PCIDs, global
    // entries, paging-structure caches) and changes nothing else.
    unsafe {
        cpufunc::lcr4(cr4 & !cpufunc::CR4_PGE);
        cpufunc::lcr4(cr4);
    }
    kern::cpu::count(|s| &s.tlb_all);
}

pub fn pmap_activate(pm_ref: PmapRef) {
    let ci = curcpu_md();
    debug_assert!(cpufunc::read_rflags() & cpufunc::PSL_I == 0, "pmap_activate with interrupts on");
    if pm_ref == 0 {
        let cur = ci.ci_proc_pmap.load(Ordering::Relaxed);
        if cur != 0 {
            pmap_deactivate(cur);
        }
        return;
    }
    if ci.ci_proc_pmap.load(Ordering::Relaxed) == pm_ref {
        return;
    }
    let pm = pm_of(pm_ref);
    // Published before %cr3 changes: a shootdown that misses this store
    // changed its PTE before this CPU can walk the new tables (SeqCst on
    // both sides), and one that sees it sends the IPI.
    ci.ci_proc_pmap.store(pm_ref, Ordering::SeqCst);
    let me = cpu_bit(ci.ci_mi.ci_cpuid);
    let stale = pm.pm_stale.fetch_and(!me, Ordering::SeqCst) & me != 0;
    if !pcid_enabled() {
        // SAFETY: a complete PML4 whose kernel half is the kernel's.
        unsafe { lcr3(pm.pm_pml4) };
        return;
    }
    let v = pcid_of(pm);
    let (flush_all, keep) = pcid_load_mode(ci.ci_pcid_gen.load(Ordering::Relaxed), v, stale);
    if flush_all {
        tlb_flush_all_pcids();
        ci.ci_pcid_gen.store(v >> 12, Ordering::Relaxed);
        PMAP_STATS.pcid_full_flushes.fetch_add(1, Ordering::Relaxed);
    } else if !keep {
        PMAP_STATS.pcid_flushes.fetch_add(1, Ordering::Relaxed);
        // This load drops the pmap's stale entries: an invalidation by
        // PCID. (A load that only switches, keeping entries or without
        // PCIDs flushing as a side effect of the switch, is not counted.)
        kern::cpu::count(|s| &s.tlb_asid);
    }
    // SAFETY: as above; the PCID is this pmap's in the generation this CPU
    // has flushed for, and it keeps its entries only when none is stale.
    unsafe { lcr3_pcid(pm.pm_pml4, v & PCID_MAX, keep) };
}

/// How a CPU whose TLB holds PCIDs of generation `cpu_gen` loads a pmap
/// whose PCID value is `pcid_val` and which may have `stale` entries here:
/// (flush every PCID first, keep this PCID's entries). A PCID of a newer
/// generation may still tag entries of whatever pmap had it before, hence
/// the full flush; a stale pmap flushes its own PCID with the load.
pub fn pcid_load_mode(cpu_gen: u64, pcid_val: u64, stale: bool) -> (bool, bool) {
    let newer = pcid_val >> 12 != cpu_gen;
    (newer, !newer && !stale)
}

/// `pm`'s PCID value in the current generation, allocated if needed
/// (tests; `pmap_activate` does this when PCIDs are on).
pub fn pmap_pcid_get(pm: PmapRef) -> u64 {
    pcid_of(pm_of(pm))
}

pub fn pmap_deactivate(pm_ref: PmapRef) {
    let ci = curcpu_md();
    let cur = ci.ci_proc_pmap.load(Ordering::Relaxed);
    assert!(cur == pm_ref, "pmap_deactivate: {pm_ref:#x} is not loaded here ({cur:#x} is)");
    // SAFETY: the kernel PML4 maps everything the kernel uses. With PCIDs,
    // the kernel-only PCID 0 never tags a user entry, so it keeps its
    // (global) entries.
    unsafe { lcr3_pcid(kernel_pml4(), 0, pcid_enabled()) };
    // After %cr3: a shootdown that sees this store no longer needs us; one
    // that saw the old value sends an IPI we answer harmlessly.
    ci.ci_proc_pmap.store(0, Ordering::SeqCst);
}

/// Page-table pages `pm` holds now.
pub fn pmap_ptpages(pm: PmapRef) -> usize {
    pm_of(pm).pm_ptpages.load(Ordering::Relaxed)
}

/// The raw leaf entry for user `va` in `pm`, if its tables exist (tests).
pub fn pmap_pte(pm: PmapRef, va: u64) -> Option<u64> {
    Some(user_pte(pm_of(pm), va, false)?.load(Ordering::Acquire))
}

/// Physical address of `pm`'s PML4 (tests: what %cr3 must hold).
pub fn pmap_pml4(pm: PmapRef) -> u64 {
    pm_of(pm).pm_pml4
}

/// The raw kernel PTE for `va` in the thread-stack area, if its page
/// table exists (tests).
pub fn kstack_pte_value(va: u64) -> Option<u64> {
    let _g = KPT_LOCK.lock();
    // SAFETY: KPT_LOCK held; a read-only walk of the kstack area.
    unsafe { kstack_pte(va, false).map(|p| p.read_volatile()) }
}

/// `pm`'s PCID value and stale mask (tests).
pub fn pmap_pcid_state(pm: PmapRef) -> (u64, u64) {
    let p = pm_of(pm);
    (p.pm_pcid.load(Ordering::SeqCst), p.pm_stale.load(Ordering::SeqCst))
}

impl uvm::pmap::Pmap for crate::machdep::Amd64 {
    fn pmap_create() -> Option<PmapRef> {
        pmap_create()
    }
    fn pmap_destroy(pm: PmapRef) {
        pmap_destroy(pm)
    }
    fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
        pmap_enter(pm, va, pa, prot)
    }
    fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
        pmap_remove(pm, sva, eva)
    }
    fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
        pmap_protect(pm, sva, eva, prot)
    }
    fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
        pmap_extract(pm, va)
    }
    fn pmap_activate(pm: PmapRef) {
        pmap_activate(pm)
    }
    fn pmap_deactivate(pm: PmapRef) {
        pmap_deactivate(pm)
    }
    fn pmap_purge(pm: PmapRef) {
        pmap_purge(pm)
    }
}

impl uvm::pmap::PmapKernel for crate::machdep::Amd64 {
    fn pmap_kenter_pa(va: u64, pa: u64, prot: VmProt) {
        pmap_kenter_pa(va, pa, prot)
    }

    fn pmap_kremove(va: u64, len: u64) {
        pmap_kremove(va, len)
    }
}
