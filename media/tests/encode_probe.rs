//! Encoding a synthetic clip to MP4 and reading it back, with our prober and
//! with the ffprobe CLI as an independent check.

mod common;

use std::path::Path;
use std::process::Command;

use common::pattern_clip;
use reel_media::{encode_mp4, probe, Audio, EncodeError, EncodeOptions, ProbeError};

fn encode_test_clip(dir: &Path) -> std::path::PathBuf {
    let clip = pattern_clip(160, 96, 48, 24, 1);
    let out = dir.join("clip.mp4");
    let opts = EncodeOptions {
        comment: Some("reel testsrc: test pattern, not a model".to_string()),
        ..EncodeOptions::default()
    };
    let encoded = encode_mp4(&clip, &out, &opts).expect("encode");
    assert_eq!(encoded.frames, 48);
    assert_eq!(encoded.duration_ms, 2000);
    assert_eq!(
        encoded.bytes,
        std::fs::metadata(&out).expect("output").len()
    );
    assert!(encoded.bytes > 1000);
    out
}

fn ffprobe_json(path: &Path, args: &[&str]) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 json")
}

/// `"key": value` pairs of the first stream of `codec_type`, naively parsed
/// (no JSON crate in this workspace's engine); values keep their quotes off.
fn stream_field(json: &str, codec_type: &str, key: &str) -> Option<String> {
    let marker = format!("\"codec_type\": \"{codec_type}\"");
    let start = json.find(&marker)?;
    let end = json[start..]
        .find("\n        }")
        .map_or(json.len(), |e| start + e);
    let stream = &json[..end];
    let stream_start = stream[..start].rfind('{')?;
    let key_marker = format!("\"{key}\": ");
    let at = stream[stream_start..].find(&key_marker)? + stream_start + key_marker.len();
    let value = stream[at..].split([',', '\n']).next()?;
    Some(value.trim().trim_matches('"').to_string())
}

#[test]
fn encoded_clip_probes_as_h264_aac_faststart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = encode_test_clip(dir.path());

    let info = probe(&out).expect("probe");
    assert_eq!(info.video_codec, "h264");
    assert_eq!(info.pixel_format, "yuv420p");
    assert_eq!((info.width, info.height), (160, 96));
    assert!((info.fps - 24.0).abs() < 0.01, "fps {}", info.fps);
    assert_eq!(info.frames, 48);
    assert!(
        info.duration_ms.abs_diff(2000) <= 50,
        "duration {} ms",
        info.duration_ms
    );
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.audio_sample_rate, Some(48_000));
    assert!(info.faststart);

    // Independent check with the ffprobe CLI, decoding every frame.
    let streams = ffprobe_json(&out, &["-count_frames", "-show_streams"]);
    assert_eq!(
        stream_field(&streams, "video", "nb_read_frames").as_deref(),
        Some("48")
    );
    assert_eq!(
        stream_field(&streams, "video", "avg_frame_rate").as_deref(),
        Some("24/1")
    );
    assert_eq!(
        stream_field(&streams, "video", "pix_fmt").as_deref(),
        Some("yuv420p")
    );
    assert_eq!(
        stream_field(&streams, "audio", "codec_name").as_deref(),
        Some("aac")
    );
    assert_eq!(
        stream_field(&streams, "audio", "sample_rate").as_deref(),
        Some("48000")
    );
    let video_duration: f64 = stream_field(&streams, "video", "duration")
        .and_then(|d| d.parse().ok())
        .expect("video duration");
    assert!(
        (video_duration - 2.0).abs() < 0.001,
        "video duration {video_duration}"
    );
    let audio_duration: f64 = stream_field(&streams, "audio", "duration")
        .and_then(|d| d.parse().ok())
        .expect("audio duration");
    assert!(
        (audio_duration - 2.0).abs() < 0.025,
        "audio duration {audio_duration}"
    );

    let format = ffprobe_json(&out, &["-show_format"]);
    assert!(
        format.contains("\"comment\": \"reel testsrc: test pattern, not a model\""),
        "{format}"
    );
}

#[test]
fn empty_or_resampled_audio_still_gives_a_full_length_track() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut clip = pattern_clip(64, 48, 12, 12, 2);
    // Silence when there is no audio.
    clip.audio = Audio {
        sample_rate: 48_000,
        channels: 1,
        samples: Vec::new(),
    };
    let silent = dir.path().join("silent.mp4");
    encode_mp4(&clip, &silent, &EncodeOptions::default()).expect("encode silent");
    // 22.05 kHz stereo, half a second long, is resampled and padded.
    clip.audio = Audio {
        sample_rate: 22_050,
        channels: 2,
        samples: vec![0.25; 22_050],
    };
    let stereo = dir.path().join("stereo.mp4");
    encode_mp4(&clip, &stereo, &EncodeOptions::default()).expect("encode stereo");
    for path in [&silent, &stereo] {
        let info = probe(path).expect("probe");
        assert_eq!(info.frames, 12);
        assert_eq!(info.audio_sample_rate, Some(48_000));
        assert!(
            info.duration_ms.abs_diff(1000) <= 50,
            "{path:?}: {} ms",
            info.duration_ms
        );
        let streams = ffprobe_json(path, &["-show_streams"]);
        let audio_duration: f64 = stream_field(&streams, "audio", "duration")
            .and_then(|d| d.parse().ok())
            .expect("audio duration");
        assert!(
            (audio_duration - 1.0).abs() < 0.025,
            "{path:?}: audio {audio_duration}"
        );
    }
    let streams = ffprobe_json(&stereo, &["-show_streams"]);
    assert_eq!(
        stream_field(&streams, "audio", "channels").as_deref(),
        Some("2")
    );
}

#[test]
fn bad_clips_and_options_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bad.mp4");
    let good = pattern_clip(32, 32, 2, 24, 0);

    let mut odd = good.clone();
    odd.width = 31;
    let err = encode_mp4(&odd, &out, &EncodeOptions::default()).expect_err("odd width");
    assert!(
        matches!(&err, EncodeError::InvalidClip(m) if m.contains("width")),
        "{err}"
    );

    let mut mismatched = good.clone();
    mismatched.frames[1].data.pop();
    let err = encode_mp4(&mismatched, &out, &EncodeOptions::default()).expect_err("short frame");
    assert!(
        matches!(&err, EncodeError::InvalidClip(m) if m.contains("frame 1")),
        "{err}"
    );

    let mut empty = good.clone();
    empty.frames.clear();
    assert!(matches!(
        encode_mp4(&empty, &out, &EncodeOptions::default()),
        Err(EncodeError::InvalidClip(_))
    ));

    let crf = EncodeOptions {
        crf: 60,
        ..EncodeOptions::default()
    };
    assert!(matches!(
        encode_mp4(&good, &out, &crf),
        Err(EncodeError::InvalidOptions(_))
    ));

    let preset = EncodeOptions {
        preset: "warp-speed".to_string(),
        ..EncodeOptions::default()
    };
    let err = encode_mp4(&good, &out, &preset).expect_err("unknown preset");
    assert!(err.to_string().contains("libx264"), "{err}");

    let missing_dir = dir.path().join("no/such/dir/clip.mp4");
    let err = encode_mp4(&good, &missing_dir, &EncodeOptions::default()).expect_err("bad path");
    assert!(matches!(err, EncodeError::Output { .. }), "{err}");
}

#[test]
fn bitrate_cap_shrinks_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = pattern_clip(320, 192, 24, 24, 4);
    let free = encode_mp4(
        &clip,
        &dir.path().join("free.mp4"),
        &EncodeOptions {
            crf: 10,
            ..EncodeOptions::default()
        },
    )
    .expect("encode");
    let capped_opts = EncodeOptions {
        crf: 10,
        max_video_bitrate: Some(100_000),
        ..EncodeOptions::default()
    };
    let capped =
        encode_mp4(&clip, &dir.path().join("capped.mp4"), &capped_opts).expect("encode capped");
    assert!(
        capped.bytes < free.bytes,
        "capped {} vs free {}",
        capped.bytes,
        free.bytes
    );
}

#[test]
fn broken_files_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a video\n".repeat(50)).expect("write");
    // FFmpeg's tty demuxer would show this as ANSI-art "video".
    let err = probe(&text).expect_err("text file");
    assert!(matches!(err, ProbeError::Text { .. }), "{err}");

    let noise = dir.path().join("noise.mp4");
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, bytes).expect("write");
    let err = probe(&noise).expect_err("random bytes");
    assert!(matches!(err, ProbeError::Open { .. }), "{err}");

    let missing = dir.path().join("missing.mp4");
    assert!(probe(&missing).is_err());

    let full = std::fs::read(encode_test_clip(dir.path())).expect("read clip");
    for keep in [full.len() * 3 / 4, full.len() / 2, 2_000, 100] {
        let cut = dir.path().join(format!("cut-{keep}.mp4"));
        std::fs::write(&cut, &full[..keep]).expect("write");
        let result = probe(&cut);
        assert!(
            result.is_err(),
            "{keep} of {} bytes probed as {result:?}",
            full.len()
        );
    }

    // An audio-only file is not a video.
    let audio_only = dir.path().join("tone.m4a");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.2",
            "-c:a",
            "aac",
        ])
        .arg(&audio_only)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    assert!(matches!(
        probe(&audio_only),
        Err(ProbeError::NoVideo { .. })
    ));
}

#[test]
fn single_tiny_frame_encodes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("one.mp4");
    let clip = pattern_clip(16, 16, 1, 1, 3);
    let encoded = encode_mp4(&clip, &out, &EncodeOptions::default()).expect("encode");
    assert_eq!((encoded.frames, encoded.duration_ms), (1, 1000));
    let info = probe(&out).expect("probe");
    assert_eq!((info.width, info.height, info.frames), (16, 16, 1));
    assert!(
        info.duration_ms.abs_diff(1000) <= 50,
        "{} ms",
        info.duration_ms
    );
}
