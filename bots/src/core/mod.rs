//! The command core shared by every chat adapter. Wording, parsing, limits
//! and the delivery rules live here once and are tested once.

mod command;
mod delete;
pub mod fit;
mod outcomes;
mod service;
pub mod wording;

pub use command::{
    parse, validate, Aspect, Command, RenderSettings, UsageError, ValidVideo, VideoRequest,
};
pub use outcomes::{ChatSink, ClipFile, OutcomePoster, ProgressWatcher, SinkError};
pub use service::{CommandCore, Reply, ReplyKind, Requester};
