//! dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`) in
//! candle: three stride-2 5×5 convolutions (the downsampler), three 5×5
//! convolutions of 45 filters, and a 9×9 convolution to one score map,
//! each but the last followed by a per-channel affine (batch norm folded)
//! and ReLU. It scans dlib's tiled image pyramid in one pass; every score
//! above 0 is a window, and overlapping windows are suppressed greedily.

use candle_core::{Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

use super::pyramid::{IntRect, PyramidLayout};
use super::FaceError;

/// One convolution as the weight file holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvSpec {
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Stride-2 convolutions, input first (weights `down.{i}`).
    pub downsampler: Vec<ConvSpec>,
    /// Stride-1 convolutions (weights `body.{i}`).
    pub body: Vec<ConvSpec>,
    /// The score map (weights `head`).
    pub head: ConvSpec,
    /// Subtracted from each 0-255 channel before dividing by 256.
    pub mean_rgb: [f32; 3],
    /// Pyramid levels shrink by (rate - 1) / rate.
    pub pyramid_rate: u32,
    pub pyramid_padding: usize,
    pub pyramid_outer_padding: usize,
    /// The sliding window, in pyramid pixels (width, height).
    pub window: [usize; 2],
    /// Non-max suppression: a window overlapping a kept one by more than
    /// this intersection-over-union, or covering this fraction of either,
    /// is dropped.
    pub nms_iou: f64,
    pub nms_percent_covered: f64,
}

/// A conv followed by the folded batch norm (and ReLU).
struct ConvAffine {
    conv: Conv2d,
    scale: Tensor,
    shift: Tensor,
}

impl ConvAffine {
    fn new(spec: &ConvSpec, in_channels: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let conv = conv2d(spec, in_channels, vb.pp("conv"))?;
        let scale = vb.get(spec.out_channels, "affine.weight")?;
        let shift = vb.get(spec.out_channels, "affine.bias")?;
        Ok(Self {
            conv,
            // (1, c, 1, 1) to broadcast over (n, c, h, w)
            scale: scale.reshape((1, spec.out_channels, 1, 1))?,
            shift: shift.reshape((1, spec.out_channels, 1, 1))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.conv
            .forward(x)?
            .broadcast_mul(&self.scale)?
            .broadcast_add(&self.shift)?
            .relu()
    }
}

pub(crate) fn conv2d(
    spec: &ConvSpec,
    in_channels: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: spec.padding,
        stride: spec.stride,
        dilation: 1,
        groups: 1,
        cudnn_fwd_algo: None,
    };
    candle_nn::conv2d(in_channels, spec.out_channels, spec.kernel, cfg, vb)
}

/// A detection in image pixels, dlib's integer rectangle with its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub rect: IntRect,
    pub score: f32,
}

pub struct Detector {
    down: Vec<ConvAffine>,
    body: Vec<ConvAffine>,
    head: Conv2d,
    cfg: Config,
    device: Device,
}

impl Detector {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let mut channels = 3;
        let mut down = Vec::new();
        for (i, spec) in cfg.downsampler.iter().enumerate() {
            down.push(ConvAffine::new(spec, channels, vb.pp(format!("down.{i}")))?);
            channels = spec.out_channels;
        }
        let mut body = Vec::new();
        for (i, spec) in cfg.body.iter().enumerate() {
            body.push(ConvAffine::new(spec, channels, vb.pp(format!("body.{i}")))?);
            channels = spec.out_channels;
        }
        let head = conv2d(&cfg.head, channels, vb.pp("head"))?;
        Ok(Self {
            down,
            body,
            head,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The score map for a normalised tiled pyramid (n, 3, rows, cols).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for layer in self.down.iter().chain(&self.body) {
            x = layer.forward(&x)?;
        }
        self.head.forward(&x)
    }

    /// The pyramid this detector scans for an image of `rows` × `cols`.
    pub fn layout(&self, rows: usize, cols: usize) -> PyramidLayout {
        PyramidLayout::new(
            rows,
            cols,
            self.cfg.pyramid_rate,
            self.cfg.pyramid_padding,
            self.cfg.pyramid_outer_padding,
        )
    }

    /// Faces in a packed RGB image, strongest first.
    pub fn detect(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
    ) -> Result<Vec<Detection>, FaceError> {
        let layout = self.layout(height, width);
        // Too small for the network's receptive field: nothing to scan.
        if layout.levels.is_empty()
            || self.output_size(layout.rows).is_none()
            || self.output_size(layout.cols).is_none()
        {
            return Ok(Vec::new());
        }
        let data = layout.build(rgb, width, self.cfg.mean_rgb);
        let input = Tensor::from_vec(data, (1, 3, layout.rows, layout.cols), &self.device)?;
        let scores = self.forward(&input)?.squeeze(0)?.squeeze(0)?; // (rows', cols')
        let scores: Vec<Vec<f32>> = scores.to_dtype(candle_core::DType::F32)?.to_vec2()?;
        Ok(self.decode(&scores, &layout))
    }

    /// The score map's extent for an input extent, if it has one.
    fn output_size(&self, input: usize) -> Option<usize> {
        let mut specs = self
            .cfg
            .downsampler
            .iter()
            .chain(&self.cfg.body)
            .chain(std::iter::once(&self.cfg.head));
        specs.try_fold(input, |n, spec| {
            let padded = n + 2 * spec.padding;
            (padded >= spec.kernel && spec.stride > 0)
                .then(|| (padded - spec.kernel) / spec.stride + 1)
        })
    }

    /// Score-map position → tiled-image point: each layer's
    /// `p * stride - padding + kernel / 2`, output to input.
    fn to_input(&self, v: f64) -> f64 {
        let mut v = v;
        let specs: Vec<&ConvSpec> = self
            .cfg
            .downsampler
            .iter()
            .chain(&self.cfg.body)
            .chain(std::iter::once(&self.cfg.head))
            .collect();
        for spec in specs.iter().rev() {
            v = v * spec.stride as f64 - spec.padding as f64 + (spec.kernel / 2) as f64;
        }
        v
    }

    fn decode(&self, scores: &[Vec<f32>], layout: &PyramidLayout) -> Vec<Detection> {
        let [ww, wh] = self.cfg.window.map(|v| v as f64);
        let mut candidates = Vec::new();
        for (r, row) in scores.iter().enumerate() {
            for (c, &score) in row.iter().enumerate() {
                if score <= 0.0 {
                    continue;
                }
                let (x, y) = (self.to_input(c as f64), self.to_input(r as f64));
                // dlib's centered_drect: a width-w box spans w - 1.
                let (hw, hh) = ((ww - 1.0) / 2.0, (wh - 1.0) / 2.0);
                let [l, t, rr, b] = layout.to_image(x - hw, y - hh, x + hw, y + hh);
                candidates.push(Detection {
                    rect: IntRect::round(l, t, rr, b),
                    score,
                });
            }
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for candidate in candidates {
            if kept
                .iter()
                .all(|k| !self.overlaps(&k.rect, &candidate.rect))
            {
                kept.push(candidate);
            }
        }
        kept
    }

    /// dlib's `test_box_overlap`.
    fn overlaps(&self, a: &IntRect, b: &IntRect) -> bool {
        let inner = a.intersect(b).area() as f64;
        if inner == 0.0 || a.intersect(b).is_empty() {
            return false;
        }
        let outer = a.union(b).area() as f64;
        inner / outer > self.cfg.nms_iou
            || inner / a.area() as f64 > self.cfg.nms_percent_covered
            || inner / b.area() as f64 > self.cfg.nms_percent_covered
    }
}
