//! `reel faces IMAGE [IMAGE2]`: the faces the models find, as JSON. With
//! two images, also the similarity of their largest faces and the
//! same-person verdict at perception.face_match_threshold. How an operator
//! checks a model directory, and how tests reach the models through the
//! binary. Embeddings are never printed: they identify people.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use reel::config::Config;
use reel_engine::perception::faces::{
    cosine_similarity, Face, FaceAnalyzer, FaceModels, SamePersonVerdict,
};
use serde_json::json;

#[derive(clap::Args)]
pub struct FacesArgs {
    /// An image (PNG, JPEG, WebP, … anything FFmpeg decodes).
    image: PathBuf,
    /// A second image: compare the largest faces of the two.
    image2: Option<PathBuf>,
}

pub fn run(config: &Config, args: FacesArgs) -> anyhow::Result<()> {
    let perception = &config.perception;
    let models = FaceModels::load(
        &perception.face_model_dir,
        &Device::Cpu,
        perception.face_limits(),
    )?;
    let mut images = Vec::new();
    let mut largest: Vec<Option<Face>> = Vec::new();
    for path in std::iter::once(&args.image).chain(args.image2.as_ref()) {
        let image = reel_media::read_image(path)?;
        let faces = models
            .analyze(&image)
            .with_context(|| format!("cannot look for faces in {}", path.display()))?;
        images.push(json!({
            "path": path.display().to_string(),
            "width": image.width,
            "height": image.height,
            "faces": faces.iter().map(|f| json!({
                "box": f.bbox,
                "landmarks": f.landmarks,
                "score": f.score,
            })).collect::<Vec<_>>(),
        }));
        largest.push(
            faces
                .into_iter()
                .max_by_key(|f| f.bbox.width() * f.bbox.height()),
        );
    }
    let mut out = json!({ "model": models.model_version(), "images": images });
    if let [first, second] = largest.as_slice() {
        let threshold = perception.face_match_threshold;
        let similarity = match (first, second) {
            (Some(a), Some(b)) => Some(cosine_similarity(&a.embedding, &b.embedding)),
            _ => None,
        };
        let verdict = match similarity {
            None => SamePersonVerdict::NoFace,
            Some(s) if s >= threshold => SamePersonVerdict::Match,
            Some(_) => SamePersonVerdict::NoMatch,
        };
        out["similarity"] = json!(similarity);
        out["same_person"] = json!(verdict);
        out["threshold"] = json!(threshold);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
