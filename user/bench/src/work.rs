//! The kbuild workload's computation, pure and deterministic, so that the
//! guest's programs and the host's tools run the very same code: the host
//! writes the sources into the ramdisk and computes the checksum the
//! guest's link step must print, which proves every job ran to the end.
//!
//! A job `j` is `cc j`: `cc1` reads source `j % NSRC`, maps and touches
//! `cc1_mem(j)` bytes, mixes them with the source for `PASSES` passes and
//! writes `/tmp/jJ.s` (a header and an `ASM_LEN`-byte body); `as` reads
//! that, maps a quarter as much, mixes again, writes `/tmp/jJ.o`, removes
//! the `.s`. The link step folds the objects' results in job order.

/// How many distinct source files the ramdisk holds (`/bench/src/N.c`).
pub const NSRC: usize = 16;
/// Mixing passes over cc1's memory (sets the CPU time of a job).
pub const PASSES: usize = 4;
pub const ASM_LEN: usize = 4096;
pub const OBJ_MAGIC: u64 = 0x4f58_4f42_4a31_0000; // "OXOBJ1"
pub const ASM_MAGIC: u64 = 0x4f58_4153_4d31_0000; // "OXASM1"
/// `.s` and `.o` files begin with magic, job, result (three u64s).
pub const HDR_LEN: usize = 24;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of `b`.
pub fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3))
}

/// The length of source file `n`: 8 to 38 KiB.
pub fn source_len(n: usize) -> usize {
    8192 + (splitmix(n as u64 ^ 0x5eed) % 16) as usize * 2048
}

/// Source file `n`'s text: C-looking lines, deterministic.
pub fn source_byte(n: usize, i: usize) -> u8 {
    const LINE: &[u8] = b"static int f(int x) { return (x * 31 + 7) ^ (x >> 3); }\n";
    let k = splitmix((n as u64) << 32 | (i / LINE.len()) as u64);
    let c = LINE[i % LINE.len()];
    // Vary the digits so no two lines are alike.
    if c.is_ascii_digit() { b'0' + (k % 10) as u8 } else { c }
}

/// cc1's memory for job `j`: 256 KiB to 3 MiB, by job.
pub fn cc1_mem(j: usize) -> usize {
    (1 + (splitmix(j as u64) % 12) as usize) * 256 * 1024
}

/// as's memory for job `j`: a quarter of cc1's.
pub fn as_mem(j: usize) -> usize {
    cc1_mem(j) / 4
}

/// Fill `mem` from `seed`, touching every word, then mix it `passes`
/// times (each word with a neighbour a stride away); returns the fold.
pub fn mix(seed: u64, mem: &mut [u64], passes: usize) -> u64 {
    let mut x = seed;
    for w in mem.iter_mut() {
        x = splitmix(x);
        *w = x;
    }
    let n = mem.len();
    if n == 0 {
        return seed;
    }
    for p in 0..passes {
        let stride = 1 + (p * 64 + 7) % n;
        for i in 0..n {
            let o = mem[(i + stride) % n];
            mem[i] = (mem[i] ^ o.rotate_left(13)).wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
    }
    mem.iter().fold(seed, |h, &w| (h ^ w).wrapping_mul(0x100_0000_01b3))
}

/// cc1's result for job `j` from its source text, using `mem` (of
/// `cc1_mem(j)` bytes) as its working memory.
pub fn cc1(j: usize, src: &[u8], mem: &mut [u64]) -> u64 {
    mix(fnv(src) ^ (j as u64).wrapping_mul(0x9e37), mem, PASSES)
}

/// The body of job `j`'s `.s` file after the header: derived from the
/// result, so `as` must read it to get its own right.
pub fn asm_byte(r: u64, i: usize) -> u8 {
    (splitmix(r ^ (i as u64 / 8)) >> ((i % 8) * 8)) as u8
}

/// as's result for job `j` from the `.s` body, using `mem` (of
/// `as_mem(j)` bytes).
pub fn assemble(j: usize, body: &[u8], mem: &mut [u64]) -> u64 {
    mix(fnv(body) ^ j as u64, mem, 1)
}

/// The link step's fold of the objects' results, in job order.
pub fn link(acc: u64, j: usize, r: u64) -> u64 {
    splitmix(acc ^ r ^ ((j as u64) << 48))
}

/// The whole build's checksum, computed the way the guest does it: the
/// host's reference (its memory comes from `alloc`).
#[cfg(not(target_os = "none"))]
pub fn expected_checksum(jobs: usize) -> u64 {
    use std::vec;
    let mut acc = 0;
    for j in 0..jobs {
        let n = j % NSRC;
        let src: std::vec::Vec<u8> = (0..source_len(n)).map(|i| source_byte(n, i)).collect();
        let mut mem = vec![0u64; cc1_mem(j) / 8];
        let r = cc1(j, &src, &mut mem);
        let body: std::vec::Vec<u8> = (0..ASM_LEN).map(|i| asm_byte(r, i)).collect();
        let mut mem = vec![0u64; as_mem(j) / 8];
        acc = link(acc, j, assemble(j, &body, &mut mem));
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_vary_within_bounds() {
        let m: std::vec::Vec<usize> = (0..64).map(cc1_mem).collect();
        assert!(m.iter().all(|&b| (256 * 1024..=3 * 1024 * 1024).contains(&b)));
        assert!(m.iter().min() != m.iter().max(), "job sizes vary");
        assert!((0..NSRC).all(|n| (8192..=40 * 1024).contains(&source_len(n))));
    }

    #[test]
    fn the_checksum_depends_on_every_job() {
        let a = expected_checksum(3);
        assert_eq!(a, expected_checksum(3), "deterministic");
        assert_ne!(a, expected_checksum(2));
        // A job whose result is wrong changes the fold.
        let (r0, r1, r2) = (1, 2, 3);
        assert_ne!(link(link(link(0, 0, r0), 1, r1), 2, r2), link(link(link(0, 0, r0), 1, r1 ^ 1), 2, r2));
    }
}
