//! Re-encoding an MP4 smaller: lower bitrate and/or smaller size, audio
//! kept, and clear errors for what cannot be re-encoded.

mod common;

use common::pattern_clip;
use reel_media::{encode_mp4, probe, reencode_mp4, EncodeOptions, ReencodeError, ReencodeOptions};

/// A 2 s 160×96 clip at crf 0 (lossless, so the video is large).
fn big_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let clip = pattern_clip(160, 96, 48, 24, 1);
    let path = dir.join("big.mp4");
    let lossless = EncodeOptions {
        crf: 0,
        ..EncodeOptions::default()
    };
    encode_mp4(&clip, &path, &lossless).expect("encode");
    path
}

#[test]
fn a_lower_bitrate_makes_a_smaller_clip_that_still_plays() {
    let dir = tempfile::tempdir().unwrap();
    let input = big_clip(dir.path());
    let before = std::fs::metadata(&input).unwrap().len();
    let output = dir.path().join("small.mp4");
    let options = ReencodeOptions {
        encode: EncodeOptions {
            crf: 30,
            max_video_bitrate: Some(40_000),
            ..EncodeOptions::default()
        },
        max_side: None,
    };
    let done = reencode_mp4(&input, &output, &options).expect("re-encode");
    assert_eq!(done.bytes, std::fs::metadata(&output).unwrap().len());
    assert!(done.bytes * 2 < before, "{} → {} bytes", before, done.bytes);
    assert_eq!((done.frames, done.duration_ms), (48, 2000));
    let info = probe(&output).expect("the re-encoded clip decodes");
    assert_eq!(
        (
            info.video_codec.as_str(),
            info.width,
            info.height,
            info.frames
        ),
        ("h264", 160, 96, 48)
    );
    assert_eq!(info.pixel_format, "yuv420p");
    assert_eq!(info.audio_codec.as_deref(), Some("aac"), "audio is kept");
    assert!(info.faststart);
    assert!(
        (1900..=2100).contains(&info.duration_ms),
        "{}",
        info.duration_ms
    );
}

#[test]
fn max_side_scales_down_keeping_the_aspect() {
    let dir = tempfile::tempdir().unwrap();
    let input = big_clip(dir.path());
    let output = dir.path().join("half.mp4");
    let options = ReencodeOptions {
        max_side: Some(80),
        ..ReencodeOptions::default()
    };
    reencode_mp4(&input, &output, &options).expect("re-encode");
    let info = probe(&output).unwrap();
    assert_eq!((info.width, info.height, info.frames), (80, 48, 48));
}

#[test]
fn what_cannot_be_re_encoded_is_an_error_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    let missing = reencode_mp4(
        &dir.path().join("missing.mp4"),
        &output,
        &ReencodeOptions::default(),
    );
    assert!(
        matches!(missing, Err(ReencodeError::Open { .. })),
        "{missing:?}"
    );

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all, just some words\n".repeat(50)).unwrap();
    let refused = reencode_mp4(&text, &output, &ReencodeOptions::default());
    assert!(refused.is_err(), "{refused:?}");
    assert!(!output.exists(), "no partial output");

    let input = big_clip(dir.path());
    for options in [
        ReencodeOptions {
            encode: EncodeOptions {
                crf: 52,
                ..EncodeOptions::default()
            },
            max_side: None,
        },
        ReencodeOptions {
            max_side: Some(1),
            ..ReencodeOptions::default()
        },
        ReencodeOptions {
            encode: EncodeOptions {
                max_video_bitrate: Some(0),
                ..EncodeOptions::default()
            },
            max_side: None,
        },
    ] {
        let bad = reencode_mp4(&input, &output, &options);
        assert!(
            matches!(bad, Err(ReencodeError::InvalidOptions(_))),
            "{bad:?}"
        );
    }
    assert!(!output.exists());
}
