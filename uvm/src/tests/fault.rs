//! uvm_fault: zero fill, image fill, wired pages, errors.

use super::*;
use crate::FaultError;
use crate::sim::{POISON_ALLOC, user_exec, user_read, user_write, with_heap_limit};

#[test]
fn zero_fill_on_demand() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 3 * P, VmProt::RW);
    assert_eq!(user_read(&mut vm, BASE + P + 5), Ok(0));
    // The allocator hands out poisoned pages: the whole page was zeroed.
    let pa = sim::pa_of(&vm, BASE + P).unwrap();
    assert!(sim::page(pa).iter().all(|&b| b == 0));
    assert_eq!(sim::nallocated(), 1);
    assert_eq!(vm.resident(), 1);
    assert_eq!(vm.faults(), 1);
    // A first read of a private page maps it writable right away: the
    // write needs no second fault.
    user_write(&mut vm, BASE + P + 5, 0x77).unwrap();
    assert_eq!(vm.faults(), 1);
    assert_eq!(user_read(&mut vm, BASE + P + 5), Ok(0x77));
    user_write(&mut vm, BASE + 2 * P, 1).unwrap();
    assert_eq!((sim::nallocated(), vm.resident(), vm.faults()), (2, 2, 2));
    assert_ne!(sim::pa_of(&vm, BASE + 2 * P), Some(pa));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn image_fill_with_partial_last_page() {
    let free = setup(16);
    let mut vm = new_map();
    let image = Backing::Image { data: &IMAGE, off: 0 };
    vm.map::<Sim>(BASE, 4 * P, VmProt::RX, image, true).unwrap();
    for i in 0..4u64 {
        user_exec(&mut vm, BASE + i * P).unwrap();
    }
    let page = |vm: &VmMap, va| sim::page(sim::pa_of(vm, va).unwrap());
    let ps = P as usize;
    assert_eq!(page(&vm, BASE)[..], IMAGE[..ps]);
    assert_eq!(page(&vm, BASE + P)[..], IMAGE[ps..2 * ps]);
    let last = page(&vm, BASE + 2 * P);
    assert_eq!(last[..100], IMAGE[2 * ps..]);
    assert!(last[100..].iter().all(|&b| b == 0));
    assert!(page(&vm, BASE + 3 * P).iter().all(|&b| b == 0));
    assert_eq!(user_write(&mut vm, BASE, 0), Err(FaultError::Protection));
    check(&[&vm]);

    // An offset that is not page aligned, and a split entry: each piece
    // keeps its place in the image.
    let image = Backing::Image { data: &IMAGE, off: 300 };
    vm.map::<Sim>(BASE + 8 * P, 3 * P, VmProt::RW, image, true).unwrap();
    vm.protect::<Sim>(BASE + 9 * P, P, VmProt::READ).unwrap();
    assert_eq!(entries(&vm).len(), 4);
    for i in 0..3u64 {
        user_read(&mut vm, BASE + (8 + i) * P).unwrap();
    }
    assert_eq!(page(&vm, BASE + 8 * P)[..], IMAGE[300..300 + ps]);
    let tail = IMAGE.len() - (300 + ps);
    assert_eq!(page(&vm, BASE + 9 * P)[..tail], IMAGE[300 + ps..]);
    assert!(page(&vm, BASE + 9 * P)[tail..].iter().all(|&b| b == 0));
    // Past the end of the image altogether.
    assert!(page(&vm, BASE + 10 * P).iter().all(|&b| b == 0));
    // Private: a write changes this map's copy, not the image.
    user_write(&mut vm, BASE + 8 * P, 0).unwrap();
    assert_eq!(user_read(&mut vm, BASE + 8 * P), Ok(0));
    let again = Backing::Image { data: &IMAGE, off: 300 };
    vm.map::<Sim>(BASE + 16 * P, P, VmProt::READ, again, true).unwrap();
    assert_eq!(user_read(&mut vm, BASE + 16 * P), Ok(IMAGE[300]));
    assert_ne!(IMAGE[300], 0);
    vm.unmap::<Sim>(BASE + 16 * P, P).unwrap();
    // Protecting it back merges the pieces, image offsets intact.
    vm.protect::<Sim>(BASE + 9 * P, P, VmProt::RW).unwrap();
    assert_eq!(entries(&vm).len(), 2);
    vm.unmap::<Sim>(BASE + 9 * P, P).unwrap();
    zero(&mut vm, BASE + 9 * P, P, VmProt::RW);
    vm.protect::<Sim>(BASE + 9 * P, P, VmProt::READ).unwrap();
    vm.protect::<Sim>(BASE + 9 * P, P, VmProt::RW).unwrap();
    assert_eq!(entries(&vm).len(), 4, "image and zero entries must not merge");
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn fault_errors() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, P, VmProt::READ);
    zero(&mut vm, BASE + P, P, VmProt::RW);
    zero(&mut vm, BASE + 2 * P, P, VmProt::NONE);
    let f = |vm: &mut VmMap, va, access| vm.fault::<Sim>(va, access);
    assert_eq!(f(&mut vm, BASE - 1, VmProt::READ), Err(FaultError::NoEntry));
    assert_eq!(f(&mut vm, BASE + 3 * P, VmProt::READ), Err(FaultError::NoEntry));
    assert_eq!(f(&mut vm, 0, VmProt::READ), Err(FaultError::NoEntry));
    assert_eq!(f(&mut vm, VM_MAXUSER_ADDRESS, VmProt::READ), Err(FaultError::NoEntry));
    assert_eq!(f(&mut vm, u64::MAX, VmProt::READ), Err(FaultError::NoEntry));
    assert_eq!(f(&mut vm, BASE, VmProt::WRITE), Err(FaultError::Protection));
    assert_eq!(f(&mut vm, BASE + P, VmProt::EXECUTE), Err(FaultError::Protection));
    assert_eq!(f(&mut vm, BASE + 2 * P, VmProt::READ), Err(FaultError::Protection));
    assert_eq!(sim::nallocated(), 0);
    assert_eq!(vm.faults(), 8);
    // Only the page of the fault is made accessible: an unaligned address
    // faults its own page.
    f(&mut vm, BASE + P + 123, VmProt::WRITE).unwrap();
    assert_eq!(sim::mappings(vm.pmap()).len(), 1);
    assert!(sim::mapping(vm.pmap(), BASE + P).is_some());
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn spurious_fault_reenters() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, P, VmProt::RW);
    user_write(&mut vm, BASE, 3).unwrap();
    let pa = sim::pa_of(&vm, BASE).unwrap();
    let c = sim::counters();
    vm.fault::<Sim>(BASE, VmProt::WRITE).unwrap();
    vm.fault::<Sim>(BASE, VmProt::READ).unwrap();
    assert_eq!(sim::counters().enters, c.enters + 2);
    assert_eq!(sim::mapping(vm.pmap(), BASE), Some((pa, VmProt::RW)));
    assert_eq!(sim::nallocated(), 1);
    assert_eq!(user_read(&mut vm, BASE), Ok(3));
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn wired_page_is_mapped_and_never_freed() {
    let free = setup(16);
    let wired = sim::wired_alloc(0x5a);
    let mut vm = new_map();
    let sigcode = VM_MAXUSER_ADDRESS - P;
    assert_eq!(vm.map::<Sim>(sigcode, P, VmProt::RX, Backing::Wired { pa: wired }, true), Ok(sigcode));
    assert_eq!(user_exec(&mut vm, sigcode + 10), Ok(0x5a));
    assert_eq!(sim::mapping(vm.pmap(), sigcode), Some((wired, VmProt::RX)));
    assert_eq!(user_write(&mut vm, sigcode, 0), Err(FaultError::Protection));
    assert_eq!(vm.resident(), 0);
    let mut child = vm.fork::<Sim>(sim::pmap()).unwrap();
    assert_eq!(user_exec(&mut child, sigcode), Ok(0x5a));
    assert_eq!(sim::pa_of(&child, sigcode), Some(wired));
    check(&[&vm, &child]);
    // Unmap and purge drop the mappings, never the page (the simulation
    // panics if uvm frees it).
    vm.unmap::<Sim>(sigcode, P).unwrap();
    assert_eq!(sim::pa_of(&vm, sigcode), None);
    destroy(child);
    destroy(vm);
    assert!(sim::is_allocated(wired));
    sim::wired_free(wired);
    assert_baseline(free);
}

#[test]
fn no_memory_changes_nothing() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 4 * P, VmProt::RW);
    user_write(&mut vm, BASE, 1).unwrap();
    let snap = snapshot(&vm);
    // No page.
    sim::set_page_limit(Some(0));
    assert_eq!(vm.fault::<Sim>(BASE + P, VmProt::READ), Err(FaultError::NoMemory));
    assert_eq!(snapshot(&vm), snap);
    check(&[&vm]);
    // A page but no page-table page: the new page goes back.
    sim::set_page_limit(None);
    sim::set_enter_fails(true);
    assert_eq!(vm.fault::<Sim>(BASE + P, VmProt::WRITE), Err(FaultError::NoMemory));
    assert_eq!(snapshot(&vm), snap);
    check(&[&vm]);
    // Even a re-enter of a resident page can fail that way.
    sim::Sim::pmap_remove(vm.pmap(), BASE, BASE + P);
    assert_eq!(vm.fault::<Sim>(BASE, VmProt::READ), Err(FaultError::NoMemory));
    sim::set_enter_fails(false);
    assert_eq!(user_read(&mut vm, BASE), Ok(1));
    // No heap for the first anon of an entry.
    zero(&mut vm, BASE + 8 * P, P, VmProt::RW);
    let snap = snapshot(&vm);
    assert_eq!(with_heap_limit(0, || vm.fault::<Sim>(BASE + 8 * P, VmProt::READ)), Err(FaultError::NoMemory));
    assert_eq!(snapshot(&vm), snap);
    // And it all works once memory is back.
    user_write(&mut vm, BASE + P, 2).unwrap();
    user_write(&mut vm, BASE + 8 * P, 3).unwrap();
    assert_eq!(sim::nallocated(), 3);
    check(&[&vm]);
    destroy(vm);
    assert_baseline(free);
}

#[test]
fn fresh_pages_are_really_filled() {
    // The poison the allocator leaves must never show through.
    let free = setup(8);
    let mut vm = new_map();
    zero(&mut vm, BASE, 2 * P, VmProt::RW);
    let image = Backing::Image { data: &IMAGE[..10], off: 0 };
    vm.map::<Sim>(BASE + 2 * P, P, VmProt::READ, image, true).unwrap();
    for i in 0..3 {
        user_read(&mut vm, BASE + i * P).unwrap();
        let page = sim::page(sim::pa_of(&vm, BASE + i * P).unwrap());
        assert!(!page.contains(&POISON_ALLOC));
    }
    destroy(vm);
    assert_baseline(free);
}

/// Each kind of page-filling fault is reported once to the kernel's
/// counter hook; faults that only re-enter a page, and failed ones, are not.
#[test]
fn fault_kinds_are_reported() {
    let free = setup(16);
    let mut vm = new_map();
    zero(&mut vm, BASE, 2 * P, VmProt::RW);
    let image = Backing::Image { data: &IMAGE, off: 0 };
    vm.map::<Sim>(BASE + 4 * P, 2 * P, VmProt::RX, image, true).unwrap();
    let c = sim::counters();
    user_write(&mut vm, BASE, 1).unwrap();
    user_write(&mut vm, BASE + P, 2).unwrap();
    user_exec(&mut vm, BASE + 4 * P).unwrap();
    // Re-entering a resident page fills nothing.
    vm.fault::<Sim>(BASE, VmProt::READ).unwrap();
    assert_eq!(vm.fault::<Sim>(BASE + 8 * P, VmProt::READ), Err(FaultError::NoEntry));
    let d = sim::counters();
    assert_eq!((d.flt_zero - c.flt_zero, d.flt_text - c.flt_text, d.flt_cow - c.flt_cow), (2, 1, 0));
    let mut child = vm.fork::<Sim>(sim::pmap()).unwrap();
    user_write(&mut child, BASE, 3).unwrap();
    let e = sim::counters();
    assert_eq!((e.flt_zero - d.flt_zero, e.flt_cow - d.flt_cow), (0, 1));
    assert_eq!((e.flt_cow - c.flt_cow) as u64, child.cow_copies() + vm.cow_copies());
    destroy(child);
    destroy(vm);
    assert_baseline(free);
}
