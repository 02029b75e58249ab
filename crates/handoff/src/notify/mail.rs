//! The mail channel: one message per notification over SMTP, with
//! STARTTLS required or TLS from the first byte; credentials, when
//! configured, are sent only inside TLS. The server's certificate is
//! checked against the channel's `ca_file` or the system's CAs.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use renkei_config::notify::{Mail, SmtpTls};
use renkei_core::events::japanese;

use super::Notice;

/// Sends `notice` to every recipient of `m` in one message.
pub(super) async fn send(m: &Mail, timeout: Duration, notice: &Notice) -> Result<(), String> {
    let message = message(m, notice)?;
    let mut tls = TlsParameters::builder(m.host.clone()).certificate_store(CertificateStore::None);
    for cert in super::trusted(m.ca_file.as_deref())? {
        let cert = Certificate::from_der(cert.to_vec()).map_err(|e| e.to_string())?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| format!("TLS for {}: {e}", m.host))?;
    let tls = match m.tls {
        SmtpTls::StartTls => Tls::Required(tls),
        SmtpTls::Tls => Tls::Wrapper(tls),
    };
    // The EHLO name: the sending domain, which relays expect to resolve
    // better than a host name inside a closed network.
    let hello = m.from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(m.host.clone())
        .port(m.port)
        .tls(tls)
        .hello_name(ClientId::Domain(hello.to_string()))
        .timeout(Some(timeout));
    if let Some((user, password)) = &m.login {
        transport = transport
            .credentials(Credentials::new(user.clone(), password.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    transport
        .build()
        .send(message)
        .await
        .map(drop)
        .map_err(|e| format!("SMTP {}:{}: {e}", m.host, m.port))
}

/// A plain-text UTF-8 message: the subject line, what happened in
/// Japanese and English, and the whole record for the operator.
fn message(m: &Mail, notice: &Notice) -> Result<Message, String> {
    let mailbox = |a: &str| a.parse::<Mailbox>().map_err(|e| format!("{a}: {e}"));
    let mut builder = Message::builder()
        .from(mailbox(&m.from)?)
        .subject(notice.subject.clone())
        .date(std::time::SystemTime::now());
    for to in &m.to {
        builder = builder.to(mailbox(to)?);
    }
    let record = serde_json::to_string_pretty(&notice.record).unwrap_or_default();
    let body = format!(
        "renkei からの通知です。/ A notification from renkei.\n\n\
         事象 / Event:        {ja} ({event})\n\
         団体 / Municipality: {municipality}\n\
         日時 / At:           {at}\n\n\
         記録 / Record (docs/audit.md):\n{record}\n",
        ja = japanese(&notice.event),
        event = notice.event,
        municipality = if notice.municipality.is_empty() {
            "-"
        } else {
            &notice.municipality
        },
        at = renkei_model::time::tokyo(notice.at).strftime("%Y-%m-%d %H:%M:%S %Z"),
    );
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}
