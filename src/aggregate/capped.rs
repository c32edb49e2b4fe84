//! Maps keyed by names the traffic chooses, capped: beyond the cap, entries are pooled under
//! one "other" entry, keeping the smallest names so the result never depends on the worker
//! count.

use super::Merge;
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// A map from names to aggregates that holds at most `N` names: the `N` smallest, so that
/// which names are held depends neither on arrival order nor on the worker count (a held name
/// always has its exact total). Everything else is merged into `other`. Only a new name
/// allocates. Names are strings unless `K` says otherwise (endpoints, for instance).
#[derive(Clone, Debug)]
pub struct Capped<V, const N: usize, K = String> {
    /// Aggregates by name.
    pub entries: BTreeMap<K, V>,
    /// Everything not held by name.
    pub other: V,
}

impl<V: Default, const N: usize, K> Default for Capped<V, N, K> {
    fn default() -> Self {
        Capped {
            entries: BTreeMap::new(),
            other: V::default(),
        }
    }
}

impl<V: Default + Merge, const N: usize, K: Ord + Clone> Capped<V, N, K> {
    /// Runs `f` on the aggregate of `name`: one map lookup when `name` is held already.
    #[inline]
    pub fn update<Q>(&mut self, name: &Q, f: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        match self.entries.get_mut(name) {
            Some(v) => f(v),
            None => f(self.entry(name)),
        }
    }

    /// Sets the aggregate of `name` (merged into `other` when `name` is not held), as
    /// `BTreeMap::insert` does for maps without a cap.
    pub fn insert(&mut self, name: K, v: V) {
        if self.entries.len() < N || self.entries.contains_key(&name) {
            self.entries.insert(name, v);
        } else {
            self.entry(&name).merge_in(v);
        }
    }

    /// The aggregate of `name` (inserted if missing), or `other` when `name` is not among
    /// the `N` smallest names seen.
    pub fn entry<Q>(&mut self, name: &Q) -> &mut V
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if !self.entries.contains_key(name) {
            if self.entries.len() >= N {
                let smaller = self
                    .entries
                    .last_key_value()
                    .is_some_and(|(largest, _)| name < largest.borrow());
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

impl<V, const N: usize, K: Ord> Capped<V, N, K> {
    /// The aggregate held under `name`, if it is held by name.
    pub fn get<Q: Ord + ?Sized>(&self, name: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.get(name)
    }
}

/// Iterates the entries held by name (not the pooled `other`), in name order.
impl<'a, V, const N: usize, K> IntoIterator for &'a Capped<V, N, K> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<V: Default + Merge, const N: usize, K: Ord + Clone> Merge for Capped<V, N, K> {
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
