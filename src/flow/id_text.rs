//! The text of a fixed-length identifier (a connection id, a Community ID) held inline: one is
//! made for every record, and a `String` each cost an allocation and its free per record.

use std::fmt;
use std::ops::Deref;

/// `N` ASCII bytes, readable as a `&str`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdText<const N: usize>([u8; N]);

impl<const N: usize> IdText<N> {
    /// The identifier made of `bytes`, which its maker fills with ASCII only.
    pub(super) fn new(bytes: [u8; N]) -> Self {
        debug_assert!(bytes.is_ascii());
        IdText(bytes)
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII (see `new`), so never the empty fallback.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> Deref for IdText<N> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for IdText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for IdText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> PartialEq<&str> for IdText<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_text_it_was_made_of() {
        let id = IdText::new(*b"C0123456789abcdef");
        assert_eq!(id.as_str(), "C0123456789abcdef");
        assert_eq!(id, "C0123456789abcdef");
        assert_eq!(id.to_string(), "C0123456789abcdef");
        assert_eq!(format!("{id:?}"), "\"C0123456789abcdef\"");
        assert_eq!(id.len(), 17);
    }
}
