//! PSCI (Power State Coordination Interface) through SMCCC: starting CPUs
//! and powering off. The conduit comes from the device tree: `hvc` when
//! QEMU boots us at EL1 (it plays the hypervisor), `smc` with
//! `virtualization=on` (it plays EL3 firmware).

use core::sync::atomic::{AtomicU8, Ordering};

use crate::fdt::{self, PsciMethod};

const PSCI_VERSION: u32 = 0x8400_0000;
const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
const PSCI_FEATURES: u32 = 0x8400_000a;
const PSCI_CPU_ON_64: u32 = 0xc400_0003;
const SMCCC_VERSION: u32 = 0x8000_0000;

/// 0: unknown, 1: hvc, 2: smc.
static METHOD: AtomicU8 = AtomicU8::new(0);

fn call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let r: u64;
    match METHOD.load(Ordering::Relaxed) {
        // SAFETY: an SMCCC call: arguments in x0-x3, result in x0; the
        // callee may clobber x0-x17 (SMCCC 1.0), and touches no memory of
        // ours that we have not handed it.
        1 => unsafe {
            core::arch::asm!("hvc #0",
                inout("x0") fid as u64 => r, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        2 => unsafe {
            core::arch::asm!("smc #0",
                inout("x0") fid as u64 => r, inout("x1") a1 => _, inout("x2") a2 => _,
                inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                options(nostack))
        },
        _ => return -1,
    }
    r as i64
}

/// Take the conduit from the device tree. Before: `fdt::scan` ran.
/// After: PSCI calls work (if the tree describes PSCI).
pub fn init() {
    let m = match fdt::mach().psci {
        Some(PsciMethod::Hvc) => 1,
        Some(PsciMethod::Smc) => 2,
        None => 0,
    };
    METHOD.store(m, Ordering::Relaxed);
}

/// Print the attach line. Before: `init` ran and the logger exists.
pub fn attach() {
    let m = match METHOD.load(Ordering::Relaxed) {
        1 => "hvc",
        2 => "smc",
        _ => {
            log::warn!("psci: not described by the device tree; no secondary CPUs, no power off");
            return;
        }
    };
    let v = call(PSCI_VERSION, 0, 0, 0) as u64;
    let smccc = if call(PSCI_FEATURES, SMCCC_VERSION as u64, 0, 0) >= 0 {
        call(SMCCC_VERSION, 0, 0, 0)
    } else {
        0x1_0000 // SMCCC 1.0: no SMCCC_VERSION call
    } as u64;
    log::info!(
        "psci0 at mainbus0: PSCI {}.{}, SMCCC {}.{} ({m})",
        (v >> 16) & 0x7fff,
        v & 0xffff,
        (smccc >> 16) & 0x7fff,
        smccc & 0xffff
    );
}

/// Start CPU `mpidr` at physical address `entry` with x0 = `context`.
/// Returns the PSCI status (0 success).
pub fn cpu_on(mpidr: u64, entry: u64, context: u64) -> i64 {
    call(PSCI_CPU_ON_64, mpidr, entry, context)
}

/// Power the machine off. Returns only if PSCI is missing or refuses.
pub fn system_off() {
    call(PSCI_SYSTEM_OFF, 0, 0, 0);
}

pub fn error_name(rc: i64) -> &'static str {
    match rc {
        -1 => "not supported",
        -2 => "invalid parameters",
        -3 => "denied",
        -4 => "already on",
        -5 => "on pending",
        -6 => "internal failure",
        -7 => "not present",
        -8 => "disabled",
        -9 => "invalid address",
        _ => "unknown error",
    }
}
