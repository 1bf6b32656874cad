//! TLS configuration shared by every adapter (rustls with the `ring` provider).
//!
//! - Servers load a certificate chain and key from PEM files ([`server_config_from_pem`])
//!   or generate a self-signed one for local use ([`SelfSigned`]).
//! - Clients verify certificates by default, against the system's roots or roots from a
//!   PEM file ([`ClientTls`]); [`ClientTls::accept_invalid_certs`] turns verification off
//!   explicitly, for local testing only.

use std::path::Path;
use std::sync::Arc;
use std::{fmt, fs, io};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The crypto provider every config here uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn tls_error(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A server config from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1).
pub fn server_config_from_pem(
    cert_path: &Path,
    key_path: &Path,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let cert_pem = fs::read(cert_path)?;
    let key_pem = fs::read(key_path)?;
    server_config_from_pem_bytes(&cert_pem, &key_pem)
}

/// A server config from PEM text already in memory.
pub fn server_config_from_pem_bytes(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> io::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format_args!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(tls_error("certificate PEM holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| tls_error(format_args!("private key PEM: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    Ok(Arc::new(config))
}

/// A freshly generated self-signed certificate, for local servers and tests.
#[derive(Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSigned")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// Generate a certificate valid for `names` (DNS names or IP addresses).
    pub fn generate(names: &[&str]) -> io::Result<Self> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let certified = rcgen::generate_simple_self_signed(names).map_err(tls_error)?;
        Ok(SelfSigned {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
            cert_der: certified.cert.der().to_vec(),
        })
    }

    /// The SHA-256 fingerprint of the certificate, as colon-separated hex pairs.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.cert_der);
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// A server config presenting this certificate.
    pub fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        server_config_from_pem_bytes(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }

    /// A client config that trusts exactly this certificate.
    pub fn client_config(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        ClientTls::with_root_pem(self.cert_pem.as_bytes())?.config()
    }
}

/// Where a client takes its trust anchors from.
#[derive(Debug, Clone)]
enum Roots {
    /// The operating system's store.
    System,
    /// Certificates given as PEM.
    Pem(Vec<u8>),
    /// No verification at all.
    AcceptInvalid,
}

/// How a client verifies the server's certificate. Verification is on by default.
/// The configuration (the system's trust store, the PEM roots) is built once, at the
/// first connection, and shared by every clone.
#[derive(Debug, Clone)]
pub struct ClientTls {
    roots: Roots,
    built: Arc<std::sync::Mutex<Option<Arc<rustls::ClientConfig>>>>,
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::with(Roots::System)
    }
}

impl ClientTls {
    /// Verify against the system's trust store.
    pub fn system() -> Self {
        Self::default()
    }

    /// Verify against the certificates in a PEM file.
    pub fn with_root_file(path: &Path) -> io::Result<Self> {
        Self::with_root_pem(&fs::read(path)?)
    }

    /// Verify against certificates given as PEM text.
    pub fn with_root_pem(pem: &[u8]) -> io::Result<Self> {
        Ok(Self::with(Roots::Pem(pem.to_vec())))
    }

    /// Accept any certificate, valid or not. For local testing only: this gives up the
    /// protection TLS is there for.
    pub fn accept_invalid_certs() -> Self {
        Self::with(Roots::AcceptInvalid)
    }

    fn with(roots: Roots) -> Self {
        ClientTls {
            roots,
            built: Arc::default(),
        }
    }

    /// The rustls client config, built at the first call and shared afterwards.
    pub fn config(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = built.as_ref() {
            return Ok(config.clone());
        }
        let config = self.build()?;
        *built = Some(config.clone());
        Ok(config)
    }

    fn build(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let config = match &self.roots {
            Roots::AcceptInvalid => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
                .with_no_client_auth(),
            Roots::System => {
                let mut store = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // A certificate the store cannot use is skipped, as browsers do.
                    let _ = store.add(cert);
                }
                if store.is_empty() {
                    return Err(tls_error("no usable certificate in the system trust store"));
                }
                builder.with_root_certificates(store).with_no_client_auth()
            }
            Roots::Pem(pem) => {
                let mut store = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| tls_error(format_args!("root PEM: {e}")))?;
                    store.add(cert).map_err(tls_error)?;
                }
                if store.is_empty() {
                    return Err(tls_error("root PEM holds no certificate"));
                }
                builder.with_root_certificates(store).with_no_client_auth()
            }
        };
        Ok(Arc::new(config))
    }
}

/// The name a client checks the server certificate against.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(tls_error)
}

/// A verifier that accepts every certificate ([`ClientTls::accept_invalid_certs`]).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_configs_build_and_fingerprint_is_sha256() {
        let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
        assert_eq!(cert.fingerprint().len(), 32 * 3 - 1);
        cert.server_config().unwrap();
        cert.client_config().unwrap();
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let err = server_config_from_pem_bytes(b"nothing", b"nothing").unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}
