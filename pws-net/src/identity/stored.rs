//! Identities kept in a data directory, so a native peer's addresses survive restarts.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use libp2p::identity::Keypair;
use libp2p_webrtc::tokio::Certificate;

use super::Identity;
use crate::private_files;

const KEY_FILE: &str = "identity.key";
const CERT_FILE: &str = "webrtc-cert.pem";

impl Identity {
    /// Load the identity kept in `dir`, creating (and saving) whatever is missing.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        private_files::create_dir(dir)?;
        let key_path = dir.join(KEY_FILE);
        let keypair = match fs::read(&key_path) {
            Ok(bytes) => {
                if private_files::is_exposed(&key_path) {
                    tracing::warn!(
                        "{} can be read by other users of this machine, who could act as this \
                         peer; `chmod 600` it",
                        key_path.display()
                    );
                }
                Keypair::from_protobuf_encoding(&bytes)
                    .with_context(|| format!("{} is not a valid key file", key_path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keypair = Keypair::generate_ed25519();
                private_files::write_new(&key_path, &keypair.to_protobuf_encoding()?)?;
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
                private_files::write_new(&cert_path, certificate.serialize_pem().as_bytes())?;
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
