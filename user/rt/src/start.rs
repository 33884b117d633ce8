//! From `_start` to the program's entry function, and the panic handler.

#[cfg(target_os = "none")]
unsafe extern "Rust" {
    /// Defined by the program through [`crate::entry!`].
    fn __rt_main(args: &crate::Args) -> i32;
}

/// Called by the per-arch `_start` with the initial stack pointer: record
/// the arguments, run the program, exit with its status.
///
/// # Safety
/// `sp` must point at the startup block the kernel built.
#[cfg(target_os = "none")]
pub unsafe extern "C" fn __rt_start(sp: *const usize) -> ! {
    // SAFETY: the kernel's startup block, valid for the whole image.
    let args = crate::env::set_args(unsafe { crate::env::Args::from_stack(sp) });
    // SAFETY: the program defines __rt_main with this signature through
    // entry!, which checks it.
    let status = unsafe { __rt_main(args) };
    crate::process::exit(status)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    // A panic while reporting a panic: stop at once.
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if PANICKING.swap(true, Ordering::Relaxed) {
        crate::process::exit(101);
    }
    let name = crate::env::args().progname();
    let pid = crate::process::getpid();
    match info.location() {
        Some(l) => {
            crate::eprintln!("{name}[{pid}]: panicked at {}:{}: {}", l.file(), l.line(), info.message())
        }
        None => crate::eprintln!("{name}[{pid}]: panicked: {}", info.message()),
    }
    crate::process::exit(101)
}

/// The host `main` of a program (see [`crate::entry!`]).
#[cfg(not(target_os = "none"))]
pub fn host_stub(name: &str) -> i32 {
    std::eprintln!(
        "{name}: this is an oxbsd program; the host build exists only for the workspace's tests and lints"
    );
    1
}
