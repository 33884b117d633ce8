//! uvmspace_fork and copy-on-write; uvm_purge.

use super::*;
use crate::FaultError;
use crate::sim::{pa_of, user_read, user_write, with_heap_limit};
use sys::errno::ENOMEM;

#[test]
fn cow_isolation_parent_writes_first() {
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, 2 * P, VmProt::RW);
    user_write(&mut parent, BASE, 0xa).unwrap();
    user_write(&mut parent, BASE + P, 0xb).unwrap();
    let pa = pa_of(&parent, BASE).unwrap();
    let mut child = parent.fork::<Sim>(sim::pmap()).unwrap();
    // The parent lost write access; the child's pmap starts empty.
    assert_eq!(sim::mapping(parent.pmap(), BASE), Some((pa, VmProt::READ)));
    assert!(sim::mappings(child.pmap()).is_empty());
    assert_eq!(sim::nallocated(), 2);
    check(&[&parent, &child]);
    // Reading shares the very same physical page, read-only.
    assert_eq!(user_read(&mut child, BASE), Ok(0xa));
    assert_eq!(sim::mapping(child.pmap(), BASE), Some((pa, VmProt::READ)));
    assert_eq!(sim::nallocated(), 2);
    // The parent's write copies; the child keeps the old contents.
    user_write(&mut parent, BASE, 0x1).unwrap();
    assert_eq!(parent.cow_copies(), 1);
    assert_ne!(pa_of(&parent, BASE), Some(pa));
    assert_eq!(user_read(&mut child, BASE), Ok(0xa));
    assert_eq!(user_read(&mut parent, BASE), Ok(0x1));
    assert_eq!(sim::nallocated(), 3);
    check(&[&parent, &child]);
    // The child is now the page's only holder: its write copies nothing
    // and upgrades the mapping in place.
    user_write(&mut child, BASE, 0x2).unwrap();
    assert_eq!(child.cow_copies(), 0);
    assert_eq!(sim::mapping(child.pmap(), BASE), Some((pa, VmProt::RW)));
    assert_eq!((user_read(&mut parent, BASE), user_read(&mut child, BASE)), (Ok(0x1), Ok(0x2)));
    assert_eq!(sim::nallocated(), 3);
    check(&[&parent, &child]);
    destroy(child);
    assert_eq!(sim::nallocated(), 2);
    destroy(parent);
    assert_baseline(free);
}

#[test]
fn cow_isolation_child_writes_first() {
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, P, VmProt::RW);
    user_write(&mut parent, BASE + 1, 0xa).unwrap();
    let mut child = parent.fork::<Sim>(sim::pmap()).unwrap();
    user_write(&mut child, BASE + 1, 0xc).unwrap();
    assert_eq!(child.cow_copies(), 1);
    assert_eq!(user_read(&mut parent, BASE + 1), Ok(0xa));
    // The rest of the page came along with the copy.
    user_write(&mut parent, BASE + 2, 0xd).unwrap();
    assert_eq!(parent.cow_copies(), 0);
    assert_eq!(user_read(&mut child, BASE + 2), Ok(0));
    assert_eq!(user_read(&mut child, BASE + 1), Ok(0xc));
    check(&[&parent, &child]);
    // A page first touched after the fork is the toucher's alone.
    zero(&mut parent, BASE + P, P, VmProt::RW);
    zero(&mut child, BASE + P, P, VmProt::RW);
    user_write(&mut child, BASE + P, 5).unwrap();
    assert_eq!(user_read(&mut parent, BASE + P), Ok(0));
    check(&[&parent, &child]);
    destroy(parent);
    destroy(child);
    assert_baseline(free);
}

#[test]
fn cow_when_the_other_holder_exits_meanwhile() {
    // The parent finds the page shared and copies it; while it waits for
    // the new page, the child exits on another CPU. The parent's drop of
    // the old page is then the last reference, and must free it.
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, P, VmProt::RW);
    user_write(&mut parent, BASE, 1).unwrap();
    let old = pa_of(&parent, BASE).unwrap();
    let mut child = parent.fork::<Sim>(sim::pmap()).unwrap();
    user_read(&mut child, BASE).unwrap();
    sim::on_next_pagealloc(move || destroy(child));
    user_write(&mut parent, BASE, 2).unwrap();
    assert_eq!(parent.cow_copies(), 1);
    assert!(!sim::is_allocated(old));
    assert_eq!(sim::nallocated(), 1);
    check(&[&parent]);
    destroy(parent);
    assert_baseline(free);
}

#[test]
fn three_generations() {
    let free = setup(32);
    let mut g0 = new_map();
    zero(&mut g0, BASE, 3 * P, VmProt::RW);
    for i in 0..3 {
        user_write(&mut g0, BASE + i * P, 10 + i as u8).unwrap();
    }
    let mut g1 = g0.fork::<Sim>(sim::pmap()).unwrap();
    let mut g2 = g1.fork::<Sim>(sim::pmap()).unwrap();
    assert_eq!(sim::nallocated(), 3);
    let shared = pa_of(&g0, BASE).unwrap();
    {
        let e = &g2.entries[0];
        assert_eq!(Arc::strong_count(e.amap.get(0).unwrap()), 3);
    }
    check(&[&g0, &g1, &g2]);
    // Page 0: everyone reads the one page. Page 1: each generation writes
    // its own value. Page 2: only the middle one writes.
    for vm in [&mut g0, &mut g1, &mut g2] {
        assert_eq!(user_read(vm, BASE), Ok(10));
        assert_eq!(pa_of(vm, BASE), Some(shared));
    }
    for (n, vm) in [&mut g0, &mut g1, &mut g2].into_iter().enumerate() {
        user_write(vm, BASE + P, 20 + n as u8).unwrap();
    }
    user_write(&mut g1, BASE + 2 * P, 30).unwrap();
    for (n, vm) in [&mut g0, &mut g1, &mut g2].into_iter().enumerate() {
        assert_eq!(user_read(vm, BASE + P), Ok(20 + n as u8));
        assert_eq!(user_read(vm, BASE + 2 * P), Ok(if n == 1 { 30 } else { 12 }));
    }
    // Two copies of page 1 (the last writer got the original), one of
    // page 2; page 0 still shared by all three.
    assert_eq!(g0.cow_copies() + g1.cow_copies() + g2.cow_copies(), 3);
    assert_eq!(sim::nallocated(), 6);
    check(&[&g0, &g1, &g2]);
    // The shared pages go only with their last holder.
    destroy(g0);
    assert_eq!(sim::nallocated(), 5);
    assert!(sim::is_allocated(shared));
    check(&[&g1, &g2]);
    let mut g3 = g2.fork::<Sim>(sim::pmap()).unwrap();
    destroy(g2);
    check(&[&g1, &g3]);
    destroy(g1);
    assert!(sim::is_allocated(shared));
    assert_eq!(user_read(&mut g3, BASE), Ok(10));
    assert_eq!(user_read(&mut g3, BASE + P), Ok(22));
    check(&[&g3]);
    destroy(g3);
    assert_baseline(free);
}

#[test]
fn shared_pages_freed_at_last_unmap() {
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, 4 * P, VmProt::RW);
    for i in 0..4 {
        user_write(&mut parent, BASE + i * P, 1).unwrap();
    }
    let mut child = parent.fork::<Sim>(sim::pmap()).unwrap();
    user_read(&mut child, BASE + P).unwrap();
    parent.unmap::<Sim>(BASE, 2 * P).unwrap();
    assert_eq!(sim::nallocated(), 4);
    check(&[&parent, &child]);
    child.unmap::<Sim>(BASE + P, 2 * P).unwrap();
    // Page 1 had no holder left; page 2 is still the parent's.
    assert_eq!(sim::nallocated(), 3);
    check(&[&parent, &child]);
    // Page 0 is the child's alone now: a write takes it over, no copy.
    user_write(&mut child, BASE, 2).unwrap();
    assert_eq!(child.cow_copies(), 0);
    check(&[&parent, &child]);
    destroy(child);
    assert_eq!(sim::nallocated(), 2);
    destroy(parent);
    assert_baseline(free);
}

#[test]
fn fork_write_protects_once_per_writable_entry() {
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, 2 * P, VmProt::RW);
    zero(&mut parent, BASE + 4 * P, P, VmProt::READ);
    zero(&mut parent, BASE + 8 * P, 2 * P, VmProt::RWX);
    zero(&mut parent, BASE + 12 * P, 2 * P, VmProt::RW);
    user_write(&mut parent, BASE, 1).unwrap();
    user_read(&mut parent, BASE + 4 * P).unwrap();
    user_write(&mut parent, BASE + 9 * P, 1).unwrap();
    let c = sim::counters();
    let child = parent.fork::<Sim>(sim::pmap()).unwrap();
    // Two writable entries have pages (the last has none): two calls, no
    // page taken, nothing entered.
    let d = sim::counters();
    assert_eq!((d.protects - c.protects, d.enters, d.removes), (2, c.enters, c.removes));
    assert_eq!(sim::mapping(parent.pmap(), BASE + 9 * P).unwrap().1, VmProt::RX);
    assert_eq!(sim::mapping(parent.pmap(), BASE + 4 * P).unwrap().1, VmProt::READ);
    assert_eq!(child.resident(), 3);
    assert_eq!(entries(&child), entries(&parent));
    check(&[&parent, &child]);
    destroy(parent);
    destroy(child);
    assert_baseline(free);
}

#[test]
fn fork_heap_exhaustion_changes_nothing() {
    let free = setup(16);
    let mut parent = new_map();
    for i in 0..4 {
        zero(&mut parent, BASE + 2 * i * P, P, VmProt::RW);
        user_write(&mut parent, BASE + 2 * i * P, i as u8).unwrap();
    }
    let snap = snapshot(&parent);
    let c = sim::counters();
    let mut failures = 0;
    let child = loop {
        let pm = sim::pmap();
        match with_heap_limit(failures, || parent.fork::<Sim>(pm)) {
            Ok(child) => break child,
            Err(e) => {
                assert_eq!(e, ENOMEM);
                assert_eq!(snapshot(&parent), snap);
                assert_eq!(sim::counters(), c);
                Sim::pmap_destroy(pm);
                check(&[&parent]);
                failures += 1;
            }
        }
    };
    // The entry vector and four slot arrays: five chances to fail.
    assert_eq!(failures, 5);
    check(&[&parent, &child]);
    destroy(child);
    destroy(parent);
    assert_baseline(free);
}

#[test]
fn fork_under_page_exhaustion() {
    let free = setup(16);
    let mut parent = new_map();
    zero(&mut parent, BASE, 2 * P, VmProt::RW);
    user_write(&mut parent, BASE, 7).unwrap();
    user_write(&mut parent, BASE + P, 8).unwrap();
    sim::set_page_limit(Some(0));
    // Fork itself takes no page.
    let mut child = parent.fork::<Sim>(sim::pmap()).unwrap();
    check(&[&parent, &child]);
    // Reads share; writes need a copy and fail, changing nothing.
    assert_eq!(user_read(&mut child, BASE), Ok(7));
    let (ps, cs) = (snapshot(&parent), snapshot(&child));
    assert_eq!(user_write(&mut child, BASE, 1), Err(FaultError::NoMemory));
    assert_eq!(user_write(&mut parent, BASE + P, 1), Err(FaultError::NoMemory));
    assert_eq!((snapshot(&parent), snapshot(&child)), (ps, cs));
    assert_eq!(sim::nallocated(), 2);
    check(&[&parent, &child]);
    // One page comes back: the child copies, and the parent, sole holder
    // again, writes in place.
    sim::set_page_limit(Some(1));
    user_write(&mut child, BASE, 1).unwrap();
    user_write(&mut parent, BASE, 2).unwrap();
    assert_eq!(user_write(&mut parent, BASE + P, 1), Err(FaultError::NoMemory));
    assert_eq!((user_read(&mut parent, BASE), user_read(&mut child, BASE)), (Ok(2), Ok(1)));
    assert_eq!(sim::nallocated(), 3);
    check(&[&parent, &child]);
    sim::set_page_limit(None);
    destroy(parent);
    destroy(child);
    assert_baseline(free);
}

#[test]
fn purge_is_one_flush() {
    let free = setup(64);
    let mut vm = new_map();
    zero(&mut vm, BASE, 32 * P, VmProt::RW);
    for i in 0..32 {
        user_write(&mut vm, BASE + i * P, 1).unwrap();
    }
    let mut child = vm.fork::<Sim>(sim::pmap()).unwrap();
    for i in 0..16 {
        user_write(&mut child, BASE + i * P, 2).unwrap();
    }
    assert_eq!(sim::nallocated(), 48);
    // As exit does it: the pmap is unloaded before the teardown.
    Sim::pmap_activate(vm.pmap());
    Sim::pmap_deactivate(vm.pmap());
    let c = sim::counters();
    vm.purge::<Sim>();
    let d = sim::counters();
    assert_eq!(
        (d.purges, d.flushes, d.invalidations, d.removes),
        (c.purges + 1, c.flushes + 1, c.invalidations, c.removes)
    );
    assert!(sim::mappings(vm.pmap()).is_empty());
    assert_eq!(vm.entries().count(), 0);
    // Pages 0..16 were copied by the child: the parent's originals go;
    // 16..32 are still the child's.
    assert_eq!(sim::nallocated(), 32);
    check(&[&vm, &child]);
    // A purged map can be used again.
    zero(&mut vm, BASE, P, VmProt::RW);
    user_write(&mut vm, BASE, 1).unwrap();
    check(&[&vm, &child]);
    destroy(vm);
    destroy(child);
    assert_baseline(free);
}
