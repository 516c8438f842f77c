//! Telegram's limits, in one place, and the builders that keep to them by construction: a
//! message's visible length (counted in UTF-16 units, as Telegram counts) and formatting
//! entities, a button's callback data, and a keyboard's size. Whatever the text or the corpus,
//! what leaves the adapter fits.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Visible characters per message, in UTF-16 code units, after entities are parsed.
pub const MAX_VISIBLE: usize = 4096;
/// Formatting entities per message.
pub const MAX_ENTITIES: usize = 100;
/// Bytes of callback data per button.
pub const MAX_CALLBACK_BYTES: usize = 64;
/// Buttons per inline keyboard.
pub const MAX_BUTTONS: usize = 100;
/// Buttons per keyboard row.
pub const MAX_ROW_BUTTONS: usize = 8;
/// Characters of a callback query's answer (the toast).
pub const MAX_TOAST_CHARS: usize = 200;

/// A string's length as Telegram counts it: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The longest prefix of `s` within `max` UTF-16 units, cut at a character boundary.
pub fn utf16_prefix(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (at, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return s.get(..at).unwrap_or_default();
        }
    }
    s
}

/// `s` within `max` UTF-16 units: whole if it fits, else cut with "…" (which counts).
pub fn utf16_truncate(s: &str, max: usize) -> String {
    if utf16_len(s) <= max {
        return s.to_string();
    }
    let cut = utf16_prefix(s, max.saturating_sub(1));
    format!("{}…", cut.trim_end())
}

/// A toast (callback query answer) within its limit.
pub fn toast(text: &str) -> String {
    match text.char_indices().nth(MAX_TOAST_CHARS - 1) {
        Some((at, _)) if text.chars().count() > MAX_TOAST_CHARS => {
            format!("{}…", text.get(..at).unwrap_or_default())
        }
        _ => text.to_string(),
    }
}

/// What a link button's data starts with: callback data of ours never does (it starts with a
/// one-letter kind and a colon).
pub const LINK_PREFIX: &str = "https://";

/// A callback button, or a link button when `data` is a web link.
fn button(label: &str, data: &str) -> InlineKeyboardButton {
    match data
        .starts_with(LINK_PREFIX)
        .then(|| url::Url::parse(data).ok())
        .flatten()
    {
        Some(url) => InlineKeyboardButton::url(label.to_string(), url),
        None => InlineKeyboardButton::callback(label.to_string(), data.to_string()),
    }
}

/// An inline keyboard of callback (and link) buttons that never exceeds Telegram's limits: rows longer
/// than [`MAX_ROW_BUTTONS`] are wrapped, buttons past [`MAX_BUTTONS`] are left out, and a
/// button whose data is over [`MAX_CALLBACK_BYTES`] or empty is left out (the encoder should
/// not have made one).
pub fn keyboard(rows: &[Vec<(String, String)>]) -> Option<InlineKeyboardMarkup> {
    let mut count = 0;
    let mut out: Vec<Vec<InlineKeyboardButton>> = Vec::new();
    for row in rows {
        let valid = row.iter().filter(|(label, data)| {
            !label.trim().is_empty() && !data.is_empty() && data.len() <= MAX_CALLBACK_BYTES
        });
        let mut current = Vec::new();
        for (label, data) in valid {
            if count == MAX_BUTTONS {
                break;
            }
            if current.len() == MAX_ROW_BUTTONS {
                out.push(std::mem::take(&mut current));
            }
            current.push(button(label, data));
            count += 1;
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    (!out.is_empty()).then(|| InlineKeyboardMarkup::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_and_cut_in_utf16_units() {
        assert_eq!(utf16_len("a👍"), 3);
        assert_eq!(utf16_prefix("a👍b", 2), "a");
        assert_eq!(utf16_prefix("a👍b", 3), "a👍");
        assert_eq!(utf16_truncate("👍👍👍", 4), "👍…");
        assert!(utf16_len(&utf16_truncate(&"👍".repeat(5000), MAX_VISIBLE)) <= MAX_VISIBLE);
        assert_eq!(toast(&"x".repeat(300)).chars().count(), MAX_TOAST_CHARS);
    }

    #[test]
    fn a_web_link_becomes_a_link_button_and_anything_else_a_callback() {
        use teloxide::types::InlineKeyboardButtonKind;
        let rows = vec![vec![
            (
                "Review".to_string(),
                "https://t.me/studybot?start=review".to_string(),
            ),
            ("Page".to_string(), "t:2:abcdef".to_string()),
        ]];
        let kb = keyboard(&rows).unwrap();
        let kinds: Vec<&InlineKeyboardButtonKind> = kb
            .inline_keyboard
            .iter()
            .flatten()
            .map(|b| &b.kind)
            .collect();
        assert!(
            matches!(kinds[0], InlineKeyboardButtonKind::Url(u) if u.as_str() == "https://t.me/studybot?start=review")
        );
        assert!(matches!(kinds[1], InlineKeyboardButtonKind::CallbackData(d) if d == "t:2:abcdef"));
    }

    #[test]
    fn keyboards_stay_within_100_buttons_8_a_row_and_64_bytes() {
        let rows: Vec<Vec<(String, String)>> = (0..30)
            .map(|r| {
                (0..10)
                    .map(|b| (format!("{r}.{b}"), format!("d{r}.{b}")))
                    .collect()
            })
            .collect();
        let kb = keyboard(&rows).unwrap();
        let total: usize = kb.inline_keyboard.iter().map(Vec::len).sum();
        assert_eq!(total, MAX_BUTTONS);
        assert!(kb
            .inline_keyboard
            .iter()
            .all(|r| r.len() <= MAX_ROW_BUTTONS));
        let long = vec![vec![("x".to_string(), "y".repeat(65))]];
        assert!(keyboard(&long).is_none());
    }
}
