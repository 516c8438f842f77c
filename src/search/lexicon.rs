//! The word tables retrieval consults about English itself, rather than about a text: which
//! words are ordinary English (so not names, and never typos), which are nouns, what WordNet
//! relates them to, which compound nouns exist, and which words the semantic model places
//! near a noun. Every table ships in the binary, sorted, and is read by binary search over its
//! text: nothing is built at start-up (loading two of them into hash maps once took about a
//! seventh of a whole `studybot eval` run).

use std::sync::OnceLock;

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA};

/// The SCOWL English word list, one word a line, sorted (byte order).
const ENGLISH_WORDS: &str = include_str!("../../assets/words/english-words.txt");

/// Related words (synonyms, derivations, pertainyms) for common English words, from WordNet
/// 3.0 (see assets/wordnet/related-words.COPYRIGHT): one line per word, `word related ...`,
/// sorted by the first word (byte order).
const RELATED_WORDS: &str = include_str!("../../assets/wordnet/related-words.txt");

/// Two- and three-word nouns from WordNet 3.0 (see assets/wordnet/compounds.COPYRIGHT), one a
/// line with `_` between the words (`civil_war`), then the other compounds of its senses.
const COMPOUNDS: &str = include_str!("../../assets/wordnet/compounds.txt");

/// English words WordNet 3.0 knows as nouns (see assets/wordnet/nouns.COPYRIGHT and
/// `scripts/wordnet_nouns.py`): `word TAGS|synonym ... ^hypernym ...|...`, the parts of
/// speech and then one `|`-separated part per noun sense, the most frequent first.
const NOUNS: &str = include_str!("../../assets/wordnet/nouns.txt");

/// For nouns, the English words the shipped sentence model places nearest (see
/// assets/model/README.md and `scripts/model_neighbours.py`): `word other:74 other:69 ...`,
/// cosines in hundredths, best first.
const NEIGHBOURS: &str = include_str!("../../assets/model/neighbours.txt");

/// The line of `table` whose first space-separated word is `key`, by binary search over the
/// text itself: `table` must be sorted by first word in byte order with no word repeated (a
/// test checks every table).
fn sorted_line(table: &'static str, key: &str) -> Option<&'static str> {
    let bytes = table.as_bytes();
    // `lo` and `hi` are always line starts (or the end of the table).
    let (mut lo, mut hi) = (0, table.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(table.len(), |i| start + i);
        let line = &table[start..end];
        let head = line.split(' ').next().unwrap_or(line);
        match head.cmp(key) {
            std::cmp::Ordering::Equal => return Some(line),
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    None
}

/// Words related to `word`, if the WordNet table lists it.
pub fn related_words(word: &str) -> Option<impl Iterator<Item = &'static str>> {
    sorted_line(RELATED_WORDS, word).map(|line| line.split(' ').skip(1))
}

/// The WordNet compound noun the lowercase `words` make, the last one perhaps plural ("stock
/// options"), with the other compounds of the same sense: `labor_union trade_union`.
pub fn compound(words: &[String]) -> Option<&'static str> {
    if words.len() < 2 {
        return None;
    }
    let (last, init) = words.split_last()?;
    singulars(last).into_iter().find_map(|last| {
        let mut key = init.join("_");
        key.push('_');
        key.push_str(&last);
        sorted_line(COMPOUNDS, &key)
    })
}

/// `word` and the singulars it may be the plural of ("stories" → "story").
fn singulars(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    if let Some(w) = word.strip_suffix("ies") {
        out.push(format!("{w}y"));
    }
    if let Some(w) = word.strip_suffix("es") {
        out.push(w.to_string());
    }
    if let Some(w) = word.strip_suffix('s') {
        if !w.ends_with('s') {
            out.push(w.to_string());
        }
    }
    out
}

/// Whether `word` is an ordinary English word (from the SCOWL word list, with common endings).
pub fn is_english_word(word: &str) -> bool {
    let known = |w: &str| sorted_line(ENGLISH_WORDS, w).is_some();
    if known(word) {
        return true;
    }
    // The list has every letter as a word: "wer" is not "w" + "er".
    ["s", "es", "ed", "ing", "ly", "er", "ers"]
        .iter()
        .any(|suffix| {
            word.strip_suffix(suffix)
                .is_some_and(|stem| stem.len() > 1 && known(stem))
        })
}

/// A Levenshtein automaton accepting the words one edit from `word` (a transposition is one
/// edit).
pub fn one_edit(word: &str) -> DFA {
    static BUILDER: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    BUILDER
        .get_or_init(|| LevenshteinAutomatonBuilder::new(1, true))
        .build_dfa(word)
}

/// Whether `dfa` (from [`one_edit`]) accepts `word`.
pub fn accepts(dfa: &DFA, word: &str) -> bool {
    matches!(dfa.eval(word), Distance::Exact(d) if d <= 1)
}

/// Shortest word read as a misspelt English word: shorter ones are too often a name one edit
/// from some word ("cheka", "putin").
const MIN_MISSPELT_LETTERS: usize = 6;

/// The English word `word` (not itself one) is one edit from, if it has 6 letters or more:
/// "anounce" → "announce". Of several, one WordNet knows and with the same first letter.
pub fn misspelt_english_word(word: &str) -> Option<&'static str> {
    let letters = word.len();
    // A word WordNet knows ("chinese") is spelt right, even where the lowercase list lacks it.
    if letters < MIN_MISSPELT_LETTERS || !word.is_ascii() || noun(word).is_some() {
        return None;
    }
    let dfa = one_edit(word);
    let same_start = |w: &str| w.as_bytes().first() == word.as_bytes().first();
    ENGLISH_WORDS
        .lines()
        .filter(|w| w.len() + 1 >= letters && w.len() <= letters + 1 && accepts(&dfa, w))
        .max_by_key(|w| {
            (
                related_words(w).is_some(),
                same_start(w),
                std::cmp::Reverse(*w),
            )
        })
}

/// What WordNet says about a word used as a noun.
#[derive(Debug, Clone, Copy)]
pub struct Noun {
    /// The word's line: `word TAGS ...`.
    line: &'static str,
}

impl Noun {
    /// The parts of speech the word has, most used first: `n`, `v`, `a`, `r`.
    pub fn tags(&self) -> &'static str {
        let head = self.parts().next().unwrap_or("");
        head.split(' ').next().unwrap_or(head)
    }

    /// Whether the word's most frequent noun sense is a kind of person ("reader", "son").
    pub fn person(&self) -> bool {
        self.parts()
            .next()
            .is_some_and(|head| head.split(' ').nth(1) == Some("person"))
    }

    /// Whether the word is used as a noun more than as anything else.
    pub fn mostly_noun(&self) -> bool {
        self.tags().starts_with('n')
    }

    /// Synonyms and derived words of the word's first `senses` noun senses.
    pub fn synonyms(&self, senses: usize) -> impl Iterator<Item = &'static str> {
        self.related(senses).filter(|w| !w.starts_with('^'))
    }

    /// The words of the direct hypernyms (broader terms) of its first `senses` noun senses;
    /// compounds keep their underscores.
    pub fn hypernyms(&self, senses: usize) -> impl Iterator<Item = &'static str> {
        self.related(senses).filter_map(|w| w.strip_prefix('^'))
    }

    /// The tags, then one part per sense.
    fn parts(&self) -> std::str::Split<'static, char> {
        self.line
            .split_once(' ')
            .map_or("", |(_, rest)| rest)
            .split('|')
    }

    fn related(&self, senses: usize) -> impl Iterator<Item = &'static str> {
        self.parts()
            .skip(1)
            .take(senses)
            .flat_map(|sense| sense.split(' '))
            .filter(|w| !w.is_empty())
    }
}

/// WordNet's entry for `word` as a noun, under the word itself or, for a plural, its singular.
pub fn noun(word: &str) -> Option<Noun> {
    singulars(word)
        .iter()
        .find_map(|w| sorted_line(NOUNS, w))
        .map(|line| Noun { line })
}

/// The words the sentence model places nearest the noun `word` (or its singular), with their
/// cosine, best first.
pub fn neighbours(word: &str) -> impl Iterator<Item = (&'static str, f32)> {
    singulars(word)
        .iter()
        .find_map(|w| sorted_line(NEIGHBOURS, w))
        .into_iter()
        .flat_map(|line| line.split(' ').skip(1))
        .filter_map(|pair| {
            let (w, cos) = pair.split_once(':')?;
            Some((w, cos.parse::<f32>().ok()? / 100.0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_words_link_forms_and_synonyms() {
        let related = |w| related_words(w).map(|r| r.collect::<Vec<_>>());
        assert!(related("arrival").is_some_and(|r| r.contains(&"arrive")));
        assert!(related("danger").is_some_and(|r| r.contains(&"peril")));
        assert!(related("zasulich").is_none());
        assert!(related("aardvark").is_some_and(|r| r == ["anteater"]));
    }

    #[test]
    fn word_tables_are_sorted_for_binary_search() {
        for table in [ENGLISH_WORDS, RELATED_WORDS, COMPOUNDS, NOUNS, NEIGHBOURS] {
            let heads: Vec<&str> = table
                .lines()
                .map(|l| l.split(' ').next().unwrap_or(l))
                .collect();
            assert!(heads.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            // Every word is found, first and last included.
            for head in &heads {
                assert!(sorted_line(table, head).is_some(), "{head}");
            }
        }
        assert!(sorted_line(ENGLISH_WORDS, "").is_none());
        assert!(sorted_line(ENGLISH_WORDS, "zzzzzzzz").is_none());
    }

    #[test]
    fn compounds_are_found_with_plural_heads_and_other_names() {
        let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(compound(&words("stock options")).is_some());
        assert!(compound(&words("new economic policy")).is_none());
        assert!(compound(&words("economic policy")).is_some());
        assert!(compound(&words("labor unions")).is_some_and(|l| l.contains(" trade_union")));
        assert!(compound(&words("russian workers")).is_none());
        assert!(compound(&words("war")).is_none());
        assert!(compound(&[]).is_none());
    }

    #[test]
    fn english_word_list_knows_common_words_not_names() {
        assert!(is_english_word("boiling"));
        assert!(is_english_word("toppled"));
        // Words of everyday English that a smaller list lacks are not read as names.
        assert!(is_english_word("payout"));
        assert!(!is_english_word("zasulich"));
        assert!(!is_english_word("holodomor"));
        assert!(!is_english_word("wer"), "not w + er");
    }

    #[test]
    fn misspelt_english_words_are_found_one_edit_away() {
        assert_eq!(misspelt_english_word("anounce"), Some("announce"));
        assert_eq!(misspelt_english_word("produse"), Some("produce"));
        // Short words and names are left alone.
        assert_eq!(misspelt_english_word("cheka"), None);
        assert_eq!(misspelt_english_word("zasulich"), None);
        assert_eq!(misspelt_english_word("chinese"), None);
        // Accented words are listed as the analyser folds them.
        assert!(is_english_word("cafe") && is_english_word("cliche"));
    }

    #[test]
    fn nouns_know_their_part_of_speech_synonyms_and_broader_terms() {
        let fine = noun("fine").expect("fine");
        assert!(!fine.mostly_noun(), "mostly an adjective: {}", fine.tags());
        assert!(fine.hypernyms(1).any(|h| h == "penalty"));
        let otters = noun("otters").expect("plural");
        assert!(otters.mostly_noun());
        let wage = noun("wage").expect("wage");
        assert!(wage.synonyms(1).any(|s| s == "salary"));
        assert!(wage.synonyms(1).all(|s| !s.starts_with('^')));
        // Irregular plurals have their singular's line.
        assert!(noun("children").is_some_and(|c| c.synonyms(1).any(|s| s == "kid")));
        // The second sense is only read when asked for.
        let son = noun("son").expect("son");
        assert!(!son.synonyms(1).any(|s| s == "word"));
        assert!(son.synonyms(2).any(|s| s == "word"));
        assert!(noun("quickly").is_none());
        assert!(noun("pensioners").is_some_and(|p| p.person() && p.tags() == "n"));
        assert!(!otters.person());
        // A people is no kind of person: its name is capitalised in WordNet.
        assert!(noun("vikings").is_some_and(|v| !v.person()));
        // Nationalities are listed for their adjective sense.
        assert!(noun("chinese").is_some_and(|c| c.tags().contains('a')));
    }
}
