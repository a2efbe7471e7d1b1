//! The workspace binaries under test, built from the current source once per test process
//! before the first use: a plain `cargo test` after an edit never drives stale binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{command_line, within};

/// Bound on building the binaries (a build after a change deep in the workspace on a loaded
/// 2-core machine takes minutes).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The outcome of the one build, shared by every test of the process; a failed build's
/// report is kept so each test fails with it instead of building again.
static BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// The directory of the workspace binaries: the test executable's `target/<profile>/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf()
}

/// Path of a workspace binary, freshly built into the same target directory as this test.
pub fn bin(name: &str) -> PathBuf {
    if let Err(report) = BUILT.get_or_init(build_workspace_binaries) {
        panic!("{report}");
    }
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing after building the workspace binaries",
        path.display()
    );
    path
}

/// `cargo build --workspace --bins --locked` with this test's profile and target directory.
/// (Cargo releases its build lock before it runs the tests, so this does not wait on the
/// `cargo test` that started us.)
fn build_workspace_binaries() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let bins = bin_dir();
    let target_dir = bins.parent().expect("target/<profile> has a parent");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut command = Command::new(&cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(describes_this_package) {
            command.env_remove(name);
        }
    }
    command
        .args([
            "build",
            "--workspace",
            "--bins",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(profile_args(&bins))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = command_line(&command);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {line}: {e}"))?;
    let pid = child.id();
    let output = within(pid, BUILD_TIMEOUT, move || child.wait_with_output())
        .ok_or_else(|| format!("{line} did not finish within {BUILD_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot wait for {line}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "building the workspace binaries failed ({}): {line}\n---- stdout ----\n{}\n---- stderr ----\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Whether `name` is one of the variables cargo sets for this test process to describe the
/// package under test. The build must not inherit them: build scripts that track one (ring's
/// `rerun-if-env-changed=CARGO_MANIFEST_DIR`) would be rerun, and half the dependencies
/// rebuilt, by this build and again by the next `cargo test`.
fn describes_this_package(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
    ];
    name == "OUT_DIR" || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Cargo's flags for the profile whose output directory is `bins` (`debug` is the default).
fn profile_args(bins: &Path) -> Vec<String> {
    match bins.file_name().and_then(|name| name.to_str()) {
        Some("debug") => Vec::new(),
        Some("release") => vec!["--release".into()],
        Some(profile) => vec!["--profile".into(), profile.into()],
        None => panic!("{} names no profile", bins.display()),
    }
}
