//! A simulated machine for the VM tests.
//!
//! Physical memory is an array of real page buffers, so zero fill, copies
//! and contents are real; the page allocator counts exactly and can be
//! told to run dry; each pmap is a table `va -> (pa, prot)` with the
//! documented semantics of every `Pmap` method, and checks its
//! preconditions (a page freed while still mapped, a purge of a loaded
//! pmap, a destroy of a non-empty one all panic). A global allocator that
//! can be told to fail after N allocations reaches the heap-exhaustion
//! paths. All state is per thread: each test runs on its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use crate::pmap::{Pmap, PmapRef, VmProt};
use crate::uvm_map::{VM_MAXUSER_ADDRESS, VM_MIN_ADDRESS};
use crate::{FaultError, PAGE_SIZE, UvmEnv, VmMap};

const PAGE: usize = PAGE_SIZE as usize;
/// Where simulated RAM starts: any nonzero page-aligned address will do.
pub const PA_BASE: u64 = 0x4000_0000;
/// What a page the allocator hands out holds ("contents undefined").
pub const POISON_ALLOC: u8 = 0xa5;
const POISON_FREE: u8 = 0xdd;

// ---- the failing heap ----------------------------------------------------

thread_local! {
    /// Allocations this thread may still make; None: no limit.
    static HEAP_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn heap_may_alloc() -> bool {
    HEAP_LEFT
        .try_with(|left| match left.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                left.set(Some(n - 1));
                true
            }
        })
        .unwrap_or(true)
}

struct TestAlloc;

unsafe impl GlobalAlloc for TestAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if heap_may_alloc() { unsafe { System.alloc(layout) } } else { std::ptr::null_mut() }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if heap_may_alloc() { unsafe { System.alloc_zeroed(layout) } } else { std::ptr::null_mut() }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if heap_may_alloc() { unsafe { System.realloc(ptr, layout, new_size) } } else { std::ptr::null_mut() }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: TestAlloc = TestAlloc;

/// Run `f` with the heap failing after `n` more allocations on this thread.
pub fn with_heap_limit<R>(n: usize, f: impl FnOnce() -> R) -> R {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            HEAP_LEFT.set(None);
        }
    }
    HEAP_LEFT.set(Some(n));
    let _disarm = Disarm;
    f()
}

/// The simulation's own bookkeeping must not be what fails.
fn heap_unlimited<R>(f: impl FnOnce() -> R) -> R {
    let saved = HEAP_LEFT.replace(None);
    let r = f();
    HEAP_LEFT.set(saved);
    r
}

// ---- the machine -----------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub enters: usize,
    pub removes: usize,
    pub protects: usize,
    pub purges: usize,
    /// Single-page TLB invalidations (a replaced, removed or lowered
    /// mapping).
    pub invalidations: usize,
    /// Whole-ASID flushes (purge).
    pub flushes: usize,
    /// `fault_counted` reports: zero fills, image copies, copy-on-write.
    pub flt_zero: usize,
    pub flt_text: usize,
    pub flt_cow: usize,
}

struct State {
    mem: Vec<Box<[u8; PAGE]>>,
    allocated: Vec<bool>,
    free: Vec<usize>,
    /// pagealloc calls that may still succeed; None: as many as there are.
    page_limit: Option<usize>,
    /// Pages the test owns and maps as `Wired`: uvm must never free them.
    wired: BTreeSet<u64>,
    pmaps: BTreeMap<PmapRef, BTreeMap<u64, (u64, VmProt)>>,
    next_pmap: PmapRef,
    /// The pmap loaded on the (one) simulated CPU, 0 for none.
    loaded: PmapRef,
    enter_fails: bool,
    counters: Counters,
}

thread_local! {
    /// Run at the next pagealloc: what another CPU does meanwhile.
    static ON_PAGEALLOC: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

/// Run `f` inside the next pagealloc, as if another CPU ran it while the
/// caller was waiting for the page.
pub fn on_next_pagealloc(f: impl FnOnce() + 'static) {
    heap_unlimited(|| ON_PAGEALLOC.set(Some(Box::new(f))))
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    heap_unlimited(|| STATE.with_borrow_mut(|s| f(s.as_mut().expect("sim::init not called"))))
}

/// A fresh machine with `npages` pages of RAM, all free.
pub fn init(npages: usize) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // A panic under an armed heap limit must still be able to report.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            HEAP_LEFT.set(None);
            prev(info)
        }));
    });
    heap_unlimited(|| {
        let state = State {
            mem: (0..npages).map(|_| Box::new([POISON_FREE; PAGE])).collect(),
            allocated: vec![false; npages],
            free: (0..npages).rev().collect(),
            page_limit: None,
            wired: BTreeSet::new(),
            pmaps: BTreeMap::new(),
            next_pmap: 1,
            loaded: 0,
            enter_fails: false,
            counters: Counters::default(),
        };
        STATE.set(Some(state));
    })
}

fn index(s: &State, pa: u64) -> usize {
    assert!(pa >= PA_BASE && pa.is_multiple_of(PAGE_SIZE), "sim: bad physical address {pa:#x}");
    let i = ((pa - PA_BASE) / PAGE_SIZE) as usize;
    assert!(i < s.mem.len(), "sim: physical address {pa:#x} beyond RAM");
    i
}

fn live(s: &State, pa: u64) -> usize {
    let i = index(s, pa);
    assert!(s.allocated[i], "sim: access to free page {pa:#x}");
    i
}

pub fn nfree() -> usize {
    with(|s| s.free.len())
}

pub fn nallocated() -> usize {
    with(|s| s.mem.len() - s.free.len())
}

/// Let only `n` more pagealloc calls succeed (None: no limit).
pub fn set_page_limit(n: Option<usize>) {
    with(|s| s.page_limit = n)
}

pub fn page_limit() -> Option<usize> {
    with(|s| s.page_limit)
}

/// Make pmap_enter fail (as when a page-table page cannot be had).
pub fn set_enter_fails(fail: bool) {
    with(|s| s.enter_fails = fail)
}

pub fn counters() -> Counters {
    with(|s| s.counters)
}

/// A page the test owns (for a `Wired` entry), filled with `fill`.
pub fn wired_alloc(fill: u8) -> u64 {
    let pa = Sim::pagealloc().expect("sim: no page for wired");
    with(|s| {
        let i = index(s, pa);
        s.mem[i].fill(fill);
        s.wired.insert(pa);
    });
    pa
}

pub fn wired_free(pa: u64) {
    with(|s| assert!(s.wired.remove(&pa), "sim: {pa:#x} is not a wired page"));
    Sim::pagefree(pa);
}

pub fn nwired() -> usize {
    with(|s| s.wired.len())
}

pub fn is_allocated(pa: u64) -> bool {
    with(|s| {
        let i = index(s, pa);
        s.allocated[i]
    })
}

pub fn page(pa: u64) -> [u8; PAGE] {
    with(|s| *s.mem[live(s, pa)])
}

pub fn mapping(pm: PmapRef, va: u64) -> Option<(u64, VmProt)> {
    with(|s| s.pmaps[&pm].get(&va).copied())
}

/// `(va, pa, prot)` of every mapping of `pm`.
pub fn mappings(pm: PmapRef) -> Vec<(u64, u64, VmProt)> {
    with(|s| s.pmaps[&pm].iter().map(|(&va, &(pa, prot))| (va, pa, prot)).collect())
}

pub fn pmaps() -> Vec<PmapRef> {
    with(|s| s.pmaps.keys().copied().collect())
}

/// Create a pmap (as the kernel would before `VmMap::new` or `fork`).
pub fn pmap() -> PmapRef {
    Sim::pmap_create().expect("sim: pmap_create")
}

/// The simulated machine: its pmap and its page allocator.
pub struct Sim;

impl Pmap for Sim {
    fn pmap_create() -> Option<PmapRef> {
        with(|s| {
            let pm = s.next_pmap;
            s.next_pmap += 1;
            s.pmaps.insert(pm, BTreeMap::new());
            Some(pm)
        })
    }

    fn pmap_destroy(pm: PmapRef) {
        with(|s| {
            assert_ne!(s.loaded, pm, "sim: destroy of a loaded pmap");
            let map = s.pmaps.remove(&pm).expect("sim: destroy of an unknown pmap");
            assert!(map.is_empty(), "sim: destroy of a pmap with {} mappings", map.len());
        })
    }

    fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
        with(|s| {
            assert!(va.is_multiple_of(PAGE_SIZE) && (VM_MIN_ADDRESS..VM_MAXUSER_ADDRESS).contains(&va));
            assert!(prot.is_valid() && prot != VmProt::NONE, "sim: enter with {prot:?}");
            live(s, pa);
            if s.enter_fails {
                return false;
            }
            s.counters.enters += 1;
            if s.pmaps.get_mut(&pm).expect("sim: unknown pmap").insert(va, (pa, prot)).is_some() {
                s.counters.invalidations += 1;
            }
            true
        })
    }

    fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
        with(|s| {
            assert!(sva.is_multiple_of(PAGE_SIZE) && eva.is_multiple_of(PAGE_SIZE) && sva <= eva);
            s.counters.removes += 1;
            let map = s.pmaps.get_mut(&pm).expect("sim: unknown pmap");
            let gone: Vec<u64> = map.range(sva..eva).map(|(&va, _)| va).collect();
            for va in &gone {
                map.remove(va);
            }
            s.counters.invalidations += gone.len();
        })
    }

    fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
        with(|s| {
            assert!(sva.is_multiple_of(PAGE_SIZE) && eva.is_multiple_of(PAGE_SIZE) && sva <= eva);
            s.counters.protects += 1;
            let map = s.pmaps.get_mut(&pm).expect("sim: unknown pmap");
            let mut changed = 0;
            map.retain(|&va, (_, old)| {
                if !(sva..eva).contains(&va) || prot.contains(*old) {
                    return true;
                }
                changed += 1;
                *old = old.intersect(prot);
                *old != VmProt::NONE
            });
            s.counters.invalidations += changed;
        })
    }

    fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
        with(|s| s.pmaps[&pm].get(&va).map(|&(pa, _)| pa))
    }

    fn pmap_activate(pm: PmapRef) {
        with(|s| s.loaded = pm)
    }

    fn pmap_deactivate(pm: PmapRef) {
        with(|s| {
            assert_eq!(s.loaded, pm, "sim: deactivate of a pmap not loaded");
            s.loaded = 0;
        })
    }

    fn pmap_purge(pm: PmapRef) {
        with(|s| {
            assert_ne!(s.loaded, pm, "sim: purge of a loaded pmap");
            s.pmaps.get_mut(&pm).expect("sim: unknown pmap").clear();
            s.counters.purges += 1;
            s.counters.flushes += 1;
        })
    }
}

impl UvmEnv for Sim {
    fn fault_counted(kind: crate::FaultKind) {
        with(|s| match kind {
            crate::FaultKind::Zero => s.counters.flt_zero += 1,
            crate::FaultKind::Text => s.counters.flt_text += 1,
            crate::FaultKind::Cow => s.counters.flt_cow += 1,
        })
    }

    fn pagealloc() -> Option<u64> {
        if let Some(f) = ON_PAGEALLOC.take() {
            heap_unlimited(f);
        }
        with(|s| {
            if let Some(n) = s.page_limit {
                if n == 0 {
                    return None;
                }
                s.page_limit = Some(n - 1);
            }
            let i = s.free.pop()?;
            s.allocated[i] = true;
            s.mem[i].fill(POISON_ALLOC);
            Some(PA_BASE + (i as u64) * PAGE_SIZE)
        })
    }

    fn pagefree(pa: u64) {
        with(|s| {
            let i = live(s, pa);
            assert!(!s.wired.contains(&pa), "sim: uvm freed wired page {pa:#x}");
            for (pm, map) in &s.pmaps {
                assert!(
                    map.values().all(|&(mpa, _)| mpa != pa),
                    "sim: page {pa:#x} freed while pmap {pm} maps it"
                );
            }
            s.allocated[i] = false;
            s.mem[i].fill(POISON_FREE);
            s.free.push(i);
        })
    }

    fn zero_page(pa: u64) {
        with(|s| {
            let i = live(s, pa);
            s.mem[i].fill(0)
        })
    }

    fn copy_page(src: u64, dst: u64) {
        with(|s| {
            let (i, j) = (live(s, src), live(s, dst));
            assert_ne!(i, j);
            let page = *s.mem[i];
            *s.mem[j] = page;
        })
    }

    fn copy_to_page(pa: u64, off: usize, src: &[u8]) {
        with(|s| {
            assert!(off + src.len() <= PAGE);
            let i = live(s, pa);
            s.mem[i][off..off + src.len()].copy_from_slice(src);
        })
    }
}

// ---- a user program's accesses, through the MMU ------------------------------

/// What the MMU would do for a user access to `va`: translate through the
/// pmap; on a missing or insufficient mapping, take the fault and retry.
/// Returns the physical page and the offset.
fn translate(vm: &mut VmMap, va: u64, access: VmProt) -> Result<(u64, usize), FaultError> {
    let page = va & !(PAGE_SIZE - 1);
    let usable = |m: Option<(u64, VmProt)>| m.filter(|&(_, prot)| prot.contains(access));
    let pa = match usable(mapping(vm.pmap(), page)) {
        Some((pa, _)) => pa,
        None => {
            vm.fault::<Sim>(va, access)?;
            usable(mapping(vm.pmap(), page)).expect("fault returned Ok without a usable mapping").0
        }
    };
    Ok((pa, (va - page) as usize))
}

pub fn user_read(vm: &mut VmMap, va: u64) -> Result<u8, FaultError> {
    let (pa, off) = translate(vm, va, VmProt::READ)?;
    Ok(with(|s| s.mem[live(s, pa)][off]))
}

pub fn user_exec(vm: &mut VmMap, va: u64) -> Result<u8, FaultError> {
    let (pa, off) = translate(vm, va, VmProt::EXECUTE)?;
    Ok(with(|s| s.mem[live(s, pa)][off]))
}

pub fn user_write(vm: &mut VmMap, va: u64, byte: u8) -> Result<(), FaultError> {
    let (pa, off) = translate(vm, va, VmProt::WRITE)?;
    with(|s| {
        let i = live(s, pa);
        s.mem[i][off] = byte
    });
    Ok(())
}

/// The physical page `va` is mapped to in `vm`'s pmap, if any.
pub fn pa_of(vm: &VmMap, va: u64) -> Option<u64> {
    Sim::pmap_extract(vm.pmap(), va & !(PAGE_SIZE - 1))
}
