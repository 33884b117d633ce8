//! Host tests of the map, fault and fork logic on the simulated machine.
//!
//! Every test ends with every page back on the free list, and checks after
//! each operation that the pmap is a faithful cache of the maps (see
//! [`check`]).

mod fault;
mod fork;
mod map;
mod random;

use std::collections::HashMap;

use alloc::sync::Arc;

use crate::pmap::{Pmap, VmProt};
use crate::sim::{self, Sim};
use crate::uvm_map::{Backing, VM_MAXUSER_ADDRESS, VM_MIN_ADDRESS};
use crate::{PAGE_SIZE, VmMap};

pub(crate) const P: u64 = PAGE_SIZE;
/// A user address for fixed mappings, well inside user space.
pub(crate) const BASE: u64 = 0x40_0000;

const fn image_bytes<const N: usize>() -> [u8; N] {
    let mut a = [0u8; N];
    let mut i = 0;
    while i < N {
        // Never zero, so a zero tail is told apart from image bytes.
        a[i] = (i % 251) as u8 + 1;
        i += 1;
    }
    a
}

/// An executable image: two full pages and 100 bytes.
pub(crate) static IMAGE: [u8; 2 * PAGE_SIZE as usize + 100] = image_bytes();

/// A fresh machine; returns the pages free at the start.
pub(crate) fn setup(npages: usize) -> usize {
    sim::init(npages);
    sim::nfree()
}

pub(crate) fn new_map() -> VmMap {
    VmMap::new(sim::pmap())
}

/// What exit does: purge, then destroy the pmap.
pub(crate) fn destroy(mut vm: VmMap) {
    vm.purge::<Sim>();
    assert_eq!(vm.entries().count(), 0);
    assert_eq!(vm.resident(), 0);
    Sim::pmap_destroy(vm.pmap());
}

/// The machine is back where it started: every page free, no pmap left.
pub(crate) fn assert_baseline(free: usize) {
    assert_eq!(sim::nfree(), free, "pages leaked");
    assert_eq!(sim::nallocated(), 0);
    assert!(sim::pmaps().is_empty(), "pmaps left: {:?}", sim::pmaps());
}

pub(crate) fn entries(vm: &VmMap) -> Vec<(u64, u64, VmProt)> {
    vm.entries().collect()
}

pub(crate) fn zero(vm: &mut VmMap, va: u64, len: u64, prot: VmProt) -> u64 {
    vm.map::<Sim>(va, len, prot, Backing::Zero, true).expect("map")
}

/// Check every invariant of `maps`, which must be every live map.
///
/// - entries sorted, page aligned, non-overlapping, in user space, within
///   their maxprot, amaps sized to their entries;
/// - every pmap mapping lies in an entry, maps that entry's anon (or wired
///   page) for the address, with at most the entry's rights, and is never
///   writable while the anon is shared;
/// - every anon's reference count is the number of slots holding it, and
///   the pages allocated are exactly the anons' pages plus the wired ones;
/// - pmaps of no live map are empty.
pub(crate) fn check(maps: &[&VmMap]) {
    // pa -> (slots seen, the anon's strong count)
    let mut refs: HashMap<u64, (usize, usize)> = HashMap::new();
    for vm in maps {
        let mut prev_end = VM_MIN_ADDRESS;
        for e in &vm.entries {
            assert!(e.start % P == 0 && e.end % P == 0, "unaligned entry {:#x}-{:#x}", e.start, e.end);
            assert!(e.start >= prev_end && e.start < e.end, "entries out of order at {:#x}", e.start);
            assert!(e.end <= VM_MAXUSER_ADDRESS);
            assert!(e.maxprot.contains(e.prot) && e.maxprot == e.backing.maxprot());
            if let Backing::Wired { .. } = e.backing {
                assert_eq!(e.npages(), 1);
                assert!(!e.amap.is_allocated());
            }
            assert!(e.amap.nslots() == 0 || e.amap.nslots() == e.npages(), "amap size");
            assert_eq!(e.amap.nused(), e.amap.iter().count());
            for (_, anon) in e.amap.iter() {
                assert!(sim::is_allocated(anon.pa()), "anon on a free page");
                let r = refs.entry(anon.pa()).or_insert((0, Arc::strong_count(anon)));
                r.0 += 1;
            }
            prev_end = e.end;
        }
        assert_eq!(vm.resident(), vm.entries.iter().map(|e| e.amap.nused()).sum::<usize>());
        for (va, pa, prot) in sim::mappings(vm.pmap()) {
            let i = vm.lookup(va).unwrap_or_else(|| panic!("pmap maps {va:#x} outside any entry"));
            let e = &vm.entries[i];
            assert!(e.prot.contains(prot), "mapping {va:#x} {prot:?} beyond entry {:?}", e.prot);
            match e.backing {
                Backing::Wired { pa: wpa } => assert_eq!(pa, wpa),
                _ => {
                    let anon =
                        e.amap.get(e.slot_of(va)).unwrap_or_else(|| panic!("{va:#x} mapped without anon"));
                    assert_eq!(anon.pa(), pa, "{va:#x} mapped to the wrong page");
                    if Arc::strong_count(anon) > 1 {
                        assert!(!prot.contains(VmProt::WRITE), "shared anon writable at {va:#x}");
                    }
                }
            }
        }
    }
    for (pa, (seen, count)) in &refs {
        assert_eq!(seen, count, "anon {pa:#x}: {seen} slots but reference count {count}");
    }
    assert_eq!(sim::nallocated(), refs.len() + sim::nwired(), "page accounting");
    for pm in sim::pmaps() {
        if !maps.iter().any(|vm| vm.pmap() == pm) {
            assert!(sim::mappings(pm).is_empty(), "pmap {pm} of no map has mappings");
        }
    }
}

/// Everything observable about a map and its pmap, to show an operation
/// that failed changed nothing.
pub(crate) type Snapshot = (Vec<(u64, u64, VmProt)>, Vec<(u64, u64, VmProt)>, usize, usize);

pub(crate) fn snapshot(vm: &VmMap) -> Snapshot {
    (entries(vm), sim::mappings(vm.pmap()), vm.resident(), sim::nallocated())
}

#[test]
fn maps_can_be_shared_between_cpus() {
    // The kernel keeps a map behind its own lock, reached from any CPU.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<VmMap>();
    send_sync::<Backing>();
}
