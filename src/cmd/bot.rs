//! `studybot bot`: runs the Telegram bot, by long polling or behind a webhook
//! (`telegram.webhook_url`), until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use studybot::config::{Settings, Token};
use studybot::telegram::listener::{self, Mode, Webhook};
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

/// The Bot API server to use instead of Telegram's (`telegram.api_url`, `TELOXIDE_API_URL`),
/// if one is set.
pub(super) fn parse_api_url(settings: &Settings) -> Result<Option<url::Url>, UsageError> {
    match settings
        .telegram
        .api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(url) => url::Url::parse(url).map(Some).map_err(|e| {
            UsageError(format!(
                "telegram.api_url (TELOXIDE_API_URL) is not a URL: {e}"
            ))
        }),
        None => Ok(None),
    }
}

pub fn run(settings: &Settings, _args: Args) -> anyhow::Result<ExitCode> {
    let token = validate_token(settings.telegram.token.as_ref().map(Token::expose))?;
    telegram::send::hide_in_logs(&token);
    let api_url = parse_api_url(settings)?;
    let mode = mode(settings)?;
    // Held until the bot exits: a second bot (or `index`, `chat`) on this data directory is
    // refused at once instead of resuming the same quizzes.
    let _lock = studybot::datadir::DataDirLock::acquire(&settings.data_dir)?;
    let app = Arc::new(
        App::new(
            super::load_handler(settings, true)?,
            settings.telegram.flood_burst,
            Duration::from_secs_f32(settings.telegram.flood_refill_secs),
        )
        .with_library_from(settings)
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
        telegram::run(bot, app, mode).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Polling or webhook, from the settings (which were validated when loaded).
fn mode(settings: &Settings) -> Result<Mode, UsageError> {
    let telegram = &settings.telegram;
    let addr = |key: &str, value: &str| {
        value
            .trim()
            .parse()
            .map_err(|e| UsageError(format!("{key} is not an address and port: {e}")))
    };
    let Some(url) = telegram.webhook_url.as_deref() else {
        let metrics = match telegram.metrics_listen() {
            Some(value) => Some(addr("telegram.metrics_listen", value)?),
            None => None,
        };
        return Ok(Mode::Polling { metrics });
    };
    let url = url::Url::parse(url)
        .map_err(|e| UsageError(format!("telegram.webhook_url is not a URL: {e}")))?;
    if telegram.metrics_listen().is_some() {
        tracing::warn!("telegram.metrics_listen is for polling mode; with a webhook, /metrics is on telegram.listen");
    }
    Ok(Mode::Webhook(Webhook {
        url,
        listen: addr("telegram.listen", &telegram.listen)?,
        secret: telegram
            .webhook_secret()
            .cloned()
            .unwrap_or_else(listener::random_secret),
    }))
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
