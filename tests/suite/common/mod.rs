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
    share_passage_vectors(data_dir);
    cmd
}

/// Points `data_dir/semantic` at one cache of passage vectors shared by every test, filled
/// once per test run: computing them for the shipped text takes seconds in a debug build,
/// which each of dozens of tests would otherwise pay. Corpora other than the shipped one
/// add their own files to the shared cache (names are content hashes).
fn share_passage_vectors(data_dir: &Path) {
    static SHARED: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_studybot"));
        cmd.current_dir(root())
            .args(["index"])
            .env("STUDYBOT__DATA_DIR", dir.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("STUDYBOT__") {
                cmd.env_remove(key);
            }
        }
        cmd.env("STUDYBOT__DATA_DIR", dir.path());
        cmd.output().ok()?;
        Some(dir)
    });
    let link = data_dir.join("semantic");
    if let (Some(shared), false) = (shared, link.exists()) {
        let _ = std::fs::create_dir_all(data_dir);
        let _ = std::os::unix::fs::symlink(shared.path().join("semantic"), link);
    }
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

/// A question the fixture `formats/latex.pdf` answers on one page, and that page's label
/// (pages from pdftotext, in `formats/expected.json`).
pub fn latex_pdf_probe() -> (String, String) {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("formats/expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let fixtures = expected
        .as_array()
        .or_else(|| expected["fixtures"].as_array())
        .cloned()
        .unwrap_or_default();
    let latex = fixtures
        .iter()
        .find(|e| e["file"] == "latex.pdf")
        .expect("latex.pdf in expected.json");
    let probe = latex["probes"]
        .as_array()
        .and_then(|probes| {
            probes
                .iter()
                .find(|p| p["why"].is_null() && p["pages"].as_array().is_some_and(|p| p.len() == 1))
        })
        .expect("a one-page probe");
    (
        probe["text"].as_str().unwrap_or_default().to_string(),
        probe["pages"][0].as_str().unwrap_or_default().to_string(),
    )
}
