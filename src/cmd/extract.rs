//! `studybot extract FILE`: reads one document the way the corpus does and shows its title,
//! pages, sections and paragraphs (or why it is refused), to see what a file will give before
//! dropping it into `corpus/`. With `--child` it is the sandboxed reader the corpus itself
//! runs (see `studybot::formats::sandbox`): document on stdin, JSON outcome on stdout.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use studybot::formats::{self, sandbox};

/// Arguments of `extract`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document to read.
    #[arg(value_name = "FILE", required_unless_present = "child")]
    file: Option<PathBuf>,
    /// Print the parsed document as JSON.
    #[arg(long)]
    json: bool,
    /// Be the sandboxed reader: limits itself, reads stdin, prints JSON.
    #[arg(long, hide = true, requires = "name")]
    child: bool,
    /// With --child: the file name, whose extension gives the format.
    #[arg(long, hide = true)]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.child {
        let name = args.name.unwrap_or_default();
        sandbox::child_main(&name).with_context(|| "reading the document")?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(path) = args.file else {
        return Err(super::UsageError("name the file to read".into()).into());
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(format) = formats::Format::from_name(&name) else {
        return Err(
            super::UsageError(format!("{name}: studybot reads {}", formats::EXTENSIONS)).into(),
        );
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if format.is_binary() {
        if let Ok(exe) = std::env::current_exe() {
            sandbox::use_child_process(exe);
        }
    }
    let outcome = if format.is_binary() {
        sandbox::extract(&name, &bytes)
    } else {
        formats::parse(&bytes, &name)
    };
    let doc = match outcome {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("studybot: {name}: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if args.json {
        super::print(&(serde_json::to_string(&doc)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let paragraphs: usize = doc.sections.iter().map(|(_, p)| p.len()).sum();
    write!(out, "{name} ({}): \"{}\"", format.name(), doc.title)?;
    if let Some(sheets) = doc.sheets() {
        write!(out, ", {sheets} pages")?;
    }
    writeln!(
        out,
        ", {} sections, {paragraphs} paragraphs",
        doc.sections.len()
    )?;
    for warning in &doc.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    for (number, (title, paras)) in doc.sections.iter().enumerate() {
        let pages = match (
            paras.first().and_then(|p| p.pages.first()),
            paras.last().and_then(|p| p.pages.last()),
        ) {
            (Some(first), Some(last)) => {
                let label = |s: u32| doc.page_labels.get(s as usize).cloned().unwrap_or_default();
                if first.sheet == last.sheet {
                    format!(", p. {}", label(first.sheet))
                } else {
                    format!(", pp. {}–{}", label(first.sheet), label(last.sheet))
                }
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "§{} {} ({} paragraphs{pages})",
            number + 1,
            title,
            paras.len()
        )?;
    }
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}
