//! Spaced repetition of the quiz questions a member got wrong: the Leitner schedule, as pure
//! functions of an injected clock, and the review steps over the store.
//!
//! A wrong quiz answer puts the question in the member's deck, in the first box, due at once.
//! A right answer in a review moves the card up a box, due again after 1, 3, 7, then 21 days;
//! a wrong one sends it back to the first box, due at once. A review asks the due cards one
//! after another, at the member's pace: the next card comes when the last is answered, and a
//! card just answered is not asked again in the same breath.

use super::QuizQuestion;
use crate::error::{Error, Result};
use crate::store::{Card, DeckSummary, Store};

/// Seconds in a day.
pub const DAY: i64 = 24 * 3600;
/// The first box: new cards and cards answered wrongly.
pub const FIRST_BOX: i64 = 1;
/// Days until a card is due again after a right answer moves it into box 2, 3, 4 and 5.
pub const INTERVAL_DAYS: [i64; 4] = [1, 3, 7, 21];
/// The last box; right answers keep a card there, due every 21 days.
pub const LAST_BOX: i64 = FIRST_BOX + INTERVAL_DAYS.len() as i64;

/// The Leitner rule: the box a card in box `level` moves to after a right or wrong answer at
/// `now`, and when it is due again.
pub fn schedule(level: i64, correct: bool, now: i64) -> (i64, i64) {
    if !correct {
        return (FIRST_BOX, now);
    }
    let level = level
        .clamp(FIRST_BOX, LAST_BOX)
        .saturating_add(1)
        .min(LAST_BOX);
    let days = usize::try_from(level - FIRST_BOX - 1)
        .ok()
        .and_then(|i| INTERVAL_DAYS.get(i))
        .copied()
        .unwrap_or(INTERVAL_DAYS[INTERVAL_DAYS.len() - 1]);
    (level, now.saturating_add(days.saturating_mul(DAY)))
}

/// A card to ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// The card's key.
    pub key: String,
    /// Its question, options in stored order.
    pub question: QuizQuestion,
    /// Its box.
    pub level: i64,
    /// Cards due now, this one included.
    pub due_now: i64,
}

/// What a review does next.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewNext {
    /// Ask this card.
    Ask(Due),
    /// Nothing (more) is due: the deck at a glance.
    Nothing(DeckSummary),
}

/// The card of `user` to ask at `now`, other than `skip` (the card just answered).
pub fn next(store: &dyn Store, user: i64, now: i64, skip: Option<&str>) -> Result<ReviewNext> {
    // A card whose question cannot be decoded (an older format) is answered for the member:
    // moved out of the way rather than blocking the deck.
    let mut skipped = skip.map(str::to_string);
    for _ in 0..16 {
        let Some(card) = store.due_card(user, now, skipped.as_deref())? else {
            break;
        };
        match decode(&card) {
            Ok(question) => {
                let due_now = store.deck(user, now)?.due_now;
                return Ok(ReviewNext::Ask(Due {
                    key: card.key,
                    question,
                    level: card.level,
                    due_now,
                }));
            }
            Err(err) => {
                tracing::warn!(user, key = %card.key, error = %err, "dropping an unreadable review card");
                store.add_card(
                    user,
                    &card.key,
                    &card.question,
                    now + INTERVAL_DAYS[3] * DAY,
                )?;
                skipped = Some(card.key);
            }
        }
    }
    Ok(ReviewNext::Nothing(store.deck(user, now)?))
}

fn decode(card: &Card) -> Result<QuizQuestion> {
    serde_json::from_str(&card.question)
        .map_err(|e| Error::BadRecord(format!("review card {}: {e}", card.key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn right_answers_climb_the_boxes_and_a_wrong_one_starts_over() {
        let now = 1_000;
        assert_eq!(schedule(1, true, now), (2, now + DAY));
        assert_eq!(schedule(2, true, now), (3, now + 3 * DAY));
        assert_eq!(schedule(3, true, now), (4, now + 7 * DAY));
        assert_eq!(schedule(4, true, now), (5, now + 21 * DAY));
        assert_eq!(
            schedule(5, true, now),
            (5, now + 21 * DAY),
            "the last box stays"
        );
        assert_eq!(schedule(4, false, now), (1, now));
        assert_eq!(
            schedule(99, true, now),
            (5, now + 21 * DAY),
            "out of range is clamped"
        );
        assert_eq!(schedule(-3, true, now), (2, now + DAY));
        assert_eq!(schedule(1, true, i64::MAX).1, i64::MAX, "never overflows");
    }

    fn question(key: &str) -> String {
        serde_json::to_string(&QuizQuestion {
            key: key.into(),
            question: format!("Question {key}?"),
            options: vec!["a".into(), "b".into()],
            correct: 1,
            explanation: "“b” — §1 One, ¶1".into(),
            doc: 0,
            section: 1,
        })
        .unwrap()
    }

    #[test]
    fn a_second_review_poll_supersedes_the_first_so_a_card_never_moves_twice() {
        let store = SqliteStore::open_in_memory().unwrap();
        let t0 = 10_000;
        store.add_card(7, "k1", &question("k1"), t0).unwrap();
        // /review sent twice: two polls for the same card.
        store.attach_review_poll("p1", 7, 7, "k1", 1).unwrap();
        store.attach_review_poll("p2", 7, 7, "k1", 1).unwrap();
        assert_eq!(
            store.answer_review("p1", 7, 1, t0 + 1, &schedule).unwrap(),
            None,
            "the superseded poll changes nothing"
        );
        let answered = store
            .answer_review("p2", 7, 1, t0 + 2, &schedule)
            .unwrap()
            .unwrap();
        assert_eq!(answered.level, 2, "moved up one box, not two");
        // Another member's poll is theirs alone.
        store.add_card(8, "k1", &question("k1"), t0).unwrap();
        store.attach_review_poll("p3", 8, 8, "k1", 1).unwrap();
        store.attach_review_poll("p4", 7, 7, "k1", 1).unwrap();
        assert!(store
            .answer_review("p3", 8, 1, t0 + 3, &schedule)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_wrong_card_is_due_at_once_and_comes_back_on_the_fake_clock() {
        let store = SqliteStore::open_in_memory().unwrap();
        let t0 = 10_000;
        assert_eq!(
            next(&store, 7, t0, None).unwrap(),
            ReviewNext::Nothing(DeckSummary {
                cards: 0,
                due_now: 0,
                next_due: None
            })
        );
        store.add_card(7, "k1", &question("k1"), t0).unwrap();
        store.add_card(7, "k2", &question("k2"), t0 + 5).unwrap();
        let ReviewNext::Ask(first) = next(&store, 7, t0 + 5, None).unwrap() else {
            panic!("a due card");
        };
        assert_eq!(
            (first.key.as_str(), first.level, first.due_now),
            ("k1", 1, 2)
        );
        store.attach_review_poll("p1", 7, 7, "k1", 1).unwrap();
        let answered = store
            .answer_review("p1", 7, 1, t0 + 6, &schedule)
            .unwrap()
            .unwrap();
        assert_eq!((answered.level, answered.due), (2, t0 + 6 + DAY));
        assert_eq!(
            store.answer_review("p1", 7, 1, t0 + 7, &schedule).unwrap(),
            None,
            "a poll counts once"
        );
        assert_eq!(
            store.answer_review("p1", 8, 1, t0 + 7, &schedule).unwrap(),
            None,
            "and only for its member"
        );
        // k2 is still due; skipping it (just answered) leaves nothing.
        let ReviewNext::Ask(second) = next(&store, 7, t0 + 7, Some("k1")).unwrap() else {
            panic!("k2 is due");
        };
        assert_eq!(second.key, "k2");
        store.attach_review_poll("p2", 7, 7, "k2", 1).unwrap();
        let wrong = store
            .answer_review("p2", 7, 0, t0 + 8, &schedule)
            .unwrap()
            .unwrap();
        assert_eq!((wrong.correct, wrong.level, wrong.due), (false, 1, t0 + 8));
        assert_eq!(
            next(&store, 7, t0 + 8, Some("k2")).unwrap(),
            ReviewNext::Nothing(DeckSummary {
                cards: 2,
                due_now: 1,
                next_due: Some(t0 + 6 + DAY)
            })
        );
        // A day later k1 is due again.
        let ReviewNext::Ask(again) = next(&store, 7, t0 + 6 + DAY, Some("k2")).unwrap() else {
            panic!("k1 is due again");
        };
        assert_eq!((again.key.as_str(), again.level), ("k1", 2));
        // Getting a card wrong in a quiz again sends it back to the first box.
        store.add_card(7, "k1", &question("k1"), t0 + 9).unwrap();
        assert_eq!(
            store
                .due_card(7, t0 + 9, Some("k2"))
                .unwrap()
                .unwrap()
                .level,
            1
        );
    }

    #[test]
    fn an_unreadable_card_does_not_block_the_deck() {
        let store = SqliteStore::open_in_memory().unwrap();
        store.add_card(1, "bad", "{", 0).unwrap();
        store.add_card(1, "good", &question("good"), 1).unwrap();
        let ReviewNext::Ask(due) = next(&store, 1, 2, None).unwrap() else {
            panic!("the readable card");
        };
        assert_eq!(due.key, "good");
    }
}
