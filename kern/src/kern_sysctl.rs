//! sysctl (the names `ps`, `sysctl` and the tests read) and reboot.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use sys::errno::*;
use sys::sysctl::*;

use crate::kern_proc::PROCTREE;
use crate::proc::PS_ZOMBIE;
use crate::uvm_glue::{copyin_val, copyout, copyout_val};
use crate::{cpu, kern_sched, machdep, param};

/// Answer `name` into the user buffer `oldp` of `*oldlenp` bytes (or just
/// report the size when `oldp` is 0). Read-only: setting is EPERM.
pub fn sys_sysctl(
    uname: u64,
    namelen: u32,
    oldp: u64,
    oldlenp: u64,
    newp: u64,
    _newlen: usize,
) -> Result<(), i32> {
    if !(2..=6).contains(&namelen) {
        return Err(EINVAL);
    }
    if newp != 0 {
        return Err(EPERM);
    }
    let mut name = [0i32; 6];
    for (i, n) in name.iter_mut().enumerate().take(namelen as usize) {
        *n = copyin_val(uname + 4 * i as u64)?;
    }
    let data: Vec<u8> = match (name[0], name[1]) {
        (CTL_KERN, KERN_OSTYPE) => cstr(param::OSTYPE),
        (CTL_KERN, KERN_OSRELEASE) => cstr(param::OSRELEASE),
        (CTL_KERN, KERN_VERSION) => cstr(crate::init_main::VERSION.get().map_or("", |v| v.as_str())),
        (CTL_KERN, KERN_HOSTNAME) => cstr(param::HOSTNAME),
        (CTL_KERN, KERN_CMDLINE) => cstr(crate::init_main::BOOT_CMDLINE.get().map_or("", |v| v.as_str())),
        (CTL_KERN, KERN_MSGBUF) => {
            let mut b = alloc::vec![0u8; crate::subr_prf::MSGBUFSIZE];
            let n = crate::subr_prf::msgbuf_read(&mut b);
            b.truncate(n);
            b
        }
        (CTL_KERN, KERN_EXIT) => {
            let mut b = crate::kern_exit::exit_strategy().name().as_bytes().to_vec();
            b.push(0);
            b
        }
        (CTL_KERN, KERN_VMSTATS) => bytes_of(&crate::uvm_glue::vmstats()),
        (CTL_KERN, KERN_CPUSTATS) => cpu::cpustats().iter().flat_map(bytes_of).collect(),
        (CTL_KERN, KERN_PROC) => proc_list(),
        (CTL_HW, HW_NCPU) => bytes_of(&(cpu::ncpus() as i32)),
        (CTL_HW, HW_MACHINE) => machine_name(),
        _ => return Err(ENOENT),
    };
    let have: usize = if oldlenp != 0 { copyin_val::<u64>(oldlenp)? as usize } else { 0 };
    if oldp != 0 {
        if have < data.len() {
            copyout(&data[..have], oldp)?;
            copyout_val(&(data.len() as u64), oldlenp)?;
            return Err(ENOMEM);
        }
        copyout(&data, oldp)?;
    }
    if oldlenp != 0 {
        copyout_val(&(data.len() as u64), oldlenp)?;
    }
    Ok(())
}

fn cstr(s: &str) -> Vec<u8> {
    s.as_bytes().iter().copied().chain([0]).collect()
}

fn machine_name() -> Vec<u8> {
    cstr(if machdep::elf_machine() == 62 { "amd64" } else { "arm64" })
}

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    crate::uvm_glue::as_bytes(v).to_vec()
}

fn proc_list() -> Vec<u8> {
    let tree = PROCTREE.lock();
    let procs: Vec<_> = tree.procs.values().map(|e| (e.process.clone(), e.ppid, e.pgid)).collect();
    drop(tree);
    let mut out = Vec::new();
    for (pr, ppid, pgid) in procs {
        let inner = pr.ps_mtx.lock();
        let [u, s] = inner.cputime();
        let mut stat = if pr.has_flag(PS_ZOMBIE) { SZOMB } else { SIDL };
        {
            let g = kern_sched::SCHED_LOCK.lock();
            for &t in inner.ps_threads.iter() {
                // SAFETY: on the thread list under ps_mtx: live.
                let tp = unsafe { &*t };
                let st = tp.sched(&g).p_stat.as_sys();
                if stat == SIDL || st == SONPROC || (st == SRUN && stat != SONPROC) {
                    stat = st;
                }
            }
        }
        let k = KinfoProc {
            p_pid: pr.ps_pid,
            p_ppid: ppid,
            p_pgid: pgid,
            p_stat: stat,
            p_flag: pr.ps_flags.load(Ordering::Relaxed),
            p_nthreads: pr.ps_threadcnt.load(Ordering::Relaxed),
            p_uutime_us: crate::cpu::cycles_to_us(u),
            p_ustime_us: crate::cpu::cycles_to_us(s),
            p_comm: inner.ps_comm,
            ..KinfoProc::default()
        };
        out.extend_from_slice(&bytes_of(&k));
    }
    out
}

/// reboot: oxbsd can only power off; RB_HALT alone also powers off (QEMU
/// has nothing to halt into), and a reboot request powers off too, saying
/// so. With RB_HALT, bits from RB_STATUS_SHIFT up carry the status QEMU
/// reports (oxbsd's extension, for `xtask run --script`). There are no
/// users to refuse: any process may call it, as root could.
pub fn sys_reboot(howto: i32) -> Result<(), i32> {
    use sys::reboot::*;
    crate::printf!("syncing disks... done\n");
    let status = if howto & RB_HALT != 0 { (howto as u32) >> RB_STATUS_SHIFT } else { 0 };
    if howto & RB_HALT == 0 {
        crate::printf!("rebooting is powering off on this machine\n");
    } else if status != 0 {
        crate::printf!("powering off with status {status}\n");
    } else {
        crate::printf!("powering off\n");
    }
    machdep::powerdown(if status != 0 { status } else { EXIT_SUCCESS })
}
