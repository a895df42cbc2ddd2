//! The visible label every clip carries ("AI · reel" by default): white
//! bitmap text on a darkened box, drawn into the frames before encoding.
//! It hops between the four corners over the clip (diagonally, so the next
//! spot is never the same edge), so cropping one corner away leaves it in
//! the rest of the clip.

use font8x8::{UnicodeFonts, BASIC_FONTS, LATIN_FONTS};

use crate::frames::{Rendered, RgbImage};

const GLYPH: u32 = 8;
/// Text height is about this share of the shorter side: 16 px glyphs
/// (scale 2) at 480p, which stays legible after chroma subsampling.
const TEXT_SHARE: u32 = 30;
/// The box behind the text keeps this much of the picture's brightness.
const BOX_KEEP_PERCENT: u16 = 35;
/// Longest hold at one corner; shorter clips still visit three corners.
const MAX_HOLD_SECONDS: u32 = 2;

/// Where the label sits on one frame: its box's top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Corner {
    TopLeft,
    BottomRight,
    TopRight,
    BottomLeft,
}

const ROUTE: [Corner; 4] = [
    Corner::TopLeft,
    Corner::BottomRight,
    Corner::TopRight,
    Corner::BottomLeft,
];

/// Draws `label` into every frame of `clip`. A label too wide for the
/// frame is drawn smaller, then cut; an empty one draws nothing.
pub fn watermark_clip(clip: &mut Rendered, label: &str) {
    let count = clip.frames.len();
    let fps = clip.fps;
    for (index, frame) in clip.frames.iter_mut().enumerate() {
        if let Some(place) = label_box(frame.width, frame.height, label, index, count, fps) {
            draw_label(frame, label, place);
        }
    }
}

/// Where frame `index` of `count` gets the label, or `None` when nothing
/// fits (an empty label, a frame a few pixels wide).
pub fn label_box(
    width: u32,
    height: u32,
    label: &str,
    index: usize,
    count: usize,
    fps: u32,
) -> Option<LabelBox> {
    let (scale, chars) = fit(width, height, label)?;
    let pad = scale * 2;
    let box_width = chars * GLYPH * scale + 2 * pad;
    let box_height = GLYPH * scale + 2 * pad;
    let margin = (width.min(height) / 32).max(2);
    if box_width + 2 * margin > width || box_height + 2 * margin > height {
        return None;
    }
    let (left, top) = (margin, margin);
    let right = width - margin - box_width;
    let bottom = height - margin - box_height;
    let (x, y) = match corner(index, count, fps) {
        Corner::TopLeft => (left, top),
        Corner::BottomRight => (right, bottom),
        Corner::TopRight => (right, top),
        Corner::BottomLeft => (left, bottom),
    };
    Some(LabelBox {
        x,
        y,
        width: box_width,
        height: box_height,
    })
}

/// Frames held at one corner: at most `MAX_HOLD_SECONDS`, and short enough
/// that a clip of three frames or more visits three corners.
fn corner(index: usize, count: usize, fps: u32) -> Corner {
    let longest = (fps.max(1) * MAX_HOLD_SECONDS) as usize;
    let hold = count.div_ceil(3).clamp(1, longest);
    ROUTE[(index / hold) % ROUTE.len()]
}

/// The glyph scale and how many characters are shown.
fn fit(width: u32, height: u32, label: &str) -> Option<(u32, u32)> {
    let chars = u32::try_from(label.chars().count()).ok()?;
    if chars == 0 {
        return None;
    }
    let mut scale = (width.min(height) / (TEXT_SHARE * GLYPH)).max(1);
    // Text wider than 90% of the frame: smaller, down to scale 1, then cut.
    while scale > 1 && chars * GLYPH * scale > width * 9 / 10 {
        scale -= 1;
    }
    let shown = chars.min((width * 9 / 10) / (GLYPH * scale));
    (shown > 0).then_some((scale, shown))
}

fn draw_label(frame: &mut RgbImage, label: &str, place: LabelBox) {
    darken(frame, place);
    let scale = (place.height / (GLYPH + 4)).max(1);
    let pad = scale * 2;
    let shown = ((place.width - 2 * pad) / (GLYPH * scale)) as usize;
    for (n, c) in label.chars().take(shown).enumerate() {
        let x = place.x + pad + n as u32 * GLYPH * scale;
        draw_glyph(frame, x, place.y + pad, scale, glyph(c));
    }
}

fn darken(frame: &mut RgbImage, place: LabelBox) {
    for y in place.y..place.y + place.height {
        for x in place.x..place.x + place.width {
            if let Some(rgb) = frame.pixel(x, y) {
                let dim = rgb.map(|v| (u16::from(v) * BOX_KEEP_PERCENT / 100) as u8);
                frame.set_pixel(x, y, dim);
            }
        }
    }
}

/// The 8x8 mask for `c` (bit 0 is the leftmost pixel); '?' for characters
/// the basic and Latin-1 tables lack.
fn glyph(c: char) -> [u8; 8] {
    BASIC_FONTS
        .get(c)
        .or_else(|| LATIN_FONTS.get(c))
        .or_else(|| BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

fn draw_glyph(frame: &mut RgbImage, x: u32, y: u32, scale: u32, mask: [u8; 8]) {
    for (row, bits) in (0u32..).zip(mask) {
        for col in 0..GLYPH {
            if bits & (1 << col) == 0 {
                continue;
            }
            for dy in 0..scale {
                for dx in 0..scale {
                    frame.set_pixel(x + col * scale + dx, y + row * scale + dy, [255; 3]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_clip_visits_three_corners_and_a_long_one_moves_every_two_seconds() {
        let corners: Vec<Corner> = (0..3).map(|i| corner(i, 3, 24)).collect();
        assert_eq!(corners, ROUTE[..3]);
        // 10 s at 24 fps: a new corner every 48 frames.
        assert_eq!(corner(47, 240, 24), Corner::TopLeft);
        assert_eq!(corner(48, 240, 24), Corner::BottomRight);
        assert_eq!(corner(4 * 48, 240, 24), Corner::TopLeft);
    }

    #[test]
    fn the_text_is_sixteen_pixels_at_480p_and_shrinks_or_is_cut_when_wide() {
        assert_eq!(fit(854, 480, "AI · reel"), Some((2, 9)));
        assert_eq!(fit(1216, 704, "AI · reel"), Some((2, 9)));
        assert_eq!(
            fit(100, 100, "AI · reel · a long requester name"),
            Some((1, 11))
        );
        assert_eq!(fit(100, 100, ""), None);
        assert_eq!(label_box(6, 6, "AI", 0, 1, 24), None);
    }

    #[test]
    fn the_middle_dot_has_a_glyph() {
        assert_ne!(glyph('·'), glyph('?'));
        assert_ne!(glyph('·'), [0; 8]);
    }
}
