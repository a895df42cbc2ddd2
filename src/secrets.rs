//! Secrets come from the environment or from files named in config, and are
//! redacted wherever they could be printed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// A secret value. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `[secrets]` section: only file names, never values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFiles {
    pub discord_token_file: PathBuf,
    pub telegram_token_file: PathBuf,
    pub master_key_file: PathBuf,
    pub signing_key_file: PathBuf,
    /// The C2PA signing certificate (PEM; public, named here beside its key).
    #[serde(default)]
    pub signing_cert_file: PathBuf,
    /// The CA that issued it (`reel keygen`): the trust anchor `reel verify` uses.
    #[serde(default)]
    pub signing_ca_file: PathBuf,
}

/// Where a loaded secret came from (shown by `reel config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(&'static str),
    File(PathBuf),
    Unset,
}

#[derive(Debug, Default)]
pub struct Secrets {
    pub discord_token: Option<Secret>,
    pub telegram_token: Option<Secret>,
    pub master_key: Option<Secret>,
    pub signing_key: Option<Secret>,
    pub sources: Vec<(&'static str, SecretSource)>,
}

impl Secrets {
    pub fn load(files: &SecretFiles) -> Result<Self, ConfigError> {
        let mut secrets = Secrets::default();
        let specs = [
            (
                "discord_token",
                "REEL_DISCORD_TOKEN",
                "secrets.discord_token_file",
                &files.discord_token_file,
            ),
            (
                "telegram_token",
                "REEL_TELEGRAM_TOKEN",
                "secrets.telegram_token_file",
                &files.telegram_token_file,
            ),
            (
                "master_key",
                "REEL_MASTER_KEY",
                "secrets.master_key_file",
                &files.master_key_file,
            ),
            (
                "signing_key",
                "REEL_SIGNING_KEY",
                "secrets.signing_key_file",
                &files.signing_key_file,
            ),
        ];
        for (name, env, key, file) in specs {
            let (value, source) = read_one(env, key, file)?;
            match name {
                "discord_token" => secrets.discord_token = value,
                "telegram_token" => secrets.telegram_token = value,
                "master_key" => secrets.master_key = value,
                _ => secrets.signing_key = value,
            }
            secrets.sources.push((name, source));
        }
        Ok(secrets)
    }

    /// One line per secret saying whether and where it is set, never its value.
    pub fn describe(&self) -> String {
        self.sources
            .iter()
            .map(|(name, source)| match source {
                SecretSource::Env(var) => format!("{name} = <redacted, from ${var}>"),
                SecretSource::File(path) => format!("{name} = <redacted, from {}>", path.display()),
                SecretSource::Unset => format!("{name} = <not set>"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn read_one(
    env: &'static str,
    key: &'static str,
    file: &PathBuf,
) -> Result<(Option<Secret>, SecretSource), ConfigError> {
    if let Ok(value) = std::env::var(env) {
        if !value.trim().is_empty() {
            return Ok((
                Some(Secret(value.trim().to_string())),
                SecretSource::Env(env),
            ));
        }
    }
    if file.as_os_str().is_empty() {
        return Ok((None, SecretSource::Unset));
    }
    let value = std::fs::read_to_string(file).map_err(|e| ConfigError::Secret {
        key,
        reason: format!("cannot read {}: {e}", file.display()),
    })?;
    if value.trim().is_empty() {
        return Err(ConfigError::Secret {
            key,
            reason: format!("{} is empty", file.display()),
        });
    }
    Ok((
        Some(Secret(value.trim().to_string())),
        SecretSource::File(file.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret("hunter2".into());
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        let secrets = Secrets {
            discord_token: Some(secret),
            ..Default::default()
        };
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn file_secrets_are_read_and_missing_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let (value, source) =
            read_one("REEL_UNSET_FOR_TEST_A", "secrets.signing_key_file", &path).unwrap();
        assert_eq!(value.unwrap().expose(), "s3cret");
        assert_eq!(source, SecretSource::File(path.clone()));
        let missing = dir.path().join("nope");
        let err =
            read_one("REEL_UNSET_FOR_TEST_B", "secrets.master_key_file", &missing).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("secrets.master_key_file") && message.contains("nope"),
            "{message}"
        );
    }
}
