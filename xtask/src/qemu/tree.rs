//! The source tree QEMU is built from: the verified source unpacked into a
//! work directory, the project's patches applied, and ACALSim's device files
//! plus the project's glue copied in (ACALSim's checkout is only read).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::fetch::{Kind, Source};
use crate::acalsim::Acalsim;
use crate::progress::CommandLog;

/// The project's files for the build: `qemu/patches/*.patch` (in name order)
/// and `qemu/acalsim/` (the glue translation unit).
pub struct Glue {
    pub patches: Vec<PathBuf>,
    pub unit: PathBuf,
}

impl Glue {
    pub fn in_project(root: &Path) -> Result<Glue> {
        let dir = root.join("qemu/patches");
        let mut patches: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect();
        patches.sort();
        let unit = root.join("qemu/acalsim/acalsim-virtio-sst.c");
        if !unit.is_file() {
            bail!(
                "{} is missing (the project's glue for ACALSim's device)",
                unit.display()
            );
        }
        Ok(Glue { patches, unit })
    }
}

/// `source` unpacked into `src` (a new directory), patched, with the device in.
pub fn prepare(
    sh: &Shell,
    log: &CommandLog,
    source: &Source,
    glue: &Glue,
    acalsim: &Acalsim,
    src: &Path,
) -> Result<()> {
    unpack(sh, log, source, src)?;
    for patch in &glue.patches {
        log.run(cmd!(sh, "patch --batch --forward --strip=1 --directory={src} --input={patch}"))
            .with_context(|| {
                format!(
                    "the project's {} does not apply to this QEMU source: the glue is written for QEMU 10.2 (the default [qemu] version); \
                     another release needs the patch redone",
                    patch.display()
                )
            })?;
    }
    add_device(src, glue, acalsim)
}

fn unpack(sh: &Shell, log: &CommandLog, source: &Source, src: &Path) -> Result<()> {
    std::fs::create_dir_all(src).with_context(|| format!("creating {}", src.display()))?;
    match &source.kind {
        Kind::Tarball(t) => log
            .run(cmd!(sh, "tar -xf {t} -C {src} --strip-components=1"))
            .with_context(|| format!("unpacking {}", t.display())),
        Kind::Checkout(dir) => {
            log.run(cmd!(
                sh,
                "git clone --quiet --shared --no-checkout {dir} {src}"
            ))?;
            let head = log.read(cmd!(sh, "git -C {dir} rev-parse HEAD"))?;
            log.run(cmd!(sh, "git -C {src} checkout --quiet {head}"))
                .with_context(|| format!("checking out {} from {}", head, dir.display()))
        }
    }
}

/// ACALSim's `virtio-sst.c` under `hw/virtio/acalsim/` (the glue includes it),
/// its headers under `include/hw/virtio/` (where its `#include`s look), and
/// the glue beside QEMU's own virtio devices.
fn add_device(src: &Path, glue: &Glue, acalsim: &Acalsim) -> Result<()> {
    let device = acalsim.device_dir();
    let copies = [
        ("virtio-sst.c", src.join("hw/virtio/acalsim/virtio-sst.c")),
        ("virtio-sst.h", src.join("include/hw/virtio/virtio-sst.h")),
        (
            "sst-protocol.h",
            src.join("include/hw/virtio/sst-protocol.h"),
        ),
    ];
    for (file, dest) in &copies {
        if dest.exists() {
            bail!("{} already exists in the QEMU source: it has a virtio-sst device of its own; use a plain QEMU release", dest.display());
        }
        let parent = dest.parent().expect("a path under src");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        std::fs::copy(device.join(file), dest)
            .with_context(|| format!("copying {} from {}", file, acalsim.origin))?;
    }
    let dest = src.join("hw/virtio/acalsim-virtio-sst.c");
    std::fs::copy(&glue.unit, &dest).with_context(|| format!("copying {}", glue.unit.display()))?;
    Ok(())
}
