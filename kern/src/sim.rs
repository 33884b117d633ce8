//! A simulated machine for host unit tests of the MI kernel.
//!
//! One CPU, interrupts as a flag, the console on stdout and physical
//! addresses equal to host addresses (the "direct map" is the identity).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::cpu::CpuInfo;
use crate::machdep::{Efault, Machdep, Pcb, TrapFrame};
use uvm::pmap::{Pmap, PmapRef, VmProt};

pub struct SimMd;

static CPU0: CpuInfo = CpuInfo::new(0, 0);
static INTR_OFF: AtomicUsize = AtomicUsize::new(0);

impl Machdep for SimMd {
    fn cnputs(s: &[u8]) {
        print!("{}", String::from_utf8_lossy(s));
    }
    fn curcpu() -> &'static CpuInfo {
        &CPU0
    }
    fn intr_disable() -> usize {
        INTR_OFF.swap(1, Ordering::SeqCst)
    }
    fn intr_restore(state: usize) {
        INTR_OFF.store(state, Ordering::SeqCst)
    }
    fn intr_enable() {
        INTR_OFF.store(0, Ordering::SeqCst)
    }
    fn cpu_idle_wait() {
        std::thread::yield_now()
    }
    fn cpu_configure() {}
    fn send_ipi(_cpuid: u32) {
        crate::kern_ipi::ipi_intr()
    }
    fn cpu_halt_others() {}
    fn powerdown(status: u32) -> ! {
        panic!("sim: powerdown({status})")
    }
    fn phys_to_kva(pa: u64) -> u64 {
        pa
    }
    fn nanouptime() -> u64 {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
    fn cpu_counter() -> u64 {
        Self::nanouptime()
    }
    fn cpu_counter_freq() -> u64 {
        1_000_000_000
    }
    fn trap_selftest() {}

    // The simulated machine has no user mode and does not switch threads:
    // host tests drive the MI logic directly. These fail loudly if reached.
    fn kstack_alloc() -> Option<usize> {
        None
    }
    fn kstack_free(_top: usize) {
        unreachable!("sim: kstack_free")
    }
    fn cpu_thread_init(_pcb: &mut Pcb, _top: usize, _func: fn(usize), _arg: usize) {
        unreachable!("sim: cpu_thread_init")
    }
    fn cpu_fork(_tf: *const TrapFrame, _child: &mut Pcb, _top: usize, _stack: usize, _tls: u64) {
        unreachable!("sim: cpu_fork")
    }
    fn trapframe_of(_top: usize) -> *mut TrapFrame {
        unreachable!("sim: trapframe_of")
    }
    fn cpu_switchto(_old: *mut Pcb, _new: *const Pcb) {
        unreachable!("sim: cpu_switchto")
    }
    fn setregs(_tf: *mut TrapFrame, _pcb: &mut Pcb, _entry: u64, _sp: u64) {
        unreachable!("sim: setregs")
    }
    fn sendsig(_tf: *mut TrapFrame, _catcher: u64, _sig: u32, _mask: u32) -> bool {
        false
    }
    fn sigreturn(_tf: *mut TrapFrame, _scp: u64) -> Result<u32, i32> {
        Err(sys::errno::EINVAL)
    }
    fn sigcode() -> &'static [u8] {
        &[]
    }
    fn elf_machine() -> u16 {
        0
    }
    fn tf_pc_sp(_tf: *const TrapFrame) -> (u64, u64) {
        (0, 0)
    }
    fn copyin(_uaddr: u64, _dst: &mut [u8]) -> Result<(), Efault> {
        Err(Efault)
    }
    fn copyout(_src: &[u8], _uaddr: u64) -> Result<(), Efault> {
        Err(Efault)
    }
}

impl Pmap for SimMd {
    fn pmap_create() -> Option<PmapRef> {
        None
    }
    fn pmap_destroy(_pm: PmapRef) {}
    fn pmap_enter(_pm: PmapRef, _va: u64, _pa: u64, _prot: VmProt) -> bool {
        false
    }
    fn pmap_remove(_pm: PmapRef, _sva: u64, _eva: u64) {}
    fn pmap_protect(_pm: PmapRef, _sva: u64, _eva: u64, _prot: VmProt) {}
    fn pmap_extract(_pm: PmapRef, _va: u64) -> Option<u64> {
        None
    }
    fn pmap_activate(_pm: PmapRef) {}
    fn pmap_deactivate(_pm: PmapRef) {}
    fn pmap_purge(_pm: PmapRef) {}
}

crate::bind_machdep!(SimMd);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kern_ipi;
    use crate::mutex::Mutex;

    #[test]
    fn mutex_masks_and_restores_interrupts() {
        let m = Mutex::new(5);
        INTR_OFF.store(0, Ordering::SeqCst);
        {
            let g = m.lock();
            assert_eq!(*g, 5);
            assert_eq!(INTR_OFF.load(Ordering::SeqCst), 1);
        }
        assert_eq!(INTR_OFF.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn ipi_ping_records_sender() {
        kern_ipi::ipi_send(&CPU0, kern_ipi::IPI_PING);
        assert_eq!(CPU0.ci_ipi_seen.load(Ordering::SeqCst) & 1, 1);
        assert_eq!(CPU0.ci_ipi_pending.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn printf_lands_in_msgbuf() {
        crate::printf!("msgbuf-marker-{}\n", 42);
        let mut out = vec![0u8; crate::subr_prf::MSGBUFSIZE];
        let n = crate::subr_prf::msgbuf_read(&mut out);
        let s = String::from_utf8_lossy(&out[..n]);
        assert!(s.contains("msgbuf-marker-42"));
    }
}
