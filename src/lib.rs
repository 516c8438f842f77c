//! studybot: answers questions about a text with cited excerpts, and runs quizzes on it.
//!
//! The library is the quiet core: it loads a corpus ([`corpus`]), indexes and searches it
//! ([`search`]) and answers ([`engine`], [`answer`]). It returns values and never prints; the
//! terminal adapter ([`terminal`]) renders them.
#![warn(missing_docs)]

pub mod answer;
pub mod commands;
pub mod config;
pub mod corpus;
pub mod datadir;
pub mod engine;
pub mod error;
pub mod eval;
pub mod formats;
pub mod library;
pub mod quiz;
pub mod search;
pub mod store;
pub mod telegram;
pub mod terminal;

pub use answer::Answer;
pub use engine::Engine;
pub use error::{Error, Result};
