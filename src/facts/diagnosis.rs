//! Why a handshake did not complete: first the TLS evidence every transport shares (alerts, with
//! their sender and the stage they came at), then the transport's own evidence (TCP: resets,
//! closes, gaps; see [`super::tcp`]; QUIC: [`super::quic`]; DTLS: [`super::dtls`]).

use super::{AlertFact, ConnectionFacts, Failure, FailureCause, Outcome, Side, TransportFacts};
use crate::flow::Timestamp;
use crate::tls::codes::{AlertDescription, AlertLevel};
use crate::tls::names::version_name;

/// What the fold over the transcript saw of the server besides the facts themselves.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct HandshakeEvidence {
    /// The server sent a ChangeCipherSpec.
    pub server_ccs: bool,
}

/// A handshake the server never answered (`no_response`), with `explanation`.
pub(super) fn no_response(explanation: String) -> (Outcome, Option<Failure>) {
    (
        Outcome::NoResponse,
        Some(Failure {
            cause: FailureCause::NoResponse,
            explanation,
            inferred: false,
        }),
    )
}

/// A failed outcome with its cause.
pub(super) fn failed(
    cause: FailureCause,
    explanation: String,
    inferred: bool,
) -> (Outcome, Option<Failure>) {
    (
        Outcome::Failed,
        Some(Failure {
            cause,
            explanation,
            inferred,
        }),
    )
}

/// Outcome and cause of a handshake that did not complete, from the evidence.
pub(super) fn diagnose(f: &ConnectionFacts, seen: HandshakeEvidence) -> (Outcome, Option<Failure>) {
    // Picked up after the ClientHello: the start of the handshake was not captured, so what
    // follows cannot be judged.
    if f.client_hello.is_none() && f.server_hello.is_some() {
        return (Outcome::Incomplete, None);
    }
    let server_spoke = f.server_hello.is_some()
        || f.hello_retry_request.is_some()
        || f.alerts.iter().any(|a| a.from == Side::Server)
        || seen.server_ccs;
    // An alert ends the handshake: the first fatal one, else the first that is not close_notify.
    let decisive = f
        .alerts
        .iter()
        .find(|a| {
            a.alert.level == Some(AlertLevel::FATAL) || (a.alert.encrypted && !a.alert.inferred)
        })
        .or_else(|| f.alerts.iter().find(|a| a.alert.inferred))
        .or_else(|| {
            f.alerts.iter().find(|a| {
                a.alert
                    .description
                    .is_some_and(|d| d != AlertDescription::CLOSE_NOTIFY)
            })
        });
    if let Some(a) = decisive {
        let (cause, explanation) = alert_cause(f, a);
        return failed(cause, explanation, a.alert.inferred);
    }
    let after = f.messages.last().map_or_else(
        || "the start".to_string(),
        |&(side, m)| message_phrase(side, m),
    );
    match &f.transport {
        TransportFacts::Tcp(tcp) => tcp.diagnose(f, server_spoke, &after),
        TransportFacts::Quic(quic) => quic.diagnose(f, server_spoke, &after),
        TransportFacts::Dtls(dtls) => dtls.diagnose(f, server_spoke, &after),
    }
}

/// `the client's ClientHello`: a handshake message named as the RFCs do, with its sender.
pub(super) fn message_phrase(side: Side, message: &str) -> String {
    let mut phrase = String::with_capacity(16 + message.len());
    phrase.push_str("the ");
    phrase.push_str(side.name());
    phrase.push_str("'s ");
    for word in message.split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            phrase.push(first.to_ascii_uppercase());
            phrase.push_str(chars.as_str());
        }
    }
    phrase
}

/// Milliseconds from the ClientHello (else the first packet) to `until`.
pub(super) fn client_hello_wait_ms(f: &ConnectionFacts, until: Timestamp) -> i64 {
    until.micros_since(f.client_hello_ts.unwrap_or_else(|| f.first_ts())) / 1000
}

/// Alerts by which a client rejects the server's certificate.
const CLIENT_CERTIFICATE_REJECTIONS: [AlertDescription; 7] = [
    AlertDescription::BAD_CERTIFICATE,
    AlertDescription::UNSUPPORTED_CERTIFICATE,
    AlertDescription::CERTIFICATE_REVOKED,
    AlertDescription::CERTIFICATE_EXPIRED,
    AlertDescription::CERTIFICATE_UNKNOWN,
    AlertDescription::UNKNOWN_CA,
    AlertDescription::ACCESS_DENIED,
];

/// Alerts by which a server rejects the client's certificate (SSLv3's no_certificate too).
const SERVER_CERTIFICATE_REJECTIONS: [AlertDescription; 8] = [
    AlertDescription::NO_CERTIFICATE,
    AlertDescription::BAD_CERTIFICATE,
    AlertDescription::UNSUPPORTED_CERTIFICATE,
    AlertDescription::CERTIFICATE_REVOKED,
    AlertDescription::CERTIFICATE_EXPIRED,
    AlertDescription::CERTIFICATE_UNKNOWN,
    AlertDescription::UNKNOWN_CA,
    AlertDescription::ACCESS_DENIED,
];

/// The protocol version whose encryption hid an inferred alert and what it answered: DTLS 1.3
/// on DTLS, TLS 1.3 otherwise.
fn encrypting_version(f: &ConnectionFacts) -> &'static str {
    match f.transport {
        TransportFacts::Dtls(_) => "DTLS 1.3",
        _ => "TLS 1.3",
    }
}

/// Cause and explanation of a failure ended by alert `a`. The explanation is joined with
/// `concat` rather than `format!`: it is written for every failed connection, and the
/// formatting machinery cost several times the joining.
fn alert_cause(f: &ConnectionFacts, a: &AlertFact) -> (FailureCause, String) {
    let who = a.from.name();
    let Some(desc) = a.alert.description else {
        if a.alert.inferred {
            return match a.from {
                Side::Client => (
                    FailureCause::ClientRejectedCertificate,
                    [
                        "The client sent an alert-sized encrypted record where its Finished was \
                         due and closed: most likely it rejected the server certificate (",
                        encrypting_version(f),
                        " hides both).",
                    ]
                    .concat(),
                ),
                Side::Server => (
                    FailureCause::ServerRejectedClientCertificate,
                    [
                        "The server answered the client's Finished with one alert-sized encrypted \
                         record and closed: most likely it required a client certificate and did \
                         not get one it accepts (",
                        encrypting_version(f),
                        " hides both).",
                    ]
                    .concat(),
                ),
            };
        }
        return (
            FailureCause::Unknown,
            [
                "The ",
                who,
                " sent an encrypted alert before the handshake finished.",
            ]
            .concat(),
        );
    };
    let name = desc.name();
    let level = match a.alert.level {
        Some(AlertLevel::WARNING) => "warning",
        _ => "fatal",
    };
    let stage = a
        .after
        .map(|(side, m)| [" after ", &message_phrase(side, m)].concat())
        .unwrap_or_default();
    let base = ["The ", who, " sent a ", level, " ", &name, " alert", &stage].concat();
    let base = base.as_str();
    if f.hello_retry_request.is_some() && f.server_hello.is_none() {
        return (
            FailureCause::HelloRetryFailed,
            [base, " following a HelloRetryRequest."].concat(),
        );
    }
    let offered = f.client_hello.as_deref();
    match (a.from, desc) {
        (
            Side::Server,
            AlertDescription::HANDSHAKE_FAILURE | AlertDescription::INSUFFICIENT_SECURITY,
        ) if f.server_hello.is_none() => (
            FailureCause::NoSharedCipher,
            [
                base,
                ": it shares no cipher suite or parameters with the client, which offered ",
                itoa::Buffer::new().format(offered.map_or(0, |ch| ch.cipher_suites.len())),
                " suites.",
            ]
            .concat(),
        ),
        (_, AlertDescription::PROTOCOL_VERSION | AlertDescription::INAPPROPRIATE_FALLBACK) => {
            let highest = f
                .highest_offered_version()
                .map_or_else(|| "nothing".into(), version_name);
            let demand = match (a.from, f.version()) {
                (Side::Client, Some(chosen)) => [
                    "the server chose ",
                    &version_name(chosen),
                    ", which the client refuses",
                ]
                .concat(),
                _ => "the server accepts none of the client's versions".to_string(),
            };
            (
                FailureCause::VersionMismatch,
                [
                    base,
                    ": no common protocol version (",
                    &demand,
                    "; client offered up to ",
                    &highest,
                    ").",
                ]
                .concat(),
            )
        }
        (_, AlertDescription::UNRECOGNIZED_NAME) => (
            FailureCause::UnrecognizedName,
            [
                base,
                ": the server does not serve ",
                f.sni().unwrap_or("the requested name (no SNI sent)"),
                ".",
            ]
            .concat(),
        ),
        (_, AlertDescription::NO_APPLICATION_PROTOCOL) => (
            FailureCause::NoApplicationProtocol,
            [
                base,
                ": no common application protocol (client offered ",
                &offered.map_or(String::new(), |ch| ch.alpn.join(", ")),
                ").",
            ]
            .concat(),
        ),
        (Side::Client, d) if CLIENT_CERTIFICATE_REJECTIONS.contains(&d) => {
            let findings: Vec<&str> = f
                .certificates
                .iter()
                .flat_map(|c| c.findings.iter().map(|x| x.name()))
                .collect();
            let why = if findings.is_empty() {
                String::new()
            } else {
                [" (certificate findings: ", &findings.join(", "), ")"].concat()
            };
            (
                FailureCause::ClientRejectedCertificate,
                [base, ": it rejected the server certificate", &why, "."].concat(),
            )
        }
        (Side::Server, d)
            if d == AlertDescription::CERTIFICATE_REQUIRED
                || SERVER_CERTIFICATE_REJECTIONS.contains(&d) =>
        {
            (
                FailureCause::ServerRejectedClientCertificate,
                [
                    base,
                    ": it ",
                    if f.client_certificate_empty || desc == AlertDescription::CERTIFICATE_REQUIRED
                    {
                        "required and did not get"
                    } else {
                        "rejected"
                    },
                    " the client certificate.",
                ]
                .concat(),
            )
        }
        (Side::Server, AlertDescription::HANDSHAKE_FAILURE) if f.certificate_requested => (
            FailureCause::ServerRejectedClientCertificate,
            [
                base,
                ": it requested a client certificate and ",
                if f.client_certificate_empty {
                    "the client sent none"
                } else {
                    "refused the one sent"
                },
                ".",
            ]
            .concat(),
        ),
        _ => (FailureCause::Unknown, [base, "."].concat()),
    }
}
