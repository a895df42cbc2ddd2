//! What the face tests share: the real models (converted by the setup step,
//! never downloaded by a test), the committed photographs, and the image
//! transformations the content tests apply.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::Device;
use reel_engine::perception::faces::{FaceLimits, FaceModels, PULL_COMMAND};
use reel_engine::RgbImage;

/// The converted model directory: REEL_TEST_FACE_MODELS, else where
/// `scripts/setup-face-models` puts it. Missing models fail the test.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REEL_TEST_FACE_MODELS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("REEL_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|p| PathBuf::from(p).join("reel")))
        .or_else(|| std::env::var_os("HOME").map(|p| PathBuf::from(p).join(".cache/reel")))
        .unwrap_or_else(|| PathBuf::from(".cache/reel"));
    cache.join("face-models")
}

pub fn models_with(limits: FaceLimits) -> FaceModels {
    let dir = model_dir();
    match FaceModels::load(&dir, &Device::Cpu, limits) {
        Ok(models) => models,
        Err(error) => panic!(
            "the real face models are needed and could not be loaded from {}: {error}\n\
             Run scripts/setup-face-models (it runs `{PULL_COMMAND} --to {}`), or point \
             REEL_TEST_FACE_MODELS at a converted directory.",
            dir.display(),
            dir.display()
        ),
    }
}

pub fn models() -> FaceModels {
    models_with(FaceLimits::default())
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces")
}

pub fn photo(name: &str) -> RgbImage {
    let path = fixtures().join("images").join(format!("{name}.png"));
    reel_media::read_image(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Two images side by side, top-aligned, cut to the shorter height (as
/// the reference script's `pair`).
pub fn side_by_side(a: &RgbImage, b: &RgbImage) -> RgbImage {
    let height = a.height.min(b.height);
    let mut out = RgbImage::new(a.width + b.width, height);
    for y in 0..height {
        for x in 0..a.width {
            out.set_pixel(x, y, a.pixel(x, y).unwrap_or([0; 3]));
        }
        for x in 0..b.width {
            out.set_pixel(a.width + x, y, b.pixel(x, y).unwrap_or([0; 3]));
        }
    }
    out
}

/// Every pixel repeated `k`×`k` (the reference script's `astronaut_x3`).
pub fn repeat_pixels(image: &RgbImage, k: u32) -> RgbImage {
    let mut out = RgbImage::new(image.width * k, image.height * k);
    for y in 0..out.height {
        for x in 0..out.width {
            out.set_pixel(x, y, image.pixel(x / k, y / k).unwrap_or([0; 3]));
        }
    }
    out
}

pub fn crop(image: &RgbImage, left: u32, top: u32, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            out.set_pixel(x, y, image.pixel(left + x, top + y).unwrap_or([0; 3]));
        }
    }
    out
}

/// Bilinear resampling to `factor` times the size.
pub fn scale(image: &RgbImage, factor: f64) -> RgbImage {
    let (w, h) = (
        ((image.width as f64 * factor).round() as u32).max(1),
        ((image.height as f64 * factor).round() as u32).max(1),
    );
    let mut out = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let sx = (x as f64 + 0.5) / factor - 0.5;
            let sy = (y as f64 + 0.5) / factor - 0.5;
            out.set_pixel(x, y, sample(image, sx, sy));
        }
    }
    out
}

/// Rotation by `degrees` about the centre (clockwise on screen), black outside.
pub fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (image.width as f64 / 2.0, image.height as f64 / 2.0);
    let mut out = RgbImage::new(image.width, image.height);
    for y in 0..image.height {
        for x in 0..image.width {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            // The inverse rotation finds the source pixel.
            let sx = c * dx + s * dy + cx;
            let sy = -s * dx + c * dy + cy;
            out.set_pixel(x, y, sample(image, sx, sy));
        }
    }
    out
}

/// Each channel `value * gain + offset`, clamped.
pub fn brightness(image: &RgbImage, gain: f32, offset: f32) -> RgbImage {
    let mut out = image.clone();
    for v in &mut out.data {
        *v = (f32::from(*v) * gain + offset).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// A 5×5 box blur, `passes` times.
pub fn blur(image: &RgbImage, passes: u32) -> RgbImage {
    let mut cur = image.clone();
    for _ in 0..passes {
        let mut out = cur.clone();
        for y in 0..cur.height {
            for x in 0..cur.width {
                let mut sum = [0u32; 3];
                let mut n = 0;
                for yy in y.saturating_sub(2)..(y + 3).min(cur.height) {
                    for xx in x.saturating_sub(2)..(x + 3).min(cur.width) {
                        let p = cur.pixel(xx, yy).unwrap_or([0; 3]);
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                        n += 1;
                    }
                }
                out.set_pixel(x, y, sum.map(|s| (s / n) as u8));
            }
        }
        cur = out;
    }
    cur
}

fn sample(image: &RgbImage, x: f64, y: f64) -> [u8; 3] {
    if x < 0.0 || y < 0.0 || x > (image.width - 1) as f64 || y > (image.height - 1) as f64 {
        return [0; 3];
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let p = |xx, yy| image.pixel(xx, yy).unwrap_or([0; 3]).map(f64::from);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    let mut out = [0u8; 3];
    for i in 0..3 {
        let v = (1.0 - fy) * ((1.0 - fx) * a[i] + fx * b[i]) + fy * ((1.0 - fx) * c[i] + fx * d[i]);
        out[i] = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}
