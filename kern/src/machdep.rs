//! The machine-dependent interface: everything `kern/` needs from an arch.
//!
//! # Mechanism: link-time binding checked by a trait
//!
//! Each arch crate implements [`Machdep`] for one type and invokes
//! [`bind_machdep!`] once. The macro emits one `#[no_mangle]` function per
//! trait method, and `kern` calls them through the `extern` block below.
//! Because the macro and the extern block live in this file and both are
//! written from the trait, the signatures cannot drift apart; because the
//! binding is resolved by the linker, calls are direct (and inlined by LTO
//! when enabled), with no generics spreading through the MI code and no
//! vtable on hot paths like `curcpu()`. Host unit tests bind a simulated
//! machine in the same way (`kern::sim`).
//!
//! Every method documents what holds before and after it runs.

use crate::cpu::CpuInfo;

pub trait Machdep {
    /// Write bytes to the console, polled. Callable from any context,
    /// including interrupt handlers and panic, with interrupts in any state.
    /// Serialisation between CPUs is the caller's job (`subr_prf`).
    fn cnputs(s: &[u8]);

    /// The current CPU's MI per-CPU structure, in O(1) (GS base on amd64,
    /// TPIDR_EL1 on arm64). Before: the CPU has run its MD early init.
    fn curcpu() -> &'static CpuInfo;

    /// Mask interrupts on this CPU and return the previous state, to be
    /// given back to [`Machdep::intr_restore`].
    fn intr_disable() -> usize;
    /// Restore the state returned by [`Machdep::intr_disable`].
    fn intr_restore(state: usize);
    /// Unmask interrupts on this CPU.
    fn intr_enable();

    /// Wait for the next interrupt with interrupts enabled, without losing a
    /// wakeup that arrives between the caller's check and the wait
    /// (`sti; hlt` / `wfi`). After: an interrupt was taken (or a spurious
    /// wakeup happened); interrupts are enabled.
    fn cpu_idle_wait();

    /// Autoconfiguration, on the boot CPU after MI memory init: attach the
    /// interrupt controllers, start the boot CPU's periodic timer at
    /// `param::HZ`, register every CPU the firmware describes
    /// (`cpu::cpu_attach`) and start the secondaries. Before: heap and page
    /// allocator work. After: every CPU found is registered; secondaries are
    /// starting or running `init_main::cpu_hatch_mi`.
    fn cpu_configure();

    /// Raise the kernel IPI on CPU `cpuid`. The receiver calls
    /// `kern_ipi::ipi_intr()` from its interrupt handler.
    fn send_ipi(cpuid: u32);

    /// Stop every other CPU (panic path). Must not take locks another CPU
    /// could hold. After: other CPUs execute nothing but a halt loop, or the
    /// caller has waited a bounded time for them.
    fn cpu_halt_others();

    /// Power the machine off, telling the hypervisor `status` (0 success).
    fn powerdown(status: u32) -> !;

    /// Kernel virtual address of physical address `pa` in the direct map.
    fn phys_to_kva(pa: u64) -> u64;

    /// A monotonic nanosecond clock, for timeouts and boot timing.
    fn nanouptime() -> u64;

    /// Fault on purpose inside the kernel (the `fault` boot word): a read
    /// from an unmapped kernel address, so the trap path is tested.
    fn trap_selftest();
}

/// Bind `$md` (a type implementing [`Machdep`]) as the machine of this
/// kernel. Invoke exactly once, in the arch crate.
#[macro_export]
macro_rules! bind_machdep {
    ($md:ty) => {
        #[unsafe(no_mangle)]
        fn __md_cnputs(s: &[u8]) {
            <$md as $crate::machdep::Machdep>::cnputs(s)
        }
        #[unsafe(no_mangle)]
        fn __md_curcpu() -> &'static $crate::cpu::CpuInfo {
            <$md as $crate::machdep::Machdep>::curcpu()
        }
        #[unsafe(no_mangle)]
        fn __md_intr_disable() -> usize {
            <$md as $crate::machdep::Machdep>::intr_disable()
        }
        #[unsafe(no_mangle)]
        fn __md_intr_restore(s: usize) {
            <$md as $crate::machdep::Machdep>::intr_restore(s)
        }
        #[unsafe(no_mangle)]
        fn __md_intr_enable() {
            <$md as $crate::machdep::Machdep>::intr_enable()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_idle_wait() {
            <$md as $crate::machdep::Machdep>::cpu_idle_wait()
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_configure() {
            <$md as $crate::machdep::Machdep>::cpu_configure()
        }
        #[unsafe(no_mangle)]
        fn __md_send_ipi(cpuid: u32) {
            <$md as $crate::machdep::Machdep>::send_ipi(cpuid)
        }
        #[unsafe(no_mangle)]
        fn __md_cpu_halt_others() {
            <$md as $crate::machdep::Machdep>::cpu_halt_others()
        }
        #[unsafe(no_mangle)]
        fn __md_powerdown(status: u32) -> ! {
            <$md as $crate::machdep::Machdep>::powerdown(status)
        }
        #[unsafe(no_mangle)]
        fn __md_phys_to_kva(pa: u64) -> u64 {
            <$md as $crate::machdep::Machdep>::phys_to_kva(pa)
        }
        #[unsafe(no_mangle)]
        fn __md_nanouptime() -> u64 {
            <$md as $crate::machdep::Machdep>::nanouptime()
        }
        #[unsafe(no_mangle)]
        fn __md_trap_selftest() {
            <$md as $crate::machdep::Machdep>::trap_selftest()
        }
    };
}

unsafe extern "Rust" {
    fn __md_cnputs(s: &[u8]);
    fn __md_curcpu() -> &'static CpuInfo;
    fn __md_intr_disable() -> usize;
    fn __md_intr_restore(s: usize);
    fn __md_intr_enable();
    fn __md_cpu_idle_wait();
    fn __md_cpu_configure();
    fn __md_send_ipi(cpuid: u32);
    fn __md_cpu_halt_others();
    fn __md_powerdown(status: u32) -> !;
    fn __md_phys_to_kva(pa: u64) -> u64;
    fn __md_nanouptime() -> u64;
    fn __md_trap_selftest();
}

// SAFETY (all wrappers below): the symbols are defined by `bind_machdep!`
// from the same trait whose signatures the extern block repeats, so the
// ABI matches; the trait methods themselves are safe functions.
#[inline]
pub fn cnputs(s: &[u8]) {
    unsafe { __md_cnputs(s) }
}
#[inline]
pub fn curcpu() -> &'static CpuInfo {
    unsafe { __md_curcpu() }
}
#[inline]
pub fn intr_disable() -> usize {
    unsafe { __md_intr_disable() }
}
#[inline]
pub fn intr_restore(s: usize) {
    unsafe { __md_intr_restore(s) }
}
#[inline]
pub fn intr_enable() {
    unsafe { __md_intr_enable() }
}
#[inline]
pub fn cpu_idle_wait() {
    unsafe { __md_cpu_idle_wait() }
}
pub fn cpu_configure() {
    unsafe { __md_cpu_configure() }
}
#[inline]
pub fn send_ipi(cpuid: u32) {
    unsafe { __md_send_ipi(cpuid) }
}
pub fn cpu_halt_others() {
    unsafe { __md_cpu_halt_others() }
}
pub fn powerdown(status: u32) -> ! {
    unsafe { __md_powerdown(status) }
}
#[inline]
pub fn phys_to_kva(pa: u64) -> u64 {
    unsafe { __md_phys_to_kva(pa) }
}
#[inline]
pub fn nanouptime() -> u64 {
    unsafe { __md_nanouptime() }
}
pub fn trap_selftest() {
    unsafe { __md_trap_selftest() }
}
