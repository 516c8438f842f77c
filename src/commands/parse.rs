//! Reading what a user typed: `/command@botname arguments`, plain text, and mentions of the
//! bot. Parsing never fails: anything that is not one of our commands is [`Parsed::Text`],
//! [`Parsed::Unknown`] or [`Parsed::OtherBot`].

use super::Command;

/// What a line of user text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// One of our commands.
    Command(Command),
    /// A command addressed to another bot (`/ask@otherbot`): ignore.
    OtherBot,
    /// A slash command we do not know.
    Unknown(String),
    /// Plain text.
    Text(String),
}

/// Parses `/command@botname args`; `bot_username` is ours, without the `@`.
pub fn parse(text: &str, bot_username: Option<&str>) -> Parsed {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::Text(text.to_string());
    };
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (name, target) = match head.split_once('@') {
        Some((n, t)) => (n, Some(t)),
        None => (head, None),
    };
    if let (Some(target), Some(ours)) = (target, bot_username) {
        if !target.eq_ignore_ascii_case(ours) {
            return Parsed::OtherBot;
        }
    }
    let args = args.to_string();
    let lower = name.to_ascii_lowercase();
    // Names and aliases come from the one table /help and the command menu are made from.
    let Some(canonical) = super::canonical(&lower) else {
        return Parsed::Unknown(lower);
    };
    let command = match canonical {
        // The deep link a group's /review points to: t.me/<bot>?start=review.
        "start" if args.eq_ignore_ascii_case("review") => Command::Review,
        "start" => Command::Start,
        "help" => Command::Help,
        "ask" => Command::Ask(args),
        "sections" => Command::Sections,
        "read" => Command::Read(args),
        "quiz" => Command::Quiz(args),
        "stop" => Command::Stop,
        "score" => Command::Score,
        "top" => Command::Top,
        "reset" => Command::Reset,
        "review" => Command::Review,
        "texts" => Command::Texts,
        "text" => Command::Text(args),
        "add" => Command::Add,
        "remove" => Command::Remove(args),
        other => return Parsed::Unknown(other.to_string()),
    };
    Parsed::Command(command)
}

/// Characters Telegram allows in a username: a mention ends at the first other character.
fn username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The byte range of the first mention of `@username` in `text`, matched without regard to
/// ASCII case and only as the whole username: `@studybot` is not in `@studybot_helper`.
pub fn find_mention(text: &str, username: &str) -> Option<std::ops::Range<usize>> {
    if username.is_empty() {
        return None;
    }
    let mention = format!("@{username}");
    // ASCII lowercasing keeps byte offsets, so ranges found in `lower` are ranges of `text`.
    let lower = text.to_ascii_lowercase();
    let wanted = mention.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower.get(from..).and_then(|rest| rest.find(&wanted)) {
        let start = from + found;
        let end = start + wanted.len();
        let whole = !text
            .get(end..)
            .and_then(|r| r.chars().next())
            .is_some_and(username_char);
        if whole {
            return Some(start..end);
        }
        from = end;
    }
    None
}

/// `text` without its mention of `@username` (the question a mention carries), or `None` when
/// the bot is not mentioned.
pub fn strip_mention(text: &str, username: &str) -> Option<String> {
    let at = find_mention(text, username)?;
    let before = text.get(..at.start).unwrap_or_default();
    let after = text.get(at.end..).unwrap_or_default();
    let words: Vec<&str> = before
        .split_whitespace()
        .chain(after.split_whitespace())
        .collect();
    Some(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_of_the_table_parses_and_aliases_do_what_their_command_does() {
        for spec in crate::commands::COMMANDS {
            let own = parse(&format!("/{} x", spec.name), None);
            assert!(matches!(own, Parsed::Command(_)), "/{}: {own:?}", spec.name);
            for alias in spec.aliases {
                assert_eq!(parse(&format!("/{alias} x"), None), own, "/{alias}");
            }
        }
        assert_eq!(parse("/nope", None), Parsed::Unknown("nope".into()));
    }

    #[test]
    fn parses_commands_for_us_and_ignores_other_bots() {
        assert_eq!(
            parse("/ask what?", Some("studybot")),
            Parsed::Command(Command::Ask("what?".into()))
        );
        assert_eq!(
            parse("/ask@StudyBot  soviets ", Some("studybot")),
            Parsed::Command(Command::Ask("soviets".into()))
        );
        assert_eq!(
            parse("/ask@otherbot soviets", Some("studybot")),
            Parsed::OtherBot
        );
        assert_eq!(
            parse("/frobnicate", Some("studybot")),
            Parsed::Unknown("frobnicate".into())
        );
        assert_eq!(parse("hello", None), Parsed::Text("hello".into()));
        assert_eq!(
            parse("/quiz 10 soviets", None),
            Parsed::Command(Command::Quiz("10 soviets".into()))
        );
        assert_eq!(parse("/reset", None), Parsed::Command(Command::Reset));
        assert_eq!(
            parse("/start review", None),
            Parsed::Command(Command::Review)
        );
        assert_eq!(parse("/start", None), Parsed::Command(Command::Start));
        assert_eq!(
            parse("/text 2", None),
            Parsed::Command(Command::Text("2".into()))
        );
    }

    #[test]
    fn a_mention_must_be_the_whole_username() {
        assert_eq!(find_mention("hi @studybot there", "studybot"), Some(3..12));
        assert_eq!(find_mention("@StudyBot, hello", "studybot"), Some(0..9));
        assert_eq!(find_mention("ask @studybot_helper", "studybot"), None);
        assert_eq!(
            find_mention("@studybot2 and @studybot", "studybot"),
            Some(15..24)
        );
        assert_eq!(find_mention("no mention", "studybot"), None);
        assert_eq!(find_mention("x@studybot€", "studybot"), Some(1..10));
        assert_eq!(
            strip_mention("İİ @studybot ünlü soviets", "studybot").as_deref(),
            Some("İİ ünlü soviets")
        );
        assert_eq!(strip_mention("@studybot_helper soviets", "studybot"), None);
    }
}
