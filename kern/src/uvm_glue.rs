//! The kernel's side of uvm: the environment the MI VM logic runs in
//! (pmap and page allocator), address spaces with their locks, user faults,
//! the user copy routines and the mmap family of system calls.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use sys::errno::{EFAULT, EINVAL, ENOMEM};
use sys::vmparam::{VM_MAXUSER_ADDRESS, VM_MIN_ADDRESS};
use uvm::pmap::{Pmap, PmapRef, VmProt};
use uvm::{Backing, FaultError, PAGE_SIZE, UvmEnv, VmMap};

use crate::kern_sched::{self, curproc_ptr};
use crate::kern_synch::{RwLock, assertwaitok};
use crate::machdep::{self, Efault};
use crate::proc::P_SYSTEM;
use crate::uvm_init;

/// The kernel as uvm's environment: the arch pmap bound at link time and
/// the physical page allocator.
pub struct KernEnv;

impl Pmap for KernEnv {
    fn pmap_create() -> Option<PmapRef> {
        machdep::pmap_create()
    }
    fn pmap_destroy(pm: PmapRef) {
        machdep::pmap_destroy(pm)
    }
    fn pmap_enter(pm: PmapRef, va: u64, pa: u64, prot: VmProt) -> bool {
        machdep::pmap_enter(pm, va, pa, prot)
    }
    fn pmap_remove(pm: PmapRef, sva: u64, eva: u64) {
        machdep::pmap_remove(pm, sva, eva)
    }
    fn pmap_protect(pm: PmapRef, sva: u64, eva: u64, prot: VmProt) {
        machdep::pmap_protect(pm, sva, eva, prot)
    }
    fn pmap_extract(pm: PmapRef, va: u64) -> Option<u64> {
        machdep::pmap_extract(pm, va)
    }
    fn pmap_activate(pm: PmapRef) {
        machdep::pmap_activate(pm)
    }
    fn pmap_deactivate(pm: PmapRef) {
        machdep::pmap_deactivate(pm)
    }
    fn pmap_purge(pm: PmapRef) {
        machdep::pmap_purge(pm)
    }
}

fn kva(pa: u64) -> *mut u8 {
    machdep::phys_to_kva(pa) as *mut u8
}

impl UvmEnv for KernEnv {
    fn pagealloc() -> Option<u64> {
        uvm_init::uvm_pagealloc()
    }
    fn pagefree(pa: u64) {
        uvm_init::uvm_pagefree(pa)
    }
    fn zero_page(pa: u64) {
        // SAFETY: the page belongs to the caller and is direct-mapped.
        unsafe { core::ptr::write_bytes(kva(pa), 0, PAGE_SIZE as usize) }
    }
    fn copy_page(src: u64, dst: u64) {
        // SAFETY: both pages are direct-mapped; dst belongs to the caller
        // and differs from src.
        unsafe { core::ptr::copy_nonoverlapping(kva(src), kva(dst), PAGE_SIZE as usize) }
    }
    fn copy_to_page(pa: u64, off: usize, src: &[u8]) {
        assert!(off + src.len() <= PAGE_SIZE as usize);
        // SAFETY: in bounds of a direct-mapped page owned by the caller.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), kva(pa).add(off), src.len()) }
    }
    fn fault_counted(kind: uvm::FaultKind) {
        // The faulting thread's CPU counts it (it may have migrated while
        // the fault slept on the map lock; what matters is one CPU, once).
        crate::cpu::count(|s| match kind {
            uvm::FaultKind::Zero => &s.flt_zero,
            uvm::FaultKind::Text => &s.flt_text,
            uvm::FaultKind::Cow => &s.flt_cow,
        });
    }
}

/// An address space: the map under its sleeping lock, and its pmap.
pub struct VmSpace {
    pub vm_map: RwLock<VmMap>,
    pub vm_pmap: PmapRef,
}

impl VmSpace {
    pub fn new() -> Result<Arc<VmSpace>, i32> {
        let pm = machdep::pmap_create().ok_or(ENOMEM)?;
        Ok(Arc::new(VmSpace { vm_map: RwLock::new(VmMap::new(pm), "vmmaplk"), vm_pmap: pm }))
    }

    /// uvmspace_fork: a copy-on-write copy for a child.
    pub fn fork(&self) -> Result<Arc<VmSpace>, i32> {
        let pm = machdep::pmap_create().ok_or(ENOMEM)?;
        let child = match self.vm_map.write().fork::<KernEnv>(pm) {
            Ok(m) => m,
            Err(e) => {
                machdep::pmap_destroy(pm);
                return Err(e);
            }
        };
        Ok(Arc::new(VmSpace { vm_map: RwLock::new(child, "vmmaplk"), vm_pmap: pm }))
    }
}

/// Drop a reference to an address space; the last one tears it down.
/// Before: if this is the last reference, no CPU has its pmap loaded
/// (every thread that used it is off CPU or has loaded another pmap).
pub fn uvmspace_free(vm: Arc<VmSpace>) {
    if let Some(vs) = Arc::into_inner(vm) {
        let pm = vs.vm_pmap;
        let mut map = vs.vm_map.into_inner();
        map.purge::<KernEnv>();
        machdep::pmap_destroy(pm);
    }
}

/// uvm_purge: tear down every mapping of `vm` and free its pages and page
/// tables now, whoever else still holds a reference (exit=direct, on the
/// exiting process's last thread). Before: no thread runs on `vm` any
/// more and this CPU has its pmap deactivated; no spin lock held (the map
/// lock may sleep). Costs one flush by ASID/PCID, no per-page
/// invalidation. After: the map is empty; dropping the last reference
/// frees only the pmap itself.
pub fn uvm_purge(vm: &VmSpace) {
    vm.vm_map.write().purge::<KernEnv>();
}

/// The signal trampoline's page, shared read-only by every process.
static SIGCODE_PA: spin::Once<u64> = spin::Once::new();

pub fn sigcode_pa() -> u64 {
    *SIGCODE_PA.call_once(|| {
        let code = machdep::sigcode();
        assert!(code.len() <= PAGE_SIZE as usize, "sigcode larger than a page");
        let pa = uvm_init::uvm_pagealloc().expect("no page for the signal trampoline");
        KernEnv::zero_page(pa);
        KernEnv::copy_to_page(pa, 0, code);
        pa
    })
}

fn user_range_ok(uaddr: u64, len: usize) -> bool {
    let end = uaddr.checked_add(len as u64);
    matches!(end, Some(e) if uaddr >= VM_MIN_ADDRESS as u64 && e <= VM_MAXUSER_ADDRESS as u64)
}

/// copyin with the MI checks: EFAULT for a range outside user space; the
/// arch does the copy with fault recovery. May sleep (faults).
pub fn copyin(uaddr: u64, dst: &mut [u8]) -> Result<(), i32> {
    if dst.is_empty() {
        return Ok(());
    }
    assertwaitok();
    if !user_range_ok(uaddr, dst.len()) {
        return Err(EFAULT);
    }
    machdep::copyin(uaddr, dst).map_err(|Efault| EFAULT)
}

pub fn copyout(src: &[u8], uaddr: u64) -> Result<(), i32> {
    if src.is_empty() {
        return Ok(());
    }
    assertwaitok();
    if !user_range_ok(uaddr, src.len()) {
        return Err(EFAULT);
    }
    machdep::copyout(src, uaddr).map_err(|Efault| EFAULT)
}

/// Copy a plain-data value in from user space.
pub fn copyin_val<T: Copy + Default>(uaddr: u64) -> Result<T, i32> {
    let mut v = T::default();
    // SAFETY: T is plain data (Copy, repr(C) ABI structs or integers);
    // every byte pattern the user supplies is a valid value for them.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, core::mem::size_of::<T>()) };
    copyin(uaddr, bytes)?;
    Ok(v)
}

/// The bytes of a plain-data ABI value (the `sys` structs, integers).
pub fn as_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: reading the initialised bytes of a Copy value for as long as
    // the borrow lives; the `sys` structs have no padding-dependent use.
    unsafe { core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>()) }
}

/// Copy a plain-data value out to user space.
pub fn copyout_val<T: Copy>(v: &T, uaddr: u64) -> Result<(), i32> {
    copyout(as_bytes(v), uaddr)
}

/// A NUL-terminated string of at most `max` bytes (without the NUL):
/// EFAULT on a bad pointer, ENAMETOOLONG when no NUL within `max`.
pub fn copyinstr(uaddr: u64, max: usize) -> Result<alloc::vec::Vec<u8>, i32> {
    let mut out = alloc::vec::Vec::new();
    let mut a = uaddr;
    let mut buf = [0u8; 64];
    loop {
        // Never read across a page boundary we have not reached: the
        // string may end just before an unmapped page.
        let to_page = (PAGE_SIZE - (a % PAGE_SIZE)) as usize;
        let n = to_page.min(buf.len());
        copyin(a, &mut buf[..n])?;
        if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..z]);
            if out.len() > max {
                return Err(sys::errno::ENAMETOOLONG);
            }
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > max {
            return Err(sys::errno::ENAMETOOLONG);
        }
        a += n as u64;
    }
}

/// Whether `[uaddr, uaddr + len)` is mapped writable in the current
/// address space (possibly not faulted in yet). Reads check this before
/// consuming data, so a bad buffer gets EFAULT without losing any.
pub fn user_writable(uaddr: u64, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    if !user_range_ok(uaddr, len) {
        return false;
    }
    cur_vmspace().is_some_and(|vm| vm.vm_map.read().check(uaddr, len as u64, VmProt::WRITE))
}

/// The current thread's address space, if it is a user thread.
pub fn cur_vmspace() -> Option<Arc<VmSpace>> {
    let p = curproc_ptr();
    if p.is_null() {
        return None;
    }
    // SAFETY: the current thread is live.
    let p = unsafe { &*p };
    if p.has_flag(P_SYSTEM) {
        return None;
    }
    p.p_p.vmspace()
}

/// uvm_fault for the current thread's address space.
pub fn uvm_fault(va: u64, access: VmProt) -> Result<(), FaultError> {
    let Some(vm) = cur_vmspace() else { return Err(FaultError::NoEntry) };
    if va >= VM_MAXUSER_ADDRESS as u64 {
        return Err(FaultError::NoEntry);
    }
    let r = vm.vm_map.write().fault::<KernEnv>(uvm::trunc_page(va), access);
    FAULTS.fetch_add(1, Ordering::Relaxed);
    r
}

/// Page faults resolved or refused, for the statistics.
pub static FAULTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn prot_of(p: i32) -> VmProt {
    use sys::mman::*;
    let mut v = 0u8;
    if p & PROT_READ != 0 {
        v |= VmProt::READ.0;
    }
    if p & PROT_WRITE != 0 {
        v |= VmProt::WRITE.0;
    }
    if p & PROT_EXEC != 0 {
        v |= VmProt::EXECUTE.0;
    }
    VmProt(v)
}

/// mmap: anonymous private mappings only (there is no writable file
/// system to share pages with): EINVAL otherwise.
pub fn sys_mmap(addr: u64, len: u64, prot: i32, flags: i32, fd: i32, _off: i64) -> Result<u64, i32> {
    use sys::mman::*;
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(EINVAL);
    }
    if flags & MAP_ANON == 0 || fd != -1 || flags & MAP_SHARED != 0 {
        return Err(EINVAL);
    }
    if len == 0 {
        return Err(EINVAL);
    }
    let fixed = flags & MAP_FIXED != 0;
    if fixed && !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let vm = cur_vmspace().ok_or(EINVAL)?;
    let len = len.checked_add(PAGE_SIZE - 1).ok_or(ENOMEM)? & !(PAGE_SIZE - 1);
    let hint = if fixed { addr } else { addr & !(PAGE_SIZE - 1) };

    vm.vm_map.write().map::<KernEnv>(hint, len, prot_of(prot), Backing::Zero, fixed)
}

pub fn sys_munmap(addr: u64, len: u64) -> Result<(), i32> {
    let vm = cur_vmspace().ok_or(EINVAL)?;

    vm.vm_map.write().unmap::<KernEnv>(addr, len)
}

pub fn sys_mprotect(addr: u64, len: u64, prot: i32) -> Result<(), i32> {
    use sys::mman::*;
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(EINVAL);
    }
    let vm = cur_vmspace().ok_or(EINVAL)?;

    vm.vm_map.write().protect::<KernEnv>(addr, len, prot_of(prot))
}

/// The VM statistics the tests read (free pages, process counts).
pub fn vmstats() -> sys::sysctl::KernVmStats {
    let _ = kern_sched::SCHED_RUNNING.load(Ordering::Relaxed);
    let heap = crate::kern_malloc::kmem_stats();
    let (nkqueues, nknotes) = crate::kern_event::kq_stats();
    sys::sysctl::KernVmStats {
        free_pages: uvm_init::uvmexp_free() as u64,
        total_pages: uvm_init::uvmexp_total() as u64,
        heap_pages: (heap.total as u64).div_ceil(PAGE_SIZE),
        heap_allocated: heap.allocated as u64,
        kstack_cached_pages: (uvm_uarea_cached() * crate::param::USPACE) as u64 / PAGE_SIZE,
        nprocs: crate::kern_proc::NPROCS.load(Ordering::Relaxed),
        nthreads: crate::kern_proc::NTHREADS.load(Ordering::Relaxed),
        maxprocs: crate::kern_proc::MAXPROCESS,
        maxthreads: crate::kern_proc::MAXTHREAD,
        nkqueues,
        nknotes,
    }
}

/// Kernel stacks freed by exited threads and kept mapped for the next
/// fork (OpenBSD's uarea, with a cache): a free from the exit path costs
/// no unmapping and no TLB shootdown, and a fork that finds one allocates
/// nothing. The list is intrusive (each cached stack's top word holds the
/// next one), so putting a stack back never allocates.
///
/// Locking: `UAREA` is a spin mutex and a leaf: `uvm_uarea_free` is called
/// with SCHED_LOCK held (the thread switched to frees the dead one).
/// `uvm_uarea_trim` gives the excess back to the arch (which may send
/// shootdown IPIs) and so runs only where no spin lock is held.
struct UareaCache {
    head: usize,
    n: usize,
}

static UAREA: crate::mutex::Mutex<UareaCache> = crate::mutex::Mutex::new(UareaCache { head: 0, n: 0 });

/// Stacks kept beyond this are returned by `uvm_uarea_trim`.
pub const UAREA_CACHE_MAX: usize = 32;

/// A kernel stack's top: a cached one, else a new one from the arch.
pub fn uvm_uarea_alloc() -> Option<usize> {
    {
        let mut c = UAREA.lock();
        if c.head != 0 {
            let top = c.head;
            // SAFETY: `top` is a cached stack, mapped and owned by the cache;
            // its top word holds the link written by uvm_uarea_free.
            c.head = unsafe { *((top - 8) as *const usize) };
            c.n -= 1;
            return Some(top);
        }
    }
    machdep::kstack_alloc()
}

/// Put the stack ending at `top` into the cache. Before: no CPU runs on
/// it. Callable with any spin lock held (no IPI, no allocation).
pub fn uvm_uarea_free(top: usize) {
    let mut c = UAREA.lock();
    // SAFETY: the stack is mapped and nobody uses it any more; its top
    // word becomes the cache's link.
    unsafe { *((top - 8) as *mut usize) = c.head };
    c.head = top;
    c.n += 1;
}

/// Give stacks beyond `UAREA_CACHE_MAX` back to the arch, keeping the
/// lowest addresses: the arch allocates slots lowest first and frees a
/// page-table page once no stack uses it, so keeping the low ones keeps
/// the cache inside the page tables the long-lived stacks use anyway (and
/// a page count taken before a burst of exits comes back exactly after
/// it). Before: no spin lock held, interrupts enabled (the arch may shoot
/// down TLB entries).
pub fn uvm_uarea_trim() {
    let (mut head, n) = {
        let mut c = UAREA.lock();
        if c.n <= UAREA_CACHE_MAX {
            return;
        }
        let taken = (c.head, c.n);
        c.head = 0;
        c.n = 0;
        taken
    };
    let mut all = alloc::vec::Vec::with_capacity(n);
    while head != 0 {
        all.push(head);
        // SAFETY: as in uvm_uarea_alloc: a cached stack's link word.
        head = unsafe { *((head - 8) as *const usize) };
    }
    all.sort_unstable();
    // Highest first back into the cache, so the lowest is used first.
    for &top in all[..UAREA_CACHE_MAX].iter().rev() {
        uvm_uarea_free(top);
    }
    for &top in &all[UAREA_CACHE_MAX..] {
        machdep::kstack_free(top);
    }
}

/// Stacks in the cache now.
pub fn uvm_uarea_cached() -> usize {
    UAREA.lock().n
}
