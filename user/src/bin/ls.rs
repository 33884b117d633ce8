//! /bin/ls [-1al] [file ...]: list files and directory contents.
//!
//! Operands that are not directories are listed first, then each
//! directory's entries (with a "name:" heading when there is more than one
//! operand), each group sorted by name. Names starting with '.' are left
//! out unless -a. -l gives the mode, link count and size before the name.
//! To a terminal the names go in columns (80 wide), otherwise one per line
//! (or with -1).
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use rt::fs::Dirents;
use rt::prelude::*;
use sys::fcntl::{O_DIRECTORY, O_RDONLY};
use sys::stat::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, Stat};

rt::entry!(main);

const USAGE: &str = "ls [-1al] [file ...]";
const TERM_WIDTH: usize = 80;

#[derive(Clone, Copy, Default)]
struct Flags {
    all: bool,
    long: bool,
    columns: bool,
}

/// What is printed of one file.
struct Entry {
    name: String,
    st: Option<Stat>,
}

fn main(args: &Args) -> i32 {
    let mut f = Flags { columns: rt::isatty(1), ..Flags::default() };
    let each = |c, _| match c {
        '1' => f.columns = false,
        'a' => f.all = true,
        _ => f.long = true,
    };
    let mut names = match common::getopt(args, "1al", USAGE, each) {
        Ok(n) => n,
        Err(status) => return status,
    };
    if names.is_empty() {
        names.push(".");
    }
    names.sort_unstable();
    let mut status = 0;
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for name in &names {
        match rt::stat(name) {
            Ok(st) if st.st_mode & S_IFMT == S_IFDIR => dirs.push(*name),
            Ok(st) => files.push(Entry { name: name.to_string(), st: Some(st) }),
            Err(e) => {
                common::warn(name, e);
                status = 1;
            }
        }
    }
    let mut out = String::new();
    print_entries(&mut out, &files, f);
    let heading = names.len() > 1;
    for (i, dir) in dirs.iter().enumerate() {
        if i > 0 || !files.is_empty() {
            out.push('\n');
        }
        if heading {
            out += &format!("{dir}:\n");
        }
        match read_dir(dir, f) {
            Ok(entries) => print_entries(&mut out, &entries, f),
            Err(e) => {
                flush(&mut out);
                common::warn(dir, e);
                status = 1;
            }
        }
    }
    flush(&mut out);
    status
}

/// Write what is gathered so far (before an error line, so the two come
/// out in order).
fn flush(out: &mut String) {
    let _ = rt::io::write_all(&mut rt::io::Fd(1), out.as_bytes());
    out.clear();
}

/// The entries of directory `dir`, sorted, with their status for -l.
fn read_dir(dir: &str, f: Flags) -> Result<Vec<Entry>> {
    let fd = rt::open(dir, O_RDONLY | O_DIRECTORY, 0)?;
    let mut names = Vec::new();
    let mut buf = vec![0u8; 4096];
    let r = loop {
        match rt::getdents(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => names.extend(
                Dirents::new(&buf[..n])
                    .map(|d| d.name_str().to_string())
                    .filter(|name| f.all || !name.starts_with('.')),
            ),
            Err(Errno::EINTR) => {}
            Err(e) => break Err(e),
        }
    };
    let _ = rt::close(fd);
    r?;
    names.sort_unstable();
    Ok(names
        .into_iter()
        .map(|name| {
            let st = if f.long {
                let path = if dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") };
                rt::stat(&path).map_err(|e| common::warn(&path, e)).ok()
            } else {
                None
            };
            Entry { name, st }
        })
        .collect())
}

fn print_entries(out: &mut String, entries: &[Entry], f: Flags) {
    if f.long {
        let nw = entries.iter().filter_map(|e| e.st).map(|s| digits(s.st_nlink as u64)).max().unwrap_or(1);
        let sw = entries.iter().filter_map(|e| e.st).map(|s| digits(s.st_size as u64)).max().unwrap_or(1);
        for e in entries {
            match e.st {
                Some(st) => {
                    *out += &format!(
                        "{}  {:>nw$} {:>sw$} {}\n",
                        mode_string(st.st_mode),
                        st.st_nlink,
                        st.st_size,
                        e.name
                    )
                }
                // stat failed (and said so): the name alone.
                None => *out += &format!("{:10}  {:>nw$} {:>sw$} {}\n", "?", "?", "?", e.name),
            }
        }
    } else if f.columns {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        *out += &columns(&names, TERM_WIDTH);
    } else {
        for e in entries {
            *out += &e.name;
            out.push('\n');
        }
    }
}

fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// "drwxr-xr-x" for a st_mode, with the set-id and sticky bits shown as
/// s/S and t/T in the execute places, as ls(1) does.
fn mode_string(mode: u32) -> String {
    let kind = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFREG => '-',
        S_IFCHR => 'c',
        S_IFIFO => 'p',
        S_IFLNK => 'l',
        _ => '?',
    };
    let mut s = String::from(kind);
    // (read, write, execute bits, special bit, its letter) per class.
    let classes =
        [(0o400, 0o200, 0o100, 0o4000, 's'), (0o40, 0o20, 0o10, 0o2000, 's'), (0o4, 0o2, 0o1, 0o1000, 't')];
    for (r, w, x, special, letter) in classes {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        s.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Names in columns down then across, as ls(1) prints to a terminal:
/// each column as wide as the longest name rounded up to a tab stop.
fn columns(names: &[&str], width: usize) -> String {
    let Some(longest) = names.iter().map(|n| n.chars().count()).max() else {
        return String::new();
    };
    let colw = (longest + 8) & !7;
    let ncols = (width / colw).max(1);
    let nrows = names.len().div_ceil(ncols);
    let mut out = String::new();
    for row in 0..nrows {
        let mut col = row;
        while col < names.len() {
            let name = names[col];
            col += nrows;
            out += name;
            if col < names.len() {
                out.extend(core::iter::repeat_n(' ', colw - name.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(mode_string(S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(S_IFREG | 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(S_IFCHR | 0o620), "crw--w----");
        assert_eq!(mode_string(S_IFIFO | 0o1000), "p--------T");
    }

    #[test]
    fn column_layout() {
        assert_eq!(columns(&[], 80), "");
        assert_eq!(columns(&["a", "b", "c"], 80), "a       b       c\n");
        // Ten 8-wide columns fit in 80, so 12 names take two rows, filled
        // down each column first.
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        let out = columns(&names, 80);
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].starts_with("a       c       e"), "{out}");
        assert!(rows[1].starts_with("b       d       f"), "{out}");
        // A name as long as the width gets a row to itself.
        assert_eq!(columns(&["x".repeat(100).as_str(), "y"], 80).lines().count(), 2);
        assert_eq!(digits(0), 1);
        assert_eq!(digits(10), 2);
    }
}
