//! The refresh token and the DPoP key it is bound to, in a file only the user can read (0600,
//! in a 0700 folder), replaced atomically on every rotation.

use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::PathBuf,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Serialize, Deserialize)]
pub struct Credentials {
    pub issuer: String,
    pub client_id: String,
    pub refresh_token: String,
    /// PKCS#8 of the DPoP key, base64.
    pub dpop_key: String,
}

impl Credentials {
    pub fn dpop_key_pkcs8(&self) -> Result<Vec<u8>, Error> {
        Ok(STANDARD.decode(&self.dpop_key)?)
    }

    pub fn encode_key(pkcs8: &[u8]) -> String {
        STANDARD.encode(pkcs8)
    }
}

/// `$LOGI_CLI_CREDENTIALS`, else `$XDG_CONFIG_HOME/logi-example-cli/credentials.json`, else
/// `~/.config/logi-example-cli/credentials.json`.
pub fn path() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("LOGI_CLI_CREDENTIALS") {
        return Ok(path.into());
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?).join(".config"),
    };
    Ok(config.join("logi-example-cli").join("credentials.json"))
}

pub fn load() -> Result<Option<Credentials>, Error> {
    let path = path()?;
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// Writes a temporary file created 0600 (never readable by others, not even for a moment),
/// then renames it over the old one.
pub fn save(credentials: &Credentials) -> Result<(), Error> {
    let path = path()?;
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(credentials)?)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    Ok(())
}

pub fn remove() -> Result<(), Error> {
    match fs::remove_file(path()?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
