//! The message-body parsers: ClientHello (TLS and SSLv2), ServerHello / HelloRetryRequest,
//! certificate lists and X.509 certificates, ServerKeyExchange and NewSessionTicket; and the
//! reading layer they share (`wire`), including the QUIC varints no TLS parser reads.
//!
//! Input: byte 0 picks the parser, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::tls::handshake::{Carrier, certificate as cert, fingerprint, hello};
use tlsight::wire::{self, WireError, WireResult};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 9 {
        0 => {
            if let Ok(mut h) = hello::parse_client_hello(body) {
                fingerprint::fill_client(&mut h, Carrier::Tcp);
            }
        }
        1 => {
            if let Ok(mut h) = hello::parse_sslv2_client_hello(body) {
                fingerprint::fill_client(&mut h, Carrier::Quic);
            }
        }
        2 => {
            if let Ok(mut h) = hello::parse_server_hello(body, 2) {
                fingerprint::fill_server(&mut h, Carrier::Dtls);
            }
        }
        3 => {
            let _ = hello::parse_server_hello(body, 6);
        }
        4 | 5 => {
            if let Ok(list) = hello::parse_certificate_list(body, pick % 8 == 5) {
                for der in list {
                    let _ = cert::parse_certificate(der);
                }
            }
        }
        6 => {
            let _ = cert::parse_certificate(body);
        }
        7 => {
            let _ = hello::parse_server_key_exchange_curve(body);
            let _ = hello::parse_new_session_ticket(body);
        }
        _ => {
            // A run of varints, then the other readers of the layer on the same bytes.
            let mut rest = body;
            while let Ok((r, _)) = wire::varint::<WireError>(rest) {
                rest = r;
            }
            let _: WireResult<'_, &[u8]> = wire::vec_varint(body);
            let _: WireResult<'_, &[u8]> = wire::vec24(body);
            let _ = wire::u16_at(body, body.len().saturating_sub(2));
            // Four inline: short lists stay inline, longer ones spill to the heap.
            let _ = wire::u16_list::<4>(body, "odd");
        }
    }
});
