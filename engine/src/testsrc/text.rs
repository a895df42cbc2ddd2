//! Bitmap text from font8x8's 8x8 ASCII glyphs, scaled up by whole pixels.

use font8x8::{UnicodeFonts, BASIC_FONTS};

use crate::renderer::RgbImage;

pub(crate) const GLYPH_SIZE: u32 = 8;

/// The 8x8 mask drawn for `c`: row-major, bit 0 of each row is the leftmost
/// pixel. Characters the basic font lacks are drawn as '?'.
pub fn glyph_mask(c: char) -> [u8; 8] {
    let printable = c == ' ' || c.is_ascii_graphic();
    let shown = if printable { c } else { '?' };
    BASIC_FONTS.get(shown).unwrap_or([0; 8])
}

/// Replaces what the font cannot draw with '?' and any whitespace with a
/// space, so wrapping and width maths count one cell per char.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_whitespace() => ' ',
            c if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect()
}

/// Draws one line of text with its top-left corner at (x, y); pixels past
/// the image edges are dropped.
pub(crate) fn draw_line(
    image: &mut RgbImage,
    x: u32,
    y: u32,
    scale: u32,
    text: &str,
    colour: [u8; 3],
) {
    let cell = GLYPH_SIZE * scale;
    for (index, c) in text.chars().enumerate() {
        let Some(left) = u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(cell))
            .and_then(|dx| dx.checked_add(x))
        else {
            return;
        };
        if left >= image.width {
            return;
        }
        draw_glyph(image, left, y, scale, glyph_mask(c), colour);
    }
}

fn draw_glyph(image: &mut RgbImage, x: u32, y: u32, scale: u32, mask: [u8; 8], colour: [u8; 3]) {
    for (row, bits) in (0u32..).zip(mask) {
        for col in 0..GLYPH_SIZE {
            if bits & (1 << col) == 0 {
                continue;
            }
            for dy in 0..scale {
                for dx in 0..scale {
                    image.set_pixel(x + col * scale + dx, y + row * scale + dy, colour);
                }
            }
        }
    }
}

/// Greedy word wrap into lines of at most `columns` chars; words longer than
/// a line are split. `text` must already be [`printable`].
pub(crate) fn wrap(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word: Vec<char> = word.chars().collect();
        for piece in word.chunks(columns) {
            let line_len = line.chars().count();
            let fits = if line_len == 0 {
                piece.len() <= columns
            } else {
                line_len + 1 + piece.len() <= columns
            };
            if !fits {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.extend(piece);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Keeps at most `max_lines` lines, ending the last kept one with "..." when
/// something was cut.
pub(crate) fn truncate_lines(
    mut lines: Vec<String>,
    max_lines: usize,
    columns: usize,
) -> Vec<String> {
    if lines.len() <= max_lines {
        return lines;
    }
    lines.truncate(max_lines);
    if let Some(last) = lines.last_mut() {
        let keep = columns.saturating_sub(3);
        let mut shortened: String = last.chars().take(keep).collect();
        shortened.push_str("...");
        *last = shortened.chars().take(columns).collect();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_on_words_and_splits_long_words() {
        assert_eq!(wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
        assert_eq!(wrap("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(wrap("  ", 3), Vec::<String>::new());
    }

    #[test]
    fn truncation_marks_the_cut() {
        let lines = vec!["aaaa".to_string(), "bbbb".to_string(), "cccc".to_string()];
        assert_eq!(truncate_lines(lines.clone(), 2, 4), vec!["aaaa", "b..."]);
        assert_eq!(truncate_lines(lines, 3, 4).len(), 3);
    }

    #[test]
    fn unknown_chars_become_question_marks() {
        assert_eq!(printable("é\tx"), "? x");
        assert_eq!(glyph_mask('é'), glyph_mask('?'));
    }
}
