//! What the arch's early boot code hands to the MI `main()`.

use uvm::PAGE_SIZE;

/// A range of physical memory `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRegion {
    pub start: u64,
    pub end: u64,
}

impl MemRegion {
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Most usable RAM regions the MI code accepts from an arch.
pub const MAX_MEM_REGIONS: usize = 64;

/// Before `init_main::main` runs, the arch has:
/// - switched to the kernel's own page tables (higher half, direct map of
///   all RAM, W^X) and to a kernel stack with a guard page;
/// - made `Machdep::cnputs`, `curcpu`, `phys_to_kva`, `nanouptime` and
///   `intr_*` work on the boot CPU, installed its trap vectors, and
///   attached the boot CPU (`cpu::cpu_attach(ci, true)`);
/// - removed from `usable` everything that is in use: the kernel image,
///   its page tables and stacks, firmware/boot structures it still reads
///   (command line, ACPI tables, DTB, initrd).
pub struct BootInfo<'a> {
    /// Kernel command line (`-append`), possibly empty.
    pub cmdline: &'a str,
    /// RAM free for the page allocator, page aligned, sorted, disjoint.
    pub usable: &'a [MemRegion],
    /// All RAM the firmware reports, in bytes ("real mem").
    pub physmem: u64,
    /// Short platform description for the banner ("QEMU q35", the DT model).
    pub platform: &'a str,
    /// `amd64` or `arm64`.
    pub machine: &'static str,
    /// The ramdisk QEMU passed with `-initrd` (withheld from `usable`).
    pub initrd: Option<MemRegion>,
}

impl BootInfo<'_> {
    pub fn usable_pages(&self) -> u64 {
        self.usable.iter().map(|r| r.len() / PAGE_SIZE).sum()
    }
}
