//! dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1`)
//! in candle: a 150×150 aligned face chip → a 128-d embedding. A 7×7
//! stride-2 stem and 3×3 max pool, then 14 residual blocks (two 3×3 convs
//! with folded batch norm); a block that halves the size uses a stride-2
//! first conv and a 2×2 average pool on the shortcut. dlib adds tensors of
//! different sizes by zero-padding the smaller at the end (rows, columns and
//! channels), and this network relies on it: the shortcut can be a row and
//! a column larger and have fewer channels.

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, VarBuilder};
use serde::{Deserialize, Serialize};

use super::detector::{conv2d, ConvSpec};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockSpec {
    pub channels: usize,
    /// Stride-2 first conv and an average-pooled shortcut.
    pub downsample: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The chip's side in pixels.
    pub input_size: usize,
    pub mean_rgb: [f32; 3],
    pub stem: ConvSpec,
    /// (kernel, stride) of the max pool after the stem.
    pub stem_pool: [usize; 2],
    /// Input first (weights `blocks.{i}`).
    pub blocks: Vec<BlockSpec>,
    pub embedding_size: usize,
}

struct Affine {
    scale: Tensor,
    shift: Tensor,
}

impl Affine {
    fn new(channels: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            // (1, c, 1, 1) to broadcast over (n, c, h, w)
            scale: vb.get(channels, "weight")?.reshape((1, channels, 1, 1))?,
            shift: vb.get(channels, "bias")?.reshape((1, channels, 1, 1))?,
        })
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.broadcast_mul(&self.scale)?.broadcast_add(&self.shift)
    }
}

struct Block {
    conv1: Conv2d,
    affine1: Affine,
    conv2: Conv2d,
    affine2: Affine,
    downsample: bool,
}

impl Block {
    fn new(spec: &BlockSpec, in_channels: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let first = ConvSpec {
            out_channels: spec.channels,
            kernel: 3,
            stride: if spec.downsample { 2 } else { 1 },
            // dlib pads only stride-1 convolutions.
            padding: if spec.downsample { 0 } else { 1 },
        };
        let second = ConvSpec {
            out_channels: spec.channels,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        Ok(Self {
            conv1: conv2d(&first, in_channels, vb.pp("conv1"))?,
            affine1: Affine::new(spec.channels, vb.pp("affine1"))?,
            conv2: conv2d(&second, spec.channels, vb.pp("conv2"))?,
            affine2: Affine::new(spec.channels, vb.pp("affine2"))?,
            downsample: spec.downsample,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.affine1.forward(&self.conv1.forward(x)?)?.relu()?;
        let y = self.affine2.forward(&self.conv2.forward(&y)?)?;
        let shortcut = if self.downsample {
            x.avg_pool2d(2)?
        } else {
            x.clone()
        };
        add_zero_padded(&y, &shortcut)?.relu()
    }
}

/// dlib's `add_prev`: the sum over the larger shape, each input zero beyond
/// its own extent.
fn add_zero_padded(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (an, ac, ah, aw) = a.dims4()?;
    let (bn, bc, bh, bw) = b.dims4()?;
    let target = [an.max(bn), ac.max(bc), ah.max(bh), aw.max(bw)];
    let pad = |t: &Tensor, dims: [usize; 4]| -> candle_core::Result<Tensor> {
        let mut t = t.clone();
        for (axis, (&have, &want)) in dims.iter().zip(&target).enumerate() {
            if want > have {
                t = t.pad_with_zeros(axis, 0, want - have)?;
            }
        }
        Ok(t)
    };
    pad(a, [an, ac, ah, aw])? + pad(b, [bn, bc, bh, bw])?
}

pub struct Embedder {
    stem: Conv2d,
    stem_affine: Affine,
    blocks: Vec<Block>,
    fc: Tensor,
    cfg: Config,
}

impl Embedder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let stem = conv2d(&cfg.stem, 3, vb.pp("stem.conv"))?;
        let stem_affine = Affine::new(cfg.stem.out_channels, vb.pp("stem.affine"))?;
        let mut channels = cfg.stem.out_channels;
        let mut blocks = Vec::with_capacity(cfg.blocks.len());
        for (i, spec) in cfg.blocks.iter().enumerate() {
            blocks.push(Block::new(spec, channels, vb.pp(format!("blocks.{i}")))?);
            channels = spec.channels;
        }
        let fc = vb.get((cfg.embedding_size, channels), "fc.weight")?;
        Ok(Self {
            stem,
            stem_affine,
            blocks,
            fc,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Normalised chips (n, 3, size, size) → embeddings (n, 128).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.stem_affine.forward(&self.stem.forward(x)?)?.relu()?;
        let [k, s] = self.cfg.stem_pool;
        let mut x = x.max_pool2d_with_stride(k, s)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let pooled = x.mean((2, 3))?; // (n, c)
        pooled.matmul(&self.fc.t()?)
    }

    /// Packed RGB chips of `input_size`² → the network's input tensor.
    pub fn normalise(
        &self,
        chips: &[Vec<u8>],
        device: &candle_core::Device,
    ) -> candle_core::Result<Tensor> {
        let side = self.cfg.input_size;
        let plane = side * side;
        let mut data = vec![0f32; chips.len() * 3 * plane];
        for (n, chip) in chips.iter().enumerate() {
            for (i, px) in chip.chunks_exact(3).enumerate().take(plane) {
                for c in 0..3 {
                    data[(n * 3 + c) * plane + i] =
                        (f32::from(px[c]) - self.cfg.mean_rgb[c]) / 256.0;
                }
            }
        }
        Tensor::from_vec(data, (chips.len(), 3, side, side), device)
    }
}
