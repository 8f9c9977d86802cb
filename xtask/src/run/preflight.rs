//! Checks before a run creates anything: the image is built and complete,
//! and the QEMU binary has the SST device when a co-simulation socket is
//! asked for. Each failure says what to run to fix it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::manifest::{self, Manifest};
use crate::project::Project;
use crate::qemu::record;

use super::defaults::QEMU_DEFAULT;
use super::request::Request;

/// The QEMU a run boots, and what the boot log says about it.
pub struct ChosenQemu {
    pub path: PathBuf,
    /// Path, `--version` and sha256: which QEMU booted, for the record.
    pub description: String,
    /// The first line of its `--version`, and the binary's sha256.
    pub version: String,
    pub sha256: String,
}

/// `--qemu` (or `ACALSIM_QEMU`) when given; else the project's own build
/// when there is one, for every run: a warm run and a co-simulation need
/// it, and a cold run on the same binary is one a warm run can be compared
/// with (one QEMU for every run); else `qemu-system-riscv64`.
pub fn choose_qemu(project: &Project, request: &Request) -> Result<ChosenQemu> {
    if request.qemu.is_none() {
        if let Some(built) = record::current(project)? {
            let description = format!(
                "{} ({}, sha256 {}; the project's build, {})",
                built.binary.display(),
                built.version,
                built.sha256,
                record::pointer(project).display()
            );
            return Ok(ChosenQemu {
                path: built.binary,
                description,
                version: built.version,
                sha256: built.sha256,
            });
        }
    }
    let path = request.qemu.clone().unwrap_or_else(|| QEMU_DEFAULT.into());
    let sh = &project.sh;
    // A path the user named is theirs to check; the default is ours to install.
    let fix = match &request.qemu {
        Some(_) => format!(
            "check the path given with --qemu or {}",
            crate::run::defaults::QEMU_ENV
        ),
        None => "install it with `cargo xtask doctor --fix`, or pass --qemu PATH".into(),
    };
    let version = cmd!(sh, "{path} --version")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| {
            format!(
                "QEMU `{}` does not run (`--version`): {fix}",
                path.display()
            )
        })?;
    let file = on_path(&path);
    let sha256 = match &file {
        Some(f) => crate::cache::sha256_file(f)?,
        None => "unknown".into(),
    };
    let version = version.lines().next().unwrap_or_default().to_string();
    let description = format!(
        "{} ({version}, sha256 {sha256})",
        file.as_deref().unwrap_or(&path).display(),
    );
    Ok(ChosenQemu {
        path,
        description,
        version,
        sha256,
    })
}

/// The file `program` runs: itself when it has a '/', else the first on PATH.
fn on_path(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

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
    let manifest = Manifest::read_built(&dir, &name)?;
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
pub fn require_sst_device(project: &Project, chosen: &ChosenQemu, socket: &Path) -> Result<()> {
    let qemu = &chosen.path;
    if !has_sst_device(project, qemu)? {
        bail!(
            "--sst-socket {}: QEMU `{}` has no virtio-sst-device (checked with `-device help`); \
             build the project's (`ACALSIM_SRC=PATH cargo xtask qemu build`, which `run` then uses) \
             or pass --qemu PATH to another build with the device",
            socket.display(),
            qemu.display()
        );
    }
    Ok(())
}

/// Whether QEMU `qemu` lists ACALSim's `virtio-sst-device` (`-device help`;
/// QEMU starts no guest for it).
pub fn has_sst_device(project: &Project, qemu: &Path) -> Result<bool> {
    let sh = &project.sh;
    let out = cmd!(sh, "{qemu} -machine virt -device help")
        .ignore_status()
        .quiet()
        .output()
        .with_context(|| format!("running `{} -device help`", qemu.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).contains("\"virtio-sst-device\""))
}
