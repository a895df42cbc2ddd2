//! The visible label is in the frames at the start, middle and end of a
//! clip (found by diffing against the same frames without it) and moves.

mod common;

use common::pattern_clip;
use reel_media::{label_box, watermark_clip, LabelBox, RgbImage};

/// The bounding box of pixels that differ by more than `threshold` in any
/// channel, and how many differ.
fn diff_box(a: &RgbImage, b: &RgbImage, threshold: u8) -> Option<(LabelBox, usize)> {
    let (mut x0, mut y0, mut x1, mut y1, mut count) = (u32::MAX, u32::MAX, 0, 0, 0);
    for y in 0..a.height {
        for x in 0..a.width {
            let (p, q) = (a.pixel(x, y)?, b.pixel(x, y)?);
            if p.iter().zip(q).any(|(u, v)| u.abs_diff(v) > threshold) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                count += 1;
            }
        }
    }
    (count > 0).then(|| {
        let found = LabelBox {
            x: x0,
            y: y0,
            width: x1 - x0 + 1,
            height: y1 - y0 + 1,
        };
        (found, count)
    })
}

#[test]
fn the_label_is_at_start_middle_and_end_and_not_in_one_place() {
    // 5 s at 24 fps, 480p.
    let plain = pattern_clip(854, 480, 120, 24, 3);
    let mut marked = plain.clone();
    watermark_clip(&mut marked, "AI · reel");
    let last = plain.frames.len() - 1;
    let mut places = Vec::new();
    for index in [0, last / 2, last] {
        let (found, changed) = diff_box(&plain.frames[index], &marked.frames[index], 24)
            .unwrap_or_else(|| panic!("no label in frame {index}"));
        let expected = label_box(854, 480, "AI · reel", index, 120, 24).expect("fits");
        assert_eq!(found, expected, "frame {index}");
        // A darkened box with text in it, not a few stray pixels.
        assert!(
            changed * 2 > (expected.width * expected.height) as usize,
            "frame {index}"
        );
        // 16 px text plus padding: legible at 480p.
        assert!(expected.height >= 24, "{expected:?}");
        places.push((found.x, found.y));
    }
    places.sort();
    places.dedup();
    assert_eq!(places.len(), 3, "the label must move: {places:?}");
    // Nothing outside the label changed.
    for (a, b) in plain.frames.iter().zip(&marked.frames) {
        let (found, _) = diff_box(a, b, 0).expect("every frame is labelled");
        assert!(found.width <= 200 && found.height <= 40, "{found:?}");
    }
}

#[test]
fn a_requester_name_lengthens_the_label_and_an_empty_label_draws_nothing() {
    let plain = pattern_clip(640, 360, 6, 24, 1);
    let mut short = plain.clone();
    watermark_clip(&mut short, "AI · reel");
    let mut long = plain.clone();
    watermark_clip(&mut long, "AI · reel · Ada");
    let (short_box, _) = diff_box(&plain.frames[0], &short.frames[0], 24).expect("label");
    let (long_box, _) = diff_box(&plain.frames[0], &long.frames[0], 24).expect("label");
    assert!(long_box.width > short_box.width);
    let mut none = plain.clone();
    watermark_clip(&mut none, "");
    assert_eq!(none.frames, plain.frames);
}
