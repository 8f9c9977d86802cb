//! What a finished QEMU build is: its `build.json` in the cached install,
//! and `target/xtask/qemu.json`, the record of the build this checkout uses
//! (`run` boots it for co-simulation; the boot log names it).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::project::Project;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Built {
    /// The installed `qemu-system-riscv64`.
    pub binary: PathBuf,
    /// The first line of its `--version`.
    pub version: String,
    pub sha256: String,
    /// The cache key it was built under.
    pub key: String,
    /// The QEMU source and what vouched for it.
    pub source: String,
    /// Where ACALSim's device came from, and the sha256 of its files.
    pub acalsim: String,
    pub acalsim_device_sha256: String,
    /// OpenSBI's `fw_dynamic.bin` installed beside it (`-bios default`).
    pub firmware_sha256: String,
    pub built_at: String,
    pub build_secs: f64,
}

/// The file inside an install directory.
pub const BUILD_JSON: &str = "build.json";

pub fn pointer(project: &Project) -> PathBuf {
    project.xtask_dir().join("qemu.json")
}

pub fn read(path: &Path) -> Result<Built> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes `built` to `path` through a temporary file renamed into place.
pub fn write(path: &Path, built: &Built) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(built).context("serialising the QEMU build record")?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The project's QEMU, if `cargo xtask qemu build` made one that still exists.
pub fn current(project: &Project) -> Result<Option<Built>> {
    let path = pointer(project);
    if !path.is_file() {
        return Ok(None);
    }
    let built = read(&path)?;
    Ok(built.binary.is_file().then_some(built))
}
