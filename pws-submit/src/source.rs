//! What a task runs, as read from its file: JavaScript source, or a WebAssembly module
//! (told by its magic bytes, whatever the file is called).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use pws_net::module::{WasmModule, is_wasm};
use pws_net::protocol::{TaskKind, TaskRequest};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSource {
    JavaScript(String),
    Wasm(WasmModule),
}

impl Default for TaskSource {
    fn default() -> Self {
        Self::JavaScript(String::new())
    }
}

impl TaskSource {
    /// Read a task file (`-`: standard input).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read the task from standard input")?;
            bytes
        } else {
            std::fs::read(path)
                .with_context(|| format!("cannot read the task file {}", path.display()))?
        };
        Self::from_bytes(bytes).with_context(|| format!("in the task file {}", path.display()))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if is_wasm(&bytes) {
            return Ok(Self::Wasm(WasmModule::new(bytes)));
        }
        let code = String::from_utf8(bytes)
            .context("a task is JavaScript (UTF-8 text) or a WebAssembly module")?;
        Ok(Self::JavaScript(code))
    }

    pub fn kind(&self) -> TaskKind {
        match self {
            Self::JavaScript(_) => TaskKind::JavaScript,
            Self::Wasm(_) => TaskKind::Wasm,
        }
    }

    /// Bytes the source adds to a request that carries it.
    pub fn byte_len(&self) -> usize {
        match self {
            Self::JavaScript(code) => code.len(),
            Self::Wasm(module) => module.bytes.as_ref().map_or(0, |bytes| bytes.0.len()),
        }
    }

    /// A task request running this source, with no input.
    pub fn request(&self) -> TaskRequest {
        match self {
            Self::JavaScript(code) => TaskRequest::new(code.clone()),
            Self::Wasm(module) => TaskRequest::wasm(module.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_is_told_by_content() {
        let module = b"\0asm\x01\0\0\0".to_vec();
        let source = TaskSource::from_bytes(module).unwrap();
        assert_eq!(source.kind(), TaskKind::Wasm);
        assert_eq!(source.byte_len(), 8);
        let js = TaskSource::from_bytes(b"x => x".to_vec()).unwrap();
        assert_eq!(js, TaskSource::JavaScript("x => x".into()));
        assert!(TaskSource::from_bytes(vec![0xff, 0xfe]).is_err());
    }
}
