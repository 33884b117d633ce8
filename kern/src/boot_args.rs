//! The kernel command line (`-append`): whitespace-separated words.
//!
//! | word              | effect                                              |
//! |-------------------|-----------------------------------------------------|
//! | `halt`            | power off with success once every CPU is up and ticking |
//! | `panic`           | panic on purpose on the boot CPU, after boot        |
//! | `panic=N`         | panic on purpose on CPU N (sent an IPI), after boot |
//! | `fault`           | take a kernel page fault on purpose (trap dump path) |
//! | `loglevel=LEVEL`  | `error`, `warn`, `info` (default), `debug`, `trace` |
//! | `sleeplocked`     | sleep while holding a spin mutex: assertwaitok must panic |
//! | `init=PATH`       | the first user program (default `/sbin/init`)      |
//! | `exit=direct`     | the exit strategy: no reaper thread (the default)   |
//! | `exit=reaper`     | the exit strategy: the classic reaper thread        |
//! | `deadsleep`       | an exiting (SDEAD) thread sleeps: assertwaitok must panic |
//!
//! Unknown words are reported and otherwise ignored, so a typo never stops
//! a boot.

use log::LevelFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanicAt {
    BootCpu,
    Cpu(u32),
}

/// How a thread's last resources are freed (DESIGN §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStrategy {
    /// exit1 tears the address space down itself; the next thread on the
    /// CPU frees the dead one. No reaper thread.
    Direct,
    /// The classic design: idle hands dead threads to a reaper thread.
    Reaper,
}

impl ExitStrategy {
    pub fn name(self) -> &'static str {
        match self {
            ExitStrategy::Direct => "direct",
            ExitStrategy::Reaper => "reaper",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootArgs<'a> {
    /// The exit strategy (`exit=`).
    pub exit: ExitStrategy,
    /// Test invariant 4: an SDEAD thread tries to sleep on its way out.
    pub dead_sleep: bool,
    pub halt: bool,
    pub panic: Option<PanicAt>,
    pub fault: bool,
    /// Test assertwaitok: sleep with a spinning mutex held.
    pub sleep_locked: bool,
    pub loglevel: LevelFilter,
    /// The first user program's path.
    pub init: &'a str,
    /// Words not understood, for one warning each.
    pub unknown: heapless_words::Words<'a>,
}

/// A small fixed-capacity list of string slices (no heap is needed to
/// parse the command line, which happens before the heap exists).
pub mod heapless_words {
    #[derive(Clone, Debug, PartialEq, Eq, Default)]
    pub struct Words<'a> {
        items: [&'a str; 8],
        len: usize,
        pub dropped: usize,
    }

    impl<'a> Words<'a> {
        pub fn push(&mut self, w: &'a str) {
            if self.len < self.items.len() {
                self.items[self.len] = w;
                self.len += 1;
            } else {
                self.dropped += 1;
            }
        }
        pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
            self.items[..self.len].iter().copied()
        }
        pub fn is_empty(&self) -> bool {
            self.len == 0 && self.dropped == 0
        }
    }
}

impl<'a> BootArgs<'a> {
    pub fn parse(cmdline: &'a str) -> Self {
        let mut a = BootArgs {
            exit: ExitStrategy::Direct,
            dead_sleep: false,
            halt: false,
            panic: None,
            fault: false,
            sleep_locked: false,
            loglevel: LevelFilter::Info,
            init: "/sbin/init",
            unknown: Default::default(),
        };
        for w in cmdline.split_ascii_whitespace() {
            match w.split_once('=') {
                None => match w {
                    "halt" => a.halt = true,
                    "panic" => a.panic = Some(PanicAt::BootCpu),
                    "fault" => a.fault = true,
                    "sleeplocked" => a.sleep_locked = true,
                    "deadsleep" => a.dead_sleep = true,
                    // Read by the arm64 backend itself (its self-tests).
                    "usertest" | "kstackoverflow" => {}
                    _ => a.unknown.push(w),
                },
                Some(("panic", n)) => match n.parse() {
                    Ok(n) => a.panic = Some(PanicAt::Cpu(n)),
                    Err(_) => a.unknown.push(w),
                },
                Some(("loglevel", l)) => match parse_level(l) {
                    Some(l) => a.loglevel = l,
                    None => a.unknown.push(w),
                },
                Some(("init", path)) if path.starts_with('/') => a.init = path,
                Some(("exit", "direct")) => a.exit = ExitStrategy::Direct,
                Some(("exit", "reaper")) => a.exit = ExitStrategy::Reaper,
                // For init, which reads the command line (kern.cmdline).
                Some(("script", path)) if path.starts_with('/') => {}
                Some(_) => a.unknown.push(w),
            }
        }
        a
    }
}

fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "warn" => LevelFilter::Warn,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default() {
        let a = BootArgs::parse("");
        assert!(!a.halt && !a.fault && a.panic.is_none());
        assert_eq!(a.loglevel, LevelFilter::Info);
        assert!(a.unknown.is_empty());
    }

    #[test]
    fn words() {
        let a = BootArgs::parse("  halt loglevel=debug\tpanic=3 ");
        assert!(a.halt);
        assert_eq!(a.panic, Some(PanicAt::Cpu(3)));
        assert_eq!(a.loglevel, LevelFilter::Debug);
        assert_eq!(a.init, "/sbin/init");
        assert_eq!(BootArgs::parse("init=/bin/regress").init, "/bin/regress");
        assert!(!BootArgs::parse("init=relative").unknown.is_empty());
        assert_eq!(BootArgs::parse("panic").panic, Some(PanicAt::BootCpu));
        assert!(BootArgs::parse("fault").fault);
        assert_eq!(BootArgs::parse("").exit, ExitStrategy::Direct);
        assert_eq!(BootArgs::parse("exit=reaper").exit, ExitStrategy::Reaper);
        assert_eq!(BootArgs::parse("exit=reaper exit=direct").exit, ExitStrategy::Direct);
        let bad = BootArgs::parse("exit=fast");
        assert_eq!(bad.exit, ExitStrategy::Direct);
        assert_eq!(bad.unknown.iter().collect::<Vec<_>>(), ["exit=fast"]);
        assert!(BootArgs::parse("deadsleep").dead_sleep);
    }

    #[test]
    fn bad_words_are_reported_not_fatal() {
        let a = BootArgs::parse("loglevel=loud panic=x frob halt");
        assert!(a.halt);
        assert_eq!(a.loglevel, LevelFilter::Info);
        assert_eq!(a.panic, None);
        assert_eq!(a.unknown.iter().collect::<Vec<_>>(), ["loglevel=loud", "panic=x", "frob"]);
    }
}
