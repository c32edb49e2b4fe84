//! Maps keyed by names the traffic chooses, capped: beyond the cap, entries are pooled under
//! one "other" entry, keeping the smallest names so the result never depends on the worker
//! count.

use super::Merge;
use std::collections::BTreeMap;

/// A map from names to aggregates that holds at most `N` names: the `N` smallest, so that
/// which names are held depends neither on arrival order nor on the worker count (a held name
/// always has its exact total). Everything else is merged into `other`. Only a new name
/// allocates.
#[derive(Clone, Debug, Default)]
pub struct Capped<V, const N: usize> {
    /// Aggregates by name.
    pub entries: BTreeMap<String, V>,
    /// Everything not held by name.
    pub other: V,
}

impl<V: Default + Merge, const N: usize> Capped<V, N> {
    /// Runs `f` on the aggregate of `name`: one map lookup when `name` is held already.
    pub fn update(&mut self, name: &str, f: impl FnOnce(&mut V)) {
        match self.entries.get_mut(name) {
            Some(v) => f(v),
            None => f(self.entry(name)),
        }
    }

    /// Sets the aggregate of `name` (merged into `other` when `name` is not held), as
    /// `BTreeMap::insert` does for maps without a cap.
    pub fn insert(&mut self, name: String, v: V) {
        if self.entries.len() < N || self.entries.contains_key(&name) {
            self.entries.insert(name, v);
        } else {
            self.entry(&name).merge_in(v);
        }
    }

    /// The aggregate of `name` (inserted if missing), or `other` when `name` is not among
    /// the `N` smallest names seen.
    pub fn entry(&mut self, name: &str) -> &mut V {
        if !self.entries.contains_key(name) {
            if self.entries.len() >= N {
                let smaller = self
                    .entries
                    .last_key_value()
                    .is_some_and(|(largest, _)| name < largest.as_str());
                if !smaller {
                    return &mut self.other;
                }
                if let Some((_, evicted)) = self.entries.pop_last() {
                    self.other.merge_in(evicted);
                }
            }
            self.entries.insert(name.to_owned(), V::default());
        }
        // Present, or inserted just above.
        self.entries
            .get_mut(name)
            .unwrap_or_else(|| unreachable!("entry present or inserted above"))
    }
}

impl<V, const N: usize> Capped<V, N> {
    /// The aggregate held under `name`, if it is held by name.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.entries.get(name)
    }
}

/// Iterates the entries held by name (not the pooled `other`), in name order.
impl<'a, V, const N: usize> IntoIterator for &'a Capped<V, N> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, String, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<V: Default + Merge, const N: usize> Merge for Capped<V, N> {
    fn merge_in(&mut self, other: Self) {
        for (name, v) in other.entries {
            self.update(&name, |mine| mine.merge_in(v));
        }
        self.other.merge_in(other.other);
    }
}

/// Label of the pooled entries of a capped map.
pub const OTHER: &str = "(other)";

/// Counts by name, at most `N` names (see [`Capped`]).
pub type BoundedCounts<const N: usize> = Capped<u64, N>;

impl<const N: usize> Capped<u64, N> {
    /// Adds `n` to `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        self.update(name, |count| *count += n);
    }

    /// Names by count (descending), then name; the pooled rest last as [`OTHER`].
    pub fn ranked(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<_> = self.entries.iter().map(|(k, &n)| (k.as_str(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if self.other > 0 {
            v.push((OTHER, self.other));
        }
        v
    }
}
