//! Page faults (OpenBSD's `uvm_fault`): zero fill and image fill on first
//! touch, copy-on-write on the first write to a shared anon.

use core::mem;

use crate::UvmEnv;
use crate::param::{PAGE_MASK, PAGE_SIZE};
use crate::pmap::VmProt;
use crate::uvm_anon::{anon_new, anon_unique, anon_unref};
use crate::uvm_map::{Backing, VmMap};

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No entry maps the address: SIGSEGV, or EFAULT for copyin/copyout.
    NoEntry,
    /// The entry does not allow the access: SIGSEGV (or EFAULT).
    Protection,
    /// No physical page (or page-table page, or kernel heap) for it; the
    /// map and the pmap are as they were, so the access may be retried.
    NoMemory,
}

/// How a successful fault got its page, for [`UvmEnv::fault_counted`]
/// (faults that only re-entered an existing page are not reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A fresh zero-filled page (anonymous memory, bss, stack).
    Zero,
    /// A page copied from an executable's image (`Backing::Image`).
    Text,
    /// A private copy of a shared anon (copy-on-write).
    Cow,
}

/// Fill a new page as `backing` says for page `index` of its entry.
fn fill<E: UvmEnv>(pa: u64, backing: &Backing, index: usize) {
    let Backing::Image { data, off } = *backing else {
        E::zero_page(pa);
        return;
    };
    let from = index.checked_mul(PAGE_SIZE as usize).and_then(|o| o.checked_add(off));
    let bytes = match from {
        Some(from) if from < data.len() => &data[from..data.len().min(from + PAGE_SIZE as usize)],
        _ => &[],
    };
    // A full page of image needs no zeroing first.
    if bytes.len() < PAGE_SIZE as usize {
        E::zero_page(pa);
    }
    if !bytes.is_empty() {
        E::copy_to_page(pa, 0, bytes);
    }
}

impl VmMap {
    /// uvm_fault: make `va` accessible for `access` (READ, WRITE or
    /// EXECUTE).
    ///
    /// Finds the entry (NoEntry), checks `access` against its protection
    /// (Protection), finds or creates the page's anon (zero fill or image
    /// copy; a `Wired` page is mapped directly), breaks copy-on-write on a
    /// write to a shared anon (copy to a new page, replace this map's
    /// reference, drop the old one) and `pmap_enter`s the page: writable
    /// only if the entry is writable and the anon is not shared, read-only
    /// otherwise. A fault on a page already mapped (a stale TLB entry on
    /// another CPU) just enters it again. NoMemory leaves everything as it
    /// was.
    ///
    /// Costs one `pmap_enter`; at most one `pagealloc` (first touch or
    /// copy-on-write) and one `pagefree` (the old page of a copy-on-write
    /// whose other sharers went away meanwhile); on the first touch of an
    /// entry, one slot array (8 bytes per page of the entry); on a new
    /// anon, one small heap object.
    pub fn fault<E: UvmEnv>(&mut self, va: u64, access: VmProt) -> Result<(), FaultError> {
        self.nfaults += 1;
        let va = va & !PAGE_MASK;
        let i = self.lookup(va).ok_or(FaultError::NoEntry)?;
        let pmap = self.pmap;
        let e = &mut self.entries[i];
        if !e.prot.contains(access) {
            return Err(FaultError::Protection);
        }
        if let Backing::Wired { pa } = e.backing {
            return enter::<E>(pmap, va, pa, e.prot);
        }
        let slot = e.slot_of(va);
        let npages = e.npages();
        // The slot array comes first: if the heap is short, nothing else
        // has been taken yet.
        e.amap.amap_alloc(npages).map_err(|_| FaultError::NoMemory)?;
        let Some(anon) = e.amap.slot_mut(slot) else {
            let pa = E::pagealloc().ok_or(FaultError::NoMemory)?;
            fill::<E>(pa, &e.backing, slot);
            if let Err(err) = enter::<E>(pmap, va, pa, e.prot) {
                E::pagefree(pa);
                return Err(err);
            }
            let kind =
                if matches!(e.backing, Backing::Image { .. }) { FaultKind::Text } else { FaultKind::Zero };
            e.amap.add(slot, anon_new(pa));
            E::fault_counted(kind);
            return Ok(());
        };
        let shared = !anon_unique(anon);
        if !(shared && access.contains(VmProt::WRITE)) {
            let prot = if shared { e.prot.without(VmProt::WRITE) } else { e.prot };
            return enter::<E>(pmap, va, anon.pa(), prot);
        }
        let pa = E::pagealloc().ok_or(FaultError::NoMemory)?;
        E::copy_page(anon.pa(), pa);
        if let Err(err) = enter::<E>(pmap, va, pa, e.prot) {
            E::pagefree(pa);
            return Err(err);
        }
        // pmap_enter replaced the read-only mapping of the old page (and
        // invalidated it) before this map's reference to it goes.
        let old = mem::replace(anon, anon_new(pa));
        anon_unref::<E>(old);
        self.ncow += 1;
        E::fault_counted(FaultKind::Cow);
        Ok(())
    }
}

fn enter<E: UvmEnv>(pmap: usize, va: u64, pa: u64, prot: VmProt) -> Result<(), FaultError> {
    if E::pmap_enter(pmap, va, pa, prot) { Ok(()) } else { Err(FaultError::NoMemory) }
}
