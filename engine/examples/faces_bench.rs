//! Face detect + landmarks + embed per image, candle side. Prints one line
//! per image: the median of the timed runs for the whole `analyze`, and
//! for detection alone. `scripts/bench/faces.sh` runs this and dlib's
//! Python bindings on the same images in one go.
//!
//! ```text
//! cargo run --release -p reel-engine --example faces_bench -- MODEL_DIR IMAGE...
//! ```

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use reel_engine::perception::faces::{FaceAnalyzer, FaceLimits, FaceModels};

const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: faces_bench MODEL_DIR IMAGE...")?);
    let limits = FaceLimits {
        detect_max_side: 4096,
        ..FaceLimits::default()
    };
    let models = FaceModels::load(&dir, &Device::Cpu, limits)?;
    for path in args {
        let image = reel_media::read_image(std::path::Path::new(&path))?;
        let faces = models.analyze(&image)?; // warm-up
        let mut whole = Vec::new();
        let mut detect = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            models.detect(&image)?;
            detect.push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            models.analyze(&image)?;
            whole.push(start.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "candle {path} {}x{} faces={} analyze_ms={:.1} detect_ms={:.1}",
            image.width,
            image.height,
            faces.len(),
            median(&mut whole),
            median(&mut detect)
        );
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
