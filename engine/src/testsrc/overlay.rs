//! Where the banner, the prompt and the frame counter go, and drawing them.
//!
//! Rows are handed out by priority: the banner (so every frame says it is a
//! test pattern), then the frame counter, then the prompt. Whatever does not
//! fit a small frame is clipped or left out.

use super::text::{self, GLYPH_SIZE};
use crate::renderer::RgbImage;

pub const BANNER_TEXT: &str = "TEST PATTERN - not a model";
pub const TEXT_COLOUR: [u8; 3] = [255, 255, 255];
/// Dark strip behind each text line so it stays legible over the pattern.
pub const TEXT_BACKGROUND: [u8; 3] = [16, 16, 16];
const MAX_PROMPT_LINES: usize = 4;

/// Top-left corner and integer scale of a line of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextPlacement {
    pub x: u32,
    pub y: u32,
    pub scale: u32,
}

/// Where the first line of the banner starts in a `width` x `height` frame.
pub fn banner_placement(width: u32, height: u32) -> TextPlacement {
    let metrics = Metrics::new(width, height);
    TextPlacement {
        x: metrics.margin,
        y: metrics.margin,
        scale: metrics.scale,
    }
}

#[derive(Clone, Copy)]
struct Metrics {
    scale: u32,
    margin: u32,
    line_height: u32,
    columns: usize,
    rows: usize,
}

impl Metrics {
    fn new(width: u32, height: u32) -> Self {
        // One glyph pixel per ~240 px of the shorter (16:9-normalised) side.
        let scale = (width.min(height.saturating_mul(16) / 9) / 240).clamp(1, 4);
        let margin = 2 * scale;
        let line_height = (GLYPH_SIZE + 2) * scale;
        let columns = (width.saturating_sub(2 * margin) / (GLYPH_SIZE * scale)) as usize;
        let rows = (height.saturating_sub(2 * margin) / line_height) as usize;
        Metrics {
            scale,
            margin,
            line_height,
            columns,
            rows,
        }
    }
}

/// Text layout for one clip; only the counter changes between frames.
pub(crate) struct Overlay {
    metrics: Metrics,
    height: u32,
    banner: Vec<String>,
    prompt: Vec<String>,
    prompt_top: u32,
    show_counter: bool,
}

impl Overlay {
    pub(crate) fn new(width: u32, height: u32, prompt: &str) -> Self {
        let metrics = Metrics::new(width, height);
        let columns = metrics.columns.max(1);
        // At least one banner line even when it has to be clipped.
        let mut banner = text::wrap(BANNER_TEXT, columns);
        banner.truncate(metrics.rows.max(1));
        let mut rows_left = metrics.rows.saturating_sub(banner.len());
        let show_counter = rows_left > 0;
        rows_left = rows_left.saturating_sub(1);
        let prompt_lines = text::wrap(&text::printable(prompt), columns);
        let prompt = text::truncate_lines(prompt_lines, rows_left.min(MAX_PROMPT_LINES), columns);
        // Centre the prompt in the rows between banner and counter.
        let free_rows = rows_left.saturating_sub(prompt.len());
        let prompt_top = metrics.margin
            + (banner.len() + free_rows / 2) as u32 * metrics.line_height
            + metrics.scale;
        Overlay {
            metrics,
            height,
            banner,
            prompt,
            prompt_top,
            show_counter,
        }
    }

    pub(crate) fn draw(&self, image: &mut RgbImage, frame_index: u32, frame_count: u32) {
        let m = self.metrics;
        for (row, line) in (0u32..).zip(&self.banner) {
            self.draw_strip_line(image, m.margin + row * m.line_height, line);
        }
        for (row, line) in (0u32..).zip(&self.prompt) {
            self.draw_strip_line(image, self.prompt_top + row * m.line_height, line);
        }
        if self.show_counter {
            let counter = format!("frame {}/{}", frame_index + 1, frame_count);
            let y = self.height.saturating_sub(m.margin + GLYPH_SIZE * m.scale);
            self.draw_strip_line(image, y, &counter);
        }
    }

    fn draw_strip_line(&self, image: &mut RgbImage, y: u32, line: &str) {
        let m = self.metrics;
        let chars = line.chars().count() as u32;
        let strip_left = m.margin.saturating_sub(m.scale);
        let strip_right = m.margin + chars * GLYPH_SIZE * m.scale + m.scale;
        let strip_top = y.saturating_sub(m.scale);
        let strip_bottom = y + (GLYPH_SIZE + 1) * m.scale;
        for py in strip_top..strip_bottom.min(image.height) {
            for px in strip_left..strip_right.min(image.width) {
                image.set_pixel(px, py, TEXT_BACKGROUND);
            }
        }
        text::draw_line(image, m.margin, y, m.scale, line, TEXT_COLOUR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_frames_fit_banner_on_one_line_with_prompt_and_counter() {
        let overlay = Overlay::new(640, 360, "a cat surfing a wave");
        assert_eq!(overlay.banner, vec![BANNER_TEXT.to_string()]);
        assert_eq!(overlay.prompt, vec!["a cat surfing a wave".to_string()]);
        assert!(overlay.show_counter);
    }

    #[test]
    fn tiny_frames_keep_one_clipped_banner_line() {
        let overlay = Overlay::new(16, 16, "anything");
        assert_eq!(overlay.banner.len(), 1);
        assert!(overlay.prompt.is_empty());
        assert!(!overlay.show_counter);
    }
}
