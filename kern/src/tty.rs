//! The console terminal (OpenBSD `tty.c` for the one console line).
//!
//! The machine-dependent console driver calls [`cn_rint`] from its receive
//! interrupt for every byte; this module runs it through the line
//! discipline, echoes, posts signals to the foreground process group and
//! wakes readers. (Filled in by the tty work of issue 4.)

/// Receive interrupt: one byte arrived on the console UART.
///
/// Before: called with interrupts masked on this CPU, from the console
/// driver's interrupt handler (or its polling fallback), once per byte in
/// arrival order. After: the byte is in the line discipline's queues or
/// dropped (queue full, with a bell).
pub fn cn_rint(c: u8) {
    let _ = c;
}
