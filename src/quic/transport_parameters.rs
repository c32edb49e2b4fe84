//! QUIC transport parameters (RFC 9000 §18): the `quic_transport_parameters` extension (57)
//! of the server's EncryptedExtensions, which a key log lets tlsight read. They say how the
//! server configured its QUIC stack (idle timeout, flow-control windows, stream limits,
//! migration, datagram support) and carry the connection IDs that authenticate the handshake.
//!
//! Values are kept as read, in wire order, under a cap ([`MAX_PARAMETERS`]); parameters whose
//! contents are secret-like or long (the stateless reset token, the preferred address) are kept
//! as present only.

use nom::IResult;

use super::packet::ConnectionId;
use super::varint::{length_prefixed, varint};

/// Most parameters kept per connection (RFC 9000 defines 17; the rest are GREASE and
/// extensions). Beyond, they are dropped.
pub const MAX_PARAMETERS: usize = 32;

/// One parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterValue {
    /// An integer (a varint on the wire).
    Integer(u64),
    /// A connection ID.
    ConnectionId(ConnectionId),
    /// A parameter present with an empty value (disable_active_migration, grease_quic_bit),
    /// or one whose contents are not kept (stateless_reset_token, preferred_address,
    /// version_information, unknown IDs): `true`.
    Present,
}

/// One parameter: its ID and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parameter {
    /// The parameter ID.
    pub id: u64,
    /// Its value.
    pub value: ParameterValue,
}

impl Parameter {
    /// The RFC name of a parameter ID (RFC 9000 §18.2, RFC 9221, RFC 9287, RFC 9368), `None`
    /// for others (GREASE `31 * N + 27`, private extensions).
    pub fn name(&self) -> Option<&'static str> {
        Some(match self.id {
            0x00 => "original_destination_connection_id",
            0x01 => "max_idle_timeout",
            0x02 => "stateless_reset_token",
            0x03 => "max_udp_payload_size",
            0x04 => "initial_max_data",
            0x05 => "initial_max_stream_data_bidi_local",
            0x06 => "initial_max_stream_data_bidi_remote",
            0x07 => "initial_max_stream_data_uni",
            0x08 => "initial_max_streams_bidi",
            0x09 => "initial_max_streams_uni",
            0x0a => "ack_delay_exponent",
            0x0b => "max_ack_delay",
            0x0c => "disable_active_migration",
            0x0d => "preferred_address",
            0x0e => "active_connection_id_limit",
            0x0f => "initial_source_connection_id",
            0x10 => "retry_source_connection_id",
            0x11 => "version_information",
            0x20 => "max_datagram_frame_size",
            0x2ab2 => "grease_quic_bit",
            _ => return None,
        })
    }
}

/// Reads a `quic_transport_parameters` extension body; `None` when it is malformed.
pub fn parse_transport_parameters(mut body: &[u8]) -> Option<Vec<Parameter>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (rest, (id, value)) = parameter(body).ok()?;
        body = rest;
        if out.len() < MAX_PARAMETERS {
            out.push(Parameter {
                id,
                value: read_value(id, value)?,
            });
        }
    }
    Some(out)
}

fn parameter(input: &[u8]) -> IResult<&[u8], (u64, &[u8])> {
    let (rest, id) = varint(input)?;
    let (rest, value) = length_prefixed(rest)?;
    Ok((rest, (id, value)))
}

/// A parameter's value by the layout its ID has.
fn read_value(id: u64, value: &[u8]) -> Option<ParameterValue> {
    Some(match id {
        0x00 | 0x0f | 0x10 => ParameterValue::ConnectionId(ConnectionId::new(value)?),
        0x01 | 0x03..=0x0b | 0x0e | 0x20 => match varint(value).ok()? {
            (b"", n) => ParameterValue::Integer(n),
            _ => return None,
        },
        _ => ParameterValue::Present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_are_read_and_named() {
        // max_idle_timeout 30000, initial_source_connection_id 0a0b, disable_active_migration,
        // a GREASE ID (27) with two bytes, stateless_reset_token (16 bytes).
        let mut body = vec![0x01, 0x04, 0x80, 0x00, 0x75, 0x30];
        body.extend([
            0x0f, 0x02, 0x0a, 0x0b, 0x0c, 0x00, 0x1b, 0x02, 0xaa, 0xbb, 0x02, 16,
        ]);
        body.extend([7; 16]);
        let got = parse_transport_parameters(&body).expect("parses");
        let named: Vec<_> = got.iter().map(|p| (p.name(), p.value)).collect();
        assert_eq!(
            named,
            [
                (Some("max_idle_timeout"), ParameterValue::Integer(30_000)),
                (
                    Some("initial_source_connection_id"),
                    ParameterValue::ConnectionId(ConnectionId::new(&[10, 11]).expect("cid"))
                ),
                (Some("disable_active_migration"), ParameterValue::Present),
                (None, ParameterValue::Present),
                (Some("stateless_reset_token"), ParameterValue::Present),
            ]
        );
    }

    #[test]
    fn malformed_parameters_are_refused() {
        assert_eq!(parse_transport_parameters(&[0x01, 0x05, 0x00]), None);
        // An integer parameter with bytes after its varint.
        assert_eq!(parse_transport_parameters(&[0x01, 0x02, 0x00, 0x00]), None);
        // A connection ID longer than 20 bytes.
        let mut long = vec![0x00, 21];
        long.extend([0; 21]);
        assert_eq!(parse_transport_parameters(&long), None);
        assert_eq!(parse_transport_parameters(&[]), Some(vec![]));
    }
}
