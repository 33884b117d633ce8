//! The allocator: a buddy heap (the `buddy_system_allocator` crate the
//! kernel uses too) grown with anonymous mmap, plus a mapping of its own
//! for every large allocation.
//!
//! - Small requests come from the buddy heap, which reuses freed blocks
//!   and merges freed buddies. When it runs dry, another region is mapped
//!   and added: 256 KiB at first, doubling up to 8 MiB per region, and
//!   always at least twice the request (a region that size is sure to
//!   hold a block of the request's size aligned to that size). Regions
//!   are never returned; only pages the program touches cost memory.
//! - Requests of [`DIRECT_MIN`] bytes or more (page-aligned or less) get
//!   their own mapping, unmapped again on free, so big buffers give their
//!   memory back and come zeroed without a memset.
//!
//! One lock guards the heap: a spin on an atomic flag that falls back to
//! sched_yield, so a thread waiting for a preempted holder gives up its
//! CPU. fork() holds it across the call ([`ForkGuard`]) so the child never
//! inherits it locked. As with C's malloc, allocating in a signal handler
//! that interrupted an allocation deadlocks.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use buddy_system_allocator::Heap;
use sys::mman::{MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use sys::vmparam::PAGE_SIZE;

/// Requests at least this large get a mapping of their own.
pub const DIRECT_MIN: usize = 128 << 10;
const MIN_REGION: usize = 256 << 10;
const MAX_REGION: usize = 8 << 20;

/// Where the heap gets memory.
pub trait PageSource {
    /// Map `len` bytes (a multiple of PAGE_SIZE) of zeroed read-write
    /// memory, page-aligned.
    fn map(&mut self, len: usize) -> Option<NonNull<u8>>;
    /// Give back a mapping `map` returned.
    ///
    /// # Safety
    /// `p` and `len` are exactly a live mapping from `map`, no longer used.
    unsafe fn unmap(&mut self, p: NonNull<u8>, len: usize);
}

/// Anonymous private mmap.
pub struct Mmap;

impl PageSource for Mmap {
    fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a new mapping at an address the kernel picks replaces
        // nothing.
        let p = unsafe { crate::mman::mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0) };
        p.ok().and_then(NonNull::new)
    }

    unsafe fn unmap(&mut self, p: NonNull<u8>, len: usize) {
        // SAFETY: the caller gives back a mapping nothing uses any more.
        let _ = unsafe { crate::mman::munmap(p.as_ptr(), len) };
    }
}

/// A lock for user space: spin briefly, then yield the CPU between tries.
pub struct YieldLock(AtomicBool);

impl YieldLock {
    pub const fn new() -> Self {
        YieldLock(AtomicBool::new(false))
    }

    pub fn lock(&self) {
        let mut spins = 0u32;
        while self.0.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            if spins < 64 {
                spins += 1;
                core::hint::spin_loop();
            } else {
                crate::thread::sched_yield();
            }
        }
    }

    pub fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Default for YieldLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters, for tests and curious programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes handed out from the buddy heap and not yet freed.
    pub heap_in_use: usize,
    /// Bytes mapped for the buddy heap so far.
    pub heap_mapped: usize,
    /// Bytes currently in direct mappings.
    pub direct_mapped: usize,
    /// Regions mapped for the buddy heap so far.
    pub regions: usize,
}

struct Inner<S> {
    buddy: Heap<32>,
    src: S,
    next_region: usize,
    stats: HeapStats,
}

pub struct UserHeap<S: PageSource> {
    lock: YieldLock,
    inner: UnsafeCell<Inner<S>>,
}

// SAFETY: every access to `inner` happens with `lock` held.
unsafe impl<S: PageSource + Send> Sync for UserHeap<S> {}

fn is_direct(l: Layout) -> bool {
    l.size() >= DIRECT_MIN && l.align() <= PAGE_SIZE
}

const fn page_round(n: usize) -> usize {
    (n + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl<S: PageSource> UserHeap<S> {
    pub const fn new(src: S) -> Self {
        UserHeap {
            lock: YieldLock::new(),
            inner: UnsafeCell::new(Inner {
                buddy: Heap::new(),
                src,
                next_region: MIN_REGION,
                stats: HeapStats { heap_in_use: 0, heap_mapped: 0, direct_mapped: 0, regions: 0 },
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner<S>) -> R) -> R {
        self.lock.lock();
        // SAFETY: the lock gives this thread the only access to `inner`.
        let r = f(unsafe { &mut *self.inner.get() });
        self.lock.unlock();
        r
    }

    /// Allocate; null when out of memory.
    pub fn allocate(&self, l: Layout) -> *mut u8 {
        if is_direct(l) {
            let len = page_round(l.size());
            return self.with(|h| {
                let p = h.src.map(len);
                if p.is_some() {
                    h.stats.direct_mapped += len;
                }
                p.map_or(core::ptr::null_mut(), NonNull::as_ptr)
            });
        }
        self.with(|h| {
            if let Ok(p) = h.buddy.alloc(l) {
                h.stats.heap_in_use += l.size();
                return p.as_ptr();
            }
            // A region at least twice the buddy block this needs always
            // holds one such block suitably aligned.
            let block = l.size().max(l.align()).next_power_of_two();
            let len = page_round(h.next_region.max(2 * block));
            let Some(region) = h.src.map(len) else { return core::ptr::null_mut() };
            let start = region.as_ptr() as usize;
            // SAFETY: the region is fresh, writable, and belongs to the
            // heap from now on.
            unsafe { h.buddy.add_to_heap(start, start + len) };
            h.stats.heap_mapped += len;
            h.stats.regions += 1;
            h.next_region = (h.next_region * 2).min(MAX_REGION);
            match h.buddy.alloc(l) {
                Ok(p) => {
                    h.stats.heap_in_use += l.size();
                    p.as_ptr()
                }
                Err(()) => core::ptr::null_mut(),
            }
        })
    }

    /// Free what [`UserHeap::allocate`] returned for the same layout.
    ///
    /// # Safety
    /// `p` came from `allocate(l)` on this heap and is not used again.
    pub unsafe fn free(&self, p: *mut u8, l: Layout) {
        let Some(p) = NonNull::new(p) else { return };
        self.with(|h| {
            if is_direct(l) {
                let len = page_round(l.size());
                // SAFETY: a direct allocation is exactly one mapping.
                unsafe { h.src.unmap(p, len) };
                h.stats.direct_mapped -= len;
            } else {
                // SAFETY: p came from this buddy heap with layout l.
                unsafe { h.buddy.dealloc(p, l) };
                h.stats.heap_in_use -= l.size();
            }
        })
    }

    pub fn stats(&self) -> HeapStats {
        self.with(|h| h.stats)
    }
}

// SAFETY: allocate/free implement the GlobalAlloc contract: blocks are
// at least `size` bytes at `align`, distinct while live, and freed
// exactly as allocated.
unsafe impl<S: PageSource + Send> GlobalAlloc for UserHeap<S> {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.allocate(l)
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = self.allocate(l);
        // Direct mappings are fresh anonymous memory, already zero.
        if !p.is_null() && !is_direct(l) {
            // SAFETY: p is valid for l.size() bytes.
            unsafe { core::ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.free(p, l) }
    }
}

/// The process's heap; the global allocator on oxbsd. (On the host it
/// exists too, but std's allocator serves the program.)
#[cfg_attr(target_os = "none", global_allocator)]
pub static HEAP: UserHeap<Mmap> = UserHeap::new(Mmap);

/// The global heap's counters.
pub fn stats() -> HeapStats {
    HEAP.stats()
}

/// Holds the heap lock across fork(2), released in parent and child.
pub struct ForkGuard(());

impl ForkGuard {
    pub fn new() -> Self {
        HEAP.lock.lock();
        ForkGuard(())
    }
}

impl Default for ForkGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        HEAP.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Page-aligned host memory standing in for mmap, counting what is
    /// mapped.
    #[derive(Default)]
    struct HostPages {
        live: HashMap<usize, usize>,
        maps: usize,
        unmaps: usize,
    }

    impl PageSource for HostPages {
        fn map(&mut self, len: usize) -> Option<NonNull<u8>> {
            let l = Layout::from_size_align(len, PAGE_SIZE).unwrap();
            // SAFETY: a non-zero size.
            let p = NonNull::new(unsafe { std::alloc::alloc_zeroed(l) })?;
            self.live.insert(p.as_ptr() as usize, len);
            self.maps += 1;
            Some(p)
        }
        unsafe fn unmap(&mut self, p: NonNull<u8>, len: usize) {
            assert_eq!(self.live.remove(&(p.as_ptr() as usize)), Some(len), "unmap of what was not mapped");
            self.unmaps += 1;
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(p.as_ptr(), Layout::from_size_align(len, PAGE_SIZE).unwrap()) };
        }
    }

    // The buddy heap's regions are never unmapped, so the test heaps leak
    // them back to the host when dropped; fine for a test.
    fn heap() -> UserHeap<HostPages> {
        UserHeap::new(HostPages::default())
    }

    fn src(h: &UserHeap<HostPages>) -> &HostPages {
        // SAFETY: single-threaded test, no allocation in progress.
        unsafe { &(*h.inner.get()).src }
    }

    #[test]
    fn reuses_freed_memory() {
        let h = heap();
        let l = Layout::from_size_align(100, 8).unwrap();
        let a = h.allocate(l);
        assert!(!a.is_null());
        // SAFETY: a came from h with l.
        unsafe { h.free(a, l) };
        let b = h.allocate(l);
        assert_eq!(a, b, "a freed block is handed out again");
        // SAFETY: as above.
        unsafe { h.free(b, l) };
        assert_eq!(h.stats().heap_in_use, 0);
        assert_eq!(src(&h).maps, 1);
    }

    #[test]
    fn grows_in_regions_and_keeps_blocks_apart() {
        let h = heap();
        let l = Layout::from_size_align(4096, 4096).unwrap();
        let mut v = Vec::new();
        for i in 0..200u8 {
            let p = h.allocate(l);
            assert!(!p.is_null() && (p as usize).is_multiple_of(4096));
            // SAFETY: p is valid for 4096 bytes.
            unsafe { core::ptr::write_bytes(p, i, 4096) };
            v.push((p, i));
        }
        for &(p, i) in &v {
            // SAFETY: still allocated.
            assert!(
                unsafe { core::slice::from_raw_parts(p, 4096) }.iter().all(|&b| b == i),
                "blocks overlap"
            );
        }
        let s = h.stats();
        assert_eq!(s.heap_in_use, 200 * 4096);
        assert!(s.regions >= 2 && s.heap_mapped >= 200 * 4096);
        for (p, _) in v {
            // SAFETY: allocated above with l.
            unsafe { h.free(p, l) };
        }
        assert_eq!(h.stats().heap_in_use, 0);
        // Everything fits again without mapping more.
        let before = src(&h).maps;
        let big = Layout::from_size_align(64 << 10, 8).unwrap();
        let p = h.allocate(big);
        assert!(!p.is_null());
        assert_eq!(src(&h).maps, before);
        // SAFETY: allocated above.
        unsafe { h.free(p, big) };
    }

    #[test]
    fn large_requests_get_their_own_mapping() {
        let h = heap();
        let l = Layout::from_size_align(DIRECT_MIN + 1, 16).unwrap();
        let p = h.allocate(l);
        assert!(!p.is_null());
        assert_eq!(h.stats().direct_mapped, page_round(DIRECT_MIN + 1));
        assert_eq!(h.stats().heap_mapped, 0);
        // SAFETY: from allocate(l).
        unsafe { h.free(p, l) };
        assert_eq!(h.stats().direct_mapped, 0);
        assert_eq!((src(&h).maps, src(&h).unmaps), (1, 1));
        assert!(src(&h).live.is_empty());
        // Over-aligned large requests come from the buddy heap instead.
        let l = Layout::from_size_align(DIRECT_MIN, 2 * PAGE_SIZE).unwrap();
        let p = h.allocate(l);
        assert!(!p.is_null() && (p as usize).is_multiple_of(2 * PAGE_SIZE));
        assert_eq!(h.stats().direct_mapped, 0);
        // SAFETY: from allocate(l).
        unsafe { h.free(p, l) };
    }

    #[test]
    fn out_of_memory_is_null() {
        struct Empty;
        impl PageSource for Empty {
            fn map(&mut self, _: usize) -> Option<NonNull<u8>> {
                None
            }
            unsafe fn unmap(&mut self, _: NonNull<u8>, _: usize) {
                unreachable!()
            }
        }
        let h = UserHeap::new(Empty);
        assert!(h.allocate(Layout::from_size_align(8, 8).unwrap()).is_null());
        assert!(h.allocate(Layout::from_size_align(1 << 20, 8).unwrap()).is_null());
        assert_eq!(h.stats(), HeapStats::default());
    }
}
