//! The command core shared by every chat adapter. Wording, parsing, limits,
//! buttons, the command table and the delivery rules live here once and are
//! tested once; adapters only translate between a platform and this.

pub mod actions;
mod approval_hold;
pub(crate) mod cameo;
mod command;
mod delete;
pub mod fit;
mod handles;
pub mod menu;
mod outcomes;
mod picture;
mod poster;
mod reply;
mod reposts;
mod service;
pub mod wording;

pub use approval_hold::APPROVAL_TIMEOUT;
pub use cameo::{CameoCommand, CLIPS_LISTED, DEFAULT_MAX_UPLOAD_BYTES};
pub use command::{
    parse, validate, Aspect, Command, RenderSettings, UsageError, ValidVideo, VideoRequest,
    MAX_SAY_CHARS,
};
pub(crate) use handles::handle_json;
pub use handles::{redact_handle, ChatHandle, ChatHandles, JobLocks};
pub use outcomes::{ChatSink, ClipFile, ProgressWatcher, SinkError};
pub use picture::{FaceScreen, PictureOffer, ScreenUnavailable};
pub use poster::{OutcomePoster, POSTS_PER_PLATFORM};
pub use reply::{Reply, ReplyKind};
pub use reposts::{fit_with, Fits, Upload, MAX_CONCURRENT_FITS, REPOSTS_PER_USER};
pub use service::{CommandCore, Requester};
