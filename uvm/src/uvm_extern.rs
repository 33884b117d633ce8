//! What the machine-independent VM logic needs from the kernel around it
//! (the role of OpenBSD's `uvm_extern.h` boundary).

use crate::pmap::Pmap;
use crate::uvm_fault::FaultKind;

/// The arch pmap and the physical page allocator, as one type the VM code
/// is generic over. The kernel implements it once (over its page allocator,
/// its direct map and the arch pmap bound at link time); host tests
/// implement a simulation. Every method is called with the map's lock held
/// (a sleeping lock, interrupts enabled), so none may assume interrupts are
/// masked; none is called with any uvm-internal state half updated.
pub trait UvmEnv: Pmap {
    /// One physical page, contents undefined; None when memory is exhausted.
    fn pagealloc() -> Option<u64>;
    /// Give back a page obtained from `pagealloc`. uvm calls it only once no
    /// pmap maps the page any more (after `pmap_remove`, `pmap_enter` over
    /// it, or `pmap_purge`).
    fn pagefree(pa: u64);
    /// Zero / copy / fill whole physical pages through the kernel's direct map.
    fn zero_page(pa: u64);
    fn copy_page(src: u64, dst: u64);
    /// Copy `src` into page `pa` at byte offset `off`
    /// (`off + src.len() <= PAGE_SIZE`).
    fn copy_to_page(pa: u64, off: usize, src: &[u8]);
    /// A fault that `uvm_fault` resolved by filling or copying a page, for
    /// the kernel's statistics (its per-CPU counters, which uvm cannot
    /// see). Called once per such fault, after it succeeded; the default
    /// counts nothing.
    fn fault_counted(_kind: FaultKind) {}
}
