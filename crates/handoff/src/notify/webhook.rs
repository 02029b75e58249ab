//! The webhook channel: one HTTPS POST of the notice's JSON, signed with
//! HMAC-SHA256 over the exact body (`X-Renkei-Signature: sha256=<hex>`).

use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sha2::Sha256;

use renkei_config::notify::Webhook;

use super::Notice;

fn tls_config(w: &Webhook) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in super::trusted(w.ca_file.as_deref())? {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One POST; the signature is over the exact body sent.
pub(super) async fn post(w: &Webhook, notice: &Notice) -> Result<(), String> {
    let body = Bytes::from(notice.json());
    let about = notice.event.as_str();
    let tcp = tokio::net::TcpStream::connect((w.host.as_str(), w.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", w.host, w.port))?;
    let name = ServerName::try_from(w.host.clone()).map_err(|e| format!("{}: {e}", w.host))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config(w)?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", w.host))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&w.secret).map_err(|e| e.to_string())?;
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let authority = if w.port == 443 {
        w.host.clone()
    } else {
        format!("{}:{}", w.host, w.port)
    };
    let req = hyper::Request::post(&w.path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header(
            hyper::header::USER_AGENT,
            concat!("renkei/", env!("CARGO_PKG_VERSION")),
        )
        .header("X-Renkei-Event", about)
        .header("X-Renkei-Signature", format!("sha256={signature}"))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string());
    driver.abort();
    let resp = resp?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", resp.status()))
    }
}
