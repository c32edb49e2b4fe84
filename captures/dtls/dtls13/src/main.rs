//! A DTLS 1.3 client and server (wolfSSL, through the `wolfssl` crate) talking over loopback
//! UDP, for the DTLS 1.3 scenario captures of `captures/dtls/record.sh`: no other stack on
//! this machine speaks DTLS 1.3.
//!
//! Usage: `dtls13-pair PORT SERVER_CERT.pem SERVER_KEY.pem CA.pem KEYLOG [alert]`. The server
//! listens on 127.0.0.1:PORT (wolfSSL's DTLS 1.3 server answers a first ClientHello with a
//! HelloRetryRequest carrying a cookie); the client connects, sends `hello tlsight`, reads the
//! echo and closes with close_notify. With `alert` the client trusts nothing (the CA file is
//! not loaded) and rejects the server's certificate. The client's TLS 1.3 secrets go to KEYLOG
//! (NSS key log format).

use std::io::{ErrorKind, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wolfssl::{
    ContextBuilder, IOCallbackResult, IOCallbacks, Method, Poll, RootCertificate,
    Secret, Session, SessionConfig, SslVerifyMode, Tls13SecretCallbacks,
};

/// What a wolfSSL session step returns.
type PollResult<T> = wolfssl::Result<Poll<T>>;

/// A connected UDP socket as wolfSSL's I/O; reads time out quickly so the caller can run the
/// DTLS timers.
struct Udp(Arc<UdpSocket>);

impl IOCallbacks for Udp {
    fn recv(&mut self, buf: &mut [u8]) -> IOCallbackResult<usize> {
        match self.0.recv(buf) {
            Ok(n) => IOCallbackResult::Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                IOCallbackResult::WouldBlock
            }
            Err(e) => IOCallbackResult::Err(e),
        }
    }

    fn send(&mut self, buf: &[u8]) -> IOCallbackResult<usize> {
        match self.0.send(buf) {
            Ok(n) => IOCallbackResult::Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => IOCallbackResult::WouldBlock,
            Err(e) => IOCallbackResult::Err(e),
        }
    }
}

/// Appends the secrets to the key log file.
struct KeyLog(Mutex<std::fs::File>);

impl Tls13SecretCallbacks for KeyLog {
    fn wireshark_keylog(&self, secret: String) {
        if let Ok(mut f) = self.0.lock() {
            let _ = writeln!(f, "{secret}");
        }
    }
}

/// Runs `step` until it is ready, firing the DTLS retransmission timer when it expires.
fn drive<T>(
    who: &str,
    session: &mut Session<Udp>,
    mut step: impl FnMut(&mut Session<Udp>) -> PollResult<T>,
) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut timer = Instant::now();
    while Instant::now() < deadline {
        match step(session) {
            Ok(Poll::Ready(v)) => return Some(v),
            Ok(Poll::AppData(_)) => {}
            Ok(Poll::PendingRead | Poll::PendingWrite) => {
                if timer.elapsed() >= session.dtls_current_timeout() {
                    let _ = session.dtls_has_timed_out();
                    timer = Instant::now();
                }
            }
            Err(e) => {
                eprintln!("[{who}] {e:?}");
                return None;
            }
        }
    }
    eprintln!("[{who}] gave up");
    None
}

fn socket(bind: &str) -> Arc<UdpSocket> {
    let s = UdpSocket::bind(bind).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    Arc::new(s)
}

fn server(sock: Arc<UdpSocket>, cert: &Path, key: &Path) {
    // The first datagram tells who the client is; it is read again by wolfSSL.
    let mut first = [0u8; 1];
    let peer = loop {
        match sock.peek_from(&mut first) {
            Ok((_, peer)) => break peer,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("[server] {e}"),
        }
    };
    sock.connect(peer).expect("connect");
    let ctx = ContextBuilder::new(Method::DtlsServerV1_3)
        .expect("context")
        .with_certificate(Secret::PemFile(cert))
        .expect("certificate")
        .with_private_key(Secret::PemFile(key))
        .expect("key")
        .build();
    let config = SessionConfig::new(Udp(sock)).with_dtls_nonblocking(true);
    let mut session = ctx.new_session(config).expect("session");
    if drive("server", &mut session, Session::try_negotiate).is_none() {
        return;
    }
    let mut buf = bytes::BytesMut::with_capacity(2048);
    if let Some(n) = drive("server", &mut session, |s| s.try_read(&mut buf)) {
        let reply = buf[..n].to_vec();
        drive("server", &mut session, |s| s.try_write_slice(&reply));
    }
    drive("server", &mut session, Session::try_shutdown);
}

fn client(port: u16, ca: Option<&Path>, keylog: &Path) {
    let sock = socket("127.0.0.1:0");
    sock.connect(("127.0.0.1", port)).expect("connect");
    let mut builder = ContextBuilder::new(Method::DtlsClientV1_3).expect("context");
    if let Some(ca) = ca {
        builder = builder
            .with_root_certificate(RootCertificate::PemFileOrDirectory(ca))
            .expect("root");
    }
    let ctx = builder.build();
    let log = std::fs::File::create(keylog).expect("key log");
    let config = SessionConfig::new(Udp(sock))
        .with_dtls_nonblocking(true)
        .with_sni("server.test")
        .with_checked_domain_name("server.test")
        .with_ssl_verify_mode(SslVerifyMode::SslVerifyPeer)
        .with_key_logger(Arc::new(KeyLog(Mutex::new(log))));
    let mut session = ctx.new_session(config).expect("session");
    if drive("client", &mut session, Session::try_negotiate).is_none() {
        return;
    }
    println!("[client] {:?} {:?}", session.version(), session.get_current_cipher_name());
    drive("client", &mut session, |s| s.try_write_slice(b"hello tlsight\n"));
    let mut buf = bytes::BytesMut::with_capacity(2048);
    drive("client", &mut session, |s| s.try_read(&mut buf));
    drive("client", &mut session, Session::try_shutdown);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, cert, key, ca, keylog, rest @ ..] = args.as_slice() else {
        eprintln!("usage: dtls13-pair PORT CERT KEY CA KEYLOG [alert]");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("port");
    let reject = rest.first().is_some_and(|a| a == "alert");
    let sock = socket(&format!("127.0.0.1:{port}"));
    let (cert, key) = (Path::new(cert).to_owned(), Path::new(key).to_owned());
    let srv = std::thread::spawn(move || server(sock, &cert, &key));
    let ca = (!reject).then(|| Path::new(ca));
    client(port, ca, Path::new(keylog));
    let _ = srv.join();
}
