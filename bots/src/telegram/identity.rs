//! Who sent a message, as the command core counts people. Telegram's
//! `from` is a shared service account for anonymous group admins, "send as
//! channel" and linked-channel posts, so it cannot be used alone: one
//! person could otherwise see, cancel and re-post another's jobs and share
//! their quota.

use teloxide::types::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A person, by their user id.
    Person(u64),
    /// A channel posting as itself (send-as-channel, a linked channel's
    /// post): the channel is the requester, by its chat id.
    Channel(i64),
    /// An account many people share (an anonymous group admin speaks as
    /// the group itself; Telegram's own service accounts): refused.
    Shared,
}

impl Sender {
    /// The user id the core stores with jobs. Channel ids are negative,
    /// so they never meet a person's.
    pub fn user_id(&self) -> Option<String> {
        match self {
            Self::Person(id) => Some(id.to_string()),
            Self::Channel(id) => Some(id.to_string()),
            Self::Shared => None,
        }
    }
}

pub fn sender(msg: &Message) -> Option<Sender> {
    if let Some(chat) = &msg.sender_chat {
        return Some(match chat.is_channel() {
            true => Sender::Channel(chat.id.0),
            // A group speaking as itself: one of its anonymous admins.
            false => Sender::Shared,
        });
    }
    let user = msg.from.as_ref()?;
    if user.is_anonymous() || user.is_channel() || user.is_telegram() {
        return Some(Sender::Shared);
    }
    Some(Sender::Person(user.id.0))
}
