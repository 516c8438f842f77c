//! Helpers shared by the integration tests: running the binary in a clean environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where `corpus/` and `config/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// `studybot` with the repository as working directory, a private data dir and no inherited
/// studybot or teloxide settings.
pub fn studybot(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_studybot"));
    cmd.current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("STUDYBOT__") || key.starts_with("TELOXIDE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("STUDYBOT__DATA_DIR", data_dir);
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("studybot runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
