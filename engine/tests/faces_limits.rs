//! Absurd images get a clear error or an empty answer, never a panic, and
//! nothing is allocated for an image over the limit (4096² pixels). The
//! detector's memory is bounded by its working size
//! (perception.detect_max_side).

mod faces_support;

use faces_support::{models, photo, scale};
use reel_engine::perception::faces::{
    cosine_similarity, FaceAnalyzer, FaceError, MAX_IMAGE_PIXELS,
};
use reel_engine::RgbImage;

#[test]
fn a_ten_thousand_pixel_square_is_refused_before_any_work() {
    let models = models();
    // No pixel buffer at all: the size alone must be enough to refuse it.
    let huge = RgbImage {
        width: 10_000,
        height: 10_000,
        data: Vec::new(),
    };
    match models.analyze(&huge) {
        Err(FaceError::ImageTooLarge { width, height, max }) => {
            assert_eq!((width, height, max), (10_000, 10_000, MAX_IMAGE_PIXELS));
        }
        other => panic!("expected ImageTooLarge, got {other:?}"),
    }
    let message = models.analyze(&huge).unwrap_err().to_string();
    assert!(message.contains("10000×10000"), "{message}");
    // A long thin strip over the pixel limit too.
    let strip = RgbImage {
        width: 100_000_000,
        height: 1,
        data: Vec::new(),
    };
    assert!(matches!(
        models.analyze(&strip),
        Err(FaceError::ImageTooLarge { .. })
    ));
}

#[test]
fn empty_and_inconsistent_images_are_errors() {
    let models = models();
    for (w, h) in [(0, 0), (0, 100), (100, 0)] {
        let image = RgbImage {
            width: w,
            height: h,
            data: Vec::new(),
        };
        assert!(
            matches!(models.analyze(&image), Err(FaceError::EmptyImage { .. })),
            "{w}×{h}"
        );
    }
    let short = RgbImage {
        width: 64,
        height: 64,
        data: vec![0; 10],
    };
    assert!(matches!(
        models.analyze(&short),
        Err(FaceError::InconsistentImage { .. })
    ));
}

#[test]
fn tiny_and_thin_images_have_no_faces() {
    let models = models();
    for (w, h) in [
        (1, 1),
        (8, 8),
        (28, 28),
        (29, 29),
        (40, 40),
        (4096, 1),
        (1, 4096),
        (3, 2000),
    ] {
        let image = RgbImage::new(w, h);
        let faces = models
            .analyze(&image)
            .unwrap_or_else(|e| panic!("{w}×{h}: {e}"));
        assert!(faces.is_empty(), "{w}×{h}");
    }
}

#[test]
fn a_large_image_is_scanned_at_the_detector_size_and_still_finds_the_face() {
    let models = models();
    // 2560×2560: over detect_max_side, so the detector sees a 1280² copy;
    // landmarks and the embedding come from the full image.
    let big = scale(&photo("astronaut"), 5.0);
    let faces = models.analyze(&big).unwrap();
    assert_eq!(faces.len(), 1);
    // dlib's box on the 512² original is (168, 69)–(263, 164): the box
    // found at half scale lands on the same face…
    let b = faces[0].bbox;
    let want = [168 * 5, 69 * 5, 264 * 5 - 1, 165 * 5 - 1];
    let overlap_w = (b.right.min(want[2]) - b.left.max(want[0]) + 1).max(0);
    let overlap_h = (b.bottom.min(want[3]) - b.top.max(want[1]) + 1).max(0);
    let inter = (overlap_w * overlap_h) as f64;
    let union =
        (b.width() * b.height() + (want[2] - want[0] + 1) * (want[3] - want[1] + 1)) as f64 - inter;
    assert!(inter / union > 0.5, "{b:?} against {want:?}");
    // …and the embedding from the full-size image is the same person's.
    let original = models.analyze(&photo("astronaut")).unwrap();
    let similarity = cosine_similarity(&faces[0].embedding, &original[0].embedding);
    assert!(similarity > 0.95, "{similarity}");
}
