//! `studybot --version` (`-V`): the version, and the hash of the corpus it would serve.
//!
//! clap's own version flag prints a fixed string; which text a running bot answers from is as
//! much a part of "what is deployed" as the version, so this one also reads the corpus files
//! and hashes them (no parsing, no index, no model: milliseconds for the shipped text). Broken
//! settings or a missing corpus still print the version, with the reason the hash is missing.

use std::fmt::Write as _;
use std::process::ExitCode;

use studybot::config::{Settings, Sources};

/// The text `--version` prints.
pub fn text(sources: &Sources) -> String {
    let mut out = format!("studybot {}\n", env!("CARGO_PKG_VERSION"));
    let corpus = Settings::load(sources)
        .map_err(|e| e.to_string())
        .and_then(|settings| {
            let dir = settings.corpus.dir;
            studybot::corpus::hash_dir(&dir)
                .map(|(hash, files)| (dir.clone(), hash, files))
                .map_err(|e| e.to_string())
        });
    let _ = match corpus {
        Ok((dir, hash, files)) => writeln!(
            out,
            "corpus {} ({files} file{}): sha256 {hash}",
            dir.display(),
            if files == 1 { "" } else { "s" },
        ),
        Err(why) => writeln!(out, "corpus: no hash ({})", why.replace('\n', " ")),
    };
    out
}

/// Prints the version text; always succeeds.
pub fn run(sources: &Sources) -> anyhow::Result<ExitCode> {
    super::print(&text(sources))?;
    Ok(ExitCode::SUCCESS)
}
