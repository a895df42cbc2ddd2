//! dlib's 5-point face landmarks (`shape_predictor_5_face_landmarks.dat`):
//! an ensemble of regression trees (Kazemi & Sullivan, 2014). Starting from
//! a mean shape placed in the detection box, each cascade samples pixel
//! intensities at points anchored to the current shape, walks its trees on
//! intensity differences and adds the leaves' shape updates. Points: the
//! outer and inner corner of the person's left eye (image right), of the
//! right eye, and the bottom of the nose.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::align::{round_point, Similarity};
use super::dlib_format::{DlibFormatError, DlibReader};
use super::pyramid::IntRect;
use super::FaceError;

#[derive(Clone, Debug, PartialEq)]
struct Tree {
    /// (feature a, feature b) per split, breadth first.
    splits: Vec<[u32; 2]>,
    thresholds: Vec<f32>,
    /// One shape update (2 × points) per leaf.
    leaves: Vec<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Cascade {
    /// The shape point each sampled pixel hangs from, and its offset.
    anchors: Vec<u32>,
    deltas: Vec<[f32; 2]>,
    trees: Vec<Tree>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShapePredictor {
    /// x0, y0, x1, y1, ... in the unit box.
    initial_shape: Vec<f32>,
    cascades: Vec<Cascade>,
}

impl ShapePredictor {
    pub fn num_points(&self) -> usize {
        self.initial_shape.len() / 2
    }

    /// The landmarks of the face in `rect` of a packed RGB image, rounded to
    /// whole pixels as dlib's `full_object_detection` holds them.
    pub fn predict(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        rect: &IntRect,
    ) -> Vec<[i64; 2]> {
        let mut shape = self.initial_shape.clone();
        let to_image = BoxTransform::new(rect);
        let mut features = Vec::new();
        for cascade in &self.cascades {
            let tform = Similarity::between(&points(&self.initial_shape), &points(&shape));
            let m = tform.matrix_f32();
            features.clear();
            for (anchor, delta) in cascade.anchors.iter().zip(&cascade.deltas) {
                let a = *anchor as usize;
                let px = m[0][0] * delta[0] + m[0][1] * delta[1] + shape[2 * a];
                let py = m[1][0] * delta[0] + m[1][1] * delta[1] + shape[2 * a + 1];
                let [x, y] = round_point(to_image.apply(f64::from(px), f64::from(py)));
                let inside = x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height;
                features.push(if inside {
                    let i = (y as usize * width + x as usize) * 3;
                    // dlib's rgb intensity: the integer mean of the channels.
                    ((u32::from(rgb[i]) + u32::from(rgb[i + 1]) + u32::from(rgb[i + 2])) / 3) as f32
                } else {
                    0.0
                });
            }
            for tree in &cascade.trees {
                let mut node = 0usize;
                while node < tree.splits.len() {
                    let [a, b] = tree.splits[node];
                    node = if features[a as usize] - features[b as usize] > tree.thresholds[node] {
                        2 * node + 1
                    } else {
                        2 * node + 2
                    };
                }
                for (s, u) in shape.iter_mut().zip(&tree.leaves[node - tree.splits.len()]) {
                    *s += u;
                }
            }
        }
        points(&shape)
            .iter()
            .map(|p| round_point(to_image.apply(f64::from(p[0]), f64::from(p[1]))))
            .collect()
    }

    /// Reads dlib's serialized `shape_predictor`.
    pub fn from_dlib(bytes: &[u8]) -> Result<Self, DlibFormatError> {
        let mut r = DlibReader::new(bytes);
        r.expect_int(1, "shape_predictor version")?;
        let (_, _, initial_shape) = r.matrix()?;
        let parts = initial_shape.len();
        let cascade_count = r.count("cascade count")?;
        let mut forests = Vec::new();
        for _ in 0..cascade_count {
            let tree_count = r.count("tree count")?;
            let mut trees = Vec::new();
            for _ in 0..tree_count {
                let split_count = r.count("split count")?;
                let mut splits = Vec::new();
                let mut thresholds = Vec::new();
                for _ in 0..split_count {
                    let a = r.count("split feature")?;
                    let b = r.count("split feature")?;
                    splits.push([a as u32, b as u32]);
                    thresholds.push(r.float()? as f32);
                }
                let leaf_count = r.count("leaf count")?;
                let mut leaves = Vec::new();
                for _ in 0..leaf_count {
                    let (_, _, values) = r.matrix()?;
                    leaves.push(values);
                }
                if leaves.len() != splits.len() + 1 || leaves.iter().any(|l| l.len() != parts) {
                    return Err(DlibFormatError::Unexpected {
                        offset: r.offset(),
                        what: "regression tree",
                        found: format!("{} splits, {} leaves", splits.len(), leaves.len()),
                    });
                }
                trees.push(Tree {
                    splits,
                    thresholds,
                    leaves,
                });
            }
            forests.push(trees);
        }
        let anchor_groups = r.count("anchor group count")?;
        let mut anchors = Vec::new();
        for _ in 0..anchor_groups {
            let n = r.count("anchor count")?;
            let mut group = Vec::new();
            for _ in 0..n {
                group.push(r.count("anchor index")? as u32);
            }
            anchors.push(group);
        }
        let delta_groups = r.count("delta group count")?;
        let mut deltas = Vec::new();
        for _ in 0..delta_groups {
            let n = r.count("delta count")?;
            let mut group = Vec::new();
            for _ in 0..n {
                group.push([r.float()? as f32, r.float()? as f32]);
            }
            deltas.push(group);
        }
        if anchors.len() != cascade_count || deltas.len() != cascade_count || !r.is_at_end() {
            return Err(DlibFormatError::Unexpected {
                offset: r.offset(),
                what: "shape predictor",
                found: format!("{cascade_count} cascades, {} anchor groups", anchors.len()),
            });
        }
        let cascades = forests
            .into_iter()
            .zip(anchors)
            .zip(deltas)
            .map(|((trees, anchors), deltas)| Cascade {
                anchors,
                deltas,
                trees,
            })
            .collect();
        let predictor = ShapePredictor {
            initial_shape,
            cascades,
        };
        predictor
            .validate()
            .map_err(|found| DlibFormatError::Unexpected {
                offset: r.offset(),
                what: "shape predictor",
                found,
            })?;
        Ok(predictor)
    }

    /// Every index in range, every tree full, so `predict` cannot go out of bounds.
    fn validate(&self) -> Result<(), String> {
        let parts = self.initial_shape.len();
        if parts == 0 || !parts.is_multiple_of(2) {
            return Err(format!("initial shape of {parts} values"));
        }
        for (c, cascade) in self.cascades.iter().enumerate() {
            let features = cascade.anchors.len();
            if cascade.deltas.len() != features {
                return Err(format!(
                    "cascade {c}: {features} anchors, {} deltas",
                    cascade.deltas.len()
                ));
            }
            if cascade.anchors.iter().any(|&a| a as usize >= parts / 2) {
                return Err(format!("cascade {c}: an anchor beyond the shape"));
            }
            for tree in &cascade.trees {
                let full = tree.splits.len() + 1 == tree.leaves.len()
                    && tree.leaves.len().is_power_of_two()
                    && tree.thresholds.len() == tree.splits.len();
                if !full || tree.leaves.iter().any(|l| l.len() != parts) {
                    return Err(format!("cascade {c}: a tree that is not full"));
                }
                if tree
                    .splits
                    .iter()
                    .flatten()
                    .any(|&f| f as usize >= features)
                {
                    return Err(format!("cascade {c}: a split on a missing feature"));
                }
            }
        }
        Ok(())
    }

    /// The predictor as named tensors: `initial_shape` (points, 2) and per
    /// cascade `cascades.{c}.anchors` (features), `.deltas` (features, 2),
    /// `.splits` (trees, splits, 2), `.thresholds` (trees, splits),
    /// `.leaves` (trees, leaves, 2 × points).
    pub fn to_tensors(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let cpu = &Device::Cpu;
        let parts = self.initial_shape.len();
        let mut out = HashMap::new();
        out.insert(
            "initial_shape".to_string(),
            Tensor::from_vec(self.initial_shape.clone(), (parts / 2, 2), cpu)?,
        );
        for (c, cascade) in self.cascades.iter().enumerate() {
            let trees = cascade.trees.len();
            let splits = cascade.trees.first().map_or(0, |t| t.splits.len());
            if cascade.trees.iter().any(|t| t.splits.len() != splits) {
                candle_core::bail!("cascade {c}: trees of different depths");
            }
            let features = cascade.anchors.len();
            let name = |n: &str| format!("cascades.{c}.{n}");
            out.insert(
                name("anchors"),
                Tensor::from_vec(cascade.anchors.clone(), features, cpu)?,
            );
            let deltas: Vec<f32> = cascade.deltas.iter().flatten().copied().collect();
            out.insert(
                name("deltas"),
                Tensor::from_vec(deltas, (features, 2), cpu)?,
            );
            let split_features: Vec<u32> = cascade
                .trees
                .iter()
                .flat_map(|t| t.splits.iter().flatten().copied())
                .collect();
            out.insert(
                name("splits"),
                Tensor::from_vec(split_features, (trees, splits, 2), cpu)?,
            );
            let thresholds: Vec<f32> = cascade
                .trees
                .iter()
                .flat_map(|t| t.thresholds.iter().copied())
                .collect();
            out.insert(
                name("thresholds"),
                Tensor::from_vec(thresholds, (trees, splits), cpu)?,
            );
            let leaves: Vec<f32> = cascade
                .trees
                .iter()
                .flat_map(|t| t.leaves.iter().flatten().copied())
                .collect();
            out.insert(
                name("leaves"),
                Tensor::from_vec(leaves, (trees, splits + 1, parts), cpu)?,
            );
        }
        Ok(out)
    }

    /// Loads what `to_tensors` saved.
    pub fn load(path: &Path) -> Result<Self, FaceError> {
        let bad = |reason: String| FaceError::BadWeights {
            path: path.display().to_string(),
            reason,
        };
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
        let get = |name: &str| {
            tensors
                .get(name)
                .ok_or_else(|| bad(format!("no tensor {name}")))
        };
        let f32s = |t: &Tensor| -> Result<Vec<f32>, FaceError> {
            t.to_dtype(DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1())
                .map_err(|e| bad(e.to_string()))
        };
        let u32s = |t: &Tensor| -> Result<Vec<u32>, FaceError> {
            t.flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(|e| bad(e.to_string()))
        };
        let initial_shape = f32s(get("initial_shape")?)?;
        let parts = initial_shape.len();
        let mut cascades = Vec::new();
        for c in 0.. {
            let name = |n: &str| format!("cascades.{c}.{n}");
            let Some(anchors) = tensors.get(&name("anchors")) else {
                break;
            };
            let anchors = u32s(anchors)?;
            let deltas = f32s(get(&name("deltas"))?)?;
            let splits_t = get(&name("splits"))?;
            let (trees, splits, _) = splits_t.dims3().map_err(|e| bad(e.to_string()))?;
            let split_features = u32s(splits_t)?;
            let thresholds = f32s(get(&name("thresholds"))?)?;
            let leaves = f32s(get(&name("leaves"))?)?;
            let leaf_len = (splits + 1) * parts;
            if thresholds.len() != trees * splits
                || leaves.len() != trees * leaf_len
                || deltas.len() != anchors.len() * 2
            {
                return Err(bad(format!("cascade {c}: tensor sizes disagree")));
            }
            let trees = (0..trees)
                .map(|t| Tree {
                    splits: split_features[t * splits * 2..(t + 1) * splits * 2]
                        .chunks_exact(2)
                        .map(|p| [p[0], p[1]])
                        .collect(),
                    thresholds: thresholds[t * splits..(t + 1) * splits].to_vec(),
                    leaves: leaves[t * leaf_len..(t + 1) * leaf_len]
                        .chunks_exact(parts)
                        .map(<[f32]>::to_vec)
                        .collect(),
                })
                .collect();
            cascades.push(Cascade {
                anchors,
                deltas: deltas.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
                trees,
            });
        }
        let predictor = ShapePredictor {
            initial_shape,
            cascades,
        };
        predictor.validate().map_err(bad)?;
        Ok(predictor)
    }
}

fn points(shape: &[f32]) -> Vec<[f32; 2]> {
    shape.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// dlib's `unnormalizing_tform`: the unit square onto the box's corners.
struct BoxTransform {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl BoxTransform {
    fn new(rect: &IntRect) -> Self {
        BoxTransform {
            left: rect.left as f64,
            top: rect.top as f64,
            width: (rect.right - rect.left) as f64,
            height: (rect.bottom - rect.top) as f64,
        }
    }
    fn apply(&self, x: f64, y: f64) -> [f64; 2] {
        [self.left + x * self.width, self.top + y * self.height]
    }
}
