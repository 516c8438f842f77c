//! `studybot index`: builds the stored index for the configured corpus, or reopens it when the
//! corpus is unchanged, computes the passages' semantic vectors (resuming an interrupted run)
//! or reads them back, and reports how long each step took.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use studybot::config::Settings;
use studybot::corpus::cache::CacheUse;
use studybot::search::dense::VectorSource;
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
    let files = file_lines(&corpus);
    let stored = bytes >= settings.search.persist_min_bytes;
    let start = Instant::now();
    let engine = super::index_with_bar(corpus, settings, Engine::lexical)?;
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
    out.push_str(&files);
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
    let semantic = semantic_vectors(&engine, settings);
    writeln!(out, "semantic model: {semantic}")?;
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// One line per corpus file: format, pages, sections and passages, or why it was refused,
/// then its warnings.
pub fn file_lines(corpus: &studybot::corpus::Corpus) -> String {
    let mut out = String::new();
    for f in &corpus.files {
        let pages = f.pages.map(|n| format!(", {n} pages")).unwrap_or_default();
        let _ = match &f.refused {
            Some(why) => writeln!(out, "  {} ({}): not served: {why}", f.file, f.format.name()),
            None => writeln!(
                out,
                "  {} ({}{pages}): {} sections, {} passages",
                f.file,
                f.format.name(),
                f.sections,
                f.passages
            ),
        };
        for w in &f.warnings {
            let _ = writeln!(out, "    warning: {w}");
        }
    }
    out
}

/// Computes (or reads back) the passage vectors with a progress bar on a terminal, and says
/// how that went.
fn semantic_vectors(engine: &Engine, settings: &Settings) -> String {
    if !settings.search.semantic {
        return "off (search.semantic = false)".to_string();
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "passage vectors {bar:40} {pos}/{len} ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let start = Instant::now();
    let source = engine.add_semantic(settings, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let secs = start.elapsed().as_secs_f64();
    let dir = settings.data_dir.join("semantic");
    let passages = engine.corpus.passages.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    match source {
        Some(VectorSource::Cached) => format!(
            "passage vectors read from {} in {secs:.3} s ({passages} passages)",
            dir.display()
        ),
        Some(VectorSource::Computed { resumed }) => {
            let computed = passages - resumed;
            let resumed = match resumed {
                0 => String::new(),
                n => format!("; {n} read back from an interrupted run"),
            };
            format!(
                "{computed} passage vectors computed in {secs:.3} s ({:.1} passages/s on {threads} threads{resumed}), stored int8 in {} ({:.1} MB)",
                computed as f64 / secs.max(1e-9),
                dir.display(),
                megabytes(dir_bytes(&dir)),
            )
        }
        None if engine.semantic() => "on".to_string(),
        None => "off: the model could not run (see the warning above)".to_string(),
    }
}
