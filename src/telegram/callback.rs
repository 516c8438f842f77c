//! The callback codec: how a button's [`Action`] travels in Telegram's callback data, at most
//! 64 bytes, tagged with the corpus version so that a button made for an older text is refused
//! instead of pointing at the wrong passage.
//!
//! The encoder keeps within the limit by construction (a "More" button carries as many
//! passage ids as fit; any other action that does not fit gets no button). The decoder takes
//! whatever bytes a client sends and never panics: numbers are bounded, so nothing computed
//! from them can overflow.

use crate::commands::Action;

use super::limits::MAX_CALLBACK_BYTES;

/// Largest rank, passage id, document, section or page a button may carry; far beyond any
/// real corpus, far below overflow.
const MAX_NUMBER: usize = 1_000_000_000;
/// Largest first rank of a "More" button.
const MAX_RANK: usize = 10_000;
/// Most passage ids one "More" button carries.
const MAX_IDS: usize = 20;

/// Why callback data could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The data is not a button of ours.
    Malformed,
    /// The button was made for another version of the corpus.
    Stale,
}

impl DecodeError {
    /// The short message shown for the button press.
    pub fn message(&self) -> &'static str {
        match self {
            DecodeError::Malformed => "This button is not one of mine.",
            DecodeError::Stale => "This button is from an older version of the text. Ask again.",
        }
    }
}

fn body(action: &Action, ids: usize) -> String {
    match action {
        Action::More { rank, ids: all } => {
            let ids: Vec<String> = all.iter().take(ids).map(usize::to_string).collect();
            format!("m:{rank}:{}", ids.join("."))
        }
        Action::Full(id) => format!("f:{id}"),
        Action::Context(id) => format!("c:{id}"),
        Action::Read { doc, section, page } => format!("r:{doc}:{section}:{page}"),
        Action::Open { doc, section } => format!("o:{doc}:{section}"),
        Action::Toc { page } => format!("t:{page}"),
        Action::Reset(confirmed) => format!("x:{}", u8::from(*confirmed)),
        Action::Remove { text, confirmed } => format!("d:{text}:{}", u8::from(*confirmed)),
        // A link button carries no callback data.
        Action::Link(_) => String::new(),
    }
}

/// Encodes `action` with the corpus `tag` in at most 64 bytes. A "More" button keeps as many
/// of its passage ids as fit (and the decoder's bounds); `None` when nothing usable fits.
pub fn encode(action: &Action, tag: &str) -> Option<String> {
    let fits = |data: &String| data.len() <= MAX_CALLBACK_BYTES;
    let numbers_ok = match action {
        Action::More { rank, ids } => {
            *rank <= MAX_RANK && !ids.is_empty() && ids.iter().all(|&i| i <= MAX_NUMBER)
        }
        Action::Full(n) | Action::Context(n) | Action::Toc { page: n } => *n <= MAX_NUMBER,
        Action::Read { doc, section, page } => {
            [doc, section, page].iter().all(|&&n| n <= MAX_NUMBER)
        }
        Action::Open { doc, section } => *doc <= MAX_NUMBER && *section <= MAX_NUMBER,
        Action::Reset(_) => true,
        Action::Remove { text, .. } => *text <= MAX_NUMBER,
        Action::Link(_) => false,
    };
    if !numbers_ok {
        return None;
    }
    match action {
        Action::More { ids, .. } => (1..=ids.len().min(MAX_IDS))
            .rev()
            .map(|n| format!("{}:{tag}", body(action, n)))
            .find(fits),
        _ => Some(format!("{}:{tag}", body(action, 0))).filter(fits),
    }
}

fn number(s: &str, max: usize) -> Result<usize, DecodeError> {
    // Digits only: `parse` would also take a leading '+'.
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::Malformed);
    }
    s.parse::<usize>()
        .ok()
        .filter(|&n| n <= max)
        .ok_or(DecodeError::Malformed)
}

/// The action in callback data and the tag it carries, whatever its corpus version: the
/// library finds the text a tag names.
pub fn decode_any(data: &str) -> Result<(Action, &str), DecodeError> {
    if data.len() > MAX_CALLBACK_BYTES {
        return Err(DecodeError::Malformed);
    }
    let (body, tag) = data.rsplit_once(':').ok_or(DecodeError::Malformed)?;
    let mut parts = body.split(':');
    let kind = parts.next().ok_or(DecodeError::Malformed)?;
    let fields: Vec<&str> = parts.collect();
    let n = |s: &str| number(s, MAX_NUMBER);
    let action = match (kind, fields.as_slice()) {
        ("m", [rank, ids]) => {
            let ids: Vec<usize> = ids.split('.').map(n).collect::<Result<_, _>>()?;
            if ids.len() > MAX_IDS {
                return Err(DecodeError::Malformed);
            }
            Action::More {
                rank: number(rank, MAX_RANK)?,
                ids,
            }
        }
        ("f", [id]) => Action::Full(n(id)?),
        ("c", [id]) => Action::Context(n(id)?),
        ("r", [doc, section, page]) => Action::Read {
            doc: n(doc)?,
            section: n(section)?,
            page: n(page)?,
        },
        ("o", [doc, section]) => Action::Open {
            doc: n(doc)?,
            section: n(section)?,
        },
        ("t", [page]) => Action::Toc { page: n(page)? },
        ("x", ["1"]) => Action::Reset(true),
        ("x", ["0"]) => Action::Reset(false),
        ("d", [text, confirmed]) => Action::Remove {
            text: n(text)?,
            confirmed: match *confirmed {
                "1" => true,
                "0" => false,
                _ => return Err(DecodeError::Malformed),
            },
        },
        _ => return Err(DecodeError::Malformed),
    };
    Ok((action, tag))
}

/// Decodes callback data made by [`encode`] for the corpus `tag`.
pub fn decode(data: &str, tag: &str) -> Result<Action, DecodeError> {
    let (action, data_tag) = decode_any(data)?;
    if data_tag != tag {
        return Err(DecodeError::Stale);
    }
    Ok(action)
}

/// Whether callback data belongs to an answer's buttons (of any corpus version), which is how
/// the adapter recognises its answers among its messages.
pub fn is_answer_button(data: &str) -> bool {
    decode_any(data).is_ok_and(|(action, _)| action.is_answer())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn actions_round_trip_within_64_bytes_and_refuse_stale_or_junk() {
        let actions = [
            Action::More {
                rank: 4,
                ids: vec![123456, 234567, 345678, 456789, 567890],
            },
            Action::Full(999_999),
            Action::Context(0),
            Action::Read {
                doc: 12,
                section: 345,
                page: 67,
            },
            Action::Open { doc: 1, section: 2 },
            Action::Toc { page: 3 },
            Action::Reset(true),
            Action::Reset(false),
        ];
        for a in actions {
            let data = encode(&a, "abcdef").unwrap();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(decode(&data, "abcdef"), Ok(a.clone()));
            assert_eq!(decode(&data, "123456"), Err(DecodeError::Stale));
        }
        for junk in [
            "",
            "x",
            "f:",
            "f:abc:tag",
            "m:1::tag",
            "r:1:2:tag",
            "💥:1:tag",
            "f:+1:tag",
            "x:2:tag",
        ] {
            assert_eq!(decode(junk, "tag"), Err(DecodeError::Malformed), "{junk}");
        }
    }

    /// The integer overflow that crashed the bot: a "More" button with a huge first rank
    /// (anyone can send any callback data) made the rank of the next results overflow.
    #[test]
    fn a_link_is_no_callback_data_and_link_like_data_is_not_a_button_of_ours() {
        let link = Action::Link("https://t.me/studybot?start=review".into());
        assert_eq!(encode(&link, "abcdef"), None);
        assert_eq!(
            decode("https://t.me/studybot?start=review", "abcdef"),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn huge_numbers_in_callback_data_are_refused() {
        for data in [
            "m:18446744073709551615:1:abcdef",
            "m:10001:1:abcdef",
            "f:99999999999999999999:abcdef",
            "r:0:1:18446744073709551615:abcdef",
        ] {
            assert_eq!(
                decode(data, "abcdef"),
                Err(DecodeError::Malformed),
                "{data}"
            );
        }
    }

    #[test]
    fn more_keeps_the_ids_that_fit_and_nothing_else_is_cut() {
        let ids: Vec<usize> = (0..10).map(|i| 1_000_000 + i).collect();
        let data = encode(
            &Action::More {
                rank: 11,
                ids: ids.clone(),
            },
            "abcdef",
        )
        .unwrap();
        assert!(data.len() <= 64, "{data}");
        let Ok(Action::More { rank, ids: kept }) = decode(&data, "abcdef") else {
            panic!("{data}");
        };
        assert_eq!(rank, 11);
        assert!(!kept.is_empty() && kept.len() < ids.len());
        assert_eq!(kept[..], ids[..kept.len()]);
        assert_eq!(
            encode(
                &Action::More {
                    rank: 1,
                    ids: vec![]
                },
                "t"
            ),
            None
        );
        assert_eq!(encode(&Action::Full(1), &"t".repeat(80)), None);
    }

    fn config() -> ProptestConfig {
        crate::telegram::proptest_config()
    }

    fn action() -> impl Strategy<Value = Action> {
        let n = 0..=MAX_NUMBER;
        prop_oneof![
            (0..=MAX_RANK, prop::collection::vec(n.clone(), 0..30))
                .prop_map(|(rank, ids)| Action::More { rank, ids }),
            n.clone().prop_map(Action::Full),
            n.clone().prop_map(Action::Context),
            (n.clone(), n.clone(), n.clone()).prop_map(|(doc, section, page)| Action::Read {
                doc,
                section,
                page
            }),
            (n.clone(), n.clone()).prop_map(|(doc, section)| Action::Open { doc, section }),
            n.prop_map(|page| Action::Toc { page }),
            any::<bool>().prop_map(Action::Reset),
        ]
    }

    proptest! {
        #![proptest_config(config())]

        /// Whatever a client sends (up to 64 bytes, not necessarily UTF-8 as sent), decoding
        /// returns without panicking, and what it accepts re-encodes to the same data.
        #[test]
        fn the_decoder_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..=64)) {
            let data = String::from_utf8_lossy(&bytes);
            if let Ok(Action::More { rank, ids }) = decode(&data, "abcdef") {
                // What the handler adds to the rank cannot overflow.
                prop_assert!(rank <= MAX_RANK && ids.len() <= MAX_IDS);
            }
            let _ = is_answer_button(&data);
        }

        /// Decoding text shaped like our data (kinds, colons, digits) never panics either.
        #[test]
        fn the_decoder_takes_data_shaped_like_ours(data in "[mfcrotx]:[0-9:.]{0,50}:[a-f0-9]{0,8}") {
            let _ = decode(&data, "abcdef");
        }

        /// Every action encodes within 64 bytes (or not at all) and decodes back to itself,
        /// "More" to a prefix of its ids.
        #[test]
        fn every_encoding_fits_and_round_trips(action in action(), tag in "[a-f0-9]{6}") {
            if let Some(data) = encode(&action, &tag) {
                prop_assert!(data.len() <= MAX_CALLBACK_BYTES);
                let back = decode(&data, &tag);
                match (&action, back) {
                    (Action::More { rank, ids }, Ok(Action::More { rank: r, ids: kept })) => {
                        prop_assert_eq!(*rank, r);
                        prop_assert!(!kept.is_empty() && ids.starts_with(&kept));
                    }
                    (_, back) => prop_assert_eq!(back, Ok(action.clone())),
                }
            }
        }
    }
}
