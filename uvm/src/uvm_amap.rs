//! Anonymous maps (OpenBSD's `vm_amap`): the anons of one map entry, one
//! slot per page.
//!
//! An amap belongs to exactly one entry (there is no shared anonymous
//! memory, so no amap is shared); fork gives the child's entry a new amap
//! whose slots refer to the same anons. The slot array is allocated on the
//! first fault in the entry, so a large mapping that is never touched costs
//! no heap, and it is dropped again whenever a split leaves a part empty.
//!
//! Every heap allocation here is fallible (`try_reserve`), so that running
//! out of kernel heap turns into ENOMEM or a failed fault instead of a
//! panic, and leaves the amap as it was.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::UvmEnv;
use crate::uvm_anon::{VmAnon, anon_unref};

/// A slot array: one optional anon per page.
pub(crate) type Slots = Vec<Option<Arc<VmAnon>>>;

/// Heap exhausted.
#[derive(Debug)]
pub(crate) struct NoHeap;

pub(crate) struct VmAmap {
    /// Empty, or exactly one slot per page of the entry.
    slots: Slots,
    /// Slots holding an anon.
    nused: usize,
}

impl VmAmap {
    pub(crate) const fn new() -> VmAmap {
        VmAmap { slots: Vec::new(), nused: 0 }
    }

    pub(crate) fn nused(&self) -> usize {
        self.nused
    }

    pub(crate) fn is_allocated(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Slot count when allocated, else 0.
    #[cfg(test)]
    pub(crate) fn nslots(&self) -> usize {
        self.slots.len()
    }

    /// Give the amap `npages` empty slots unless it has them already.
    pub(crate) fn amap_alloc(&mut self, npages: usize) -> Result<(), NoHeap> {
        if self.is_allocated() {
            debug_assert_eq!(self.slots.len(), npages);
            return Ok(());
        }
        self.slots.try_reserve_exact(npages).map_err(|_| NoHeap)?;
        self.slots.resize(npages, None);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn get(&self, slot: usize) -> Option<&Arc<VmAnon>> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The slot itself, to look at and replace its anon in place.
    /// Before: the amap is allocated.
    pub(crate) fn slot_mut(&mut self, slot: usize) -> &mut Option<Arc<VmAnon>> {
        &mut self.slots[slot]
    }

    /// Put a new anon into an empty slot. Before: the amap is allocated.
    pub(crate) fn add(&mut self, slot: usize, anon: Arc<VmAnon>) {
        let old = self.slots[slot].replace(anon);
        debug_assert!(old.is_none(), "amap: slot {slot} already holds an anon");
        self.nused += 1;
    }

    /// `(slot, anon)` for every slot holding one.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Arc<VmAnon>)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
    }

    /// The slots `[first, last + 1)` between the first and the last anon:
    /// the only part of the entry a pmap can have mappings for.
    pub(crate) fn span(&self) -> Option<(usize, usize)> {
        if self.nused == 0 {
            return None;
        }
        let first = self.slots.iter().position(Option::is_some)?;
        let last = self.slots.iter().rposition(Option::is_some)?;
        Some((first, last + 1))
    }

    /// The heap a split at slot `at` will need (the tail's slot array),
    /// taken before anything changes so that the split cannot fail.
    pub(crate) fn split_reserve(&self, at: usize) -> Result<Slots, NoHeap> {
        let mut tail = Vec::new();
        if self.nused > 0 {
            tail.try_reserve_exact(self.slots.len() - at).map_err(|_| NoHeap)?;
        }
        Ok(tail)
    }

    /// Split off the slots from `at` on into a new amap, moved into `tail`
    /// (from `split_reserve(at)`, so nothing is allocated here).
    pub(crate) fn split(&mut self, at: usize, mut tail: Slots) -> VmAmap {
        if self.nused == 0 {
            self.slots = Vec::new();
            return VmAmap::new();
        }
        debug_assert!(tail.capacity() >= self.slots.len() - at);
        tail.extend(self.slots.drain(at..));
        let moved = tail.iter().filter(|a| a.is_some()).count();
        self.nused -= moved;
        if self.nused == 0 {
            self.slots = Vec::new();
        }
        if moved == 0 {
            return VmAmap::new();
        }
        VmAmap { slots: tail, nused: moved }
    }

    /// A new amap sharing every anon of this one (each reference count
    /// +1): the copy-on-write half of fork. Allocates only the slot array.
    pub(crate) fn share(&self) -> Result<VmAmap, NoHeap> {
        if self.nused == 0 {
            return Ok(VmAmap::new());
        }
        let mut slots = Vec::new();
        slots.try_reserve_exact(self.slots.len()).map_err(|_| NoHeap)?;
        slots.extend(self.slots.iter().cloned());
        Ok(VmAmap { slots, nused: self.nused })
    }

    /// Append `other` (the amap of the entry just after this one, of
    /// `other_pages` pages) to this one (of `self_pages` pages). On heap
    /// exhaustion both are left as they were and `other` is handed back.
    pub(crate) fn join(
        &mut self,
        self_pages: usize,
        mut other: VmAmap,
        other_pages: usize,
    ) -> Result<(), VmAmap> {
        if other.nused == 0 {
            if self.is_allocated() && self.slots.try_reserve_exact(other_pages).is_err() {
                return Err(other);
            }
            if self.is_allocated() {
                self.slots.resize(self_pages + other_pages, None);
            }
            other.slots = Vec::new();
            return Ok(());
        }
        if !self.is_allocated() {
            let mut slots = Vec::new();
            if slots.try_reserve_exact(self_pages + other_pages).is_err() {
                return Err(other);
            }
            slots.resize(self_pages, None);
            self.slots = slots;
        } else if self.slots.try_reserve_exact(other_pages).is_err() {
            return Err(other);
        }
        debug_assert_eq!(other.slots.len(), other_pages);
        self.slots.append(&mut other.slots);
        self.nused += other.nused;
        other.nused = 0;
        Ok(())
    }

    /// Drop every reference this amap holds, freeing the pages whose last
    /// reference it was; returns how many it freed. The caller has removed
    /// the mappings first.
    pub(crate) fn release<E: UvmEnv>(&mut self) -> usize {
        let slots = core::mem::take(&mut self.slots);
        self.nused = 0;
        slots.into_iter().flatten().map(anon_unref::<E>).filter(|&freed| freed).count()
    }
}

impl Drop for VmAmap {
    /// A reference dropped here would never free its page: catch that leak
    /// where it happens rather than as a free-count mismatch much later.
    fn drop(&mut self) {
        #[cfg(test)]
        if std::thread::panicking() {
            return;
        }
        debug_assert!(self.nused == 0, "amap dropped holding {} anons: pages leaked", self.nused);
    }
}
