//! Just enough ELF64 to turn a linked kernel into a raw arm64 Image, and
//! to check that a user program is what the kernel's exec expects.
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
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

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

/// One program header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// The parts of an ELF64 header a user program is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phdrs: Vec<Phdr>,
}

/// Parse a little-endian ELF64 header and its program headers.
pub fn parse(b: &[u8]) -> Result<Header, String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if b[4] != 2 || b[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = u64_at(b, 0x20)? as usize;
    let phentsize = u16_at(b, 0x36)? as usize;
    let phnum = u16_at(b, 0x38)? as usize;
    if phentsize < 56 {
        return Err(format!("program header entries of {phentsize} bytes"));
    }
    let mut phdrs = Vec::new();
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        phdrs.push(Phdr {
            p_type: u32_at(b, p)?,
            flags: u32_at(b, p + 4)?,
            offset: u64_at(b, p + 0x08)?,
            vaddr: u64_at(b, p + 0x10)?,
            filesz: u64_at(b, p + 0x20)?,
            memsz: u64_at(b, p + 0x28)?,
            align: u64_at(b, p + 0x30)?,
        });
    }
    Ok(Header { e_type: u16_at(b, 0x10)?, machine: u16_at(b, 0x12)?, entry: u64_at(b, 0x18)?, phdrs })
}

fn flags_str(f: u32) -> String {
    let bit = |m, c| if f & m != 0 { c } else { '-' };
    [bit(PF_R, 'R'), bit(PF_W, 'W'), bit(PF_X, 'X')].iter().collect()
}

/// Check that `b` is a user program the kernel can exec on `arch`: a
/// static (no interpreter, no dynamic section), non-PIE (ET_EXEC) ELF64
/// for the arch's machine; every PT_LOAD page-aligned in memory, in the
/// file at the same page offset, inside user space at or above
/// `text_base`, and never both writable and executable; the entry point
/// inside a read+execute PT_LOAD.
pub fn check_user_program(b: &[u8], machine: u16, text_base: u64, user_top: u64) -> Result<(), String> {
    let h = parse(b)?;
    if h.e_type != ET_EXEC {
        return Err(format!("ELF type {} is not ET_EXEC (a static, non-PIE executable)", h.e_type));
    }
    if h.machine != machine {
        return Err(format!("built for ELF machine {}, expected {machine}", h.machine));
    }
    if h.phdrs.iter().any(|p| p.p_type == PT_INTERP || p.p_type == PT_DYNAMIC) {
        return Err("dynamically linked (PT_INTERP or PT_DYNAMIC present)".into());
    }
    let loads: Vec<&Phdr> = h.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err("no PT_LOAD segment".into());
    }
    for p in &loads {
        let what = format!("PT_LOAD at {:#x} ({})", p.vaddr, flags_str(p.flags));
        if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
            return Err(format!("{what} is writable and executable"));
        }
        if p.vaddr % 4096 != 0 || p.offset % 4096 != p.vaddr % 4096 {
            return Err(format!("{what} is not page-aligned (offset {:#x})", p.offset));
        }
        if p.vaddr < text_base || p.vaddr.checked_add(p.memsz).is_none_or(|e| e > user_top) {
            return Err(format!("{what} lies outside [{text_base:#x}, {user_top:#x})"));
        }
        if p.filesz > p.memsz || p.offset + p.filesz > b.len() as u64 {
            return Err(format!("{what} has file size {:#x} past its memory size or the file", p.filesz));
        }
    }
    let mut sorted = loads.clone();
    sorted.sort_by_key(|p| p.vaddr);
    for w in sorted.windows(2) {
        if w[0].vaddr + w[0].memsz > w[1].vaddr {
            return Err(format!("PT_LOADs at {:#x} and {:#x} overlap", w[0].vaddr, w[1].vaddr));
        }
    }
    match loads.iter().find(|p| (p.vaddr..p.vaddr + p.memsz).contains(&h.entry)) {
        Some(p) if p.flags & (PF_R | PF_X) == PF_R | PF_X => Ok(()),
        Some(p) => Err(format!("entry {:#x} is in a {} segment, not R-X", h.entry, flags_str(p.flags))),
        None => Err(format!("entry {:#x} is in no PT_LOAD", h.entry)),
    }
}

/// The ELF machine number of an arch.
pub fn machine_of(arch: oxbsd_tests::Arch) -> u16 {
    match arch {
        oxbsd_tests::Arch::Amd64 => EM_X86_64,
        oxbsd_tests::Arch::Arm64 => EM_AARCH64,
    }
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

    /// An ELF64 executable with the given (type, flags, offset, vaddr,
    /// memsz) program headers and entry.
    fn mk_exec(machine: u16, entry: u64, phdrs: &[(u32, u32, u64, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 0x3000];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x10..0x12].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(t, f, off, va, memsz)) in phdrs.iter().enumerate() {
            let p = 64 + i * 56;
            b[p..p + 4].copy_from_slice(&t.to_le_bytes());
            b[p + 4..p + 8].copy_from_slice(&f.to_le_bytes());
            b[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            b[p + 0x10..p + 0x18].copy_from_slice(&va.to_le_bytes());
            b[p + 0x20..p + 0x28].copy_from_slice(&memsz.min(0x1000).to_le_bytes());
            b[p + 0x28..p + 0x30].copy_from_slice(&memsz.to_le_bytes());
            b[p + 0x30..p + 0x38].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        b
    }

    const BASE: u64 = 0x20_0000;
    const TOP: u64 = 0x80_0000_0000;

    #[test]
    fn user_program_checks() {
        let good = [
            (PT_LOAD, PF_R | PF_X, 0x1000, BASE, 0x800),
            (PT_LOAD, PF_R | PF_W, 0x2000, BASE + 0x1000, 0x3000),
        ];
        let check = |b: &[u8]| check_user_program(b, EM_X86_64, BASE, TOP);
        assert_eq!(check(&mk_exec(EM_X86_64, BASE, &good)), Ok(()));
        let e = check(&mk_exec(EM_AARCH64, BASE, &good)).unwrap_err();
        assert!(e.contains("machine 183"), "{e}");
        let mut pie = mk_exec(EM_X86_64, BASE, &good);
        pie[0x10] = 3;
        assert!(check(&pie).unwrap_err().contains("ET_EXEC"));
        let wx = [(PT_LOAD, PF_R | PF_W | PF_X, 0x1000, BASE, 0x800)];
        assert!(check(&mk_exec(EM_X86_64, BASE, &wx)).unwrap_err().contains("writable and executable"));
        let e = check(&mk_exec(EM_X86_64, BASE + 0x1000, &good)).unwrap_err();
        assert!(e.contains("not R-X"), "{e}");
        assert!(check(&mk_exec(EM_X86_64, 0x10_0000, &good)).unwrap_err().contains("no PT_LOAD"));
        let low = [(PT_LOAD, PF_R | PF_X, 0x1000, 0x1000, 0x800)];
        assert!(check(&mk_exec(EM_X86_64, 0x1000, &low)).unwrap_err().contains("outside"));
        let skew = [(PT_LOAD, PF_R | PF_X, 0x1800, BASE, 0x800)];
        assert!(check(&mk_exec(EM_X86_64, BASE, &skew)).unwrap_err().contains("page-aligned"));
        let dynamic = [good[0], good[1], (PT_INTERP, PF_R, 0x1000, BASE, 0x10)];
        assert!(check(&mk_exec(EM_X86_64, BASE, &dynamic)).unwrap_err().contains("dynamically"));
        let overlap = [good[0], (PT_LOAD, PF_R, 0x1000, BASE, 0x800)];
        assert!(check(&mk_exec(EM_X86_64, BASE, &overlap)).unwrap_err().contains("overlap"));
        assert!(check(b"\x7fELF").is_err());
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
