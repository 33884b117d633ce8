//! Physical page allocator with exact accounting of free pages.
//!
//! One bit per 4 KiB page over the span from the lowest to the highest
//! usable physical address: 32 KiB of bitmap per GiB of span. Holes in the
//! memory map (device windows, firmware areas, the kernel image) are simply
//! never marked free. A set bit means "free". The free count is kept beside
//! the bitmap and changed only together with it, so `free_pages()` is exact
//! at all times; a double free or a free of a page that was never handed out
//! panics instead of corrupting the count.
//!
//! This type does no locking: the kernel wraps the one instance in its
//! interrupt-masking mutex (see `kern::uvm_glue`).

use crate::param::{PAGE_SIZE, atop, ptoa, round_page, trunc_page};

pub struct PhysMem<'a> {
    /// Physical address of the page described by bit 0.
    base: u64,
    /// Pages covered by the bitmap.
    npages: usize,
    bitmap: &'a mut [u64],
    free: usize,
    /// Pages ever added as usable (the "avail mem" of dmesg).
    managed: usize,
    /// Word index where the next single-page search starts.
    hint: usize,
}

/// Number of `u64` words a bitmap must have to cover `[lo, hi)`.
pub const fn bitmap_words(lo: u64, hi: u64) -> usize {
    let pages = atop(round_page(hi) - trunc_page(lo)) as usize;
    pages.div_ceil(64)
}

impl<'a> PhysMem<'a> {
    /// An allocator covering `[lo, hi)` with no page free yet.
    /// `bitmap` must have at least `bitmap_words(lo, hi)` words.
    pub fn new(bitmap: &'a mut [u64], lo: u64, hi: u64) -> Self {
        let base = trunc_page(lo);
        let npages = atop(round_page(hi) - base) as usize;
        assert!(bitmap.len() * 64 >= npages, "pmemrange: bitmap too small");
        bitmap.iter_mut().for_each(|w| *w = 0);
        PhysMem { base, npages, bitmap, free: 0, managed: 0, hint: 0 }
    }

    /// Hand the pages wholly inside `[start, end)` to the allocator.
    /// Returns how many pages were added. Pages outside the covered span are
    /// ignored; adding a page twice panics.
    pub fn add_free_range(&mut self, start: u64, end: u64) -> usize {
        let lo = round_page(start).max(self.base);
        let hi = trunc_page(end).min(ptoa(self.npages as u64) + self.base);
        if lo >= hi {
            return 0;
        }
        let first = atop(lo - self.base) as usize;
        let n = atop(hi - lo) as usize;
        for i in first..first + n {
            assert!(!self.test(i), "pmemrange: page added twice");
            self.set(i);
        }
        self.free += n;
        self.managed += n;
        n
    }

    pub fn free_pages(&self) -> usize {
        self.free
    }

    pub fn managed_pages(&self) -> usize {
        self.managed
    }

    /// Allocate one page; `None` when memory is exhausted.
    pub fn alloc_page(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let words = self.bitmap.len();
        for k in 0..words {
            let w = (self.hint + k) % words;
            let bits = self.bitmap[w];
            if bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                self.clear(i);
                self.free -= 1;
                self.hint = w;
                return Some(self.base + ptoa(i as u64));
            }
        }
        unreachable!("pmemrange: free count says {} but bitmap is empty", self.free)
    }

    /// Allocate `n` physically contiguous pages whose first page is aligned
    /// to `align` bytes (a power of two, at least a page).
    pub fn alloc_contig(&mut self, n: usize, align: u64) -> Option<u64> {
        assert!(n > 0 && align.is_power_of_two());
        if self.free < n {
            return None;
        }
        let step = (atop(align.max(PAGE_SIZE)) as usize).max(1);
        // Candidates are `first + k * step`: aligned in address, whatever
        // the alignment of `base` itself.
        let first = atop(round_up(self.base, align) - self.base) as usize;
        let mut i = first;
        while i + n <= self.npages {
            match (i..i + n).rev().find(|&j| !self.test(j)) {
                None => {
                    for j in i..i + n {
                        self.clear(j);
                    }
                    self.free -= n;
                    return Some(self.base + ptoa(i as u64));
                }
                // Skip past the busy page to the next aligned candidate.
                Some(busy) => i = first + (busy + 1 - first).div_ceil(step) * step,
            }
        }
        None
    }

    /// Return one page.
    pub fn free_page(&mut self, pa: u64) {
        self.free_contig(pa, 1)
    }

    /// Return `n` contiguous pages starting at `pa`.
    pub fn free_contig(&mut self, pa: u64, n: usize) {
        assert!(pa & (PAGE_SIZE - 1) == 0, "pmemrange: unaligned free {pa:#x}");
        assert!(pa >= self.base, "pmemrange: free of unmanaged page {pa:#x}");
        let first = atop(pa - self.base) as usize;
        assert!(first + n <= self.npages, "pmemrange: free of unmanaged page {pa:#x}");
        for i in first..first + n {
            assert!(!self.test(i), "pmemrange: double free of page {:#x}", self.base + ptoa(i as u64));
            self.set(i);
        }
        self.free += n;
        if first / 64 < self.hint {
            self.hint = first / 64;
        }
    }

    fn test(&self, i: usize) -> bool {
        self.bitmap[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.bitmap[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.bitmap[i / 64] &= !(1 << (i % 64));
    }
}

const fn round_up(x: u64, align: u64) -> u64 {
    (x + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(lo: u64, hi: u64) -> PhysMem<'static> {
        let bm = vec![0u64; bitmap_words(lo, hi)].leak();
        PhysMem::new(bm, lo, hi)
    }

    #[test]
    fn accounting_returns_to_baseline() {
        let mut pm = mk(0x10_0000, 0x90_0000);
        assert_eq!(pm.add_free_range(0x10_0000, 0x90_0000), 0x800);
        let base = pm.free_pages();
        let pages: Vec<u64> = (0..100).map(|_| pm.alloc_page().unwrap()).collect();
        assert_eq!(pm.free_pages(), base - 100);
        let c = pm.alloc_contig(16, 0x1_0000).unwrap();
        assert_eq!(c % 0x1_0000, 0);
        assert_eq!(pm.free_pages(), base - 116);
        for p in pages {
            pm.free_page(p);
        }
        pm.free_contig(c, 16);
        assert_eq!(pm.free_pages(), base);
    }

    #[test]
    fn holes_are_never_handed_out() {
        let mut pm = mk(0, 0x40_0000);
        pm.add_free_range(0x1000, 0x9f000);
        pm.add_free_range(0x10_0000, 0x40_0000);
        let mut seen = 0;
        while let Some(p) = pm.alloc_page() {
            assert!((0x1000..0x9f000).contains(&p) || (0x10_0000..0x40_0000).contains(&p));
            seen += 1;
        }
        assert_eq!(seen, pm.managed_pages());
        assert_eq!(pm.free_pages(), 0);
    }

    #[test]
    fn unaligned_ranges_shrink_inward() {
        let mut pm = mk(0, 0x10_0000);
        assert_eq!(pm.add_free_range(0x1800, 0x4800), 2);
    }

    #[test]
    fn contig_skips_busy_and_respects_alignment() {
        let mut pm = mk(0, 0x20_0000);
        pm.add_free_range(0, 0x20_0000);
        let a = pm.alloc_page().unwrap();
        assert_eq!(a, 0);
        let c = pm.alloc_contig(4, 0x4000).unwrap();
        assert_eq!(c, 0x4000);
        assert!(pm.alloc_contig(0x1000, PAGE_SIZE).is_none());
    }

    #[test]
    fn contig_alignment_holds_when_base_is_unaligned() {
        // Page 0 withheld, as on amd64: the span starts at 0x1000.
        let mut pm = mk(0x1000, 0x40_0000);
        pm.add_free_range(0x1000, 0x40_0000);
        let singles: Vec<u64> = (0..20).map(|_| pm.alloc_page().unwrap()).collect();
        for align in [0x2000, 0x1_0000, 0x10_0000] {
            let c = pm.alloc_contig(16, align).unwrap();
            assert_eq!(c % align, 0, "run at {c:#x} not aligned to {align:#x}");
            assert!(!singles.contains(&c));
            pm.free_contig(c, 16);
        }
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let mut pm = mk(0, 0x10_0000);
        pm.add_free_range(0, 0x10_0000);
        let p = pm.alloc_page().unwrap();
        pm.free_page(p);
        pm.free_page(p);
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut pm = mk(0, 0x4000);
        pm.add_free_range(0, 0x4000);
        for _ in 0..4 {
            assert!(pm.alloc_page().is_some());
        }
        assert!(pm.alloc_page().is_none());
        assert!(pm.alloc_contig(1, PAGE_SIZE).is_none());
    }
}
