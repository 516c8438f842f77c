//! One integration-test binary, with modules by area. Tests run the built `studybot` binary
//! or drive the Telegram layer through fake Bot API servers.

mod common;

mod cli;
mod corpus;
mod telegram;
