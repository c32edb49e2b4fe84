//! Spare buffers and boxes: emptied `Vec`s and boxes of finished connections, kept by a worker
//! thread for its next connections. A connection's event list, its hellos' boxes and a record
//! body that spans segments each cost one allocation of a few hundred bytes to a few KiB, and
//! mimalloc served most of those through its slow path (~200-500 instructions, against a few
//! here). Each user keeps its own [`Spares`] or [`SpareBoxes`] in a `thread_local!`, so no
//! lock is taken; the count and each buffer's capacity are capped, so what is kept stays small
//! whatever the traffic.

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

/// Up to `COUNT` boxes whose values are done with, to be overwritten by the next value of
/// their type (the old value is dropped then: the same work as at its own drop, later).
#[derive(Debug)]
pub struct SpareBoxes<T, const COUNT: usize> {
    kept: Vec<Box<T>>,
}

impl<T, const COUNT: usize> SpareBoxes<T, COUNT> {
    /// None kept yet (const, for `thread_local!`).
    pub const fn new() -> Self {
        SpareBoxes { kept: Vec::new() }
    }

    /// `value` in a kept box, else in a new one.
    pub fn boxed(&mut self, value: T) -> Box<T> {
        match self.kept.pop() {
            Some(mut b) => {
                *b = value;
                b
            }
            None => Box::new(value),
        }
    }

    /// Keeps `b` for [`Self::boxed`], unless `COUNT` are kept already (it is then dropped).
    pub fn keep(&mut self, b: Box<T>) {
        if self.kept.len() < COUNT {
            self.kept.push(b);
        }
    }
}

impl<T, const COUNT: usize> Default for SpareBoxes<T, COUNT> {
    fn default() -> Self {
        SpareBoxes::new()
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

    #[test]
    fn a_kept_box_holds_the_next_value() {
        let mut spares: SpareBoxes<String, 1> = SpareBoxes::new();
        let first = spares.boxed("first".to_string());
        let at = std::ptr::from_ref::<String>(&first);
        spares.keep(first);
        spares.keep(Box::new("beyond the count".to_string()));
        let second = spares.boxed("second".to_string());
        assert_eq!(*second, "second");
        assert_eq!(
            std::ptr::from_ref::<String>(&second),
            at,
            "the kept box is reused"
        );
        assert_eq!(
            *spares.boxed("third".to_string()),
            "third",
            "a new box when none is kept"
        );
    }
}
