//! A bounded memo: remembers values by key up to a number of entries and a number of bytes, and
//! is emptied when a new entry would not fit.
//!
//! Emptying rather than evicting one entry at a time is deliberate: what tlsight memoises
//! (parsed certificates, fingerprints, written JSON, per-connection keys) is heavily repeated
//! on a real network, so the popular entries are back after one miss each, and a stream of
//! distinct keys (made-up hellos, a flood) costs O(1) bookkeeping per entry with no recency
//! tracking, and never more memory than the bounds.

use std::borrow::Borrow;
use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Values by key, at most `max_entries` of them and `max_bytes` of their accounted size.
#[derive(Debug)]
pub struct BoundedMemo<K, V> {
    map: FxHashMap<K, V>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq, V> BoundedMemo<K, V> {
    /// An empty memo with these bounds.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        BoundedMemo {
            map: FxHashMap::default(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// The value remembered for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// Remembers `value` for `key`, accounted as `bytes` (whatever the caller counts: key and
    /// value sizes). Empties the memo first when the entry would not fit; an entry larger than
    /// the whole byte budget is not kept. Returns whether it was kept.
    pub fn insert(&mut self, key: K, value: V, bytes: usize) -> bool {
        if bytes > self.max_bytes {
            return false;
        }
        if self.map.len() >= self.max_entries || self.bytes + bytes > self.max_bytes {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.map.insert(key, value);
        true
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the memo holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes accounted to the entries held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptied_when_an_entry_would_not_fit() {
        let mut memo = BoundedMemo::new(3, 100);
        for k in 0..3 {
            assert!(memo.insert(k, k, 10));
        }
        assert_eq!((memo.len(), memo.bytes()), (3, 30));
        // A fourth entry: emptied first.
        assert!(memo.insert(3, 3, 10));
        assert_eq!((memo.len(), memo.bytes()), (1, 10));
        assert_eq!(memo.get(&3), Some(&3));
        assert_eq!(memo.get(&0), None);
        // Bytes: 10 + 95 > 100, emptied again.
        assert!(memo.insert(4, 4, 95));
        assert_eq!((memo.len(), memo.bytes()), (1, 95));
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept() {
        let mut memo = BoundedMemo::new(10, 100);
        memo.insert(1, 1, 50);
        assert!(!memo.insert(2, 2, 101));
        assert_eq!(memo.get(&1), Some(&1), "what was held stays");
        assert_eq!(memo.get(&2), None);
    }
}
