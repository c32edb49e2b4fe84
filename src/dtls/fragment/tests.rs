use super::*;
use crate::dtls::test_wire::fragment as encode;
use proptest::prelude::*;

const T: Timestamp = Timestamp(1);

fn frag(msg_type: u8, seq: u16, body: &[u8], offset: usize, len: usize) -> Fragment<'_> {
    Fragment {
        msg_type,
        length: body.len() as u32,
        message_seq: seq,
        offset: offset as u32,
        bytes: &body[offset..offset + len],
    }
}

fn drain(j: &mut MessageJoiner) -> Vec<JoinedMessage> {
    std::iter::from_fn(|| j.pop()).collect()
}

#[test]
fn header_is_read_and_checked() {
    let body = b"0123456789";
    let mut rec = encode(1, 3, body, 2, 5);
    rec.extend(encode(14, 4, b"", 0, 0));
    let got: Vec<_> = fragments(&rec).collect();
    assert_eq!(
        got,
        [Ok(frag(1, 3, body, 2, 5)), Ok(frag(14, 4, b"", 0, 0))]
    );
    // fragment_length beyond the record.
    let cut = &rec[..HEADER_LEN + 3];
    assert_eq!(
        fragments(cut).collect::<Vec<_>>(),
        [Err(FragmentError::Truncated)]
    );
    // offset + length beyond the message length.
    let mut bad = encode(1, 0, body, 8, 2);
    bad[1..4].copy_from_slice(&[0, 0, 9]);
    assert_eq!(
        fragments(&bad).collect::<Vec<_>>(),
        [Err(FragmentError::BeyondMessage)]
    );
    assert_eq!(fragments(&[]).count(), 0);
}

#[test]
fn out_of_order_fragments_and_messages_come_out_in_sequence() {
    let mut j = MessageJoiner::new(JoinerLimits::default());
    let a = b"first message body";
    let b = b"second";
    assert_eq!(
        j.insert(&frag(2, 1, b, 3, 3), Timestamp(10)),
        FragmentOutcome::New
    );
    assert_eq!(
        j.insert(&frag(1, 0, a, 5, 13), Timestamp(11)),
        FragmentOutcome::New
    );
    assert!(j.pop().is_none());
    assert_eq!(
        j.insert(&frag(2, 1, b, 0, 3), Timestamp(12)),
        FragmentOutcome::New
    );
    assert!(j.pop().is_none(), "message 0 is not complete yet");
    assert_eq!(
        j.insert(&frag(1, 0, a, 0, 5), Timestamp(13)),
        FragmentOutcome::New
    );
    let got = drain(&mut j);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].msg_type, &got[0].body[..]), (1, &a[..]));
    assert_eq!(
        (got[0].first_seen, got[0].ts),
        (Timestamp(11), Timestamp(13))
    );
    assert_eq!((got[1].msg_type, &got[1].body[..]), (2, &b[..]));
    assert_eq!(
        (got[1].first_seen, got[1].ts),
        (Timestamp(10), Timestamp(12))
    );
    assert_eq!(j.next_seq(), 2);
    assert_eq!(j.charged(), 0);
}

#[test]
fn retransmissions_are_duplicates_and_contradictions_conflicts() {
    let mut j = MessageJoiner::new(JoinerLimits::default());
    let a = b"abcdefgh";
    assert_eq!(
        j.insert(&frag(1, 0, a, 0, 4), Timestamp(5)),
        FragmentOutcome::New
    );
    // The held part again, cut elsewhere.
    assert_eq!(
        j.insert(&frag(1, 0, a, 1, 2), Timestamp(6)),
        FragmentOutcome::Duplicate {
            first_seen: Timestamp(5)
        }
    );
    // Other bytes over held ones: the first copy wins.
    let other = b"abXdefgh";
    assert_eq!(
        j.insert(&frag(1, 0, other, 0, 8), T),
        FragmentOutcome::Conflict
    );
    let msg = j.pop().expect("complete: the new half was taken");
    assert_eq!(msg.body, a);
    // After delivery: same type and length is a retransmission, anything else a conflict.
    assert_eq!(
        j.insert(&frag(1, 0, a, 0, 8), T),
        FragmentOutcome::Duplicate {
            first_seen: Timestamp(5)
        }
    );
    assert_eq!(
        j.insert(&frag(1, 0, b"short", 0, 5), T),
        FragmentOutcome::Conflict
    );
    // Type mismatch on a pending message.
    assert_eq!(j.insert(&frag(11, 1, a, 0, 2), T), FragmentOutcome::New);
    assert_eq!(
        j.insert(&frag(12, 1, a, 2, 2), T),
        FragmentOutcome::Conflict
    );
}

#[test]
fn empty_message_is_complete_at_once() {
    let mut j = MessageJoiner::new(JoinerLimits::default());
    assert_eq!(
        j.insert(&frag(14, 0, b"", 0, 0), Timestamp(3)),
        FragmentOutcome::New
    );
    let m = j.pop().unwrap();
    assert_eq!((m.msg_type, m.body.len(), m.ts), (14, 0, Timestamp(3)));
}

#[test]
fn limits_bound_what_is_held() {
    let limits = JoinerLimits {
        max_message: 100,
        max_pending: 4,
        max_buffered: 1000,
    };
    let mut j = MessageJoiner::new(limits);
    // Too large: skipped, delivered as a placeholder in its turn.
    let big = Fragment {
        msg_type: 11,
        length: 1 << 20,
        message_seq: 0,
        offset: 0,
        bytes: b"x",
    };
    assert_eq!(j.insert(&big, T), FragmentOutcome::TooLarge);
    assert_eq!(j.insert(&big, T), FragmentOutcome::TooLarge);
    let m = j.pop().unwrap();
    assert!(m.too_large && m.body.is_empty());
    // Its later fragments are not retransmissions.
    assert_eq!(j.insert(&big, T), FragmentOutcome::Stale);
    // Too far ahead of the next one due (1).
    assert_eq!(
        j.insert(&frag(1, 5, b"x", 0, 1), T),
        FragmentOutcome::TooFarAhead
    );
    // Byte budget: messages of 90 bytes, each missing its first byte, are charged 89 bytes
    // plus one chunk and one message overhead (345): the third does not fit in 1000.
    let body = [7u8; 90];
    for seq in 1..=3 {
        let out = j.insert(&frag(1, seq, &body, 1, 89), T);
        assert_eq!(
            out,
            if seq <= 2 {
                FragmentOutcome::New
            } else {
                FragmentOutcome::BufferFull
            }
        );
    }
    assert_eq!(j.charged(), 690);
    // The next message due is 1: 5 is max_pending ahead.
    assert_eq!(
        j.insert(&frag(1, 5, &body, 0, 1), T),
        FragmentOutcome::TooFarAhead
    );
}

/// A fragment across many held pieces adds a chunk per hole: when that breaks the budget, the
/// message is dropped whole, and the budget holds.
#[test]
fn a_fragment_filling_many_holes_cannot_break_the_budget() {
    let limits = JoinerLimits {
        max_message: 1000,
        max_pending: 4,
        max_buffered: 1000,
    };
    let mut j = MessageJoiner::new(limits);
    let body = [5u8; 200];
    // One-byte pieces at 2, 4, 6 and 8: four chunks and the message, 644 charged.
    for off in [2, 4, 6, 8] {
        assert_eq!(
            j.insert(&frag(1, 0, &body, off, 1), T),
            FragmentOutcome::New
        );
    }
    assert_eq!(j.charged(), 644);
    // 1..9 is 8 bytes (within the budget on its face) but fills four holes: four more chunks.
    assert_eq!(
        j.insert(&frag(1, 0, &body, 1, 8), T),
        FragmentOutcome::BufferFull
    );
    assert_eq!(j.charged(), 0);
    assert!(j.pop().is_none());
}

#[test]
fn holes_are_skipped_on_demand() {
    let mut j = MessageJoiner::new(JoinerLimits::default());
    let body = b"message";
    // 0 never arrives, 1 is partial, 2 complete.
    j.insert(&frag(2, 1, body, 0, 3), T);
    j.insert(&frag(11, 2, body, 0, 7), T);
    assert!(j.pop().is_none());
    assert_eq!(j.skip_hole(false), 2);
    let m = j.pop().unwrap();
    assert_eq!((m.msg_type, m.message_seq), (11, 2));
    // Late fragments of the message given up on are stale, not retransmissions.
    assert_eq!(j.insert(&frag(2, 1, body, 3, 4), T), FragmentOutcome::Stale);
    assert_eq!(j.skip_hole(false), 0);
    // At the end, incomplete messages with nothing after them go too.
    j.insert(&frag(12, 3, body, 0, 2), T);
    assert_eq!(j.skip_hole(false), 0);
    assert_eq!(j.skip_hole(true), 1);
    assert_eq!((j.next_seq(), j.charged()), (4, 0));
}

/// Messages of a flight, for the property test: (type, body).
fn flight() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec((1u8..30, prop::collection::vec(any::<u8>(), 0..300)), 1..6)
}

proptest! {
    /// Fragments cut at any offsets (overlapping, some repeated), in any order, give back the
    /// original messages in order, each once, with no conflict and nothing left held.
    #[test]
    fn any_cut_order_and_duplication_gives_the_messages(
        msgs in flight(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        extra in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..20),
        order in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        // Disjoint cover of every message at random cut points, then overlapping extras.
        let mut frags: Vec<(u16, usize, usize)> = Vec::new();
        for (seq, (_, body)) in msgs.iter().enumerate() {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            points.push(0);
            points.push(body.len());
            points.sort_unstable();
            points.dedup();
            if body.is_empty() {
                frags.push((seq as u16, 0, 0));
            }
            for w in points.windows(2) {
                frags.push((seq as u16, w[0], w[1] - w[0]));
            }
        }
        for (m, a, b) in &extra {
            let seq = m.index(msgs.len());
            let len = msgs[seq].1.len();
            let (x, y) = (a.index(len + 1), b.index(len + 1));
            frags.push((seq as u16, x.min(y), x.max(y) - x.min(y)));
        }
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for i in (1..frags.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            frags.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let rotate = order.index(frags.len());
        frags.rotate_left(rotate);

        let mut j = MessageJoiner::new(JoinerLimits::default());
        let mut out = Vec::new();
        for (i, &(seq, off, len)) in frags.iter().enumerate() {
            let (t, body) = &msgs[usize::from(seq)];
            let f = frag(*t, seq, body, off, len);
            let outcome = j.insert(&f, Timestamp(i as i64));
            prop_assert!(
                matches!(outcome, FragmentOutcome::New | FragmentOutcome::Duplicate { .. }),
                "{:?}", outcome
            );
            out.extend(std::iter::from_fn(|| j.pop()));
        }
        let got: Vec<(u8, Vec<u8>)> = out.iter().map(|m| (m.msg_type, m.body.clone())).collect();
        prop_assert_eq!(got, msgs.clone());
        prop_assert_eq!(j.charged(), 0);
        prop_assert_eq!(j.next_seq() as usize, msgs.len());
    }

    /// Arbitrary fragments never panic and never hold more than the budget.
    #[test]
    fn arbitrary_fragments_stay_bounded(
        items in prop::collection::vec((any::<u8>(), 0u32..5000, 0u16..40, 0u32..5000, prop::collection::vec(any::<u8>(), 0..200)), 0..60)
    ) {
        let limits = JoinerLimits { max_message: 4000, max_pending: 8, max_buffered: 2000 };
        let mut j = MessageJoiner::new(limits);
        for (i, (t, length, seq, offset, bytes)) in items.iter().enumerate() {
            let f = Fragment { msg_type: *t, length: *length, message_seq: *seq, offset: *offset, bytes };
            if f.end() > u64::from(f.length) {
                continue; // the fragment iterator refuses these
            }
            j.insert(&f, Timestamp(i as i64));
            prop_assert!(j.charged() <= limits.max_buffered);
            while j.pop().is_some() {}
            if i % 7 == 0 {
                j.skip_hole(i % 14 == 0);
            }
        }
    }
}

/// Flows share the worker's budget: what one holds, another cannot take, and a joiner gives
/// back what it held when its message completes or when it is dropped (its flow closed).
#[test]
fn joiners_share_the_workers_budget_and_give_back_what_they_held() {
    let budget = JoinBudget::new(600);
    let joiner = || MessageJoiner::default().with_budget(Some(budget.clone()));
    let (mut a, mut b) = (joiner(), joiner());
    let body = [9u8; 300];
    // Each message is missing its first byte: 299 bytes plus a chunk's and a message's
    // overhead are held.
    assert_eq!(
        a.insert(&frag(1, 0, &body, 1, 299), T),
        FragmentOutcome::New
    );
    assert_eq!(budget.held(), a.charged());
    assert_eq!(
        b.insert(&frag(1, 0, &body, 1, 299), T),
        FragmentOutcome::BufferFull,
        "the worker's budget is spent though this flow holds nothing"
    );
    assert_eq!(b.charged(), 0);
    // The message completes: its charge goes back, and the other flow's fits.
    assert_eq!(a.insert(&frag(1, 0, &body, 0, 1), T), FragmentOutcome::New);
    assert_eq!(drain(&mut a).len(), 1);
    assert_eq!(budget.held(), 0);
    assert_eq!(
        b.insert(&frag(1, 0, &body, 1, 299), T),
        FragmentOutcome::New
    );
    assert!(budget.held() > 0);
    drop(b);
    assert_eq!(budget.held(), 0, "a closed flow gives back what it held");
}
