//! `cargo xtask doctor --cosim`: gathers the facts a co-simulation depends
//! on (the QEMU a session boots and its device list, ACALSim's sources, the
//! SST build, the `[cosim]` image's state, its warm snapshots), then prints
//! what `readiness.rs` makes of them. Reads only: nothing is built, no guest
//! boots (QEMU is asked for `--version` and `-device help`).

use std::path::Path;

use anyhow::Result;

use super::readiness::{self, ChosenBy, Facts, Qemu, Snapshot};
use crate::config::{Config, Image, KernelModule};
use crate::project::Project;
use crate::run::{self, Request};
use crate::snapshot::{self, store::Store};

/// Prints one line per item and the verdict (or `--json`); the exit status
/// is 1 when a required item is not ready.
pub fn run(project: &Project, json: bool) -> Result<i32> {
    let config = project.config()?;
    let facts = gather(project, &config)?;
    let report = readiness::report(&facts);
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!("{}", readiness::render(&report)),
    }
    Ok(if report.ready { 0 } else { 1 })
}

fn gather(project: &Project, config: &Config) -> Result<Facts> {
    let image = config.image(config.cosim.image.as_deref())?;
    let qemu = qemu(project);
    let (built, _) = crate::image::built_state(project, image);
    let snapshot = match &qemu {
        Qemu::Found { path, .. } => snapshot(project, image, path)?,
        Qemu::Broken(_) => Snapshot::None,
    };
    Ok(Facts {
        image: image.name.clone(),
        image_needs_acalsim: needs_acalsim(image),
        qemu,
        acalsim: crate::acalsim::check(&project.root, config.qemu.acalsim.as_deref()),
        sst: crate::sst::record::current(project)?.map(|b| b.version),
        sst_core_set: config.cosim.sst_core.is_some()
            || std::env::var_os(crate::sst::CORE_SRC_ENV).is_some_and(|v| !v.is_empty()),
        sst_side: config.cosim.sst.clone(),
        built,
        snapshot,
    })
}

/// The QEMU `cosim` would boot (`ACALSIM_QEMU`, else the project's build,
/// else the host's), and whether it has the device.
fn qemu(project: &Project) -> Qemu {
    let request = Request {
        qemu: run::defaults::qemu(),
        ..Request::default()
    };
    let chosen_by = match (&request.qemu, crate::qemu::record::current(project)) {
        (Some(_), _) => ChosenBy::Env,
        (None, Ok(Some(_))) => ChosenBy::Project,
        (None, _) => ChosenBy::Host,
    };
    let chosen = match run::chosen_qemu(project, &request) {
        Ok(chosen) => chosen,
        Err(e) => return Qemu::Broken(e.to_string()),
    };
    match run::has_sst_device(project, &chosen.path) {
        Ok(device) => Qemu::Found {
            chosen_by,
            path: chosen.path,
            version: chosen.version,
            device,
        },
        Err(e) => Qemu::Broken(format!("{e:#}")),
    }
}

/// Whether the image builds ACALSim's guest driver.
fn needs_acalsim(image: &Image) -> bool {
    image
        .kernel_modules
        .iter()
        .any(|m| matches!(m, KernelModule::Acalsim(_)))
}

/// The newest current snapshot of this checkout's `image` that `qemu` saved
/// with the SST device (what `cosim --warm` restores).
fn snapshot(project: &Project, image: &Image, qemu: &Path) -> Result<Snapshot> {
    let dir = project.images_dir().join(&image.name);
    let qemu = qemu.display().to_string();
    let mut found: Vec<_> = Store::open()?
        .list()?
        .into_iter()
        .filter(|(_, r)| snapshot::stale(r).is_none())
        .filter_map(|(path, r)| Some((path, r?)))
        .filter(|(_, r)| {
            r.image == image.name
                && r.seen
                    .as_ref()
                    .is_some_and(|s| same_dir(&s.image_dir, &dir))
                && r.qemu.starts_with(&qemu)
                && r.key_input.lines().any(|l| l == "sst-device true")
        })
        .collect();
    found.sort_by(|a, b| b.1.created.cmp(&a.1.created));
    Ok(match found.into_iter().next() {
        Some((path, r)) => Snapshot::Current {
            key: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            smp: r.smp,
            memory_mib: r.memory_mib,
            created: r.created,
        },
        None => Snapshot::None,
    })
}

/// The same directory, also when one path reaches it through a symlink.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
