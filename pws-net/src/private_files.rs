//! Files only their owner may read. A peer's key is its identity and a submitter's journal
//! holds its code and inputs: on a shared machine, other users must not read either.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Create `dir` and any missing parents, each readable by its owner only. Directories that
/// already exist keep their permissions: they may be the user's own (`--data-dir .`).
pub fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Write a new file at `path` (it must not exist) that only its owner can read.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = open_new(path)?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Create `path` empty and owner-only if it does not exist yet, so that a program that
/// opens it afterwards (SQLite, which gives its WAL the database's permissions) inherits
/// those permissions.
pub fn ensure_exists(path: &Path) -> Result<()> {
    match open_new(path) {
        Ok(_) => Ok(()),
        Err(_) if path.exists() => Ok(()),
        Err(e) => Err(e),
    }
}

fn open_new(path: &Path) -> Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Whether users other than the owner may read or write `path` (never on non-Unix systems,
/// whose permissions do not map onto this question).
pub fn is_exposed(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_and_files_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);

        let key = dir.join("key");
        write_new(&key, b"secret").unwrap();
        assert_eq!(mode(&key), 0o600);
        assert!(!is_exposed(&key));
        assert!(
            write_new(&key, b"again").is_err(),
            "an existing file is never replaced"
        );

        let journal = dir.join("journal");
        ensure_exists(&journal).unwrap();
        ensure_exists(&journal).unwrap();
        assert_eq!(mode(&journal), 0o600);
    }

    #[test]
    fn a_file_readable_by_others_is_exposed() {
        let root = tempfile::tempdir().unwrap();
        let key = root.path().join("key");
        fs::write(&key, b"secret").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(is_exposed(&key));
    }
}
