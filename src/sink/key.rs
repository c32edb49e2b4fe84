//! The message key of a record: what decides its partition, so that every record about one
//! thing lands in one partition, in order. A connection record is keyed by its two endpoints
//! (both schemas write them near the start of the record, as flat objects), an alert by the
//! server it is about, a window (one per sensor and interval) by the sensor. Read from the
//! record's own bytes, so the key is exactly what consumers see in the value.

/// Where the endpoints of a connection record start, per schema: the client/server pair of
/// tlsight's own records, the source/destination pair of ECS records.
const ENDPOINT_PAIRS: [(&[u8], &[u8]); 2] = [
    (b"\"client\":{", b"\"server\":{"),
    (b"\"source\":{", b"\"destination\":{"),
];

/// The key of one record (a JSON object on one line): its endpoints (connection records), its
/// server (alerts), its sensor (windows), or the record type.
pub fn record_key(line: &[u8]) -> &[u8] {
    if line.starts_with(b"{\"type\":\"alert\"") {
        if let Some(server) = string_field(line, b"\"server\":\"") {
            return server;
        }
    } else if line.starts_with(b"{\"type\":\"window\"") {
        if let Some(sensor) = string_field(line, b"\"sensor\":\"") {
            return sensor;
        }
        return b"window";
    }
    for (first, second) in ENDPOINT_PAIRS {
        if let Some(endpoints) = endpoint_pair(line, first, second) {
            return endpoints;
        }
    }
    b"record"
}

/// The bytes from the first endpoint object to the end of the second (`{"ip":..,"port":..}`
/// objects, flat), when both are there.
fn endpoint_pair<'a>(line: &'a [u8], first: &[u8], second: &[u8]) -> Option<&'a [u8]> {
    let start = find(line, first)? + first.len() - 1;
    let after_first = start + find(line.get(start..)?, b"}")?;
    let second_at = after_first + find(line.get(after_first..)?, second)?;
    let object = second_at + second.len() - 1;
    let end = object + find(line.get(object..)?, b"}")? + 1;
    line.get(start..end)
}

/// The raw contents of the first string field that starts with `prefix` (`"name":"`).
fn string_field<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let start = find(line, prefix)? + prefix.len();
    let rest = line.get(start..)?;
    // The value ends at the first quote not escaped by a backslash.
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return rest.get(..i),
            _ => i += 1,
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_records_are_keyed_by_their_endpoints_in_either_schema() {
        let native = br#"{"type":"connection","sensor":"s1","ts":"x","client":{"ip":"10.0.0.1","port":5},"server":{"ip":"10.0.0.2","port":443},"sni":"a"}"#;
        assert_eq!(
            record_key(native),
            br#"{"ip":"10.0.0.1","port":5},"server":{"ip":"10.0.0.2","port":443}"#
        );
        let ecs = br#"{"@timestamp":"x","source":{"ip":"10.0.0.1","port":5},"destination":{"ip":"10.0.0.2","port":443},"tls":{}}"#;
        assert_eq!(
            record_key(ecs),
            br#"{"ip":"10.0.0.1","port":5},"destination":{"ip":"10.0.0.2","port":443}"#
        );
    }

    #[test]
    fn alerts_by_server_windows_by_sensor() {
        let alert = br#"{"type":"alert","sensor":"s1","ts":"x","alert":"slo_p95","state":"started","server":"we\"ird","value":1}"#;
        assert_eq!(record_key(alert), br#"we\"ird"#);
        let window = br#"{"type":"window","sensor":"dc1","start":"x"}"#;
        assert_eq!(record_key(window), b"dc1");
        assert_eq!(record_key(br#"{"type":"window","start":"x"}"#), b"window");
        assert_eq!(record_key(b"{}"), b"record");
    }
}
