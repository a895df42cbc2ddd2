//! The moving picture under the text: scrolling colour bars over a vertical
//! gradient, a bouncing square, and the reference image as a corner inset.

use super::look::Look;
use crate::renderer::RgbImage;

const BAR_COUNT: u32 = 8;

pub(crate) fn draw_background(image: &mut RgbImage, look: &Look, frame_index: u32) {
    let width = image.width;
    let height = image.height;
    if width == 0 || height == 0 {
        return;
    }
    let bar_colours: Vec<[u8; 3]> = (0..BAR_COUNT)
        .map(|bar| hsv_to_rgb(look.hue + bar as f32 * (360.0 / BAR_COUNT as f32), 0.8, 1.0))
        .collect();
    let step = look.scroll_speed * (width / 64).max(1);
    let offset = (u64::from(frame_index) * u64::from(step) % u64::from(width)) as u32;
    let row: Vec<u8> = (0..width)
        .flat_map(|x| {
            let bar = (x + offset) % width * BAR_COUNT / width;
            bar_colours[bar as usize]
        })
        .collect();
    let row_bytes = row.len();
    for (y, line) in (0u32..).zip(image.data.chunks_exact_mut(row_bytes)) {
        // Brightness falls from 100% at the top to ~40% at the bottom.
        let brightness = 256 - y * 150 / height;
        for (dst, src) in line.iter_mut().zip(&row) {
            *dst = ((u32::from(*src) * brightness) >> 8) as u8;
        }
    }
}

pub(crate) fn draw_square(image: &mut RgbImage, look: &Look, frame_index: u32) {
    let (width, height) = (image.width, image.height);
    let size = (width.min(height) / 5).max(4);
    let colour = hsv_to_rgb(look.hue + 180.0, 0.25, 1.0);
    let x = bounce(
        look.square_phase.0,
        frame_index,
        (width / 64).max(1),
        width.saturating_sub(size),
    );
    let y = bounce(
        look.square_phase.1,
        frame_index,
        (height / 48).max(1),
        height.saturating_sub(size),
    );
    for py in y..y + size {
        for px in x..x + size {
            image.set_pixel(px, py, colour);
        }
    }
}

/// Position on a back-and-forth path over `0..=travel`.
fn bounce(phase: f32, frame_index: u32, speed: u32, travel: u32) -> u32 {
    if travel == 0 {
        return 0;
    }
    let period = 2 * u64::from(travel);
    let start = (phase * period as f32) as u64;
    let t = (start + u64::from(frame_index) * u64::from(speed)) % period;
    let pos = if t <= u64::from(travel) {
        t
    } else {
        period - t
    };
    pos as u32
}

/// The reference image, nearest-neighbour scaled to a fifth of the frame's
/// height (at most a third of its width), in the bottom-right corner.
pub(crate) fn draw_inset(image: &mut RgbImage, reference: &RgbImage) {
    if reference.width == 0 || reference.height == 0 {
        return;
    }
    let (ref_w, ref_h) = (u64::from(reference.width), u64::from(reference.height));
    let mut inset_h = u64::from((image.height / 5).max(4));
    let mut inset_w = (ref_w * inset_h / ref_h).max(1);
    let max_w = u64::from((image.width / 3).max(1));
    if inset_w > max_w {
        inset_w = max_w;
        inset_h = (ref_h * inset_w / ref_w).max(1);
    }
    let margin = u64::from((image.height / 50).max(1));
    let left = u64::from(image.width).saturating_sub(inset_w + margin);
    let top = u64::from(image.height).saturating_sub(inset_h + margin);
    for dy in 0..inset_h {
        let src_y = (dy * ref_h / inset_h) as u32;
        for dx in 0..inset_w {
            let src_x = (dx * ref_w / inset_w) as u32;
            let rgb = reference.pixel(src_x, src_y).unwrap_or([0, 0, 0]);
            image.set_pixel((left + dx) as u32, (top + dy) as u32, rgb);
        }
    }
}

fn hsv_to_rgb(hue_degrees: f32, saturation: f32, value: f32) -> [u8; 3] {
    let h = hue_degrees.rem_euclid(360.0) / 60.0;
    let c = value * saturation;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let m = value - c;
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r, g, b].map(|v| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_stays_in_range_and_turns_around() {
        let positions: Vec<u32> = (0..12).map(|f| bounce(0.0, f, 1, 5)).collect();
        assert_eq!(positions, vec![0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1]);
    }

    #[test]
    fn primary_hues() {
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv_to_rgb(120.0, 1.0, 1.0), [0, 255, 0]);
        assert_eq!(hsv_to_rgb(600.0, 1.0, 1.0), [0, 0, 255]);
    }
}
