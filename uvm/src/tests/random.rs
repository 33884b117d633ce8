//! Randomized test: map, unmap, protect, faults, fork and purge mixed on
//! several maps, against a page-by-page model of what each process should
//! see, under page and heap exhaustion. After every step: the invariants
//! of [`check`], the map's pages against the model, and the page count.

use std::collections::BTreeMap;

use super::*;
use crate::FaultError;
use crate::sim::{pa_of, user_exec, user_read, user_write, with_heap_limit};
use crate::uvm_map::VM_MMAP_BASE;
use sys::errno::{EACCES, ENOMEM};

const PS: usize = PAGE_SIZE as usize;
/// Pages of simulated RAM: few enough that faults run out now and then.
const RAM: usize = 96;
const MAXMAPS: usize = 5;
const WIRED_FILL: u8 = 0x5a;

/// A small deterministic PRNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone)]
enum Content {
    Zero,
    /// Image bytes from this offset on.
    Image(usize),
    Wired,
    Data(Box<[u8; PS]>),
}

impl Content {
    fn bytes(&self) -> [u8; PS] {
        let mut page = [0u8; PS];
        match self {
            Content::Zero => {}
            Content::Image(off) => {
                if *off < IMAGE.len() {
                    let n = (IMAGE.len() - off).min(PS);
                    page[..n].copy_from_slice(&IMAGE[*off..off + n]);
                }
            }
            Content::Wired => page.fill(WIRED_FILL),
            Content::Data(d) => page = **d,
        }
        page
    }
}

#[derive(Clone)]
struct Page {
    prot: VmProt,
    maxprot: VmProt,
    content: Content,
}

/// What one process should see: its pages by address.
type Model = BTreeMap<u64, Page>;

struct Proc {
    vm: VmMap,
    model: Model,
}

const PROTS: [VmProt; 6] = [VmProt::NONE, VmProt::READ, VmProt::RW, VmProt::RX, VmProt::RWX, VmProt::EXECUTE];

/// Two regions: around BASE for fixed work, and where non-fixed maps land.
fn random_range(rng: &mut Rng, maxpages: u64) -> (u64, u64) {
    let region = if rng.chance(75) { BASE } else { VM_MMAP_BASE };
    let start = region + rng.below(40) * P;
    (start, (1 + rng.below(maxpages)) * P)
}

fn pages_in(start: u64, len: u64) -> impl Iterator<Item = u64> {
    (start..start + len).step_by(PS)
}

/// The map's entries page by page must be exactly the model's pages.
fn check_model(p: &Proc) {
    let mut got = Vec::new();
    for (s, e, prot) in p.vm.entries() {
        got.extend(pages_in(s, e - s).map(|va| (va, prot)));
    }
    let want: Vec<(u64, VmProt)> = p.model.iter().map(|(&va, pg)| (va, pg.prot)).collect();
    assert_eq!(got, want);
}

/// Run `op` under `limit` (see `World::heap_limit`).
fn limited<R>(limit: Option<usize>, op: impl FnOnce() -> Result<R, i32>) -> Result<R, i32> {
    match limit {
        Some(n) => with_heap_limit(n, op),
        None => op(),
    }
}

/// How often each outcome was seen, to show the run covered them.
#[derive(Debug, Default)]
struct Seen {
    ok_access: usize,
    no_entry: usize,
    protection: usize,
    no_memory: usize,
    cow: u64,
    heap_enomem: usize,
    hole_enomem: usize,
    eacces: usize,
    forks: usize,
    exits: usize,
}

struct World {
    rng: Rng,
    procs: Vec<Proc>,
    wired: u64,
    seen: Seen,
}

impl World {
    fn step(&mut self) {
        let n = self.procs.len();
        let k = self.rng.below(n as u64) as usize;
        match self.rng.below(100) {
            0..11 => self.op_map(k),
            11..19 => self.op_map_anywhere(k),
            19..21 => self.op_map_wired(k),
            21..27 => self.op_unmap(k),
            27..37 => self.op_protect(k),
            37..93 => self.op_access(k),
            93..97 => self.op_fork(k),
            97 => self.op_exit(k),
            98 => self.op_purge_reuse(k),
            _ => self.op_limit(),
        }
    }

    /// Mostly read-write, so that there is something to copy on write.
    fn prot(&mut self) -> VmProt {
        if self.rng.chance(50) { VmProt::RW } else { PROTS[self.rng.below(PROTS.len() as u64) as usize] }
    }

    /// A range starting mostly at a page the process has mapped.
    fn pick(&mut self, k: usize, maxpages: u64) -> (u64, u64) {
        let (start, len) = random_range(&mut self.rng, maxpages);
        let model = &self.procs[k].model;
        if model.is_empty() || self.rng.chance(20) {
            return (start, len);
        }
        let i = self.rng.below(model.len() as u64) as usize;
        let va = *model.keys().nth(i).unwrap();
        (va, len)
    }

    /// Sometimes a small heap limit for the next operation: ENOMEM is then
    /// allowed, and must have changed nothing.
    fn heap_limit(&mut self) -> Option<usize> {
        self.rng.chance(10).then(|| self.rng.below(4) as usize)
    }

    fn op_map(&mut self, k: usize) {
        let (start, len) = random_range(&mut self.rng, 6);
        let prot = self.prot();
        let image_off = self.rng.chance(40).then(|| self.rng.below(3 * P) as usize);
        let backing = match image_off {
            Some(off) => Backing::Image { data: &IMAGE, off },
            None => Backing::Zero,
        };
        let snap = snapshot(&self.procs[k].vm);
        let limit = self.heap_limit();
        let vm = &mut self.procs[k].vm;
        let r = limited(limit, || vm.map::<Sim>(start, len, prot, backing, true));
        let heap_limited = limit.is_some();
        let p = &mut self.procs[k];
        match r {
            Ok(va) => assert_eq!(va, start),
            Err(e) => {
                assert!(heap_limited && e == ENOMEM, "map: {e}");
                self.seen.heap_enomem += 1;
                assert_eq!(snapshot(&p.vm), snap);
                return;
            }
        }
        for (i, va) in pages_in(start, len).enumerate() {
            let content = match image_off {
                Some(off) => Content::Image(off + i * PS),
                None => Content::Zero,
            };
            p.model.insert(va, Page { prot, maxprot: VmProt::RWX, content });
        }
    }

    fn op_map_anywhere(&mut self, k: usize) {
        let (hint, len) = random_range(&mut self.rng, 4);
        let hint = if self.rng.chance(50) { hint } else { 0 };
        let p = &mut self.procs[k];
        let va = p.vm.map::<Sim>(hint, len, VmProt::RW, Backing::Zero, false).unwrap();
        let free = |m: &Model, s: u64| pages_in(s, len).all(|va| !m.contains_key(&va));
        assert!(free(&p.model, va), "map put {va:#x} over mapped pages");
        if hint != 0 && free(&p.model, hint) {
            assert_eq!(va, hint);
        }
        for va in pages_in(va, len) {
            p.model.insert(va, Page { prot: VmProt::RW, maxprot: VmProt::RWX, content: Content::Zero });
        }
    }

    fn op_map_wired(&mut self, k: usize) {
        let (va, _) = random_range(&mut self.rng, 1);
        let prot = if self.rng.chance(50) { VmProt::RX } else { VmProt::READ };
        let p = &mut self.procs[k];
        p.vm.map::<Sim>(va, P, prot, Backing::Wired { pa: self.wired }, true).unwrap();
        p.model.insert(va, Page { prot, maxprot: VmProt::RX, content: Content::Wired });
    }

    fn op_unmap(&mut self, k: usize) {
        let (start, len) = self.pick(k, 6);
        let snap = snapshot(&self.procs[k].vm);
        let limit = self.heap_limit();
        let vm = &mut self.procs[k].vm;
        let r = limited(limit, || vm.unmap::<Sim>(start, len));
        let heap_limited = limit.is_some();
        let p = &mut self.procs[k];
        if let Err(e) = r {
            assert!(heap_limited && e == ENOMEM, "unmap: {e}");
            self.seen.heap_enomem += 1;
            assert_eq!(snapshot(&p.vm), snap);
            return;
        }
        for va in pages_in(start, len) {
            p.model.remove(&va);
        }
    }

    fn op_protect(&mut self, k: usize) {
        let (start, len) = self.pick(k, 4);
        let prot = self.prot();
        let expect = pages_in(start, len)
            .map(|va| match self.procs[k].model.get(&va) {
                None => Err(ENOMEM),
                Some(pg) if !pg.maxprot.contains(prot) => Err(EACCES),
                Some(_) => Ok(()),
            })
            .find(Result::is_err)
            .unwrap_or(Ok(()));
        let snap = snapshot(&self.procs[k].vm);
        let limit = self.heap_limit();
        let vm = &mut self.procs[k].vm;
        let r = limited(limit, || vm.protect::<Sim>(start, len, prot));
        let heap_limited = limit.is_some();
        let p = &mut self.procs[k];
        if r.is_err() {
            assert_eq!(snapshot(&p.vm), snap);
        }
        match (r, expect) {
            (Ok(()), Ok(())) => {
                for va in pages_in(start, len) {
                    p.model.get_mut(&va).unwrap().prot = prot;
                }
            }
            (Err(ENOMEM), Ok(())) => {
                assert!(heap_limited);
                self.seen.heap_enomem += 1;
            }
            (r, expect) => {
                assert_eq!(r, expect);
                match r {
                    Err(EACCES) => self.seen.eacces += 1,
                    _ => self.seen.hole_enomem += 1,
                }
            }
        }
    }

    fn op_access(&mut self, k: usize) {
        let (page, _) = self.pick(k, 1);
        let off = self.rng.below(P);
        let va = page + off;
        let access = match self.rng.below(100) {
            0..45 => VmProt::WRITE,
            45..85 => VmProt::READ,
            _ => VmProt::EXECUTE,
        };
        let short = sim::page_limit() == Some(0) || sim::nfree() == 0;
        let byte = self.rng.next() as u8;
        let p = &mut self.procs[k];
        let expect = match p.model.get(&page) {
            None => Err(FaultError::NoEntry),
            Some(pg) if !pg.prot.contains(access) => Err(FaultError::Protection),
            Some(_) => Ok(()),
        };
        let r = match access {
            VmProt::WRITE => user_write(&mut p.vm, va, byte).map(|()| None),
            VmProt::READ => user_read(&mut p.vm, va).map(Some),
            _ => user_exec(&mut p.vm, va).map(Some),
        };
        match (r, expect) {
            (Ok(read), Ok(())) => {
                self.seen.ok_access += 1;
                let pg = p.model.get_mut(&page).unwrap();
                let mut bytes = pg.content.bytes();
                match read {
                    Some(b) => assert_eq!(b, bytes[off as usize], "read {va:#x}"),
                    None => {
                        bytes[off as usize] = byte;
                        pg.content = Content::Data(Box::new(bytes));
                    }
                }
                // The whole page, as the process sees it now.
                let pa = pa_of(&p.vm, page).unwrap();
                assert!(sim::page(pa) == pg.content.bytes(), "page {page:#x} differs from the model");
            }
            (Err(FaultError::NoMemory), Ok(())) => {
                assert!(short, "NoMemory with pages to spare");
                self.seen.no_memory += 1;
            }
            (r, expect) => {
                assert_eq!(r.map(drop), expect);
                match expect {
                    Err(FaultError::NoEntry) => self.seen.no_entry += 1,
                    _ => self.seen.protection += 1,
                }
            }
        }
    }

    fn op_fork(&mut self, k: usize) {
        if self.procs.len() >= MAXMAPS {
            return;
        }
        let pm = sim::pmap();
        let snap = snapshot(&self.procs[k].vm);
        let limit = self.heap_limit();
        let vm = &mut self.procs[k].vm;
        let r = limited(limit, || vm.fork::<Sim>(pm));
        let heap_limited = limit.is_some();
        match r {
            Ok(vm) => {
                let model = self.procs[k].model.clone();
                self.procs.push(Proc { vm, model });
                self.seen.forks += 1;
            }
            Err(e) => {
                assert!(heap_limited && e == ENOMEM);
                self.seen.heap_enomem += 1;
                assert_eq!(snapshot(&self.procs[k].vm), snap);
                Sim::pmap_destroy(pm);
            }
        }
    }

    fn op_exit(&mut self, k: usize) {
        if self.procs.len() > 1 {
            let p = self.procs.swap_remove(k);
            self.seen.cow += p.vm.cow_copies();
            self.seen.exits += 1;
            destroy(p.vm);
        }
    }

    fn op_purge_reuse(&mut self, k: usize) {
        let p = &mut self.procs[k];
        p.vm.purge::<Sim>();
        p.model.clear();
    }

    fn op_limit(&mut self) {
        let limit = self.rng.chance(30).then(|| self.rng.below(3) as usize);
        sim::set_page_limit(limit);
    }

    fn check(&self) {
        let maps: Vec<&VmMap> = self.procs.iter().map(|p| &p.vm).collect();
        check(&maps);
        for p in &self.procs {
            check_model(p);
        }
    }
}

fn run(seed: u64, steps: usize) -> Seen {
    let free = setup(RAM);
    let wired = sim::wired_alloc(WIRED_FILL);
    let mut w = World {
        rng: Rng(seed),
        procs: vec![Proc { vm: new_map(), model: Model::new() }],
        wired,
        seen: Seen::default(),
    };
    for _ in 0..steps {
        w.step();
        w.check();
    }
    sim::set_page_limit(None);
    for p in w.procs.drain(..) {
        w.seen.cow += p.vm.cow_copies();
        destroy(p.vm);
    }
    sim::wired_free(wired);
    assert_baseline(free);
    w.seen
}

/// A long run must have met every outcome.
fn assert_covered(seen: &Seen) {
    println!("{seen:?}");
    let Seen {
        ok_access,
        no_entry,
        protection,
        no_memory,
        cow,
        heap_enomem,
        hole_enomem,
        eacces,
        forks,
        exits,
    } = *seen;
    for (what, n) in [
        ("ok", ok_access),
        ("NoEntry", no_entry),
        ("Protection", protection),
        ("NoMemory", no_memory),
        ("COW", cow as usize),
        ("heap ENOMEM", heap_enomem),
        ("hole ENOMEM", hole_enomem),
        ("EACCES", eacces),
        ("fork", forks),
        ("exit", exits),
    ] {
        assert!(n > 0, "no {what} in the run");
    }
}

#[test]
fn random_ops_seed_1() {
    assert_covered(&run(1, 5000));
}

#[test]
fn random_ops_seed_2() {
    assert_covered(&run(0xdead_beef, 5000));
}

#[test]
fn random_ops_seed_3() {
    assert_covered(&run(0x0123_4567_89ab_cdef, 5000));
}

#[test]
fn random_ops_many_seeds() {
    for seed in 100..140 {
        run(seed, 600);
    }
}
