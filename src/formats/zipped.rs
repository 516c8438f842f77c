//! Zip containers (EPUB and DOCX) opened with limits: a zip bomb, an archive of thousands of
//! entries or an entry whose name climbs out of the archive is refused before any content is
//! read, and no entry is ever inflated past a fixed size whatever its header claims.

use std::io::{Cursor, Read};

use super::FormatError;

/// Most entries an EPUB or DOCX may have (a long illustrated book has a few hundred).
pub(crate) const MAX_ENTRIES: usize = 5_000;
/// Most bytes one entry may inflate to.
pub(crate) const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes all entries together may claim to inflate to.
pub(crate) const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

/// An opened archive that passed the checks.
pub(crate) struct Archive {
    zip: zip::ZipArchive<Cursor<Vec<u8>>>,
    format: &'static str,
}

impl Archive {
    /// Opens `bytes` as the zip container of `format`, checking entry count, names and sizes.
    pub(crate) fn open(bytes: &[u8], format: &'static str) -> Result<Archive, FormatError> {
        let corrupt = |detail: String| FormatError::Corrupt {
            format: format.to_string(),
            detail,
        };
        let zip = zip::ZipArchive::new(Cursor::new(bytes.to_vec()))
            .map_err(|e| corrupt(e.to_string()))?;
        if zip.len() > MAX_ENTRIES {
            return Err(FormatError::TooLarge {
                detail: format!("{} entries; the limit is {MAX_ENTRIES}", zip.len()),
            });
        }
        let mut archive = Archive { zip, format };
        let mut total: u64 = 0;
        for i in 0..archive.zip.len() {
            let entry = archive
                .zip
                .by_index_raw(i)
                .map_err(|e| corrupt(e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| corrupt(e.to_string()))?
                .to_string();
            if entry.enclosed_name().is_none() {
                return Err(corrupt(format!(
                    "entry name {name:?} points outside the archive"
                )));
            }
            if entry.size() > MAX_ENTRY_BYTES {
                return Err(FormatError::TooLarge {
                    detail: format!(
                        "{name} inflates to {} MB; the limit is {} MB",
                        entry.size() >> 20,
                        MAX_ENTRY_BYTES >> 20
                    ),
                });
            }
            total = total.saturating_add(entry.size());
        }
        if total > MAX_TOTAL_BYTES {
            return Err(FormatError::TooLarge {
                detail: format!(
                    "it inflates to {} MB; the limit is {} MB",
                    total >> 20,
                    MAX_TOTAL_BYTES >> 20
                ),
            });
        }
        Ok(archive)
    }

    /// The archive's raw bytes, for readers that open it themselves after the checks.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.zip.into_inner().into_inner()
    }

    /// Reads an entry, at most [`MAX_ENTRY_BYTES`] whatever its header says; `None` when the
    /// archive has no such entry.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, FormatError> {
        let format = self.format;
        let mut entry = match self.zip.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => {
                return Err(FormatError::Corrupt {
                    format: format.into(),
                    detail: e.to_string(),
                })
            }
        };
        let mut out = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| FormatError::Corrupt {
                format: format.into(),
                detail: format!("{name}: {e}"),
            })?;
        if out.len() as u64 > MAX_ENTRY_BYTES {
            return Err(FormatError::TooLarge {
                detail: format!("{name} inflates past {} MB", MAX_ENTRY_BYTES >> 20),
            });
        }
        Ok(Some(out))
    }
}
