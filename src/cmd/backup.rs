//! `studybot backup FILE`: a consistent copy of the state database, safe while the bot runs.
//! It only reads the database and takes no lock on the data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use studybot::config::Settings;
use studybot::store::{backup, sqlite::DB_FILE};

/// Arguments of `backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the copy (an existing file is replaced only once the copy is whole).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let db = settings.data_dir.join(DB_FILE);
    let report =
        backup::backup(&db, &args.file).with_context(|| format!("backing up {}", db.display()))?;
    super::print(&format!(
        "backed up {} to {} ({} pages, {:.1} KB)\n",
        db.display(),
        args.file.display(),
        report.pages,
        report.bytes as f64 / 1e3
    ))?;
    Ok(ExitCode::SUCCESS)
}
