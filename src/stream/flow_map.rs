//! The flow table's map: boxed entries by flow key, each slot a hash and a pointer.
//!
//! Every packet looks its flow up twice, once eight segments ahead to prefetch the entry and
//! once to process it. A map of `(FlowKey, Box)` pairs had 48-byte slots: a worker's few
//! thousand flows spread their slots over more than the L2 cache, and the look-up ahead waited
//! for the slot (8 % of a run of short connections' samples). Here a slot is the key's hash and
//! the box (16 bytes; the key lives in the entry), and the look-up ahead compares hashes only,
//! so it never waits for the entry it asks to be loaded.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table;
use rustc_hash::FxBuildHasher;

use super::table::Entry;
use crate::flow::FlowKey;
use crate::prefetch;

/// One tracked flow.
#[derive(Debug)]
struct Slot<F> {
    /// The hash of `entry.key`.
    hash: u64,
    entry: Box<Entry<F>>,
}

/// Boxed flow entries by their key (FxHash: seedless, so runs are reproducible; nothing
/// observable depends on the iteration order).
#[derive(Debug)]
pub(super) struct FlowMap<F> {
    slots: HashTable<Slot<F>>,
}

impl<F> Default for FlowMap<F> {
    fn default() -> Self {
        FlowMap {
            slots: HashTable::new(),
        }
    }
}

fn hash_of(key: &FlowKey) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<F> FlowMap<F> {
    /// The entry of `key`.
    pub(super) fn get(&self, key: &FlowKey) -> Option<&Entry<F>> {
        let hash = hash_of(key);
        self.slots
            .find(hash, |s| s.hash == hash && s.entry.key == *key)
            .map(|s| &*s.entry)
    }

    /// The entry of `key`, to change.
    pub(super) fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Entry<F>> {
        let hash = hash_of(key);
        self.slots
            .find_mut(hash, |s| s.hash == hash && s.entry.key == *key)
            .map(|s| &mut *s.entry)
    }

    /// Adds `entry` under its key, replacing the entry the key had (if any).
    pub(super) fn insert(&mut self, entry: Box<Entry<F>>) -> &mut Entry<F> {
        let hash = hash_of(&entry.key);
        let slot = Slot { hash, entry };
        let placed = match self.slots.entry(
            hash,
            |s| s.hash == hash && s.entry.key == slot.entry.key,
            |s| s.hash,
        ) {
            hash_table::Entry::Occupied(mut o) => {
                *o.get_mut() = slot;
                o.into_mut()
            }
            hash_table::Entry::Vacant(v) => v.insert(slot).into_mut(),
        };
        &mut placed.entry
    }

    /// Takes the entry of `key` out of the map.
    pub(super) fn remove(&mut self, key: &FlowKey) -> Option<Box<Entry<F>>> {
        let hash = hash_of(key);
        let found = self
            .slots
            .find_entry(hash, |s| s.hash == hash && s.entry.key == *key);
        found.ok().map(|o| o.remove().0.entry)
    }

    /// Takes every entry out, in hash order.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Box<Entry<F>>> + '_ {
        self.slots.drain().map(|s| s.entry)
    }

    /// Asks the CPU to start loading the entry of `key`, for a packet coming soon; returns
    /// whether an entry of the key's hash is tracked (a hint: comparing the keys would wait
    /// for the entry, and a 64-bit hash shared by two tracked keys only misdirects a hint).
    pub(super) fn prefetch(&self, key: &FlowKey) -> bool {
        let hash = hash_of(key);
        let found = self.slots.find(hash, |s| s.hash == hash);
        if let Some(slot) = found {
            prefetch::object::<Entry<F>>(&slot.entry);
        }
        found.is_some()
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no entry is held.
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, Timestamp, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    fn entry(port: u16, flow: u32) -> Box<Entry<u32>> {
        let ep = |port| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        };
        let key = FlowKey::from_endpoints(Transport::Tcp, ep(port), ep(443)).0;
        Box::new(Entry::new(key, flow, Timestamp(0)))
    }

    #[test]
    fn entries_are_found_replaced_and_removed_by_key() {
        let mut map = FlowMap::default();
        let (a, b) = (entry(1000, 1), entry(1001, 2));
        let (key_a, key_b) = (a.key, b.key);
        map.insert(a);
        map.insert(b);
        assert!(map.prefetch(&key_a));
        assert_eq!(map.get(&key_b).map(|e| e.flow), Some(2));
        // The same key again replaces the entry.
        map.insert(entry(1000, 3));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&key_a).map(|e| e.flow), Some(3));
        map.get_mut(&key_a).expect("tracked").flow = 4;
        assert_eq!(map.remove(&key_a).map(|e| e.flow), Some(4));
        assert!(map.get(&key_a).is_none() && !map.prefetch(&key_a));
        assert_eq!(map.drain().map(|e| e.flow).collect::<Vec<_>>(), [2]);
        assert!(map.is_empty());
    }
}
