//! `reel pull` against a fake Hugging Face Hub on 127.0.0.1: the listing
//! (api/models/{repo}/revision/{rev}), resolve/{rev}/{file} with the headers
//! hf-hub reads (x-repo-commit, etag / x-linked-etag, Content-Range), large
//! files redirected to a CDN path as the hub does, and Range requests. The
//! served model is a tiny directory in the diffusers layout made here; a
//! second repository serves single-file checkpoints in the original LTX
//! layout (a few tensors with the names of the real files).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use common::{run_bounded, text, Sandbox};
use futures::StreamExt;
use sha2::{Digest, Sha256};

const REPO: &str = "Lightricks/LTX-Video-0.9.5";
const NAME: &str = "ltx-video-0.9.5";
const COMMIT: &str = "5c1c0d4e2f3a4b5c6d7e8f90a1b2c3d4e5f60718";
const TOKEN: &str = "hf_test_token_never_printed_4821";
const TRANSFORMER: &str = "transformer/diffusion_pytorch_model.safetensors";
const VAE: &str = "vae/diffusion_pytorch_model.safetensors";
const SINGLE_REPO: &str = "Lightricks/LTX-Video";
const SINGLE_COMMIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9001122334";
const DISTILLED_096: &str = "ltxv-2b-0.9.6-distilled-04-25.safetensors";
const DISTILLED_098: &str = "ltxv-2b-0.9.8-distilled.safetensors";
const LTX2_REPO: &str = "Lightricks/LTX-2";
const LTX2_COMMIT: &str = "2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
const LTX2_DISTILLED: &str = "ltx-2-19b-distilled.safetensors";
/// The converted LTX-2 components (the base's weights of these are never fetched).
const LTX2_CONVERTED: &[&str] = &["transformer", "connectors", "vae", "audio_vae", "vocoder"];
const WHISPER_REPO: &str = "openai/whisper-base";
const WHISPER_COMMIT: &str = "e0f1a2b3c4d5e6f708192a3b4c5d6e7f80910a1b";
const CSM_REPO: &str = "sesame/csm-1b";
const CSM_COMMIT: &str = "c5a1e2b3d4f5061728394a5b6c7d8e9f0a1b2c3d";

struct HubFile {
    bytes: Vec<u8>,
    /// Large files: redirected to /cdn/{sha256}, named by their SHA-256.
    lfs: bool,
}

impl HubFile {
    fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }

    /// Small files' etag: the hub sends the git blob id, no content hash.
    fn git_id(&self) -> String {
        hex(&Sha256::digest([b"blob ".as_slice(), &self.bytes].concat()))[..40].to_string()
    }
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
    authorization: Option<String>,
}

/// Drops the connection after `after` bytes of a data request for `file`,
/// `times` times.
struct Cut {
    file: String,
    after: usize,
    times: u32,
}

impl HubState {
    /// A repository's commit and files.
    fn repo(&self, repo: &str) -> Option<(&'static str, &BTreeMap<String, HubFile>)> {
        match repo {
            REPO => Some((COMMIT, &self.files)),
            SINGLE_REPO => Some((SINGLE_COMMIT, &self.single)),
            LTX2_REPO => Some((LTX2_COMMIT, &self.ltx2)),
            WHISPER_REPO => Some((WHISPER_COMMIT, &self.whisper)),
            CSM_REPO => Some((CSM_COMMIT, &self.csm)),
            _ => None,
        }
    }

    /// A file of either repository (their paths differ).
    fn any(&self, path: &str) -> &HubFile {
        self.files
            .get(path)
            .or_else(|| self.single.get(path))
            .or_else(|| self.whisper.get(path))
            .or_else(|| self.ltx2.get(path))
            .unwrap_or_else(|| panic!("{path} is not served"))
    }
}

#[derive(Default)]
struct HubState {
    files: BTreeMap<String, HubFile>,
    /// SINGLE_REPO's files.
    single: BTreeMap<String, HubFile>,
    /// LTX2_REPO's files: the diffusers layout and the single files.
    ltx2: BTreeMap<String, HubFile>,
    /// WHISPER_REPO's files.
    whisper: BTreeMap<String, HubFile>,
    /// CSM_REPO's files (their names are Whisper's: compare with the fixture).
    csm: BTreeMap<String, HubFile>,
    seen: Vec<Seen>,
    cut: Option<Cut>,
    /// A file whose resolve answers this status.
    failing: Option<(String, u16)>,
    /// A large file whose data arrives with one byte changed.
    corrupt: Option<String>,
    listing_status: Option<u16>,
}

struct FakeHub {
    addr: SocketAddr,
    state: Arc<Mutex<HubState>>,
}

impl FakeHub {
    fn start() -> Self {
        let state = Arc::new(Mutex::new(HubState {
            files: tiny_model(),
            single: single_files(),
            ltx2: ltx2_files(),
            whisper: whisper_files(),
            csm: csm_files(),
            ..HubState::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/{org}/{name}/resolve/{rev}/{*file}", get(resolve))
            .route("/cdn/{sha}", get(cdn))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Self { addr, state }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn file(&self, path: &str) -> Vec<u8> {
        self.state.lock().unwrap().any(path).bytes.clone()
    }

    fn sha256(&self, path: &str) -> String {
        self.state.lock().unwrap().any(path).sha256()
    }

    /// A file of LTX2_REPO (its paths are also the LTX-Video repository's).
    fn ltx2_file(&self, path: &str) -> Vec<u8> {
        self.state.lock().unwrap().ltx2[path].bytes.clone()
    }

    /// Byte ranges asked for a large file's data (not the 0-0 probe).
    fn data_ranges(&self, path: &str) -> Vec<String> {
        let cdn = format!("/cdn/{}", self.sha256(path));
        self.seen()
            .into_iter()
            .filter(|seen| seen.path == cdn)
            .filter_map(|seen| seen.range)
            .filter(|range| range != "bytes=0-0")
            .collect()
    }
}

/// A diffusers-layout model in miniature, plus files `reel pull` must skip.
fn tiny_model() -> BTreeMap<String, HubFile> {
    let json = |text: &str| HubFile {
        bytes: text.as_bytes().to_vec(),
        lfs: false,
    };
    let blob = |len: usize, seed: u64| HubFile {
        bytes: pseudo_random(len, seed),
        lfs: true,
    };
    let index = r#"{"_class_name": "LTXPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"], "transformer": ["diffusers", "LTXVideoTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLLTXVideo"]}"#;
    [
        ("model_index.json", json(index)),
        ("scheduler/scheduler_config.json", json(r#"{"shift": 1.0}"#)),
        ("text_encoder/config.json", json(r#"{"d_model": 32}"#)),
        ("text_encoder/model.safetensors", blob(48_000, 1)),
        ("tokenizer/spiece.model", blob(9_000, 2)),
        ("tokenizer/tokenizer_config.json", json("{}")),
        ("transformer/config.json", json(r#"{"in_channels": 8}"#)),
        (TRANSFORMER, blob(300_000, 3)),
        ("vae/config.json", json(r#"{"latent_channels": 8}"#)),
        (VAE, blob(70_000, 4)),
        // Not part of what the engine loads.
        ("README.md", json("# tiny")),
        ("media/trailer.gif", blob(5_000, 5)),
        ("ltxv-2b-0.9.5.safetensors", blob(20_000, 6)),
        (
            "vae/diffusion_pytorch_model.fp16.safetensors",
            blob(6_000, 7),
        ),
    ]
    .into_iter()
    .map(|(path, file)| (path.to_string(), file))
    .collect()
}

/// Original-layout names (and shapes) as in Lightricks' 2B single files: a
/// few of each renaming rule, and the 2048-input encoder conv_out by which
/// diffusers tells the 0.9.5 VAE.
const SINGLE_TENSORS: &[(&str, &[usize])] = &[
    ("model.diffusion_model.patchify_proj.weight", &[4, 8]),
    ("model.diffusion_model.patchify_proj.bias", &[4]),
    ("model.diffusion_model.adaln_single.linear.weight", &[6, 4]),
    (
        "model.diffusion_model.transformer_blocks.0.attn1.q_norm.weight",
        &[4],
    ),
    (
        "model.diffusion_model.transformer_blocks.0.attn2.k_norm.weight",
        &[4],
    ),
    (
        "model.diffusion_model.transformer_blocks.0.scale_shift_table",
        &[6, 4],
    ),
    ("vae.encoder.conv_in.conv.bias", &[4]),
    ("vae.encoder.conv_out.conv.weight", &[2, 2048, 1, 1, 1]),
    (
        "vae.encoder.down_blocks.1.conv.conv.weight",
        &[2, 4, 1, 1, 1],
    ),
    (
        "vae.encoder.down_blocks.8.res_blocks.0.norm3.norm.weight",
        &[4],
    ),
    (
        "vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.weight",
        &[2, 2, 1, 1, 1],
    ),
    (
        "vae.decoder.up_blocks.4.res_blocks.1.conv_shortcut.weight",
        &[2, 2, 1, 1, 1],
    ),
    (
        "vae.decoder.last_time_embedder.timestep_embedder.linear_1.weight",
        &[4, 2],
    ),
    ("vae.decoder.last_scale_shift_table", &[2, 4]),
    ("vae.per_channel_statistics.mean-of-means", &[2]),
    ("vae.per_channel_statistics.std-of-means", &[2]),
    ("vae.per_channel_statistics.channel", &[2]),
    ("vae.per_channel_statistics.mean-of-stds", &[2]),
];

/// What diffusers' single-file loader names them.
const CONVERTED_TRANSFORMER: &[(&str, &str)] = &[
    (
        "proj_in.weight",
        "model.diffusion_model.patchify_proj.weight",
    ),
    ("proj_in.bias", "model.diffusion_model.patchify_proj.bias"),
    (
        "time_embed.linear.weight",
        "model.diffusion_model.adaln_single.linear.weight",
    ),
    (
        "transformer_blocks.0.attn1.norm_q.weight",
        "model.diffusion_model.transformer_blocks.0.attn1.q_norm.weight",
    ),
    (
        "transformer_blocks.0.attn2.norm_k.weight",
        "model.diffusion_model.transformer_blocks.0.attn2.k_norm.weight",
    ),
    (
        "transformer_blocks.0.scale_shift_table",
        "model.diffusion_model.transformer_blocks.0.scale_shift_table",
    ),
];
const CONVERTED_VAE: &[(&str, &str)] = &[
    ("encoder.conv_in.conv.bias", "vae.encoder.conv_in.conv.bias"),
    (
        "encoder.conv_out.conv.weight",
        "vae.encoder.conv_out.conv.weight",
    ),
    (
        "encoder.down_blocks.0.downsamplers.0.conv.conv.weight",
        "vae.encoder.down_blocks.1.conv.conv.weight",
    ),
    (
        "encoder.mid_block.resnets.0.norm3.weight",
        "vae.encoder.down_blocks.8.res_blocks.0.norm3.norm.weight",
    ),
    (
        "decoder.mid_block.resnets.0.conv1.conv.weight",
        "vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.weight",
    ),
    (
        "decoder.up_blocks.1.resnets.1.conv_shortcut.conv.weight",
        "vae.decoder.up_blocks.4.res_blocks.1.conv_shortcut.weight",
    ),
    (
        "decoder.time_embedder.timestep_embedder.linear_1.weight",
        "vae.decoder.last_time_embedder.timestep_embedder.linear_1.weight",
    ),
    (
        "decoder.scale_shift_table",
        "vae.decoder.last_scale_shift_table",
    ),
    ("latents_mean", "vae.per_channel_statistics.mean-of-means"),
    ("latents_std", "vae.per_channel_statistics.std-of-means"),
];

/// A safetensors file of float16 tensors with pseudo-random bytes.
fn safetensors_file(tensors: &[(&str, &[usize])], seed: u64) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let len = 2 * shape.iter().product::<usize>();
        header.insert(
            name.to_string(),
            serde_json::json!({
                "dtype": "F16",
                "shape": shape,
                "data_offsets": [data.len(), data.len() + len],
            }),
        );
        data.extend(pseudo_random(len, seed * 1000 + i as u64));
    }
    let header = serde_json::Value::Object(header).to_string().into_bytes();
    [
        (header.len() as u64).to_le_bytes().as_slice(),
        &header,
        &data,
    ]
    .concat()
}

/// name → (shape, bytes) of a safetensors file.
fn read_safetensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let data = &bytes[8 + len..];
    header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, info)| {
            let shape = serde_json::from_value(info["shape"].clone()).unwrap();
            let [start, end]: [usize; 2] =
                serde_json::from_value(info["data_offsets"].clone()).unwrap();
            (name, (shape, data[start..end].to_vec()))
        })
        .collect()
}

/// SINGLE_REPO: the two distilled files (same names, different bytes).
fn single_files() -> BTreeMap<String, HubFile> {
    [
        (DISTILLED_096, safetensors_file(SINGLE_TENSORS, 11)),
        (DISTILLED_098, safetensors_file(SINGLE_TENSORS, 12)),
    ]
    .into_iter()
    .map(|(path, bytes)| (path.to_string(), HubFile { bytes, lfs: true }))
    .chain([(
        "model_index.json".to_string(),
        HubFile {
            bytes: b"{}".to_vec(),
            lfs: false,
        },
    )])
    .collect()
}

fn ltx2_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/ltx2")
}

/// LTX2_REPO: the engine's tiny LTX-2 model directory as a diffusers-layout
/// repository (Gemma, tokenizer, scheduler, every component's config and
/// weights), beside the tiny components written as one original-layout
/// file (scripts/golden/ltx2_single_file_keys.py) under the 19B's name.
fn ltx2_files() -> BTreeMap<String, HubFile> {
    let model = ltx2_fixtures().join("pipeline/model");
    let mut files = BTreeMap::new();
    let mut folders = vec![(model.clone(), String::new())];
    while let Some((dir, prefix)) = folders.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            // The fixture's component folders are links: named as the link.
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let path = std::fs::canonicalize(entry.path()).unwrap();
            if path.is_dir() {
                folders.push((path, format!("{name}/")));
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let lfs = name.ends_with(".safetensors") || name.ends_with(".model");
            files.insert(name, HubFile { bytes, lfs });
        }
    }
    let single = std::fs::read(ltx2_fixtures().join("single_file/tiny.safetensors")).unwrap();
    files.insert(
        LTX2_DISTILLED.to_string(),
        HubFile {
            bytes: single,
            lfs: true,
        },
    );
    files
}

/// The tiny Whisper of the parity fixtures as transformers publishes a
/// checkpoint, plus the other formats `reel pull` must skip.
fn whisper_files() -> BTreeMap<String, HubFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/whisper/tiny");
    WHISPER_FILES
        .iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let lfs = name.ends_with(".safetensors");
            (name.to_string(), HubFile { bytes, lfs })
        })
        .chain(
            [("pytorch_model.bin", 21), ("flax_model.msgpack", 22)].map(|(name, seed)| {
                let file = HubFile {
                    bytes: pseudo_random(4_000, seed),
                    lfs: true,
                };
                (name.to_string(), file)
            }),
        )
        .collect()
}

/// The tiny CSM of the parity fixtures as transformers saves it, plus
/// Sesame's original checkpoint and the processor's files, which the
/// engine does not read.
fn csm_files() -> BTreeMap<String, HubFile> {
    WHISPER_FILES
        .iter()
        .map(|name| {
            let bytes = std::fs::read(csm_fixture().join(name)).unwrap();
            let lfs = name.ends_with(".safetensors");
            (name.to_string(), HubFile { bytes, lfs })
        })
        .chain(
            [("ckpt.pt", 23), ("preprocessor_config.json", 24)].map(|(name, seed)| {
                let file = HubFile {
                    bytes: pseudo_random(4_000, seed),
                    lfs: name.ends_with(".pt"),
                };
                (name.to_string(), file)
            }),
        )
        .collect()
}

fn csm_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/csm/tiny")
}

const WHISPER_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
];

const NEEDED: &[&str] = &[
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/spiece.model",
    "tokenizer/tokenizer_config.json",
    "transformer/config.json",
    TRANSFORMER,
    "vae/config.json",
    VAE,
];

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn record(state: &Mutex<HubState>, path: String, headers: &HeaderMap) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    state.lock().unwrap().seen.push(Seen {
        path,
        range: header("range"),
        authorization: header("authorization"),
    });
}

fn status(code: u16, message: &str) -> Response {
    Response::builder()
        .status(code)
        .body(Body::from(message.to_string()))
        .unwrap()
}

async fn listing(
    State(state): State<Arc<Mutex<HubState>>>,
    UrlPath((org, name, rev)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        format!("/api/models/{org}/{name}/revision/{rev}"),
        &headers,
    );
    let hub = state.lock().unwrap();
    if let Some(code) = hub.listing_status {
        return status(code, "listing refused");
    }
    let repo = format!("{org}/{name}");
    let Some((commit, files)) = hub.repo(&repo).filter(|_| rev == "main") else {
        return status(404, "Repository not found");
    };
    let siblings: Vec<_> = files
        .keys()
        .map(|path| serde_json::json!({ "rfilename": path }))
        .collect();
    let body = serde_json::json!({ "id": repo, "sha": commit, "siblings": siblings });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn resolve(
    State(state): State<Arc<Mutex<HubState>>>,
    UrlPath((org, name, rev, file)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        format!("/{org}/{name}/resolve/{rev}/{file}"),
        &headers,
    );
    let hub = state.lock().unwrap();
    if let Some((failing, code)) = &hub.failing {
        if *failing == file {
            return status(*code, "internal error");
        }
    }
    let Some((commit, files)) = hub.repo(&format!("{org}/{name}")).filter(|_| rev == "main") else {
        return status(404, "Repository not found");
    };
    let Some(found) = files.get(&file) else {
        return status(404, "Entry not found");
    };
    if found.lfs {
        // The hub answers large files with a redirect to its CDN, carrying
        // the commit and the content hash on the redirect itself.
        let host = headers
            .get("host")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("127.0.0.1");
        return Response::builder()
            .status(StatusCode::FOUND)
            .header("location", format!("http://{host}/cdn/{}", found.sha256()))
            .header("x-repo-commit", commit)
            .header("x-linked-etag", format!("\"{}\"", found.sha256()))
            .header("x-linked-size", found.bytes.len().to_string())
            .header("etag", format!("\"{}\"", found.git_id()))
            .body(Body::empty())
            .unwrap();
    }
    let etag = format!("\"{}\"", found.git_id());
    serve_bytes(&found.bytes, &headers, Some(etag), commit)
}

async fn cdn(
    State(state): State<Arc<Mutex<HubState>>>,
    UrlPath(sha): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/cdn/{sha}"), &headers);
    let mut hub = state.lock().unwrap();
    let Some((path, bytes)) = hub
        .files
        .iter()
        .chain(&hub.single)
        .chain(&hub.ltx2)
        .chain(&hub.whisper)
        .chain(&hub.csm)
        .find(|(_, file)| file.lfs && file.sha256() == sha)
        .map(|(path, file)| (path.clone(), file.bytes.clone()))
    else {
        return status(404, "no such object");
    };
    let range = headers.get("range").and_then(|value| value.to_str().ok());
    if range != Some("bytes=0-0") {
        if let Some(cut) = hub
            .cut
            .as_mut()
            .filter(|cut| cut.file == path && cut.times > 0)
        {
            cut.times -= 1;
            let after = cut.after;
            return cut_short(&bytes, &headers, after);
        }
    }
    let mut bytes = bytes;
    if range != Some("bytes=0-0") && hub.corrupt.as_deref() == Some(path.as_str()) {
        bytes[1000] ^= 0xff;
    }
    let commit = if hub.single.contains_key(&path) {
        SINGLE_COMMIT
    } else if hub.ltx2.contains_key(&path) {
        LTX2_COMMIT
    } else {
        COMMIT
    };
    serve_bytes(&bytes, &headers, None, commit)
}

/// `bytes=a-b` or `bytes=a-` → inclusive (a, b) within `len`.
fn parse_range(headers: &HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers
        .get("range")?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end = match end {
        "" => len - 1,
        end => end.parse::<usize>().ok()?.min(len - 1),
    };
    Some((start, end))
}

fn serve_bytes(bytes: &[u8], headers: &HeaderMap, etag: Option<String>, commit: &str) -> Response {
    let mut response = Response::builder()
        .header("x-repo-commit", commit)
        .header("accept-ranges", "bytes");
    if let Some(etag) = etag {
        response = response.header("etag", etag);
    }
    let Some((start, end)) = parse_range(headers, bytes.len()) else {
        return response
            .header("content-length", bytes.len().to_string())
            .body(Body::from(bytes.to_vec()))
            .unwrap();
    };
    if start > end || start >= bytes.len() {
        return status(416, "range not satisfiable");
    }
    response
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            "content-range",
            format!("bytes {start}-{end}/{}", bytes.len()),
        )
        .header("content-length", (end - start + 1).to_string())
        .body(Body::from(bytes[start..=end].to_vec()))
        .unwrap()
}

/// Promises the whole range, sends `after` bytes, then drops the connection.
fn cut_short(bytes: &[u8], headers: &HeaderMap, after: usize) -> Response {
    let (start, end) = parse_range(headers, bytes.len()).unwrap_or((0, bytes.len() - 1));
    let sent = Bytes::copy_from_slice(&bytes[start..(start + after).min(end + 1)]);
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(sent)]).chain(
        futures::stream::once(async {
            // Let the first bytes reach the client before the connection drops.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(std::io::Error::other("connection cut by the test"))
        }),
    );
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            "content-range",
            format!("bytes {start}-{end}/{}", bytes.len()),
        )
        .header("content-length", (end - start + 1).to_string())
        .body(Body::from_stream(stream))
        .unwrap()
}

/// `reel pull NAME` with its Hugging Face variables pointing into the sandbox.
fn pull(sb: &Sandbox, hub: &FakeHub, name: &str) -> std::process::Output {
    pull_with(sb, hub, &["pull", name])
}

fn pull_with(sb: &Sandbox, hub: &FakeHub, args: &[&str]) -> std::process::Output {
    let mut cmd = sb.reel(args);
    cmd.env("HF_HOME", sb.path().join("hf"))
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_TOKEN", TOKEN)
        .env_remove("HF_HUB_CACHE")
        // The HTTP client's debug log shows request headers: the token must
        // stay out of it too.
        .env("RUST_LOG", "ureq=debug,hf_hub=debug")
        .stdin(std::process::Stdio::null());
    // hf-hub's client would send even loopback requests through a proxy.
    for proxy in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    run_bounded(cmd, Duration::from_secs(60))
}

fn repo_cache(sb: &Sandbox) -> PathBuf {
    sb.path().join("hf/hub/models--Lightricks--LTX-Video-0.9.5")
}

fn snapshot(sb: &Sandbox) -> PathBuf {
    repo_cache(sb).join("snapshots").join(COMMIT)
}

fn part_files(sb: &Sandbox) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo_cache(sb).join("blobs")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "part"))
        .collect()
}

fn assert_no_token(out: &std::process::Output) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(TOKEN), "the token was printed:\n{all}");
}

#[test]
fn pulls_the_diffusers_layout_into_the_hf_cache_and_prints_its_directory() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    let out = pull(&sb, &hub, NAME);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_token(&out);

    let printed = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(printed, snapshot(&sb), "stdout: {}", text(&out.stdout));
    for path in NEEDED {
        let local = std::fs::read(printed.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            local == hub.file(path),
            "{path} differs from the served bytes"
        );
    }
    for skipped in [
        "README.md",
        "media",
        "ltxv-2b-0.9.5.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ] {
        assert!(!printed.join(skipped).exists(), "{skipped} was downloaded");
    }
    // Usable as engine.model_dir: the index names folders that are all there.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(printed.join("model_index.json")).unwrap()).unwrap();
    for component in [
        "scheduler",
        "text_encoder",
        "tokenizer",
        "transformer",
        "vae",
    ] {
        assert!(
            index.get(component).is_some(),
            "{component} not in the index"
        );
        assert!(printed.join(component).is_dir(), "{component}/ missing");
    }
    let reference = std::fs::read_to_string(repo_cache(&sb).join("refs/main")).unwrap();
    assert_eq!(reference.trim(), COMMIT);
    assert!(part_files(&sb).is_empty(), "{:?}", part_files(&sb));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("model_dir = "), "{stderr}");

    // The token went to the hub on every request to it.
    let seen = hub.seen();
    assert!(!seen.is_empty());
    for request in seen.iter().filter(|seen| !seen.path.starts_with("/cdn/")) {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            request.path
        );
    }

    // A second pull finds everything cached: only the listing is asked.
    let before = seen.len();
    let again = pull(&sb, &hub, NAME);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), text(&out.stdout));
    let later: Vec<_> = hub.seen()[before..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        later,
        vec![format!("/api/models/{REPO}/revision/main")],
        "a cached pull downloaded again"
    );
}

#[test]
fn an_interrupted_download_resumes_from_the_bytes_already_saved() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    const AFTER: usize = 40_000;
    // Every attempt of the first run loses its connection after 40 kB.
    hub.state.lock().unwrap().cut = Some(Cut {
        file: TRANSFORMER.into(),
        after: AFTER,
        times: u32::MAX,
    });
    let first = pull(&sb, &hub, NAME);
    let stderr = text(&first.stderr);
    assert!(!first.status.success(), "a cut download passed:\n{stderr}");
    assert!(
        text(&first.stdout).trim().is_empty(),
        "a directory was printed"
    );
    assert!(stderr.contains(TRANSFORMER), "{stderr}");
    assert!(
        !snapshot(&sb).join(TRANSFORMER).exists(),
        "a partial file is in the snapshot"
    );
    // Within the run each retry asked for the bytes after those saved.
    let ranges = hub.data_ranges(TRANSFORMER);
    let expected: Vec<String> = (0..ranges.len())
        .map(|attempt| format!("bytes={}-", attempt * AFTER))
        .collect();
    assert!(ranges.len() >= 2, "{ranges:?}");
    assert_eq!(ranges, expected);
    let parts = part_files(&sb);
    assert_eq!(parts.len(), 1, "{parts:?}");
    let saved = std::fs::metadata(&parts[0]).unwrap().len() as usize;
    assert_eq!(saved, ranges.len() * AFTER);

    // The next run, with the connection healthy, asks only for the rest.
    hub.state.lock().unwrap().cut = None;
    let asked_before = ranges.len();
    let second = pull(&sb, &hub, NAME);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let ranges = hub.data_ranges(TRANSFORMER);
    assert_eq!(ranges[asked_before..], [format!("bytes={saved}-")]);
    let local = std::fs::read(snapshot(&sb).join(TRANSFORMER)).unwrap();
    assert!(local == hub.file(TRANSFORMER), "the resumed file differs");
    assert!(part_files(&sb).is_empty());
    assert_eq!(PathBuf::from(text(&second.stdout).trim()), snapshot(&sb));
}

#[test]
fn unknown_names_are_refused_without_a_request() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    let out = pull(&sb, &hub, "ltx-video-9.9.9");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown model `ltx-video-9.9.9`"),
        "{stderr}"
    );
    for known in [
        "ltx-video-0.9.5",
        "ltx-video-0.9.6-distilled",
        "ltx-video-0.9.8-distilled",
    ] {
        assert!(stderr.contains(known), "{known} not listed: {stderr}");
    }
    assert!(hub.seen().is_empty(), "{:?}", hub.seen());
    assert!(!sb.path().join("hf").exists());
}

#[test]
fn hub_errors_and_corrupt_data_fail_clearly_leaving_nothing_passing_for_complete() {
    // A file the hub fails on: named, with the status, and no retry of a 500.
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    hub.state.lock().unwrap().failing = Some((VAE.into(), 500));
    let out = pull(&sb, &hub, NAME);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(VAE) && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    assert!(text(&out.stdout).trim().is_empty());
    assert_no_token(&out);
    assert!(!snapshot(&sb).join(VAE).exists());
    let blobs = repo_cache(&sb).join("blobs");
    let vae_sha = hub.sha256(VAE);
    assert!(!blobs.join(&vae_sha).exists() && !blobs.join(format!("{vae_sha}.part")).exists());
    let asked = hub
        .seen()
        .iter()
        .filter(|seen| seen.path.ends_with(VAE))
        .count();
    assert_eq!(asked, 1);

    // Bytes that do not hash to the hub's SHA-256 are not kept.
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    hub.state.lock().unwrap().corrupt = Some(TRANSFORMER.into());
    let out = pull(&sb, &hub, NAME);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(TRANSFORMER) && stderr.contains("do not match"),
        "{stderr}"
    );
    assert!(text(&out.stdout).trim().is_empty());
    assert!(!snapshot(&sb).join(TRANSFORMER).exists());
    let blobs = repo_cache(&sb).join("blobs");
    assert!(!blobs.join(hub.sha256(TRANSFORMER)).exists());
    // With the hub fixed, the next pull completes.
    hub.state.lock().unwrap().corrupt = None;
    let out = pull(&sb, &hub, NAME);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let local = std::fs::read(snapshot(&sb).join(TRANSFORMER)).unwrap();
    assert!(local == hub.file(TRANSFORMER));

    // A repository the hub will not list (gated, private or gone).
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    hub.state.lock().unwrap().listing_status = Some(404);
    let out = pull(&sb, &hub, NAME);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(REPO) && stderr.contains("HTTP 404"),
        "{stderr}"
    );
    assert!(text(&out.stdout).trim().is_empty());
    assert!(!snapshot(&sb).exists());
    assert!(is_absent_or_empty(&repo_cache(&sb)));
}

fn is_absent_or_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

fn reel_dir(sb: &Sandbox) -> PathBuf {
    sb.path().join("hf/reel")
}

/// Folders of `dir` whose names start with a dot: half-done conversions.
fn hidden_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map_or(Vec::new(), |entries| {
        entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect()
    })
}

/// The converted files hold diffusers' names, each the single file's bytes.
fn assert_converted(dir: &Path, single: &[u8]) {
    let scratch = tempfile::tempdir().unwrap();
    let original_path = scratch.path().join("single.safetensors");
    std::fs::write(&original_path, single).unwrap();
    let original = read_safetensors(&original_path);
    for (file, expected) in [(TRANSFORMER, CONVERTED_TRANSFORMER), (VAE, CONVERTED_VAE)] {
        let written = read_safetensors(&dir.join(file));
        let names: Vec<&str> = written.keys().map(String::as_str).collect();
        let mut wanted: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
        wanted.sort();
        assert_eq!(names, wanted, "{file}");
        for (name, source) in expected {
            assert!(
                written[*name] == original[*source],
                "{file}: {name} is not {source}"
            );
        }
    }
}

#[test]
fn a_single_file_checkpoint_is_converted_into_a_model_directory_on_its_base() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    let out = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_no_token(&out);
    let dir = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(dir, reel_dir(&sb).join("ltx-video-0.9.6-distilled"));
    assert!(stderr.contains("model_dir = "), "{stderr}");

    // The base's files, but not its transformer and VAE weights.
    for path in NEEDED
        .iter()
        .filter(|path| **path != TRANSFORMER && **path != VAE)
    {
        if *path == "model_index.json" {
            continue;
        }
        let local = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(local == hub.file(path), "{path} differs from the base's");
    }
    for weights in [TRANSFORMER, VAE] {
        assert!(
            !hub.seen().iter().any(|seen| seen.path.ends_with(weights)),
            "the base's {weights} was downloaded"
        );
    }
    assert_converted(&dir, &hub.file(DISTILLED_096));

    // model_index.json: the base's, naming the single file (the pipeline
    // reads "distilled" there) and recording the sources.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model_index.json")).unwrap()).unwrap();
    assert_eq!(index["_class_name"], "LTXPipeline");
    assert_eq!(index["transformer"][1], "LTXVideoTransformer3DModel");
    assert_eq!(
        index["_name_or_path"],
        format!("{SINGLE_REPO}/{DISTILLED_096}")
    );
    let record = &index["_reel_single_file"];
    assert_eq!(record["distilled"], true);
    assert_eq!(record["commit"], SINGLE_COMMIT);
    assert_eq!(record["base"], REPO);
    assert_eq!(record["base_commit"], COMMIT);
    assert!(hidden_entries(&reel_dir(&sb)).is_empty());

    // Pulled again: only the listings are asked, nothing is rewritten.
    let before = hub.seen().len();
    let again = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), text(&out.stdout));
    assert!(text(&again.stderr).contains("already converted"));
    let later: Vec<_> = hub.seen()[before..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(
        later,
        vec![
            format!("/api/models/{REPO}/revision/main"),
            format!("/api/models/{SINGLE_REPO}/revision/main"),
        ]
    );

    // A converted file deleted since: converted again from the cache.
    std::fs::remove_file(dir.join(VAE)).unwrap();
    let before = hub.seen().len();
    let again = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_converted(&dir, &hub.file(DISTILLED_096));
    assert!(
        !hub.seen()[before..]
            .iter()
            .any(|s| s.path.contains("/resolve/")),
        "downloaded again"
    );
    assert!(hidden_entries(&reel_dir(&sb)).is_empty());

    // The 0.9.8 file into a folder of one's own: the base comes from the cache.
    let before = hub.seen().len();
    let target = sb.path().join("models/ltx-2b-098");
    let out = pull_with(
        &sb,
        &hub,
        &[
            "pull",
            "ltx-video-0.9.8-distilled",
            "--to",
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(PathBuf::from(text(&out.stdout).trim()), target);
    assert_converted(&target, &hub.file(DISTILLED_098));
    let fetched: Vec<_> = hub.seen()[before..]
        .iter()
        .filter(|s| s.path.contains("/resolve/"))
        .map(|s| s.path.clone())
        .collect();
    assert!(!fetched.is_empty());
    assert_eq!(
        fetched,
        vec![format!("/{SINGLE_REPO}/resolve/main/{DISTILLED_098}"); fetched.len()]
    );

    // --to is refused for a diffusers-layout repository.
    let out = pull_with(&sb, &hub, &["pull", NAME, "--to", target.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--to is for checkpoints converted"));
}

#[test]
fn an_ltx2_single_file_is_converted_into_a_model_directory_the_pipeline_loads() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    let out = pull(&sb, &hub, "ltx-2-19b-distilled");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_no_token(&out);
    let dir = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(dir, reel_dir(&sb).join("ltx-2-19b-distilled"));

    // Gemma, the tokenizer, the scheduler and every config from the base;
    // no converted component's weights fetched from it.
    let served: Vec<String> = hub.state.lock().unwrap().ltx2.keys().cloned().collect();
    for path in &served {
        let converted = LTX2_CONVERTED.iter().any(|folder| {
            path.starts_with(&format!("{folder}/")) && !path.ends_with("config.json")
        });
        if converted || path == LTX2_DISTILLED || path == "model_index.json" {
            continue;
        }
        let local = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            local == hub.ltx2_file(path),
            "{path} differs from the base's"
        );
    }
    let fetched: Vec<String> = hub
        .seen()
        .iter()
        .filter(|seen| seen.path.contains("/resolve/"))
        .map(|seen| seen.path.clone())
        .collect();
    for folder in LTX2_CONVERTED {
        let weights = format!("/{LTX2_REPO}/resolve/main/{folder}/diffusion_pytorch_model");
        assert!(
            !fetched.iter().any(|path| path.starts_with(&weights)),
            "the base's {folder} weights were downloaded"
        );
        // Converted: the diffusers-layout weights, tensor for tensor.
        let file = format!("{folder}/diffusion_pytorch_model.safetensors");
        let written = read_safetensors(&dir.join(&file));
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(scratch.path().join("base"), hub.ltx2_file(&file)).unwrap();
        let base = read_safetensors(&scratch.path().join("base"));
        assert!(written == base, "{file} is not the base's weights");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model_index.json")).unwrap()).unwrap();
    assert_eq!(index["_class_name"], "LTX2Pipeline");
    assert_eq!(
        index["_name_or_path"],
        format!("{LTX2_REPO}/{LTX2_DISTILLED}")
    );
    assert_eq!(index["_reel_single_file"]["distilled"], true);
    assert_eq!(index["_reel_single_file"]["base_commit"], LTX2_COMMIT);
    assert!(hidden_entries(&reel_dir(&sb)).is_empty());
    // The directory is a model: every component loads and fits the others.
    reel_engine::ltx2::pipeline::Ltx2Pipeline::load(
        &dir,
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
        reel_engine::ltx2::pipeline::TextEncoderPlacement::PerJob,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));

    // A base whose config the file does not fit: refused, naming the weight
    // and the config, nothing presented.
    {
        let mut state = hub.state.lock().unwrap();
        let config = state.ltx2.get_mut("vocoder/config.json").unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&config.bytes).unwrap();
        json["hidden_channels"] = serde_json::json!(64);
        config.bytes = serde_json::to_vec(&json).unwrap();
    }
    // (A fresh cache: the same commit would be served from the cache.)
    let sb = Sandbox::sqlite();
    let target = sb.path().join("models/ltx2-odd");
    let out = pull_with(
        &sb,
        &hub,
        &[
            "pull",
            "ltx-2-19b-distilled",
            "--to",
            target.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("vocoder/config.json") && stderr.contains("conv_in.weight"),
        "{stderr}"
    );
    assert!(!target.exists());
    assert!(hidden_entries(target.parent().unwrap()).is_empty());
}

#[test]
fn an_interrupted_single_file_download_resumes_and_nothing_half_done_is_presented() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    // Large enough to cut: pad the file with a big (ignored-by-name) tensor.
    let mut tensors = SINGLE_TENSORS.to_vec();
    tensors.push((
        "vae.per_channel_statistics.mean-of-stds_over_std-of-means",
        &[200_000],
    ));
    let bytes = safetensors_file(&tensors, 13);
    hub.state.lock().unwrap().single.insert(
        DISTILLED_096.into(),
        HubFile {
            bytes: bytes.clone(),
            lfs: true,
        },
    );
    const AFTER: usize = 30_000;
    hub.state.lock().unwrap().cut = Some(Cut {
        file: DISTILLED_096.into(),
        after: AFTER,
        times: u32::MAX,
    });
    let first = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
    let stderr = text(&first.stderr);
    assert!(!first.status.success(), "{stderr}");
    assert!(stderr.contains(DISTILLED_096), "{stderr}");
    assert!(text(&first.stdout).trim().is_empty());
    assert!(!reel_dir(&sb).join("ltx-video-0.9.6-distilled").exists());
    let saved = hub.data_ranges(DISTILLED_096).len() * AFTER;

    hub.state.lock().unwrap().cut = None;
    let second = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
    assert!(second.status.success(), "{}", text(&second.stderr));
    let ranges = hub.data_ranges(DISTILLED_096);
    assert_eq!(ranges.last(), Some(&format!("bytes={saved}-")));
    let dir = reel_dir(&sb).join("ltx-video-0.9.6-distilled");
    assert_eq!(PathBuf::from(text(&second.stdout).trim()), dir);
    assert_converted(&dir, &bytes);
    assert!(hidden_entries(&reel_dir(&sb)).is_empty());
}

#[test]
fn a_single_file_that_is_no_ltx_checkpoint_fails_clearly_leaving_no_model() {
    let cases: [(Vec<u8>, &str); 3] = [
        (
            safetensors_file(&[("unet.conv_in.weight", &[4, 4])], 21),
            "not an LTX-Video single-file checkpoint",
        ),
        (
            b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!".to_vec(),
            "not a readable safetensors file",
        ),
        // An LTX file diffusers would load on 0.9.1's configs.
        (
            safetensors_file(
                &[
                    ("model.diffusion_model.patchify_proj.weight", &[4, 8]),
                    ("vae.encoder.conv_in.conv.bias", &[4]),
                    ("vae.encoder.conv_out.conv.weight", &[2, 512, 1, 1, 1]),
                    (
                        "vae.decoder.last_time_embedder.timestep_embedder.linear_1.weight",
                        &[4, 2],
                    ),
                ],
                22,
            ),
            "diffusers/LTX-Video-0.9.1",
        ),
    ];
    for (bytes, expected) in cases {
        let hub = FakeHub::start();
        let sb = Sandbox::sqlite();
        hub.state
            .lock()
            .unwrap()
            .single
            .insert(DISTILLED_096.into(), HubFile { bytes, lfs: true });
        let out = pull(&sb, &hub, "ltx-video-0.9.6-distilled");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(stderr.contains(DISTILLED_096), "{stderr}");
        assert!(text(&out.stdout).trim().is_empty());
        assert!(!reel_dir(&sb).join("ltx-video-0.9.6-distilled").exists());
        assert!(
            hidden_entries(&reel_dir(&sb)).is_empty(),
            "{:?}",
            hidden_entries(&reel_dir(&sb))
        );
    }
}

/// A speech model pulled by `name` from `repo_dir` (models--ORG--NAME) at
/// `commit`: printed, the transformers files there as served (`served`),
/// the `skipped` ones not, and the config line named; its directory.
fn assert_speech_model_pulled(
    sb: &Sandbox,
    hub: &FakeHub,
    name: &str,
    (repo_dir, commit): (&str, &str),
    served: impl Fn(&str) -> Vec<u8>,
    skipped: &[&str],
    config_key: &str,
) -> PathBuf {
    let out = pull(sb, hub, name);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_token(&out);
    let printed = PathBuf::from(text(&out.stdout).trim());
    assert_eq!(
        printed,
        sb.path()
            .join("hf/hub")
            .join(repo_dir)
            .join("snapshots")
            .join(commit)
    );
    for file in WHISPER_FILES {
        let local = std::fs::read(printed.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            local == served(file),
            "{file} differs from the served bytes"
        );
    }
    for file in skipped {
        assert!(!printed.join(file).exists(), "{file} was downloaded");
    }
    let stderr = text(&out.stderr);
    assert!(stderr.contains(config_key), "{stderr}");
    printed
}

#[test]
fn csm_comes_from_the_hub_for_the_voice_and_loads() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    // Whisper's file names: the model (its codec inside), configs, the tokenizer.
    let printed = assert_speech_model_pulled(
        &sb,
        &hub,
        "csm-1b",
        ("models--sesame--csm-1b", CSM_COMMIT),
        |file| std::fs::read(csm_fixture().join(file)).unwrap(),
        &["ckpt.pt", "preprocessor_config.json"],
        "[voice]\n  model_dir = ",
    );
    // What was pulled is a speech model the engine loads.
    reel_engine::voice::SpeechModel::load(&printed, &candle_core::Device::Cpu).unwrap();
}

#[test]
fn whisper_checkpoints_come_from_the_hub_for_perception() {
    let hub = FakeHub::start();
    let sb = Sandbox::sqlite();
    assert_speech_model_pulled(
        &sb,
        &hub,
        "whisper-base",
        ("models--openai--whisper-base", WHISPER_COMMIT),
        |file| hub.file(file),
        &["pytorch_model.bin", "flax_model.msgpack"],
        "whisper_model_dir = ",
    );

    // The other sizes are known names (their repositories are not served).
    let out = pull(&sb, &hub, "whisper-large-v3-turbo");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("openai/whisper-large-v3-turbo"),
        "{}",
        text(&out.stderr)
    );
    let out = pull(&sb, &hub, "whisper-huge");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("whisper-small"),
        "{}",
        text(&out.stderr)
    );
}
