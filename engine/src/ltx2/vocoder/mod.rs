//! LTX-2's vocoders: mel spectrograms `[B, 2, time, mel]` to waveforms
//! `[B, 2, samples]`. `LTX2Vocoder` (LTX-2.0: HiFi-GAN style, leaky ReLU)
//! and `LTX2VocoderWithBWE` (LTX-2.3: BigVGAN style with anti-aliased Snake
//! activations, then a bandwidth extender that re-analyses the first
//! stage's output and adds the detail of a higher sample rate).

mod bwe;
mod filters;

use std::path::Path;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Result, Shape, Tensor};
use candle_nn::{
    conv1d_no_bias, Conv1d, Conv1dConfig, ConvTranspose1d, ConvTranspose1dConfig, VarBuilder,
};
use serde::Deserialize;

use super::load::{self, LoadError, DIFFUSERS_WEIGHTS};
use crate::cpu_conv::conv1d;
pub use bwe::{BweConfig, VocoderWithBwe};
use filters::{DownSample1d, Snake, UpSample1d};

/// The activation of the ResNet blocks (`act_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    LeakyRelu,
    Snake,
    Snakebeta,
}

/// What follows the last convolution (`final_act_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalActivation {
    Tanh,
    Clamp,
}

/// `LTX2Vocoder`'s config, with diffusers' defaults (LTX-2.0).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub in_channels: usize,
    pub hidden_channels: usize,
    pub out_channels: usize,
    pub upsample_kernel_sizes: Vec<usize>,
    pub upsample_factors: Vec<usize>,
    pub resnet_kernel_sizes: Vec<usize>,
    pub resnet_dilations: Vec<Vec<usize>>,
    pub act_fn: Activation,
    pub leaky_relu_negative_slope: f64,
    pub antialias: bool,
    pub antialias_ratio: usize,
    pub antialias_kernel_size: usize,
    pub final_act_fn: Option<FinalActivation>,
    pub final_bias: bool,
    pub output_sampling_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            in_channels: 128,
            hidden_channels: 1024,
            out_channels: 2,
            upsample_kernel_sizes: vec![16, 15, 8, 4, 4],
            upsample_factors: vec![6, 5, 2, 2, 2],
            resnet_kernel_sizes: vec![3, 7, 11],
            resnet_dilations: vec![vec![1, 3, 5], vec![1, 3, 5], vec![1, 3, 5]],
            act_fn: Activation::LeakyRelu,
            leaky_relu_negative_slope: 0.1,
            antialias: false,
            antialias_ratio: 2,
            antialias_kernel_size: 12,
            final_act_fn: Some(FinalActivation::Tanh),
            final_bias: true,
            output_sampling_rate: 24000,
        }
    }
}

impl Config {
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.upsample_kernel_sizes.len() != self.upsample_factors.len() {
            return Err("upsample_kernel_sizes and upsample_factors differ in length".into());
        }
        if self.resnet_kernel_sizes.len() != self.resnet_dilations.len() {
            return Err("resnet_kernel_sizes and resnet_dilations differ in length".into());
        }
        if self.resnet_kernel_sizes.iter().any(|k| k % 2 == 0) {
            return Err("resnet kernel sizes must be odd (\"same\" padding)".into());
        }
        if self.hidden_channels >> self.upsample_factors.len() == 0 {
            return Err("hidden_channels halves to 0 before the last upsampler".into());
        }
        Ok(())
    }

    /// Waveform samples per spectrogram frame.
    pub fn upsampling(&self) -> usize {
        self.upsample_factors.iter().product()
    }
}

/// One activation in a ResNet block, anti-aliased when the config says so.
#[derive(Debug, Clone)]
enum Act {
    LeakyRelu(f64),
    Snake(Snake),
    AntiAliased {
        act: Box<Act>,
        upsample: UpSample1d,
        downsample: DownSample1d,
    },
}

impl Act {
    fn new(cfg: &Config, channels: usize, vb: VarBuilder) -> Result<Self> {
        let inner_vb = if cfg.antialias {
            vb.pp("act")
        } else {
            vb.clone()
        };
        let act = match cfg.act_fn {
            Activation::LeakyRelu => Act::LeakyRelu(cfg.leaky_relu_negative_slope),
            Activation::Snake => Act::Snake(Snake::new(channels, false, inner_vb)?),
            Activation::Snakebeta => Act::Snake(Snake::new(channels, true, inner_vb)?),
        };
        if !cfg.antialias {
            return Ok(act);
        }
        Ok(Act::AntiAliased {
            act: Box::new(act),
            upsample: UpSample1d::kaiser(
                cfg.antialias_ratio,
                cfg.antialias_kernel_size,
                vb.pp("upsample"),
            )?,
            downsample: DownSample1d::kaiser(
                cfg.antialias_ratio,
                cfg.antialias_kernel_size,
                vb.pp("downsample"),
            )?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Act::LeakyRelu(slope) => leaky_relu(x, *slope),
            Act::Snake(snake) => snake.forward(x),
            Act::AntiAliased {
                act,
                upsample,
                downsample,
            } => downsample.forward(&act.forward(&upsample.forward(x)?)?),
        }
    }
}

fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        return x.apply_op1_no_bwd(&LeakyReluCpu(slope as f32));
    }
    // max(x, 0) + slope · min(x, 0)
    let zeros = x.zeros_like()?;
    x.maximum(&zeros)? + (x.minimum(&zeros)? * slope)?
}

/// Leaky ReLU in one pass over f32 values (the tensor expression is five),
/// shared out between the threads.
struct LeakyReluCpu(f32);

/// Values per task of the threaded leaky ReLU.
const LEAKY_RELU_CHUNK: usize = 1 << 15;

impl CustomOp1 for LeakyReluCpu {
    fn name(&self) -> &'static str {
        "leaky-relu-f32"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("leaky relu: expected contiguous f32 values");
        };
        let (slope, src) = (self.0, &data[start..end]);
        let mut out: Vec<f32> = Vec::with_capacity(src.len());
        let spare = &mut out.spare_capacity_mut()[..src.len()];
        crate::cpu_parallel::for_each_chunk(spare, LEAKY_RELU_CHUNK, |k, piece| {
            let from = &src[k * LEAKY_RELU_CHUNK..][..piece.len()];
            for (o, &v) in piece.iter_mut().zip(from) {
                o.write(if v < 0.0 { v * slope } else { v });
            }
        });
        // SAFETY: the chunks cover `src.len()` values, each written above.
        unsafe { out.set_len(src.len()) };
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// A dilated conv with "same" padding.
fn same_conv(channels: usize, kernel: usize, dilation: usize, vb: VarBuilder) -> Result<Conv1d> {
    let cfg = Conv1dConfig {
        padding: dilation * (kernel - 1) / 2,
        dilation,
        ..Default::default()
    };
    candle_nn::conv1d(channels, channels, kernel, cfg, vb)
}

/// The vocoder's `ResBlock`: per dilation, act → dilated conv → act → conv, residual.
#[derive(Debug, Clone)]
struct ResBlock {
    layers: Vec<(Act, Conv1d, Act, Conv1d)>,
}

impl ResBlock {
    fn new(
        cfg: &Config,
        channels: usize,
        kernel: usize,
        dilations: &[usize],
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = dilations
            .iter()
            .enumerate()
            .map(|(j, &dilation)| {
                Ok((
                    Act::new(cfg, channels, vb.pp("acts1").pp(j))?,
                    same_conv(channels, kernel, dilation, vb.pp("convs1").pp(j))?,
                    Act::new(cfg, channels, vb.pp("acts2").pp(j))?,
                    same_conv(channels, kernel, 1, vb.pp("convs2").pp(j))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }
}

impl Module for ResBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (act1, conv1, act2, conv2) in &self.layers {
            let h = conv1d(conv1, &act1.forward(&x)?)?;
            let h = conv1d(conv2, &act2.forward(&h)?)?;
            x = (x + h)?;
        }
        Ok(x)
    }
}

/// A transposed conv upsampler, built without its padding: candle's fast
/// transposed convolution (one matmul + col2im) takes no padding, and the
/// padded output is the unpadded one with `padding` cut off each end. One
/// batch item at a time, because candle 0.11's col2im path is wrong for
/// batches of more than one (tested in `tests`).
#[derive(Debug, Clone)]
struct Upsampler {
    conv: ConvTranspose1d,
    padding: usize,
}

impl Module for Upsampler {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let batch = x.dim(0)?;
        let full = if batch == 1 {
            self.conv.forward(x)?
        } else {
            let items = (0..batch)
                .map(|i| self.conv.forward(&x.narrow(0, i, 1)?))
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&items, 0)?
        };
        let length = full.dim(2)?.saturating_sub(2 * self.padding);
        full.narrow(2, self.padding, length)?.contiguous()
    }
}

/// diffusers' `LTX2Vocoder`.
#[derive(Debug, Clone)]
pub struct Vocoder {
    conv_in: Conv1d,
    upsamplers: Vec<Upsampler>,
    /// `resnets_per_upsample` blocks after each upsampler, averaged.
    resnets: Vec<Vec<ResBlock>>,
    act_out: Act,
    conv_out: Conv1d,
    config: Config,
}

impl Vocoder {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check().map_err(candle_core::Error::msg)?;
        let conv_in = candle_nn::conv1d(
            cfg.in_channels,
            cfg.hidden_channels,
            7,
            Conv1dConfig {
                padding: 3,
                ..Default::default()
            },
            vb.pp("conv_in"),
        )?;
        let mut channels = cfg.hidden_channels;
        let mut upsamplers = Vec::new();
        let mut resnets = Vec::new();
        let per = cfg.resnet_kernel_sizes.len();
        for (i, (&stride, &kernel)) in cfg
            .upsample_factors
            .iter()
            .zip(&cfg.upsample_kernel_sizes)
            .enumerate()
        {
            let out = channels / 2;
            let up = candle_nn::conv_transpose1d(
                channels,
                out,
                kernel,
                ConvTranspose1dConfig {
                    stride,
                    ..Default::default()
                },
                vb.pp("upsamplers").pp(i),
            )?;
            upsamplers.push(Upsampler {
                conv: up,
                padding: (kernel - stride) / 2,
            });
            let group = cfg
                .resnet_kernel_sizes
                .iter()
                .zip(&cfg.resnet_dilations)
                .enumerate()
                .map(|(j, (&k, dilations))| {
                    ResBlock::new(cfg, out, k, dilations, vb.pp("resnets").pp(i * per + j))
                })
                .collect::<Result<Vec<_>>>()?;
            resnets.push(group);
            channels = out;
        }
        let act_out = match cfg.act_fn {
            // Not the configured slope: the reference's default LeakyReLU.
            Activation::LeakyRelu => Act::LeakyRelu(0.01),
            Activation::Snake | Activation::Snakebeta => {
                let vb = vb.pp("act_out");
                Act::AntiAliased {
                    act: Box::new(Act::Snake(Snake::new(channels, true, vb.pp("act"))?)),
                    upsample: UpSample1d::kaiser(
                        cfg.antialias_ratio,
                        cfg.antialias_kernel_size,
                        vb.pp("upsample"),
                    )?,
                    downsample: DownSample1d::kaiser(
                        cfg.antialias_ratio,
                        cfg.antialias_kernel_size,
                        vb.pp("downsample"),
                    )?,
                }
            }
        };
        let out_cfg = Conv1dConfig {
            padding: 3,
            ..Default::default()
        };
        let conv_out = if cfg.final_bias {
            candle_nn::conv1d(channels, cfg.out_channels, 7, out_cfg, vb.pp("conv_out"))?
        } else {
            conv1d_no_bias(channels, cfg.out_channels, 7, out_cfg, vb.pp("conv_out"))?
        };
        Ok(Self {
            conv_in,
            upsamplers,
            resnets,
            act_out,
            conv_out,
            config: cfg.clone(),
        })
    }

    /// Loads a diffusers `vocoder/` folder holding an `LTX2Vocoder`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let config: Config = load::read_config(dir, "LTX2Vocoder")?;
        config
            .check()
            .map_err(|reason| load::invalid_config(dir, "LTX2Vocoder", reason))?;
        let vb = load::var_builder(dir, DIFFUSERS_WEIGHTS, dtype, device)?;
        load::build(dir, || Self::new(&config, vb))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `mel` [B, C, time, mel bins] → waveform [B, out_channels, time · upsampling].
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        let (b, c, t, m) = mel.dims4()?;
        // (b, c · mel, time): channels and bins side by side, time last
        let x = mel.transpose(2, 3)?.reshape((b, c * m, t))?;
        let mut x = conv1d(&self.conv_in, &x)?;
        for (up, group) in self.upsamplers.iter().zip(&self.resnets) {
            if self.config.act_fn == Activation::LeakyRelu {
                x = leaky_relu(&x, self.config.leaky_relu_negative_slope)?;
            }
            x = up.forward(&x)?;
            let mut sum: Option<Tensor> = None;
            for block in group {
                let y = block.forward(&x)?;
                sum = Some(match sum {
                    Some(s) => (s + y)?,
                    None => y,
                });
            }
            if let Some(sum) = sum {
                x = (sum / group.len() as f64)?;
            }
        }
        let x = conv1d(&self.conv_out, &self.act_out.forward(&x)?)?;
        match self.config.final_act_fn {
            Some(FinalActivation::Tanh) => x.tanh(),
            Some(FinalActivation::Clamp) => x.clamp(-1f32, 1f32),
            None => Ok(x),
        }
    }
}

/// Either vocoder, as `vocoder/config.json`'s `_class_name` says.
#[derive(Debug, Clone)]
pub enum AnyVocoder {
    Plain(Box<Vocoder>),
    WithBwe(Box<VocoderWithBwe>),
}

#[derive(Deserialize)]
struct ClassName {
    #[serde(rename = "_class_name")]
    class_name: Option<String>,
}

impl AnyVocoder {
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> std::result::Result<Self, LoadError> {
        let class: ClassName = load::read_config(dir, "vocoder")?;
        match class.class_name.as_deref() {
            Some("LTX2VocoderWithBWE") => Ok(Self::WithBwe(Box::new(VocoderWithBwe::load(
                dir, dtype, device,
            )?))),
            Some("LTX2Vocoder") | None => {
                Ok(Self::Plain(Box::new(Vocoder::load(dir, dtype, device)?)))
            }
            Some(other) => Err(load::invalid_config(
                dir,
                "vocoder",
                format!("_class_name {other:?} is not LTX2Vocoder or LTX2VocoderWithBWE"),
            )),
        }
    }

    /// Sample rate of the waveform.
    pub fn sample_rate(&self) -> u32 {
        match self {
            Self::Plain(v) => v.config().output_sampling_rate,
            Self::WithBwe(v) => v.config().output_sampling_rate,
        }
    }

    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        match self {
            Self::Plain(v) => v.forward(mel),
            Self::WithBwe(v) => v.forward(mel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .unwrap_or(f32::INFINITY)
    }

    #[test]
    fn upsampler_matches_the_padded_transposed_conv_for_batches() -> Result<()> {
        let dev = Device::Cpu;
        // (in, out, kernel, stride): paddings 1, 2, 5 and 0.
        for (cin, cout, k, s) in [(32, 16, 12, 10), (4, 2, 8, 4), (6, 3, 16, 6), (4, 2, 3, 2)] {
            let weight = Tensor::randn(0f32, 1.0, (cin, cout, k), &dev)?;
            let bias = Tensor::randn(0f32, 1.0, cout, &dev)?;
            let padding = (k - s) / 2;
            let up = Upsampler {
                conv: ConvTranspose1d::new(
                    weight.clone(),
                    Some(bias.clone()),
                    ConvTranspose1dConfig {
                        stride: s,
                        ..Default::default()
                    },
                ),
                padding,
            };
            let x = Tensor::randn(0f32, 1.0, (2, cin, 5), &dev)?;
            // candle's padded transposed conv, item by item (with no padding
            // candle takes its col2im path, wrong for batches of two or more).
            let items = (0..2)
                .map(|i| {
                    x.narrow(0, i, 1)?
                        .conv_transpose1d(&weight, padding, 0, s, 1, 1)
                })
                .collect::<Result<Vec<_>>>()?;
            let want = Tensor::cat(&items, 0)?.broadcast_add(&bias.reshape((1, cout, 1))?)?;
            let got = up.forward(&x)?;
            assert_eq!(got.dims(), want.dims());
            assert!(max_diff(&got, &want) < 1e-4, "{cin} {cout} {k} {s}");
        }
        Ok(())
    }

    #[test]
    fn leaky_relu_in_one_pass_matches_the_formula() -> Result<()> {
        let x = Tensor::new(&[-2f32, -0.5, 0.0, 0.25, 3.0], &Device::Cpu)?;
        let got = leaky_relu(&x, 0.1)?.to_vec1::<f32>()?;
        assert_eq!(got, vec![-0.2, -0.05, 0.0, 0.25, 3.0]);
        Ok(())
    }
}
