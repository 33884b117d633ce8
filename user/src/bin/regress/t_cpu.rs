//! KERN_CPUSTATS: the per-CPU event counters and CPU times the benchmark
//! reads.

use core::time::Duration;

use rt::prelude::*;
use sys::sysctl::{CTL_HW, CTL_KERN, HW_NCPU, KERN_CPUSTATS, KernCpuStats};
use sys::vmparam::PAGE_SIZE;

use crate::util::*;

const NAME: [i32; 2] = [CTL_KERN, KERN_CPUSTATS];
const REC: usize = core::mem::size_of::<KernCpuStats>();
const CHILDREN: usize = 20;
const PAGES: usize = 8;

/// One read of the whole array, which must be exactly `ncpu` records.
fn read(ncpu: usize) -> Res<Vec<KernCpuStats>> {
    let mut v = vec![KernCpuStats::default(); ncpu];
    // SAFETY: the Vec's ncpu initialised records, seen as bytes; every
    // byte pattern is a valid KernCpuStats (repr(C), u64 fields only).
    let buf = unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), ncpu * REC) };
    let n = rt::sysctl::sysctl(&NAME, Some(buf), None).ctx("sysctl kern.cpustats")?;
    ensure!(n == ncpu * REC, "kern.cpustats returned {n} bytes, not {ncpu} x {REC}");
    Ok(v)
}

fn sum(v: &[KernCpuStats], f: impl Fn(&KernCpuStats) -> u64) -> u64 {
    v.iter().map(f).sum()
}

fn busy_idle(s: &KernCpuStats) -> u64 {
    s.user_ns + s.sys_ns + s.intr_ns + s.idle_ns
}

/// Every field of every CPU only grows.
fn monotonic(a: &[KernCpuStats], b: &[KernCpuStats]) -> Res<()> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        // SAFETY: both are repr(C) records of 17 u64s, read as such.
        let (xs, ys) = unsafe {
            (
                core::slice::from_raw_parts((x as *const KernCpuStats).cast::<u64>(), REC / 8),
                core::slice::from_raw_parts((y as *const KernCpuStats).cast::<u64>(), REC / 8),
            )
        };
        if let Some(f) = (0..REC / 8).find(|&f| ys[f] < xs[f]) {
            return Err(format!("cpu{i}: field {f} went back from {} to {}", xs[f], ys[f]));
        }
    }
    Ok(())
}

pub fn cpustats() -> Outcome {
    let ncpu = rt::sysctl::sysctl_read::<i32>(&[CTL_HW, HW_NCPU]).ctx("sysctl hw.ncpu")? as usize;
    let size = rt::sysctl::sysctl(&NAME, None, None).ctx("sysctl kern.cpustats size")?;
    ensure!(size == ncpu * REC, "kern.cpustats is {size} bytes; hw.ncpu {ncpu} x {REC} is {}", ncpu * REC);
    if ncpu > 1 {
        // One record short: ENOMEM, as the other array sysctls.
        let mut small = vec![0u8; (ncpu - 1) * REC];
        expect_err(
            "kern.cpustats into a short buffer",
            rt::sysctl::sysctl(&NAME, Some(&mut small), None),
            Errno::ENOMEM,
        )?;
    }

    // Events: forks, exits, zero-fill faults, switches.
    let a = read(ncpu)?;
    let mut kids = Vec::with_capacity(CHILDREN);
    for _ in 0..CHILDREN {
        kids.push(spawn(|| {
            let Ok(p) = map_pages(PAGES) else { return 2 };
            for i in 0..PAGES {
                // SAFETY: inside the fresh PAGES-page mapping.
                unsafe { p.add(i * PAGE_SIZE).write_volatile(1) };
            }
            0
        })?);
    }
    for pid in kids {
        let st = wait_for(pid)?;
        expect_exit("child", st, 0)?;
    }
    let b = read(ncpu)?;
    monotonic(&a, &b)?;
    let d = |f: fn(&KernCpuStats) -> u64| sum(&b, f) - sum(&a, f);
    let (forks, exits, zero, switches) =
        (d(|s| s.forks), d(|s| s.exits), d(|s| s.flt_zero), d(|s| s.nswitch));
    let n = CHILDREN as u64;
    ensure!(forks >= n, "forks rose by {forks} for {n} children");
    ensure!(exits >= n, "exits rose by {exits} for {n} children");
    ensure!(
        zero >= n * PAGES as u64,
        "zero-fill faults rose by {zero}; {n} children touched {PAGES} fresh pages each"
    );
    ensure!(switches > 0, "no context switch counted across {n} forks and waits");

    // Times: per CPU, user + sys + intr + idle advance with the clock.
    let t0 = now();
    let s0 = read(ncpu)?;
    sleep_ms(200);
    let s1 = read(ncpu)?;
    let dt = (now() - t0).as_nanos() as u64;
    monotonic(&s0, &s1)?;
    let mut shares = String::new();
    for (i, (x, y)) in s0.iter().zip(&s1).enumerate() {
        let got = busy_idle(y) - busy_idle(x);
        ensure!(
            got * 10 >= dt * 9 && got * 10 <= dt * 11,
            "cpu{i}: user+sys+intr+idle advanced {got} ns over {dt} ns of the monotonic clock \
             (user {} sys {} intr {} idle {} ns)",
            y.user_ns - x.user_ns,
            y.sys_ns - x.sys_ns,
            y.intr_ns - x.intr_ns,
            y.idle_ns - x.idle_ns
        );
        shares += &format!(" cpu{i} {}%", got * 100 / dt.max(1));
    }
    Ok(format!(
        "{ncpu} cpus; +{forks} forks +{exits} exits +{zero} zero fills +{switches} switches; \
         time over {:?}:{shares}",
        Duration::from_nanos(dt)
    ))
}
