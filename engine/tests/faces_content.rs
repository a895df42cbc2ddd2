//! What the face checks decide on real photographs with the real weights:
//! the same person under crop, scale, brightness and small rotations
//! matches; different people do not; no face and two faces get those
//! verdicts; identity changes inside a recording are caught; the reference
//! frame is the sharp one. The similarity distribution is printed (run with
//! --nocapture) and is what perception.face_match_threshold was set from.

mod faces_support;

use faces_support::{blur, brightness, crop, models, photo, rotate, scale, side_by_side};
use reel_engine::perception::faces::{
    cosine_similarity, same_person, sharpest_frontal, single_consistent_face, ConsistencyPolicy,
    FaceAnalyzer, FaceModels, FaceVerdict, SamePersonVerdict,
};
use reel_engine::RgbImage;

/// config.toml's defaults for [perception].
const POLICY: ConsistencyPolicy = ConsistencyPolicy {
    match_threshold: 0.92,
    min_face_frames: 0.8,
    min_face_fraction: 0.1,
    max_yaw: 0.3,
    max_roll_degrees: 25.0,
};

const PEOPLE: [&str; 3] = ["astronaut", "grace_hopper", "camera"];

/// Variants of one photograph: a crop, scales, brightness, small rotations.
fn variants(image: &RgbImage) -> Vec<(String, RgbImage)> {
    let (w, h) = (image.width, image.height);
    vec![
        (
            "crop".into(),
            crop(image, w / 8, h / 10, w * 3 / 4, h * 3 / 4),
        ),
        // Upscaled only: the detector's window is 80 pixels, and the
        // cameraman's face is about that already.
        ("scale 1.3".into(), scale(image, 1.3)),
        ("scale 1.8".into(), scale(image, 1.8)),
        ("darker".into(), brightness(image, 0.6, 0.0)),
        ("brighter".into(), brightness(image, 1.0, 45.0)),
        ("rotate +8".into(), rotate(image, 8.0)),
        ("rotate -12".into(), rotate(image, -12.0)),
    ]
}

fn only_face_embedding(models: &FaceModels, image: &RgbImage, what: &str) -> Vec<f32> {
    let faces = models.analyze(image).unwrap();
    assert_eq!(
        faces.len(),
        1,
        "{what}: expected one face, found {}",
        faces.len()
    );
    faces[0].embedding.clone()
}

#[test]
fn the_same_person_matches_across_variants_and_different_people_do_not() {
    let models = models();
    let mut same = Vec::new();
    let mut embeddings: Vec<(String, String, Vec<f32>)> = Vec::new();
    for person in PEOPLE {
        let original = photo(person);
        let reference = only_face_embedding(&models, &original, person);
        embeddings.push((person.into(), "original".into(), reference.clone()));
        for (what, image) in variants(&original) {
            let verdict = same_person(&models, &reference, &image, POLICY.match_threshold).unwrap();
            let label = format!("{person} / {what}");
            eprintln!(
                "same      {label:<28} {:.4}",
                verdict.similarity.unwrap_or(f32::NAN)
            );
            assert_eq!(
                verdict.verdict,
                SamePersonVerdict::Match,
                "{label}: {verdict:?}"
            );
            same.push(verdict.similarity.unwrap_or(0.0));
            embeddings.push((
                person.into(),
                what,
                only_face_embedding(&models, &image, &label),
            ));
        }
    }
    let mut different = Vec::new();
    for (i, (pa, wa, ea)) in embeddings.iter().enumerate() {
        for (pb, wb, eb) in &embeddings[i + 1..] {
            if pa != pb {
                let s = cosine_similarity(ea, eb);
                assert!(s < POLICY.match_threshold, "{pa}/{wa} vs {pb}/{wb}: {s}");
                different.push(s);
            }
        }
    }
    let stats = |v: &[f32]| {
        let min = v.iter().copied().fold(f32::INFINITY, f32::min);
        let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        format!("n={} min={min:.4} mean={mean:.4} max={max:.4}", v.len())
    };
    eprintln!("same person:      {}", stats(&same));
    eprintln!("different people: {}", stats(&different));
    eprintln!("threshold:        {}", POLICY.match_threshold);
}

#[test]
fn a_photo_without_a_face_gets_no_face_verdicts() {
    let models = models();
    let cat = photo("chelsea");
    assert!(models.analyze(&cat).unwrap().is_empty());
    let check = single_consistent_face(&models, &[cat.clone(), cat.clone()], &POLICY).unwrap();
    assert_eq!(check.verdict, FaceVerdict::NoFace);
    assert!(check.reference.is_none());
    let reference = only_face_embedding(&models, &photo("astronaut"), "astronaut");
    let verdict = same_person(&models, &reference, &cat, POLICY.match_threshold).unwrap();
    assert_eq!(verdict.verdict, SamePersonVerdict::NoFace);
    assert_eq!(verdict.faces, 0);
}

#[test]
fn two_faces_are_refused_and_either_can_be_recognised() {
    let models = models();
    let pair = side_by_side(&photo("astronaut"), &photo("grace_hopper"));
    let faces = models.analyze(&pair).unwrap();
    assert_eq!(faces.len(), 2);
    let astronaut = photo("astronaut");
    let check = single_consistent_face(
        &models,
        &[astronaut.clone(), pair.clone(), astronaut],
        &POLICY,
    )
    .unwrap();
    assert_eq!(
        check.verdict,
        FaceVerdict::SeveralFaces { frame: 1, faces: 2 }
    );
    // The clip guard finds the cameo's face among others.
    let hopper = only_face_embedding(&models, &photo("grace_hopper"), "grace_hopper");
    let verdict = same_person(&models, &hopper, &pair, POLICY.match_threshold).unwrap();
    assert_eq!(verdict.verdict, SamePersonVerdict::Match);
    assert_eq!(verdict.faces, 2);
}

#[test]
fn a_recording_of_one_person_is_consistent_and_a_face_swap_is_caught() {
    let models = models();
    let astronaut = photo("astronaut");
    let frames: Vec<RgbImage> = variants(&astronaut)
        .into_iter()
        .map(|(_, image)| image)
        .take(5)
        .collect();
    let check = single_consistent_face(&models, &frames, &POLICY).unwrap();
    assert_eq!(check.verdict, FaceVerdict::Consistent, "{check:?}");
    assert!(check.min_similarity.unwrap() >= POLICY.match_threshold);
    assert!(check.reference.is_some());
    assert!(!check.model_version.is_empty());

    // The face changes midway: the same framing, another person.
    let mut swapped = frames.clone();
    let hopper = scale(&photo("grace_hopper"), 512.0 / 600.0);
    swapped[3] = hopper.clone();
    swapped[4] = hopper;
    let check = single_consistent_face(&models, &swapped, &POLICY).unwrap();
    match check.verdict {
        FaceVerdict::DifferentPerson { similarity, .. } => {
            assert!(similarity < POLICY.match_threshold)
        }
        other => panic!("expected a different person, got {other:?}"),
    }
}

#[test]
fn too_few_frames_with_a_face_are_refused() {
    let models = models();
    let (astronaut, cat) = (photo("astronaut"), photo("chelsea"));
    let frames = vec![astronaut.clone(), cat.clone(), cat.clone(), astronaut, cat];
    let check = single_consistent_face(&models, &frames, &POLICY).unwrap();
    assert_eq!(
        check.verdict,
        FaceVerdict::TooFewFaceFrames {
            with_one_face: 2,
            needed: 4
        }
    );
}

#[test]
fn the_sharpest_frontal_frame_is_the_reference() {
    let models = models();
    let astronaut = photo("astronaut");
    let frames = vec![blur(&astronaut, 2), astronaut.clone(), blur(&astronaut, 1)];
    let pick = sharpest_frontal(&models, &frames, &POLICY)
        .unwrap()
        .expect("a usable frame");
    assert_eq!(pick.frame, 1);
    // A face turned well away is not frontal: a tight policy refuses all.
    let strict = ConsistencyPolicy {
        max_yaw: 0.0001,
        ..POLICY
    };
    assert!(sharpest_frontal(&models, &frames, &strict)
        .unwrap()
        .is_none());
    let check = single_consistent_face(&models, &frames, &strict).unwrap();
    assert!(
        matches!(check.verdict, FaceVerdict::PoorPose { .. }),
        "{:?}",
        check.verdict
    );
}

#[test]
fn a_small_face_is_refused() {
    let models = models();
    let astronaut = photo("astronaut");
    let strict = ConsistencyPolicy {
        min_face_fraction: 0.5,
        ..POLICY
    };
    let check = single_consistent_face(&models, &[astronaut], &strict).unwrap();
    match check.verdict {
        FaceVerdict::FaceTooSmall { largest_fraction } => assert!(largest_fraction < 0.5),
        other => panic!("expected a small face, got {other:?}"),
    }
}
