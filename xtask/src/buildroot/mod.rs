//! The Buildroot flavour: the `buildroot-external/` tree, its generated
//! defconfig, the Kconfig check, and image builds.

pub mod build;
pub mod check;
pub mod defconfig;
mod downloads;
mod hashes;
pub mod kconfig;
pub mod source;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::config::{Buildroot, Image};
use crate::flags::{self, BuildrootCommand};
use crate::kernel_modules;
use crate::progress::CommandLog;
use crate::project::Project;

pub fn run(project: &Project, flags: &flags::Buildroot) -> Result<()> {
    match &flags.command {
        BuildrootCommand::Defconfig(d) => match &d.print {
            Some(name) => {
                let (image, br) = buildroot_image(project, Some(name))?;
                print!("{}", defconfig::render(&image, &br));
                Ok(())
            }
            None => write_defconfigs(project, d.check),
        },
        BuildrootCommand::Check(c) => check_image(project, c),
    }
}

pub fn external_dir(project: &Project) -> PathBuf {
    project.root.join("buildroot-external")
}

/// `buildroot-external/configs/NAME_defconfig` of a Buildroot image.
pub fn defconfig_path(project: &Project, br: &Buildroot) -> PathBuf {
    external_dir(project)
        .join("configs")
        .join(format!("{}_defconfig", br.defconfig))
}

/// The Buildroot images of the config, with their tables.
fn buildroot_images(project: &Project) -> Result<Vec<(Image, Buildroot)>> {
    let config = project.config()?;
    Ok(config
        .images
        .values()
        .filter_map(|i| i.buildroot().map(|b| (i.clone(), b.clone())))
        .collect())
}

fn buildroot_image(project: &Project, name: Option<&str>) -> Result<(Image, Buildroot)> {
    let config = project.config()?;
    let name = match name {
        Some(n) => n.to_string(),
        None => match config.images.values().find(|i| i.buildroot().is_some()) {
            Some(i) => i.name.clone(),
            None => bail!(
                "{}: no image has flavour = \"buildroot\"",
                project.config_path.display()
            ),
        },
    };
    let image = config.image(Some(&name))?.clone();
    match image.buildroot().cloned() {
        Some(br) => Ok((image, br)),
        None => bail!(
            "image `{name}` is flavour {}, not buildroot",
            image.flavour.name()
        ),
    }
}

/// Writes (or with `check_only` compares) every Buildroot image's defconfig.
fn write_defconfigs(project: &Project, check_only: bool) -> Result<()> {
    let images = buildroot_images(project)?;
    if images.is_empty() {
        bail!(
            "{}: no image has flavour = \"buildroot\"",
            project.config_path.display()
        );
    }
    let mut stale = Vec::new();
    for (image, br) in &images {
        let path = defconfig_path(project, br);
        let text = defconfig::render(image, br);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            eprintln!("{}: up to date (image `{}`)", path.display(), image.name);
            continue;
        }
        if check_only {
            stale.push(format!("{} (image `{}`)", path.display(), image.name));
            continue;
        }
        let dir = path.parent().context("defconfig path has no parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
        eprintln!("{}: written from image `{}`", path.display(), image.name);
    }
    if !stale.is_empty() {
        bail!(
            "these defconfigs differ from what acalsim.toml generates:\n  {}\nrun `cargo xtask buildroot defconfig` to rewrite them",
            stale.join("\n  ")
        );
    }
    Ok(())
}

/// The image's `kernel_modules` are there (ACALSim's from ACALSIM_SRC) and
/// its kernel can build them: what `cargo xtask image` would refuse, said
/// before Kconfig runs.
fn check_kernel_modules(project: &Project, image: &Image, br: &Buildroot) -> Result<()> {
    kernel_modules::refuse_too_old_kernel_for_acalsim(image, br)?;
    for tree in kernel_modules::resolve(project, image)? {
        let siblings: Vec<String> = tree
            .siblings
            .iter()
            .map(|s| format!("../{}", s.file_name().unwrap_or_default().to_string_lossy()))
            .collect();
        let with = match siblings.is_empty() {
            true => String::new(),
            false => format!(" (with {})", siblings.join(", ")),
        };
        eprintln!(
            "kernel_modules `{}`: {}{with}",
            tree.written,
            tree.dir.display()
        );
    }
    Ok(())
}

fn check_image(project: &Project, flags: &flags::BuildrootCheck) -> Result<()> {
    let (image, br) = buildroot_image(project, flags.name.as_deref())?;
    let defconfig_file = match &flags.defconfig {
        Some(file) => file
            .canonicalize()
            .with_context(|| format!("--defconfig {}: no such file", file.display()))?,
        None => {
            check_kernel_modules(project, &image, &br)?;
            let path = defconfig_path(project, &br);
            let text = defconfig::render(&image, &br);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                bail!(
                    "{} is missing or stale; run `cargo xtask buildroot defconfig` first",
                    path.display()
                );
            }
            path
        }
    };
    let log_path = project
        .logs_dir()
        .join(format!("buildroot-check-{}.log", image.name));
    let log = CommandLog::append_to(&log_path, project.verbose)?;
    let tree = source::tree(&project.sh, &log, &br)?;
    eprintln!("Buildroot {}: {}", br.version, tree.verified);
    let out = tempfile::Builder::new()
        .prefix("acalsim-br-check-")
        .tempdir()
        .context("creating a Kconfig output dir")?;
    let external = external_dir(project);
    let external = (!flags.no_external).then_some(external.as_path());
    let report = check::run(
        &project.sh,
        &log,
        &tree.path,
        external,
        out.path(),
        &defconfig_file,
    )?;
    print!("{}", report.render(&defconfig_file.display().to_string()));
    let dl = downloads::dl_dir()?;
    print!(
        "{}",
        downloads::listing(&report.downloads, &dl, |d| downloads::in_dl_dir(&dl, d))
    );
    match report.problems() {
        0 => {
            println!(
                "ok: Kconfig of Buildroot {} keeps every requested symbol",
                br.version
            );
            Ok(())
        }
        n => bail!(
            "{n} requested setting(s) did not survive Buildroot {}'s Kconfig (listed above)",
            br.version
        ),
    }
}
