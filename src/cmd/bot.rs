//! `studybot bot`: runs the Telegram bot with long polling until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use studybot::config::{Settings, Token};
use studybot::telegram::{self, App};

use super::UsageError;

/// Arguments of `bot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Checks the token's shape without ever echoing it.
pub(super) fn validate_token(token: Option<&str>) -> Result<Token, UsageError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            UsageError(
                "no bot token: set TELOXIDE_TOKEN (or telegram.token) to the token from @BotFather"
                    .into(),
            )
        })?;
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !well_formed {
        return Err(UsageError(
            "the bot token is malformed: @BotFather gives tokens like 123456789:AA... (digits, a colon, then letters)".into(),
        ));
    }
    Ok(Token::new(token))
}

pub fn run(settings: &Settings, _args: Args) -> anyhow::Result<ExitCode> {
    let token = validate_token(settings.telegram.token.as_ref().map(Token::expose))?;
    telegram::send::hide_in_logs(&token);
    let api_url = match settings
        .telegram
        .api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(url) => Some(url::Url::parse(url).map_err(|e| {
            UsageError(format!(
                "telegram.api_url (TELOXIDE_API_URL) is not a URL: {e}"
            ))
        })?),
        None => None,
    };
    // Held until the bot exits: a second bot (or `index`, `chat`) on this data directory is
    // refused at once instead of resuming the same quizzes.
    let _lock = studybot::datadir::DataDirLock::acquire(&settings.data_dir)?;
    let app = Arc::new(
        App::new(
            super::load_handler(settings, true)?,
            settings.telegram.flood_burst,
            Duration::from_secs_f32(settings.telegram.flood_refill_secs),
        )
        .with_max_sends_per_sec(settings.telegram.max_sends_per_sec)
        .with_allowed_chats(&settings.telegram.allowed_chats),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut bot = teloxide::Bot::new(token.expose());
        if let Some(url) = api_url {
            bot = bot.set_api_url(url);
        }
        telegram::run(bot, app).await
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(validate_token(Some("123456:ABC-def_1")).is_ok());
        assert!(validate_token(None).is_err());
        assert!(validate_token(Some("  ")).is_err());
        let err = validate_token(Some("not a token secret123"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret123"));
        assert!(validate_token(Some("abc:def")).is_err());
    }
}
