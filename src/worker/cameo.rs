//! A job's cameos when its render starts (after the consent gate allowed
//! them): the registry records the use first, so the owner sees every clip
//! made with their likeness, even one that then fails; the first cameo's
//! reference face conditions the first frame, and for a job with a line
//! to say its voice prompt is the voice the line is spoken in. This is the
//! only place a voice comes from: the cameo's media, after the gate. The
//! media are decrypted in memory only and dropped with the request.

use reel_consent::{CameoRegistry, Person, RegistryError};
use reel_engine::voice::VoicePrompt;
use reel_engine::{Audio, RgbImage};
use reel_store::{Job, RenderFailure};

use crate::voice::{cameo_voice_prompt, prompt_from_bytes, prompt_to_bytes};

/// What the renderer gets from the job's cameos.
#[derive(Default)]
pub(super) struct References {
    pub image: Option<RgbImage>,
    pub voice: Option<Audio>,
    /// The cameo's voice for the speech model, when the job has a line.
    pub voice_prompt: Option<VoicePrompt>,
}

pub(super) async fn prepare(
    registry: Option<&CameoRegistry>,
    job: &Job,
) -> Result<References, RenderFailure> {
    let Some(first) = job.cameo_ids.first() else {
        return Ok(References::default());
    };
    // The gate refuses every cameo where no registry exists; this is the
    // same answer should a job reach here all the same.
    let Some(registry) = registry else {
        return Err(RenderFailure::Blocked(unavailable(first)));
    };
    let requester = Person::new(job.platform.clone(), job.user_id.clone());
    registry
        .record_clip(job.id, &requester, &job.cameo_ids)
        .await
        .map_err(|e| failure(first, e))?;
    let media = registry
        .reference_media(first)
        .await
        .map_err(|e| failure(first, e))?;
    let image = reel_media::decode_png(&media.face_image).map_err(|error| {
        tracing::error!(job = job.id, %error, "a cameo's reference image does not decode");
        RenderFailure::Fatal(format!(
            "cameo `{first}`'s reference image could not be read"
        ))
    })?;
    let voice = wav_pcm16(&media.voice_clip);
    if voice.is_none() {
        tracing::warn!(
            job = job.id,
            "a cameo's voice reference is not 16-bit PCM WAV; rendering without it"
        );
    }
    let voice_prompt = match (&job.say_line, &voice) {
        (None, _) => None,
        (Some(_), Some(clip)) => Some(voice_prompt(registry, first, clip, job.id).await?),
        (Some(_), None) => return Err(unusable_voice(first)),
    };
    Ok(References {
        image: Some(image),
        voice,
        voice_prompt,
    })
}

/// Cameo `name`'s voice prompt: the one cached (sealed) in the registry,
/// else made from its voice clip (registration keeps the speech of the
/// recording as 16-bit WAV) with the phrase verified at registration as
/// transcript, and cached for the next line.
async fn voice_prompt(
    registry: &CameoRegistry,
    name: &str,
    clip: &Audio,
    job_id: i64,
) -> Result<VoicePrompt, RenderFailure> {
    match registry.cached_voice_prompt(name).await {
        Ok(Some(bytes)) => match prompt_from_bytes(&bytes) {
            Some(prompt) => return Ok(prompt),
            None => tracing::warn!(
                job = job_id,
                "a cached voice prompt does not read; made again"
            ),
        },
        Ok(None) => {}
        Err(error) => return Err(failure(name, error)),
    }
    let phrase = registry
        .verified_phrase(name)
        .await
        .map_err(|e| failure(name, e))?;
    let prompt = cameo_voice_prompt(clip, &phrase).map_err(|error| {
        tracing::error!(job = job_id, %error, "a cameo's voice recording makes no voice prompt");
        unusable_voice(name)
    })?;
    if let Err(error) = registry
        .keep_voice_prompt(name, &prompt_to_bytes(&prompt))
        .await
    {
        tracing::warn!(job = job_id, %error, "a cameo's voice prompt was not cached; made again next time");
    }
    Ok(prompt)
}

/// The requester learns that the voice failed, not why (the owner's
/// recording is the owner's business).
fn unusable_voice(name: &str) -> RenderFailure {
    RenderFailure::Fatal(format!(
        "cameo `{name}`'s voice could not be used for the line to say"
    ))
}

/// What the requester reads: nothing about why (a withdrawal, an audience
/// change, an erasure are the owner's business).
fn unavailable(name: &str) -> String {
    format!("cameo `{name}` is unavailable")
}

fn failure(name: &str, error: RegistryError) -> RenderFailure {
    match error {
        RegistryError::Db(error) => {
            tracing::warn!(%error, "the consent registry is unreachable; the job waits");
            RenderFailure::Retry("the consent registry is unreachable".into())
        }
        RegistryError::UnknownCameo(_) | RegistryError::NotActive { .. } => {
            RenderFailure::Blocked(unavailable(name))
        }
        other => {
            tracing::error!(error = %other, "a cameo's reference media cannot be used");
            RenderFailure::Fatal(format!(
                "cameo `{name}`'s reference media could not be read"
            ))
        }
    }
}

/// A RIFF/WAVE file of 16-bit PCM as samples in -1..1; `None` for anything
/// else.
fn wav_pcm16(bytes: &[u8]) -> Option<Audio> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let (mut format, mut data) = (None, None);
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..(at + 8).checked_add(len)?)?;
        match id {
            b"fmt " if body.len() >= 16 => format = Some(body),
            b"data" => data = Some(body),
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    let format = format?;
    let tag = u16::from_le_bytes([format[0], format[1]]);
    let channels = u16::from_le_bytes([format[2], format[3]]);
    let sample_rate = u32::from_le_bytes(format[4..8].try_into().ok()?);
    let bits = u16::from_le_bytes([format[14], format[15]]);
    if tag != 1 || bits != 16 || channels == 0 || sample_rate == 0 {
        return None;
    }
    let samples = data?
        .chunks_exact(2)
        .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
        .collect();
    Some(Audio {
        sample_rate,
        channels,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn pcm16_wav_reads_back_and_anything_else_is_none() {
        let audio = wav_pcm16(&wav(&[0, 16384, -32768, 32767], 16_000)).unwrap();
        assert_eq!((audio.sample_rate, audio.channels), (16_000, 1));
        assert_eq!(audio.samples[..3], [0.0, 0.5, -1.0]);
        assert!(wav_pcm16(b"RIFF\0\0\0\0WAVE").is_none(), "no chunks");
        let mut truncated = wav(&[1, 2, 3], 16_000);
        truncated.truncate(truncated.len() - 3);
        assert!(
            wav_pcm16(&truncated).is_none(),
            "data shorter than declared"
        );
        assert!(wav_pcm16(b"OggS....").is_none());
    }
}
