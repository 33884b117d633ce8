//! The kernel's one physical page allocator instance and its bootstrap.
//!
//! `uvm::pmemrange::PhysMem` does the bookkeeping; this module owns the
//! global instance behind an interrupt-masking mutex (pages may be freed
//! from any context) and builds it from the arch's memory map. The bitmap
//! itself is carved out of usable RAM and reached through the direct map.

use uvm::pmemrange::{PhysMem, bitmap_words};
use uvm::{PAGE_SIZE, round_page};

use crate::bootinfo::{MAX_MEM_REGIONS, MemRegion};
use crate::machdep;
use crate::mutex::Mutex;

static PMEM: Mutex<Option<PhysMem<'static>>> = Mutex::new(None);

/// What `uvm_init` found, for the boot banner.
#[derive(Clone, Copy, Debug)]
pub struct PmemStats {
    pub managed_pages: usize,
    pub bitmap_bytes: u64,
}

/// Where the bitmap for `usable` goes: the first region that can hold it.
/// Returns the bitmap's physical address and size in bytes.
pub fn place_bitmap(usable: &[MemRegion]) -> Option<(u64, u64)> {
    let lo = usable.iter().map(|r| r.start).min()?;
    let hi = usable.iter().map(|r| r.end).max()?;
    let bytes = round_page(bitmap_words(lo, hi) as u64 * 8);
    usable.iter().find(|r| r.len() >= bytes).map(|r| (r.start, bytes))
}

/// Build the page allocator over `usable`. Before: the direct map covers
/// all of `usable`. After: every page of `usable` except the bitmap's is
/// free in the allocator; `uvm_pagealloc` works.
pub fn uvm_init(usable: &[MemRegion]) -> PmemStats {
    assert!(!usable.is_empty(), "uvm_init: no usable memory");
    assert!(usable.len() <= MAX_MEM_REGIONS, "uvm_init: too many memory regions");
    let lo = usable.iter().map(|r| r.start).min().unwrap();
    let hi = usable.iter().map(|r| r.end).max().unwrap();
    let (bm_pa, bm_bytes) = place_bitmap(usable).expect("uvm_init: no room for the page bitmap");
    let words = bitmap_words(lo, hi);
    // SAFETY: [bm_pa, bm_pa + bm_bytes) is usable RAM that nothing else
    // owns (it is withheld from the allocator just below), it is mapped by
    // the direct map, page aligned, and large enough for `words` u64s.
    let bitmap: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(machdep::phys_to_kva(bm_pa) as *mut u64, words) };
    let mut pm = PhysMem::new(bitmap, lo, hi);
    for r in usable {
        if r.start == bm_pa {
            pm.add_free_range(bm_pa + bm_bytes, r.end);
        } else {
            pm.add_free_range(r.start, r.end);
        }
    }
    let stats = PmemStats { managed_pages: pm.managed_pages(), bitmap_bytes: bm_bytes };
    *PMEM.lock() = Some(pm);
    stats
}

fn with_pmem<R>(f: impl FnOnce(&mut PhysMem<'static>) -> R) -> R {
    let mut g = PMEM.lock();
    f(g.as_mut().expect("uvm: page allocator used before uvm_init"))
}

/// Allocate one physical page (not zeroed).
pub fn uvm_pagealloc() -> Option<u64> {
    with_pmem(|pm| pm.alloc_page())
}

/// Allocate `n` contiguous physical pages aligned to `align` bytes.
pub fn uvm_pagealloc_contig(n: usize, align: u64) -> Option<u64> {
    with_pmem(|pm| pm.alloc_contig(n, align.max(PAGE_SIZE)))
}

/// Free one page obtained from `uvm_pagealloc`.
pub fn uvm_pagefree(pa: u64) {
    with_pmem(|pm| pm.free_page(pa))
}

/// Free `n` pages obtained from `uvm_pagealloc_contig`.
pub fn uvm_pagefree_contig(pa: u64, n: usize) {
    with_pmem(|pm| pm.free_contig(pa, n))
}

/// Free pages right now (uvmexp.free).
pub fn uvmexp_free() -> usize {
    with_pmem(|pm| pm.free_pages())
}

/// Pages the allocator manages (uvmexp.npages).
pub fn uvmexp_total() -> usize {
    with_pmem(|pm| pm.managed_pages())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_goes_in_first_region_that_fits() {
        let regs =
            [MemRegion { start: 0x1000, end: 0x2000 }, MemRegion { start: 0x10_0000, end: 0x1_0000_0000 }];
        // 4 GiB span -> 1 Mi pages -> 128 KiB of bitmap.
        assert_eq!(place_bitmap(&regs), Some((0x10_0000, 0x2_0000)));
        assert_eq!(place_bitmap(&[]), None);
    }
}
