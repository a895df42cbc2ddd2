//! Faces: find them, place five landmarks, embed them. dlib's models from
//! the `face_recognition_models` package (CC0), ported to candle: the MMOD
//! CNN detector ([`detector`]), the 5-point regression-tree landmarks
//! ([`landmarks`]), the landmark alignment ([`align`]) and the 128-d ResNet
//! embedder ([`embedder`]). [`FaceModels`] runs the three; the consent
//! registry sees only the [`FaceAnalyzer`] trait and the [`checks`].

pub mod align;
pub mod checks;
pub mod convert;
pub mod detector;
mod dlib_format;
mod dlib_net;
pub mod embedder;
pub mod landmarks;
pub mod pyramid;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::RgbImage;
use align::{extract_chip, ChipPlacement, ImageRef};
use detector::Detector;
use embedder::Embedder;
use landmarks::ShapePredictor;
use pyramid::IntRect;

pub use checks::{
    pose_of, same_person, sharpest_frontal, single_consistent_face, ConsistencyPolicy, FaceCheck,
    FaceVerdict, FrameEvidence, FramePick, Pose, SamePerson, SamePersonVerdict,
};

/// Files of a converted model directory (`reel pull face-models`).
pub const DETECTOR_WEIGHTS: &str = "detector.safetensors";
pub const DETECTOR_CONFIG: &str = "detector.json";
pub const LANDMARK_WEIGHTS: &str = "landmarks.safetensors";
pub const EMBEDDER_WEIGHTS: &str = "embedder.safetensors";
pub const EMBEDDER_CONFIG: &str = "embedder.json";
/// What the directory was made from (package, version, checksums).
pub const SOURCE_FILE: &str = "source.json";

/// The command that fills a model directory.
pub const PULL_COMMAND: &str = "reel pull face-models";

/// The largest image [`FaceModels::analyze`] accepts, in pixels (4096²:
/// what `reel_media::read_image` decodes). Larger input is refused before
/// anything is allocated for it.
pub const MAX_IMAGE_PIXELS: u64 = 4096 * 4096;

/// Chip size and padding of dlib's `compute_face_descriptor`.
const CHIP_SIZE: usize = 150;
const CHIP_PADDING: f64 = 0.25;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(
        "no face models in {dir} ({missing} is missing): run `{PULL_COMMAND}` and set \
         perception.face_model_dir to the directory it prints"
    )]
    MissingModels { dir: String, missing: String },
    #[error("the face model file {path} is unusable: {reason}; run `{PULL_COMMAND}` again")]
    BadWeights { path: String, reason: String },
    #[error(
        "the image is {width}×{height}; faces are looked for in images of at most {max} pixels"
    )]
    ImageTooLarge { width: u32, height: u32, max: u64 },
    #[error("the image is empty ({width}×{height})")]
    EmptyImage { width: u32, height: u32 },
    #[error("the image's pixel buffer does not match its size ({width}×{height})")]
    InconsistentImage { width: u32, height: u32 },
    #[error("no frames to check")]
    NoFrames,
    #[error("face model: {0}")]
    Model(#[from] candle_core::Error),
}

/// A face box in image pixels; `right` and `bottom` are inclusive (dlib's).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl FaceBox {
    pub fn width(&self) -> i64 {
        self.right - self.left + 1
    }
    pub fn height(&self) -> i64 {
        self.bottom - self.top + 1
    }
}

/// One face: where it is, how sure the detector is, and who it looks like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub bbox: FaceBox,
    /// Five points in image pixels: the outer and inner corners of the eye
    /// on the image's right, of the eye on its left, and the nose base.
    pub landmarks: Vec<[f32; 2]>,
    /// The detector's score; above 0 is a face, around 1 a clear one.
    pub score: f32,
    pub embedding: Vec<f32>,
}

/// What the consent registry needs from a face model; its tests plug in
/// deterministic stand-ins.
pub trait FaceAnalyzer: Send + Sync {
    /// Every face in the image, strongest first.
    fn analyze(&self, image: &RgbImage) -> Result<Vec<Face>, FaceError>;
    /// Names the models, for the evidence a consent record keeps.
    fn model_version(&self) -> String;
}

/// Cosine similarity of two embeddings (0 when either is all zeros or the
/// lengths differ).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// Limits on the work one image may cause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceLimits {
    /// Larger images are refused.
    pub max_pixels: u64,
    /// The detector scans a copy scaled so its longer side is at most this
    /// (landmarks and embeddings still use the full image). dlib scans the
    /// full image; the two agree for images up to this size.
    pub detect_max_side: u32,
}

impl Default for FaceLimits {
    fn default() -> Self {
        FaceLimits {
            max_pixels: MAX_IMAGE_PIXELS,
            detect_max_side: 1280,
        }
    }
}

/// The three models, loaded from a converted directory.
pub struct FaceModels {
    detector: Detector,
    landmarks: ShapePredictor,
    embedder: Embedder,
    device: Device,
    limits: FaceLimits,
    version: String,
}

impl FaceModels {
    pub fn load(dir: &Path, device: &Device, limits: FaceLimits) -> Result<Self, FaceError> {
        let file = |name: &str| -> Result<PathBuf, FaceError> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(FaceError::MissingModels {
                    dir: dir.display().to_string(),
                    missing: name.to_string(),
                })
            }
        };
        let detector_cfg: detector::Config = read_json(&file(DETECTOR_CONFIG)?)?;
        let embedder_cfg: embedder::Config = read_json(&file(EMBEDDER_CONFIG)?)?;
        let weights = |path: PathBuf| -> Result<VarBuilder<'static>, FaceError> {
            // SAFETY: the files are only read; a converted directory is not
            // rewritten in place (pull writes a new one and renames it).
            unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, device) }.map_err(
                |e| FaceError::BadWeights {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                },
            )
        };
        let detector_path = file(DETECTOR_WEIGHTS)?;
        let detector =
            Detector::new(&detector_cfg, weights(detector_path.clone())?).map_err(|e| {
                FaceError::BadWeights {
                    path: detector_path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        let embedder_path = file(EMBEDDER_WEIGHTS)?;
        let embedder =
            Embedder::new(&embedder_cfg, weights(embedder_path.clone())?).map_err(|e| {
                FaceError::BadWeights {
                    path: embedder_path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        let landmarks = ShapePredictor::load(&file(LANDMARK_WEIGHTS)?)?;
        let version = std::fs::read_to_string(dir.join(SOURCE_FILE))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| {
                v.get("model_version")
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "dlib mmod + 5-point + resnet v1 (unknown source)".to_string());
        Ok(FaceModels {
            detector,
            landmarks,
            embedder,
            device: device.clone(),
            limits,
            version,
        })
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Boxes and scores only, strongest first (detector scale applied).
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<(IntRect, f32)>, FaceError> {
        check_image(image, &self.limits)?;
        let (w, h) = (image.width as usize, image.height as usize);
        let longer = image.width.max(image.height);
        if longer <= self.limits.detect_max_side {
            let found = self.detector.detect(&image.data, w, h)?;
            return Ok(found.into_iter().map(|d| (d.rect, d.score)).collect());
        }
        let scale = f64::from(self.limits.detect_max_side) / f64::from(longer);
        let small = downscale(image, scale);
        let found =
            self.detector
                .detect(&small.data, small.width as usize, small.height as usize)?;
        // Back to full-size pixels through the same scale.
        let back = |v: i64| (v as f64 / scale).round() as i64;
        Ok(found
            .into_iter()
            .map(|d| {
                let r = d.rect;
                let rect = IntRect {
                    left: back(r.left),
                    top: back(r.top),
                    right: back(r.right),
                    bottom: back(r.bottom),
                };
                (rect, d.score)
            })
            .collect())
    }

    /// The five landmarks of the face in `rect` (whole pixels).
    pub fn landmarks(&self, image: &RgbImage, rect: &IntRect) -> Vec<[i64; 2]> {
        let (w, h) = (image.width as usize, image.height as usize);
        self.landmarks.predict(&image.data, w, h, rect)
    }

    /// The aligned 150×150 chips (packed RGB) for landmarks, as the
    /// embedder sees them.
    pub fn chip(&self, image: &RgbImage, landmarks: &[[i64; 2]]) -> Option<Vec<u8>> {
        let placement = ChipPlacement::for_face(landmarks, CHIP_SIZE, CHIP_PADDING)?;
        Some(extract_chip(image_ref(image), &placement))
    }

    /// Embeddings for aligned chips, one row each.
    pub fn embed_chips(&self, chips: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, FaceError> {
        if chips.is_empty() {
            return Ok(Vec::new());
        }
        let input = self.embedder.normalise(chips, &self.device)?;
        Ok(self.embedder.forward(&input)?.to_vec2()?)
    }
}

fn image_ref(image: &RgbImage) -> ImageRef<'_> {
    ImageRef {
        rgb: &image.data,
        width: image.width as usize,
        height: image.height as usize,
    }
}

impl FaceAnalyzer for FaceModels {
    fn analyze(&self, image: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let detections = self.detect(image)?;
        let (w, h) = (image.width as usize, image.height as usize);
        let mut located = Vec::with_capacity(detections.len());
        let mut chips = Vec::with_capacity(detections.len());
        for (rect, score) in detections {
            let points = self.landmarks.predict(&image.data, w, h, &rect);
            if let Some(chip) = self.chip(image, &points) {
                chips.push(chip);
                located.push((rect, score, points));
            }
        }
        let embeddings = self.embed_chips(&chips)?;
        Ok(located
            .into_iter()
            .zip(embeddings)
            .map(|((rect, score, points), embedding)| Face {
                bbox: FaceBox {
                    left: rect.left,
                    top: rect.top,
                    right: rect.right,
                    bottom: rect.bottom,
                },
                landmarks: points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(),
                score,
                embedding,
            })
            .collect())
    }

    fn model_version(&self) -> String {
        self.version.clone()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FaceError> {
    let bad = |reason: String| FaceError::BadWeights {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

/// Refuses images the models should not see, before any work.
pub fn check_image(image: &RgbImage, limits: &FaceLimits) -> Result<(), FaceError> {
    let (width, height) = (image.width, image.height);
    if width == 0 || height == 0 {
        return Err(FaceError::EmptyImage { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(FaceError::ImageTooLarge {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    if !image.has_consistent_size() {
        return Err(FaceError::InconsistentImage { width, height });
    }
    Ok(())
}

/// Area-averaging downscale (each output pixel the mean of the source
/// pixels it covers), for the detector's copy of a large image.
fn downscale(image: &RgbImage, scale: f64) -> RgbImage {
    let (w, h) = (image.width as usize, image.height as usize);
    let ow = ((w as f64 * scale).round() as usize).max(1);
    let oh = ((h as f64 * scale).round() as usize).max(1);
    let mut out = RgbImage::new(ow as u32, oh as u32);
    for oy in 0..oh {
        let y0 = oy * h / oh;
        let y1 = ((oy + 1) * h / oh).max(y0 + 1);
        for ox in 0..ow {
            let x0 = ox * w / ow;
            let x1 = ((ox + 1) * w / ow).max(x0 + 1);
            let mut sum = [0u64; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = (y * w + x) * 3;
                    for (total, &value) in sum.iter_mut().zip(&image.data[i..i + 3]) {
                        *total += u64::from(value);
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u64;
            let o = (oy * ow + ox) * 3;
            for (pixel, total) in out.data[o..o + 3].iter_mut().zip(sum) {
                *pixel = ((total + n / 2) / n) as u8;
            }
        }
    }
    out
}
