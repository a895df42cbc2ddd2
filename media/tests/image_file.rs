//! Reference images read through FFmpeg: exact pixels, clear errors.

mod common;

use reel_media::{read_image, ImageError};

fn ppm(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut bytes = format!("P6\n{width} {height}\n255\n").into_bytes();
    for y in 0..height {
        for x in 0..width {
            bytes.extend_from_slice(&pixel(x, y));
        }
    }
    bytes
}

#[test]
fn a_ppm_reads_back_pixel_for_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("face.ppm");
    let colour = |x: u32, y: u32| [(x * 7) as u8, (y * 13) as u8, ((x + y) * 3) as u8];
    std::fs::write(&path, ppm(37, 21, colour)).unwrap();
    let image = read_image(&path).unwrap();
    assert_eq!((image.width, image.height), (37, 21));
    for y in 0..21 {
        for x in 0..37 {
            assert_eq!(image.pixel(x, y), Some(colour(x, y)), "at ({x}, {y})");
        }
    }
}

#[test]
fn what_is_not_a_usable_picture_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not a picture at all").unwrap();
    let err = read_image(&garbage).unwrap_err();
    assert!(matches!(err, ImageError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("garbage.png"), "{err}");

    let missing = dir.path().join("missing.png");
    assert!(matches!(
        read_image(&missing),
        Err(ImageError::Unreadable { .. })
    ));

    let huge = dir.path().join("huge.ppm");
    std::fs::write(&huge, ppm(5000, 2, |_, _| [0, 0, 0])).unwrap();
    let err = read_image(&huge).unwrap_err();
    assert!(
        matches!(err, ImageError::TooLarge { width: 5000, .. }),
        "{err}"
    );
}

/// Fault 19: on main any container FFmpeg opens was taken as an image (an
/// MP4 gave its first frame, at the size its header declared). Only still
/// image formats are read now.
#[test]
fn a_video_file_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let rendered = common::pattern_clip(64, 64, 4, 8, 1);
    reel_media::encode_mp4(&rendered, &clip, &reel_media::EncodeOptions::default()).unwrap();
    let err = read_image(&clip).unwrap_err();
    assert!(matches!(err, ImageError::NotAnImage { .. }), "{err}");
    assert!(err.to_string().contains("not an image file"), "{err}");
}
