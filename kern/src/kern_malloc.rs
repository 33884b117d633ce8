//! The kernel heap: `buddy_system_allocator` behind the kernel mutex,
//! grown on demand with physically contiguous pages seen through the
//! direct map.
//!
//! The buddy heap's own spin lock does not mask interrupts, so it is used
//! unlocked (`Heap`) inside our interrupt-masking [`Mutex`]. Memory given
//! to the heap is never returned to the page allocator: the heap's own
//! counters (`allocated`) are what the boot self-test checks for leaks.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use buddy_system_allocator::Heap;

use crate::mutex::Mutex;

/// Smallest growth step (bytes).
pub const HEAP_GROW_MIN: usize = 1 << 20;

pub struct KernelHeap {
    heap: Mutex<Heap<32>>,
    /// Returns `(start, len)` of fresh memory of at least the given size,
    /// aligned to its own size, or None when out of memory.
    grow: fn(usize) -> Option<(usize, usize)>,
}

/// Heap usage, for the self-test and later for vmstat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    pub allocated: usize,
    pub total: usize,
}

impl KernelHeap {
    pub const fn new(grow: fn(usize) -> Option<(usize, usize)>) -> Self {
        KernelHeap { heap: Mutex::new(Heap::new()), grow }
    }

    pub fn stats(&self) -> HeapStats {
        let h = self.heap.lock();
        HeapStats { allocated: h.stats_alloc_actual(), total: h.stats_total_bytes() }
    }

    fn grow_size(layout: &Layout) -> usize {
        // A block of size S aligned to S always holds a buddy block of
        // size >= layout's rounded size, whatever its alignment.
        layout.size().max(layout.align()).next_power_of_two().max(HEAP_GROW_MIN) * 2
    }
}

// SAFETY: all heap state is behind the mutex; memory handed out comes from
// the buddy heap, which only ever contains regions given by `grow`, and
// those are owned exclusively by the heap from then on.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut h = self.heap.lock();
        if let Ok(p) = h.alloc(layout) {
            return p.as_ptr();
        }
        let Some((start, len)) = (self.grow)(Self::grow_size(&layout)) else {
            return core::ptr::null_mut();
        };
        // SAFETY: `grow` returned memory nobody else uses, valid for `len` bytes.
        unsafe { h.add_to_heap(start, start + len) };
        h.alloc(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from `alloc` with
        // `layout`, so it is non-null and belongs to this heap.
        unsafe { self.heap.lock().dealloc(NonNull::new_unchecked(ptr), layout) }
    }
}

/// Growth source for the kernel: contiguous pages through the direct map.
#[cfg(target_os = "none")]
fn kmem_grow(min: usize) -> Option<(usize, usize)> {
    let n = min.div_ceil(uvm::PAGE_SIZE as usize);
    let pa = crate::uvm_init::uvm_pagealloc_contig(n, min as u64)?;
    Some((crate::machdep::phys_to_kva(pa) as usize, n * uvm::PAGE_SIZE as usize))
}

#[cfg(target_os = "none")]
#[global_allocator]
pub static KMEM: KernelHeap = KernelHeap::new(kmem_grow);

/// Heap usage of the kernel's global allocator.
#[cfg(target_os = "none")]
pub fn kmem_stats() -> HeapStats {
    KMEM.stats()
}

/// The host has no kernel heap (tests use the host allocator).
#[cfg(not(target_os = "none"))]
pub fn kmem_stats() -> HeapStats {
    HeapStats { allocated: 0, total: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak_grow(min: usize) -> Option<(usize, usize)> {
        let layout = Layout::from_size_align(min, min).unwrap();
        // SAFETY: non-zero size; the block is leaked to the test heap.
        let p = unsafe { std::alloc::alloc(layout) };
        Some((p as usize, min))
    }

    #[test]
    fn grows_and_returns_to_baseline() {
        let h = KernelHeap::new(leak_grow);
        assert_eq!(h.stats().total, 0);
        let base = h.stats().allocated;
        let l = Layout::from_size_align(3000, 64).unwrap();
        let big = Layout::from_size_align(3 << 20, 4096).unwrap();
        // SAFETY: layouts are non-zero; every pointer is freed with its layout.
        unsafe {
            let a = h.alloc(l);
            let b = h.alloc(big);
            assert!(!a.is_null() && !b.is_null());
            assert_eq!(b as usize % 4096, 0);
            assert!(h.stats().total >= 3 << 20);
            h.dealloc(a, l);
            h.dealloc(b, big);
        }
        assert_eq!(h.stats().allocated, base);
    }
}
