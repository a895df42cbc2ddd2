//! The candle port against dlib itself, on the real CC0 weights and real
//! photographs: detections, landmarks, the aligned chip and the embedding
//! for every case `scripts/golden/faces_reference.py` recorded.
//!
//! Tolerances:
//! - boxes: each side within 1 px of dlib's; detector scores within 2e-3
//!   (both run the network in f32, summing in different orders);
//! - landmarks: within 1 px (dlib rounds to whole pixels; a sampled pixel
//!   on a rounding edge can move one point by one);
//! - chips: mean absolute difference ≤ 0.5 grey levels, largest ≤ 3
//!   (dlib truncates interpolated values; a last-bit difference in the
//!   transform can flip a truncation);
//! - embeddings: through our own chip, largest difference ≤ 5e-3 and
//!   cosine similarity ≥ 0.9995; through dlib's chip (the network alone)
//!   largest difference ≤ 1e-4.

mod faces_support;

use std::collections::HashMap;

use candle_core::{DType, Device};
use faces_support::{models_with, photo, repeat_pixels, side_by_side};
use reel_engine::perception::faces::pyramid::IntRect;
use reel_engine::perception::faces::{cosine_similarity, FaceAnalyzer, FaceLimits};
use reel_engine::RgbImage;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: HashMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    width: u32,
    height: u32,
    faces: Vec<RefFace>,
}

#[derive(Deserialize)]
struct RefFace {
    rect: [i64; 4],
    confidence: f32,
    landmarks: Vec<[i64; 2]>,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let path = faces_support::fixtures().join("reference.json");
    let text = std::fs::read_to_string(&path).expect("reference.json is committed");
    serde_json::from_str(&text).expect("reference.json parses")
}

fn image_for(case: &str) -> RgbImage {
    match case {
        "pair" => side_by_side(&photo("astronaut"), &photo("grace_hopper")),
        "astronaut_x3" => repeat_pixels(&photo("astronaut"), 3),
        name => photo(name),
    }
}

fn reference_chips() -> HashMap<String, Vec<u8>> {
    let path = faces_support::fixtures().join("chips.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu)
        .expect("chips.safetensors is committed")
        .into_iter()
        .map(|(name, t)| {
            let bytes = t
                .to_dtype(DType::U8)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<u8>()
                .unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn detections_landmarks_chips_and_embeddings_match_dlib() {
    // Scan every case at full size, as dlib does (astronaut_x3 is 1536²).
    let models = models_with(FaceLimits {
        detect_max_side: 2048,
        ..FaceLimits::default()
    });
    let chips = reference_chips();
    let reference = reference();
    assert_eq!(reference.cases.len(), 6, "the script records six cases");
    let mut worst_embedding = 0f32;
    for (name, case) in &reference.cases {
        let image = image_for(name);
        assert_eq!(
            (image.width, image.height),
            (case.width, case.height),
            "{name}: size"
        );
        let found = models.detect(&image).unwrap();
        assert_eq!(found.len(), case.faces.len(), "{name}: {found:?}");
        let faces = models.analyze(&image).unwrap();
        for (i, (want, (rect, score))) in case.faces.iter().zip(&found).enumerate() {
            let got = [rect.left, rect.top, rect.right, rect.bottom];
            for (g, w) in got.iter().zip(&want.rect) {
                assert!(
                    (g - w).abs() <= 1,
                    "{name} face {i}: box {got:?}, dlib {:?}",
                    want.rect
                );
            }
            assert!(
                (score - want.confidence).abs() <= 2e-3,
                "{name} face {i}: score {score}, dlib {}",
                want.confidence
            );
            // Landmarks from dlib's own box isolate the shape predictor.
            let [l, t, r, b] = want.rect;
            let rect = IntRect {
                left: l,
                top: t,
                right: r,
                bottom: b,
            };
            let points = models_landmarks(&models, &image, &rect);
            for (p, q) in points.iter().zip(&want.landmarks) {
                assert!(
                    (p[0] - q[0]).abs() <= 1 && (p[1] - q[1]).abs() <= 1,
                    "{name} face {i}: landmarks {points:?}, dlib {:?}",
                    want.landmarks
                );
            }
            let chip = models
                .chip(&image, &want.landmarks)
                .expect("five landmarks");
            let dlib_chip = &chips[&format!("{name}.{i}")];
            let diffs: Vec<i32> = chip
                .iter()
                .zip(dlib_chip)
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                .collect();
            let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
            let max = diffs.iter().copied().max().unwrap_or(0);
            assert!(
                mean <= 0.5 && max <= 3,
                "{name} face {i}: chip mean diff {mean}, max {max}"
            );
            // The network alone, on dlib's chip.
            let alone = models
                .embed_chips(std::slice::from_ref(dlib_chip))
                .unwrap()
                .remove(0);
            let alone_diff = max_abs_diff(&alone, &want.embedding);
            assert!(
                alone_diff <= 1e-4,
                "{name} face {i}: network alone differs by {alone_diff}"
            );
            // The whole pipeline.
            let face = &faces[i];
            let diff = max_abs_diff(&face.embedding, &want.embedding);
            let cos = cosine_similarity(&face.embedding, &want.embedding);
            assert!(
                diff <= 5e-3 && cos >= 0.9995,
                "{name} face {i}: embedding diff {diff}, cosine {cos}"
            );
            worst_embedding = worst_embedding.max(diff);
        }
    }
    eprintln!("largest embedding difference from dlib: {worst_embedding:e}");
}

fn models_landmarks(
    models: &reel_engine::perception::faces::FaceModels,
    image: &RgbImage,
    rect: &IntRect,
) -> Vec<[i64; 2]> {
    models.landmarks(image, rect)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
