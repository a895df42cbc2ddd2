//! The checks the consent registry calls, on any [`FaceAnalyzer`]. Each
//! returns a structured verdict with the scores behind it, which the
//! registry keeps as evidence.

use serde::{Deserialize, Serialize};

use super::{cosine_similarity, Face, FaceAnalyzer, FaceError};
use crate::RgbImage;

/// Head pose estimated from the five landmarks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// The nose's sideways offset from the middle of the eyes, in eye
    /// distances: about 0 facing the camera, ±0.3 and more turned away.
    pub yaw: f32,
    /// The eye line's tilt from horizontal, in degrees.
    pub roll_degrees: f32,
}

/// Pose from dlib's 5 points (eye corners, then the nose); `None` when the
/// landmarks are not those five or the eyes coincide.
pub fn pose_of(face: &Face) -> Option<Pose> {
    let p = &face.landmarks;
    if p.len() != 5 {
        return None;
    }
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    // Points 0-1: the eye on the image's right; 2-3: on its left.
    let right_of_image = mid(p[0], p[1]);
    let left_of_image = mid(p[2], p[3]);
    let axis = [
        right_of_image[0] - left_of_image[0],
        right_of_image[1] - left_of_image[1],
    ];
    let eye_distance = axis[0].hypot(axis[1]);
    if eye_distance < 1e-3 {
        return None;
    }
    let centre = mid(left_of_image, right_of_image);
    let nose = [p[4][0] - centre[0], p[4][1] - centre[1]];
    let yaw = (nose[0] * axis[0] + nose[1] * axis[1]) / (eye_distance * eye_distance);
    Some(Pose {
        yaw,
        roll_degrees: axis[1].atan2(axis[0]).to_degrees(),
    })
}

/// What counts as one consistent, usable face in a recording.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyPolicy {
    /// Cosine similarity at or above which two faces are the same person.
    pub match_threshold: f32,
    /// The share of frames that must show exactly one face.
    pub min_face_frames: f32,
    /// The face box's height over the frame's shorter side, at least.
    pub min_face_fraction: f32,
    /// The largest |yaw| (see [`Pose`]) of a usable frame.
    pub max_yaw: f32,
    /// The largest |roll| of a usable frame, in degrees.
    pub max_roll_degrees: f32,
}

/// The outcome of [`single_consistent_face`], first failing rule first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum FaceVerdict {
    /// One face, the same person throughout, usable size and pose.
    Consistent,
    /// A frame shows more than one face.
    SeveralFaces { frame: usize, faces: usize },
    /// No frame shows a face.
    NoFace,
    /// Too few frames show exactly one face.
    TooFewFaceFrames { with_one_face: usize, needed: usize },
    /// The face is too small in every frame (largest share seen).
    FaceTooSmall { largest_fraction: f32 },
    /// The face is never turned to the camera (the most frontal pose seen).
    PoorPose { best: Pose },
    /// A frame's face is not the reference frame's person.
    DifferentPerson { frame: usize, similarity: f32 },
}

/// What one frame showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameEvidence {
    pub faces: usize,
    /// The rest only for frames with exactly one face.
    pub score: Option<f32>,
    pub face_fraction: Option<f32>,
    pub pose: Option<Pose>,
    pub sharpness: Option<f32>,
    /// Cosine similarity to the reference frame's face.
    pub similarity: Option<f32>,
}

/// The frame chosen as the cameo's reference image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FramePick {
    pub frame: usize,
    pub face: Face,
    /// Variance of the Laplacian over the face box (grey levels²).
    pub sharpness: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceCheck {
    pub verdict: FaceVerdict,
    pub policy: ConsistencyPolicy,
    pub frames: Vec<FrameEvidence>,
    pub min_similarity: Option<f32>,
    pub mean_similarity: Option<f32>,
    pub reference: Option<FramePick>,
    pub model_version: String,
}

impl FaceCheck {
    pub fn passed(&self) -> bool {
        self.verdict == FaceVerdict::Consistent
    }
}

/// Exactly one face in enough of `frames`, the same person throughout, of a
/// usable size and pose. The reference is the sharpest usable frame.
pub fn single_consistent_face(
    analyzer: &dyn FaceAnalyzer,
    frames: &[RgbImage],
    policy: &ConsistencyPolicy,
) -> Result<FaceCheck, FaceError> {
    if frames.is_empty() {
        return Err(FaceError::NoFrames);
    }
    let found: Vec<Vec<Face>> = frames
        .iter()
        .map(|frame| analyzer.analyze(frame))
        .collect::<Result<_, _>>()?;
    let mut evidence: Vec<FrameEvidence> = found
        .iter()
        .zip(frames)
        .map(|(faces, frame)| describe(faces, frame))
        .collect();
    let reference = pick_sharpest_frontal(frames, &found, &evidence, policy);
    let mut check = FaceCheck {
        verdict: FaceVerdict::Consistent,
        policy: *policy,
        frames: Vec::new(),
        min_similarity: None,
        mean_similarity: None,
        reference: None,
        model_version: analyzer.model_version(),
    };
    let with_one_face = found.iter().filter(|f| f.len() == 1).count();
    let needed = ((policy.min_face_frames * frames.len() as f32).ceil() as usize).max(1);
    check.verdict =
        if let Some((frame, faces)) = found.iter().enumerate().find(|(_, f)| f.len() > 1) {
            FaceVerdict::SeveralFaces {
                frame,
                faces: faces.len(),
            }
        } else if with_one_face == 0 {
            FaceVerdict::NoFace
        } else if with_one_face < needed {
            FaceVerdict::TooFewFaceFrames {
                with_one_face,
                needed,
            }
        } else if let Some(largest) = too_small(&evidence, policy) {
            FaceVerdict::FaceTooSmall {
                largest_fraction: largest,
            }
        } else if let (None, Some(best)) = (&reference, most_frontal(&evidence)) {
            FaceVerdict::PoorPose { best }
        } else {
            FaceVerdict::Consistent
        };
    if let Some(pick) = &reference {
        let mut sims = Vec::new();
        for (i, faces) in found.iter().enumerate() {
            if let [face] = faces.as_slice() {
                let s = cosine_similarity(&face.embedding, &pick.face.embedding);
                evidence[i].similarity = Some(s);
                sims.push((i, s));
            }
        }
        let worst = sims.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        check.min_similarity = worst.map(|w| w.1);
        check.mean_similarity =
            Some(sims.iter().map(|s| s.1).sum::<f32>() / sims.len().max(1) as f32);
        if let (FaceVerdict::Consistent, Some((frame, similarity))) = (&check.verdict, worst) {
            if similarity < policy.match_threshold {
                check.verdict = FaceVerdict::DifferentPerson { frame, similarity };
            }
        }
    }
    check.frames = evidence;
    check.reference = reference;
    Ok(check)
}

/// The outcome of [`same_person`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamePersonVerdict {
    Match,
    NoMatch,
    NoFace,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamePerson {
    pub verdict: SamePersonVerdict,
    /// The best cosine similarity among the image's faces.
    pub similarity: Option<f32>,
    pub faces: usize,
    pub threshold: f32,
}

/// Whether any face in `image` is the person of `reference_embedding`.
pub fn same_person(
    analyzer: &dyn FaceAnalyzer,
    reference_embedding: &[f32],
    image: &RgbImage,
    threshold: f32,
) -> Result<SamePerson, FaceError> {
    let faces = analyzer.analyze(image)?;
    let similarity = faces
        .iter()
        .map(|f| cosine_similarity(&f.embedding, reference_embedding))
        .max_by(f32::total_cmp);
    let verdict = match similarity {
        None => SamePersonVerdict::NoFace,
        Some(s) if s >= threshold => SamePersonVerdict::Match,
        Some(_) => SamePersonVerdict::NoMatch,
    };
    Ok(SamePerson {
        verdict,
        similarity,
        faces: faces.len(),
        threshold,
    })
}

/// The sharpest frame showing exactly one face of usable size and pose.
pub fn sharpest_frontal(
    analyzer: &dyn FaceAnalyzer,
    frames: &[RgbImage],
    policy: &ConsistencyPolicy,
) -> Result<Option<FramePick>, FaceError> {
    let found: Vec<Vec<Face>> = frames
        .iter()
        .map(|frame| analyzer.analyze(frame))
        .collect::<Result<_, _>>()?;
    let evidence: Vec<FrameEvidence> = found
        .iter()
        .zip(frames)
        .map(|(f, fr)| describe(f, fr))
        .collect();
    Ok(pick_sharpest_frontal(frames, &found, &evidence, policy))
}

fn describe(faces: &[Face], frame: &RgbImage) -> FrameEvidence {
    let one = match faces {
        [face] => Some(face),
        _ => None,
    };
    let shorter = frame.width.min(frame.height).max(1) as f32;
    FrameEvidence {
        faces: faces.len(),
        score: one.map(|f| f.score),
        face_fraction: one.map(|f| f.bbox.height() as f32 / shorter),
        pose: one.and_then(pose_of),
        sharpness: one.map(|f| sharpness(frame, f)),
        similarity: None,
    }
}

fn usable(e: &FrameEvidence, policy: &ConsistencyPolicy) -> bool {
    let size_ok = e
        .face_fraction
        .is_some_and(|f| f >= policy.min_face_fraction);
    let pose_ok = e.pose.is_some_and(|p| {
        p.yaw.abs() <= policy.max_yaw && p.roll_degrees.abs() <= policy.max_roll_degrees
    });
    e.faces == 1 && size_ok && pose_ok
}

fn pick_sharpest_frontal(
    frames: &[RgbImage],
    found: &[Vec<Face>],
    evidence: &[FrameEvidence],
    policy: &ConsistencyPolicy,
) -> Option<FramePick> {
    let _ = frames;
    evidence
        .iter()
        .enumerate()
        .filter(|(_, e)| usable(e, policy))
        .max_by(|a, b| {
            a.1.sharpness
                .unwrap_or(0.0)
                .total_cmp(&b.1.sharpness.unwrap_or(0.0))
        })
        .and_then(|(i, e)| {
            Some(FramePick {
                frame: i,
                face: found[i].first()?.clone(),
                sharpness: e.sharpness.unwrap_or(0.0),
            })
        })
}

/// The largest face share seen, when no one-face frame reaches the minimum.
fn too_small(evidence: &[FrameEvidence], policy: &ConsistencyPolicy) -> Option<f32> {
    let largest = evidence
        .iter()
        .filter_map(|e| e.face_fraction)
        .max_by(f32::total_cmp)?;
    (largest < policy.min_face_fraction).then_some(largest)
}

fn most_frontal(evidence: &[FrameEvidence]) -> Option<Pose> {
    evidence.iter().filter_map(|e| e.pose).min_by(|a, b| {
        (a.yaw.abs() + a.roll_degrees.abs() / 90.0)
            .total_cmp(&(b.yaw.abs() + b.roll_degrees.abs() / 90.0))
    })
}

/// Variance of the 4-neighbour Laplacian of the grey image over the face
/// box (clipped to the frame): higher is sharper.
pub fn sharpness(frame: &RgbImage, face: &Face) -> f32 {
    let (w, h) = (frame.width as i64, frame.height as i64);
    let b = face.bbox;
    let (x0, x1) = (b.left.max(1), b.right.min(w - 2));
    let (y0, y1) = (b.top.max(1), b.bottom.min(h - 2));
    if x1 < x0 || y1 < y0 {
        return 0.0;
    }
    let grey = |x: i64, y: i64| -> f64 {
        let i = ((y * w + x) * 3) as usize;
        let d = &frame.data;
        (f64::from(d[i]) + f64::from(d[i + 1]) + f64::from(d[i + 2])) / 3.0
    };
    let (mut sum, mut sum_sq, mut n) = (0.0, 0.0, 0.0);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let lap = grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1)
                - 4.0 * grey(x, y);
            sum += lap;
            sum_sq += lap * lap;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}
