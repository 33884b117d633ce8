//! The pmap: the machine-dependent half of the VM system.
//!
//! Modelled on OpenBSD's `uvm_pmap.h`. Each arch crate implements the
//! kernel part today (its own page tables: higher half, direct map, W^X,
//! guard pages); the user-pmap operations (create, destroy, enter, remove,
//! protect, extract, activate, deactivate, purge) join this interface with
//! the process model.

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

    pub const fn contains(self, other: VmProt) -> bool {
        self.0 & other.0 == other.0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prot_contains() {
        assert!(VmProt::RW.contains(VmProt::READ));
        assert!(!VmProt::RX.contains(VmProt::WRITE));
        assert!(VmProt::RX.contains(VmProt::EXECUTE));
    }
}
