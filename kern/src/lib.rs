//! The machine-independent oxbsd kernel.
//!
//! No inline assembly and no `cfg(target_arch)` here: everything
//! machine-dependent is reached through [`machdep`]. Code that only makes
//! sense on bare metal (the global allocator, the panic handler) is gated on
//! `target_os = "none"`, so this crate's unit tests run on the host against
//! a simulated machine ([`sim`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

/// Re-exported so `bind_machdep!` can name the pmap trait from any crate.
pub use uvm;

pub mod boot_args;
pub mod bootinfo;
pub mod cpu;
pub mod init_main;
pub mod kern_clock;
pub mod kern_descrip;
pub mod kern_event;
pub mod kern_exec;
pub mod kern_exit;
pub mod kern_fork;
pub mod kern_ipi;
pub mod kern_kthread;
pub mod kern_malloc;
pub mod kern_proc;
pub mod kern_sched;
pub mod kern_sig;
pub mod kern_synch;
pub mod kern_sysctl;
pub mod kern_time;
pub mod machdep;
pub mod mutex;
pub mod param;
pub mod proc;
pub mod ramdisk;
pub mod subr_prf;
pub mod syscalls;
pub mod tmpfs;
pub mod trap;
pub mod tty;
pub mod tty_ldisc;
pub mod uvm_glue;
pub mod uvm_init;
pub mod vfs;

#[cfg(test)]
mod sim;
