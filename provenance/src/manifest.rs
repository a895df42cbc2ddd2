//! What a clip's manifest says, as the c2pa crate's JSON manifest
//! definition, and the settings every signer and reader here runs with.

use serde_json::{json, Value};

/// IPTC's digital source type for media made by a model trained on data.
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
/// The assertion naming the model and checkpoint that made the clip.
pub const MODEL_LABEL: &str = "org.reel.model";
/// The assertion listing the cameo ids (never names) a clip used.
pub const CAMEOS_LABEL: &str = "org.reel.cameos";
/// Ties the `c2pa.opened` action of a re-encode to its ingredient.
pub(crate) const ORIGINAL_INGREDIENT: &str = "original";
pub(crate) const MP4: &str = "video/mp4";

/// What the manifest of a freshly rendered clip records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFacts {
    /// The clip's title in the manifest, e.g. "reel-42.mp4".
    pub title: String,
    /// The model (renderer) name, e.g. "ltx-video".
    pub model: String,
    /// The checkpoint the weights came from (repository and file or hash).
    pub checkpoint: String,
    /// Cameo ids whose owners consented to this clip; no names.
    pub cameo_ids: Vec<String>,
}

fn reel_agent() -> Value {
    json!({ "name": "reel", "version": env!("CARGO_PKG_VERSION") })
}

/// The manifest of a clip the model made.
pub(crate) fn created_definition(facts: &ClipFacts) -> Value {
    json!({
        "title": facts.title,
        "format": MP4,
        "claim_generator_info": [reel_agent()],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": { "actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": { "name": facts.model, "version": facts.checkpoint },
                    "description": "rendered from a text prompt by a video model",
                }]},
            },
            {
                "label": MODEL_LABEL,
                "data": { "name": facts.model, "checkpoint": facts.checkpoint },
            },
            {
                "label": CAMEOS_LABEL,
                "data": { "cameo_ids": facts.cameo_ids },
            },
        ],
    })
}

/// The manifest of a re-encode: opened from `ORIGINAL_INGREDIENT`, then
/// transcoded. The original's own manifest travels inside the ingredient.
pub(crate) fn reencoded_definition(title: &str, why: &str) -> Value {
    json!({
        "title": title,
        "format": MP4,
        "claim_generator_info": [reel_agent()],
        "assertions": [{
            "label": "c2pa.actions",
            "data": { "actions": [
                {
                    "action": "c2pa.opened",
                    "parameters": { "ingredientIds": [ORIGINAL_INGREDIENT] },
                },
                {
                    "action": "c2pa.transcoded",
                    "softwareAgent": reel_agent(),
                    "description": why,
                },
            ]},
        }],
    })
}

/// The ingredient entry for the clip a re-encode came from.
pub(crate) fn original_ingredient(title: &str) -> Value {
    json!({
        "title": title,
        "relationship": "parentOf",
        "label": ORIGINAL_INGREDIENT,
    })
}

/// Offline, always: no remote manifests, no OCSP. Trust is checked against
/// `trust_anchors` (PEM) when given; without them a good signature is
/// "valid" but not "trusted".
pub(crate) fn settings(trust_anchors: Option<&str>) -> Value {
    let mut settings = json!({
        "verify": {
            "verify_after_reading": true,
            "verify_trust": true,
            "remote_manifest_fetch": false,
            "ocsp_fetch": false,
        },
        "builder": { "thumbnail": { "enabled": false } },
    });
    if let Some(anchors) = trust_anchors {
        settings["trust"] = json!({ "user_anchors": anchors });
    }
    settings
}

pub(crate) fn context(trust_anchors: Option<&str>) -> Result<c2pa::Context, c2pa::Error> {
    c2pa::Context::new().with_settings(settings(trust_anchors))
}
