//! Spare buffers: emptied `Vec`s of finished connections, kept by a worker thread for its next
//! connections. A connection's event list and a record body that spans segments each cost one
//! allocation of several hundred bytes to a few KiB, and mimalloc served most of those through
//! its slow path (~400-500 instructions, against a few here). Each user keeps its own
//! [`Spares`] in a `thread_local!`, so no lock is taken; the count and each buffer's capacity
//! are capped, so what is kept stays small whatever the traffic.

/// Up to `COUNT` emptied buffers of at most `MAX_CAPACITY` elements' room each.
#[derive(Debug)]
pub struct Spares<T, const COUNT: usize, const MAX_CAPACITY: usize> {
    kept: Vec<Vec<T>>,
}

impl<T, const COUNT: usize, const MAX_CAPACITY: usize> Spares<T, COUNT, MAX_CAPACITY> {
    /// None kept yet (const, for `thread_local!`).
    pub const fn new() -> Self {
        Spares { kept: Vec::new() }
    }

    /// An empty buffer with room for `len` elements, if one is kept (the latest kept first).
    pub fn take(&mut self, len: usize) -> Option<Vec<T>> {
        let at = self.kept.iter().rposition(|b| b.capacity() >= len)?;
        Some(self.kept.swap_remove(at))
    }

    /// Keeps `buf`, emptied, unless it has no room, more than `MAX_CAPACITY`, or `COUNT` are
    /// kept already (it is then freed).
    pub fn keep(&mut self, mut buf: Vec<T>) {
        let room = buf.capacity();
        if room == 0 || room > MAX_CAPACITY || self.kept.len() >= COUNT {
            return;
        }
        buf.clear();
        self.kept.push(buf);
    }
}

impl<T, const COUNT: usize, const MAX_CAPACITY: usize> Default for Spares<T, COUNT, MAX_CAPACITY> {
    fn default() -> Self {
        Spares::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_a_kept_buffer_with_enough_room_emptied() {
        let mut spares: Spares<u8, 4, 1024> = Spares::new();
        assert!(spares.take(1).is_none());
        let mut small = Vec::with_capacity(16);
        small.extend_from_slice(b"abc");
        spares.keep(small);
        spares.keep(Vec::with_capacity(512));
        let big = spares.take(100).expect("the 512-byte buffer fits 100");
        assert!(big.capacity() >= 512 && big.is_empty());
        assert!(spares.take(100).is_none(), "the 16-byte one does not");
        let small = spares.take(16).expect("it fits 16");
        assert!(small.is_empty(), "kept buffers are emptied");
    }

    #[test]
    fn keeps_neither_empty_nor_large_buffers_nor_more_than_its_count() {
        let mut spares: Spares<u8, 2, 1024> = Spares::new();
        spares.keep(Vec::new());
        spares.keep(Vec::with_capacity(4096));
        assert!(spares.take(0).is_none());
        for _ in 0..3 {
            spares.keep(Vec::with_capacity(64));
        }
        assert!(spares.take(64).is_some());
        assert!(spares.take(64).is_some());
        assert!(spares.take(64).is_none(), "only two were kept");
    }
}
