//! One integration-test binary, with modules by area. Tests run the built `studybot` binary
//! or drive the Telegram layer through fake Bot API servers: `fake_api` (ours, for the real
//! process, inline mode, polls and limits) and teloxide_tests (for the handler tree).

mod common;

mod bot;
mod check;
mod cli;
mod corpus;
mod datadir;
mod deploy;
mod fake_api;
mod fake_api_selftest;
mod formats;
mod messy;
mod properties;
mod quiz;
mod safety;
mod silence;
mod study;
mod telegram;
mod uploads;
mod webhook;
