//! From `_start` to the program's entry function, and the panic handler.

/// The program's arguments (at most [`Args::MAX`]; the rest are dropped),
/// without their NULs.
pub struct Args {
    v: [&'static [u8]; Args::MAX],
    n: usize,
}

impl Args {
    pub const MAX: usize = 16;

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        (i < self.n).then(|| self.v[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        self.v[..self.n].iter().copied()
    }

    /// argv[0]'s last component, for messages.
    pub fn progname(&self) -> &'static str {
        let a0 = self.get(0).unwrap_or(b"bench");
        let base = a0.rsplit(|&c| c == b'/').next().unwrap_or(a0);
        core::str::from_utf8(base).unwrap_or("bench")
    }
}

#[cfg(target_os = "none")]
unsafe extern "Rust" {
    /// Defined by the program through [`crate::entry!`].
    fn __bench_main(args: &Args) -> i32;
}

#[cfg(target_os = "none")]
static mut ARGS: Args = Args { v: [&[]; Args::MAX], n: 0 };

/// argv[0]'s name once the program runs (for the panic message).
#[cfg(target_os = "none")]
fn progname() -> &'static str {
    // SAFETY: ARGS is written once in __bench_start before anything reads
    // it, and the programs are single-threaded.
    unsafe { (*core::ptr::addr_of!(ARGS)).progname() }
}

/// Called by `_start` with the initial stack pointer: find argv and the
/// auxv, decide which kernel this is, run the program, exit.
///
/// # Safety
/// `sp` must point at the startup block the kernel built.
#[cfg(target_os = "none")]
pub unsafe extern "C" fn __bench_start(sp: *const usize) -> ! {
    // SAFETY: the startup block: argc, argv[argc], NULL, envp..., NULL,
    // auxv pairs ending with type 0, all within the stack the kernel set up.
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let args = &mut *core::ptr::addr_of_mut!(ARGS);
        for i in 0..argc.min(Args::MAX) {
            let p = *argv.add(i);
            let mut n = 0;
            while *p.add(n) != 0 {
                n += 1;
            }
            args.v[i] = core::slice::from_raw_parts(p, n);
        }
        args.n = argc.min(Args::MAX);
        let mut envp = argv.add(argc + 1);
        while !(*envp).is_null() {
            envp = envp.add(1);
        }
        let auxv = envp.add(1) as *const usize;
        crate::kern::detect((0..).map(|i| (*auxv.add(2 * i), *auxv.add(2 * i + 1))));
        &*args
    };
    // SAFETY: the program defines __bench_main through entry!, which
    // checks the signature.
    let status = unsafe { __bench_main(args) };
    crate::kern::exit(status)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let pid = crate::kern::getpid();
    match info.location() {
        Some(l) => {
            crate::outln!("{}[{pid}]: panicked at {}:{}: {}", progname(), l.file(), l.line(), info.message())
        }
        None => crate::outln!("{}[{pid}]: panicked: {}", progname(), info.message()),
    }
    crate::kern::exit(101)
}

/// The host `main` of a program (see [`crate::entry!`]).
#[cfg(not(target_os = "none"))]
pub fn host_stub(name: &str) -> i32 {
    std::eprintln!(
        "{name}: a benchmark program for oxbsd and Linux guests; the host build is only for tests"
    );
    1
}
