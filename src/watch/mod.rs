//! Watching a live capture: windows and the rules that raise notices on them. Workers note, per
//! window, what the aggregates do not keep ([`Sightings`]); the main thread merges each
//! window's aggregates and sightings into a [`ClosedWindow`] and feeds it to a [`Watch`], whose
//! state machines say which rules start and clear a notice (written as `"type":"alert"`
//! records; "alert" in the code means a TLS alert). Everything here is pure (no threads,
//! no clock, no I/O), so the rules are tested directly.

mod rules;
mod sightings;
mod window;

pub use rules::{Notice, Rule, Watch, WatchConfig, WindowNews};
pub use sightings::{CertSighting, MAX_TRACKED, Sightings, is_deprecated};
pub use window::{ClosedWindow, Drops, WindowClock};
