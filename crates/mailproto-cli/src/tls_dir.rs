//! A self-signed certificate kept in a directory (`serve --tls-self-signed-dir DIR`), so
//! clients can trust it: `mailproto send --ca-file DIR/cert.pem`, `curl --cacert
//! DIR/cert.pem`, `swaks --tls-ca-path DIR/cert.pem`.
//!
//! `cert.pem` (mode 0644) and `key.pem` (mode 0600) are written at the first start and
//! reused at the next ones while they still hold a matching pair valid now for every
//! name the server answers to; otherwise a new pair replaces them. Each file is written
//! to a temporary name, synced and renamed, so a crash never leaves half a key.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailproto_std::tls::SelfSigned;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The certificate file in the directory.
pub const CERT_FILE: &str = "cert.pem";
/// The private key file in the directory.
pub const KEY_FILE: &str = "key.pem";

/// The certificate of `dir`, and whether it was reused (`false`: written now).
#[derive(Debug)]
pub struct Kept {
    /// The certificate and key.
    pub certificate: SelfSigned,
    /// Where the certificate is.
    pub cert_path: PathBuf,
    /// Whether the files were there and valid already.
    pub reused: bool,
    /// Why files that were there could not be reused, if so.
    pub replaced: Option<String>,
}

/// Load the pair in `dir` if it is valid for `names`, else generate and write one.
pub fn load_or_create(dir: &Path, names: &[&str]) -> io::Result<Kept> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let replaced = match load(&cert_path, &key_path, names) {
        Ok(Some(certificate)) => {
            return Ok(Kept {
                certificate,
                cert_path,
                reused: true,
                replaced: None,
            });
        }
        Ok(None) => None,
        Err(why) => Some(why),
    };
    fs::create_dir_all(dir)?;
    let certificate = SelfSigned::generate(names)?;
    // The key first: a certificate on disk always has its key beside it.
    write_atomically(&key_path, certificate.key_pem.as_bytes(), 0o600)?;
    write_atomically(&cert_path, certificate.cert_pem.as_bytes(), 0o644)?;
    Ok(Kept {
        certificate,
        cert_path,
        reused: false,
        replaced,
    })
}

/// The pair on disk: `Ok(None)` when there is none, `Err(why)` when it cannot be used.
fn load(cert_path: &Path, key_path: &Path, names: &[&str]) -> Result<Option<SelfSigned>, String> {
    let (cert_pem, key_pem) = match (fs::read_to_string(cert_path), fs::read_to_string(key_path)) {
        (Ok(c), Ok(k)) => (c, k),
        (Err(c), Err(k)) if c.kind() == io::ErrorKind::NotFound && k.kind() == c.kind() => {
            return Ok(None);
        }
        (Err(e), _) => return Err(format!("{}: {e}", cert_path.display())),
        (_, Err(e)) => return Err(format!("{}: {e}", key_path.display())),
    };
    let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    let certificate = SelfSigned {
        cert_pem,
        key_pem,
        cert_der: cert_der.to_vec(),
    };
    // The key must be the certificate's (rustls checks the pair) ...
    certificate
        .server_config()
        .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
    // ... and a client trusting the certificate must accept it for every name, now.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert_der.clone())
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    for name in names {
        let server = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        verifier
            .verify_server_cert(&cert_der, &[], &server, &[], UnixTime::now())
            .map_err(|e| format!("not valid for {name}: {e}"))?;
    }
    Ok(Some(certificate))
}

/// Write `data` to `path` through a synced temporary file in the same directory, with
/// this mode, then sync the directory.
fn write_atomically(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".mailproto-")
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(data)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

    #[test]
    fn written_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &NAMES).unwrap();
        assert!(!first.reused);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |f| {
                fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode(KEY_FILE), 0o600);
            assert_eq!(mode(CERT_FILE), 0o644);
        }
        let second = load_or_create(dir.path(), &NAMES).unwrap();
        assert!(second.reused);
        assert_eq!(
            first.certificate.fingerprint(),
            second.certificate.fingerprint()
        );
    }

    #[test]
    fn replaced_when_a_name_is_missing_or_the_key_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &NAMES).unwrap();
        let more = load_or_create(dir.path(), &["localhost", "127.0.0.1", "mx.example"]).unwrap();
        assert!(!more.reused, "a new name needs a new certificate");
        let why = more.replaced.unwrap();
        assert!(why.contains("mx.example"), "{why}");
        assert_ne!(
            first.certificate.fingerprint(),
            more.certificate.fingerprint()
        );
        let other = SelfSigned::generate(&NAMES).unwrap();
        fs::write(dir.path().join(KEY_FILE), other.key_pem).unwrap();
        let fixed = load_or_create(dir.path(), &NAMES).unwrap();
        assert!(!fixed.reused, "a key of another certificate is replaced");
        assert!(load_or_create(dir.path(), &NAMES).unwrap().reused);
    }
}
