//! Page size and page arithmetic shared by every arch (both use 4 KiB pages).

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
pub const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// Round an address down to its page.
pub const fn trunc_page(x: u64) -> u64 {
    x & !PAGE_MASK
}

/// Round an address up to the next page boundary.
pub const fn round_page(x: u64) -> u64 {
    (x + PAGE_MASK) & !PAGE_MASK
}

/// Address to page number.
pub const fn atop(x: u64) -> u64 {
    x >> PAGE_SHIFT
}

/// Page number to address.
pub const fn ptoa(x: u64) -> u64 {
    x << PAGE_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(trunc_page(0x1fff), 0x1000);
        assert_eq!(round_page(0x1001), 0x2000);
        assert_eq!(round_page(0x2000), 0x2000);
        assert_eq!(atop(0x5000), 5);
        assert_eq!(ptoa(5), 0x5000);
    }
}
