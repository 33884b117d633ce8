//! /bench/as J: read /tmp/jJ.s, map and touch as_mem(J) bytes, mix them
//! with its body, write /tmp/jJ.o, remove the .s.
#![no_std]
#![cfg_attr(not(test), no_main)]

use bench::{fmt, kern, outln, work};

bench::entry!(main);

fn main(args: &bench::Args) -> i32 {
    let Some(j) = args.get(1).and_then(fmt::parse_u64).map(|j| j as usize) else {
        outln!("usage: as JOB");
        return 2;
    };
    match run(j) {
        Ok(()) => 0,
        Err((what, e)) => {
            outln!("as {j}: {what}: error {e}");
            1
        }
    }
}

fn run(j: usize) -> Result<(), (&'static str, i32)> {
    let spath = fmt::path(format_args!("/tmp/j{j}.s"));
    let mut s = [0u8; work::HDR_LEN + work::ASM_LEN];
    let fd = kern::open_read(spath.as_bytes()).map_err(|e| ("open .s", e))?;
    let n = kern::read_full(fd, &mut s).map_err(|e| ("read .s", e))?;
    let _ = kern::close(fd);
    let word = |i: usize| u64::from_le_bytes(s[8 * i..8 * i + 8].try_into().unwrap());
    if n != s.len() || word(0) != work::ASM_MAGIC || word(1) != j as u64 {
        return Err(("bad .s", n as i32));
    }
    let mem = kern::mmap_words(work::as_mem(j)).map_err(|e| ("mmap", e))?;
    let r = work::assemble(j, &s[work::HDR_LEN..], mem);
    let mut out = [0u8; 1024];
    out[..8].copy_from_slice(&work::OBJ_MAGIC.to_le_bytes());
    out[8..16].copy_from_slice(&(j as u64).to_le_bytes());
    out[16..24].copy_from_slice(&r.to_le_bytes());
    let fd = kern::create(fmt::path(format_args!("/tmp/j{j}.o")).as_bytes()).map_err(|e| ("create .o", e))?;
    kern::write_all(fd, &out).map_err(|e| ("write .o", e))?;
    kern::close(fd).map_err(|e| ("close .o", e))?;
    kern::unlink(spath.as_bytes()).map_err(|e| ("unlink .s", e))
}
