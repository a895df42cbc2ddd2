//! LTX2Pipeline's guidance, per stream: every term is a difference of
//! denoised predictions (x0), added to the positive one, then optionally
//! rescaled towards the positive prediction's spread.

use candle_core::{DType, Result, Tensor};

/// The guidance of one stream (video or audio).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamGuidance {
    /// Classifier-free guidance; on above 1.
    pub cfg: f64,
    /// Spatio-temporal guidance (perturbed self-attention); on above 0.
    pub stg: f64,
    /// Modality isolation (no cross-modal attention); on above 1.
    pub modality: f64,
    /// Rescale of the guided prediction (0: none).
    pub rescale: f64,
}

impl StreamGuidance {
    /// No guidance: the distilled checkpoints' setting.
    pub const OFF: StreamGuidance = StreamGuidance {
        cfg: 1.0,
        stg: 0.0,
        modality: 1.0,
        rescale: 0.0,
    };
}

/// Both streams' guidance and the blocks STG perturbs.
#[derive(Debug, Clone, PartialEq)]
pub struct Guidance {
    pub video: StreamGuidance,
    pub audio: StreamGuidance,
    pub stg_blocks: Vec<usize>,
}

impl Guidance {
    pub fn off() -> Self {
        Guidance {
            video: StreamGuidance::OFF,
            audio: StreamGuidance::OFF,
            stg_blocks: Vec::new(),
        }
    }

    /// `LTX2Pipeline.__call__`'s defaults for the full (non-distilled) model.
    pub fn full_model(num_layers: usize) -> Self {
        let video = StreamGuidance {
            cfg: 3.0,
            stg: 1.0,
            modality: 3.0,
            rescale: 0.7,
        };
        Guidance {
            video,
            audio: StreamGuidance { cfg: 7.0, ..video },
            // diffusers' default is block 28 of the 48-layer model.
            stg_blocks: vec![28.min(num_layers.saturating_sub(1))],
        }
    }

    pub fn cfg(&self) -> bool {
        self.video.cfg > 1.0 || self.audio.cfg > 1.0
    }

    pub fn stg(&self) -> bool {
        self.video.stg > 0.0 || self.audio.stg > 0.0
    }

    pub fn modality(&self) -> bool {
        self.video.modality > 1.0 || self.audio.modality > 1.0
    }

    /// Forward passes per step.
    pub fn passes(&self) -> usize {
        1 + usize::from(self.stg()) + usize::from(self.modality())
    }
}

/// The denoised predictions of one stream at one step (f32, same shape).
pub struct Predictions {
    pub positive: Tensor,
    pub negative: Option<Tensor>,
    pub perturbed: Option<Tensor>,
    pub isolated: Option<Tensor>,
}

/// The guided x0 of one stream.
pub fn guide(p: &Predictions, g: &StreamGuidance) -> Result<Tensor> {
    let mut guided = p.positive.clone();
    if let Some(negative) = &p.negative {
        guided = (guided + ((&p.positive - negative)? * (g.cfg - 1.0))?)?;
    }
    if let Some(perturbed) = &p.perturbed {
        guided = (guided + ((&p.positive - perturbed)? * g.stg)?)?;
    }
    if let Some(isolated) = &p.isolated {
        guided = (guided + ((&p.positive - isolated)? * (g.modality - 1.0))?)?;
    }
    if g.rescale > 0.0 {
        guided = rescale(&guided, &p.positive, g.rescale)?;
    }
    Ok(guided)
}

/// diffusers' `rescale_noise_cfg`: the guided prediction scaled to the
/// positive one's standard deviation (per sample, unbiased), mixed back by `factor`.
fn rescale(guided: &Tensor, positive: &Tensor, factor: f64) -> Result<Tensor> {
    let std_positive = sample_std(positive)?;
    let std_guided = sample_std(guided)?;
    let rescaled = guided.broadcast_mul(&(std_positive / std_guided)?)?;
    (rescaled * factor)? + (guided * (1.0 - factor))?
}

/// Standard deviation over every axis but the first, kept for broadcasting.
fn sample_std(x: &Tensor) -> Result<Tensor> {
    let x = x.to_dtype(DType::F32)?;
    let batch = x.dim(0)?;
    let flat = x.reshape((batch, ()))?;
    let n = flat.dim(1)?;
    let mean = flat.mean_keepdim(1)?;
    let var = (flat.broadcast_sub(&mean)?.sqr()?.sum_keepdim(1)? / (n.max(2) - 1) as f64)?;
    let mut shape = vec![batch];
    shape.extend(std::iter::repeat_n(1, x.rank() - 1));
    var.sqrt()?.reshape(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn terms_add_up_as_in_the_reference() {
        let d = Device::Cpu;
        let t = |v: &[f32]| Tensor::from_slice(v, (1, v.len()), &d).unwrap();
        let p = Predictions {
            positive: t(&[1.0, 2.0]),
            negative: Some(t(&[0.0, 0.0])),
            perturbed: Some(t(&[1.0, 1.0])),
            isolated: Some(t(&[2.0, 2.0])),
        };
        let g = StreamGuidance {
            cfg: 3.0,
            stg: 1.0,
            modality: 2.0,
            rescale: 0.0,
        };
        // 1 + 2·1 + 1·0 + 1·(−1) = 2; 2 + 2·2 + 1·1 + 1·0 = 7
        let out = guide(&p, &g)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(out, vec![2.0, 7.0]);
    }

    #[test]
    fn rescale_matches_the_positive_spread() {
        let d = Device::Cpu;
        let positive = Tensor::from_slice(&[1f32, 3.0], (1, 2), &d).unwrap();
        let guided = Tensor::from_slice(&[0f32, 8.0], (1, 2), &d).unwrap();
        // std: √2 and √32 → guided·¼ fully rescaled.
        let out = rescale(&guided, &positive, 1.0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert!((out[0][0] - 0.0).abs() < 1e-6 && (out[0][1] - 2.0).abs() < 1e-5);
    }
}
