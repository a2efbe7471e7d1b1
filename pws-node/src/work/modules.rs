//! The WebAssembly modules a node was sent, kept by content hash so that later tasks may
//! name them by hash alone. Bounded in bytes; the least recently used go first (a submitter
//! whose module was dropped is answered `unknown-module` and sends it again).

use hashlink::LinkedHashMap;
use pws_net::module::{ModuleBytes, ModuleHash, WasmModule};
use pws_net::protocol::{ErrorKind, TaskError};

/// Bytes of modules a node keeps.
pub const MAX_STORED_MODULE_BYTES: usize = 64 * 1024 * 1024;

pub struct ModuleStore {
    modules: LinkedHashMap<ModuleHash, ModuleBytes>,
    bytes: usize,
    max_bytes: usize,
}

impl Default for ModuleStore {
    fn default() -> Self {
        Self::new(MAX_STORED_MODULE_BYTES)
    }
}

impl ModuleStore {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            modules: LinkedHashMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Make `module` carry its bytes: keep the bytes it brought (once checked against its
    /// hash), or fill them in from the store.
    pub fn resolve(&mut self, module: &mut WasmModule) -> Result<(), TaskError> {
        match &module.bytes {
            Some(bytes) => {
                if ModuleHash::of(&bytes.0) != module.sha256 {
                    return Err(TaskError::new(
                        ErrorKind::InvalidValue,
                        "the module's bytes do not match its sha256",
                    ));
                }
                self.keep(module.sha256, bytes.clone());
                Ok(())
            }
            None => match self.modules.to_back(&module.sha256) {
                Some(bytes) => {
                    module.bytes = Some(bytes.clone());
                    Ok(())
                }
                None => Err(TaskError::new(
                    ErrorKind::UnknownModule,
                    format!(
                        "this node does not have module {}; send its bytes",
                        module.sha256
                    ),
                )),
            },
        }
    }

    fn keep(&mut self, hash: ModuleHash, bytes: ModuleBytes) {
        if self.modules.to_back(&hash).is_some() {
            return;
        }
        tracing::info!(module = %hash, bytes = bytes.0.len(), "received a WebAssembly module");
        self.bytes += bytes.0.len();
        self.modules.insert(hash, bytes);
        while self.bytes > self.max_bytes {
            let Some((_, dropped)) = self.modules.pop_front() else {
                break;
            };
            self.bytes -= dropped.0.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(fill: u8, len: usize) -> WasmModule {
        WasmModule::new(vec![fill; len])
    }

    #[test]
    fn modules_are_kept_and_found_by_hash() {
        let mut store = ModuleStore::new(100);
        let mut sent = module(1, 10);
        store.resolve(&mut sent).unwrap();
        let mut named = sent.by_hash();
        store.resolve(&mut named).unwrap();
        assert_eq!(named, sent);
    }

    #[test]
    fn unknown_and_forged_modules_are_refused() {
        let mut store = ModuleStore::new(100);
        let error = store.resolve(&mut module(1, 10).by_hash()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnknownModule);
        let mut forged = module(1, 10);
        forged.sha256 = module(2, 10).sha256;
        assert_eq!(
            store.resolve(&mut forged).unwrap_err().kind,
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn the_least_recently_used_go_first() {
        let mut store = ModuleStore::new(25);
        let (mut a, mut b, mut c) = (module(1, 10), module(2, 10), module(3, 10));
        store.resolve(&mut a).unwrap();
        store.resolve(&mut b).unwrap();
        // `a` is used again, so `b` is the one dropped for `c`.
        store.resolve(&mut a.by_hash()).unwrap();
        store.resolve(&mut c).unwrap();
        assert!(store.resolve(&mut a.by_hash()).is_ok());
        assert!(store.resolve(&mut c.by_hash()).is_ok());
        let error = store.resolve(&mut b.by_hash()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnknownModule);
    }
}
