//! Mini quizzes: questions from a curated bank ([`bank`]) and generated from any text
//! ([`generate`]), chosen by topic or section ([`pool`]), run by a state machine over the store
//! with an injected clock ([`session`]) and asked by one driver every adapter shares
//! ([`driver`]). The scoring rules live here; the store only persists.

pub mod bank;
pub mod driver;
pub mod generate;
pub mod pool;
pub mod review;
pub mod session;

use serde::{Deserialize, Serialize};

use crate::store::{AnswerRow, PlayerRecord, Scored};

/// Telegram's limit on a poll question.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Telegram's limit on a poll option.
pub const MAX_OPTION_CHARS: usize = 100;
/// Telegram's limit on a quiz explanation.
pub const MAX_EXPLANATION_CHARS: usize = 200;

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizQuestion {
    /// Stable key, to avoid repeating questions a chat saw recently.
    pub key: String,
    /// The question.
    pub question: String,
    /// The options.
    pub options: Vec<String>,
    /// Index of the correct option.
    pub correct: usize,
    /// Why, citing the passage (at most 200 characters).
    pub explanation: String,
    /// Document index of the supporting passage.
    pub doc: usize,
    /// Section number of the supporting passage.
    pub section: usize,
}

impl QuizQuestion {
    /// Whether the question fits Telegram's quiz poll limits and is well formed.
    pub fn is_valid(&self) -> bool {
        let chars = |s: &str| s.chars().count();
        let mut lower: Vec<String> = self
            .options
            .iter()
            .map(|o| o.trim().to_lowercase())
            .collect();
        lower.sort();
        lower.dedup();
        (1..=MAX_QUESTION_CHARS).contains(&chars(&self.question))
            && (2..=10).contains(&self.options.len())
            && lower.len() == self.options.len()
            && self
                .options
                .iter()
                .all(|o| (1..=MAX_OPTION_CHARS).contains(&chars(o.trim())))
            && self.correct < self.options.len()
            && chars(&self.explanation) <= MAX_EXPLANATION_CHARS
            && self.explanation.matches('\n').count() <= 2
    }
}

/// Points for a correct answer that makes a streak of `streak`: 10, plus 5 from the third
/// correct answer in a row on.
pub fn points_for(streak: i64) -> i64 {
    if streak >= 3 {
        15
    } else {
        10
    }
}

/// The scoring rule the store applies to each answer: right when the chosen option is the
/// correct one, worth [`points_for`] the streak it makes.
pub fn score(option: usize, correct_option: usize, streak: i64) -> Scored {
    if option == correct_option {
        let streak = streak.saturating_add(1);
        Scored {
            correct: true,
            points: points_for(streak),
            streak,
        }
    } else {
        Scored {
            correct: false,
            points: 0,
            streak: 0,
        }
    }
}

/// A quiz's scoreboard from its answers in question order: points, answers, right answers and
/// the longest run of right answers within the quiz, ranked by [`rank`].
pub fn scoreboard(answers: Vec<AnswerRow>) -> Vec<PlayerRecord> {
    let mut board: Vec<(PlayerRecord, i64)> = Vec::new();
    for a in answers {
        let i = match board.iter().position(|(p, _)| p.user == a.user) {
            Some(i) => i,
            None => {
                board.push((
                    PlayerRecord {
                        user: a.user,
                        name: a.name.clone(),
                        points: 0,
                        answered: 0,
                        correct: 0,
                        best_streak: 0,
                    },
                    0,
                ));
                board.len() - 1
            }
        };
        let Some((p, run)) = board.get_mut(i) else {
            continue;
        };
        p.name = a.name;
        p.points += a.points;
        p.answered += 1;
        if a.correct {
            p.correct += 1;
            *run += 1;
            p.best_streak = p.best_streak.max(*run);
        } else {
            *run = 0;
        }
    }
    let mut board: Vec<PlayerRecord> = board.into_iter().map(|(p, _)| p).collect();
    rank(&mut board);
    board
}

/// Sorts a scoreboard: points, then correct answers, then fewer answers, then name.
pub fn rank(board: &mut [PlayerRecord]) {
    board.sort_by(|a, b| {
        b.points
            .cmp(&a.points)
            .then(b.correct.cmp(&a.correct))
            .then(a.answered.cmp(&b.answered))
            .then(a.name.cmp(&b.name))
    });
}

/// Shortens `text` to `max` characters at a word boundary, with "…".
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}
