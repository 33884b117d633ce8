//! Interrupt dispatch and inter-processor interrupts.
//!
//! The interrupts this kernel takes: per CPU, the timer PPI and two SGIs
//! (the MI kernel IPI and the halt IPI); on the boot CPU, the console
//! UART's SPI. Anything else is stray: it is reported once and disabled.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::{clock, cons, cpu, gic};

/// Stray interrupts seen, for the first-one-only message.
static STRAY: AtomicU32 = AtomicU32::new(0);

/// Take every pending interrupt. Called from the IRQ vector with
/// interrupts masked (PSTATE.I); returns with them still masked.
pub fn intr_dispatch() {
    while let Some(a) = gic::ack() {
        match a.irq {
            gic::SGI_IPI => {
                gic::eoi(a);
                kern::kern_ipi::ipi_intr();
            }
            gic::SGI_HALT => {
                gic::eoi(a);
                cpu::halt_self();
            }
            irq if irq == clock::timer_irq() => {
                // Re-arm first: writing the deadline drops the (level)
                // interrupt line before the EOI.
                clock::rearm();
                gic::eoi(a);
                kern::kern_clock::hardclock();
            }
            irq if cons::is_rx_irq(irq) => {
                // Drain before the EOI: the level-sensitive line is low
                // once the FIFO is empty.
                cons::pluart_intr();
                gic::eoi(a);
            }
            irq => {
                gic::disable_irq(irq);
                gic::eoi(a);
                if STRAY.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!(
                        "intr: stray interrupt {irq} on cpu{}, disabled",
                        cpu::curcpu_md().ci.ci_cpuid
                    );
                }
            }
        }
    }
}

/// Raise the kernel IPI on CPU `cpuid`.
pub fn send_ipi(cpuid: u32) {
    match cpu::cpu_md(cpuid) {
        Some(md) => gic::send_sgi(md, gic::SGI_IPI),
        None => log::warn!("send_ipi: no cpu{cpuid}"),
    }
}

/// Mask IRQ and FIQ; return the previous DAIF.
#[inline]
pub fn intr_disable() -> usize {
    let daif: u64;
    // SAFETY: reading DAIF and masking interrupts on this CPU only.
    unsafe {
        core::arch::asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nostack));
    }
    daif as usize
}

/// Restore DAIF from [`intr_disable`].
#[inline]
pub fn intr_restore(s: usize) {
    // SAFETY: restores a DAIF value this CPU had before.
    unsafe { core::arch::asm!("msr daif, {}", in(reg) s as u64, options(nostack)) };
}

/// Unmask IRQ and FIQ.
#[inline]
pub fn intr_enable() {
    // SAFETY: unmasking interrupts; the vectors and GIC are set up before
    // anyone calls this.
    unsafe { core::arch::asm!("msr daifclr, #3", options(nostack)) };
}

/// Wait for an interrupt and take it. WFI wakes on a pending interrupt
/// even while PSTATE masks it, so a caller that masked interrupts before
/// checking its condition loses no wakeup: the interrupt is taken when
/// we unmask right after.
#[inline]
pub fn cpu_idle_wait() {
    // SAFETY: waiting and unmasking interrupts on this CPU.
    unsafe { core::arch::asm!("dsb sy", "wfi", "msr daifclr, #3", options(nostack)) };
}
