//! WebAssembly modules on the wire. A WebAssembly task names its module by content (the
//! SHA-256 of its bytes) and carries the bytes only when the node may not have them yet: a
//! node keeps the modules it was sent, so a job's thousands of tasks move the module to each
//! node once (PROTOCOL.md, "WebAssembly tasks").

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The first bytes of every WebAssembly binary module: `\0asm`, then version 1.
pub const WASM_MAGIC: &[u8; 8] = b"\0asm\x01\0\0\0";

/// Whether `bytes` is a WebAssembly binary module (by its magic bytes, not a file name).
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(WASM_MAGIC)
}

/// The module of a WebAssembly task: its hash, and its bytes when they travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmModule {
    pub sha256: ModuleHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ModuleBytes>,
}

impl WasmModule {
    /// A module with its bytes.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = ModuleBytes(bytes.into());
        Self {
            sha256: ModuleHash::of(&bytes.0),
            bytes: Some(bytes),
        }
    }

    /// The same module named by its hash alone.
    pub fn by_hash(&self) -> Self {
        Self {
            sha256: self.sha256,
            bytes: None,
        }
    }
}

/// SHA-256 of a module's bytes; a CBOR byte string of 32 bytes on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleHash(pub [u8; 32]);

impl ModuleHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ModuleHash {
    /// The first 12 hex digits, enough to tell modules apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..6].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({self})")
    }
}

impl Serialize for ModuleHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ModuleHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserializer.deserialize_bytes(BytesVisitor)?;
        let hash = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| de::Error::invalid_length(bytes.len(), &"32 bytes"))?;
        Ok(Self(hash))
    }
}

/// A module's bytes, shared rather than copied between the tasks that use it; a CBOR byte
/// string on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct ModuleBytes(pub Arc<[u8]>);

impl fmt::Debug for ModuleBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleBytes({} bytes)", self.0.len())
    }
}

impl Serialize for ModuleBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ModuleBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserializer.deserialize_byte_buf(BytesVisitor)?;
        Ok(Self(bytes.into()))
    }
}

/// A CBOR byte string (its size is already bounded by the request's size limit).
struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{from_cbor, to_cbor};

    #[test]
    fn modules_round_trip_as_byte_strings() {
        let module = WasmModule::new(&b"\0asm\x01\0\0\0"[..]);
        let encoded = to_cbor(&module);
        // `sha256` then a 32-byte string (0x58 0x20), `bytes` then an 8-byte string (0x48).
        assert!(encoded.windows(2).any(|w| w == [0x58, 0x20]));
        assert!(encoded.windows(9).any(|w| w == b"\x48\0asm\x01\0\0\0"));
        assert_eq!(from_cbor::<WasmModule>(&encoded).unwrap(), module);
        assert_eq!(
            from_cbor::<WasmModule>(&to_cbor(&module.by_hash())).unwrap(),
            module.by_hash()
        );
    }

    #[test]
    fn a_hash_is_32_bytes() {
        let short = to_cbor(&serde_json::json!({"sha256": [1, 2, 3]}));
        assert!(from_cbor::<WasmModule>(&short).is_err());
    }

    #[test]
    fn wasm_is_told_by_its_magic_bytes() {
        assert!(is_wasm(b"\0asm\x01\0\0\0\x01\x04"));
        assert!(!is_wasm(b"function(x) { return x; }"));
        assert!(!is_wasm(b"\0asm"));
    }
}
