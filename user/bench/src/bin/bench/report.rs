//! The `@bench` lines: a summary of samples and the counters over a test.

use bench::fmt::Line;
use bench::kern::{self, KernCpuStats};
use bench::stats::{self, FIELDS, Summary};

/// The counters at one moment (None on a kernel without them).
#[derive(Clone, Copy)]
pub struct Snap(Option<KernCpuStats>);

pub fn snap() -> Snap {
    Snap(kern::cpustats().map(|(s, _)| s))
}

impl Snap {
    pub fn stats(&self) -> Option<KernCpuStats> {
        self.0
    }
}

/// Append `c.NAME=delta` for every counter that moved between the snaps;
/// nothing where the kernel has no counters.
pub fn counters(l: &mut Line<1024>, before: Snap, after: Snap) {
    let (Some(b), Some(a)) = (before.0, after.0) else { return };
    add_counters(l, &stats::delta(&b, &a));
}

pub fn add_counters(l: &mut Line<1024>, d: &KernCpuStats) {
    for (name, v) in FIELDS.iter().zip(stats::words(d)) {
        let _ = core::fmt::Write::write_fmt(l, format_args!(" c.{name}={v}"));
    }
}

/// One result line: `@bench test=NAME [extra] unit=ns n= med= p99= min= max=`
/// and the counters from `before` to `after`.
pub fn line(test: &str, extra: core::fmt::Arguments<'_>, samples: &mut [u64], before: Snap, after: Snap) {
    raw(test, extra, samples);
    let s: Summary = stats::summarize(samples);
    let mut l = Line::<1024>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut l,
        format_args!(
            "@bench test={test}{extra} unit=ns n={} med={} p99={} min={} max={}",
            s.n, s.med, s.p99, s.min, s.max
        ),
    );
    counters(&mut l, before, after);
    emit(l);
}

/// Every sample, in the order taken, as `@bench raw test=NAME [extra]
/// v=A,B,...` lines of at most RAW_PER_LINE values (the tools join
/// them), before the summary line that sorts them.
pub fn raw(test: &str, extra: core::fmt::Arguments<'_>, samples: &[u64]) {
    const RAW_PER_LINE: usize = 48;
    for chunk in samples.chunks(RAW_PER_LINE) {
        let mut l = Line::<1024>::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!("@bench raw test={test}{extra} v="));
        for (i, v) in chunk.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = core::fmt::Write::write_fmt(&mut l, format_args!("{sep}{v}"));
        }
        emit(l);
    }
}

pub fn emit(mut l: Line<1024>) {
    assert!(!l.overflowed(), "report line too long");
    l.push(b'\n');
    let _ = kern::write_all(1, l.as_bytes());
}
