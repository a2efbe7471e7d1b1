//! Grants of a private network. A network is named by its owner's peer id; the owner signs
//! grants that let one peer (by peer id) submit or serve in it until a time. Any peer checks
//! a grant on its own: the owner's public key is inside its peer id (ed25519), so no server
//! is asked. A grant names its grantee, so a copied grant is useless without that peer's key.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

// std's clock panics in the browser; web-time is std's natively.
use web_time::{SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};

use crate::protocol::{from_cbor, to_cbor};

/// Text grants start with this, so a pasted value is recognised (and a future form told apart).
const TEXT_PREFIX: &str = "pwsgrant1.";
/// What the owner signs: this domain tag, then the grant's CBOR bytes. The tag keeps a grant
/// signature from ever being valid for anything else signed with the same key.
const SIGNING_DOMAIN: &[u8] = b"pws-grant/1:";
/// Longest text grant accepted (a grant is about 200 bytes; the name is capped).
pub const MAX_GRANT_TEXT: usize = 1024;
/// Longest grant name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// How long a grant lasts unless the owner says otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What a grant lets its peer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Send tasks to the network's nodes.
    Submit,
    /// Serve the network's submitters as a node.
    Node,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Submit => "submit",
            Role::Node => "node",
        })
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "submit" => Ok(Role::Submit),
            "node" => Ok(Role::Node),
            other => Err(format!("{other:?} is not a role (submit or node)")),
        }
    }
}

/// The owner's word: `peer` may act as `role` in `network` until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The network, named by its owner's peer id (its bytes).
    #[serde(with = "peer_id_bytes")]
    pub network: PeerId,
    /// The grantee's peer id (its bytes).
    #[serde(with = "peer_id_bytes")]
    pub peer: PeerId,
    pub role: Role,
    /// Seconds since the Unix epoch after which the grant is void.
    pub expires: u64,
    /// What the owner calls the grantee (shown in listings), at most 64 bytes.
    pub name: String,
}

/// A grant with the owner's signature: what peers present to each other. On the wire (CBOR)
/// a map of two byte strings; in JSON (listings) its text form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignedGrant {
    /// The CBOR bytes of a [`Grant`], as signed.
    #[serde(deserialize_with = "serde_bytes_vec::deserialize")]
    pub grant: Vec<u8>,
    /// The owner's signature over [`SIGNING_DOMAIN`] followed by `grant`.
    #[serde(deserialize_with = "serde_bytes_vec::deserialize")]
    pub signature: Vec<u8>,
}

impl Serialize for SignedGrant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if serializer.is_human_readable() {
            return serializer.collect_str(self);
        }
        let mut fields = serializer.serialize_struct("SignedGrant", 2)?;
        fields.serialize_field("grant", &serde_bytes_vec::Bytes(&self.grant))?;
        fields.serialize_field("signature", &serde_bytes_vec::Bytes(&self.signature))?;
        fields.end()
    }
}

/// Why a grant is not honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a grant: {0}")]
    Malformed(String),
    #[error("the grant is for network {0}, not this one")]
    OtherNetwork(PeerId),
    #[error("the grant was given to {0}, not to this peer")]
    OtherPeer(PeerId),
    #[error("the grant lets its peer {0}, not {1}")]
    OtherRole(Role, Role),
    #[error("the grant expired")]
    Expired,
    #[error("the grant's signature is not the network owner's")]
    BadSignature,
    #[error("the owner's peer id holds no public key (it must be an ed25519 id)")]
    OwnerKeyUnknown,
}

impl SignedGrant {
    /// Sign `grant` with the owner's key; the key must be the one `grant.network` names.
    pub fn sign(owner: &Keypair, grant: &Grant) -> anyhow::Result<Self> {
        anyhow::ensure!(
            owner.public().to_peer_id() == grant.network,
            "only the network's owner signs its grants"
        );
        anyhow::ensure!(
            grant.name.len() <= MAX_NAME_BYTES,
            "a grant's name is at most {MAX_NAME_BYTES} bytes"
        );
        let bytes = to_cbor(grant);
        let signature = owner.sign(&signed_message(&bytes))?;
        Ok(Self {
            grant: bytes,
            signature,
        })
    }

    /// The role the grant claims, unchecked (to know which role to check it for).
    pub fn role(&self) -> Option<Role> {
        from_cbor::<Grant>(&self.grant).ok().map(|grant| grant.role)
    }

    /// The grant, if `network`'s owner signed it for `peer` to act as `role` and it has not
    /// expired at `now` (seconds since the Unix epoch).
    pub fn verify(
        &self,
        network: PeerId,
        peer: PeerId,
        role: Role,
        now: u64,
    ) -> Result<Grant, Refusal> {
        let grant: Grant = from_cbor(&self.grant).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if grant.network != network {
            return Err(Refusal::OtherNetwork(grant.network));
        }
        if grant.peer != peer {
            return Err(Refusal::OtherPeer(grant.peer));
        }
        if grant.role != role {
            return Err(Refusal::OtherRole(grant.role, role));
        }
        if grant.expires <= now {
            return Err(Refusal::Expired);
        }
        let owner = owner_key(network).ok_or(Refusal::OwnerKeyUnknown)?;
        if !owner.verify(&signed_message(&self.grant), &self.signature) {
            return Err(Refusal::BadSignature);
        }
        Ok(grant)
    }
}

/// The text form: the prefix, then the CBOR of the signed grant in unpadded base64url.
impl fmt::Display for SignedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(to_cbor(self));
        write!(f, "{TEXT_PREFIX}{encoded}")
    }
}

impl FromStr for SignedGrant {
    type Err = Refusal;

    fn from_str(text: &str) -> Result<Self, Refusal> {
        use base64::Engine;
        let text = text.trim();
        if text.len() > MAX_GRANT_TEXT {
            return Err(Refusal::Malformed(format!(
                "longer than {MAX_GRANT_TEXT} characters"
            )));
        }
        let encoded = text
            .strip_prefix(TEXT_PREFIX)
            .ok_or_else(|| Refusal::Malformed(format!("it does not start with {TEXT_PREFIX}")))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        from_cbor(&bytes).map_err(|e| Refusal::Malformed(e.to_string()))
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn signed_message(grant: &[u8]) -> Vec<u8> {
    [SIGNING_DOMAIN, grant].concat()
}

/// The public key inside a peer id: ed25519 ids carry the key itself (identity multihash).
fn owner_key(peer: PeerId) -> Option<PublicKey> {
    const IDENTITY_MULTIHASH: u64 = 0x00;
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if multihash.code() != IDENTITY_MULTIHASH {
        return None;
    }
    PublicKey::try_decode_protobuf(multihash.digest()).ok()
}

mod peer_id_bytes {
    use libp2p::PeerId;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(peer: &PeerId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&peer.to_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PeerId, D::Error> {
        let bytes = super::serde_bytes_vec::deserialize(deserializer)?;
        PeerId::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// Byte strings as CBOR byte strings (serde's default for `Vec<u8>` is an array of numbers).
mod serde_bytes_vec {
    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    /// A grant's byte fields are small: anything longer is not a grant.
    const MAX_BYTES: usize = 1024;

    /// A byte string that serializes as one.
    pub struct Bytes<'a>(pub &'a [u8]);

    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a byte string of at most {MAX_BYTES} bytes")
            }
            fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                if bytes.len() > MAX_BYTES {
                    return Err(E::invalid_length(bytes.len(), &self));
                }
                Ok(bytes.to_vec())
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(owner: &Keypair, peer: PeerId, role: Role, expires: u64) -> SignedGrant {
        let grant = Grant {
            network: owner.public().to_peer_id(),
            peer,
            role,
            expires,
            name: "laptop".into(),
        };
        SignedGrant::sign(owner, &grant).unwrap()
    }

    #[test]
    fn a_grant_survives_its_text_form_and_verifies() {
        let owner = Keypair::generate_ed25519();
        let peer = PeerId::random();
        let signed = grant(&owner, peer, Role::Node, 1000);
        let text = signed.to_string();
        assert!(text.starts_with(TEXT_PREFIX) && !text.contains(char::is_whitespace));
        let parsed: SignedGrant = text.parse().unwrap();
        let network = owner.public().to_peer_id();
        let verified = parsed.verify(network, peer, Role::Node, 999).unwrap();
        assert_eq!((verified.peer, verified.name.as_str()), (peer, "laptop"));
    }

    #[test]
    fn a_grant_is_refused_for_anything_it_does_not_say() {
        let owner = Keypair::generate_ed25519();
        let network = owner.public().to_peer_id();
        let peer = PeerId::random();
        let signed = grant(&owner, peer, Role::Submit, 1000);
        let other = PeerId::random();
        assert_eq!(
            signed.verify(network, other, Role::Submit, 0),
            Err(Refusal::OtherPeer(peer))
        );
        assert_eq!(
            signed.verify(network, peer, Role::Node, 0),
            Err(Refusal::OtherRole(Role::Submit, Role::Node))
        );
        assert_eq!(
            signed.verify(network, peer, Role::Submit, 1000),
            Err(Refusal::Expired)
        );
        let stranger = Keypair::generate_ed25519().public().to_peer_id();
        assert_eq!(
            signed.verify(stranger, peer, Role::Submit, 0),
            Err(Refusal::OtherNetwork(network))
        );
    }

    #[test]
    fn a_forged_or_altered_grant_is_refused() {
        let owner = Keypair::generate_ed25519();
        let network = owner.public().to_peer_id();
        let peer = PeerId::random();
        // Signed by someone else, claiming the owner's network.
        let forger = Keypair::generate_ed25519();
        let claim = Grant {
            network,
            peer,
            role: Role::Submit,
            expires: 1000,
            name: String::new(),
        };
        assert!(SignedGrant::sign(&forger, &claim).is_err());
        let forged = SignedGrant {
            grant: to_cbor(&claim),
            signature: forger.sign(&signed_message(&to_cbor(&claim))).unwrap(),
        };
        assert_eq!(
            forged.verify(network, peer, Role::Submit, 0),
            Err(Refusal::BadSignature)
        );
        // The owner's grant with a later expiry written in.
        let mut altered = grant(&owner, peer, Role::Submit, 1000);
        let mut content: Grant = from_cbor(&altered.grant).unwrap();
        content.expires = u64::MAX;
        altered.grant = to_cbor(&content);
        assert_eq!(
            altered.verify(network, peer, Role::Submit, 0),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn text_that_is_not_a_grant_is_refused() {
        for text in [
            "",
            "pwsgrant1.",
            "pwsgrant1.!!!",
            "hello",
            &"x".repeat(5000),
        ] {
            assert!(matches!(
                text.parse::<SignedGrant>(),
                Err(Refusal::Malformed(_))
            ));
        }
    }
}
