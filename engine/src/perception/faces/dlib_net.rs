//! Reads a dlib DNN file (`net_type` serialized with `dlib::serialize`) into
//! its layers, input to output, given the layer kinds the network type
//! declares. dlib writes a network as nested wrappers: every wrapper's
//! version first (outermost first), then the input layer, then each layer's
//! parameters with its cached state, innermost first.

use super::dlib_format::{DlibFormatError, DlibReader};

/// A layer kind as the network type declares it, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    Conv,
    /// `affine`; the file may hold a `bn_con` that dlib folds into one.
    Affine,
    Relu,
    MaxPool,
    AvgPool,
    FcNoBias,
    AddPrev,
    Tag,
    Skip,
}

/// The network's input layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    RgbImageSized,
    RgbImagePyramid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    Mmod,
    Metric,
}

/// One layer as read, with its parameters in PyTorch/candle layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Conv {
        /// (out, in, kh, kw)
        weight_shape: [usize; 4],
        weight: Vec<f32>,
        bias: Vec<f32>,
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// y = x * scale + shift, per channel.
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    Relu,
    MaxPool {
        size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// A size of 0 averages the whole plane.
    AvgPool {
        size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// (out, in)
    Fc {
        weight: Vec<f32>,
        outputs: usize,
        inputs: usize,
    },
    AddPrev,
    Tag,
    Skip,
}

/// The input layer's normalisation: (pixel - mean) / 256.
#[derive(Clone, Debug, PartialEq)]
pub struct InputLayer {
    pub mean_rgb: [f32; 3],
    /// Pyramid inputs only: padding between and around the tiled levels.
    pub pyramid_padding: usize,
    pub pyramid_outer_padding: usize,
    /// Sized inputs only: rows, cols.
    pub size: Option<[usize; 2]>,
}

/// What `loss_mmod` adds: its sliding windows and non-max suppression.
#[derive(Clone, Debug, PartialEq)]
pub struct MmodOptions {
    /// (width, height) of each detector window.
    pub windows: Vec<[usize; 2]>,
    pub nms_iou: f64,
    pub nms_percent_covered: f64,
    pub bounding_box_regression: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DlibNet {
    pub input: InputLayer,
    /// Input to output.
    pub layers: Vec<Layer>,
    pub mmod: Option<MmodOptions>,
}

/// Reads a whole network; `kinds` lists the layers below the loss,
/// outermost (closest to the loss) first, as the C++ type reads.
pub fn read_net(
    bytes: &[u8],
    loss: LossKind,
    kinds: &[LayerKind],
    input: InputKind,
) -> Result<DlibNet, DlibFormatError> {
    let mut r = DlibReader::new(bytes);
    r.expect_int(1, "add_loss_layer version")?;
    let mmod = match loss {
        LossKind::Mmod => Some(read_mmod_options(&mut r)?),
        LossKind::Metric => {
            if r.expect_string(&["loss_metric_", "loss_metric_2"], "metric loss")?
                == "loss_metric_2"
            {
                r.float()?; // margin
                r.float()?; // distance threshold
            }
            None
        }
    };
    // Wrapper versions, outermost first. The wrapper on the input has its
    // own layout (it owns the input layer).
    let mut versions = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let on_input = i + 1 == kinds.len();
        let version = r.int()?;
        let ok = match (kind, on_input) {
            (LayerKind::Skip, _) => version == 1,
            (LayerKind::Tag, false) => version == 1,
            (LayerKind::Tag, true) => (1..=2).contains(&version),
            (_, false) => (1..=2).contains(&version),
            (_, true) => (2..=3).contains(&version),
        };
        if !ok {
            return Err(DlibFormatError::Unexpected {
                offset: r.offset(),
                what: "layer wrapper version",
                found: format!("{version} for {kind:?} (layer {i} from the output)"),
            });
        }
        versions.push(version);
    }
    let input = read_input(&mut r, input)?;
    let mut layers = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate().rev() {
        let on_input = i + 1 == kinds.len();
        let version = versions[i];
        let layer = match kind {
            LayerKind::Tag => {
                if on_input {
                    r.tensor()?; // cached output
                    r.tensor()?; // grad_final
                    r.bool()?; // gradient_input_is_stale
                    if version >= 2 {
                        r.int()?; // sample expansion factor
                    }
                }
                Layer::Tag
            }
            LayerKind::Skip => Layer::Skip,
            _ => {
                let layer = read_layer(&mut r, *kind)?;
                for _ in 0..3 {
                    r.bool()?; // setup called, gradient stale, output disabled
                }
                r.tensor()?; // x_grad
                r.tensor()?; // cached_output
                if on_input {
                    r.tensor()?; // grad_final
                    if version >= 3 {
                        r.int()?; // sample expansion factor
                    }
                } else if version == 2 {
                    r.tensor()?; // params_grad
                }
                layer
            }
        };
        layers.push(layer);
    }
    if !r.is_at_end() {
        return Err(DlibFormatError::Unexpected {
            offset: r.offset(),
            what: "end of the network",
            found: "more bytes".into(),
        });
    }
    Ok(DlibNet {
        input,
        layers,
        mmod,
    })
}

fn read_mmod_options(r: &mut DlibReader) -> Result<MmodOptions, DlibFormatError> {
    r.expect_string(&["loss_mmod_"], "loss")?;
    let version = r.int()?;
    if !(1..=4).contains(&version) {
        return Err(DlibFormatError::Unexpected {
            offset: r.offset(),
            what: "mmod_options version",
            found: version.to_string(),
        });
    }
    let windows = if version == 1 {
        vec![[r.count("window width")?, r.count("window height")?]]
    } else {
        let n = r.count("detector window count")?;
        let mut windows = Vec::new();
        for _ in 0..n {
            let v = r.int()?;
            let window = [r.count("window width")?, r.count("window height")?];
            if v == 2 {
                r.string()?; // label
            }
            windows.push(window);
        }
        windows
    };
    r.float()?; // loss per false alarm
    r.float()?; // loss per missed target
    r.float()?; // truth match IoU threshold
    let nms_iou = r.float()?;
    let nms_percent_covered = r.float()?;
    r.float()?; // ignore-overlap IoU
    r.float()?; // ignore-overlap coverage
    if version >= 3 {
        r.int()?; // assume image pyramid
    }
    let mut bounding_box_regression = false;
    if version >= 4 {
        bounding_box_regression = r.bool()?;
        r.float()?; // bbr lambda
    }
    Ok(MmodOptions {
        windows,
        nms_iou,
        nms_percent_covered,
        bounding_box_regression,
    })
}

fn read_input(r: &mut DlibReader, kind: InputKind) -> Result<InputLayer, DlibFormatError> {
    let accepted: &[&'static str] = match kind {
        InputKind::RgbImageSized => &["input_rgb_image_sized"],
        InputKind::RgbImagePyramid => &["input_rgb_image_pyramid", "input_rgb_image_pyramid2"],
    };
    let version = r.expect_string(accepted, "input layer")?;
    let mean_rgb = [r.float()? as f32, r.float()? as f32, r.float()? as f32];
    let mut input = InputLayer {
        mean_rgb,
        pyramid_padding: 10,
        pyramid_outer_padding: 11,
        size: None,
    };
    match version {
        "input_rgb_image_sized" => {
            input.size = Some([r.count("input rows")?, r.count("input cols")?]);
        }
        "input_rgb_image_pyramid2" => {
            input.pyramid_padding = r.count("pyramid padding")?;
            input.pyramid_outer_padding = r.count("pyramid outer padding")?;
        }
        _ => {}
    }
    Ok(input)
}

fn four(r: &mut DlibReader, what: &'static str) -> Result<[usize; 4], DlibFormatError> {
    Ok([
        r.count(what)?,
        r.count(what)?,
        r.count(what)?,
        r.count(what)?,
    ])
}

fn read_layer(r: &mut DlibReader, kind: LayerKind) -> Result<Layer, DlibFormatError> {
    match kind {
        LayerKind::Conv => {
            let version = r.expect_string(&["con_4", "con_5", "con_6"], "conv layer")?;
            let (_, params) = r.tensor()?;
            let filters = r.count("filter count")?;
            let [kh, kw, stride_y, stride_x] = four(r, "conv geometry")?;
            let padding = [r.count("padding")?, r.count("padding")?];
            let shape = r.alias_tensor()?;
            r.alias_tensor()?; // biases
            for _ in 0..4 {
                r.float()?; // learning-rate and weight-decay multipliers
            }
            let mut use_bias = true;
            if version != "con_4" {
                use_bias = r.bool()?;
            }
            if version == "con_6" {
                r.bool()?; // fused relu (never set by these models)
            }
            let weight_len = shape.iter().product::<usize>();
            if shape[0] != filters || shape[2] != kh || shape[3] != kw || params.len() < weight_len
            {
                return Err(DlibFormatError::Unexpected {
                    offset: r.offset(),
                    what: "conv parameters",
                    found: format!("{} values for filters {shape:?}", params.len()),
                });
            }
            let bias = if use_bias && params.len() == weight_len + filters {
                params[weight_len..].to_vec()
            } else {
                vec![0.0; filters]
            };
            Ok(Layer::Conv {
                weight_shape: shape,
                weight: params[..weight_len].to_vec(),
                bias,
                stride: [stride_y, stride_x],
                padding,
            })
        }
        LayerKind::Affine => {
            let version = r.expect_string(&["affine_", "affine_2", "bn_con2"], "affine layer")?;
            let (_, params) = r.tensor()?;
            let gamma = r.alias_tensor()?;
            r.alias_tensor()?; // beta
            let channels = gamma.iter().product::<usize>();
            if params.len() != 2 * channels {
                return Err(DlibFormatError::Unexpected {
                    offset: r.offset(),
                    what: "affine parameters",
                    found: format!("{} values for {channels} channels", params.len()),
                });
            }
            let (gamma, beta) = params.split_at(channels);
            if version == "bn_con2" {
                r.tensor()?; // batch means
                r.tensor()?; // batch inverse std
                let (_, running_means) = r.tensor()?;
                let (_, running_variances) = r.tensor()?;
                r.int()?; // num_updates
                r.int()?; // running stats window
                for _ in 0..4 {
                    r.float()?; // multipliers
                }
                let eps = r.float()?;
                if running_means.len() != channels || running_variances.len() != channels {
                    return Err(DlibFormatError::Unexpected {
                        offset: r.offset(),
                        what: "batch-norm statistics",
                        found: format!("{} for {channels} channels", running_means.len()),
                    });
                }
                // As dlib's affine_(const bn_&): g / sqrt(var + eps), b - g' * mean.
                let scale: Vec<f32> = gamma
                    .iter()
                    .zip(&running_variances)
                    .map(|(g, v)| (f64::from(*g) / (f64::from(*v) + eps).sqrt()) as f32)
                    .collect();
                let shift = beta
                    .iter()
                    .zip(&scale)
                    .zip(&running_means)
                    .map(|((b, s), m)| b - s * m)
                    .collect();
                return Ok(Layer::Affine { scale, shift });
            }
            r.int()?; // mode
            if version == "affine_2" {
                r.bool()?; // disabled
            }
            Ok(Layer::Affine {
                scale: gamma.to_vec(),
                shift: beta.to_vec(),
            })
        }
        LayerKind::Relu => {
            if r.expect_string(&["relu_", "relu_2"], "relu layer")? == "relu_2" {
                r.bool()?;
            }
            Ok(Layer::Relu)
        }
        LayerKind::MaxPool | LayerKind::AvgPool => {
            let name = if kind == LayerKind::MaxPool {
                "max_pool_2"
            } else {
                "avg_pool_2"
            };
            r.expect_string(&[name, "max_pool_2", "avg_pool_2"], "pooling layer")
                .and_then(|found| {
                    if found == name {
                        Ok(())
                    } else {
                        Err(DlibFormatError::Unexpected {
                            offset: r.offset(),
                            what: "pooling layer",
                            found: found.into(),
                        })
                    }
                })?;
            let [nr, nc, sy, sx] = four(r, "pool geometry")?;
            let padding = [r.count("padding")?, r.count("padding")?];
            let (size, stride) = ([nr, nc], [sy, sx]);
            Ok(if kind == LayerKind::MaxPool {
                Layer::MaxPool {
                    size,
                    stride,
                    padding,
                }
            } else {
                Layer::AvgPool {
                    size,
                    stride,
                    padding,
                }
            })
        }
        LayerKind::FcNoBias => {
            let version = r.expect_string(&["fc_2", "fc_3"], "fc layer")?;
            let outputs = r.count("fc outputs")?;
            let inputs = r.count("fc inputs")?;
            let (_, params) = r.tensor()?;
            r.alias_tensor()?; // weights
            r.alias_tensor()?; // biases
            let mode = r.int()?;
            for _ in 0..4 {
                r.float()?;
            }
            if version == "fc_3" {
                r.bool()?;
            }
            // Mode 1 is dlib's FC_NO_BIAS.
            if mode != 1 || params.len() != inputs * outputs {
                return Err(DlibFormatError::Unexpected {
                    offset: r.offset(),
                    what: "fc_no_bias parameters",
                    found: format!(
                        "mode {mode}, {} values for {inputs}×{outputs}",
                        params.len()
                    ),
                });
            }
            // dlib keeps (inputs, outputs) row-major; candle wants (outputs, inputs).
            let mut weight = vec![0.0; params.len()];
            for i in 0..inputs {
                for o in 0..outputs {
                    weight[o * inputs + i] = params[i * outputs + o];
                }
            }
            Ok(Layer::Fc {
                weight,
                outputs,
                inputs,
            })
        }
        LayerKind::AddPrev => {
            r.expect_string(&["add_prev_"], "add_prev layer")?;
            Ok(Layer::AddPrev)
        }
        LayerKind::Tag | LayerKind::Skip => Err(DlibFormatError::Unexpected {
            offset: r.offset(),
            what: "layer",
            found: format!("{kind:?} has no parameters to read"),
        }),
    }
}
