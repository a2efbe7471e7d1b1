//! Identities kept in a data directory, so a native peer's addresses survive restarts.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use libp2p::identity::Keypair;
use libp2p_webrtc::tokio::Certificate;

use super::Identity;

const KEY_FILE: &str = "identity.key";
const CERT_FILE: &str = "webrtc-cert.pem";

impl Identity {
    /// Load the identity kept in `dir`, creating (and saving) whatever is missing.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let key_path = dir.join(KEY_FILE);
        let keypair = match fs::read(&key_path) {
            Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
                .with_context(|| format!("{} is not a valid key file", key_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keypair = Keypair::generate_ed25519();
                write_private(&key_path, &keypair.to_protobuf_encoding()?)?;
                keypair
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", key_path.display())),
        };
        let cert_path = dir.join(CERT_FILE);
        let certificate = match fs::read_to_string(&cert_path) {
            Ok(pem) => Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a valid certificate", cert_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let certificate = generate_certificate()?;
                write_private(&cert_path, certificate.serialize_pem().as_bytes())?;
                certificate
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", cert_path.display()));
            }
        };
        Ok(Self {
            keypair,
            certificate,
        })
    }
}

pub(super) fn generate_certificate() -> Result<Certificate> {
    Certificate::generate(&mut rand::rng()).context("cannot generate a WebRTC certificate")
}

/// Secrets are written readable by their owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let second = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(
            first.keypair.public().to_peer_id(),
            second.keypair.public().to_peer_id()
        );
        assert_eq!(
            first.certificate.fingerprint(),
            second.certificate.fingerprint()
        );
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let error = Identity::load_or_create(dir.path()).err().unwrap();
        assert!(
            error.to_string().contains("not a valid key file"),
            "{error}"
        );
    }
}
