//! The `[cosim]` table: defaults of `cargo xtask cosim`, each overridden by
//! its flag.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::At;

/// SST reads its Python config and loads the element library in a second
/// or two; a minute covers a slow machine and a cold page cache.
pub const DEFAULT_LISTEN_TIMEOUT_SECS: u64 = 60;

/// The resolved `[cosim]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cosim {
    /// The image a session boots; `None`: the config's `default_image`.
    pub image: Option<String>,
    /// The SST side as a shell command; `None`: the reference peer.
    pub sst: Option<String>,
    /// Where the SST side starts (relative paths from the project root);
    /// `None`: the project root.
    pub sst_dir: Option<PathBuf>,
    /// A fixed socket path, for SST configs that hard-code theirs; `None`:
    /// a fresh one in the session's private directory.
    pub socket: Option<PathBuf>,
    /// How long the SST side may take to listen on the socket.
    pub listen_timeout: Duration,
    /// SST-core's source for `cargo xtask sst build`: a checkout or a
    /// tarball (relative paths from the project root); `SST_CORE_SRC`
    /// overrides it.
    pub sst_core: Option<PathBuf>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawCosim {
    image: Option<Spanned<String>>,
    sst: Option<Spanned<String>>,
    sst_dir: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
    listen_timeout: Option<Spanned<u64>>,
    sst_core: Option<Spanned<String>>,
}

/// Each key is checked where it is written; image names are checked by the
/// caller against `[images]`.
pub fn resolve(r: RawCosim, at: &At) -> Result<Cosim> {
    let non_empty = |v: Option<Spanned<String>>, key: &str| -> Result<Option<String>> {
        match v {
            Some(s) if s.get_ref().trim().is_empty() => Err(at(
                s.span(),
                format!("{key} is empty: leave the key out for the default"),
            )),
            s => Ok(s.map(Spanned::into_inner)),
        }
    };
    let socket = non_empty(r.socket.clone(), "socket")?;
    if let (Some(s), Some(raw)) = (&socket, &r.socket) {
        if s.len() > MAX_SOCKET_PATH {
            return Err(at(
                raw.span(),
                format!("socket `{s}` is {} bytes long; a Unix socket path has at most {MAX_SOCKET_PATH}", s.len()),
            ));
        }
    }
    let listen_timeout = match r.listen_timeout {
        Some(t) if *t.get_ref() == 0 => {
            return Err(at(
                t.span(),
                "listen_timeout must be at least 1 (seconds)".into(),
            ))
        }
        Some(t) => Duration::from_secs(t.into_inner()),
        None => Duration::from_secs(DEFAULT_LISTEN_TIMEOUT_SECS),
    };
    Ok(Cosim {
        image: non_empty(r.image, "image")?,
        sst: non_empty(r.sst, "sst")?,
        sst_dir: non_empty(r.sst_dir, "sst_dir")?.map(PathBuf::from),
        socket: socket.map(PathBuf::from),
        listen_timeout,
        sst_core: non_empty(r.sst_core, "sst_core")?.map(PathBuf::from),
    })
}

/// `sizeof(sockaddr_un.sun_path)` less its terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;
