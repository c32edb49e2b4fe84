//! quinn client and server in one process, one scenario per run (for captures/quic/record.sh).
//!
//! Usage: quinn-probe SCENARIO HOST PORT CERT.pem KEY.pk8.pem CA.pem
//! Scenarios: `v1-h3` (handshake with ALPN h3, then close), `retry` (the server validates the
//! address with a Retry first), `client-rejects-certificate` (the client trusts no CA, so it
//! rejects the server's chain). TLS secrets go to $SSLKEYLOGFILE. Segmentation offload is off so
//! that the capture shows each datagram as sent.

use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ClientConfig, Endpoint, ServerConfig, TransportConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, scenario, host, port, cert, key, ca] = &args[..] else {
        return Err("usage: quinn-probe SCENARIO HOST PORT CERT KEY CA".into());
    };
    let addr = SocketAddr::new(host.parse::<IpAddr>()?, port.parse()?);
    let mut transport = TransportConfig::default();
    transport.enable_segmentation_offload(false);
    let transport = Arc::new(transport);

    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![b"h3".to_vec()];
    tls.key_log = Arc::new(rustls::KeyLogFile::new());
    let mut server_config = ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    server_config.transport_config(transport.clone());
    let server = Endpoint::server(server_config, addr)?;
    let retry = scenario == "retry";
    let accept = server.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            if retry && !incoming.remote_address_validated() {
                let _ = incoming.retry();
                continue;
            }
            tokio::spawn(async move {
                if let Ok(conn) = incoming.await {
                    conn.closed().await;
                }
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    if scenario != "client-rejects-certificate" {
        for c in CertificateDer::pem_file_iter(ca)? {
            roots.add(c?)?;
        }
    }
    let mut ctls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ctls.alpn_protocols = vec![b"h3".to_vec()];
    ctls.key_log = Arc::new(rustls::KeyLogFile::new());
    let mut client_config = ClientConfig::new(Arc::new(QuicClientConfig::try_from(ctls)?));
    client_config.transport_config(transport);
    let bind: SocketAddr = if addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }.parse()?;
    let mut client = Endpoint::client(bind)?;
    client.set_default_client_config(client_config);
    match client.connect(addr, "server.test")?.await {
        Ok(conn) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            conn.close(0u32.into(), b"done");
        }
        Err(e) => eprintln!("client: {e}"),
    }
    tokio::time::timeout(Duration::from_secs(5), client.wait_idle()).await.ok();
    server.close(0u32.into(), b"bye");
    tokio::time::timeout(Duration::from_secs(2), server.wait_idle()).await.ok();
    Ok(())
}
