//! Who may do what: chat admins (from `getChatMember`, cached briefly so a busy group costs one
//! lookup per member a minute), and the allow-list of chats the bot serves
//! (`telegram.allowed_chats`), which follows a group when it becomes a supergroup.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture as _;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::{ChatId, UserId};

use super::send::describe;

/// How long a looked-up role is trusted.
const ROLE_TTL: Duration = Duration::from_secs(60);
/// How long to wait for `getChatMember` before treating the caller as an ordinary member.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Roles remembered at most (older ones are forgotten first when full).
const MAX_CACHED: usize = 10_000;

/// A user's place in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The chat's owner or an administrator.
    Admin,
    /// A member.
    Member,
    /// Not in the chat (left, banned, never joined).
    Outside,
    /// Telegram could not be asked (not cached).
    Unknown,
}

/// Cached chat roles.
#[derive(Debug, Default)]
pub struct Roles {
    cache: Mutex<HashMap<(i64, i64), (Membership, Instant)>>,
}

impl Roles {
    /// `user`'s membership of `chat`, from the cache or from Telegram.
    pub async fn membership(&self, bot: &Bot, chat: i64, user: i64) -> Membership {
        let now = Instant::now();
        if let Some(&(role, at)) = self.lock().get(&(chat, user)) {
            if now.duration_since(at) < ROLE_TTL {
                return role;
            }
        }
        let Ok(user_id) = u64::try_from(user).map(UserId) else {
            return Membership::Outside;
        };
        let lookup = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            bot.get_chat_member(ChatId(chat), user_id).into_future(),
        )
        .await;
        let role = match lookup {
            Ok(Ok(member)) if member.kind.is_privileged() => Membership::Admin,
            Ok(Ok(member)) if member.kind.is_present() => Membership::Member,
            Ok(Ok(_)) => Membership::Outside,
            Ok(Err(err)) => {
                tracing::warn!(chat, error = %describe(&err), "could not look up a member's role");
                return Membership::Unknown;
            }
            Err(_) => {
                tracing::warn!(chat, "looking up a member's role timed out");
                return Membership::Unknown;
            }
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (_, at)| now.duration_since(*at) < ROLE_TTL);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert((chat, user), (role, now));
        role
    }

    /// Whether `user` administers `chat`.
    pub async fn is_admin(&self, bot: &Bot, chat: i64, user: i64) -> bool {
        self.membership(bot, chat, user).await == Membership::Admin
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, i64), (Membership, Instant)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The chats the bot serves: everyone when the configured list is empty.
#[derive(Debug)]
pub struct Allowed {
    chats: RwLock<HashSet<i64>>,
    everyone: bool,
}

impl Allowed {
    /// The allow-list `telegram.allowed_chats`, with the moves of chats recorded since (old
    /// id, new id): a listed group keeps being served after it becomes a supergroup.
    pub fn new(chats: &[i64], moves: &[(i64, i64)]) -> Allowed {
        let allowed = Allowed {
            chats: RwLock::new(chats.iter().copied().collect()),
            everyone: chats.is_empty(),
        };
        for &(old, new) in moves {
            allowed.moved(old, new);
        }
        allowed
    }

    /// Whether the list lets everyone in.
    pub fn everyone(&self) -> bool {
        self.everyone
    }

    /// Whether `chat` (a group id, or a user id for a private chat) is served.
    pub fn chat(&self, chat: i64) -> bool {
        self.everyone
            || self
                .chats
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&chat)
    }

    /// The listed groups (negative ids).
    pub fn groups(&self) -> Vec<i64> {
        self.chats
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .filter(|&c| c < 0)
            .collect()
    }

    /// Chat `old` became chat `new`: a served chat stays served.
    pub fn moved(&self, old: i64, new: i64) {
        let mut chats = self
            .chats
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if chats.contains(&old) && chats.insert(new) {
            tracing::warn!(
                old,
                new,
                "an allowed group became a supergroup with a new id; it stays allowed, but put the new id in telegram.allowed_chats"
            );
        }
    }

    /// Whether `user` may use inline mode: they are listed themselves, or they are a member
    /// of a listed group.
    pub async fn user(&self, roles: &Roles, bot: &Bot, user: i64) -> bool {
        if self.chat(user) {
            return true;
        }
        for group in self.groups() {
            if matches!(
                roles.membership(bot, group, user).await,
                Membership::Admin | Membership::Member
            ) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_serves_everyone_and_a_moved_group_stays_allowed() {
        let all = Allowed::new(&[], &[]);
        assert!(all.chat(-5) && all.chat(42));
        let some = Allowed::new(&[-5, 42], &[(-5, -1005)]);
        assert!(some.chat(-5) && some.chat(-1005) && some.chat(42));
        assert!(!some.chat(43) && !some.chat(-6));
        some.moved(-6, -1006);
        assert!(!some.chat(-1006), "only a served chat's move is followed");
        let mut groups = some.groups();
        groups.sort();
        assert_eq!(groups, vec![-1005, -5]);
    }
}
