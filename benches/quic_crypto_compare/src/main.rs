//! Per Initial packet: derive the Initial keys from the DCID (HKDF-Extract + 8
//! HKDF-Expand-Label), remove header protection (AES-128-ECB on the sample) and open the AEAD
//! (AES-128-GCM over the 1200-byte RFC 9001 A.2 client Initial): tlsight's RustCrypto path
//! (`tlsight::quic`) against the same steps with `ring`. Rounds alternate between the two;
//! medians of the rounds are printed. Nothing is cached across iterations.

use std::hint::black_box;
use std::time::Instant;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, quic::HeaderProtectionKey};
use ring::hkdf::{self, KeyType, Prk, Salt};
use tlsight::quic::QuicVersion;
use tlsight::quic::keys::InitialKeys;
use tlsight::quic::packet::unprotect;

const PACKET: &[u8] = include_bytes!("../../../tests/fixtures/quic/rfc9001_client_initial.bin");
const PN_OFFSET: usize = 18;

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) {
    let len = (out.len() as u16).to_be_bytes();
    let label_len = [6 + label.len() as u8];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("expand");
}

/// The ring path, step for step as tlsight does it; returns the plaintext length.
fn ring_open(dcid: &[u8], scratch: &mut Vec<u8>) -> usize {
    let salt = Salt::new(hkdf::HKDF_SHA256, &QuicVersion::V1.params().expect("v1").salt);
    let initial = salt.extract(dcid);
    let mut client = [0u8; 32];
    expand_label(&initial, b"client in", &mut client);
    let mut server = [0u8; 32];
    expand_label(&initial, b"server in", &mut server);
    let prk = Prk::new_less_safe(hkdf::HKDF_SHA256, &client);
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&prk, b"quic key", &mut key);
    expand_label(&prk, b"quic iv", &mut iv);
    expand_label(&prk, b"quic hp", &mut hp);
    // The server's keys too: tlsight derives both directions per connection.
    let sprk = Prk::new_less_safe(hkdf::HKDF_SHA256, &server);
    let (mut skey, mut siv, mut shp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&sprk, b"quic key", &mut skey);
    expand_label(&sprk, b"quic iv", &mut siv);
    expand_label(&sprk, b"quic hp", &mut shp);
    black_box((&skey, &siv, &shp));

    scratch.clear();
    scratch.extend_from_slice(PACKET);
    let hpk = HeaderProtectionKey::new(&aead::quic::AES_128, &hp).expect("hp");
    let mask = hpk
        .new_mask(&scratch[PN_OFFSET + 4..PN_OFFSET + 20])
        .expect("mask");
    scratch[0] ^= mask[0] & 0x0f;
    let pn_len = usize::from(scratch[0] & 3) + 1;
    let mut pn = 0u64;
    for i in 0..pn_len {
        scratch[PN_OFFSET + i] ^= mask[1 + i];
        pn = pn << 8 | u64::from(scratch[PN_OFFSET + i]);
    }
    let mut nonce = iv;
    for (n, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
        *n ^= p;
    }
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).expect("key"));
    let (header, payload) = scratch.split_at_mut(PN_OFFSET + pn_len);
    key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&*header), payload)
        .expect("opens")
        .len()
}

/// tlsight's path.
fn rustcrypto_open(dcid: &[u8], scratch: &mut Vec<u8>) -> usize {
    let keys = InitialKeys::derive(QuicVersion::V1.params().expect("v1"), dcid).expect("derive");
    unprotect(PACKET, PN_OFFSET, &keys.client, None, scratch)
        .expect("opens")
        .payload
        .len()
}

/// Keys only (both directions), for the split.
fn ring_keys(dcid: &[u8]) -> [u8; 16] {
    let salt = Salt::new(hkdf::HKDF_SHA256, &QuicVersion::V1.params().expect("v1").salt);
    let initial = salt.extract(dcid);
    let mut out = [0u8; 16];
    for side in [&b"client in"[..], b"server in"] {
        let mut secret = [0u8; 32];
        expand_label(&initial, side, &mut secret);
        let prk = Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&prk, b"quic key", &mut key);
        expand_label(&prk, b"quic iv", &mut iv);
        expand_label(&prk, b"quic hp", &mut hp);
        out[0] ^= key[0] ^ iv[0] ^ hp[0];
    }
    out
}

fn rustcrypto_keys(dcid: &[u8]) -> u8 {
    let keys = InitialKeys::derive(QuicVersion::V1.params().expect("v1"), dcid).expect("derive");
    keys.client.key[0] ^ keys.server.hp[0]
}

/// Time per call of `f`, median of 15 rounds.
fn per_call(mut f: impl FnMut()) -> f64 {
    const N: u32 = 20_000;
    let mut v = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        v.push(t.elapsed().as_nanos() as f64 / f64::from(N));
    }
    median(v)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dcid = &PACKET[6..14];
    let mut scratch = Vec::new();
    assert_eq!(ring_open(dcid, &mut scratch), 1162);
    assert_eq!(rustcrypto_open(dcid, &mut scratch), 1162);
    const N: u32 = 20_000;
    let (mut ring_ns, mut rc_ns) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..N {
            black_box(ring_open(black_box(dcid), &mut scratch));
        }
        ring_ns.push(t.elapsed().as_nanos() as f64 / f64::from(N));
        let t = Instant::now();
        for _ in 0..N {
            black_box(rustcrypto_open(black_box(dcid), &mut scratch));
        }
        rc_ns.push(t.elapsed().as_nanos() as f64 / f64::from(N));
    }
    let (r, c) = (median(ring_ns), median(rc_ns));
    let rk = per_call(|| {
        black_box(ring_keys(black_box(dcid)));
    });
    let ck = per_call(|| {
        black_box(rustcrypto_keys(black_box(dcid)));
    });
    println!("keys only (both directions): RustCrypto {ck:.0} ns, ring {rk:.0} ns");
    println!("per client Initial (both directions' keys + HP + AEAD open of 1200 bytes), median of 15 rounds of {N}:");
    println!("  RustCrypto (tlsight): {c:8.0} ns");
    println!("  ring:                 {r:8.0} ns");
    println!("  ratio RustCrypto/ring: {:.2}", c / r);
}
