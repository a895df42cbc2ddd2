//! The terminal adapter behind `reel chat`: the bots' command language on
//! stdin/stdout, so the whole flow runs on a fresh machine without tokens.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reel_store::{Job, StoreError};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::core::{
    wording, ChatSink, ClipFile, CommandCore, JobLocks, Reply, Requester, SinkError,
};

pub const PLATFORM: &str = "terminal";

type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// Prints progress and results; shared by the session and the background
/// tasks that post outcomes.
pub struct TerminalSink {
    out: Mutex<Output>,
    locks: JobLocks,
}

impl TerminalSink {
    pub fn new(out: Output) -> Arc<Self> {
        Arc::new(Self {
            out: Mutex::new(out),
            locks: JobLocks::default(),
        })
    }

    pub async fn say(&self, text: &str) -> Result<(), SinkError> {
        let mut out = self.out.lock().await;
        let io = |e: std::io::Error| SinkError(format!("cannot write to the terminal: {e}"));
        out.write_all(text.as_bytes()).await.map_err(io)?;
        out.write_all(b"\n").await.map_err(io)?;
        out.flush().await.map_err(io)
    }
}

#[async_trait]
impl ChatSink for TerminalSink {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    async fn show_progress(&self, _job: &Job, text: &str) -> Result<bool, SinkError> {
        self.say(&format!("  … {text}")).await.map(|()| true)
    }

    async fn post_clip(
        &self,
        _job: &Job,
        clip: &ClipFile,
        caption: &str,
    ) -> Result<String, SinkError> {
        let place = match &clip.local_path {
            Some(path) => path.display().to_string(),
            None => wording::in_clip_storage(&clip.key),
        };
        self.say(&wording::terminal_clip_written(
            caption,
            &place,
            clip.data.len(),
        ))
        .await?;
        Ok(place)
    }

    async fn post_outcome(&self, _job: &Job, text: &str) -> Result<(), SinkError> {
        self.say(&format!("✘ {text}")).await
    }
}

/// Reads commands line by line until end of input or `/quit`, then waits
/// for the clips this session asked for to be posted.
pub async fn run_session<R>(
    core: &CommandCore,
    input: R,
    sink: &TerminalSink,
    user: &str,
) -> Result<(), StoreError>
where
    R: AsyncBufRead + Unpin,
{
    let from = Requester {
        platform: PLATFORM.into(),
        user_id: user.into(),
        chat_id: PLATFORM.into(),
        reply_handle: "{}".into(),
        request_key: None,
        shared_chat: false,
    };
    let _ = sink.say(wording::TERMINAL_GREETING).await;
    let mut lines = input.lines();
    let mut mine = Vec::new();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                let _ = sink.say(&wording::cannot_read_input(&error)).await;
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "/quit" | "/exit") {
            break;
        }
        let reply = core.handle(&from, line, true).await;
        match &reply {
            Reply::Queued { job_id, .. } => mine.push(*job_id),
            // Here "posting again" is saying where the clip was written.
            Reply::Repost { job, caption } => {
                let place = job
                    .delivery_receipt
                    .as_deref()
                    .unwrap_or(wording::CLIP_STORAGE);
                let _ = sink.say(&wording::terminal_clip_at(caption, place)).await;
                continue;
            }
            _ => {}
        }
        let _ = sink.say(reply.text()).await;
    }
    wait_for_outcomes(core, sink, &mine).await
}

async fn wait_for_outcomes(
    core: &CommandCore,
    sink: &TerminalSink,
    jobs: &[i64],
) -> Result<(), StoreError> {
    let mut announced = false;
    for &id in jobs {
        loop {
            if core.outcome_posted(id).await? {
                break;
            }
            if !announced {
                let _ = sink.say(wording::WAITING_FOR_CLIPS).await;
                announced = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
