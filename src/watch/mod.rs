//! Watching a live capture: windows and the rules that raise alerts on them. Workers note, per
//! window, what the aggregates do not keep ([`Sightings`]); the main thread merges each
//! window's aggregates and sightings into a [`ClosedWindow`] and feeds it to a [`Watch`], whose
//! state machines say which alerts start and which clear. Everything here is pure (no threads,
//! no clock, no I/O), so the rules are tested directly.

mod rules;
mod sightings;
mod window;

pub use rules::{AlertConfig, AlertEvent, AlertKind, Watch, WindowNews};
pub use sightings::{CertSighting, MAX_TRACKED, Sightings, is_deprecated};
pub use window::{ClosedWindow, Drops, WindowClock};
