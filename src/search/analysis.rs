//! Text analysis shared by indexing, querying and excerpt highlighting, so the three always
//! agree on what a "word" is: lowercase, accents folded, British and American spellings and
//! common transliterations brought to one form, stop words dropped, then stemmed.

use rust_stemmers::{Algorithm, Stemmer};

/// One analysed word with its byte range in the source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Normalised, unstemmed form (spelling variants unified).
    pub exact: String,
    /// Stemmed form.
    pub stem: String,
    /// Byte offset where the word starts.
    pub start: usize,
    /// Byte offset where the word ends.
    pub end: usize,
    /// Word position (counting stop words, so phrases keep their gaps).
    pub position: usize,
}

/// Changes whenever the analyser would index a text differently (stop words, spelling rules,
/// stemming): a stored index records the version it was built with and is rebuilt on a
/// change.
pub const ANALYZER_VERSION: &str = "1";

/// Words too common to say anything about a passage, plus question words.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "actually",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "s",
    "t",
    "d",
    "ll",
    "re",
    "ve",
    "m",
    "don",
    "didn",
    "doesn",
    "isn",
    "wasn",
    "weren",
    "won",
    "get",
    "got",
    "tell",
    "know",
    "say",
    "said",
    "does",
    "let",
    "us",
    "may",
    "might",
    "must",
    "shall",
    "many",
    "much",
    "really",
    "yes",
    "eg",
    "ie",
    "etc",
    "according",
    "text",
    "kind",
    "sort",
    "way",
    "ways",
    "thing",
    "things",
];

/// British ↔ American pairs that suffix rules do not cover; mapped to the first form.
const VARIANTS: &[(&str, &str)] = &[
    ("grey", "gray"),
    ("programme", "program"),
    ("programmes", "programs"),
    ("defence", "defense"),
    ("offence", "offense"),
    ("pretence", "pretense"),
    ("licence", "license"),
    ("practise", "practice"),
    ("plough", "plow"),
    ("mould", "mold"),
    ("gaol", "jail"),
    ("kerb", "curb"),
    ("tyre", "tire"),
    ("cheque", "check"),
    ("aeroplane", "airplane"),
    ("storey", "story"),
    ("whilst", "while"),
    ("amongst", "among"),
    ("towards", "toward"),
    ("travelled", "traveled"),
    ("travelling", "traveling"),
    ("cancelled", "canceled"),
    ("labelled", "labeled"),
    ("modelling", "modeling"),
    ("levelled", "leveled"),
    ("signalled", "signaled"),
    ("fuelled", "fueled"),
    ("counselling", "counseling"),
    ("jewellery", "jewelry"),
    ("manoeuvre", "maneuver"),
    ("manoeuvres", "maneuvers"),
    ("encyclopaedia", "encyclopedia"),
    ("paediatric", "pediatric"),
    ("anaemia", "anemia"),
    ("oestrogen", "estrogen"),
    ("catalogue", "catalog"),
    ("dialogue", "dialog"),
    ("analogue", "analog"),
];

/// Words ending in "our" that are not British spellings of "-or" words.
const OUR_KEEP: &[&str] = &[
    "devour",
    "contour",
    "detour",
    "troubadour",
    "paramour",
    "velour",
    "amour",
    "flour",
];

/// Brings British and American spellings, and common transliterations, to one form.
pub fn normalise_spelling(word: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    for (a, b) in VARIANTS {
        if word == *b {
            return Cow::Borrowed(a);
        }
    }
    // czar / tzar → tsar (and czarist, czarism, czarina ...).
    for prefix in ["czar", "tzar"] {
        if let Some(rest) = word.strip_prefix(prefix) {
            return Cow::Owned(format!("tsar{rest}"));
        }
    }
    let len = word.len();
    // -our → -or (labour, colour, behaviour, neighbourhood's stem handled by the -our- infix).
    for suffix in [
        "ours", "oured", "ouring", "ourable", "ourite", "ourites", "our",
    ] {
        if let Some(stem) = word.strip_suffix(suffix) {
            if stem.len() >= 3 && !OUR_KEEP.iter().any(|k| word.starts_with(k)) {
                let stem_ends_ok = stem
                    .chars()
                    .last()
                    .is_some_and(|c| !matches!(c, 'o' | 'y' | 'h' | 'a' | 'e'));
                if stem_ends_ok {
                    return Cow::Owned(format!("{stem}or{}", &suffix[3..]));
                }
            }
        }
    }
    if let Some(pos) = word.find("ourhood") {
        return Cow::Owned(format!("{}orhood{}", &word[..pos], &word[pos + 7..]));
    }
    // -ize / -yze family → -ise / -yse.
    if len >= 6 {
        for (from, to) in [
            ("ization", "isation"),
            ("izations", "isations"),
            ("izing", "ising"),
            ("ized", "ised"),
            ("izes", "ises"),
            ("izer", "iser"),
            ("izers", "isers"),
            ("ize", "ise"),
            ("yzing", "ysing"),
            ("yzed", "ysed"),
            ("yzes", "yses"),
            ("yze", "yse"),
        ] {
            if let Some(stem) = word.strip_suffix(from) {
                if stem.len() >= 3 && !matches!(word, "seize" | "seized" | "seizes" | "seizing") {
                    return Cow::Owned(format!("{stem}{to}"));
                }
            }
        }
    }
    // centre/center, theatre/theater, fibre/fiber: -er → -re.
    if len >= 5 {
        for (from, to) in [
            ("ter", "tre"),
            ("ters", "tres"),
            ("ber", "bre"),
            ("bers", "bres"),
        ] {
            if let Some(stem) = word.strip_suffix(from) {
                if matches!(
                    stem,
                    "cen" | "thea" | "me" | "li" | "fi" | "som" | "spec" | "calib"
                ) {
                    return Cow::Owned(format!("{stem}{to}"));
                }
            }
        }
    }
    Cow::Borrowed(word)
}

/// Folds accents and typographic apostrophes to plain ASCII where there is an obvious match.
fn fold_char(c: char) -> Option<char> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'č' | 'ć' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
        'ý' | 'ÿ' => 'y',
        'š' | 'ś' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ł' => 'l',
        'ß' => 's',
        _ => return None,
    })
}

/// Most words [`Analyzer::stem`] remembers; the memo is cleared when it grows past this.
const STEM_MEMO_MAX: usize = 200_000;

/// The analyser: a stemmer plus the shared rules.
pub struct Analyzer {
    stemmer: Stemmer,
    /// Word → stem, remembered: Snowball stemming was most of the time spent tokenising the
    /// candidate passages of every question (see BENCHMARKS.md). Results are unchanged.
    stems: std::sync::RwLock<rustc_hash::FxHashMap<String, String>>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
            stems: Default::default(),
        }
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer")
    }
}

/// Whether a (lowercased) word is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    static SET: std::sync::OnceLock<rustc_hash::FxHashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
        .contains(word)
}

impl Analyzer {
    /// Splits `text` into words (letters and digits; inner apostrophes and hyphens split words),
    /// lowercased and folded, with positions. Stop words are dropped but keep their position.
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        let mut position = 0;
        for (start, end) in word_spans(text) {
            let raw = &text[start..end];
            let mut word = String::with_capacity(raw.len());
            for c in raw.chars() {
                if is_ignorable_in_word(c) || is_combining_accent(c) {
                    continue;
                }
                if let Some(f) = fold_char(c) {
                    word.push(f);
                } else {
                    word.extend(c.to_lowercase());
                }
            }
            position += 1;
            // Single letters (stray "b" of "<b>", list markers) carry no meaning; digits do.
            let single_letter =
                word.chars().count() == 1 && !word.chars().all(|c| c.is_ascii_digit());
            if single_letter || is_stop_word(&word) {
                continue;
            }
            let exact = normalise_spelling(&word).into_owned();
            let stem = self.stem(&exact);
            out.push(Token {
                exact,
                stem,
                start,
                end,
                position: position - 1,
            });
        }
        out
    }

    /// Stems one normalised word. Numbers are kept whole.
    pub fn stem(&self, word: &str) -> String {
        if word.chars().any(|c| c.is_ascii_digit()) {
            return word.to_string();
        }
        let read = self.stems.read().unwrap_or_else(|e| e.into_inner());
        if let Some(stem) = read.get(word) {
            return stem.clone();
        }
        drop(read);
        let stem = self.stemmer.stem(word).into_owned();
        let mut memo = self.stems.write().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= STEM_MEMO_MAX {
            memo.clear();
        }
        memo.insert(word.to_string(), stem.clone());
        stem
    }
}

/// Invisible characters that text from web pages and PDFs leaves inside words (soft hyphens,
/// zero-width characters, direction marks): inside a word they neither split it nor count as
/// part of it, so "revo\u{AD}lution" is the word "revolution", in a question too.
fn is_ignorable_in_word(c: char) -> bool {
    crate::corpus::text::is_zero_width(c)
}

/// Combining accents (U+0300–U+036F), as text in decomposed form ("e" + U+0301 for "é")
/// has them: part of the word, and folded away like the accents of [`fold_char`].
fn is_combining_accent(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}')
}

/// Byte spans of the words of `text`: runs of alphanumeric characters (with their combining
/// marks, and any [`is_ignorable_in_word`] characters between their letters). A possessive
/// "'s" is dropped; other apostrophes and hyphens split words ("workers'" → "workers").
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    // The open word: where it starts, and where its last letter (or mark) ends.
    let mut open: Option<(usize, usize)> = None;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if c.is_alphanumeric() {
            match &mut open {
                Some((_, last)) => *last = end,
                None => open = Some((i, end)),
            }
        } else if let Some((_, last)) = open
            .as_mut()
            .filter(|_| unicode_normalization::char::is_combining_mark(c))
        {
            *last = end;
        } else if !(is_ignorable_in_word(c) && open.is_some()) {
            spans.extend(open.take());
        }
    }
    spans.extend(open);
    // Drop the "s" of possessives ("Kornilov's" → "Kornilov").
    let bytes = text.as_bytes();
    spans.retain(|&(s, e)| {
        !(e - s == 1
            && (bytes[s] == b's' || bytes[s] == b'S')
            && s >= 1
            && (bytes[s - 1] == b'\'' || text[..s].ends_with('’')))
    });
    // Numbers written with thousands separators ("25,000") stay one word.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        if let Some(last) = merged.last_mut() {
            let gap = &text[last.1..s];
            let both_digits = text[last.0..last.1].chars().all(|c| c.is_ascii_digit())
                && text[s..e].chars().all(|c| c.is_ascii_digit());
            if gap == "," && both_digits && e - s == 3 {
                last.1 = e;
                continue;
            }
        }
        merged.push((s, e));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str) -> Vec<String> {
        Analyzer::default()
            .tokens(text)
            .into_iter()
            .map(|t| t.exact)
            .collect()
    }

    #[test]
    fn american_and_british_spellings_meet() {
        assert_eq!(exact("organize labor"), exact("organise labour"));
        assert_eq!(exact("organization colors"), exact("organisation colours"));
        assert_eq!(exact("center"), exact("centre"));
        assert_eq!(exact("tsar czarist"), vec!["tsar", "tsarist"]);
        assert_eq!(exact("four hours tour"), vec!["four", "hours", "tour"]);
        assert_eq!(exact("size seize"), vec!["size", "seize"]);
    }

    #[test]
    fn stop_words_and_question_words_are_dropped_but_keep_positions() {
        let t = Analyzer::default().tokens("What were the Factory Shop Committees?");
        let words: Vec<_> = t.iter().map(|t| (t.exact.as_str(), t.position)).collect();
        assert_eq!(words, vec![("factory", 3), ("shop", 4), ("committees", 5)]);
    }

    #[test]
    fn possessives_numbers_and_accents() {
        assert_eq!(
            exact("Kornilov's 25,000 Pétrograd"),
            vec!["kornilov", "25,000", "petrograd"]
        );
        assert_eq!(exact("workers' state"), vec!["workers", "state"]);
    }

    #[test]
    fn words_from_web_pages_and_pdfs_are_whole() {
        // Soft hyphens, zero-width characters and direction marks inside a word.
        assert_eq!(
            exact("revo\u{ad}lution work\u{200b}ers\u{200d} so\u{200f}viet"),
            vec!["revolution", "workers", "soviet"]
        );
        // Unicode spaces split words; emoji are not words.
        assert_eq!(
            exact("factory\u{a0}committees\u{202f}🎉👩\u{200d}🔬strike"),
            vec!["factory", "committees", "strike"]
        );
        // Decomposed accents fold like precomposed ones.
        assert_eq!(exact("Pe\u{301}trograd"), exact("Pétrograd"));
        let text = "a\u{ad}b\u{200b} \u{200b}cafe\u{301} x\u{200b}";
        let spans: Vec<&str> = word_spans(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(spans, vec!["a\u{ad}b", "cafe\u{301}", "x"]);
    }

    #[test]
    fn offsets_point_into_the_source() {
        let text = "The Soviets’ role — «Factory» committees";
        for t in Analyzer::default().tokens(text) {
            assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
        }
    }
}
