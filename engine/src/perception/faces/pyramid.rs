//! The detector's input: dlib's tiled image pyramid. Every level (each 5/6
//! of the one before, down to 5 rows) is packed into one image so a single
//! pass of the CNN scans all scales; detections found in a level are mapped
//! back to the original image. Layout, resampling and coordinate mapping
//! follow dlib's `input_rgb_image_pyramid<pyramid_down<6>>` exactly, since
//! they decide which windows the detector sees.

/// An integer rectangle with inclusive corners, as dlib's `rectangle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRect {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl IntRect {
    pub fn sized(width: i64, height: i64) -> Self {
        IntRect {
            left: 0,
            top: 0,
            right: width - 1,
            bottom: height - 1,
        }
    }
    pub fn width(&self) -> i64 {
        (self.right - self.left + 1).max(0)
    }
    pub fn height(&self) -> i64 {
        (self.bottom - self.top + 1).max(0)
    }
    pub fn area(&self) -> i64 {
        self.width() * self.height()
    }
    pub fn is_empty(&self) -> bool {
        self.left > self.right || self.top > self.bottom
    }
    fn translated(&self, dx: i64, dy: i64) -> Self {
        IntRect {
            left: self.left + dx,
            top: self.top + dy,
            right: self.right + dx,
            bottom: self.bottom + dy,
        }
    }
    pub fn intersect(&self, other: &IntRect) -> IntRect {
        IntRect {
            left: self.left.max(other.left),
            top: self.top.max(other.top),
            right: self.right.min(other.right),
            bottom: self.bottom.min(other.bottom),
        }
    }
    /// The smallest rectangle holding both.
    pub fn union(&self, other: &IntRect) -> IntRect {
        IntRect {
            left: self.left.min(other.left),
            top: self.top.min(other.top),
            right: self.right.max(other.right),
            bottom: self.bottom.max(other.bottom),
        }
    }
    fn contains(&self, x: i64, y: i64) -> bool {
        self.left <= x && x <= self.right && self.top <= y && y <= self.bottom
    }
    /// dlib's `drectangle` → `rectangle`: each side rounded half away from zero.
    pub fn round(left: f64, top: f64, right: f64, bottom: f64) -> Self {
        IntRect {
            left: left.round() as i64,
            top: top.round() as i64,
            right: right.round() as i64,
            bottom: bottom.round() as i64,
        }
    }
}

/// Where each pyramid level sits in the tiled image.
#[derive(Clone, Debug, PartialEq)]
pub struct PyramidLayout {
    /// Level 0 is the original image.
    pub levels: Vec<IntRect>,
    pub rows: usize,
    pub cols: usize,
    /// Levels shrink by `(rate - 1) / rate`.
    pub rate: u32,
}

/// Levels stop below this many rows (dlib's `min_height`).
const MIN_LEVEL_ROWS: i64 = 5;

impl PyramidLayout {
    /// As dlib's `compute_tiled_image_pyramid_details`.
    pub fn new(rows: usize, cols: usize, rate: u32, padding: usize, outer_padding: usize) -> Self {
        let (padding, outer) = (padding as i64, outer_padding as i64);
        let (mut nr, mut nc) = (rows as i64, cols as i64);
        if nr * nc == 0 {
            return PyramidLayout {
                levels: Vec::new(),
                rows: 0,
                cols: 0,
                rate,
            };
        }
        let shrink = (f64::from(rate) - 1.0) / f64::from(rate);
        let mut rects = vec![IntRect::sized(nc, nr)];
        loop {
            nr = (shrink * nr as f64).floor() as i64;
            nc = (shrink * nc as f64).floor() as i64;
            if nr * nc == 0 || nr < MIN_LEVEL_ROWS {
                break;
            }
            rects.push(IntRect::sized(nc, nr));
        }
        let first = rects[0];
        let total_height = rects.iter().map(|r| r.height() + padding).sum::<i64>() - 2 * padding;
        // The first column runs down until the next level fits beside the
        // previous one and the column holds at least half the height.
        let mut height = 0;
        let mut prev_width = 0;
        for r in &rects {
            if r.width() <= first.width() - prev_width - padding
                && (height - first.height()) * 2 >= total_height - first.height()
            {
                break;
            }
            height += r.height() + padding;
            prev_width = r.width();
        }
        height -= padding;
        let width = first.width();
        let out_rows = height + outer * 2;
        let out_cols = width + outer * 2;
        let mut y = outer;
        let mut i = 0;
        while y < height + outer && i < rects.len() {
            rects[i] = rects[i].translated(outer, y);
            y += rects[i].height() + padding;
            i += 1;
        }
        y -= padding;
        // The rest climb back up a second column, right-aligned.
        while i < rects.len() {
            let (x1, y1) = (outer + width - 1, y - 1);
            let rect = IntRect {
                left: x1 - (rects[i].width() - 1),
                top: y1 - (rects[i].height() - 1),
                right: x1,
                bottom: y1,
            };
            if !first.intersect(&rect).is_empty() {
                break;
            }
            rects[i] = rect;
            y -= rects[i].height() + padding;
            i += 1;
        }
        rects.truncate(i);
        PyramidLayout {
            levels: rects,
            rows: out_rows as usize,
            cols: out_cols as usize,
            rate,
        }
    }

    /// The tiled image, channel-major (3, rows, cols): the image normalised
    /// as `(value - mean) / 256` in level 0, each further level resampled
    /// from the one before (dlib's bilinear `resize_image` on floats).
    pub fn build(&self, rgb: &[u8], width: usize, mean_rgb: [f32; 3]) -> Vec<f32> {
        let plane = self.rows * self.cols;
        let mut data = vec![0f32; 3 * plane];
        let Some(first) = self.levels.first() else {
            return data;
        };
        for (channel, mean) in mean_rgb.iter().enumerate() {
            let out = &mut data[channel * plane..(channel + 1) * plane];
            for y in 0..first.height() as usize {
                let row = (first.top as usize + y) * self.cols + first.left as usize;
                for x in 0..first.width() as usize {
                    let value = f32::from(rgb[(y * width + x) * 3 + channel]);
                    out[row + x] = (value - mean) / 256.0;
                }
            }
            for pair in self.levels.windows(2) {
                resize_within(out, self.cols, &pair[0], &pair[1]);
            }
        }
        data
    }

    /// A point of the tiled image back in the original image
    /// (dlib's `tiled_pyramid_to_image` for rectangles).
    pub fn to_image(&self, left: f64, top: f64, right: f64, bottom: f64) -> [f64; 4] {
        let (cx, cy) = (((left + right) / 2.0), ((top + bottom) / 2.0));
        let level = self.nearest_level(round_half_up(cx), round_half_up(cy));
        let origin = self.levels[level];
        let up = |v: f64, o: i64| {
            let mut v = v - o as f64;
            let ratio = f64::from(self.rate) / (f64::from(self.rate) - 1.0);
            for _ in 0..level {
                v = v * ratio + 0.3;
            }
            v
        };
        [
            up(left, origin.left),
            up(top, origin.top),
            up(right, origin.left),
            up(bottom, origin.top),
        ]
    }

    fn nearest_level(&self, x: i64, y: i64) -> usize {
        let mut best = (0, f64::INFINITY);
        for (i, r) in self.levels.iter().enumerate() {
            if r.contains(x, y) {
                return i;
            }
            let nx = x.clamp(r.left, r.right);
            let ny = y.clamp(r.top, r.bottom);
            let dist = (((nx - x).pow(2) + (ny - y).pow(2)) as f64).sqrt();
            if dist < best.1 {
                best = (i, dist);
            }
        }
        best.0
    }
}

/// dlib's double → integer point conversion: floor(v + 0.5).
pub fn round_half_up(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// Corner-aligned bilinear resampling of `src` into `dst`, both regions of
/// one plane with `stride` columns (dlib's float `resize_image`).
fn resize_within(plane: &mut [f32], stride: usize, src: &IntRect, dst: &IntRect) {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (dw, dh) = (dst.width() as usize, dst.height() as usize);
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return;
    }
    let x_scale = (sw - 1) as f64 / (dw.max(2) - 1) as f64;
    let y_scale = (sh - 1) as f64 / (dh.max(2) - 1) as f64;
    let at = |x: usize, y: usize| (src.top as usize + y) * stride + src.left as usize + x;
    let mut row = vec![0f32; dw];
    for r in 0..dh {
        let y = r as f64 * y_scale;
        let top = y.floor() as usize;
        let bottom = (top + 1).min(sh - 1);
        let tb = (y - top as f64) as f32;
        for (c, out) in row.iter_mut().enumerate() {
            let x = c as f64 * x_scale;
            let left = x.floor() as usize;
            let right = (left + 1).min(sw - 1);
            let lr = (x - left as f64) as f32;
            let (tl, tr) = (plane[at(left, top)], plane[at(right, top)]);
            let (bl, br) = (plane[at(left, bottom)], plane[at(right, bottom)]);
            *out = (1.0 - tb) * ((1.0 - lr) * tl + lr * tr) + tb * ((1.0 - lr) * bl + lr * br);
        }
        let start = (dst.top as usize + r) * stride + dst.left as usize;
        plane[start..start + dw].copy_from_slice(&row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_shrink_by_five_sixths_and_do_not_overlap() {
        let layout = PyramidLayout::new(512, 512, 6, 10, 11);
        assert_eq!(layout.levels[1].width(), 426);
        assert_eq!(layout.levels[2].width(), 355);
        for (i, a) in layout.levels.iter().enumerate() {
            assert!(a.right < layout.cols as i64 && a.bottom < layout.rows as i64);
            for b in &layout.levels[i + 1..] {
                assert!(a.intersect(b).is_empty(), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn a_point_maps_back_through_its_level() {
        let layout = PyramidLayout::new(300, 400, 6, 10, 11);
        let l1 = layout.levels[1];
        // The top-left of level 1 is the image's (0.3, 0.3).
        let [x, y, ..] = layout.to_image(
            l1.left as f64,
            l1.top as f64,
            l1.left as f64 + 2.0,
            l1.top as f64 + 2.0,
        );
        assert!((x - 0.3).abs() < 1e-9 && (y - 0.3).abs() < 1e-9, "{x} {y}");
    }

    #[test]
    fn an_empty_image_has_no_levels() {
        assert!(PyramidLayout::new(0, 10, 6, 10, 11).levels.is_empty());
    }
}
