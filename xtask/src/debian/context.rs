//! What the stages of one Debian image build share: the image, its inputs
//! and key, where the build works, and the decisions made once (apt's
//! Valid-Until policy, the native helper).

use std::path::PathBuf;
use std::time::Instant;

use crate::config::{Debian, Image};
use crate::project::Project;

use super::inputs::Inputs;
use super::native::NativeSpec;

pub struct Build<'a> {
    pub project: &'a Project,
    pub image: &'a Image,
    /// The image's Debian keys.
    pub debian: &'a Debian,
    pub inputs: Inputs,
    /// The image's content key (`manifest.json`'s `config_hash`).
    pub key: String,
    /// The unpacked root filesystem being built.
    pub rootfs: PathBuf,
    /// Where the kernel, initrd and rootfs images are written, then installed from.
    pub out: PathBuf,
    /// The user cache (layers, apt archives, the native helper).
    pub cache: PathBuf,
    pub check_valid_until: bool,
    pub native: NativeSpec,
    pub native_log: PathBuf,
    pub started: Instant,
}
