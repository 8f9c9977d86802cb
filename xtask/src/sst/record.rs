//! What a finished SST build is: `build.json` in the cached element library's
//! directory, and `target/xtask/sst.json`, the record of the build this
//! checkout uses (`cosim` puts its `sst` on the SST side's PATH and its
//! element directory in `SST_LIB_PATH`).

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::project::Project;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Built {
    /// The installed SST-core: `bin/sst`, `bin/sst-info`, `bin/sst-config`.
    pub prefix: PathBuf,
    /// The directory holding `libacalsim.so` (element library `acalsim`).
    pub elements: PathBuf,
    /// The first line of `sst --version`.
    pub version: String,
    /// The cache keys of SST-core's install and of the element library.
    pub core_key: String,
    pub element_key: String,
    /// SST-core's source and its identity (sha256 or commit).
    pub core_source: String,
    pub core_identity: String,
    /// Where ACALSim came from, and the sha256 of the component's files.
    pub acalsim: String,
    pub component_sha256: String,
    /// The components `sst-info acalsim` lists.
    pub components: Vec<String>,
    pub built_at: String,
    pub build_secs: f64,
}

impl Built {
    pub fn bin_dir(&self) -> PathBuf {
        self.prefix.join("bin")
    }
}

/// The file inside the element library's directory.
pub const BUILD_JSON: &str = "build.json";

pub fn pointer(project: &Project) -> PathBuf {
    project.xtask_dir().join("sst.json")
}

/// The project's SST, if `cargo xtask sst build` made one that still exists.
pub fn current(project: &Project) -> Result<Option<Built>> {
    let built: Option<Built> = crate::cache::read_json_if_present(&pointer(project))?;
    Ok(built.filter(|b| b.bin_dir().join("sst").is_file() && b.elements.join(LIBRARY).is_file()))
}

/// ACALSim's element library: SST loads element `acalsim` from `libacalsim.so`.
pub const LIBRARY: &str = "libacalsim.so";
