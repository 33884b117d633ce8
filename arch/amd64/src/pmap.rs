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

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kern::bootinfo::{MAX_MEM_REGIONS, MemRegion};
use spin::Mutex;
use uvm::pmap::VmProt;
use uvm::{PAGE_SIZE, round_page, trunc_page};

use crate::cpufunc::{invlpg, lcr3};
use crate::locore::{__erodata, __etext, __kernel_end, __kernel_start};

pub const KERNBASE: u64 = 0xffff_ffff_8000_0000;
pub const DMAP_BASE: u64 = 0xffff_8000_0000_0000;
/// The direct map spans 128 PML4 slots: 64 TiB of physical space.
pub const DMAP_SIZE: u64 = 64 << 40;
pub const KVA_BASE: u64 = 0xffff_ff00_0000_0000;
pub const KVA_SIZE: u64 = 512 << 30;

pub const PG_V: u64 = 1 << 0;
pub const PG_RW: u64 = 1 << 1;
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
/// Set just before `main`: page allocations go to the MI allocator.
static STEAL_CLOSED: AtomicBool = AtomicBool::new(false);
/// Next free kernel virtual address in the KVA window.
static KVA_NEXT: AtomicU64 = AtomicU64::new(KVA_BASE);
/// Serialises changes to the kernel page tables.
static KPT_LOCK: Mutex<()> = Mutex::new(());

/// Kernel stack size (plus one guard page below).
pub const KSTACK_PAGES: u64 = 8;
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
        return;
    }
    let mut v = va;
    while v < va + len {
        invlpg(v);
        v += PAGE_SIZE;
    }
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

impl uvm::pmap::PmapKernel for crate::machdep::Amd64 {
    fn pmap_kenter_pa(va: u64, pa: u64, prot: VmProt) {
        pmap_kenter_pa(va, pa, prot)
    }

    fn pmap_kremove(va: u64, len: u64) {
        pmap_kremove(va, len)
    }
}
