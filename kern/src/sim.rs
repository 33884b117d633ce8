//! A simulated machine for host unit tests of the MI kernel.
//!
//! One CPU, interrupts as a flag, the console on stdout and physical
//! addresses equal to host addresses (the "direct map" is the identity).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::cpu::CpuInfo;
use crate::machdep::Machdep;

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
    fn trap_selftest() {}
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
