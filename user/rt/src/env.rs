//! The program's arguments, environment and auxiliary vector, read from
//! the block the kernel built at the top of the main thread's stack:
//!
//! ```text
//! sp -> argc
//!       argv[0] .. argv[argc-1], NULL
//!       envp[0] .. envp[n-1], NULL
//!       auxv: (key, value) pairs, ending with key AT_NULL
//!       ... the strings themselves
//! ```
//!
//! The block lives as long as the process image (until execve), so the
//! strings are handed out as `'static`.

use core::ffi::CStr;

/// argv, envp and auxv of the running program.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
    auxv: *const usize,
}

// SAFETY: the block is written once by the kernel before the program runs
// and never modified by the runtime; sharing read-only pointers to it
// between threads is fine.
unsafe impl Send for Args {}
// SAFETY: as above.
unsafe impl Sync for Args {}

static ARGS: spin::Once<Args> = spin::Once::new();

const NO_ARGS: Args =
    Args { argc: 0, argv: core::ptr::null(), envp: core::ptr::null(), auxv: core::ptr::null() };

/// The running program's arguments (empty before the runtime started it,
/// and on the host).
pub fn args() -> &'static Args {
    ARGS.get().unwrap_or(&NO_ARGS)
}

/// Record the arguments for [`args`]; the first call wins.
#[cfg(target_os = "none")]
pub(crate) fn set_args(a: Args) -> &'static Args {
    ARGS.call_once(|| a)
}

/// Iterate a NULL-terminated array of C strings.
fn cstrs(mut p: *const *const u8) -> impl Iterator<Item = &'static CStr> {
    core::iter::from_fn(move || {
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` walks an array the kernel (or a test) terminated
        // with NULL, and stops at that NULL; each element points at a
        // NUL-terminated string in the same long-lived block.
        unsafe {
            let s = *p;
            if s.is_null() {
                p = core::ptr::null();
                return None;
            }
            p = p.add(1);
            Some(CStr::from_ptr(s.cast()))
        }
    })
}

impl Args {
    /// Parse the block at the initial stack pointer.
    ///
    /// # Safety
    /// `sp` must point at a block laid out as described in the module
    /// documentation, which stays valid and unchanged for `'static`.
    pub unsafe fn from_stack(sp: *const usize) -> Args {
        // SAFETY: the layout is the caller's promise; every read stays
        // inside the block (argv has argc entries and a NULL, envp ends at
        // its NULL, and auxv follows it).
        unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *const *const u8;
            let envp = argv.add(argc + 1);
            let mut n = 0;
            while !(*envp.add(n)).is_null() {
                n += 1;
            }
            let auxv = envp.add(n + 1) as *const usize;
            Args { argc, argv, envp, auxv }
        }
    }

    /// Number of arguments, argv[0] included.
    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// argv[i].
    pub fn get(&self, i: usize) -> Option<&'static CStr> {
        self.iter().nth(i)
    }

    /// argv[i] as text; arguments that are not UTF-8 come back as "\u{fffd}".
    pub fn str(&self, i: usize) -> Option<&'static str> {
        self.get(i).map(lossy)
    }

    /// argv.
    pub fn iter(&self) -> impl Iterator<Item = &'static CStr> {
        cstrs(self.argv).take(self.argc)
    }

    /// argv as text (see [`Args::str`]).
    pub fn strs(&self) -> impl Iterator<Item = &'static str> {
        self.iter().map(lossy)
    }

    /// The environment, "NAME=value" strings.
    pub fn env(&self) -> impl Iterator<Item = &'static CStr> {
        cstrs(self.envp)
    }

    /// The value of environment variable `name`.
    pub fn getenv(&self, name: &str) -> Option<&'static str> {
        self.env().find_map(|kv| {
            let kv = kv.to_str().ok()?;
            let (k, v) = kv.split_once('=')?;
            (k == name).then_some(v)
        })
    }

    /// The value of auxiliary vector entry `key` (sys::vmparam::AT_*).
    pub fn auxv(&self, key: usize) -> Option<usize> {
        self.auxv_pairs().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every auxiliary vector pair before AT_NULL.
    pub fn auxv_pairs(&self) -> impl Iterator<Item = (usize, usize)> {
        let mut p = self.auxv;
        core::iter::from_fn(move || {
            if p.is_null() {
                return None;
            }
            // SAFETY: pairs follow envp's NULL and end with AT_NULL, where
            // the walk stops for good.
            unsafe {
                let (k, v) = (*p, *p.add(1));
                if k == sys::vmparam::AT_NULL {
                    p = core::ptr::null();
                    return None;
                }
                p = p.add(2);
                Some((k, v))
            }
        })
    }

    /// The program's name: the last component of argv[0], or "?".
    pub fn progname(&self) -> &'static str {
        let a0 = self.str(0).unwrap_or("?");
        a0.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(a0)
    }

    /// The raw envp pointer, to pass the environment on to execve.
    pub fn envp(&self) -> *const *const u8 {
        self.envp
    }
}

fn lossy(s: &'static CStr) -> &'static str {
    s.to_str().unwrap_or("\u{fffd}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a startup block the way the kernel does.
    struct Block {
        words: Vec<usize>,
        _strings: Vec<std::ffi::CString>,
    }

    fn block(argv: &[&str], envp: &[&str], auxv: &[(usize, usize)]) -> Block {
        let strings: Vec<std::ffi::CString> =
            argv.iter().chain(envp).map(|s| std::ffi::CString::new(*s).unwrap()).collect();
        let mut words = vec![argv.len()];
        for s in &strings[..argv.len()] {
            words.push(s.as_ptr() as usize);
        }
        words.push(0);
        for s in &strings[argv.len()..] {
            words.push(s.as_ptr() as usize);
        }
        words.push(0);
        for &(k, v) in auxv {
            words.extend([k, v]);
        }
        words.extend([sys::vmparam::AT_NULL, 0]);
        Block { words, _strings: strings }
    }

    #[test]
    fn parses_the_startup_block() {
        use sys::vmparam::{AT_ENTRY, AT_PAGESZ};
        let b = block(
            &["/bin/hello", "a b", ""],
            &["HOME=/", "PATH=/bin:/sbin", "EMPTY="],
            &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x200000)],
        );
        // SAFETY: the block lives until the end of the test.
        let a = unsafe { Args::from_stack(b.words.as_ptr()) };
        assert_eq!(a.len(), 3);
        assert_eq!(a.strs().collect::<Vec<_>>(), ["/bin/hello", "a b", ""]);
        assert_eq!(a.str(1), Some("a b"));
        assert_eq!(a.str(3), None);
        assert_eq!(a.progname(), "hello");
        assert_eq!(a.env().count(), 3);
        assert_eq!(a.getenv("PATH"), Some("/bin:/sbin"));
        assert_eq!(a.getenv("EMPTY"), Some(""));
        assert_eq!(a.getenv("PAT"), None);
        assert_eq!(a.auxv(AT_PAGESZ), Some(4096));
        assert_eq!(a.auxv(AT_ENTRY), Some(0x200000));
        assert_eq!(a.auxv(sys::vmparam::AT_PHDR), None);
        assert_eq!(a.auxv_pairs().count(), 2);
    }

    #[test]
    fn empty_block_and_no_args() {
        let b = block(&[], &[], &[]);
        // SAFETY: as above.
        let a = unsafe { Args::from_stack(b.words.as_ptr()) };
        assert!(a.is_empty());
        assert_eq!(a.progname(), "?");
        assert_eq!(a.env().count(), 0);
        assert_eq!(a.auxv_pairs().count(), 0);
        assert_eq!(NO_ARGS.iter().count(), 0);
        assert_eq!(NO_ARGS.env().count(), 0);
        assert_eq!(NO_ARGS.auxv(sys::vmparam::AT_PAGESZ), None);
    }
}
