//! The node the previous task went to, kept in the submitter's data directory so that
//! round-robin continues across separate `pws-submit run` invocations.

use std::path::{Path, PathBuf};

use libp2p::PeerId;

pub struct Cursor {
    path: Option<PathBuf>,
}

impl Cursor {
    /// A cursor stored in `dir`; `None` keeps it in memory only.
    pub fn new(dir: Option<&Path>) -> Self {
        Self {
            path: dir.map(|dir| dir.join("last-node")),
        }
    }

    pub fn previous(&self) -> Option<PeerId> {
        let text = std::fs::read_to_string(self.path.as_ref()?).ok()?;
        text.trim().parse().ok()
    }

    /// Remember `node`; a cursor that cannot be saved only costs round-robin its memory.
    pub fn record(&self, node: PeerId) {
        let Some(path) = &self.path else { return };
        let saved = path
            .parent()
            .map_or(Ok(()), pws_net::private_files::create_dir)
            .and_then(|()| Ok(std::fs::write(path, node.to_string())?));
        if let Err(e) = saved {
            tracing::warn!("cannot remember the last node in {}: {e}", path.display());
        }
    }
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
        assert_eq!(Cursor::new(None).previous(), None);
    }
}
