//! `studybot index`: builds the stored index for the configured corpus, or reopens it when the
//! corpus is unchanged, and reports how long that took.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use studybot::config::Settings;
use studybot::corpus::cache::CacheUse;
use studybot::Engine;

/// Arguments of `index`.
#[derive(Debug, clap::Args)]
pub struct Args {}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

pub fn run(settings: &Settings, _args: Args) -> anyhow::Result<ExitCode> {
    // Never rebuild the index a running bot reads: it holds this lock.
    let _lock = studybot::datadir::DataDirLock::acquire(&settings.data_dir)?;
    let mut out = String::new();
    let start = Instant::now();
    let (corpus, cache) = Engine::load_corpus(settings).with_context(|| "loading the corpus")?;
    let parsed = start.elapsed().as_secs_f64();
    let (passages, bytes) = (corpus.passages.len(), corpus.bytes);
    let stored = bytes >= settings.search.persist_min_bytes;
    let start = Instant::now();
    let engine = super::index_corpus(corpus, settings)?;
    let indexed = start.elapsed().as_secs_f64();
    let mb = megabytes(bytes);
    let how = match cache {
        CacheUse::NotCached | CacheUse::Rebuilt => "parsed",
        CacheUse::Reused => "loaded from the parsed-corpus cache",
        CacheUse::Revalidated => "loaded from the parsed-corpus cache (contents checked)",
    };
    writeln!(
        out,
        "corpus: {} documents, {passages} passages, {mb:.1} MB; {how} in {parsed:.3} s ({:.1} MB/s)",
        engine.corpus.documents.len(),
        mb / parsed.max(1e-9),
    )?;
    if !stored {
        writeln!(
        out,
            "index: built in memory in {indexed:.3} s ({:.1} MB/s); the corpus is under search.persist_min_bytes, so nothing is stored",
            mb / indexed.max(1e-9)
        )?;
    } else {
        let dir = settings.data_dir.join("index");
        let what = if engine.index_reopened() {
            "reopened (corpus unchanged)"
        } else {
            "built"
        };
        writeln!(
            out,
            "index: {what} in {indexed:.3} s ({:.1} MB/s) at {} ({:.1} MB on disk)",
            mb / indexed.max(1e-9),
            dir.display(),
            megabytes(dir_bytes(&dir)),
        )?;
    }
    let semantic = if engine.semantic() {
        format!(
            "passage vectors in {} (computed once per corpus, included above)",
            settings.data_dir.join("semantic").display()
        )
    } else if !settings.search.semantic {
        "off (search.semantic = false)".to_string()
    } else {
        format!(
            "off: {passages} passages is over search.semantic_max_passages ({})",
            settings.search.semantic_max_passages
        )
    };
    writeln!(out, "semantic model: {semantic}")?;
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
