//! `reel keygen` (a local CA, a signing certificate and its key) and `reel
//! verify CLIP.mp4` (the clip's content credentials and whether they hold).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use reel::config::Config;
use reel_provenance::{generate_keys, verify_file, write_key_files, KeyFiles, Validity};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Organisation named in the certificates.
    #[arg(long, default_value = "reel self-hosted")]
    org: String,
    /// Folder for files [secrets] does not name.
    #[arg(long, default_value = "reel-keys")]
    dir: PathBuf,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The MP4 to check.
    clip: PathBuf,
    /// Trust anchor: the CA certificate (PEM) the signer must chain to
    /// (default: secrets.signing_ca_file when set).
    #[arg(long, value_name = "CA.pem")]
    ca: Option<PathBuf>,
    /// Print the whole manifest store as JSON after the summary.
    #[arg(long)]
    json: bool,
}

/// Writes the files where [secrets] names them (else into --dir) and says
/// which config lines point at them.
pub fn keygen(config: &Config, args: KeygenArgs) -> anyhow::Result<()> {
    let s = &config.secrets;
    let pick = |named: &Path, default: &str| {
        if named.as_os_str().is_empty() {
            args.dir.join(default)
        } else {
            named.to_path_buf()
        }
    };
    let files = KeyFiles {
        ca_cert: pick(&s.signing_ca_file, "ca.pem"),
        signing_cert: pick(&s.signing_cert_file, "signing-cert.pem"),
        signing_key: pick(&s.signing_key_file, "signing-key.pem"),
    };
    let material = generate_keys(&args.org)?;
    write_key_files(&material, &files)?;
    println!("wrote a local CA and a C2PA signing certificate and key:");
    println!(
        "  CA certificate (trust anchor): {}",
        files.ca_cert.display()
    );
    println!(
        "  signing certificate:           {}",
        files.signing_cert.display()
    );
    println!(
        "  signing key (keep private):    {}",
        files.signing_key.display()
    );
    println!("\nin the config file:\n[secrets]");
    for (key, path) in [
        ("signing_key_file", &files.signing_key),
        ("signing_cert_file", &files.signing_cert),
        ("signing_ca_file", &files.ca_cert),
    ] {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        println!("{key} = {:?}", shown.display().to_string());
    }
    Ok(())
}

/// Prints the summary (and optionally the manifest); fails unless the
/// credentials validate.
pub fn verify(config: &Config, args: VerifyArgs) -> anyhow::Result<()> {
    let ca_file = args.ca.clone().or_else(|| {
        let named = &config.secrets.signing_ca_file;
        (!named.as_os_str().is_empty()).then(|| named.clone())
    });
    let anchors = match &ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the CA certificate {}", path.display()))?,
        ),
        None => None,
    };
    let report = verify_file(&args.clip, anchors.as_deref())?;
    println!("{}: {}", args.clip.display(), report.validity);
    for failure in &report.failures {
        println!("  failure: {failure}");
    }
    if let Some(generator) = &report.claim_generator {
        println!("claim generator: {generator}");
    }
    if let Some(signer) = &report.signer {
        println!("signed by: {signer}");
    }
    for (action, source) in &report.actions {
        match source {
            Some(source) => println!("action: {action} (digital source type: {source})"),
            None => println!("action: {action}"),
        }
    }
    if let Some(model) = &report.model {
        let checkpoint = report.checkpoint.as_deref().unwrap_or("unknown");
        println!("model: {model} (checkpoint: {checkpoint})");
    }
    if !report.cameo_ids.is_empty() {
        println!("cameo ids: {}", report.cameo_ids.join(", "));
    }
    for ingredient in &report.ingredients {
        println!("ingredient: {ingredient}");
    }
    if ca_file.is_none() && report.validity == Validity::Valid {
        println!("(no trust anchor given: --ca CA.pem or secrets.signing_ca_file)");
    }
    if args.json {
        let pretty = serde_json::from_str::<serde_json::Value>(&report.manifest_json)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or(report.manifest_json.clone());
        println!("{pretty}");
    }
    match report.validity {
        Validity::Trusted | Validity::Valid => Ok(()),
        Validity::Invalid => bail!(
            "the content credentials of {} do not validate",
            args.clip.display()
        ),
        Validity::Unsigned => bail!("{} has no content credentials", args.clip.display()),
    }
}
