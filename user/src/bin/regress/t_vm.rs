//! Virtual memory from user space: copy-on-write isolation after fork,
//! mmap/munmap/mprotect, and the faults that must end a process with
//! SIGSEGV.

use core::cell::UnsafeCell;

use rt::prelude::*;
use sys::mman::{MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE};
use sys::signal::SIGSEGV;
use sys::vmparam::PAGE_SIZE;

use crate::util::*;

fn pattern(i: usize, tag: u8) -> u8 {
    ((i / PAGE_SIZE) as u8).wrapping_mul(13) ^ (i as u8).wrapping_mul(7) ^ tag
}

fn fill(r: &mut [u8], tag: u8) {
    for (i, b) in r.iter_mut().enumerate() {
        *b = pattern(i, tag);
    }
}

/// The first byte that does not hold `tag`'s pattern.
fn mismatch(r: &[u8], tag: u8) -> Option<usize> {
    r.iter().enumerate().position(|(i, &b)| b != pattern(i, tag))
}

const A: u8 = 0x11;
const B: u8 = 0x5a;
const C: u8 = 0xc3;

/// One round of the copy-on-write protocol on `r` (filled with A before
/// the fork). The first writer after the fork (the parent, or the child
/// with `child_first`) writes its pattern; the other must still see A,
/// then writes its own; each must end up seeing only its own write.
fn cow_round(r: &mut [u8], child_first: bool) -> Res<()> {
    fill(r, A);
    let [from_p, to_c] = rt::pipe().ctx("pipe")?;
    let [from_c, to_p] = rt::pipe().ctx("pipe")?;
    let (pw, cw) = if child_first { (C, B) } else { (B, C) };
    let len = r.len();
    let ptr = r.as_mut_ptr();
    let pid = spawn(move || {
        // SAFETY: this process's private copy of the region.
        let r = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        if child_first {
            fill(r, cw);
            let _ = write_all(to_p, b"c");
            let _ = read_byte(from_p);
        } else {
            let _ = read_byte(from_p);
            if mismatch(r, A).is_some() {
                return 10;
            }
            fill(r, cw);
            let _ = write_all(to_p, b"c");
            let _ = read_byte(from_p);
        }
        if mismatch(r, cw).is_some() { 11 } else { 0 }
    })?;
    let mut bad = None;
    if child_first {
        let _ = read_byte(from_c)?;
        if let Some(i) = mismatch(r, A) {
            bad = Some(format!("parent sees the child's write at byte {i}"));
        }
        fill(r, pw);
        write_all(to_c, b"p")?;
    } else {
        fill(r, pw);
        write_all(to_c, b"p")?;
        let _ = read_byte(from_c)?;
        write_all(to_c, b"d")?;
    }
    let st = wait_for(pid)?;
    for fd in [to_c, from_p, to_p, from_c] {
        let _ = rt::close(fd);
    }
    if let Some(b) = bad {
        return Err(b);
    }
    if let Some(i) = mismatch(r, pw) {
        return Err(format!("parent lost its own write at byte {i} (child first: {child_first})"));
    }
    match st.exited() {
        Some(0) => Ok(()),
        Some(10) => Err("child sees the parent's write made after fork".into()),
        Some(11) => Err(format!("child lost its own write (child first: {child_first})")),
        _ => Err(format!("child {st}")),
    }
}

fn cow_both(r: &mut [u8]) -> Outcome {
    cow_round(r, false)?;
    cow_round(r, true)?;
    Ok(format!("{} pages isolated both ways", r.len().div_ceil(PAGE_SIZE)))
}

pub fn cow_heap() -> Outcome {
    let mut v = vec![0u8; 3 * PAGE_SIZE];
    cow_both(&mut v)
}

pub fn cow_stack() -> Outcome {
    let mut a = [0u8; 3 * PAGE_SIZE];
    let r = cow_both(&mut a);
    core::hint::black_box(&a);
    r
}

pub fn cow_mmap() -> Outcome {
    const PAGES: usize = 16;
    let p = map_pages(PAGES)?;
    // SAFETY: a fresh private mapping of PAGES pages, used only here.
    let r = cow_both(unsafe { core::slice::from_raw_parts_mut(p, PAGES * PAGE_SIZE) });
    // SAFETY: nothing refers to the mapping any more.
    let _ = unsafe { rt::munmap(p, PAGES * PAGE_SIZE) };
    r
}

/// Two pages of .bss.
struct Shared(UnsafeCell<[u8; 2 * PAGE_SIZE]>);
// SAFETY: only the test's single thread touches it.
unsafe impl Sync for Shared {}
static BSS: Shared = Shared(UnsafeCell::new([0; 2 * PAGE_SIZE]));

/// Pages written before the fork read the same in both processes, in
/// .bss and in an mmap'd region, and survive the child's exit.
pub fn cow_prefork() -> Outcome {
    // SAFETY: see Shared.
    let bss = unsafe { &mut *BSS.0.get() };
    let p = map_pages(4)?;
    // SAFETY: a fresh private mapping, used only here.
    let m = unsafe { core::slice::from_raw_parts_mut(p, 4 * PAGE_SIZE) };
    fill(bss, A);
    fill(m, B);
    let (bp, mp) = (bss.as_ptr() as usize, m.as_ptr() as usize);
    let st = in_child(move || {
        // SAFETY: the child's copies of the same two regions.
        let (bss, m) = unsafe {
            (
                core::slice::from_raw_parts(bp as *const u8, 2 * PAGE_SIZE),
                core::slice::from_raw_parts(mp as *const u8, 4 * PAGE_SIZE),
            )
        };
        if mismatch(bss, A).is_some() {
            return 10;
        }
        if mismatch(m, B).is_some() {
            return 11;
        }
        0
    })?;
    let r = match st.exited() {
        Some(0) => Ok(()),
        Some(10) => Err("child does not see .bss written before fork".to_string()),
        Some(11) => Err("child does not see the mapping written before fork".to_string()),
        _ => Err(format!("child {st}")),
    };
    let after = (mismatch(bss, A), mismatch(m, B));
    // SAFETY: nothing refers to the mapping any more.
    let _ = unsafe { rt::munmap(p, 4 * PAGE_SIZE) };
    r?;
    ensure!(after == (None, None), "parent's pre-fork data changed after the child exited: {after:?}");
    Ok("2 .bss pages and 4 mapped pages shared, unchanged after the child".into())
}

pub fn mmap_zero() -> Outcome {
    const PAGES: usize = 8;
    let len = PAGES * PAGE_SIZE;
    let mut addrs = Vec::new();
    for round in 0..3 {
        let p = map_pages(PAGES)?;
        addrs.push(p as usize);
        ensure!((p as usize).is_multiple_of(PAGE_SIZE), "mmap returned an unaligned address {p:?}");
        // SAFETY: a fresh private mapping of `len` bytes.
        let r = unsafe { core::slice::from_raw_parts_mut(p, len) };
        if let Some(i) = r.iter().position(|&b| b != 0) {
            return Err(format!("round {round}: byte {i} of a new mapping is {:#x}", r[i]));
        }
        // Dirty every page so a reused page would show.
        r.fill(0xa5);
        // SAFETY: nothing refers to the mapping any more.
        unsafe { rt::munmap(p, len) }.ctx("munmap")?;
    }
    let at: Vec<String> = addrs.iter().map(|a| format!("{a:#x}")).collect();
    Ok(format!("{PAGES} pages zero-filled, 3 rounds at {}", at.join(" ")))
}

fn vol_read(a: usize) -> u8 {
    // SAFETY: the callers pass mapped, readable addresses, or addresses
    // meant to fault in a child that exists to die of it.
    unsafe { core::ptr::read_volatile(core::hint::black_box(a) as *const u8) }
}

fn vol_write(a: usize, v: u8) {
    // SAFETY: as vol_read, for writable addresses or deliberate faults.
    unsafe { core::ptr::write_volatile(core::hint::black_box(a) as *mut u8, v) }
}

pub fn mmap_fixed() -> Outcome {
    let base = map_pages(4)? as usize;
    // SAFETY: the mapping just made; nothing else uses it.
    unsafe { rt::munmap(base as *mut u8, 4 * PAGE_SIZE) }.ctx("munmap")?;
    let want = base + PAGE_SIZE;
    let rw = PROT_READ | PROT_WRITE;
    let fl = MAP_PRIVATE | MAP_ANON | MAP_FIXED;
    // SAFETY: [want, want + 2 pages) was unmapped just above.
    let got = unsafe { rt::mmap(want, 2 * PAGE_SIZE, rw, fl, -1, 0) }.ctx("mmap MAP_FIXED")? as usize;
    ensure!(got == want, "MAP_FIXED at {want:#x} returned {got:#x}");
    vol_write(want, 1);
    vol_write(want + PAGE_SIZE, 2);
    // Over an existing mapping: the first page is replaced (zero again),
    // the second is untouched.
    // SAFETY: our own mapping, which nothing else refers to.
    let again =
        unsafe { rt::mmap(want, PAGE_SIZE, rw, fl, -1, 0) }.ctx("mmap MAP_FIXED over a mapping")? as usize;
    ensure!(again == want, "MAP_FIXED over a mapping at {want:#x} returned {again:#x}");
    let (a, b) = (vol_read(want), vol_read(want + PAGE_SIZE));
    // SAFETY: our own mapping.
    let _ = unsafe { rt::munmap(want as *mut u8, 2 * PAGE_SIZE) };
    ensure!(a == 0, "the replaced page still holds {a} (MAP_FIXED must replace)");
    ensure!(b == 2, "the page after the replaced one holds {b}, expected 2");
    Ok(format!("mapped at {want:#x}, replaced in place"))
}

/// Run `f` in a child, which must die of SIGSEGV.
fn segv(what: &str, f: impl FnOnce()) -> Res<()> {
    let st = in_child(|| {
        f();
        0
    })?;
    expect_signal(what, st, SIGSEGV)
}

pub fn munmap_middle() -> Outcome {
    let base = map_pages(3)? as usize;
    for i in 0..3 {
        vol_write(base + i * PAGE_SIZE, 10 + i as u8);
        vol_write(base + i * PAGE_SIZE + PAGE_SIZE - 1, 20 + i as u8);
    }
    let mid = base + PAGE_SIZE;
    // SAFETY: our own mapping; the middle page is not used afterwards
    // except by children meant to fault on it.
    unsafe { rt::munmap(mid as *mut u8, PAGE_SIZE) }.ctx("munmap of the middle page")?;
    let outer = [vol_read(base), vol_read(base + PAGE_SIZE - 1), vol_read(base + 2 * PAGE_SIZE)];
    ensure!(outer == [10, 20, 12], "outer pages changed after munmap: {outer:?}");
    ensure!(vol_read(base + 3 * PAGE_SIZE - 1) == 22, "last byte of the third page changed");
    segv("read of the unmapped middle page", || {
        vol_read(mid + 8);
    })?;
    segv("write to the unmapped middle page", || vol_write(mid, 1))?;
    // The outer pages still work in the parent, and a child sees them too.
    vol_write(base, 30);
    let st = in_child(move || (vol_read(base) == 30 && vol_read(base + 2 * PAGE_SIZE) == 12) as i32)?;
    expect_exit("child reading the outer pages", st, 1)?;
    // SAFETY: our own mapping.
    let _ = unsafe { rt::munmap(base as *mut u8, 3 * PAGE_SIZE) };
    Ok("middle page faults (SIGSEGV), outer pages intact".into())
}

pub fn mprotect_ro() -> Outcome {
    let p = map_pages(1)?;
    let a = p as usize;
    vol_write(a, 42);
    // SAFETY: nothing writes to the page while it is read-only, except
    // the child meant to fault.
    unsafe { rt::mprotect(p, PAGE_SIZE, PROT_READ) }.ctx("mprotect PROT_READ")?;
    ensure!(vol_read(a) == 42, "value lost by mprotect PROT_READ");
    segv("write to a read-only page", || vol_write(a, 1))?;
    // SAFETY: read-write again; ours.
    unsafe { rt::mprotect(p, PAGE_SIZE, PROT_READ | PROT_WRITE) }.ctx("mprotect back to RW")?;
    vol_write(a, 43);
    ensure!(vol_read(a) == 43, "write after mprotect RW did not stick");
    // SAFETY: ours.
    let _ = unsafe { rt::munmap(p, PAGE_SIZE) };
    Ok("write to PROT_READ faults (SIGSEGV), RW again works".into())
}

pub fn mprotect_none() -> Outcome {
    let p = map_pages(1)?;
    let a = p as usize;
    vol_write(a, 7);
    // SAFETY: nothing touches the page while it is PROT_NONE, except the
    // children meant to fault.
    unsafe { rt::mprotect(p, PAGE_SIZE, PROT_NONE) }.ctx("mprotect PROT_NONE")?;
    segv("read of a PROT_NONE page", || {
        vol_read(a);
    })?;
    segv("write to a PROT_NONE page", || vol_write(a, 1))?;
    // SAFETY: readable again.
    unsafe { rt::mprotect(p, PAGE_SIZE, PROT_READ) }.ctx("mprotect PROT_READ")?;
    ensure!(vol_read(a) == 7, "contents lost across PROT_NONE");
    // SAFETY: ours.
    let _ = unsafe { rt::munmap(p, PAGE_SIZE) };
    Ok("read and write fault (SIGSEGV), contents kept".into())
}

pub fn mmap_errors() -> Outcome {
    let rw = PROT_READ | PROT_WRITE;
    let fl = MAP_PRIVATE | MAP_ANON;
    let hole = {
        let p = map_pages(2)?;
        // SAFETY: ours, unused.
        unsafe { rt::munmap(p, 2 * PAGE_SIZE) }.ctx("munmap")?;
        p as usize
    };
    // SAFETY (all below): the calls fail or map into the hole we made.
    expect_err(
        "MAP_FIXED unaligned",
        unsafe { rt::mmap(hole + 1, PAGE_SIZE, rw, fl | MAP_FIXED, -1, 0) },
        Errno::EINVAL,
    )?;
    expect_err("mmap len 0", unsafe { rt::mmap(0, 0, rw, fl, -1, 0) }, Errno::EINVAL)?;
    expect_err("MAP_FIXED len 0", unsafe { rt::mmap(hole, 0, rw, fl | MAP_FIXED, -1, 0) }, Errno::EINVAL)?;
    expect_err(
        "mprotect unmapped",
        unsafe { rt::mprotect(hole as *mut u8, PAGE_SIZE, PROT_READ) },
        Errno::ENOMEM,
    )?;
    let p = map_pages(2)?;
    // SAFETY: our own two pages; the second is unmapped and the first
    // only handed to mprotect, then unmapped.
    let partly = unsafe {
        let _ = rt::munmap(p.add(PAGE_SIZE), PAGE_SIZE);
        let r = rt::mprotect(p, 2 * PAGE_SIZE, PROT_READ);
        let _ = rt::munmap(p, PAGE_SIZE);
        r
    };
    expect_err("mprotect of a mapped page and an unmapped one", partly, Errno::ENOMEM)?;
    expect_err("munmap unaligned", unsafe { rt::munmap((hole + 1) as *mut u8, PAGE_SIZE) }, Errno::EINVAL)?;
    expect_err(
        "mprotect unaligned",
        unsafe { rt::mprotect((hole + 1) as *mut u8, PAGE_SIZE, PROT_READ) },
        Errno::EINVAL,
    )?;
    Ok("EINVAL (unaligned, len 0), ENOMEM (unmapped range)".into())
}

// --- faults that must end the process with SIGSEGV ---

pub fn segv_null_read() -> Outcome {
    segv("read of NULL", || {
        vol_read(0);
    })?;
    segv("read of NULL + 100", || {
        vol_read(100);
    })?;
    Ok("killed by SIGSEGV".into())
}

pub fn segv_null_write() -> Outcome {
    segv("write to NULL", || vol_write(0, 1))?;
    Ok("killed by SIGSEGV".into())
}

static LITERAL: &str = "a string in .rodata";

pub fn segv_rodata_write() -> Outcome {
    let a = LITERAL.as_ptr() as usize;
    segv("write to a string literal", || vol_write(a, b'x'))?;
    ensure!(vol_read(a) == b'a', "the literal changed in the parent");
    Ok(format!("write to {a:#x} killed by SIGSEGV"))
}

pub fn segv_text_write() -> Outcome {
    let a = segv_text_write as fn() -> Outcome as usize;
    segv("write to program text", || vol_write(a, 0))?;
    Ok(format!("write to {a:#x} killed by SIGSEGV"))
}

pub fn segv_kernel_read() -> Outcome {
    segv("read of 0xffffff8000000000", || {
        vol_read(KERN_HI);
    })?;
    segv("write to 0xffff800000000000", || vol_write(KERN_LO, 1))?;
    Ok("killed by SIGSEGV".into())
}
