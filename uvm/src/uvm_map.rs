//! Address-space maps (OpenBSD's `vm_map`): `uvm_map`, `uvm_unmap`,
//! `uvm_map_protect`, `uvmspace_fork`, `uvm_purge`.
//!
//! A map is an ordered list of entries (`vm_map_entry`), each a page-aligned
//! range `[start, end)` with a protection, a maximum protection, what backs
//! its pages before they are touched ([`Backing`]) and an amap holding the
//! anons of the pages touched so far. The pmap only ever maps pages that an
//! amap slot (or a `Wired` entry) provides, with at most the entry's
//! protection, and never writable while the anon is shared; every
//! operation keeps that true, so the pmap can be rebuilt from the map at
//! any time by faulting.
//!
//! No locking here: the kernel holds the map's sleeping lock around every
//! call (threads of one process share the map). Maps of different
//! processes share anons after fork; only the anons' reference counts are
//! touched across maps, and those are atomic.
//!
//! Entries live in a vector sorted by address rather than a tree: lookups
//! are binary searches, processes have tens of entries, and a vector can be
//! grown fallibly, which lets fork and map report ENOMEM when the kernel
//! heap is exhausted instead of panicking.

use alloc::vec::Vec;

use sys::errno::{EACCES, EINVAL, ENOMEM};
use sys::vmparam;

use crate::UvmEnv;
use crate::param::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use crate::pmap::{PmapRef, VmProt};
use crate::uvm_amap::{Slots, VmAmap};

pub(crate) const VM_MIN_ADDRESS: u64 = vmparam::VM_MIN_ADDRESS as u64;
pub(crate) const VM_MAXUSER_ADDRESS: u64 = vmparam::VM_MAXUSER_ADDRESS as u64;
pub(crate) const VM_MMAP_BASE: u64 = vmparam::VM_MMAP_BASE as u64;

/// What backs an entry's pages before they are first touched.
#[derive(Clone)]
pub enum Backing {
    /// Zero-fill on demand (anonymous memory, bss, stack).
    Zero,
    /// The bytes of an executable image resident in kernel memory (the
    /// ramdisk): page i of the entry is filled from
    /// `data[off + i*PAGE_SIZE ..]`, clipped to `data.len()`, the rest zero.
    /// Private: pages are copied into anons on first touch. For an ELF
    /// segment, `data` should end where the segment's file bytes end, so
    /// that the bss part of its last page reads as zero.
    Image { data: &'static [u8], off: usize },
    /// One shared physical page the kernel owns, never freed by uvm (the
    /// signal trampoline). The entry is exactly one page.
    Wired { pa: u64 },
}

impl Backing {
    /// The most an entry with this backing may ever allow.
    pub fn maxprot(&self) -> VmProt {
        match self {
            Backing::Zero | Backing::Image { .. } => VmProt::RWX,
            // The page is shared by every process: never writable.
            Backing::Wired { .. } => VmProt::RX,
        }
    }

    /// The backing of the part of an entry that starts `delta` bytes in.
    fn advance(&self, delta: u64) -> Backing {
        match *self {
            Backing::Image { data, off } => Backing::Image { data, off: off.saturating_add(delta as usize) },
            ref other => other.clone(),
        }
    }

    /// Whether an entry backed by `next` of `len` bytes can follow an entry
    /// backed by `self` of `len` bytes as a single entry.
    fn continues_into(&self, len: u64, next: &Backing) -> bool {
        match (self, next) {
            (Backing::Zero, Backing::Zero) => true,
            (Backing::Image { data: d1, off: o1 }, Backing::Image { data: d2, off: o2 }) => {
                core::ptr::eq(*d1, *d2) && o1.checked_add(len as usize) == Some(*o2)
            }
            _ => false,
        }
    }
}

/// One mapped range (OpenBSD's `vm_map_entry`).
pub(crate) struct VmMapEntry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) prot: VmProt,
    pub(crate) maxprot: VmProt,
    pub(crate) backing: Backing,
    pub(crate) amap: VmAmap,
}

impl VmMapEntry {
    pub(crate) fn npages(&self) -> usize {
        ((self.end - self.start) >> PAGE_SHIFT) as usize
    }

    pub(crate) fn slot_of(&self, va: u64) -> usize {
        ((va - self.start) >> PAGE_SHIFT) as usize
    }

    /// The addresses the pmap may have mappings for in this entry.
    fn mapped_span(&self) -> Option<(u64, u64)> {
        match self.backing {
            Backing::Wired { .. } => Some((self.start, self.end)),
            _ => self.amap.span().map(|(first, last)| {
                (self.start + ((first as u64) << PAGE_SHIFT), self.start + ((last as u64) << PAGE_SHIFT))
            }),
        }
    }
}

/// The union of two optional address spans.
fn span_union(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some((s1, e1)), Some((s2, e2))) => Some((s1.min(s2), e1.max(e2))),
        (x, None) | (None, x) => x,
    }
}

/// `len` rounded up to whole pages, unless that overflows.
fn round_len(len: u64) -> Option<u64> {
    len.checked_add(PAGE_MASK).map(|l| l & !PAGE_MASK)
}

/// `[addr, addr + len)` lies within user space.
fn in_user(addr: u64, len: u64) -> bool {
    addr >= VM_MIN_ADDRESS && addr.checked_add(len).is_some_and(|end| end <= VM_MAXUSER_ADDRESS)
}

/// A user address space: the entries and the pmap that caches them.
pub struct VmMap {
    /// Sorted by address, non-overlapping, each page aligned and non-empty,
    /// all within user space.
    pub(crate) entries: Vec<VmMapEntry>,
    pub(crate) pmap: PmapRef,
    pub(crate) nfaults: u64,
    pub(crate) ncow: u64,
}

impl VmMap {
    /// An empty map over `pmap` (which must have no user mappings).
    /// Allocates nothing.
    pub fn new(pmap: PmapRef) -> VmMap {
        VmMap { entries: Vec::new(), pmap, nfaults: 0, ncow: 0 }
    }

    pub fn pmap(&self) -> PmapRef {
        self.pmap
    }

    /// `(start, end, prot)` of every entry, in address order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u64, VmProt)> + '_ {
        self.entries.iter().map(|e| (e.start, e.end, e.prot))
    }

    /// Pages referenced by this map's anons (a page shared with another
    /// map after fork counts in both).
    pub fn resident(&self) -> usize {
        self.entries.iter().map(|e| e.amap.nused()).sum()
    }

    /// Calls to `fault` on this map (including failed ones).
    pub fn faults(&self) -> u64 {
        self.nfaults
    }

    /// Copy-on-write copies made by faults on this map.
    pub fn cow_copies(&self) -> u64 {
        self.ncow
    }

    /// True if `[addr, addr+len)` is entirely mapped with at least `prot`.
    /// An empty range is accessible if it lies in user space.
    pub fn check(&self, addr: u64, len: u64, prot: VmProt) -> bool {
        let Some(end) = addr.checked_add(len).and_then(round_len) else {
            return false;
        };
        let start = addr & !PAGE_MASK;
        if !in_user(start, end - start) {
            return false;
        }
        let mut cursor = start;
        let mut i = self.first_ending_after(start);
        while cursor < end {
            match self.entries.get(i) {
                Some(e) if e.start <= cursor && e.prot.contains(prot) => cursor = e.end,
                _ => return false,
            }
            i += 1;
        }
        true
    }

    /// Index of the first entry ending above `va` (the one containing `va`
    /// if there is one), or `entries.len()`.
    pub(crate) fn first_ending_after(&self, va: u64) -> usize {
        self.entries.partition_point(|e| e.end <= va)
    }

    /// Index of the first entry starting at or above `va`.
    fn first_starting_at(&self, va: u64) -> usize {
        self.entries.partition_point(|e| e.start < va)
    }

    /// The entry containing `va` (OpenBSD's `uvm_map_lookup_entry`).
    pub(crate) fn lookup(&self, va: u64) -> Option<usize> {
        let i = self.first_ending_after(va);
        self.entries.get(i).filter(|e| e.start <= va).map(|_| i)
    }

    fn is_free(&self, start: u64, end: u64) -> bool {
        self.entries.get(self.first_ending_after(start)).is_none_or(|e| e.start >= end)
    }

    /// The lowest `len` bytes free in `[lo, hi)`.
    fn find_space(&self, lo: u64, hi: u64, len: u64) -> Option<u64> {
        let mut cursor = lo;
        for e in &self.entries[self.first_ending_after(lo)..] {
            if e.start >= cursor && e.start - cursor >= len {
                break;
            }
            // Entries from here on end above `lo` and above each other.
            cursor = e.end;
            if cursor >= hi {
                return None;
            }
        }
        (hi - cursor >= len).then_some(cursor)
    }

    /// Split the entries straddling `start` and `end` there
    /// (`uvm_map_clip_start`/`_end`), so that `[start, end)` is made of
    /// whole entries. All heap is taken first, so on ENOMEM nothing has
    /// changed; on success the entry vector also has room for one more
    /// entry (for `map`'s insertion after a removal).
    fn clip_range(&mut self, start: u64, end: u64) -> Result<(), i32> {
        self.entries.try_reserve(3).map_err(|_| ENOMEM)?;
        let straddles = |at: u64| self.lookup(at).filter(|&i| self.entries[i].start < at);
        let (cs, ce) = (straddles(start), straddles(end));
        let reserve = |i: usize, at: u64| {
            let e = &self.entries[i];
            e.amap.split_reserve(e.slot_of(at)).map_err(|_| ENOMEM)
        };
        let tail_s = cs.map(|i| reserve(i, start)).transpose()?;
        let tail_e = ce.map(|i| reserve(i, end)).transpose()?;
        if let (Some(i), Some(tail)) = (cs, tail_s) {
            self.clip_at(i, start, tail);
        }
        if let Some(tail) = tail_e {
            let i = self.lookup(end).expect("clip: entry vanished");
            self.clip_at(i, end, tail);
        }
        Ok(())
    }

    /// Split entry `i` at `at` (strictly inside it); `tail` is the heap
    /// reserved for the upper half's slots.
    fn clip_at(&mut self, i: usize, at: u64, tail: Slots) {
        let e = &mut self.entries[i];
        debug_assert!(e.start < at && at < e.end);
        let amap = e.amap.split(e.slot_of(at), tail);
        let upper = VmMapEntry {
            start: at,
            end: e.end,
            prot: e.prot,
            maxprot: e.maxprot,
            backing: e.backing.advance(at - e.start),
            amap,
        };
        e.end = at;
        debug_assert!(self.entries.len() < self.entries.capacity());
        self.entries.insert(i + 1, upper);
    }

    /// Merge entries `i` and `i + 1` if they are adjacent and alike. Never
    /// needed for correctness: a failed heap reservation just skips it.
    fn try_merge(&mut self, i: usize) {
        let (head, rest) = self.entries.split_at_mut(i + 1);
        let (a, b) = (&mut head[i], &mut rest[0]);
        if a.end != b.start
            || a.prot != b.prot
            || a.maxprot != b.maxprot
            || !a.backing.continues_into(a.end - a.start, &b.backing)
        {
            return;
        }
        let (na, nb) = (a.npages(), b.npages());
        let bamap = core::mem::replace(&mut b.amap, VmAmap::new());
        match a.amap.join(na, bamap, nb) {
            Ok(()) => {
                a.end = b.end;
                self.entries.remove(i + 1);
            }
            Err(bamap) => b.amap = bamap,
        }
    }

    /// Try to merge each pair `(k, k + 1)` for `k` in `first..=last`.
    fn coalesce(&mut self, first: usize, last: usize) {
        for k in (first..=last).rev() {
            if k + 1 < self.entries.len() {
                self.try_merge(k);
            }
        }
    }

    /// Remove `[start, end)` (page aligned, in user space): clip, one
    /// `pmap_remove` over the part that can be mapped, then drop the anons.
    fn remove_range<E: UvmEnv>(&mut self, start: u64, end: u64) -> Result<(), i32> {
        self.clip_range(start, end)?;
        let (i, j) = (self.first_ending_after(start), self.first_starting_at(end));
        if i == j {
            return Ok(());
        }
        let span = self.entries[i..j].iter().fold(None, |s, e| span_union(s, e.mapped_span()));
        // Unmap before freeing: another CPU must not reach a page through
        // a stale translation once it is back on the free list.
        if let Some((s, e)) = span {
            E::pmap_remove(self.pmap, s, e);
        }
        for mut e in self.entries.drain(i..j) {
            e.amap.release::<E>();
        }
        Ok(())
    }

    /// uvm_map: map `len` bytes (page-rounded) with `prot`.
    ///
    /// `fixed`: exactly at `addr` (page aligned, else EINVAL), replacing
    /// whatever is there (as munmap then map). Not fixed: at `addr` (rounded
    /// up to a page) if that is free and nonzero, else the first free range
    /// at or above `VM_MMAP_BASE`, then below it; always within user space.
    /// Errors: EINVAL (len 0, misaligned fixed address, range outside user
    /// space, a `Wired` entry not exactly one aligned page, unknown prot
    /// bits), EACCES (`prot` exceeds the backing's maxprot), ENOMEM (no room,
    /// or kernel heap exhausted; nothing changed then). Takes no physical
    /// page and makes no pmap call unless `fixed` replaces mapped pages.
    pub fn map<E: UvmEnv>(
        &mut self,
        addr: u64,
        len: u64,
        prot: VmProt,
        backing: Backing,
        fixed: bool,
    ) -> Result<u64, i32> {
        let len = round_len(len).filter(|&l| l != 0).ok_or(EINVAL)?;
        if !prot.is_valid() {
            return Err(EINVAL);
        }
        let maxprot = backing.maxprot();
        if !maxprot.contains(prot) {
            return Err(EACCES);
        }
        if let Backing::Wired { pa } = backing
            && (len != PAGE_SIZE || pa & PAGE_MASK != 0)
        {
            return Err(EINVAL);
        }
        let start = if fixed {
            if addr & PAGE_MASK != 0 || !in_user(addr, len) {
                return Err(EINVAL);
            }
            self.remove_range::<E>(addr, addr + len)?;
            addr
        } else {
            let hint = round_len(addr).filter(|&h| h != 0 && in_user(h, len) && self.is_free(h, h + len));
            let start = hint
                .or_else(|| self.find_space(VM_MMAP_BASE, VM_MAXUSER_ADDRESS, len))
                .or_else(|| self.find_space(VM_MIN_ADDRESS, VM_MAXUSER_ADDRESS, len))
                .ok_or(ENOMEM)?;
            self.entries.try_reserve(1).map_err(|_| ENOMEM)?;
            start
        };
        let i = self.first_starting_at(start);
        self.entries
            .insert(i, VmMapEntry { start, end: start + len, prot, maxprot, backing, amap: VmAmap::new() });
        self.coalesce(i.saturating_sub(1), i);
        Ok(start)
    }

    /// munmap: remove `[addr, addr+len)` (len page-rounded; 0 does nothing,
    /// as on OpenBSD). EINVAL if `addr` is misaligned or the range leaves
    /// user space. Unmapped holes in the range are fine. ENOMEM only if the
    /// kernel heap cannot hold the pieces of a split entry (nothing changed
    /// then). Costs at most one `pmap_remove`.
    pub fn unmap<E: UvmEnv>(&mut self, addr: u64, len: u64) -> Result<(), i32> {
        let len = round_len(len).ok_or(EINVAL)?;
        if addr & PAGE_MASK != 0 || !in_user(addr, len) {
            return Err(EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        self.remove_range::<E>(addr, addr + len)
    }

    /// mprotect: set the protection of `[addr, addr+len)` to `prot`.
    ///
    /// EINVAL if misaligned, outside user space or `prot` has unknown bits;
    /// ENOMEM if any page of the range is unmapped; EACCES if `prot` exceeds
    /// an entry's maxprot; nothing changed on any error. Lowering costs one
    /// `pmap_protect` (which never adds rights, so a read-only COW mapping
    /// stays read-only); raising leaves the pmap alone and the next fault
    /// upgrades the mapping.
    pub fn protect<E: UvmEnv>(&mut self, addr: u64, len: u64, prot: VmProt) -> Result<(), i32> {
        let len = round_len(len).ok_or(EINVAL)?;
        if addr & PAGE_MASK != 0 || !in_user(addr, len) || !prot.is_valid() {
            return Err(EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = addr + len;
        let mut cursor = addr;
        for e in &self.entries[self.first_ending_after(addr)..] {
            if cursor >= end || e.start > cursor {
                break;
            }
            if !e.maxprot.contains(prot) {
                return Err(EACCES);
            }
            cursor = e.end;
        }
        if cursor < end {
            return Err(ENOMEM);
        }
        self.clip_range(addr, end)?;
        let (i, j) = (self.first_ending_after(addr), self.first_starting_at(end));
        let mut lowered = None;
        for e in &mut self.entries[i..j] {
            if !prot.contains(e.prot) {
                lowered = span_union(lowered, e.mapped_span());
            }
            e.prot = prot;
        }
        if let Some((s, e)) = lowered {
            E::pmap_protect(self.pmap, s, e, prot);
        }
        self.coalesce(i.saturating_sub(1), j - 1);
        Ok(())
    }

    /// uvmspace_fork: a copy-on-write copy of this map for a child whose
    /// (empty) pmap is `child_pmap`. Every entry is copied and every anon
    /// shared (reference count +1); then this map's mappings in writable
    /// entries are write-protected, one `pmap_protect` per writable entry
    /// with resident pages, so that both sides copy on their next write.
    /// Takes no physical page and leaves the child's pmap empty (the child
    /// faults its pages in). The heap taken is one vector of entries and
    /// one slot array per entry with resident pages; if it cannot be had,
    /// Err(ENOMEM) with this map unchanged and the partial copy released.
    pub fn fork<E: UvmEnv>(&mut self, child_pmap: PmapRef) -> Result<VmMap, i32> {
        let mut child = VmMap::new(child_pmap);
        child.entries.try_reserve_exact(self.entries.len()).map_err(|_| ENOMEM)?;
        for e in &self.entries {
            let Ok(amap) = e.amap.share() else {
                child.release::<E>();
                return Err(ENOMEM);
            };
            child.entries.push(VmMapEntry {
                start: e.start,
                end: e.end,
                prot: e.prot,
                maxprot: e.maxprot,
                backing: e.backing.clone(),
                amap,
            });
        }
        for e in &self.entries {
            if e.prot.contains(VmProt::WRITE)
                && let Some((s, t)) = e.mapped_span()
            {
                E::pmap_protect(self.pmap, s, t, e.prot.without(VmProt::WRITE));
            }
        }
        Ok(child)
    }

    /// Drop every entry's references without touching the pmap, which
    /// holds no mapping of them (a fork's partial copy).
    fn release<E: UvmEnv>(&mut self) {
        for mut e in core::mem::take(&mut self.entries) {
            e.amap.release::<E>();
        }
    }

    /// uvm_purge (exit teardown): `pmap_purge` first (precondition: the
    /// pmap is loaded on no CPU; one flush, no per-page invalidation), then
    /// drop every entry and anon reference, freeing the pages whose last
    /// reference this was. After it the map is empty, owns no pages and no
    /// heap, and may be reused; the caller then `pmap_destroy`s the pmap
    /// (or keeps it, empty, for the map's next life).
    pub fn purge<E: UvmEnv>(&mut self) {
        E::pmap_purge(self.pmap);
        self.release::<E>();
    }
}
