//! kbuild: the seed's experiment. A make-like loop keeps `j` jobs
//! running; each is `cc J` (cc -> cc1, then cc -> as, see bench::work).
//! When all have finished it "links": reads every object in job order and
//! folds their results into the checksum the host checks.
//!
//! Printed as OpenBSD's `time` does, with user and sys from
//! getrusage(RUSAGE_CHILDREN) (every job's whole tree: cc, cc1 and as),
//! and the system's CPU time from the kernel's counters where it has them.

use bench::fmt::{self, Line, Secs};
use bench::kern;
use bench::work;

use crate::config::Config;
use crate::micro::{Res, fail};
use crate::report::{self, snap};

fn tv_ns(t: sys::time::Timeval) -> u64 {
    t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000
}

pub fn run(cfg: &Config) -> Res {
    let (jobs, j) = (cfg.jobs, cfg.j);
    let ru0 = kern::rusage_children();
    let cpu0 = kern::system_cpu();
    let b = snap();
    let t0 = kern::clock_ns();
    let (mut started, mut running, mut done) = (0, 0, 0);
    while done < jobs {
        if running < j && started < jobs {
            let arg = fmt::path(format_args!("{started}"));
            kern::spawn(b"/bench/cc\0", &[b"cc\0", arg.as_bytes()]).map_err(|e| fail("fork", e))?;
            started += 1;
            running += 1;
            continue;
        }
        let (_, st) = kern::wait4(-1, None).map_err(|e| fail("wait4", e))?;
        if st != 0 {
            return Err(fail("a job failed, wait status", st));
        }
        running -= 1;
        done += 1;
    }
    // Link.
    let mut acc = 0u64;
    let mut obj = [0u8; 1024];
    for job in 0..jobs {
        let p = fmt::path(format_args!("/tmp/j{job}.o"));
        let fd = kern::open_read(p.as_bytes()).map_err(|e| fail("open object", e))?;
        let n = kern::read_full(fd, &mut obj).map_err(|e| fail("read object", e))?;
        let _ = kern::close(fd);
        let word = |i: usize| u64::from_le_bytes(obj[8 * i..8 * i + 8].try_into().unwrap());
        if n != obj.len() || word(0) != work::OBJ_MAGIC || word(1) != job as u64 {
            return Err(fail("bad object for job", job as i32));
        }
        acc = work::link(acc, job, word(2));
        kern::unlink(p.as_bytes()).map_err(|e| fail("unlink object", e))?;
    }
    let real = kern::clock_ns() - t0;
    let after = snap();
    let cpu = kern::system_cpu();
    let ru = kern::rusage_children();
    let user = tv_ns(ru.ru_utime) - tv_ns(ru0.ru_utime);
    let sys = tv_ns(ru.ru_stime) - tv_ns(ru0.ru_stime);
    bench::outln!("{} real {} user {} sys", Secs(real, 10), Secs(user, 10), Secs(sys, 10));
    let mut l = Line::<1024>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut l,
        format_args!(
            "@bench test=kbuild jobs={jobs} j={j} unit=ns n=1 med={real} p99={real} min={real} max={real} \
             real={real} user={user} sys={sys} checksum={acc:#018x}"
        ),
    );
    if let (Some((b0, i0)), Some((b1, i1))) = (cpu0, cpu) {
        let _ =
            core::fmt::Write::write_fmt(&mut l, format_args!(" cpu_busy={} cpu_idle={}", b1 - b0, i1 - i0));
    }
    report::counters(&mut l, b, after);
    report::emit(l);
    Ok(())
}
