//! Wrapping TCP sequence numbers.

use std::ops::{Add, Sub};

/// A TCP sequence number.
///
/// Sequence space wraps at 2^32, so sums and differences must be taken modulo 2^32 (RFC 1982
/// serial arithmetic). The newtype exists so that a plain `u32` subtraction or comparison, which
/// breaks at the wrap, cannot be written by accident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `earlier` to `self`: positive when `self` comes later in sequence
    /// space. Meaningful while the two are less than 2^31 apart, which TCP's window guarantees
    /// for any two numbers of one connection that are in flight together.
    pub fn distance(self, earlier: SeqNum) -> i32 {
        // Reinterpreting the wrapped difference as signed is exactly serial-number comparison.
        self.0.wrapping_sub(earlier.0) as i32
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;

    /// The sequence number `n` bytes later, wrapping at 2^32.
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = i32;

    /// Same as [`SeqNum::distance`].
    fn sub(self, earlier: SeqNum) -> i32 {
        self.distance(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_wraps_at_two_to_the_32() {
        assert_eq!(SeqNum(u32::MAX) + 1, SeqNum(0));
        assert_eq!(SeqNum(u32::MAX - 9) + 20, SeqNum(10));
        assert_eq!(SeqNum(5) + 0, SeqNum(5));
    }

    #[test]
    fn distance_is_signed_across_the_wrap() {
        assert_eq!(SeqNum(10) - SeqNum(u32::MAX - 9), 20);
        assert_eq!(SeqNum(u32::MAX - 9) - SeqNum(10), -20);
        assert_eq!(SeqNum(1000) - SeqNum(1000), 0);
        assert_eq!(SeqNum(0) - SeqNum(1), -1);
        assert_eq!(SeqNum(0x7fff_ffff) - SeqNum(0), i32::MAX);
    }

    #[test]
    fn distance_inverts_add() {
        for base in [0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX - 3, u32::MAX] {
            for n in [0u32, 1, 1460, 65_535, 1 << 30] {
                let later = SeqNum(base) + n;
                assert_eq!(later - SeqNum(base), n as i32);
                assert_eq!(SeqNum(base) - later, -(n as i32));
            }
        }
    }
}
