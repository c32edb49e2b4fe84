//! How aggregates are carried in a JSON report so that reports from many sensors (or many runs)
//! merge exactly (`tlsight merge`): latency histograms in HDR's V2 serialized form (base64),
//! capped maps with their pooled rest, the group census as counts. Reading applies the caps
//! again, so a merge keeps the same names a single analysis of all the traffic would.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::latency::SIGFIG;
use super::{Capped, GroupCensus, Latency, Merge};
use crate::flow::Endpoint;

/// Version of the merge state's layout (`merge_state.format` in the report): a reader refuses
/// a format it does not know rather than merge it wrongly.
pub const FORMAT: u32 = 1;

/// A name read back from a report, as the `&'static str` the aggregates key by. Each distinct
/// name is allocated once for the life of the process: reports only hold names from tlsight's
/// own fixed sets (anomalies, findings, alert senders, mechanisms), so this stays a handful of
/// strings whatever the number of reports.
pub fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Reads a map keyed by names into one keyed by interned names (see [`intern`]).
pub fn static_keys<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, u64>, D::Error> {
    let map = BTreeMap::<String, u64>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, n)| (intern(&k), n)).collect())
}

/// Reads a map keyed by names (transports) back, the names interned; absent reads as empty.
pub fn static_keyed<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, V>, D::Error> {
    let map = BTreeMap::<String, V>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (intern(&k), v)).collect())
}

/// Reads a handshake message name with its sender (an alert's stage) back, the name interned.
pub fn sided_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<(crate::facts::Side, &'static str)>, D::Error> {
    let pair = Option::<(crate::facts::Side, String)>::deserialize(d)?;
    Ok(pair.map(|(side, name)| (side, intern(&name))))
}

/// Reads a list of handshake message names with their senders back, the names interned.
pub fn sided_names<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<(crate::facts::Side, &'static str)>, D::Error> {
    let list = Vec::<(crate::facts::Side, String)>::deserialize(d)?;
    Ok(list
        .into_iter()
        .map(|(side, name)| (side, intern(&name)))
        .collect())
}

/// Alert counts by (sender, description), carried as `[sender, description, count]` triples
/// (JSON object keys cannot be pairs).
pub mod alerts {
    use super::*;

    /// The aggregates' alert map.
    pub type Map = BTreeMap<(&'static str, Cow<'static, str>), u64>;

    /// Writes the map as a list of triples.
    pub fn serialize<S: Serializer>(map: &Map, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(|((from, desc), n)| (from, desc, n)))
    }

    /// Reads the list of triples back.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        let list = Vec::<(String, String, u64)>::deserialize(d)?;
        let mut map = Map::new();
        for (from, desc, n) in list {
            *map.entry((intern(&from), Cow::Owned(desc))).or_default() += n;
        }
        Ok(map)
    }
}

/// A map whose keys are not strings (e.g. `Option<u16>`), carried as `[key, value]` pairs.
pub mod pairs {
    use super::*;

    /// Writes the map as a list of pairs.
    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    /// Reads the list of pairs back; a key given twice has its values merged.
    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de> + Merge + Default,
        D: Deserializer<'de>,
    {
        let mut map = BTreeMap::<K, V>::new();
        for (k, v) in Vec::<(K, V)>::deserialize(d)? {
            map.entry(k).or_default().merge_in(v);
        }
        Ok(map)
    }
}

/// V2 serialization of a histogram rebuilt with bounds that depend only on its counts: an
/// auto-resizing histogram's upper bound depends on the order values arrived in, so equal
/// distributions would otherwise serialize to different bytes.
fn encode_histogram(h: &Histogram<u32>) -> Result<String, String> {
    let mut canonical =
        Histogram::<u32>::new_with_bounds(1, h.max().max(2), SIGFIG).map_err(|e| e.to_string())?;
    canonical.add(h).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(&canonical, &mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(STANDARD.encode(bytes))
}

/// Reads a histogram written by [`encode_histogram`]; only histograms of tlsight's own
/// precision merge exactly, so any other is refused.
fn decode_histogram(text: &str) -> Result<Histogram<u32>, String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("latency histogram is not base64: {e}"))?;
    let mut h: Histogram<u32> = HdrDeserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("latency histogram is not HDR V2: {e:?}"))?;
    if h.sigfig() != SIGFIG || h.low() != 1 {
        return Err(format!(
            "latency histogram has {} significant digits and lowest value {} (tlsight writes \
             {SIGFIG} and 1): it cannot merge exactly",
            h.sigfig(),
            h.low()
        ));
    }
    h.auto(true);
    Ok(h)
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode_histogram(&self.hist).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HistogramText;
        impl Visitor<'_> for HistogramText {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 HDR V2 histogram")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Latency, E> {
                decode_histogram(text)
                    .map(|hist| Latency { hist })
                    .map_err(E::custom)
            }
        }
        d.deserialize_str(HistogramText)
    }
}

/// A capped map's key as a report writes it: names as they are, endpoints as `ip:port`
/// (`[ip]:port` for IPv6).
pub trait KeyText: Sized {
    /// The key as written.
    fn text(&self) -> Cow<'_, str>;
    /// The key read back.
    fn parse(text: String) -> Result<Self, String>;
}

impl KeyText for String {
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
    fn parse(text: String) -> Result<Self, String> {
        Ok(text)
    }
}

impl KeyText for Endpoint {
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
    fn parse(text: String) -> Result<Self, String> {
        let addr: SocketAddr = text
            .parse()
            .map_err(|e| format!("{text:?} is not an ip:port endpoint: {e}"))?;
        Ok(Endpoint {
            ip: addr.ip(),
            port: addr.port(),
        })
    }
}

impl<V: Serialize, const N: usize, K: KeyText> Serialize for Capped<V, N, K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Entries<'a, V, K>(&'a BTreeMap<K, V>);
        impl<V: Serialize, K: KeyText> Serialize for Entries<'_, V, K> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k.text(), v)))
            }
        }
        let mut st = s.serialize_struct("Capped", 2)?;
        st.serialize_field("entries", &Entries(&self.entries))?;
        st.serialize_field("other", &self.other)?;
        st.end()
    }
}

/// A capped map as written, before the cap is applied again.
#[derive(Deserialize)]
struct CappedIn<V> {
    entries: BTreeMap<String, V>,
    other: V,
}

impl<'de, V, const N: usize, K> Deserialize<'de> for Capped<V, N, K>
where
    V: Deserialize<'de> + Default + Merge,
    K: KeyText + Ord + Clone,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let read = CappedIn::<V>::deserialize(d)?;
        // Inserted one by one, so the cap of this build applies (the smallest names are held).
        let mut capped = Capped {
            entries: BTreeMap::new(),
            other: read.other,
        };
        for (name, v) in read.entries {
            capped.insert(K::parse(name).map_err(de::Error::custom)?, v);
        }
        Ok(capped)
    }
}

impl Serialize for GroupCensus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.counts().serialize(s)
    }
}

impl<'de> Deserialize<'de> for GroupCensus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(GroupCensus {
            groups: BTreeMap::<u16, u64>::deserialize(d)?,
            ..GroupCensus::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_to_the_same_bytes_whatever_the_arrival_order() {
        let (mut up, mut down) = (Latency::default(), Latency::default());
        for us in 1..=2000 {
            up.record(us * 37);
            down.record((2001 - us) * 37);
        }
        let a = serde_json::to_string(&up).expect("serialize");
        let b = serde_json::to_string(&down).expect("serialize");
        assert_eq!(a, b);
        let back: Latency = serde_json::from_str(&a).expect("deserialize");
        assert_eq!(back.percentiles(), up.percentiles());
        assert_eq!(back.count_at_most(20_000), up.count_at_most(20_000));
        // Read-back histograms still grow when merged with larger values.
        let mut merged = back;
        let mut big = Latency::default();
        big.record(50_000_000);
        merged.merge_in(big);
        assert_eq!(merged.percentiles().count, 2001);
        assert!(merged.percentiles().max >= 50_000_000);
    }

    #[test]
    fn histograms_of_another_precision_are_refused() {
        let h = Histogram::<u32>::new_with_bounds(1, 1000, 3).expect("bounds");
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&h, &mut bytes)
            .expect("serialize");
        let text = serde_json::to_string(&STANDARD.encode(bytes)).expect("json");
        let err = serde_json::from_str::<Latency>(&text).expect_err("refused");
        assert!(err.to_string().contains("3 significant digits"), "{err}");
        assert!(serde_json::from_str::<Latency>("\"not base64!\"").is_err());
    }

    #[test]
    fn capped_maps_apply_the_cap_when_read() {
        let mut wide: Capped<u64, 5> = Capped::default();
        for name in ["e", "d", "c", "b", "a"] {
            wide.add(name, 1);
        }
        wide.other = 7;
        let text = serde_json::to_string(&wide).expect("serialize");
        let narrow: Capped<u64, 3> = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(
            narrow.ranked(),
            vec![("a", 1), ("b", 1), ("c", 1), ("(other)", 9)]
        );
    }

    #[test]
    fn enums_are_read_back_by_the_names_the_outputs_write() {
        use crate::facts::{FailureCause, Finding, Outcome};
        for f in Finding::ALL {
            let text = serde_json::to_string(f.name()).expect("json");
            assert_eq!(
                serde_json::from_str::<Finding>(&text).ok(),
                Some(f),
                "{text}"
            );
        }
        written_by_name(
            &[
                Outcome::Established,
                Outcome::NoResponse,
                Outcome::Incomplete,
            ],
            |o| o.name(),
        );
        written_by_name(
            &[
                FailureCause::ServerRejectedClientCertificate,
                FailureCause::NoApplicationProtocol,
                FailureCause::CaptureGap,
                FailureCause::ServerNotTls,
            ],
            |c| c.name(),
        );
    }

    /// Each value serializes as the name the outputs write for it.
    fn written_by_name<T: Serialize>(values: &[T], name: impl Fn(&T) -> &'static str) {
        for v in values {
            let json = serde_json::to_string(v).ok();
            assert_eq!(json, Some(format!("\"{}\"", name(v))));
        }
    }

    #[test]
    fn names_are_interned_once() {
        let a = intern(&String::from("some_anomaly"));
        let b = intern(&String::from("some_anomaly"));
        assert!(std::ptr::eq(a, b));
    }
}
