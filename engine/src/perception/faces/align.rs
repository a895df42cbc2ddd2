//! Alignment: the similarity transform (rotation, uniform scale,
//! translation) that best maps one point set onto another, and the face
//! chip the embedder sees: dlib's `get_face_chip_details` (the five
//! landmarks onto a fixed template, 25% padding, 150×150) and
//! `extract_image_chip` (bilinear sampling; a 2:1 pyramid first when the
//! chip is much smaller than the face).

use super::pyramid::round_half_up;

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    /// The least-squares similarity from `from` to `to` (Umeyama, 1991; in
    /// two dimensions the optimal rotation has a closed form).
    pub fn between<T: Copy + Into<f64>>(from: &[[T; 2]], to: &[[T; 2]]) -> Similarity {
        let n = from.len().min(to.len());
        if n == 0 {
            return Similarity {
                a: 1.0,
                b: 0.0,
                tx: 0.0,
                ty: 0.0,
            };
        }
        let f = |p: &[T; 2]| [p[0].into(), p[1].into()];
        let mean = |pts: &[[T; 2]]| {
            let (sx, sy) = pts[..n].iter().fold((0.0, 0.0), |(sx, sy), p| {
                let [x, y] = f(p);
                (sx + x, sy + y)
            });
            [sx / n as f64, sy / n as f64]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut dot, mut cross, mut spread) = (0.0, 0.0, 0.0);
        for (p, q) in from[..n].iter().zip(&to[..n]) {
            let [fx, fy] = f(p);
            let [tx, ty] = f(q);
            let (fx, fy, tx, ty) = (fx - mf[0], fy - mf[1], tx - mt[0], ty - mt[1]);
            dot += fx * tx + fy * ty;
            cross += fx * ty - fy * tx;
            spread += fx * fx + fy * fy;
        }
        let norm = dot.hypot(cross);
        let (cos, sin) = if norm > 0.0 {
            (dot / norm, cross / norm)
        } else {
            (1.0, 0.0)
        };
        let scale = if spread > 0.0 { norm / spread } else { 1.0 };
        let (a, b) = (scale * cos, scale * sin);
        Similarity {
            a,
            b,
            tx: mt[0] - (a * mf[0] - b * mf[1]),
            ty: mt[1] - (b * mf[0] + a * mf[1]),
        }
    }

    pub fn apply(&self, x: f64, y: f64) -> [f64; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The linear part as dlib's `matrix_cast<float>(get_m())`.
    pub fn matrix_f32(&self) -> [[f32; 2]; 2] {
        [
            [self.a as f32, -self.b as f32],
            [self.b as f32, self.a as f32],
        ]
    }

    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    pub fn angle(&self) -> f64 {
        self.b.atan2(self.a)
    }
}

/// dlib's double → integer point: each coordinate floor(v + 0.5).
pub fn round_point(p: [f64; 2]) -> [i64; 2] {
    [round_half_up(p[0]), round_half_up(p[1])]
}

/// dlib's 5-point template (in a unit face box), in the order of the
/// landmarks: left eye outer, inner, right eye outer, inner, nose.
const TEMPLATE: [[f64; 2]; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// Where a chip lies in the image: a rotated rectangle, as dlib's `chip_details`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChipPlacement {
    /// Centre and size of the rectangle, in image pixels.
    pub center: [f64; 2],
    pub width: f64,
    pub height: f64,
    pub angle: f64,
    pub size: usize,
}

impl ChipPlacement {
    /// dlib's `get_face_chip_details(landmarks, size, padding)` for 5 points.
    pub fn for_face(landmarks: &[[i64; 2]], size: usize, padding: f64) -> Option<ChipPlacement> {
        if landmarks.len() != TEMPLATE.len() {
            return None;
        }
        let from: Vec<[f64; 2]> = TEMPLATE
            .iter()
            .map(|p| {
                let q = |v: f64| (padding + v) / (2.0 * padding + 1.0) * size as f64;
                [q(p[0]), q(p[1])]
            })
            .collect();
        let to: Vec<[f64; 2]> = landmarks
            .iter()
            .map(|p| [p[0] as f64, p[1] as f64])
            .collect();
        let tform = Similarity::between(&from, &to);
        let scale = tform.scale();
        let half = size as f64 / 2.0;
        Some(ChipPlacement {
            center: tform.apply(half, half),
            width: size as f64 * scale,
            height: size as f64 * scale,
            angle: tform.angle(),
            size,
        })
    }

    /// Corners (tl, tr, bl, br) of the unrotated rectangle: dlib's
    /// `centered_drect`, whose width-w box spans w − 1.
    fn corners(&self) -> [[f64; 2]; 4] {
        let (hw, hh) = ((self.width - 1.0) / 2.0, (self.height - 1.0) / 2.0);
        let [cx, cy] = self.center;
        [
            [cx - hw, cy - hh],
            [cx + hw, cy - hh],
            [cx - hw, cy + hh],
            [cx + hw, cy + hh],
        ]
    }
}

/// A packed RGB image borrowed for sampling.
#[derive(Clone, Copy)]
pub struct ImageRef<'a> {
    pub rgb: &'a [u8],
    pub width: usize,
    pub height: usize,
}

/// Rotates `p` about `c` by `angle` (dlib's `rotate_point`).
fn rotate(c: [f64; 2], p: [f64; 2], angle: f64) -> [f64; 2] {
    let (s, k) = angle.sin_cos();
    let (dx, dy) = (p[0] - c[0], p[1] - c[1]);
    [k * dx - s * dy + c[0], s * dx + k * dy + c[1]]
}

/// Samples the chip: each chip pixel maps through the affine transform
/// taking the chip's tl, tr and bl corners onto the rotated rectangle's, and
/// is interpolated bilinearly (black outside the image, channels truncated
/// to integers as dlib does). Faces much larger than the chip are first
/// halved with dlib's 2:1 pyramid so the sampling does not alias.
pub fn extract_chip(image: ImageRef, chip: &ChipPlacement) -> Vec<u8> {
    let size = chip.size;
    let mut out = vec![0u8; size * size * 3];
    if size == 0 {
        return out;
    }
    // Choose the pyramid level as dlib does: halve while the halved
    // rectangle still has more pixels than the chip.
    let mut corners = chip.corners();
    let mut levels = 0;
    let mut rect = [corners[0], corners[3]];
    while rect_area(&pyramid2_rect_down(rect)) > (size * size) as f64 {
        rect = pyramid2_rect_down(rect);
        levels += 1;
    }
    let mut owned;
    let mut source = image;
    if levels > 0 {
        // dlib crops to the bounding box of the rotated rectangle (grown by a
        // margin that covers the filter) before building the pyramid.
        let (crop, origin) = crop_for_pyramid(image, chip, levels);
        owned = crop;
        let mut level_img = (owned.0.clone(), owned.1, owned.2);
        for _ in 0..levels {
            level_img = pyramid_down2(&level_img.0, level_img.1, level_img.2);
        }
        owned = level_img;
        source = ImageRef {
            rgb: &owned.0,
            width: owned.1,
            height: owned.2,
        };
        for c in corners.iter_mut() {
            let mut p = [c[0] - origin[0] as f64, c[1] - origin[1] as f64];
            for _ in 0..levels {
                p = pyramid2_point_down(p);
            }
            *c = p;
        }
    }
    let [tl, tr, bl, br] = corners;
    let center = [(tl[0] + br[0]) / 2.0, (tl[1] + br[1]) / 2.0];
    let to_tl = rotate(center, tl, chip.angle);
    let to_tr = rotate(center, tr, chip.angle);
    let to_bl = rotate(center, bl, chip.angle);
    let last = (size - 1).max(1) as f64;
    // Affine: chip (0,0) → tl, (last,0) → tr, (0,last) → bl.
    let ux = [(to_tr[0] - to_tl[0]) / last, (to_tr[1] - to_tl[1]) / last];
    let uy = [(to_bl[0] - to_tl[0]) / last, (to_bl[1] - to_tl[1]) / last];
    for r in 0..size {
        for c in 0..size {
            let x = to_tl[0] + ux[0] * c as f64 + uy[0] * r as f64;
            let y = to_tl[1] + ux[1] * c as f64 + uy[1] * r as f64;
            if let Some(px) = bilinear(source, x, y) {
                let o = (r * size + c) * 3;
                out[o..o + 3].copy_from_slice(&px);
            }
        }
    }
    out
}

/// dlib's `interpolate_bilinear`: none when a neighbour is outside.
fn bilinear(image: ImageRef, x: f64, y: f64) -> Option<[u8; 3]> {
    let (left, top) = (x.floor(), y.floor());
    if left < 0.0
        || top < 0.0
        || left + 1.0 >= image.width as f64
        || top + 1.0 >= image.height as f64
    {
        return None;
    }
    let (l, t) = (left as usize, top as usize);
    let (lr, tb) = (x - left, y - top);
    let at = |xx: usize, yy: usize, c: usize| f64::from(image.rgb[(yy * image.width + xx) * 3 + c]);
    let mut px = [0u8; 3];
    for (c, v) in px.iter_mut().enumerate() {
        let value = (1.0 - tb) * ((1.0 - lr) * at(l, t, c) + lr * at(l + 1, t, c))
            + tb * ((1.0 - lr) * at(l, t + 1, c) + lr * at(l + 1, t + 1, c));
        *v = value as u8;
    }
    Some(px)
}

fn rect_area(r: &[[f64; 2]; 2]) -> f64 {
    let w = r[1][0] - r[0][0] + 1.0;
    let h = r[1][1] - r[0][1] + 1.0;
    if w <= 0.0 || h <= 0.0 {
        0.0
    } else {
        w * h
    }
}

/// dlib's `pyramid_down<2>::point_down`.
fn pyramid2_point_down(p: [f64; 2]) -> [f64; 2] {
    [p[0] / 2.0 - 1.25, p[1] / 2.0 - 0.75]
}

fn pyramid2_rect_down(r: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [pyramid2_point_down(r[0]), pyramid2_point_down(r[1])]
}

/// The part of the image the pyramid needs, and its top-left corner.
fn crop_for_pyramid(
    image: ImageRef,
    chip: &ChipPlacement,
    levels: usize,
) -> ((Vec<u8>, usize, usize), [i64; 2]) {
    let mut grow = 2.0;
    for _ in 0..levels {
        grow = grow * 2.0 + 2.0;
    }
    let [tl, tr, bl, br] = chip.corners();
    let center = [(tl[0] + br[0]) / 2.0, (tl[1] + br[1]) / 2.0];
    let pts = [tl, tr, bl, br].map(|p| rotate(center, p, chip.angle));
    let min_x = pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min) - grow;
    let min_y = pts.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min) - grow;
    let max_x = pts.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max) + grow;
    let max_y = pts.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max) + grow;
    let left = (min_x.round() as i64).clamp(0, image.width as i64 - 1);
    let top = (min_y.round() as i64).clamp(0, image.height as i64 - 1);
    let right = (max_x.round() as i64).clamp(0, image.width as i64 - 1);
    let bottom = (max_y.round() as i64).clamp(0, image.height as i64 - 1);
    let (w, h) = (
        (right - left + 1).max(0) as usize,
        (bottom - top + 1).max(0) as usize,
    );
    let mut crop = vec![0u8; w * h * 3];
    for y in 0..h {
        let src = ((top as usize + y) * image.width + left as usize) * 3;
        crop[y * w * 3..(y + 1) * w * 3].copy_from_slice(&image.rgb[src..src + w * 3]);
    }
    ((crop, w, h), [left, top])
}

/// dlib's `pyramid_down<2>` on an RGB image: a 5-tap [1 4 6 4 1] filter
/// and every second pixel, output (w − 3) / 2 × (h − 3) / 2, truncated.
pub fn pyramid_down2(rgb: &[u8], width: usize, height: usize) -> (Vec<u8>, usize, usize) {
    if width <= 8 || height <= 8 {
        return (Vec::new(), 0, 0);
    }
    let (ow, oh) = ((width - 3) / 2, (height - 3) / 2);
    // Horizontal sums (×16), then vertical (×256), as dlib's uint16 passes.
    let mut horiz = vec![0u32; ow * height * 3];
    for y in 0..height {
        for x in 0..ow {
            let sx = 2 * x;
            for c in 0..3 {
                let at = |i: usize| u32::from(rgb[(y * width + sx + i) * 3 + c]);
                horiz[(y * ow + x) * 3 + c] = at(0) + 4 * at(1) + 6 * at(2) + 4 * at(3) + at(4);
            }
        }
    }
    let mut out = vec![0u8; ow * oh * 3];
    for y in 0..oh {
        let sy = 2 * y;
        for x in 0..ow {
            for c in 0..3 {
                let at = |i: usize| horiz[((sy + i) * ow + x) * 3 + c];
                let sum = at(0) + 4 * at(1) + 6 * at(2) + 4 * at(3) + at(4);
                out[(y * ow + x) * 3 + c] = (sum / 256) as u8;
            }
        }
    }
    (out, ow, oh)
}
