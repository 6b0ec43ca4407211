//! Serving HTTPS and WSS from a PEM certificate and key (`--tls-cert`, `--tls-key`).
//!
//! Most deployments terminate TLS at a proxy; this is for those that do not.
//! Handshakes run in each connection's own task with a deadline
//! ([`crate::transport::listener`]), and the TCP connection cap bounds how many
//! run at once, so a client that never finishes its handshake stalls nobody.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::config::TlsConfig;

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no PEM block of the right kind.
    #[error("cannot read {what} from {path}: {message}")]
    Pem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("unusable certificate or key: {0}")]
    Config(#[from] rustls::Error),
}

/// The rustls configuration the settings ask for, or `None` without `--tls-cert`.
pub fn load(config: &TlsConfig) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let pem_error = |what, path: &Path, message: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error("certificate", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            "certificate",
            cert,
            "no CERTIFICATE block".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| pem_error("private key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    // HTTP/1.1 only: WebSocket over HTTP/2 needs extended CONNECT, which the engine does not serve.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}

/// The acceptor of `config`, for the accept loop ([`crate::transport::listener`]).
pub fn acceptor(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_settings_means_plain_http() {
        let config = TlsConfig {
            tls_cert: None,
            tls_key: None,
        };
        assert!(load(&config).expect("ok").is_none());
    }

    #[test]
    fn unreadable_files_are_reported() {
        let config = TlsConfig {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
        };
        let err = load(&config).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn a_self_signed_pair_loads() {
        let dir = std::env::temp_dir().join(format!("iorelay-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let pair =
            rcgen::generate_simple_self_signed(["localhost".to_owned()]).expect("certificate");
        std::fs::write(&cert, pair.cert.pem()).expect("write cert");
        std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write key");
        let config = TlsConfig {
            tls_cert: Some(cert.clone()),
            tls_key: Some(key),
        };
        assert!(load(&config).expect("valid pair").is_some());
        let swapped = TlsConfig {
            tls_cert: Some(cert.clone()),
            tls_key: Some(cert),
        };
        assert!(load(&swapped).is_err(), "a certificate is not a key");
    }
}
