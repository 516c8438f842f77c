//! Anchor for BENCHMARKS.md: the same job as `studybot eval` done with tantivy's defaults and
//! nothing else. Reads the corpus (a file, or every .txt/.md file of a folder), splits it into
//! paragraphs on blank lines, indexes them in RAM with the default tokenizer, and answers the
//! questions of a JSONL file (repeated up to COUNT) with the default QueryParser, top 3, no
//! excerpts.
//!
//! cargo build --release --example plain_tantivy
//! target/release/examples/plain_tantivy corpus eval/dev.jsonl 104

use std::path::{Path, PathBuf};
use std::time::Instant;

use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Schema, Value, STORED, TEXT};
use tantivy::{doc, Index, TantivyDocument};

fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .expect("corpus folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "md"))
        .collect();
    files.sort();
    files
}

fn main() -> tantivy::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let corpus = args.get(1).map(String::as_str).unwrap_or("corpus");
    let questions_file = args.get(2).map(String::as_str).unwrap_or("eval/dev.jsonl");
    let count: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(104);

    let start = Instant::now();
    let mut paragraphs = Vec::new();
    let mut bytes = 0;
    for file in files(Path::new(corpus)) {
        let text = std::fs::read_to_string(&file).expect("readable UTF-8 corpus file");
        bytes += text.len();
        paragraphs.extend(
            text.replace("\r\n", "\n")
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        );
    }
    let parsed = start.elapsed();

    let mut builder = Schema::builder();
    let body = builder.add_text_field("body", TEXT | STORED);
    let index = Index::create_in_ram(builder.build());
    let mut writer = index.writer(50_000_000)?;
    for p in &paragraphs {
        writer.add_document(doc!(body => p.as_str()))?;
    }
    writer.commit()?;
    let reader = index.reader()?;
    let indexed = start.elapsed();

    let questions: Vec<String> = std::fs::read_to_string(questions_file)
        .expect("questions file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["question"].as_str().expect("question").to_string()
        })
        .collect();
    let parser = QueryParser::for_index(&index, vec![body]);
    let searcher = reader.searcher();
    let mut answered = 0;
    let mut chars = 0;
    for q in questions.iter().cycle().take(count) {
        let (query, _errors) = parser.parse_query_lenient(q);
        let top = searcher.search(&query, &TopDocs::with_limit(3).order_by_score())?;
        for (_score, address) in &top {
            let doc: TantivyDocument = searcher.doc(*address)?;
            chars += doc
                .get_first(body)
                .and_then(|v| v.as_str())
                .map_or(0, str::len);
        }
        answered += usize::from(!top.is_empty());
    }
    let done = start.elapsed();
    println!(
        "plain tantivy: {} paragraphs, {:.2} MB; parse {:.1} ms, index {:.1} ms, {} questions ({} with hits, {} chars of results) {:.1} ms; total {:.1} ms",
        paragraphs.len(),
        bytes as f64 / 1e6,
        parsed.as_secs_f64() * 1e3,
        (indexed - parsed).as_secs_f64() * 1e3,
        count,
        answered,
        chars,
        (done - indexed).as_secs_f64() * 1e3,
        done.as_secs_f64() * 1e3,
    );
    Ok(())
}
