//! Checks before a run creates anything: the image is built and complete,
//! and the QEMU binary has the SST device when a co-simulation socket is
//! asked for. Each failure says what to run to fix it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::manifest::{self, Manifest};
use crate::project::Project;

/// An image whose manifest and artifacts are all on disk.
pub struct BuiltImage {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// The image `name` (default: the config's `default_image`), if it is built.
pub fn built_image(project: &Project, name: Option<&str>) -> Result<BuiltImage> {
    let name = image_name(project, name)?;
    let dir = project.images_dir().join(&name);
    let manifest = Manifest::read(&dir).with_context(|| {
        format!("image `{name}` is not built; build it with `cargo xtask image {name}`")
    })?;
    if !manifest.artifacts_present(&dir) {
        bail!("image `{name}` in {} is incomplete; rebuild it with `cargo xtask image {name} --rebuild`", dir.display());
    }
    Ok(BuiltImage {
        name,
        dir,
        manifest,
    })
}

/// The config's default image, or NAME if it is in the config or built.
fn image_name(project: &Project, name: Option<&str>) -> Result<String> {
    if let Some(name) = name {
        if project
            .images_dir()
            .join(name)
            .join(manifest::FILE)
            .is_file()
        {
            return Ok(name.to_string());
        }
    }
    Ok(project.config()?.image(name)?.name.clone())
}

/// `--sst-socket` needs ACALSim's QEMU build; stock QEMU would fail later
/// with a bare "Device not found".
pub fn require_sst_device(project: &Project, qemu: &Path, socket: &Path) -> Result<()> {
    let sh = &project.sh;
    let out = cmd!(sh, "{qemu} -machine virt -device help")
        .ignore_status()
        .quiet()
        .output()
        .with_context(|| format!("running `{} -device help`", qemu.display()))?;
    let devices = String::from_utf8_lossy(&out.stdout);
    if !devices.contains("\"virtio-sst-device\"") {
        bail!(
            "--sst-socket {}: QEMU `{}` has no virtio-sst-device (checked with `-device help`); \
             it needs ACALSim's QEMU build: pass --qemu PATH or set ACALSIM_QEMU",
            socket.display(),
            qemu.display()
        );
    }
    Ok(())
}
