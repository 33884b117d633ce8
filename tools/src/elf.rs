//! Just enough ELF64 to turn a linked kernel into a raw arm64 Image.
//!
//! QEMU loads a raw Image byte for byte at RAM base + text_offset, so the
//! file must be the loadable segments laid out by physical address (LMA)
//! from the lowest one, gaps zero-filled, without the trailing bss (the
//! Image header's image_size tells the loader how much room bss needs).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub paddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
}

const PT_LOAD: u32 = 1;

fn u16_at(b: &[u8], o: usize) -> Result<u16, String> {
    b.get(o..o + 2).map(|s| u16::from_le_bytes(s.try_into().unwrap())).ok_or_else(|| "ELF truncated".into())
}
fn u32_at(b: &[u8], o: usize) -> Result<u32, String> {
    b.get(o..o + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap())).ok_or_else(|| "ELF truncated".into())
}
fn u64_at(b: &[u8], o: usize) -> Result<u64, String> {
    b.get(o..o + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap())).ok_or_else(|| "ELF truncated".into())
}

/// The PT_LOAD segments of a little-endian ELF64 file.
pub fn load_segments(b: &[u8]) -> Result<Vec<Segment>, String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if b[4] != 2 || b[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = u64_at(b, 0x20)? as usize;
    let phentsize = u16_at(b, 0x36)? as usize;
    let phnum = u16_at(b, 0x38)? as usize;
    let mut v = Vec::new();
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        if u32_at(b, p)? != PT_LOAD {
            continue;
        }
        let seg = Segment {
            offset: u64_at(b, p + 0x08)?,
            paddr: u64_at(b, p + 0x18)?,
            filesz: u64_at(b, p + 0x20)?,
            memsz: u64_at(b, p + 0x28)?,
        };
        if seg.offset + seg.filesz > b.len() as u64 {
            return Err(format!("segment at {:#x} runs past the end of the file", seg.paddr));
        }
        v.push(seg);
    }
    if v.is_empty() {
        return Err("ELF has no loadable segments".into());
    }
    v.sort_by_key(|s| s.paddr);
    Ok(v)
}

/// Flatten the loadable segments into a raw image starting at the lowest LMA.
pub fn to_raw_image(b: &[u8]) -> Result<Vec<u8>, String> {
    let segs = load_segments(b)?;
    let base = segs[0].paddr;
    let end = segs.iter().filter(|s| s.filesz > 0).map(|s| s.paddr + s.filesz).max().unwrap_or(base);
    if end - base > 256 << 20 {
        return Err(format!(
            "image would be {} MiB: segments far apart in physical memory?",
            (end - base) >> 20
        ));
    }
    let mut out = vec![0u8; (end - base) as usize];
    for s in segs.iter().filter(|s| s.filesz > 0) {
        let at = (s.paddr - base) as usize;
        out[at..at + s.filesz as usize]
            .copy_from_slice(&b[s.offset as usize..(s.offset + s.filesz) as usize]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given (paddr, data, memsz) segments.
    fn mk_elf(segs: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let phoff = 64usize;
        let data_off = phoff + 56 * segs.len();
        let mut b = vec![0u8; data_off];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let mut off = data_off;
        for (i, (pa, data, memsz)) in segs.iter().enumerate() {
            let p = phoff + i * 56;
            b[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[p + 8..p + 16].copy_from_slice(&(off as u64).to_le_bytes());
            b[p + 0x18..p + 0x20].copy_from_slice(&pa.to_le_bytes());
            b[p + 0x20..p + 0x28].copy_from_slice(&(data.len() as u64).to_le_bytes());
            b[p + 0x28..p + 0x30].copy_from_slice(&memsz.to_le_bytes());
            off += data.len();
        }
        for (_, data, _) in segs {
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn flattens_by_lma_with_gaps_and_no_bss() {
        let elf =
            mk_elf(&[(0x4008_2000, b"DATA", 0x1000), (0x4008_0000, b"TEXT", 4), (0x4008_3000, b"", 0x5000)]);
        let img = to_raw_image(&elf).unwrap();
        assert_eq!(img.len(), 0x2004);
        assert_eq!(&img[..4], b"TEXT");
        assert!(img[4..0x2000].iter().all(|&x| x == 0));
        assert_eq!(&img[0x2000..], b"DATA");
    }

    #[test]
    fn rejects_garbage() {
        assert!(to_raw_image(b"hello").is_err());
        assert!(to_raw_image(&mk_elf(&[])).is_err());
        let mut truncated = mk_elf(&[(0x1000, b"ABCDEFGH", 8)]);
        truncated.truncate(truncated.len() - 4);
        assert!(to_raw_image(&truncated).unwrap_err().contains("past the end"));
    }
}
