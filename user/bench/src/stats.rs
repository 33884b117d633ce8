//! Samples and counters: medians and percentiles of a test's samples, and
//! the kernel's per-CPU counters as named words.

use crate::kern::KernCpuStats;

/// The names of `KernCpuStats`'s fields, in their order; the reports
/// print each delta as `c.<name>=<value>`.
pub const FIELDS: [&str; 17] = [
    "tlb_page",
    "tlb_asid",
    "tlb_all",
    "shoot_sent",
    "shoot_recv",
    "flt_zero",
    "flt_cow",
    "flt_text",
    "nswitch",
    "forks",
    "execs",
    "exits",
    "reaps",
    "user_ns",
    "sys_ns",
    "intr_ns",
    "idle_ns",
];

const _: () = assert!(core::mem::size_of::<KernCpuStats>() == 8 * FIELDS.len(), "FIELDS names every counter");

/// The counters as words, in [`FIELDS`] order.
pub fn words(s: &KernCpuStats) -> [u64; FIELDS.len()] {
    // SAFETY: KernCpuStats is repr(C) and made of FIELDS.len() u64s (the
    // assertion above), so it has the layout of this array.
    unsafe { core::mem::transmute_copy(s) }
}

fn from_words(w: [u64; FIELDS.len()]) -> KernCpuStats {
    // SAFETY: as in words; every bit pattern is a valid u64.
    unsafe { core::mem::transmute_copy(&w) }
}

/// The system's figure: every CPU's counters added.
pub fn sum(cpus: &[KernCpuStats]) -> KernCpuStats {
    let mut t = [0u64; FIELDS.len()];
    for c in cpus {
        for (a, b) in t.iter_mut().zip(words(c)) {
            *a = a.wrapping_add(b);
        }
    }
    from_words(t)
}

/// `after - before`, field by field.
pub fn delta(before: &KernCpuStats, after: &KernCpuStats) -> KernCpuStats {
    let (a, b) = (words(after), words(before));
    from_words(core::array::from_fn(|i| a[i].wrapping_sub(b[i])))
}

/// Summary of a test's samples: median, 99th percentile (nearest rank),
/// min, max. Sorts `v` in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub n: usize,
    pub med: u64,
    pub p99: u64,
    pub min: u64,
    pub max: u64,
}

pub fn summarize(v: &mut [u64]) -> Summary {
    if v.is_empty() {
        return Summary::default();
    }
    v.sort_unstable();
    let n = v.len();
    let med = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
    // Nearest rank: the smallest sample at or above 99% of them.
    let rank = (99 * n).div_ceil(100).max(1);
    Summary { n, med, p99: v[rank - 1], min: v[0], max: v[n - 1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(summarize(&mut []), Summary::default());
        let s = summarize(&mut [5, 1, 3]);
        assert_eq!((s.n, s.med, s.p99, s.min, s.max), (3, 3, 5, 1, 5));
        assert_eq!(summarize(&mut [4, 1, 3, 2]).med, 2);
        let mut v: std::vec::Vec<u64> = (1..=200).rev().collect();
        let s = summarize(&mut v);
        assert_eq!((s.med, s.p99, s.min, s.max), (100, 198, 1, 200));
    }

    #[test]
    fn counters_add_and_subtract_by_field() {
        let a = KernCpuStats { tlb_page: 3, idle_ns: 10, ..Default::default() };
        let b = KernCpuStats { tlb_page: 4, reaps: 1, idle_ns: 5, ..Default::default() };
        let s = sum(&[a, b]);
        assert_eq!((s.tlb_page, s.reaps, s.idle_ns), (7, 1, 15));
        let d = delta(&a, &s);
        assert_eq!(d, b);
        assert_eq!(words(&s)[FIELDS.iter().position(|&f| f == "reaps").unwrap()], 1);
    }
}
