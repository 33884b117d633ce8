//! The pmap: the machine-dependent half of the VM system.
//!
//! Modelled on OpenBSD's `uvm_pmap.h`. Each arch crate implements the
//! kernel part ([`PmapKernel`]: its own page tables, higher half, direct
//! map, W^X, guard pages) and the user part ([`Pmap`]: one set of user page
//! tables per address space). The kernel binds the arch's implementation at
//! link time (`kern::bind_machdep!`); the MI VM code reaches it through
//! [`crate::UvmEnv`], which host tests implement with a simulated pmap.
//!
//! # Locking
//!
//! A user pmap is changed (enter, remove, protect, purge) only by holders
//! of its address space's map lock, a sleeping lock held with interrupts
//! enabled, so the arch needs no lock of its own for the tables and may
//! wait for TLB shootdown acknowledgements with interrupts enabled (a CPU
//! spinning with interrupts masked on the same lock would otherwise never
//! answer). `pmap_activate`/`pmap_deactivate` run with interrupts masked
//! on the CPU concerned and do not change the tables.

/// Protection requested for a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmProt(pub u8);

impl VmProt {
    pub const NONE: VmProt = VmProt(0);
    pub const READ: VmProt = VmProt(1);
    pub const WRITE: VmProt = VmProt(2);
    pub const EXECUTE: VmProt = VmProt(4);
    pub const RW: VmProt = VmProt(3);
    pub const RX: VmProt = VmProt(5);
    /// Every right there is (OpenBSD's `PROT_MASK`).
    pub const RWX: VmProt = VmProt(7);

    pub const fn contains(self, other: VmProt) -> bool {
        self.0 & other.0 == other.0
    }

    /// No bit outside READ, WRITE and EXECUTE.
    pub const fn is_valid(self) -> bool {
        self.0 & !Self::RWX.0 == 0
    }

    /// These rights less those of `other`.
    pub const fn without(self, other: VmProt) -> VmProt {
        VmProt(self.0 & !other.0)
    }

    /// The rights both have.
    pub const fn intersect(self, other: VmProt) -> VmProt {
        VmProt(self.0 & other.0)
    }
}

/// Kernel-only mapping operations every arch provides (OpenBSD's
/// `pmap_kenter_pa`/`pmap_kremove`): unmanaged wired mappings in the kernel
/// half, used for kernel stacks and other kernel virtual memory.
pub trait PmapKernel {
    /// Map the page at `pa` at kernel virtual address `va` with `prot`.
    /// Before: `va` is page aligned, in the kernel half, and unmapped.
    /// After: the mapping is visible on this CPU; other CPUs see it on their
    /// first access (no stale entry can exist for an unmapped address).
    fn pmap_kenter_pa(va: u64, pa: u64, prot: VmProt);
    /// Remove `len` bytes of kernel mappings starting at `va` and invalidate
    /// them in the TLB of every CPU. After it returns no CPU can reach the
    /// old pages through `va`.
    fn pmap_kremove(va: u64, len: u64);
}

/// An opaque user pmap: the arch's pointer to its per-address-space
/// structure. Never 0.
pub type PmapRef = usize;

/// The user half of the pmap interface. All addresses page aligned; user
/// virtual addresses are below `sys::vmparam::VM_MAXUSER_ADDRESS`.
pub trait Pmap {
    /// A new, empty user pmap (no user mappings; the kernel half shared).
    /// None when memory for its top-level table is exhausted.
    fn pmap_create() -> Option<PmapRef>;
    /// Free `pm`. Before: no mappings remain (removed or purged) and no CPU
    /// has it loaded. After: its tables and its ASID/PCID are released.
    fn pmap_destroy(pm: PmapRef);
    /// Map `va` to physical page `pa` with `prot` (user accessible; never
    /// executable by the kernel). Replaces any mapping at `va`, invalidating
    /// the old translation on every CPU that may cache it. False when a
    /// page-table page cannot be allocated (nothing changed).
    fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool;
    /// Remove the mappings in `[sva, eva)`. After: no CPU can reach the old
    /// pages through those addresses (amd64: shootdown to the CPUs whose
    /// `ci_proc_pmap` is `pm`; arm64: TLBI by VA and ASID, inner shareable).
    /// Page-table pages may be kept until `pmap_purge`/`pmap_destroy`.
    fn pmap_remove(pm: PmapRef, sva: u64, eva: u64);
    /// Lower the protection of existing mappings in `[sva, eva)` to `prot`
    /// (NONE removes them), with the same invalidation as `pmap_remove`.
    /// Lowering never adds a right: each mapping keeps the rights it has
    /// *and* `prot` (as OpenBSD's pmap(9)), so a read-only copy-on-write
    /// mapping stays read-only when uvm lowers RWX to RW around it. A
    /// mapping left without READ may be removed instead.
    fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt);
    /// The physical page `va` is mapped to, if any.
    fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64>;
    /// Load `pm` (0: no user space, kernel only) on this CPU and record it
    /// as this CPU's loaded pmap (amd64 `ci_proc_pmap`, arm64 `ci_curpm`).
    /// Before: interrupts masked. After: user accesses on this CPU go
    /// through `pm`, and no translation of another pmap is usable here.
    fn pmap_activate(pm: PmapRef);
    /// This CPU stops using `pm`: loads kernel-only tables and records
    /// that. Before: interrupts masked, `pm` is loaded here.
    fn pmap_deactivate(pm: PmapRef);
    /// Tear down every user mapping and free every page-table page of `pm`
    /// at once (exit). Before: no CPU has `pm` loaded. Costs no per-page
    /// TLB invalidation: one flush by ASID/PCID (or none if never loaded).
    /// The mapped pages themselves belong to the caller. After: `pm` is
    /// empty and may be destroyed or reused.
    fn pmap_purge(pm: PmapRef);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prot_contains() {
        assert!(VmProt::RW.contains(VmProt::READ));
        assert!(!VmProt::RX.contains(VmProt::WRITE));
        assert!(VmProt::RX.contains(VmProt::EXECUTE));
        assert_eq!(VmProt::RWX.without(VmProt::WRITE), VmProt::RX);
        assert_eq!(VmProt::RW.intersect(VmProt::RX), VmProt::READ);
        assert!(VmProt::RWX.is_valid() && !VmProt(8).is_valid());
    }
}
