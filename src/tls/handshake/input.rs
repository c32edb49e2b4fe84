//! [`HandshakeInput`]: the adapter through which the UDP transport drivers (QUIC, DTLS) feed
//! the same [`Handshake`] TCP's record layer drives, so that every transport's handshake is
//! interpreted, fingerprinted and written down by one layer.

use super::sink::HandshakeSink;
use super::{Alert, AnomalyKind, Handshake, MessageParsers, TlsContext, WireParsers};
use crate::flow::{Direction, Timestamp};
use crate::tls::codes::HandshakeType;

/// One connection's [`Handshake`] with the worker's [`TlsContext`], borrowed for the
/// datagram being read: the drivers' [`HandshakeSink`] calls become the layer's own.
///
/// Protected handshake-era units (a QUIC Handshake packet, a DTLS Finished or epoch-2 record)
/// mean what a TLS 1.3 protected record means over TCP: each side's first is its encrypted
/// handshake flight (the client's is its Finished); later ones are not events.
#[derive(Debug)]
pub struct HandshakeInput<'a, P = WireParsers> {
    /// The connection's handshake layer.
    pub hs: &'a mut Handshake<P>,
    /// The worker's shared state (certificate cache).
    pub ctx: &'a mut TlsContext,
}

impl<P: MessageParsers> HandshakeSink for HandshakeInput<'_, P> {
    fn on_message(&mut self, dir: Direction, msg_type: u8, body: &[u8], ts: Timestamp) {
        self.hs
            .on_message(self.ctx, dir, HandshakeType(msg_type), body, ts);
    }

    fn on_protected(&mut self, dir: Direction, _len: usize, ts: Timestamp) {
        self.hs.on_protected_flight(dir, ts);
    }

    fn on_application_data(&mut self, dir: Direction, _len: usize, ts: Timestamp) {
        self.hs.on_application_data(dir, ts);
    }

    fn on_change_cipher_spec(&mut self, dir: Direction, ts: Timestamp) {
        self.hs.on_change_cipher_spec(dir, ts);
    }

    fn on_alert(&mut self, dir: Direction, alert: Alert, ts: Timestamp) {
        self.hs.on_alert(dir, alert, ts);
    }

    fn on_gap(&mut self, dir: Direction, _ts: Timestamp) {
        self.hs.on_gap(dir);
    }

    fn anomaly(&mut self, dir: Direction, kind: &'static str) {
        self.hs.anomaly(dir, AnomalyKind::Transport(kind));
    }

    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::handshake::{Carrier, TlsEvent};

    /// The smallest TLS ClientHello: one cipher suite, null compression, no extensions.
    fn client_hello_body() -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([0; 32]);
        body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        body
    }

    #[test]
    fn drivers_calls_become_the_layers_events() {
        let mut hs: Handshake = Handshake::new(Carrier::Quic);
        let mut ctx = TlsContext::default();
        let mut input = HandshakeInput {
            hs: &mut hs,
            ctx: &mut ctx,
        };
        let (c, s) = (Direction::LoToHi, Direction::HiToLo);
        input.on_message(c, 1, &client_hello_body(), Timestamp(1));
        input.on_protected(s, 900, Timestamp(2));
        input.on_protected(s, 900, Timestamp(3));
        input.on_protected(c, 60, Timestamp(4));
        input.anomaly(c, "quic_reserved_bits_set");
        input.on_gap(s, Timestamp(5));
        let t = hs.finish();
        let kinds: Vec<_> = t.events.iter().map(|e| (e.from, e.ts)).collect();
        assert_eq!(
            kinds,
            [(c, Timestamp(1)), (s, Timestamp(2)), (c, Timestamp(4))]
        );
        match &t.events[0].event {
            TlsEvent::ClientHello(ch) => assert!(ch.ja4.starts_with('q'), "{}", ch.ja4),
            other => panic!("{other:?}"),
        }
        let names: Vec<_> = t.anomalies.iter().map(|a| a.kind.name()).collect();
        assert_eq!(names, ["quic_reserved_bits_set", "gap"]);
    }
}
