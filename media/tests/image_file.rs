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

#[test]
fn a_png_in_memory_decodes_to_the_same_pixels_and_garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ppm_path = dir.path().join("face.ppm");
    let colour = |x: u32, y: u32| [(x * 5) as u8, (y * 11) as u8, ((x * y) % 251) as u8];
    std::fs::write(&ppm_path, ppm(41, 19, colour)).unwrap();
    // FFmpeg's PNG encoder with every row filter in play (Paeth, Up, …).
    let png_path = dir.path().join("face.png");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&ppm_path)
        .args(["-pred", "mixed"])
        .arg(&png_path)
        .status()
        .unwrap();
    assert!(made.success());
    let image = reel_media::decode_png(&std::fs::read(&png_path).unwrap()).unwrap();
    assert_eq!(image, read_image(&ppm_path).unwrap());

    let err = reel_media::decode_png(b"\x89PNG\r\n\x1a\nthen nothing useful").unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Unreadable { .. } | ImageError::NoPicture { .. }
        ),
        "{err}"
    );
}
