//! Choosing a code from logits as transformers' CSM generation does:
//! divide by the temperature, keep the top k (ties with the k-th kept),
//! softmax, draw. The draw comes from a seeded generator of our own
//! (candle's CPU generator cannot be seeded), so a seed gives the same
//! line on every run; temperature 0 is greedy.

use crate::testsrc::prng::SplitMix64;

/// How codes are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (always the most likely code).
    pub temperature: f32,
    /// Only the k most likely codes are drawn from (0 = all).
    pub top_k: usize,
}

/// The draws: SplitMix64 (the test pattern's generator), small, well mixed,
/// the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks a code from `logits` (one per code of the vocabulary).
pub fn choose(logits: &[f32], sampling: Sampling, rng: &mut Rng) -> u32 {
    let greedy = || {
        let mut best = 0;
        for (i, v) in logits.iter().enumerate() {
            if *v > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    if sampling.temperature <= 0.0 || logits.is_empty() {
        return greedy();
    }
    let scaled: Vec<f64> = logits
        .iter()
        .map(|v| f64::from(*v) / f64::from(sampling.temperature))
        .collect();
    let threshold = if sampling.top_k == 0 || sampling.top_k >= scaled.len() {
        f64::NEG_INFINITY
    } else {
        let mut sorted = scaled.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        sorted[sampling.top_k - 1]
    };
    let max = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scaled
        .iter()
        .map(|v| {
            if *v >= threshold {
                (v - max).exp()
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return greedy();
    }
    let mut target = rng.uniform() * total;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if target < *w {
                return i as u32;
            }
            target -= w;
        }
    }
    // Rounding left a sliver past the last weight: the last candidate.
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_largest() {
        let greedy = Sampling {
            temperature: 0.0,
            top_k: 50,
        };
        assert_eq!(choose(&[0.1, 3.0, 3.0, -1.0], greedy, &mut Rng::new(1)), 1);
    }

    #[test]
    fn top_k_never_draws_outside_the_k_best() {
        let sampling = Sampling {
            temperature: 5.0,
            top_k: 2,
        };
        let logits = [0.0, 1.0, 0.5, 0.9, -2.0];
        let mut rng = Rng::new(7);
        let mut seen = [0usize; 5];
        for _ in 0..2000 {
            seen[choose(&logits, sampling, &mut rng) as usize] += 1;
        }
        assert_eq!(seen[0] + seen[2] + seen[4], 0, "{seen:?}");
        // exp((1.0 - 0.9) / 5) : 1 → about 50.5 % for code 1.
        assert!((900..1120).contains(&seen[1]), "{seen:?}");
    }

    #[test]
    fn the_same_seed_draws_the_same_codes() {
        let sampling = Sampling {
            temperature: 0.9,
            top_k: 3,
        };
        let logits = [0.3, 0.2, 0.1, 0.0];
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..32)
                .map(|_| choose(&logits, sampling, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(11), draw(11));
        assert_ne!(draw(11), draw(12));
    }
}
