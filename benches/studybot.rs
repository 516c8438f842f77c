//! In-process benchmarks on the shipped document: cold start, answer latency (search, excerpts
//! and Telegram HTML rendering), quiz question generation. Run with `cargo bench --bench
//! studybot`; figures and commands are in BENCHMARKS.md. Means only: `studybot bench` prints
//! percentiles.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use studybot::commands::Handler;
use studybot::corpus::{Corpus, Passage};
use studybot::quiz::generate::{generate, Pools};
use studybot::telegram::render;
use studybot::Engine;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn questions() -> Vec<String> {
    studybot::eval::read_cases(&root().join("eval/dev.jsonl"))
        .expect("eval/dev.jsonl")
        .into_iter()
        .map(|c| c.question)
        .collect()
}

fn cold_start(c: &mut Criterion) {
    let dir = root().join("corpus");
    let first = questions().remove(0);
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(20);
    group.bench_function("parse", |b| {
        b.iter(|| Corpus::load(black_box(&dir)).unwrap())
    });
    group.bench_function("parse_index_first_answer", |b| {
        b.iter(|| {
            let engine = Engine::in_memory(black_box(&dir)).unwrap();
            let handler = Handler::new(Arc::new(engine));
            render::reply(&handler.ask(&first), handler.tag())
        })
    });
    group.finish();
}

fn answers(c: &mut Criterion) {
    let handler = Handler::new(Arc::new(Engine::in_memory(&root().join("corpus")).unwrap()));
    let questions = questions();
    let mut group = c.benchmark_group("answer");
    group.throughput(Throughput::Elements(questions.len() as u64));
    group.bench_function("dev_questions_rendered", |b| {
        b.iter(|| {
            for q in &questions {
                black_box(render::reply(&handler.ask(q), handler.tag()));
            }
        })
    });
    group.bench_function("dev_questions_search_only", |b| {
        b.iter(|| {
            for q in &questions {
                black_box(handler.engine().ask(q, 3).unwrap());
            }
        })
    });
    group.finish();
}

/// The same questions ranked with the semantic model, as the default settings do: passage
/// vectors are computed (or read from the cache under a temporary data dir) before timing,
/// and the cold start is the start with those vectors cached.
fn semantic(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    let mut settings = studybot::config::Settings::default();
    settings.corpus.dir = root().join("corpus");
    settings.data_dir = data.path().to_path_buf();
    let load = || {
        let corpus = Corpus::load(&settings.corpus.dir).unwrap();
        Engine::with_corpus(corpus, &settings, &mut |_, _| {}).unwrap()
    };
    let handler = Handler::new(Arc::new(load()));
    assert!(handler.engine().semantic());
    let questions = questions();
    let mut group = c.benchmark_group("semantic");
    group.sample_size(10);
    group.bench_function("cold_start_cached_vectors_first_answer", |b| {
        b.iter(|| {
            let handler = Handler::new(Arc::new(load()));
            render::reply(&handler.ask(&questions[0]), handler.tag())
        })
    });
    group.throughput(Throughput::Elements(questions.len() as u64));
    group.bench_function("dev_questions_rendered", |b| {
        b.iter(|| {
            for q in &questions {
                black_box(render::reply(&handler.ask(q), handler.tag()));
            }
        })
    });
    // The model alone: tokenising, forward pass and pooling of each question, one thread.
    let model = studybot::search::dense::MiniLm::shipped().unwrap();
    group.bench_function("encode_dev_questions", |b| {
        b.iter(|| {
            for q in &questions {
                black_box(model.embed(q));
            }
        })
    });
    group.finish();
}

fn quiz(c: &mut Criterion) {
    let corpus = Corpus::load(&root().join("corpus")).unwrap();
    let all: Vec<&Passage> = corpus.passages.iter().collect();
    let mut group = c.benchmark_group("quiz");
    group.bench_function("pools", |b| b.iter(|| Pools::new(black_box(&corpus))));
    let pools = Pools::new(&corpus);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    group.bench_function("generate_5_questions", |b| {
        b.iter(|| generate(&corpus, &pools, &all, 5, &mut rng))
    });
    group.finish();
}

criterion_group!(benches, cold_start, answers, semantic, quiz);
criterion_main!(benches);
