//! What a person reads when their registration recording is refused: each
//! says what to fix. (The chat side's own texts live in
//! `bots/src/core/wording.rs`; these come from the checks, which the chat
//! side only passes on.)

use reel_consent::RecordingRefused;
use reel_engine::perception::faces::FaceVerdict;
use reel_engine::perception::speech::{PhraseVerdict, SpeechError};
use reel_media::DecodeError;

fn refused(text: impl Into<String>) -> RecordingRefused {
    RecordingRefused(text.into())
}

/// Why a recording could not be read; never names the file's path (a
/// private temporary file).
pub fn decode(error: &DecodeError) -> RecordingRefused {
    match error {
        DecodeError::Empty { .. } => refused(
            "Your recording is empty: record a short video of yourself reading the phrase and send it again",
        ),
        DecodeError::FileTooLarge { bytes, max, .. } => refused(format!(
            "Your recording is too large ({} MB; up to {} MB): record one short take, about 5 seconds",
            bytes.div_ceil(1 << 20),
            max / (1 << 20)
        )),
        DecodeError::Unreadable { .. } => refused(
            "I can't read that file as a video: send a video of yourself recorded with your camera (MP4, MOV or WebM)",
        ),
        DecodeError::NoAudio { .. } => refused(
            "Your recording has no sound: record a video with the microphone on and read the phrase aloud",
        ),
        DecodeError::NoVideo { .. } => refused(
            "Your recording has no picture: send a video of yourself facing the camera, not a voice message",
        ),
        DecodeError::Unsupported { kind, codec, .. } => refused(format!(
            "I can't decode that video's {kind} ({codec}): record it with your phone's camera app (MP4 or MOV)"
        )),
        DecodeError::TooLong { seconds, max, .. } => refused(format!(
            "Your recording is {seconds:.0} seconds long; up to {max:.0} are accepted: record one short take, about 5 seconds"
        )),
        DecodeError::FrameTooLarge { width, height, .. } => refused(format!(
            "Your video's resolution is too high ({width}×{height}): record at 1080p or less"
        )),
        DecodeError::Corrupt { .. } => refused(
            "Your recording is damaged or cut off and can't be played: send the whole file again, or record a new one",
        ),
        DecodeError::Truncated { declared, decoded, .. } => refused(format!(
            "Your recording is cut off (it stops after {decoded:.1} of {declared:.1} seconds): send the whole file again"
        )),
        DecodeError::Nothing { kind, .. } => refused(format!(
            "Your recording's {kind} is empty: record again with the camera and microphone on"
        )),
        DecodeError::Silent { .. } => silent(),
        DecodeError::Init(_) | DecodeError::Io { .. } => unavailable(),
    }
}

pub fn silent() -> RecordingRefused {
    refused("Your recording is silent: turn the microphone on and read the phrase aloud")
}

/// A failure of ours, not of the recording (logged where it happens).
pub fn unavailable() -> RecordingRefused {
    refused("I couldn't check your recording just now: please send it again in a few minutes")
}

pub fn speech(error: &SpeechError) -> RecordingRefused {
    match error {
        SpeechError::EmptyAudio => silent(),
        SpeechError::TooLong { seconds, max } => refused(format!(
            "Your recording is {seconds:.0} seconds long; up to {max:.0} are accepted: record one short take, about 5 seconds"
        )),
        _ => unavailable(),
    }
}

/// `words`: how many words the phrase has.
pub fn phrase(verdict: PhraseVerdict, words: usize) -> Option<RecordingRefused> {
    match verdict {
        PhraseVerdict::Match => None,
        PhraseVerdict::NoSpeech => Some(refused(format!(
            "I couldn't hear any words: read the {words} words aloud, clearly, in one take"
        ))),
        PhraseVerdict::Mismatch => Some(refused(format!(
            "I couldn't hear the phrase: say the {words} words clearly, in one take"
        ))),
    }
}

pub fn face(verdict: &FaceVerdict) -> Option<RecordingRefused> {
    let text = match verdict {
        FaceVerdict::Consistent => return None,
        FaceVerdict::SeveralFaces { faces, .. } => format!(
            "I saw {faces} faces: record yourself alone, with no other face in view (photos and screens included)"
        ),
        FaceVerdict::NoFace => "I couldn't see a face: record yourself facing the camera, in good light, with your whole face in view".into(),
        FaceVerdict::TooFewFaceFrames { .. } => "Your face was out of view for much of the recording: keep your whole face in view from start to end".into(),
        FaceVerdict::FaceTooSmall { .. } => "Your face is too small in the picture: hold the camera closer, so your face fills more of it".into(),
        FaceVerdict::PoorPose { .. } => "You weren't facing the camera: look straight into it while you read the phrase".into(),
        FaceVerdict::DifferentPerson { .. } => "The face changed during the recording: record one take of yourself only, from start to end".into(),
    };
    Some(refused(text))
}
