//! Client and server fingerprints: JA3/JA3S (Salesforce) and JA4/JA4S (FoxIO), computed to
//! their published specifications (GREASE ignored where the specification says so).
//!
//! INTERFACE STUB — implementation pending (tls-parsing helper).

use super::{ClientHello, ServerHello};

/// JA3 string and its MD5 (lowercase hex) for a parsed ClientHello.
pub fn ja3(hello: &ClientHello) -> (String, String) {
    let _ = hello;
    todo!("tls-parsing helper")
}

/// JA4 (TCP, `t` prefix) of a parsed ClientHello.
pub fn ja4(hello: &ClientHello) -> String {
    let _ = hello;
    todo!("tls-parsing helper")
}

/// JA3S string and its MD5 for a parsed ServerHello.
pub fn ja3s(hello: &ServerHello) -> (String, String) {
    let _ = hello;
    todo!("tls-parsing helper")
}

/// JA4S (TCP) of a parsed ServerHello.
pub fn ja4s(hello: &ServerHello) -> String {
    let _ = hello;
    todo!("tls-parsing helper")
}
