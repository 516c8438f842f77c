//! What a self-hoster should look at in a corpus folder before going live: texts that parse
//! into something other than they probably expect, and files that are silently not served.
//!
//! Loading a corpus never fails on these (a text without headings is still searchable), so they
//! are reported as values, for `studybot check` to show.

use std::path::Path;

use super::{corpus_files, file_name, Corpus, INTRODUCTION};
use crate::error::{Error, Result};

/// Something in the corpus folder that works, but probably not as intended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusWarning {
    /// No heading was detected in a document: its whole text is one section, so every
    /// citation names the same section and `/read` shows it as one.
    NoHeadings {
        /// File name of the document.
        file: String,
        /// How many passages that one section holds.
        passages: usize,
    },
    /// A corpus file without text: it is not served.
    NoText {
        /// File name.
        file: String,
    },
    /// A corpus file that could not be read as its format: it is not served.
    Refused {
        /// File name.
        file: String,
        /// Why, as one line.
        reason: String,
    },
    /// Something the reader noticed in a file it did read (pages without text, say).
    Reader {
        /// File name.
        file: String,
        /// What it noticed.
        detail: String,
    },
    /// A file that is not read because of its type (see [`crate::formats::Format`]).
    Unsupported {
        /// File name.
        file: String,
    },
    /// A subfolder holding texts: subfolders are not read.
    Subfolder {
        /// Folder name.
        name: String,
        /// How many `.txt` and `.md` files it holds.
        texts: usize,
    },
}

/// Whether a file name has an extension the corpus reads.
fn is_text_file(path: &Path) -> bool {
    crate::formats::Format::from_name(&file_name(path)).is_some()
}

impl Corpus {
    /// The warnings for this corpus and the folder it was loaded from, documents first (in
    /// file order), then the folder's other files and subfolders (by name). Hidden files
    /// (`.gitkeep`) are not mentioned.
    pub fn warnings(&self) -> Result<Vec<CorpusWarning>> {
        let mut out = Vec::new();
        let served: std::collections::HashSet<&str> =
            self.documents.iter().map(|d| d.file.as_str()).collect();
        let reports: std::collections::HashMap<&str, &super::FileReport> =
            self.files.iter().map(|r| (r.file.as_str(), r)).collect();
        for file in corpus_files(&self.dir)? {
            let name = file_name(&file);
            let report = reports.get(name.as_str());
            if let Some(reason) = report.and_then(|r| r.refused.clone()) {
                out.push(CorpusWarning::Refused { file: name, reason });
                continue;
            }
            for detail in report.map(|r| r.warnings.clone()).unwrap_or_default() {
                out.push(CorpusWarning::Reader {
                    file: name.clone(),
                    detail,
                });
            }
            if !served.contains(name.as_str()) {
                out.push(CorpusWarning::NoText { file: name });
            }
        }
        for doc in &self.documents {
            if let [only] = doc.sections.as_slice() {
                if only.title == INTRODUCTION {
                    out.push(CorpusWarning::NoHeadings {
                        file: doc.file.clone(),
                        passages: only.passages.len(),
                    });
                }
            }
        }
        let read = |path: &Path| {
            std::fs::read_dir(path).map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let mut others: Vec<(String, CorpusWarning)> = Vec::new();
        for entry in read(&self.dir)?.flatten() {
            let path = entry.path();
            let name = file_name(&path);
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                let texts = read(&path)?
                    .flatten()
                    .filter(|e| is_text_file(&e.path()) && e.path().is_file())
                    .count();
                if texts > 0 {
                    others.push((name.clone(), CorpusWarning::Subfolder { name, texts }));
                }
            } else if !is_text_file(&path) {
                others.push((name.clone(), CorpusWarning::Unsupported { file: name }));
            }
        }
        others.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(others.into_iter().map(|(_, w)| w));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_every_kind_of_warning() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "a-sections.txt",
            "Title\n\nFirst part\n\nSome text here.\n\nSecond part\n\nMore text.\n",
        );
        write(
            "b-flat.txt",
            "One long paragraph of prose. It has sentences.\n\nAnother paragraph.\n",
        );
        write("c-empty.md", "\n\n  \n");
        write("notes.odt", "x");
        write("broken.pdf", "%PDF");
        write(".gitkeep", "");
        std::fs::create_dir(dir.path().join("chapters")).unwrap();
        std::fs::write(dir.path().join("chapters/one.md"), "# One\n\nText.\n").unwrap();
        std::fs::create_dir(dir.path().join("quiz")).unwrap();
        std::fs::write(dir.path().join("quiz/bank.toml"), "").unwrap();
        let corpus = Corpus::load(dir.path()).unwrap();
        assert_eq!(
            corpus.warnings().unwrap(),
            vec![
                CorpusWarning::Refused {
                    file: "broken.pdf".into(),
                    reason: "it is damaged or not a real PDF file (couldn't parse input: invalid file header)".into()
                },
                CorpusWarning::NoText {
                    file: "c-empty.md".into()
                },
                CorpusWarning::NoHeadings {
                    file: "b-flat.txt".into(),
                    passages: 2
                },
                CorpusWarning::Subfolder {
                    name: "chapters".into(),
                    texts: 1
                },
                CorpusWarning::Unsupported {
                    file: "notes.odt".into()
                },
            ]
        );
    }

    #[test]
    fn the_shipped_text_has_nothing_to_warn_about() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        assert_eq!(Corpus::load(&dir).unwrap().warnings().unwrap(), vec![]);
    }
}
