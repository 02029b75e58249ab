//! TLS for the HTTPS and FTPS front doors: rustls with modern suites
//! only, a certificate that `ctl reload` replaces without a restart, and
//! client certificates that are accepted at the handshake and pinned at
//! login.
//!
//! rustls speaks TLS 1.2 and 1.3 only, has no renegotiation and no CBC or
//! RSA-key-exchange suites; the suites are still listed here so that what
//! the appliance offers is written in its source, not inherited.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use sha2::{Digest, Sha256};

/// Why the certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: String },
    #[error("the key in {path} cannot sign for TLS: {reason}")]
    BadKey { path: String, reason: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: String, key: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The suites offered, strongest first: AEAD with forward secrecy only.
fn provider() -> CryptoProvider {
    use aws_lc_rs::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..aws_lc_rs::default_provider()
    }
}

/// The certificate and key in force; replaced whole on reload.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    fingerprint: RwLock<String>,
}

impl CertStore {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertStore>, TlsError> {
        let (ck, fp) = read_pair(cert, key)?;
        Ok(Arc::new(CertStore {
            current: RwLock::new(Arc::new(ck)),
            fingerprint: RwLock::new(fp),
        }))
    }

    /// Reads the files again; on error the old certificate stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<String, TlsError> {
        let (ck, fp) = read_pair(cert, key)?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(ck);
        }
        if let Ok(mut f) = self.fingerprint.write() {
            *f = fp.clone();
        }
        Ok(fp)
    }

    /// SHA-256 of the leaf certificate, as `AA:BB:…`.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .read()
            .map(|f| f.clone())
            .unwrap_or_default()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Colon-separated uppercase SHA-256, as browsers and openssl show it.
pub fn colon_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read_pair(cert: &Path, key: &Path) -> Result<(CertifiedKey, String), TlsError> {
    let cert_shown = cert.display().to_string();
    let key_shown = key.display().to_string();
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate { path: cert_shown });
    };
    let fp = colon_fingerprint(leaf.as_ref());
    let key_pem = read(key)?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: key_shown.clone(),
    })?;
    let signing = aws_lc_rs::sign::any_supported_type(&der).map_err(|e| TlsError::BadKey {
        path: key_shown.clone(),
        reason: e.to_string(),
    })?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_shown,
        key: key_shown,
    })?;
    Ok((ck, fp))
}

/// Asks for a client certificate without requiring one, and accepts any
/// that proves possession of its key: whether it opens an account is
/// decided at login, by its pinned fingerprint (a 窓口端末's certificate
/// is issued by the municipality, not by a CA the appliance knows).
#[derive(Debug)]
struct PinnedLater {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedLater {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server configuration: the door's ALPN protocols, client
/// certificates asked for when any account pins one.
pub fn server_config(
    certs: Arc<CertStore>,
    ask_client_cert: bool,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = if ask_client_cert {
        builder.with_client_cert_verifier(Arc::new(PinnedLater {
            algorithms: provider.signature_verification_algorithms,
        }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = alpn;
    // The server's order (AEAD, strongest first) decides, not the
    // client's: one TLS policy for every door, whatever a client prefers.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Lowercase hex SHA-256 of the client's certificate, when it sent one.
pub fn client_fingerprint(conn: &rustls::ServerConnection) -> Option<String> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| hex::encode(Sha256::digest(c.as_ref())))
}
