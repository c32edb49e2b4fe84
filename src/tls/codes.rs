//! TLS codepoints as open newtypes, in the way rustls's `enum_builder!` types keep them: each
//! wraps the wire value, names the values tlsight acts on as constants, and keeps every other
//! value as it came (a passive analyzer must carry what the wire said, known or not).
//!
//! Records and outputs keep wire codes as integers; these types are for reading the code that
//! acts on them (`HandshakeType::CLIENT_HELLO` instead of `1`), and for the one definition of
//! each classification (`ProtocolVersion::is_tls13`).

use std::borrow::Cow;

use super::names;

/// Declares an open newtype over a wire integer with named constants and their registry names.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$vmeta])* pub const $variant: $name = $name($value); )*

            /// The registry's name of a value this list knows.
            pub fn known_name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }
        }
    };
}

open_enum! {
    /// A record's content type (RFC 8446 §5.1, RFC 6520 heartbeat, RFC 9146 tls12_cid).
    ContentType(u8) {
        /// ChangeCipherSpec.
        CHANGE_CIPHER_SPEC = 20 => "change_cipher_spec",
        /// Alert.
        ALERT = 21 => "alert",
        /// Handshake.
        HANDSHAKE = 22 => "handshake",
        /// Application data (and every TLS 1.3 protected record).
        APPLICATION_DATA = 23 => "application_data",
        /// Heartbeat (RFC 6520).
        HEARTBEAT = 24 => "heartbeat",
        /// DTLS 1.2 record with a connection ID (RFC 9146).
        TLS12_CID = 25 => "tls12_cid",
    }
}

open_enum! {
    /// A handshake message type (RFC 8446 §4, RFC 6066, RFC 6347, RFC 8879).
    HandshakeType(u8) {
        /// HelloRequest (TLS ≤ 1.2: the server asks for a renegotiation).
        HELLO_REQUEST = 0 => "hello_request",
        /// ClientHello.
        CLIENT_HELLO = 1 => "client_hello",
        /// ServerHello (and the TLS 1.3 HelloRetryRequest since draft 22).
        SERVER_HELLO = 2 => "server_hello",
        /// HelloVerifyRequest (DTLS ≤ 1.2 cookie exchange).
        HELLO_VERIFY_REQUEST = 3 => "hello_verify_request",
        /// NewSessionTicket.
        NEW_SESSION_TICKET = 4 => "new_session_ticket",
        /// EndOfEarlyData (TLS 1.3).
        END_OF_EARLY_DATA = 5 => "end_of_early_data",
        /// HelloRetryRequest as its own message type (TLS 1.3 drafts before 22).
        HELLO_RETRY_REQUEST = 6 => "hello_retry_request",
        /// EncryptedExtensions (TLS 1.3).
        ENCRYPTED_EXTENSIONS = 8 => "encrypted_extensions",
        /// Certificate.
        CERTIFICATE = 11 => "certificate",
        /// ServerKeyExchange (TLS ≤ 1.2).
        SERVER_KEY_EXCHANGE = 12 => "server_key_exchange",
        /// CertificateRequest.
        CERTIFICATE_REQUEST = 13 => "certificate_request",
        /// ServerHelloDone (TLS ≤ 1.2).
        SERVER_HELLO_DONE = 14 => "server_hello_done",
        /// CertificateVerify.
        CERTIFICATE_VERIFY = 15 => "certificate_verify",
        /// ClientKeyExchange (TLS ≤ 1.2).
        CLIENT_KEY_EXCHANGE = 16 => "client_key_exchange",
        /// Finished.
        FINISHED = 20 => "finished",
        /// CertificateStatus (stapled OCSP, TLS ≤ 1.2).
        CERTIFICATE_STATUS = 22 => "certificate_status",
        /// KeyUpdate (TLS 1.3).
        KEY_UPDATE = 24 => "key_update",
        /// CompressedCertificate (RFC 8879).
        COMPRESSED_CERTIFICATE = 25 => "compressed_certificate",
        /// MessageHash (TLS 1.3 transcript placeholder, never on the wire).
        MESSAGE_HASH = 254 => "message_hash",
    }
}

open_enum! {
    /// An alert's level (RFC 8446 §6).
    AlertLevel(u8) {
        /// Warning.
        WARNING = 1 => "warning",
        /// Fatal.
        FATAL = 2 => "fatal",
    }
}

open_enum! {
    /// An alert's description (RFC 8446 §6 and the IANA TLS Alerts registry); names in RFC
    /// snake_case.
    AlertDescription(u8) {
        /// close_notify.
        CLOSE_NOTIFY = 0 => "close_notify",
        /// unexpected_message.
        UNEXPECTED_MESSAGE = 10 => "unexpected_message",
        /// bad_record_mac.
        BAD_RECORD_MAC = 20 => "bad_record_mac",
        /// decryption_failed (SSLv3, TLS 1.0).
        DECRYPTION_FAILED = 21 => "decryption_failed",
        /// record_overflow.
        RECORD_OVERFLOW = 22 => "record_overflow",
        /// decompression_failure (TLS ≤ 1.2).
        DECOMPRESSION_FAILURE = 30 => "decompression_failure",
        /// handshake_failure.
        HANDSHAKE_FAILURE = 40 => "handshake_failure",
        /// no_certificate (SSLv3).
        NO_CERTIFICATE = 41 => "no_certificate",
        /// bad_certificate.
        BAD_CERTIFICATE = 42 => "bad_certificate",
        /// unsupported_certificate.
        UNSUPPORTED_CERTIFICATE = 43 => "unsupported_certificate",
        /// certificate_revoked.
        CERTIFICATE_REVOKED = 44 => "certificate_revoked",
        /// certificate_expired.
        CERTIFICATE_EXPIRED = 45 => "certificate_expired",
        /// certificate_unknown.
        CERTIFICATE_UNKNOWN = 46 => "certificate_unknown",
        /// illegal_parameter.
        ILLEGAL_PARAMETER = 47 => "illegal_parameter",
        /// unknown_ca.
        UNKNOWN_CA = 48 => "unknown_ca",
        /// access_denied.
        ACCESS_DENIED = 49 => "access_denied",
        /// decode_error.
        DECODE_ERROR = 50 => "decode_error",
        /// decrypt_error.
        DECRYPT_ERROR = 51 => "decrypt_error",
        /// too_many_cids_requested (RFC 9147).
        TOO_MANY_CIDS_REQUESTED = 52 => "too_many_cids_requested",
        /// export_restriction (TLS 1.0).
        EXPORT_RESTRICTION = 60 => "export_restriction",
        /// protocol_version.
        PROTOCOL_VERSION = 70 => "protocol_version",
        /// insufficient_security.
        INSUFFICIENT_SECURITY = 71 => "insufficient_security",
        /// internal_error.
        INTERNAL_ERROR = 80 => "internal_error",
        /// inappropriate_fallback (RFC 7507).
        INAPPROPRIATE_FALLBACK = 86 => "inappropriate_fallback",
        /// user_canceled.
        USER_CANCELED = 90 => "user_canceled",
        /// no_renegotiation (TLS ≤ 1.2).
        NO_RENEGOTIATION = 100 => "no_renegotiation",
        /// missing_extension.
        MISSING_EXTENSION = 109 => "missing_extension",
        /// unsupported_extension.
        UNSUPPORTED_EXTENSION = 110 => "unsupported_extension",
        /// certificate_unobtainable (RFC 6066).
        CERTIFICATE_UNOBTAINABLE = 111 => "certificate_unobtainable",
        /// unrecognized_name.
        UNRECOGNIZED_NAME = 112 => "unrecognized_name",
        /// bad_certificate_status_response.
        BAD_CERTIFICATE_STATUS_RESPONSE = 113 => "bad_certificate_status_response",
        /// bad_certificate_hash_value (RFC 6066).
        BAD_CERTIFICATE_HASH_VALUE = 114 => "bad_certificate_hash_value",
        /// unknown_psk_identity.
        UNKNOWN_PSK_IDENTITY = 115 => "unknown_psk_identity",
        /// certificate_required.
        CERTIFICATE_REQUIRED = 116 => "certificate_required",
        /// no_application_protocol.
        NO_APPLICATION_PROTOCOL = 120 => "no_application_protocol",
        /// ech_required (RFC 9849).
        ECH_REQUIRED = 121 => "ech_required",
    }
}

impl AlertDescription {
    /// RFC snake_case name, `"unknown_N"` for values the registry list above lacks.
    pub fn name(self) -> Cow<'static, str> {
        match self.known_name() {
            Some(name) => name.into(),
            None => format!("unknown_{}", self.0).into(),
        }
    }
}

open_enum! {
    /// A protocol version (TLS, SSL and DTLS record and handshake versions).
    ProtocolVersion(u16) {
        /// SSL 2.0 (as its CLIENT-HELLO states it).
        SSLV2 = 0x0002 => "SSLv2",
        /// SSL 3.0.
        SSLV3 = 0x0300 => "SSLv3",
        /// TLS 1.0.
        TLS10 = 0x0301 => "TLSv1.0",
        /// TLS 1.1.
        TLS11 = 0x0302 => "TLSv1.1",
        /// TLS 1.2.
        TLS12 = 0x0303 => "TLSv1.2",
        /// TLS 1.3.
        TLS13 = 0x0304 => "TLSv1.3",
        /// DTLS 1.0 (RFC 4347: the ones' complement of 1.0).
        DTLS10 = 0xfeff => "DTLSv1.0",
        /// DTLS 1.2.
        DTLS12 = 0xfefd => "DTLSv1.2",
        /// DTLS 1.3 (RFC 9147).
        DTLS13 = 0xfefc => "DTLSv1.3",
    }
}

impl ProtocolVersion {
    /// Whether the version is TLS 1.3 or DTLS 1.3, a draft or experiment of it (IETF drafts
    /// 0x7fNN, Google's experiments 0x7eNN, Facebook's 0xfbNN): the one test the crate uses.
    pub fn is_tls13(self) -> bool {
        names::version_rank(self.0) == Some(ProtocolVersion::TLS13.0)
            || self == ProtocolVersion::DTLS13
    }

    /// Whether the version is a DTLS one.
    pub fn is_dtls(self) -> bool {
        matches!(
            self,
            ProtocolVersion::DTLS10 | ProtocolVersion::DTLS12 | ProtocolVersion::DTLS13
        )
    }
}

open_enum! {
    /// An extension type (IANA TLS ExtensionType registry): the ones tlsight decodes.
    ExtensionType(u16) {
        /// server_name (SNI).
        SERVER_NAME = 0 => "server_name",
        /// status_request (OCSP stapling).
        STATUS_REQUEST = 5 => "status_request",
        /// supported_groups.
        SUPPORTED_GROUPS = 10 => "supported_groups",
        /// ec_point_formats.
        EC_POINT_FORMATS = 11 => "ec_point_formats",
        /// signature_algorithms.
        SIGNATURE_ALGORITHMS = 13 => "signature_algorithms",
        /// application_layer_protocol_negotiation (ALPN).
        ALPN = 16 => "application_layer_protocol_negotiation",
        /// session_ticket (RFC 5077).
        SESSION_TICKET = 35 => "session_ticket",
        /// key_share before TLS 1.3 draft 23 moved it to 51.
        KEY_SHARE_DRAFT = 40 => "key_share_draft",
        /// pre_shared_key.
        PRE_SHARED_KEY = 41 => "pre_shared_key",
        /// early_data.
        EARLY_DATA = 42 => "early_data",
        /// supported_versions.
        SUPPORTED_VERSIONS = 43 => "supported_versions",
        /// cookie (TLS 1.3 HelloRetryRequest).
        COOKIE = 44 => "cookie",
        /// psk_key_exchange_modes.
        PSK_KEY_EXCHANGE_MODES = 45 => "psk_key_exchange_modes",
        /// key_share.
        KEY_SHARE = 51 => "key_share",
        /// connection_id (DTLS, RFC 9146).
        CONNECTION_ID = 54 => "connection_id",
        /// quic_transport_parameters (RFC 9001).
        QUIC_TRANSPORT_PARAMETERS = 57 => "quic_transport_parameters",
        /// encrypted_client_hello.
        ENCRYPTED_CLIENT_HELLO = 0xfe0d => "encrypted_client_hello",
        /// renegotiation_info (RFC 5746).
        RENEGOTIATION_INFO = 0xff01 => "renegotiation_info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_kept_and_known_ones_named() {
        assert_eq!(HandshakeType(1), HandshakeType::CLIENT_HELLO);
        assert_eq!(HandshakeType(99).known_name(), None);
        assert_eq!(HandshakeType(99).0, 99);
        assert_eq!(AlertDescription(48).name(), "unknown_ca");
        assert_eq!(AlertDescription(200).name(), "unknown_200");
        assert_eq!(ProtocolVersion(0xfefd).known_name(), Some("DTLSv1.2"));
    }

    #[test]
    fn tls13_is_the_final_version_its_drafts_and_experiments() {
        for v in [0x0304, 0x7f17, 0x7f1c, 0x7e01, 0xfb17, 0xfb1a, 0xfefc] {
            assert!(ProtocolVersion(v).is_tls13(), "{v:#x}");
        }
        for v in [0x0303, 0x0300, 0x0a0a, 0xfefd, 0x1234] {
            assert!(!ProtocolVersion(v).is_tls13(), "{v:#x}");
        }
    }
}
