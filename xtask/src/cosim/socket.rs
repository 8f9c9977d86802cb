//! Where a session's socket lives: a fresh path in the session's private
//! directory, or a fixed one (`--socket`, for SST configs that hard-code
//! theirs) that this session holds alone while it runs.

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::listening::listening;
use crate::config::cosim::MAX_SOCKET_PATH;
use crate::project::Project;

/// The socket path of one session; dropping it removes the socket file
/// (and the private directory, or releases the fixed path's lock).
pub struct SessionSocket {
    pub path: PathBuf,
    _private_dir: Option<tempfile::TempDir>,
    _lock: Option<File>,
}

impl SessionSocket {
    /// `sst.sock` in a new private directory.
    pub fn private() -> Result<SessionSocket> {
        let dir = crate::run::private_dir()?;
        Ok(SessionSocket {
            path: dir.path().join("sst.sock"),
            _private_dir: Some(dir),
            _lock: None,
        })
    }

    /// `path` (relative: from the project root), refused while another
    /// session holds it or anything listens there; a stale socket file
    /// left by a killed SST is removed.
    pub fn fixed(project: &Project, path: &Path) -> Result<SessionSocket> {
        let path = project.root.join(path);
        check_length(&path)?;
        check_directory(&path)?;
        let lock = lock(project, &path)?;
        if listening(&path)? {
            bail!(
                "--socket {}: something already listens there (another SST?); stop it (`ss -xlp | grep {}` names it) or choose another path",
                path.display(),
                path.display()
            );
        }
        remove_stale(&path)?;
        Ok(SessionSocket {
            path,
            _private_dir: None,
            _lock: Some(lock),
        })
    }
}

impl Drop for SessionSocket {
    fn drop(&mut self) {
        let _ = remove_stale(&self.path);
    }
}

fn check_length(path: &Path) -> Result<()> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        bail!(
            "--socket {}: {len} bytes long; a Unix socket path has at most {MAX_SOCKET_PATH}",
            path.display()
        );
    }
    Ok(())
}

/// The SST side must be able to create the socket there; found out now,
/// before anything starts (a probe file is created and removed).
fn check_directory(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    tempfile::Builder::new()
        .prefix(".acalsim-probe-")
        .tempfile_in(dir)
        .map(drop)
        .with_context(|| {
            format!(
                "--socket {}: cannot create files in {}, so the SST side could not create its socket there; choose a path in a writable directory",
                path.display(),
                dir.display()
            )
        })
}

/// One session per fixed path: a lock in target/xtask/run/ named by the
/// path's hash, held until the session ends.
fn lock(project: &Project, path: &Path) -> Result<File> {
    let dir = project.xtask_dir().join("run");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let lock_path = dir.join(format!("cosim-socket-{hex}.lock"));
    let file =
        File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "--socket {}: another `cargo xtask cosim` is using it; wait for it to end or choose another path (lock: {})",
            path.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", lock_path.display())),
    }
}

/// Removes a socket file nobody listens on; refuses to touch anything else.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display())),
        Ok(_) => bail!(
            "--socket {}: exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(_) => Ok(()),
    }
}
