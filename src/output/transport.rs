//! The transport objects of a connection record for the UDP transports: `quic` and `dtls`
//! (TCP's `tcp` object is written beside the rest of the record, in `record`). Per-side
//! values are written as `{"client":…,"server":…}`.

use std::collections::BTreeMap;

use super::json::{self, Json, Object, key};
use super::record::close_name;
use crate::dtls::facts::{CookieRequest, RetransmittedFlight};
use crate::facts::{ConnectionFacts, DtlsTransport, QuicTransport, transport_error_name};
use crate::flow::Direction;
use crate::quic::connection::{PacketCounts, Undecryptable};
use crate::quic::decrypt::QuicDecrypted;
use crate::quic::keys::RetryCheck;
use crate::quic::packet::{ConnectionId, MAX_CID_LEN};
use crate::quic::transport_parameters::ParameterValue;
use crate::tls::codes::AlertDescription;

/// `(client's, server's)` of a per-direction array.
fn sides<T: Copy>(f: &ConnectionFacts, values: &[T; 2]) -> (T, T) {
    let client = f.client_dir.index();
    (values[client], values[1 - client])
}

/// `"client"` or `"server"`: who `dir` is.
fn side_name(f: &ConnectionFacts, dir: Direction) -> &'static str {
    if dir == f.client_dir {
        "client"
    } else {
        "server"
    }
}

/// Writes `{"client":…,"server":…}` under `key`, each side's value by `write`.
fn per_side<T: Copy>(
    o: &mut Object<'_>,
    f: &ConnectionFacts,
    key: json::Key,
    values: &[T; 2],
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    let (client, server) = sides(f, values);
    o.object(key, |o| {
        o.field_with(key!("client"), |out| write(out, client));
        o.field_with(key!("server"), |out| write(out, server));
    });
}

/// A connection ID as a string of lowercase hex digits, written in place (through a
/// `String` it cost ~600 instructions an ID, three or four per QUIC record).
impl Json for ConnectionId {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut digits = [0; 2 * MAX_CID_LEN];
        let bytes = self.as_bytes();
        // IDs are at most `MAX_CID_LEN` bytes (`ConnectionId::new`): both checks always pass.
        let Some(hex) = digits.get_mut(..2 * bytes.len()) else {
            return out.extend_from_slice(b"null");
        };
        if hex::encode_to_slice(bytes, hex).is_err() {
            return out.extend_from_slice(b"null");
        }
        out.push(b'"');
        out.extend_from_slice(hex);
        out.push(b'"');
    }
}

impl Json for PacketCounts {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("datagrams"), &self.datagrams);
            o.field(key!("coalesced"), &self.coalesced);
            o.field(key!("initial"), &self.initial);
            o.field(key!("0rtt"), &self.zero_rtt);
            o.field(key!("handshake"), &self.handshake);
            o.field(key!("retry"), &self.retry);
            o.field(key!("version_negotiation"), &self.version_negotiation);
            o.field(key!("1rtt"), &self.one_rtt);
            o.field(key!("unreadable"), &self.unreadable);
            o.field(key!("malformed"), &self.malformed);
        });
    }
}

impl Json for Undecryptable {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("keys_unknown"), &self.keys_unknown);
            o.field(key!("authentication"), &self.authentication);
            o.field(key!("too_short"), &self.too_short);
        });
    }
}

/// The `quic` object of a record.
pub(super) fn write_quic(o: &mut Object<'_>, f: &ConnectionFacts, t: &QuicTransport) {
    let q = &t.quic;
    o.field(key!("version"), &q.version.map(|v| v.0));
    o.field(key!("version_name"), &q.version.map(|v| v.name()));
    o.field_with(key!("versions_seen"), |out| {
        json::array(out, &q.versions_seen, |out, v| v.0.write_json(out));
    });
    o.field(key!("client_dcid"), &q.client_dcid);
    o.field(key!("client_scid"), &q.client_scid);
    o.field(key!("server_scid"), &q.server_scid);
    match &q.retry {
        None => o.field(key!("retry"), &None::<u8>),
        Some(r) => o.object(key!("retry"), |o| {
            o.field(key!("token_len"), &r.token_len);
            o.field(key!("scid"), &r.scid);
            let integrity = r.integrity.map(|c| match c {
                RetryCheck::Valid => "valid",
                RetryCheck::Invalid => "invalid",
            });
            o.field(key!("integrity"), &integrity);
        }),
    }
    match &q.version_negotiation {
        None => o.field(key!("version_negotiation"), &None::<u8>),
        Some(vn) => o.object(key!("version_negotiation"), |o| {
            o.field(key!("from"), side_name(f, vn.from));
            o.field_with(key!("offered"), |out| {
                json::array(out, &vn.offered, |out, v| v.0.write_json(out));
            });
            o.field_with(key!("offered_names"), |out| {
                json::array(out, &vn.offered, |out, v| v.name().write_json(out));
            });
        }),
    }
    match &q.connection_close {
        None => o.field(key!("connection_close"), &None::<u8>),
        Some(c) => o.object(key!("connection_close"), |o| {
            o.field(key!("from"), side_name(f, c.from));
            o.field(key!("space"), c.space.name());
            o.field(key!("application"), &c.application);
            o.field(key!("error_code"), &c.error_code);
            let name = (!c.application)
                .then(|| transport_error_name(c.error_code))
                .flatten();
            o.field(key!("error_name"), &name);
            o.field(key!("frame_type"), &c.frame_type);
            o.field(key!("reason"), c.reason.as_str());
            o.field(
                key!("tls_alert"),
                &c.tls_alert.map(|a| AlertDescription(a).name()),
            );
        }),
    }
    o.field(key!("early_data"), &q.early_data);
    per_side(o, f, key!("packets"), &q.packets, |out, p| {
        p.write_json(out)
    });
    per_side(o, f, key!("crypto_gaps"), &q.crypto_gaps, |out, n| {
        n.write_json(out);
    });
    per_side(
        o,
        f,
        key!("crypto_beyond_cap"),
        &q.crypto_beyond_cap,
        |out, n| {
            n.write_json(out);
        },
    );
    per_side(
        o,
        f,
        key!("undecryptable_initials"),
        &q.undecryptable_initials,
        |out, u| u.write_json(out),
    );
    o.field(
        key!("stateless_reset"),
        &q.stateless_reset.map(|d| side_name(f, d)),
    );
    if let Some(d) = &q.decrypted {
        write_quic_decrypted(o, d);
    }
    o.field(key!("close"), close_name(t.close));
}

/// What only key-log decryption reads of a QUIC connection (records of an analysis with key
/// logs only): HANDSHAKE_DONE, NEW_TOKENs, the server's transport parameters by RFC name
/// (IDs without one listed in `other_ids`).
fn write_quic_decrypted(o: &mut Object<'_>, d: &QuicDecrypted) {
    o.field(key!("handshake_done"), &d.handshake_done.is_some());
    o.field(key!("new_tokens"), &d.new_tokens);
    match &d.transport_parameters {
        None => o.field(key!("transport_parameters"), &None::<u8>),
        Some(params) => o.object(key!("transport_parameters"), |o| {
            let named: BTreeMap<&str, ParameterValue> = params
                .iter()
                .filter_map(|p| Some((p.name()?, p.value)))
                .collect();
            o.field(key!("server"), &named);
            o.field_with(key!("other_ids"), |out| {
                let other = params.iter().filter(|p| p.name().is_none());
                json::array(out, other, |out, p| p.id.write_json(out));
            });
        }),
    }
}

impl Json for ParameterValue {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            ParameterValue::Integer(n) => n.write_json(out),
            ParameterValue::ConnectionId(cid) => cid.write_json(out),
            ParameterValue::Present => true.write_json(out),
        }
    }
}

/// The `dtls` object of a record.
pub(super) fn write_dtls(o: &mut Object<'_>, f: &ConnectionFacts, t: &DtlsTransport) {
    let d = &t.dtls;
    let version_name = crate::tls::names::version_name;
    o.field(key!("version"), &d.version.map(version_name));
    o.field_with(key!("record_versions"), |out| {
        json::array(out, &d.record_versions, |out, &v| {
            version_name(v).write_json(out);
        });
    });
    match &d.cookie_exchange {
        None => o.field(key!("cookie_exchange"), &None::<u8>),
        Some(c) => o.object(key!("cookie_exchange"), |o| {
            let (request, cookie) = match c.request {
                CookieRequest::HelloVerifyRequest => ("hello_verify_request", true),
                CookieRequest::HelloRetryRequest { cookie } => ("hello_retry_request", cookie),
            };
            o.field(key!("request"), request);
            o.field(key!("cookie"), &cookie);
            o.field(key!("cookie_len"), &c.cookie_len);
            o.field(key!("version"), &version_name(c.version));
            o.field(key!("completed"), &c.second_client_hello.is_some());
            o.field(key!("cost_us"), &c.cost_us());
        }),
    }
    let r = &d.retransmissions;
    per_side(o, f, key!("retransmitted_flights"), &r.flights, |out, n| {
        n.write_json(out);
    });
    per_side(
        o,
        f,
        key!("retransmitted_fragments"),
        &r.fragments,
        |out, n| {
            n.write_json(out);
        },
    );
    o.field_with(key!("retransmissions"), |out| {
        json::array(out, &r.listed, |out, flight: &RetransmittedFlight| {
            json::object(out, |o| {
                o.field(key!("from"), side_name(f, flight.from));
                o.field(key!("message_seq"), &flight.message_seq);
                o.field(key!("after_us"), &flight.after_us);
            });
        });
    });
    let ids = &d.connection_ids;
    o.object(key!("connection_ids"), |o| {
        o.field(key!("client"), &ids.client.as_deref().map(hex::encode));
        o.field(key!("server"), &ids.server.as_deref().map(hex::encode));
        o.field(key!("records"), &ids.records);
    });
    let n = &d.datagrams;
    o.object(key!("datagrams"), |o| {
        o.field(key!("dtls"), &n.dtls);
        o.field(key!("stun"), &n.stun);
        o.field(key!("zrtp"), &n.zrtp);
        o.field(key!("turn_channel"), &n.turn_channel);
        o.field(key!("quic"), &n.quic);
        o.field(key!("rtp"), &n.rtp);
        o.field(key!("rtcp"), &n.rtcp);
        o.field(key!("unknown"), &n.unknown);
    });
    per_side(o, f, key!("records"), &d.records, |out, n| {
        n.write_json(out)
    });
    o.field(key!("duplicated_records"), &d.duplicated_records);
    o.field(key!("close"), close_name(t.close));
}
