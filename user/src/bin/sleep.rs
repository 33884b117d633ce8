//! /bin/sleep seconds: wait that long. The interval may have a fraction
//! ("0.5", ".25"), parsed exactly (no floating point). Nothing is caught:
//! an interrupt from the terminal ends it as it would any program.
#![no_std]
#![cfg_attr(not(test), no_main)]

#[path = "common/mod.rs"]
mod common;

use core::time::Duration;

use rt::prelude::*;

rt::entry!(main);

const USAGE: &str = "sleep seconds";

fn main(args: &Args) -> i32 {
    let secs = match common::getopt(args, "", USAGE, |_, _| {}).as_deref() {
        Ok([secs]) => *secs,
        Ok(_) => return common::usage(USAGE),
        Err(status) => return *status,
    };
    let Some(d) = parse_interval(secs) else {
        common::warnx(format_args!("seconds is invalid: {secs}"));
        return 1;
    };
    match rt::time::sleep(d) {
        Ok(()) => 0,
        Err(e) => {
            common::warn("nanosleep", e);
            1
        }
    }
}

/// "N", "N.F", ".F" or "N." in decimal; digits past nanoseconds are
/// dropped. None for anything else, or for more seconds than a u64 holds.
fn parse_interval(s: &str) -> Option<Duration> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let secs = if int.is_empty() { 0 } else { int.parse::<u64>().ok()? };
    let mut nanos = 0u32;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |b| b - b'0');
        nanos = nanos * 10 + d as u32;
    }
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_interval("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_interval(".25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_interval("2."), Some(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.0000000019"), Some(Duration::new(1, 1)));
        assert_eq!(parse_interval("0"), Some(Duration::ZERO));
        for bad in ["", ".", "-1", "+1", "1e3", "abc", "1.2.3", " 1", "99999999999999999999"] {
            assert_eq!(parse_interval(bad), None, "{bad:?}");
        }
    }
}
