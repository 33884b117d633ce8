//! execve: arguments and environment, missing and non-ELF files,
//! close-on-exec.

use rt::prelude::*;
use sys::fcntl::{O_CLOEXEC, O_RDONLY};

use crate::proto;
use crate::util::*;

/// The helper gets exactly the argv and envp given (empty strings, spaces
/// and '=' included) and exits with a status derived from them.
pub fn args_env() -> Outcome {
    let argv = ["regress-child", proto::MODE_ARGS, "one", "two words", "", "x=y", "last"];
    let sum = proto::arg_sum(argv[1..].iter().map(|a| a.as_bytes()));
    let argc = format!("REGRESS_ARGC={}", argv.len());
    let sumv = format!("REGRESS_SUM={sum}");
    let envp = ["REGRESS_A=alpha", argc.as_str(), sumv.as_str(), "REGRESS_EMPTY="];
    let pid = spawn(|| {
        let e = rt::execve(proto::HELPER, &argv, &envp);
        eprintln!("regress: exec {}: {e}", proto::HELPER);
        127
    })?;
    let st = wait_for(pid)?;
    let want = proto::args_code(argv.len(), envp.len());
    expect_exit("helper", st, want).map_err(|e| format!("{e} (101 argc, 102 argv, 103 env, 104 argv[0])"))?;
    Ok(format!("{} args, {} env strings, exit {want}", argv.len(), envp.len()))
}

pub fn enoent() -> Outcome {
    let e = rt::execve("/bin/no-such-program", &["x"], &[]);
    ensure!(e == Errno::ENOENT, "exec of a missing file: {e:?}, expected ENOENT");
    let e = rt::execve("/no/such/dir/prog", &["x"], &[]);
    ensure!(e == Errno::ENOENT, "exec in a missing directory: {e:?}, expected ENOENT");
    ensure!(rt::getpid() > 0, "the process is not intact after failed execs");
    Ok("ENOENT, process intact".into())
}

pub fn enoexec() -> Outcome {
    let st = rt::stat("/etc/motd").ctx("stat /etc/motd")?;
    ensure!(st.st_size > 0, "/etc/motd is empty");
    let e = rt::execve("/etc/motd", &["motd"], &[]);
    ensure!(e == Errno::ENOEXEC, "exec of /etc/motd: {e:?}, expected ENOEXEC");
    // The failed exec must leave this image running and usable.
    let v: Vec<u32> = (0..1000).collect();
    ensure!(v.iter().sum::<u32>() == 499_500, "memory damaged after the failed exec");
    Ok("ENOEXEC for a text file, process intact".into())
}

/// O_CLOEXEC descriptors are closed by exec, the others kept.
pub fn cloexec() -> Outcome {
    let shut = rt::open("/etc/motd", O_RDONLY | O_CLOEXEC, 0).ctx("open O_CLOEXEC")?;
    let keep = rt::open("/etc/motd", O_RDONLY, 0).ctx("open")?;
    let (s, k) = (format!("{shut}"), format!("{keep}"));
    let pid = spawn(|| {
        let e = rt::execve(proto::HELPER, &["regress-child", proto::MODE_FDS, &s, &k], &[]);
        eprintln!("regress: exec {}: {e}", proto::HELPER);
        127
    })?;
    let st = wait_for(pid)?;
    match st.exited() {
        Some(0) => {}
        Some(proto::BAD_CLOEXEC_OPEN) => return Err(format!("fd {shut} (O_CLOEXEC) still open after exec")),
        Some(proto::BAD_KEEP_CLOSED) => return Err(format!("fd {keep} (no O_CLOEXEC) closed by exec")),
        _ => return Err(format!("helper {st}")),
    }
    // The parent's own descriptors are untouched.
    rt::fstat(shut).ctx("fstat of the O_CLOEXEC fd in the parent")?;
    Ok(format!("fd {shut} closed, fd {keep} kept"))
}

/// The auxiliary vector exec passes describes this program: page size,
/// entry point and program header count and size as in its file, and
/// AT_PHDR, when given, the address of those program headers in memory.
pub fn auxv() -> Outcome {
    use sys::vmparam::{AT_ENTRY, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, PAGE_SIZE};
    let args = rt::args();
    let mut hdr = [0u8; 1024];
    let n = own_header(args, &mut hdr)?;
    let (entry, _) = load_segments(&hdr[..n]).ok_or("this program's file is not ELF")?;
    let u16_at = |o: usize| u16::from_le_bytes([hdr[o], hdr[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(hdr[32..40].try_into().unwrap()) as usize;
    let (phent, phnum) = (u16_at(54), u16_at(56));
    let get = |k: usize| args.auxv(k);
    ensure!(get(AT_PAGESZ) == Some(PAGE_SIZE), "AT_PAGESZ {:?}", get(AT_PAGESZ));
    ensure!(get(AT_ENTRY) == Some(entry), "AT_ENTRY {:x?}, the file's entry is {entry:#x}", get(AT_ENTRY));
    ensure!(get(AT_PHENT) == Some(phent), "AT_PHENT {:?}, the file's is {phent}", get(AT_PHENT));
    ensure!(get(AT_PHNUM) == Some(phnum), "AT_PHNUM {:?}, the file's is {phnum}", get(AT_PHNUM));
    let Some(phdr) = get(AT_PHDR).filter(|&p| p != 0) else {
        return Ok("AT_PAGESZ, AT_ENTRY, AT_PHENT, AT_PHNUM match the file; no AT_PHDR".into());
    };
    ensure!(phoff + phnum * phent <= n, "program headers beyond the first KiB of the file");
    let want = &hdr[phoff..phoff + phnum * phent];
    // In a child: an AT_PHDR pointing at unmapped memory kills it.
    let st = in_child(|| {
        // SAFETY: reading where the kernel says the program headers are;
        // if nothing is mapped there, this child dies of SIGSEGV, which
        // is the failure being tested for.
        let got = unsafe { core::slice::from_raw_parts(phdr as *const u8, want.len()) };
        (got == want) as i32
    })?;
    match st.exited() {
        Some(1) => {
            Ok(format!("AT_PAGESZ, AT_ENTRY, AT_PHENT, AT_PHNUM match; AT_PHDR {phdr:#x} holds the headers"))
        }
        Some(0) => Err(format!("AT_PHDR {phdr:#x} does not hold the program headers")),
        _ => Err(format!(
            "reading AT_PHDR {phdr:#x} ({phnum} headers of {phent} bytes, file offset {phoff:#x}): child {st}"
        )),
    }
}
