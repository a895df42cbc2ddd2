//! A job's `say:` line (issue 17): spoken by the process's speech model in
//! the voice `cameo::prepare` gave (an allowed cameo's), or the model's own.

use std::sync::Arc;

use reel_engine::voice::VoicePrompt;
use reel_engine::{Audio, RenderError};
use reel_store::{Job, RenderFailure};

use crate::voice::Speaker;

/// What the requester reads when the workers cannot speak lines.
const NO_SPEECH: &str = "this reel cannot speak lines (say:) at the moment: no speech model \
     is set up. Send the request again without say:";

/// A line to speak, with its voice, ready for the render task.
pub(super) struct LineToSay {
    speaker: Arc<Speaker>,
    line: String,
    voice: Option<VoicePrompt>,
    seed: u64,
}

/// The job's line, if it has one; a job with a line where no speech model
/// is configured fails for good, with a word for the operator in the log.
pub(super) fn line_to_say(
    speaker: Option<&Arc<Speaker>>,
    job: &Job,
    voice: Option<VoicePrompt>,
) -> Result<Option<LineToSay>, RenderFailure> {
    let Some(line) = &job.say_line else {
        return Ok(None);
    };
    let Some(speaker) = speaker.filter(|s| s.configured()) else {
        tracing::error!(
            job = job.id,
            "a job has a line to say but no speech model is configured: run `{}` and set \
             voice.model_dir (REEL_VOICE__MODEL_DIR) for the workers",
            reel_engine::voice::PULL_COMMAND
        );
        return Err(RenderFailure::Fatal(NO_SPEECH.into()));
    };
    Ok(Some(LineToSay {
        speaker: speaker.clone(),
        line: line.clone(),
        voice,
        // The job's seed: a re-roll with the same seed says it the same way.
        seed: job.seed,
    }))
}

impl LineToSay {
    /// Blocking (the model's first use loads it). A failure ends the job:
    /// the line was checked at the chat, so what fails here is the model
    /// or the voice, which trying again would not change.
    pub(super) fn speak(self) -> Result<Audio, RenderError> {
        self.speaker
            .speak(&self.line, self.voice.as_ref(), self.seed)
            .map_err(|error| {
                tracing::error!(error = %format!("{error:#}"), "the line could not be spoken");
                RenderError::InvalidRequest(format!(
                    "the line to say could not be spoken ({error})"
                ))
            })
    }
}
