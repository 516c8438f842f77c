//! `studybot bench FILE.jsonl`: times answers the way the bot makes them (search, excerpts,
//! rendering to Telegram HTML) over a question file, and prints latency percentiles and the
//! process's peak memory; with the semantic model on, also the model's share: encoding each
//! question alone on this thread, as the anchor runtimes are measured. Benchmark figures are
//! in BENCHMARKS.md.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use studybot::commands::Handler;
use studybot::config::Settings;
use studybot::eval;
use studybot::search::dense::MiniLm;
use studybot::telegram::render;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL file of questions (the `eval` format; only "question" is used).
    file: std::path::PathBuf,
    /// How many times to ask every question.
    #[arg(long, default_value_t = 20)]
    reps: usize,
}

/// The `pct` percentile (nearest rank) of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], pct: f64) -> f64 {
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// A `/proc/self/status` field such as `VmHWM`, in MB (Linux only).
fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    let questions: Vec<String> = eval::read_cases(&args.file)?
        .into_iter()
        .map(|c| c.question)
        .collect();
    if questions.is_empty() {
        return Err(super::UsageError(format!("no questions in {}", args.file.display())).into());
    }
    let start = Instant::now();
    let handler = Handler::new(Arc::new(super::load_engine(settings)?));
    let load = start.elapsed();
    let mut times = Vec::with_capacity(questions.len() * args.reps.max(1));
    let mut bytes = 0;
    for _ in 0..args.reps.max(1) {
        for q in &questions {
            let t = Instant::now();
            let message = render::reply(&handler.ask(q), handler.tag());
            times.push(t.elapsed());
            bytes += message.html.len();
        }
    }
    times.sort();
    let total: Duration = times.iter().sum();
    writeln!(
        out,
        "load {:.1} ms; {} answers ({} questions x {}), {} bytes of HTML",
        load.as_secs_f64() * 1e3,
        times.len(),
        questions.len(),
        args.reps.max(1),
        bytes
    )?;
    writeln!(
        out,
        "answer latency ms: mean {:.3} p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
        total.as_secs_f64() * 1e3 / times.len() as f64,
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
        percentile(&times, 100.0),
    )?;
    if handler.engine().semantic() {
        let model = MiniLm::shipped()?;
        let mut encode = Vec::with_capacity(times.len());
        for _ in 0..args.reps.max(1) {
            for q in &questions {
                let t = Instant::now();
                std::hint::black_box(model.embed(q));
                encode.push(t.elapsed());
            }
        }
        encode.sort();
        writeln!(
            out,
            "semantic model on; question encoding ms (tokenise, forward pass, pooling; one thread): p50 {:.3} p90 {:.3} p99 {:.3}",
            percentile(&encode, 50.0),
            percentile(&encode, 90.0),
            percentile(&encode, 99.0),
        )?;
    } else {
        writeln!(out, "semantic model off")?;
    }
    if let (Some(rss), Some(peak)) = (proc_status_mb("VmRSS:"), proc_status_mb("VmHWM:")) {
        writeln!(out, "memory MB: rss {rss:.1} peak {peak:.1}")?;
    }
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
