//! uvm_map, uvm_unmap, uvm_map_protect and check.

use super::*;
use crate::FaultError;
use crate::sim::{user_read, user_write, with_heap_limit};
use crate::uvm_map::VM_MMAP_BASE;
use sys::errno::{EACCES, EINVAL, ENOMEM};

#[test]
fn map_fixed_rounds_and_takes_nothing() {
    let free = setup(16);
    let mut vm = new_map();
    assert_eq!(vm.map::<Sim>(BASE, 3 * P - 100, VmProt::RW, Backing::Zero, true), Ok(BASE));
    assert_eq!(vm.map::<Sim>(BASE + 8 * P, 1, VmProt::READ, Backing::Zero, true), Ok(BASE + 8 * P));
    assert_eq!(entries(&vm), [(BASE, BASE + 3 * P, VmProt::RW), (BASE + 8 * P, BASE + 9 * P, VmProt::READ)]);
    // Mapping takes no page and touches no pmap: faults do that.
    assert_eq!(sim::nfree(), free);
    assert_eq!(sim::counters(), sim::Counters::default());
    assert_eq!(vm.resident(), 0);
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn map_errors() {
    let free = setup(16);
    let wired = sim::wired_alloc(0);
    let mut vm = new_map();
    let z = Backing::Zero;
    let top = VM_MAXUSER_ADDRESS;
    assert_eq!(vm.map::<Sim>(BASE, 0, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(BASE, 0, VmProt::RW, z.clone(), false), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(BASE + 1, P, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(0, P, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(top - P, 2 * P, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(top, P, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(!(P - 1), P, VmProt::RW, z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(BASE, u64::MAX, VmProt::RW, z.clone(), false), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(BASE, P, VmProt(8), z.clone(), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(0, top, VmProt::RW, z.clone(), false), Err(ENOMEM));
    let w = |pa| Backing::Wired { pa };
    assert_eq!(vm.map::<Sim>(BASE, P, VmProt::RW, w(wired), true), Err(EACCES));
    assert_eq!(vm.map::<Sim>(BASE, 2 * P, VmProt::RX, w(wired), true), Err(EINVAL));
    assert_eq!(vm.map::<Sim>(BASE, P, VmProt::RX, w(wired + 8), true), Err(EINVAL));
    assert_eq!(entries(&vm), []);
    // Exactly the whole of user space is fine.
    let all = top - VM_MIN_ADDRESS;
    assert_eq!(vm.map::<Sim>(VM_MIN_ADDRESS, all, VmProt::NONE, z.clone(), true), Ok(VM_MIN_ADDRESS));
    assert_eq!(vm.map::<Sim>(0, P, VmProt::RW, z.clone(), false), Err(ENOMEM));
    check(&[&vm]);
    destroy(vm);
    sim::wired_free(wired);
    assert_baseline(free);
}

#[test]
fn map_nonfixed_search() {
    let free = setup(16);
    let mut vm = new_map();
    let z = || Backing::Zero;
    // No hint: the first free range at VM_MMAP_BASE, then the next.
    let a = vm.map::<Sim>(0, 2 * P, VmProt::RW, z(), false).unwrap();
    assert_eq!(a, VM_MMAP_BASE);
    let b = vm.map::<Sim>(0, P, VmProt::READ, z(), false).unwrap();
    assert_eq!(b, VM_MMAP_BASE + 2 * P);
    // A free hint is taken (rounded up to its page); a busy one is not.
    assert_eq!(vm.map::<Sim>(BASE + 5, P, VmProt::READ, z(), false), Ok(BASE + P));
    assert_eq!(vm.map::<Sim>(a + P, P, VmProt::READ, z(), false), Ok(VM_MMAP_BASE + 3 * P));
    // A hole left by an unmap is found again, if big enough.
    vm.unmap::<Sim>(a, 2 * P).unwrap();
    assert_eq!(vm.map::<Sim>(0, 3 * P, VmProt::READ, z(), false), Ok(VM_MMAP_BASE + 4 * P));
    assert_eq!(vm.map::<Sim>(0, 2 * P, VmProt::RX, z(), false), Ok(VM_MMAP_BASE));
    // A hint outside user space is ignored.
    assert_eq!(vm.map::<Sim>(VM_MAXUSER_ADDRESS, P, VmProt::RX, z(), false), Ok(VM_MMAP_BASE + 7 * P));
    check(&[&vm]);
    // With everything from VM_MMAP_BASE up taken, the space below is used,
    // lowest first.
    let rest = VM_MAXUSER_ADDRESS - VM_MMAP_BASE;
    vm.map::<Sim>(VM_MMAP_BASE, rest, VmProt::NONE, z(), true).unwrap();
    assert_eq!(vm.map::<Sim>(0, P, VmProt::RW, z(), false), Ok(VM_MIN_ADDRESS));
    assert_eq!(vm.map::<Sim>(0, 2 * P, VmProt::READ, z(), false), Ok(VM_MIN_ADDRESS + P));
    assert_eq!(vm.map::<Sim>(0, BASE, VmProt::READ, z(), false), Ok(BASE + 2 * P));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

/// Fill pages `[va, va + n*P)` with their page number (and check it later).
fn stamp(vm: &mut VmMap, va: u64, n: u64) {
    for i in 0..n {
        user_write(vm, va + i * P + 7, i as u8 + 1).unwrap();
    }
}

#[test]
fn unmap_splits_entry_in_three() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 5 * P, VmProt::RW);
    stamp(&mut vm, BASE, 5);
    assert_eq!(sim::nallocated(), 5);
    vm.unmap::<Sim>(BASE + 2 * P, P).unwrap();
    assert_eq!(entries(&vm), [(BASE, BASE + 2 * P, VmProt::RW), (BASE + 3 * P, BASE + 5 * P, VmProt::RW)]);
    assert_eq!(sim::nallocated(), 4);
    assert_eq!(vm.resident(), 4);
    assert_eq!(sim::pa_of(&vm, BASE + 2 * P), None);
    check(&[&vm]);
    assert_eq!(user_read(&mut vm, BASE + 2 * P), Err(FaultError::NoEntry));
    for i in [0, 1, 3, 4] {
        assert_eq!(user_read(&mut vm, BASE + i * P + 7), Ok(i as u8 + 1));
    }
    // The pieces fault independently.
    zero(&mut vm, BASE + 2 * P, P, VmProt::RW);
    assert_eq!(user_read(&mut vm, BASE + 2 * P + 7), Ok(0));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn unmap_holes_and_errors() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 2 * P, VmProt::RW);
    zero(&mut vm, BASE + 4 * P, 2 * P, VmProt::READ);
    stamp(&mut vm, BASE, 2);
    user_read(&mut vm, BASE + 5 * P).unwrap();
    assert_eq!(vm.unmap::<Sim>(BASE + 1, P), Err(EINVAL));
    assert_eq!(vm.unmap::<Sim>(0, P), Err(EINVAL));
    assert_eq!(vm.unmap::<Sim>(VM_MAXUSER_ADDRESS - P, 2 * P), Err(EINVAL));
    assert_eq!(vm.unmap::<Sim>(BASE, u64::MAX), Err(EINVAL));
    assert_eq!(vm.unmap::<Sim>(BASE, 0), Ok(()));
    assert_eq!(vm.unmap::<Sim>(BASE + 10 * P, 100 * P), Ok(()));
    assert_eq!(entries(&vm).len(), 2);
    assert_eq!(sim::nallocated(), 3);
    // One unmap over both entries and the hole between: one pmap_remove.
    let before = sim::counters().removes;
    vm.unmap::<Sim>(BASE + P, 4 * P).unwrap();
    assert_eq!(sim::counters().removes, before + 1);
    assert_eq!(entries(&vm), [(BASE, BASE + P, VmProt::RW), (BASE + 5 * P, BASE + 6 * P, VmProt::READ)]);
    assert_eq!(sim::nallocated(), 2);
    check(&[&vm]);
    // Unmapping untouched memory needs no pmap call at all.
    zero(&mut vm, BASE + 20 * P, 4 * P, VmProt::RW);
    let before = sim::counters();
    vm.unmap::<Sim>(BASE + 20 * P, 4 * P).unwrap();
    assert_eq!(sim::counters(), before);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn fixed_map_replaces() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 4 * P, VmProt::RW);
    stamp(&mut vm, BASE, 4);
    let image = Backing::Image { data: &IMAGE, off: 0 };
    assert_eq!(vm.map::<Sim>(BASE + P, 2 * P, VmProt::READ, image, true), Ok(BASE + P));
    assert_eq!(
        entries(&vm),
        [
            (BASE, BASE + P, VmProt::RW),
            (BASE + P, BASE + 3 * P, VmProt::READ),
            (BASE + 3 * P, BASE + 4 * P, VmProt::RW)
        ]
    );
    assert_eq!(sim::nallocated(), 2);
    check(&[&vm]);
    assert_eq!(user_read(&mut vm, BASE + 7), Ok(1));
    assert_eq!(user_read(&mut vm, BASE + P + 7), Ok(IMAGE[7]));
    assert_eq!(user_read(&mut vm, BASE + 2 * P + 7), Ok(IMAGE[P as usize + 7]));
    assert_eq!(user_read(&mut vm, BASE + 3 * P + 7), Ok(4));
    assert_eq!(user_write(&mut vm, BASE + P, 0), Err(FaultError::Protection));
    // Replacing everything, holes included, with one entry.
    zero(&mut vm, BASE - P, 6 * P, VmProt::RW);
    assert_eq!(entries(&vm), [(BASE - P, BASE + 5 * P, VmProt::RW)]);
    assert_eq!(sim::nallocated(), 0);
    assert!(sim::mappings(vm.pmap()).is_empty());
    assert_eq!(user_read(&mut vm, BASE + 7), Ok(0));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn protect_lowers_and_raises() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 4 * P, VmProt::RW);
    stamp(&mut vm, BASE, 4);
    let before = sim::counters();
    vm.protect::<Sim>(BASE + P, 2 * P, VmProt::READ).unwrap();
    assert_eq!(sim::counters().protects, before.protects + 1);
    assert_eq!(
        entries(&vm),
        [
            (BASE, BASE + P, VmProt::RW),
            (BASE + P, BASE + 3 * P, VmProt::READ),
            (BASE + 3 * P, BASE + 4 * P, VmProt::RW)
        ]
    );
    assert_eq!(sim::mapping(vm.pmap(), BASE + P).unwrap().1, VmProt::READ);
    assert_eq!(sim::mapping(vm.pmap(), BASE).unwrap().1, VmProt::RW);
    check(&[&vm]);
    assert_eq!(user_write(&mut vm, BASE + 2 * P, 9), Err(FaultError::Protection));
    assert_eq!(user_read(&mut vm, BASE + 2 * P + 7), Ok(3));
    // Raising leaves the pmap alone and merges the entries back.
    let before = sim::counters();
    vm.protect::<Sim>(BASE + P, 2 * P, VmProt::RW).unwrap();
    assert_eq!(sim::counters(), before);
    assert_eq!(entries(&vm), [(BASE, BASE + 4 * P, VmProt::RW)]);
    assert_eq!(sim::mapping(vm.pmap(), BASE + P).unwrap().1, VmProt::READ);
    // The next write upgrades the mapping in place: the anon is not
    // shared, so no copy.
    let pa = sim::pa_of(&vm, BASE + P).unwrap();
    user_write(&mut vm, BASE + P, 9).unwrap();
    assert_eq!(sim::mapping(vm.pmap(), BASE + P), Some((pa, VmProt::RW)));
    assert_eq!(vm.cow_copies(), 0);
    check(&[&vm]);
    // Lowering to NONE removes the mappings.
    vm.protect::<Sim>(BASE, 4 * P, VmProt::NONE).unwrap();
    assert!(sim::mappings(vm.pmap()).is_empty());
    assert_eq!(user_read(&mut vm, BASE), Err(FaultError::Protection));
    assert_eq!(vm.resident(), 4);
    vm.protect::<Sim>(BASE, 4 * P, VmProt::READ).unwrap();
    assert_eq!(user_read(&mut vm, BASE + P), Ok(9));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn protect_errors_change_nothing() {
    let free = setup(16);
    let wired = sim::wired_alloc(0x5a);
    let mut vm = new_map();
    zero(&mut vm, BASE, 2 * P, VmProt::RW);
    zero(&mut vm, BASE + 3 * P, 2 * P, VmProt::RW);
    vm.map::<Sim>(BASE + 5 * P, P, VmProt::RX, Backing::Wired { pa: wired }, true).unwrap();
    stamp(&mut vm, BASE, 2);
    sim::user_exec(&mut vm, BASE + 5 * P).unwrap();
    let snap = snapshot(&vm);
    let c = sim::counters();
    // A hole at the start, in the middle, at the end.
    assert_eq!(vm.protect::<Sim>(BASE - P, 2 * P, VmProt::READ), Err(ENOMEM));
    assert_eq!(vm.protect::<Sim>(BASE + P, 3 * P, VmProt::READ), Err(ENOMEM));
    assert_eq!(vm.protect::<Sim>(BASE + 3 * P, 4 * P, VmProt::READ), Err(ENOMEM));
    // Write on the wired page is beyond its maxprot.
    assert_eq!(vm.protect::<Sim>(BASE + 3 * P, 3 * P, VmProt::RW), Err(EACCES));
    assert_eq!(vm.protect::<Sim>(BASE + 1, P, VmProt::READ), Err(EINVAL));
    assert_eq!(vm.protect::<Sim>(0, P, VmProt::READ), Err(EINVAL));
    assert_eq!(vm.protect::<Sim>(BASE, P, VmProt(9)), Err(EINVAL));
    assert_eq!(vm.protect::<Sim>(VM_MAXUSER_ADDRESS, P, VmProt::READ), Err(EINVAL));
    assert_eq!(vm.protect::<Sim>(BASE, 0, VmProt::READ), Ok(()));
    assert_eq!(snapshot(&vm), snap);
    assert_eq!(sim::counters(), c);
    // Lowering the wired page is allowed.
    vm.protect::<Sim>(BASE + 5 * P, P, VmProt::READ).unwrap();
    assert_eq!(sim::mapping(vm.pmap(), BASE + 5 * P), Some((wired, VmProt::READ)));
    check(&[&vm]);
    destroy(vm);
    sim::wired_free(wired);
    assert_baseline(free);
}

#[test]
fn check_ranges() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 2 * P, VmProt::RW);
    zero(&mut vm, BASE + 2 * P, P, VmProt::READ);
    zero(&mut vm, BASE + 4 * P, P, VmProt::RW);
    assert!(vm.check(BASE + 10, 2 * P, VmProt::READ));
    assert!(vm.check(BASE, 2 * P, VmProt::RW));
    assert!(!vm.check(BASE, 2 * P + 1, VmProt::RW));
    assert!(!vm.check(BASE, 5 * P, VmProt::READ));
    assert!(vm.check(BASE + 4 * P + 100, 0, VmProt::RW));
    assert!(!vm.check(BASE - 1, 2, VmProt::READ));
    assert!(!vm.check(u64::MAX - 10, 100, VmProt::READ));
    assert!(!vm.check(0, 1, VmProt::NONE));
    destroy(vm);
    assert_baseline(free);
}

/// Run `op` with the heap failing after 0, 1, 2... allocations until it
/// succeeds; each failure must be ENOMEM and leave the map as it was.
fn until_heap_suffices(vm: &mut VmMap, mut op: impl FnMut(&mut VmMap) -> Result<(), i32>) -> usize {
    for n in 0.. {
        let snap = snapshot(vm);
        match with_heap_limit(n, || op(vm)) {
            Ok(()) => return n,
            Err(e) => {
                assert_eq!(e, ENOMEM);
                // All heap is taken before anything changes: not even a
                // split is left behind.
                assert_eq!(snapshot(vm), snap);
                check(&[vm]);
            }
        }
    }
    unreachable!()
}

#[test]
fn heap_exhaustion_in_map_unmap_protect() {
    let free = setup(32);
    let mut vm = new_map();
    let mut failures = 0;
    failures += until_heap_suffices(&mut vm, |vm| {
        vm.map::<Sim>(BASE, 8 * P, VmProt::RW, Backing::Zero, true).map(drop)
    });
    stamp(&mut vm, BASE, 8);
    failures += until_heap_suffices(&mut vm, |vm| vm.protect::<Sim>(BASE + P, P, VmProt::READ));
    failures += until_heap_suffices(&mut vm, |vm| vm.unmap::<Sim>(BASE + 3 * P, 2 * P));
    failures += until_heap_suffices(&mut vm, |vm| {
        vm.map::<Sim>(BASE + 6 * P, P, VmProt::READ, Backing::Zero, true).map(drop)
    });
    failures +=
        until_heap_suffices(&mut vm, |vm| vm.map::<Sim>(0, P, VmProt::READ, Backing::Zero, false).map(drop));
    assert!(failures >= 5, "the heap never failed ({failures})");
    assert_eq!(
        entries(&vm),
        [
            (BASE, BASE + P, VmProt::RW),
            (BASE + P, BASE + 2 * P, VmProt::READ),
            (BASE + 2 * P, BASE + 3 * P, VmProt::RW),
            (BASE + 5 * P, BASE + 6 * P, VmProt::RW),
            (BASE + 6 * P, BASE + 7 * P, VmProt::READ),
            (BASE + 7 * P, BASE + 8 * P, VmProt::RW),
            (VM_MMAP_BASE, VM_MMAP_BASE + P, VmProt::READ),
        ]
    );
    for i in [0, 1, 2, 5, 7] {
        assert_eq!(user_read(&mut vm, BASE + i * P + 7), Ok(i as u8 + 1));
    }
    // A fault whose slot array cannot be had fails cleanly.
    zero(&mut vm, BASE + 20 * P, 4 * P, VmProt::RW);
    let snap = snapshot(&vm);
    assert_eq!(
        with_heap_limit(0, || vm.fault::<Sim>(BASE + 21 * P, VmProt::WRITE)),
        Err(FaultError::NoMemory)
    );
    assert_eq!(snapshot(&vm), snap);
    user_write(&mut vm, BASE + 21 * P, 1).unwrap();
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}
