//! /bench/cc1 J: read source J % NSRC, map and touch cc1_mem(J) bytes,
//! mix them, write /tmp/jJ.s.
#![no_std]
#![cfg_attr(not(test), no_main)]

use bench::{fmt, kern, outln, work};

bench::entry!(main);

fn main(args: &bench::Args) -> i32 {
    let Some(j) = args.get(1).and_then(fmt::parse_u64).map(|j| j as usize) else {
        outln!("usage: cc1 JOB");
        return 2;
    };
    match run(j) {
        Ok(()) => 0,
        Err((what, e)) => {
            outln!("cc1 {j}: {what}: error {e}");
            1
        }
    }
}

fn run(j: usize) -> Result<(), (&'static str, i32)> {
    let mut src = [0u8; 48 * 1024];
    let fd = kern::open_read(fmt::path(format_args!("/bench/src/{}.c", j % work::NSRC)).as_bytes())
        .map_err(|e| ("open source", e))?;
    let n = kern::read_full(fd, &mut src).map_err(|e| ("read source", e))?;
    let _ = kern::close(fd);
    if n != work::source_len(j % work::NSRC) {
        return Err(("source length", n as i32));
    }
    let mem = kern::mmap_words(work::cc1_mem(j)).map_err(|e| ("mmap", e))?;
    let r = work::cc1(j, &src[..n], mem);
    let mut out = [0u8; work::HDR_LEN + work::ASM_LEN];
    out[..8].copy_from_slice(&work::ASM_MAGIC.to_le_bytes());
    out[8..16].copy_from_slice(&(j as u64).to_le_bytes());
    out[16..24].copy_from_slice(&r.to_le_bytes());
    for (i, b) in out[work::HDR_LEN..].iter_mut().enumerate() {
        *b = work::asm_byte(r, i);
    }
    let fd = kern::create(fmt::path(format_args!("/tmp/j{j}.s")).as_bytes()).map_err(|e| ("create .s", e))?;
    kern::write_all(fd, &out).map_err(|e| ("write .s", e))?;
    kern::close(fd).map_err(|e| ("close .s", e))
}
