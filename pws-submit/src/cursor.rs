//! The node the previous task went to, so that round-robin goes on from it: kept in the
//! submitter's data directory across separate `pws-submit run` invocations, or in memory
//! for one session (the coordinator page).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libp2p::PeerId;

pub struct Cursor {
    path: Option<PathBuf>,
    last: Mutex<Option<PeerId>>,
}

impl Cursor {
    /// A cursor stored in `dir`; `None` keeps it in memory only.
    pub fn new(dir: Option<&Path>) -> Self {
        Self {
            path: dir.map(|dir| dir.join("last-node")),
            last: Mutex::new(None),
        }
    }

    pub fn previous(&self) -> Option<PeerId> {
        let Some(path) = &self.path else {
            return *self.last.lock().expect("cursor lock");
        };
        let text = std::fs::read_to_string(path).ok()?;
        text.trim().parse().ok()
    }

    /// Remember `node`; a cursor that cannot be saved only costs round-robin its memory.
    pub fn record(&self, node: PeerId) {
        let Some(path) = &self.path else {
            *self.last.lock().expect("cursor lock") = Some(node);
            return;
        };
        let saved = path
            .parent()
            .map_or(Ok(()), create_dir)
            .and_then(|()| Ok(std::fs::write(path, node.to_string())?));
        if let Err(e) = saved {
            tracing::warn!("cannot remember the last node in {}: {e}", path.display());
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
use pws_net::private_files::create_dir;

/// A page has no files: the cursor lives in memory there.
#[cfg(target_arch = "wasm32")]
fn create_dir(_: &Path) -> anyhow::Result<()> {
    anyhow::bail!("no files here")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_node_across_instances() {
        let dir = std::env::temp_dir().join(format!("pws-cursor-{}", std::process::id()));
        let node = PeerId::random();
        Cursor::new(Some(&dir)).record(node);
        assert_eq!(Cursor::new(Some(&dir)).previous(), Some(node));
        std::fs::remove_dir_all(&dir).unwrap();
        let in_memory = Cursor::new(None);
        assert_eq!(in_memory.previous(), None);
        in_memory.record(node);
        assert_eq!(in_memory.previous(), Some(node));
    }
}
