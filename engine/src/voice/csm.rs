//! Sesame's CSM in transformers' layout (`CsmForConditionalGeneration`): a
//! Llama backbone reads a sequence where each position is a text token or
//! a whole audio frame (the sum of its codebooks' embeddings) and predicts
//! codebook 0 of the next frame; a small depth decoder, started from the
//! backbone's last state, predicts codebooks 1..K-1 one after another.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{embedding, linear_no_bias, Embedding, Linear, VarBuilder};
use serde::Deserialize;

use super::llama::{last_position, Llama, LlamaConfig};

/// `config.json` of a CSM model directory (the codec's part is read by `mimi`).
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub backbone: LlamaConfig,
    pub num_codebooks: usize,
    /// Ids per codebook (2051 for CSM-1B: Mimi's 2048 and three unused).
    pub vocab_size: usize,
    pub text_vocab_size: usize,
    #[serde(default)]
    pub codebook_eos_token_id: u32,
    pub depth_decoder_config: DepthConfig,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DepthConfig {
    #[serde(flatten)]
    pub stack: LlamaConfig,
    pub backbone_hidden_size: usize,
}

/// One position of the backbone's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    Text(u32),
    /// One code per codebook.
    Frame(Vec<u32>),
}

pub struct Csm {
    backbone: Llama,
    depth: Llama,
    /// (codebooks × vocab, backbone hidden), shared by both halves.
    audio_embeddings: Embedding,
    text_embeddings: Embedding,
    lm_head: Linear,
    projector: Linear,
    /// (codebooks - 1, depth hidden, vocab): the head of codebook i is `i - 1`.
    codebooks_head: Tensor,
    cfg: Config,
    device: Device,
}

impl Csm {
    /// `vb` is the root of `model.safetensors`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (k, vocab) = (cfg.num_codebooks, cfg.vocab_size);
        let hidden = cfg.backbone.hidden_size;
        let depth_cfg = &cfg.depth_decoder_config;
        if depth_cfg.backbone_hidden_size != hidden {
            candle_core::bail!(
                "depth_decoder_config.backbone_hidden_size {} differs from hidden_size {hidden}",
                depth_cfg.backbone_hidden_size
            );
        }
        // The codebook embeddings are tied; save_pretrained keeps one name of the two.
        let tied = "backbone_model.embed_tokens.embed_audio_tokens";
        let audio_embeddings = if vb.contains_tensor(&format!("{tied}.weight")) {
            embedding(k * vocab, hidden, vb.pp(tied))?
        } else {
            embedding(k * vocab, hidden, vb.pp("depth_decoder.model.embed_tokens"))?
        };
        let depth_vb = vb.pp("depth_decoder");
        Ok(Self {
            backbone: Llama::new(&cfg.backbone, vb.pp("backbone_model"))?,
            depth: Llama::new(&depth_cfg.stack, depth_vb.pp("model"))?,
            audio_embeddings,
            text_embeddings: embedding(cfg.text_vocab_size, hidden, vb.pp("embed_text_tokens"))?,
            lm_head: linear_no_bias(hidden, vocab, vb.pp("lm_head"))?,
            projector: linear_no_bias(
                hidden,
                depth_cfg.stack.hidden_size,
                depth_vb.pp("model.inputs_embeds_projector"),
            )?,
            codebooks_head: depth_vb.get(
                (k - 1, depth_cfg.stack.hidden_size, vocab),
                "codebooks_head.weight",
            )?,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn max_positions(&self) -> usize {
        self.backbone.max_positions()
    }

    /// (1, t, hidden): text positions take the text table, frames the sum
    /// of their codebooks' rows (codebook i's ids offset by i × vocab).
    pub fn embed(&self, positions: &[Position]) -> Result<Tensor> {
        let (k, vocab) = (self.cfg.num_codebooks, self.cfg.vocab_size as u32);
        let t = positions.len();
        let mut text_ids = vec![0u32; t];
        let mut audio_ids = vec![0u32; t * k];
        let mut is_frame = vec![0f32; t];
        for (i, position) in positions.iter().enumerate() {
            match position {
                Position::Text(id) => text_ids[i] = *id,
                Position::Frame(codes) => {
                    if codes.len() != k {
                        candle_core::bail!("a frame has {} codes, the model {k}", codes.len());
                    }
                    for (c, code) in codes.iter().enumerate() {
                        audio_ids[i * k + c] = code + c as u32 * vocab;
                    }
                    is_frame[i] = 1.0;
                }
            }
        }
        let text = self
            .text_embeddings
            .forward(&Tensor::from_vec(text_ids, t, &self.device)?)?; // (t, hidden)
        let audio = self
            .audio_embeddings
            .forward(&Tensor::from_vec(audio_ids, (t, k), &self.device)?)?
            .sum(1)?; // (t, hidden)
        let is_frame = Tensor::from_vec(is_frame, (t, 1), &self.device)?;
        let is_text = (1.0 - &is_frame)?;
        let mixed = (text.broadcast_mul(&is_text)? + audio.broadcast_mul(&is_frame)?)?;
        mixed.unsqueeze(0)
    }

    /// Forgets the backbone's cache (a new line).
    pub fn reset(&mut self) {
        self.backbone.clear_cache();
        self.depth.clear_cache();
    }

    /// Runs the backbone over `embeds` (1, t, hidden) after what it has seen:
    /// the normed states (1, t, hidden).
    pub fn backbone(&mut self, embeds: &Tensor) -> Result<Tensor> {
        self.backbone.forward(embeds)
    }

    /// Codebook 0's logits (…, vocab) from backbone states (…, hidden).
    pub fn codebook0_logits(&self, states: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(states)
    }

    /// Starts a frame's depth pass: the backbone's last state (1, hidden)
    /// and codebook 0's code; returns codebook 1's logits (vocab).
    pub fn depth_start(&mut self, backbone_last: &Tensor, code0: u32) -> Result<Tensor> {
        self.depth.clear_cache();
        let code = self
            .audio_embeddings
            .forward(&Tensor::new(&[code0], &self.device)?)?;
        let input = Tensor::cat(&[backbone_last, &code], 0)?.unsqueeze(0)?; // (1, 2, hidden)
        self.depth_step(&input)
    }

    /// Feeds codebook `i`'s code (1 ≤ i < K-1); returns codebook i+1's logits.
    pub fn depth_next(&mut self, codebook: usize, code: u32) -> Result<Tensor> {
        let id = code + (codebook * self.cfg.vocab_size) as u32;
        let input = self
            .audio_embeddings
            .forward(&Tensor::new(&[id], &self.device)?)?
            .unsqueeze(0)?; // (1, 1, hidden)
        self.depth_step(&input)
    }

    fn depth_step(&mut self, input: &Tensor) -> Result<Tensor> {
        let projected = self.projector.forward(input)?;
        let states = self.depth.forward(&projected)?;
        // The position just fed is depth position p; it predicts codebook p.
        let codebook = self.depth.position() - 1;
        let head = self.codebooks_head.get(codebook - 1)?; // (depth hidden, vocab)
        last_position(&states)?.matmul(&head)?.squeeze(0)
    }

    /// The depth decoder's logits for codebooks 1..=prefix.len()-1 in one
    /// pass (the parity tests' view): `prefix` is [any, c0, c1, ..], its
    /// first entry replaced by the backbone state as in transformers.
    pub fn depth_logits(&mut self, backbone_last: &Tensor, prefix: &[u32]) -> Result<Tensor> {
        let vocab = self.cfg.vocab_size as u32;
        let ids: Vec<u32> = prefix
            .iter()
            .enumerate()
            .skip(1)
            .map(|(p, code)| code + (p as u32 - 1) * vocab)
            .collect();
        let n = ids.len();
        let codes = self
            .audio_embeddings
            .forward(&Tensor::from_vec(ids, n, &self.device)?)?;
        let input = Tensor::cat(&[backbone_last, &codes], 0)?.unsqueeze(0)?;
        self.depth.clear_cache();
        let states = self.depth.forward(&self.projector.forward(&input)?)?; // (1, n + 1, hidden)
        let rows = (1..=n)
            .map(|p| {
                states
                    .get(0)?
                    .get(p)?
                    .unsqueeze(0)?
                    .matmul(&self.codebooks_head.get(p - 1)?)?
                    .squeeze(0)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::stack(&rows, 0)
    }
}

/// Index of the largest value of a 1-D tensor (the first of equals).
pub fn argmax(logits: &Tensor) -> Result<u32> {
    let values: Vec<f32> = logits.to_dtype(DType::F32)?.to_vec1()?;
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    Ok(best as u32)
}
