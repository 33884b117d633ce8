//! execve: static ELF64 programs from the ramdisk (OpenBSD `kern_exec.c`).
//!
//! Everything that can fail for a reason the caller should hear about
//! (path, format, argument size, memory for the new map) is done before
//! the point of no return, where the new address space replaces the old
//! one; after it, a failure can only kill the process.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use sys::errno::*;
use sys::vmparam::*;
use uvm::pmap::VmProt;
use uvm::{Backing, PAGE_SIZE};

use crate::kern_sched::curproc;
use crate::machdep::{self, TrapFrame};
use crate::proc::PS_EXEC;
use crate::uvm_glue::{self, KernEnv, VmSpace, copyin_val, copyinstr, copyout};
use crate::vfs::{self, Target};

const ET_EXEC: u16 = 2;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// Most arguments plus environment strings accepted.
const MAXARGS: usize = 4096;

struct Elf {
    entry: u64,
    phoff: u64,
    phnum: u16,
    segs: Vec<Seg>,
}

struct Seg {
    vaddr: u64,
    off: u64,
    filesz: u64,
    memsz: u64,
    flags: u32,
}

fn rd16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn rd32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn rd64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Parse and check a static ELF64 executable for this machine: ENOEXEC
/// for anything else (wrong class, machine, type, or segments outside
/// user space or past the end of the file).
fn elf_parse(img: &[u8]) -> Result<Elf, i32> {
    if img.len() < 64 || &img[..4] != b"\x7fELF" || img[4] != 2 || img[5] != 1 {
        return Err(ENOEXEC);
    }
    if rd16(img, 16) != ET_EXEC || rd16(img, 18) != machdep::elf_machine() {
        return Err(ENOEXEC);
    }
    let entry = rd64(img, 24);
    let phoff = rd64(img, 32);
    let phentsize = rd16(img, 54) as u64;
    let phnum = rd16(img, 56);
    if phentsize < 56 || phoff.checked_add(phentsize * phnum as u64).is_none_or(|e| e > img.len() as u64) {
        return Err(ENOEXEC);
    }
    let mut segs = Vec::new();
    for i in 0..phnum as u64 {
        let o = (phoff + i * phentsize) as usize;
        if rd32(img, o) != PT_LOAD {
            continue;
        }
        let s = Seg {
            flags: rd32(img, o + 4),
            off: rd64(img, o + 8),
            vaddr: rd64(img, o + 16),
            filesz: rd64(img, o + 32),
            memsz: rd64(img, o + 40),
        };
        let end = s.vaddr.checked_add(s.memsz).ok_or(ENOEXEC)?;
        if s.filesz > s.memsz
            || s.off.checked_add(s.filesz).is_none_or(|e| e > img.len() as u64)
            || s.vaddr < VM_MIN_ADDRESS as u64
            || end > USRSTACK as u64 - MAXSSIZ as u64
            || s.vaddr % PAGE_SIZE != s.off % PAGE_SIZE
        {
            return Err(ENOEXEC);
        }
        segs.push(s);
    }
    if segs.is_empty() {
        return Err(ENOEXEC);
    }
    Ok(Elf { entry, phoff, phnum, segs })
}

fn prot_of(flags: u32) -> VmProt {
    let mut p = 0;
    if flags & PF_R != 0 {
        p |= VmProt::READ.0;
    }
    if flags & PF_W != 0 {
        p |= VmProt::WRITE.0;
    }
    if flags & PF_X != 0 {
        p |= VmProt::EXECUTE.0;
    }
    VmProt(p)
}

/// Copy a NULL-terminated vector of user strings.
fn copyin_strv(uv: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, i32> {
    let mut out = Vec::new();
    if uv == 0 {
        return Ok(out);
    }
    loop {
        if out.len() >= MAXARGS {
            return Err(E2BIG);
        }
        let ptr: u64 = copyin_val(uv + 8 * out.len() as u64)?;
        if ptr == 0 {
            return Ok(out);
        }
        let s = copyinstr(ptr, ARG_MAX).map_err(|e| if e == ENAMETOOLONG { E2BIG } else { e })?;
        *total += s.len() + 1;
        if *total > ARG_MAX {
            return Err(E2BIG);
        }
        out.push(s);
    }
}

/// Build the new map: program segments, stack, signal trampoline.
fn build_vmspace(img: &'static [u8], elf: &Elf) -> Result<alloc::sync::Arc<VmSpace>, i32> {
    let vm = VmSpace::new()?;
    let r = (|| {
        let mut map = vm.vm_map.write();
        for s in &elf.segs {
            let start = uvm::trunc_page(s.vaddr);
            let end = uvm::round_page(s.vaddr + s.memsz);
            let pageoff = s.vaddr - start;
            let data = &img[..(s.off + s.filesz) as usize];
            let backing = Backing::Image { data, off: (s.off - pageoff) as usize };
            map.map::<KernEnv>(start, end - start, prot_of(s.flags), backing, true)?;
        }
        let sbase = (USRSTACK - MAXSSIZ) as u64;
        map.map::<KernEnv>(sbase, MAXSSIZ as u64, VmProt::RW, Backing::Zero, true)?;
        let pa = uvm_glue::sigcode_pa();
        map.map::<KernEnv>(SIGCODE_VA as u64, PAGE_SIZE, VmProt::RX, Backing::Wired { pa }, true)?;
        Ok(())
    })();
    match r {
        Ok(()) => Ok(vm),
        Err(e) => {
            uvm_glue::uvmspace_free(vm);
            Err(e)
        }
    }
}

/// The initial stack: strings at the top, then (16-byte aligned) argc,
/// argv[], NULL, envp[], NULL, auxv pairs, AT_NULL. Returns the image and
/// the stack pointer (the address of argc).
fn build_stack(argv: &[Vec<u8>], envp: &[Vec<u8>], elf: &Elf) -> (Vec<u8>, u64) {
    let top = USRSTACK as u64;
    let strbytes: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
    let strbase = (top - strbytes as u64) & !15;
    let auxv: [(u64, u64); 2] = [(AT_PAGESZ as u64, PAGE_SIZE), (AT_ENTRY as u64, elf.entry)];
    // The program headers' address, if a loaded segment holds them; a
    // program that does not load them gets no AT_PHDR at all.
    let phsize = 56 * elf.phnum as u64;
    let phdr = elf
        .segs
        .iter()
        .find(|s| s.off <= elf.phoff && elf.phoff + phsize <= s.off + s.filesz)
        .map(|s| s.vaddr + (elf.phoff - s.off));
    let mut auxv: Vec<(u64, u64)> = auxv.to_vec();
    auxv.extend([(AT_PHENT as u64, 56), (AT_PHNUM as u64, elf.phnum as u64)]);
    if let Some(a) = phdr {
        auxv.push((AT_PHDR as u64, a));
    }
    let nwords = 1 + argv.len() + 1 + envp.len() + 1 + 2 * (auxv.len() + 1);
    let sp = (strbase - 8 * nwords as u64) & !15;
    let mut img = alloc::vec![0u8; (top - sp) as usize];
    let mut words: Vec<u64> = Vec::with_capacity(nwords);
    words.push(argv.len() as u64);
    let mut s = strbase;
    let mut put = |v: &Vec<u8>, img: &mut Vec<u8>| {
        let o = (s - sp) as usize;
        img[o..o + v.len()].copy_from_slice(v);
        let a = s;
        s += v.len() as u64 + 1;
        a
    };
    for a in argv {
        words.push(put(a, &mut img));
    }
    words.push(0);
    for e in envp {
        words.push(put(e, &mut img));
    }
    words.push(0);
    for &(k, v) in auxv.iter() {
        words.push(k);
        words.push(v);
    }
    words.push(AT_NULL as u64);
    words.push(0);
    for (i, w) in words.iter().enumerate() {
        img[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    (img, sp)
}

/// Load `path` into the current process (which has one thread). Kernel
/// entry point for both execve and the first user process.
pub fn exec_path(tf: *mut TrapFrame, path: &[u8], argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Result<(), i32> {
    let img = match vfs::namei(path)? {
        Target::Node(id) => vfs::file_data(id)?,
        Target::Tmp(f) => {
            // /tmp's files are not mapped into processes; a script there
            // still runs through its interpreter.
            let h = f.head(SHEBANG_MAX);
            if !h.starts_with(b"#!") {
                return Err(EACCES);
            }
            return exec_script(tf, path, &h, argv, envp);
        }
        Target::TmpMissing(_) => return Err(ENOENT),
        Target::Console | Target::Null | Target::TmpDir => return Err(EACCES),
    };
    if img.starts_with(b"#!") {
        return exec_script(tf, path, &img[..img.len().min(SHEBANG_MAX)], argv, envp);
    }
    exec_image(tf, path, img, argv, envp)
}

/// Longest `#!` line the kernel reads (OpenBSD's MAXINTERP is PATH_MAX).
const SHEBANG_MAX: usize = 256;

/// Split a `#!` line into the interpreter and its one optional argument.
fn parse_shebang(head: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), i32> {
    let line = &head[2..];
    let end = line.iter().position(|&b| b == b'\n').ok_or(ENOEXEC)?;
    let line = &line[..end];
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !is_ws(b)).ok_or(ENOEXEC)?;
    let line = &line[start..];
    let iend = line.iter().position(is_ws).unwrap_or(line.len());
    let interp = line[..iend].to_vec();
    let rest = &line[iend..];
    let arg = rest.iter().position(|b| !is_ws(b)).map(|s| {
        let r = &rest[s..];
        let e = r.iter().rposition(|b| !is_ws(b)).map_or(0, |e| e + 1);
        r[..e].to_vec()
    });
    Ok((interp, arg))
}

/// `#!interp [arg]`: run `interp [arg] path args...`. The interpreter
/// must be a binary (no nesting, as OpenBSD). The process is named after
/// the script.
fn exec_script(
    tf: *mut TrapFrame,
    path: &[u8],
    head: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<(), i32> {
    let (interp, arg) = parse_shebang(head)?;
    let img = match vfs::namei(&interp)? {
        Target::Node(id) => vfs::file_data(id)?,
        _ => return Err(ENOEXEC),
    };
    if img.starts_with(b"#!") {
        return Err(ENOEXEC);
    }
    let mut nargv: Vec<Vec<u8>> = Vec::with_capacity(argv.len() + 2);
    nargv.push(interp);
    nargv.extend(arg);
    nargv.push(path.to_vec());
    nargv.extend(argv.iter().skip(1).cloned());
    exec_image(tf, path, img, &nargv, envp)
}

fn exec_image(
    tf: *mut TrapFrame,
    path: &[u8],
    img: &'static [u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<(), i32> {
    let elf = elf_parse(img)?;
    let p = curproc();
    let pr = p.p_p.clone();
    let vm = build_vmspace(img, &elf)?;
    // The other threads exit first (they hold their own references to the
    // old map, dropped in exit1 (exit=direct) or by the reaper once they
    // are off their CPUs).
    if !crate::kern_exit::single_thread_set(p, &pr, false) {
        uvm_glue::uvmspace_free(vm);
        crate::kern_exit::exit1(0, crate::kern_exit::ExitKind::Thread);
    }
    let (stack, sp) = build_stack(argv, envp, &elf);

    // Point of no return: switch this thread to the new map.
    let pm = vm.vm_pmap;
    let (old, mine) = {
        let s = machdep::intr_disable();
        let old = pr.ps_vmspace.lock().replace(vm.clone());
        let oldpm = p.p_pmap.load(Ordering::Acquire) as usize;
        let mine = p.set_vmspace(Some(vm));
        if oldpm != 0 {
            machdep::pmap_deactivate(oldpm);
        }
        machdep::pmap_activate(pm);
        machdep::intr_restore(s);
        (old, mine)
    };
    // This CPU no longer runs on the old map; any other thread that did
    // holds its own reference until it drops it on its way out.
    for o in [old, mine].into_iter().flatten() {
        uvm_glue::uvmspace_free(o);
    }
    if copyout(&stack, sp).is_err() {
        crate::kern_sig::sigexit(sys::signal::SIGSEGV);
    }
    crate::kern_descrip::fdcloseexec(&pr);
    {
        let mut inner = pr.ps_mtx.lock();
        for a in inner.ps_sigacts.iter_mut() {
            if a.sa_handler != sys::signal::SIG_IGN {
                *a = sys::signal::SigAction::default();
            }
        }
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        let n = name.len().min(inner.ps_comm.len() - 1);
        inner.ps_comm = [0; sys::sysctl::KI_MAXCOMLEN];
        inner.ps_comm[..n].copy_from_slice(&name[..n]);
    }
    pr.set_flag(PS_EXEC);
    crate::kern_event::knote_proc_exec(&pr);
    // SAFETY: the Pcb of the running thread, touched only by itself.
    machdep::setregs(tf, unsafe { &mut *p.pcb() }, elf.entry, sp);
    crate::cpu::count(|s| &s.execs);
    Ok(())
}

pub fn sys_execve(tf: *mut TrapFrame, upath: u64, uargv: u64, uenvp: u64) -> Result<(), i32> {
    let path = copyinstr(upath, sys::fcntl::PATH_MAX - 1)?;
    // As OpenBSD: a NULL argv is EFAULT (a NULL envp is just empty).
    if uargv == 0 {
        return Err(EFAULT);
    }
    let mut total = 0;
    let argv = copyin_strv(uargv, &mut total)?;
    let envp = copyin_strv(uenvp, &mut total)?;
    exec_path(tf, &path, &argv, &envp)?;
    Err(EJUSTRETURN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(parse_shebang(b"#!/bin/sh\necho").unwrap(), (b"/bin/sh".to_vec(), None));
        assert_eq!(parse_shebang(b"#! /bin/sh  -e \n").unwrap(), (b"/bin/sh".to_vec(), Some(b"-e".to_vec())));
        assert_eq!(parse_shebang(b"#!/bin/sh -x y\n").unwrap().1, Some(b"-x y".to_vec()));
        assert_eq!(parse_shebang(b"#!\n"), Err(ENOEXEC));
        assert_eq!(parse_shebang(b"#!/bin/sh"), Err(ENOEXEC), "no newline within the limit");
    }
}
