//! `cargo xtask image` and `cargo xtask images`: pick the image's flavour,
//! skip it when its content key says nothing changed, and list what the
//! config declares beside what is built. The builds themselves live in
//! `debian/` and `buildroot/`; what both produce, in `output.rs`.

use anyhow::Result;

use crate::config::{Flavour, Image};
use crate::flags;
use crate::host;
use crate::manifest::Manifest;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, flags: &flags::Image) -> Result<()> {
    let config = project.config()?;
    let image = config.image(flags.name.as_deref())?;
    let key = key_of(project, image)?;
    let out_dir = project.images_dir().join(&image.name);

    if !flags.rebuild && !flags.no_cache {
        if let Ok(m) = Manifest::read(&out_dir) {
            if m.config_hash == key && m.artifacts_present(&out_dir) {
                eprintln!(
                    "image `{}` is up to date ({})",
                    image.name,
                    out_dir.display()
                );
                output::print_summary(&m, &out_dir);
                return Ok(());
            }
        }
    }
    let _writing = lock_for_build(project, &image.name)?;
    let d = match &image.flavour {
        Flavour::Debian(d) => d,
        Flavour::Buildroot(br) => return build_buildroot(project, image, br, &key, flags),
    };
    crate::debian::build(project, image, d, &key, flags.no_cache)
}

/// A build replaces the image's files and uses `target/xtask/build/NAME`:
/// it needs the image alone. A run or another build holding it makes this
/// one stop at once, naming them (the same rule as `run --persist`).
fn lock_for_build(project: &Project, name: &str) -> Result<crate::lock::Lock> {
    match crate::lock::try_lock(&project.image_lock(name), crate::lock::Mode::Exclusive)? {
        Ok(held) => Ok(held),
        Err(busy) => anyhow::bail!(
            "image `{name}` is in use ({busy}); building it would replace the files that run reads and writes. Wait for it to end (or stop it), then build again"
        ),
    }
}

fn build_buildroot(
    project: &Project,
    image: &Image,
    br: &crate::config::Buildroot,
    key: &str,
    flags: &flags::Image,
) -> Result<()> {
    host::require(
        &project.sh,
        &[
            "make", "g++", "git", "tar", "xz", "rsync", "bc", "cpio", "unzip", "file", "patch",
            "wget", "qemu-img",
        ],
    )?;
    let options = crate::buildroot::build::BuildOptions {
        offline: flags.offline,
    };
    crate::buildroot::build::build(project, image, br, key, &options)
}

/// The content key of any image, whatever its flavour.
fn key_of(project: &Project, image: &Image) -> Result<String> {
    match &image.flavour {
        Flavour::Buildroot(_) => crate::buildroot::build::image_key(project, image),
        Flavour::Debian(d) => crate::debian::image_key(project, image, d),
    }
}

/// A built image's STATE: `built` or `outdated` by its key, or, when an
/// input of the key is missing (ACALSim's sources unset, a wheel not built
/// yet), that it could not be checked and why; the listing goes on.
fn built_state(key: &Result<String>, m: &Manifest, artifacts_present: bool) -> String {
    match key {
        Ok(k) if *k == m.config_hash && artifacts_present => format!("built ({})", m.created),
        Ok(_) => format!("outdated ({})", m.created),
        Err(e) => format!(
            "built ({}), not checked: {}",
            m.created,
            e.to_string().lines().next().unwrap_or("")
        ),
    }
}

/// `cargo xtask images`: what the config declares and what is built.
pub fn list(project: &Project) -> Result<()> {
    let config = project.config()?;
    println!(
        "{:<22} {:<9} {:<10} {:<24} STATE",
        "IMAGE", "FLAVOUR", "RELEASE", "PACKAGES"
    );
    for (name, image) in &config.images {
        let dir = project.images_dir().join(name);
        let state = match Manifest::read(&dir) {
            Ok(m) => built_state(&key_of(project, image), &m, m.artifacts_present(&dir)),
            Err(_) => "not built".to_string(),
        };
        let default = if *name == config.default_image {
            " (default)"
        } else {
            ""
        };
        let (suite, sets) = match &image.flavour {
            Flavour::Buildroot(br) => (
                br.version.clone(),
                format!("{} packages", br.packages.len()),
            ),
            Flavour::Debian(d) => (
                d.suite.clone(),
                d.package_sets
                    .iter()
                    .chain(&d.extra_package_sets)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
        };
        println!(
            "{:<22} {:<9} {:<10} {:<24} {state}{default}",
            name,
            image.flavour.name(),
            suite,
            sets
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_image_is_current_outdated_or_not_checked_with_the_reason() {
        let m = crate::manifest::sample();
        let key = |k: &str| -> Result<String> { Ok(k.to_string()) };
        let created = &m.created;
        assert_eq!(
            built_state(&key(&m.config_hash), &m, true),
            format!("built ({created})")
        );
        assert_eq!(
            built_state(&key(&m.config_hash), &m, false),
            format!("outdated ({created})")
        );
        assert_eq!(
            built_state(&key("another"), &m, true),
            format!("outdated ({created})")
        );
        let unset = Err(anyhow::anyhow!(
            "ACALSim's sources are needed but none are set: set ACALSIM_SRC=PATH\nmore"
        ));
        assert_eq!(
            built_state(&unset, &m, true),
            format!("built ({created}), not checked: ACALSim's sources are needed but none are set: set ACALSIM_SRC=PATH")
        );
    }
}
