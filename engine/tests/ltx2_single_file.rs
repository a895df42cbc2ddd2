//! LTX-2 single-file conversion against diffusers: fixtures from
//! scripts/golden/ltx2_single_file_keys.py in tests/fixtures/ltx2/single_file/.
//!
//! - The names and shapes of the full-size 19B checkpoint in the original
//!   layout convert to exactly the names and shapes of diffusers' models, per
//!   component folder, and fit reel's own models built from the 19B configs.
//! - The committed tiny components written in the original layout convert
//!   back to the diffusers-layout fixtures bit for bit, and the model
//!   directory they make denoises to the same latents as the fixture's.

mod ltx2_parity;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx2::pipeline::{
    pack_audio, unpack_audio, Generation, Guidance, Ltx2Pipeline, TextEncoderPlacement,
};
use reel_engine::ltx2::scheduler::{Schedule, DISTILLED_SIGMAS};
use reel_engine::ltx2::single_file::{self, Component, SingleFileError};
use reel_engine::CancelToken;
use serde_json::Value;

fn keys() -> Value {
    let path = fixture_dir("single_file").join("keys.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/golden/ltx2_single_file_keys.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("keys.json")
}

fn shape(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .expect("a shape")
        .iter()
        .map(|d| d.as_u64().expect("a dim") as usize)
        .collect()
}

/// [[name, shape], …] as a map.
fn named_shapes(value: &Value) -> BTreeMap<String, Vec<usize>> {
    value
        .as_array()
        .expect("a list of [name, shape]")
        .iter()
        .map(|entry| {
            (
                entry[0].as_str().expect("a name").to_string(),
                shape(&entry[1]),
            )
        })
        .collect()
}

/// Writes each component's config.json into `dir/<folder>/`.
fn write_configs(configs: &Value, dir: &Path) {
    for component in Component::ALL {
        let folder = dir.join(component.folder());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("config.json"),
            serde_json::to_string_pretty(&configs[component.folder()]).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn full_size_names_and_shapes_convert_as_diffusers_and_fit_the_19b_configs() {
    let keys = keys();
    let real = &keys["real"];
    let shapes = named_shapes(&real["original"]);
    assert!(single_file::is_ltx2(&shapes));
    // diffusers 0.42.1 takes this file for LTX-Video 0.9.7; reel does not.
    assert_eq!(real["diffusers_infers"], "ltx-video-0.9.7");
    let ltx_video = reel_engine::ltx::single_file::model_type(Path::new("real"), &shapes);
    assert!(
        matches!(
            ltx_video,
            Err(reel_engine::ltx::single_file::SingleFileError::IsLtx2 { .. })
        ),
        "{ltx_video:?}"
    );

    let plan = single_file::plan(Path::new("real"), &shapes).expect("plan");
    assert_eq!(
        plan.dropped,
        [
            "vae.per_channel_statistics.channel",
            "vae.per_channel_statistics.mean-of-stds",
            "vae.per_channel_statistics.mean-of-stds_over_std-of-means",
        ]
    );
    let configs = tempfile::tempdir().unwrap();
    write_configs(&real["configs"], configs.path());
    for component in Component::ALL {
        let renames = plan.renames(component);
        let converted = single_file::converted_shapes(renames, &shapes);
        assert_eq!(
            converted.len(),
            renames.len(),
            "{component:?}: names collide"
        );
        let expected = named_shapes(&real["components"][component.folder()]);
        assert_eq!(
            converted.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{component:?} names"
        );
        assert_eq!(converted, expected, "{component:?} shapes");
        // reel's models built from the 19B configs take exactly these.
        let unused = single_file::check_shapes(
            component,
            &configs.path().join(component.folder()),
            converted,
        )
        .unwrap_or_else(|e| panic!("{component:?}: {e}"));
        assert!(unused.is_empty(), "{component:?} leaves {unused:?} unused");
        println!("{component:?}: {} names as diffusers", expected.len());
    }
}

#[test]
fn a_file_that_does_not_fit_is_refused_naming_the_cause() {
    let keys = keys();
    let mut shapes = named_shapes(&keys["real"]["original"]);
    shapes.insert("vocoder.some_new_head.weight".into(), vec![4]);
    shapes.insert(
        "text_embedding_projection.video_aggregate_embed.weight".into(),
        vec![4],
    );
    match single_file::plan(Path::new("odd"), &shapes) {
        Err(SingleFileError::Unknown { count, names, .. }) => {
            // The vocoder's prefix takes any name; the projection's does not.
            assert_eq!(count, 1, "{names}");
            assert!(names.contains("video_aggregate_embed"), "{names}");
        }
        other => panic!("{other:?}"),
    }
    // The unknown vocoder name is a shape problem against its config.
    shapes.remove("text_embedding_projection.video_aggregate_embed.weight");
    let plan = single_file::plan(Path::new("odd"), &shapes).unwrap();
    let configs = tempfile::tempdir().unwrap();
    write_configs(&keys["real"]["configs"], configs.path());
    let vocoder = single_file::converted_shapes(plan.renames(Component::Vocoder), &shapes);
    let unused = single_file::check_shapes(
        Component::Vocoder,
        &configs.path().join("vocoder"),
        vocoder.clone(),
    )
    .unwrap();
    assert_eq!(unused, ["some_new_head.weight"]);
    // A weight of the wrong shape names itself and the config.
    let mut wrong = vocoder;
    wrong.insert("conv_in.weight".into(), vec![1024, 64, 7]);
    let err = single_file::check_shapes(Component::Vocoder, &configs.path().join("vocoder"), wrong)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("conv_in.weight") && err.contains("config.json"),
        "{err}"
    );
    // LTX-Video: its transformer and VAE statistics are among diffusers'
    // LTX-2 markers, but it is not LTX-2.
    let ltx_video: BTreeMap<String, Vec<usize>> = [
        "model.diffusion_model.patchify_proj.weight",
        "vae.per_channel_statistics.mean-of-means",
    ]
    .into_iter()
    .map(|name| (name.to_string(), vec![4]))
    .collect();
    assert!(!single_file::is_ltx2(&ltx_video));
    assert!(matches!(
        single_file::plan(Path::new("ltxv"), &ltx_video),
        Err(SingleFileError::NotLtx2 { .. })
    ));
}

fn load(path: &Path) -> BTreeMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// The diffusers-layout fixture folder of each component.
fn fixture_folder(tiny: &Value, component: Component) -> PathBuf {
    let relative = tiny["fixtures"][component.folder()]
        .as_str()
        .expect("folder");
    fixture_dir(relative)
}

/// The tiny single file converted into a model directory beside the
/// pipeline fixture's text encoder, tokenizer and scheduler, the configs
/// from the diffusers-layout fixtures.
fn converted_model_dir(out: &Path) -> single_file::Converted {
    let keys = keys();
    let tiny = &keys["tiny"];
    let source = fixture_dir("single_file").join("tiny.safetensors");
    for component in Component::ALL {
        let folder = out.join(component.folder());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(
            fixture_folder(tiny, component).join("config.json"),
            folder.join("config.json"),
        )
        .unwrap();
    }
    let model = fixture_dir("pipeline").join("model");
    for rest in ["text_encoder", "tokenizer", "scheduler", "model_index.json"] {
        let from = std::fs::canonicalize(model.join(rest)).unwrap();
        std::os::unix::fs::symlink(from, out.join(rest)).unwrap();
    }
    single_file::convert_file(&source, out, Some(out)).expect("convert")
}

#[test]
fn tiny_file_converts_to_the_diffusers_fixtures_bit_for_bit() {
    let keys = keys();
    let tiny = &keys["tiny"];
    let out = tempfile::tempdir().unwrap();
    let converted = converted_model_dir(out.path());
    let dropped: Vec<String> = tiny["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(converted.plan.dropped, dropped);
    let original = load(&fixture_dir("single_file").join("tiny.safetensors"));
    for (component, file) in &converted.files {
        assert_eq!(*file, out.path().join(component.weights_file()));
        let pairs: BTreeMap<String, String> = tiny["pairs"][component.folder()]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[1].as_str().unwrap().into(), p[0].as_str().unwrap().into()))
            .collect();
        let written = load(file);
        let fixture = load(&fixture_folder(tiny, *component).join(single_file::WEIGHTS));
        assert_eq!(
            written.keys().collect::<BTreeSet<_>>(),
            pairs.keys().collect::<BTreeSet<_>>(),
            "{component:?}: diffusers' names"
        );
        assert_eq!(
            written.keys().collect::<BTreeSet<_>>(),
            fixture.keys().collect::<BTreeSet<_>>(),
            "{component:?}: the fixture's names"
        );
        for (name, tensor) in &written {
            for (what, other) in [
                ("source", &original[&pairs[name]]),
                ("fixture", &fixture[name]),
            ] {
                assert_eq!(tensor.dtype(), other.dtype(), "{name} vs {what}");
                assert_eq!(tensor.dims(), other.dims(), "{name} vs {what}");
                assert_eq!(max_abs_diff(tensor, other), 0.0, "{name} vs {what}");
            }
        }
    }
    for (component, unused) in &converted.unused {
        assert!(unused.is_empty(), "{component:?}: {unused:?}");
    }
}

/// The distilled case of tests/fixtures/ltx2/pipeline from its noise.
fn distilled_latents(dir: &Path) -> reel_engine::ltx2::pipeline::Latents {
    let reference = reference("pipeline");
    let pipeline = Ltx2Pipeline::load(
        dir,
        &Device::Cpu,
        DType::F32,
        TextEncoderPlacement::Resident,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir("pipeline").join("cases.json")).unwrap(),
    )
    .unwrap();
    let audio_noise = get(&reference, "audio_noise");
    let (_, _, frames, mel) = audio_noise.dims4().unwrap();
    let job = Generation {
        prompt: meta["prompt"].as_str().unwrap().into(),
        negative_prompt: meta["negative_prompt"].as_str().unwrap().into(),
        frames: meta["frames"].as_u64().unwrap() as usize,
        fps: meta["fps"].as_f64().unwrap(),
        schedule: Schedule::Sigmas(DISTILLED_SIGMAS.to_vec()),
        guidance: Guidance::off(),
        video_noise: pipeline
            .normalize_video(&get(&reference, "video_noise"))
            .unwrap(),
        audio_noise: unpack_audio(
            &pipeline
                .normalize_audio(&pack_audio(&audio_noise).unwrap())
                .unwrap(),
            frames,
            mel,
        )
        .unwrap(),
        first_frame: None,
        audio_condition: None,
        max_prompt_tokens: meta["max_sequence_length"].as_u64().unwrap() as usize,
    };
    pipeline
        .denoise(&job, &mut |_| {}, &CancelToken::new())
        .unwrap()
}

#[test]
fn the_converted_directory_denoises_as_the_diffusers_layout_one() {
    let out = tempfile::tempdir().unwrap();
    converted_model_dir(out.path());
    let converted = distilled_latents(out.path());
    let original = distilled_latents(&fixture_dir("pipeline").join("model"));
    // Same weights, same code: the same numbers exactly.
    assert_eq!(max_abs_diff(&converted.video, &original.video), 0.0);
    assert_eq!(max_abs_diff(&converted.audio, &original.audio), 0.0);
    // And diffusers' (the fixture's tolerance: f32 rounding over 8 steps).
    let reference = reference("pipeline");
    for (name, got) in [("video", &converted.video), ("audio", &converted.audio)] {
        let want = get(&reference, &format!("distilled.{name}_latents"));
        let err = max_abs_diff(got, &want);
        assert!(err <= 1e-4 * max_abs(&want).max(1e-6), "{name}: {err}");
    }
}
