//! `cargo xtask image` and `cargo xtask images`: pick the image's flavour,
//! skip it when its content key says nothing changed, and list what the
//! config declares beside what is built. The builds themselves live in
//! `debian/` and `buildroot/`; what both produce, in `output.rs`.

use anyhow::Result;

use crate::config::Image;
use crate::flags;
use crate::host;
use crate::manifest::Manifest;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, flags: &flags::Image) -> Result<()> {
    let config = project.config()?;
    let image = config.image(flags.name.as_deref())?;
    let sh = &project.sh;
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
    if let Some(br) = &image.buildroot {
        host::require(
            sh,
            &[
                "make", "g++", "git", "tar", "xz", "rsync", "bc", "cpio", "unzip", "file", "patch",
                "wget", "qemu-img",
            ],
        )?;
        let options = crate::buildroot::build::BuildOptions {
            offline: flags.offline,
        };
        return crate::buildroot::build::build(project, image, br, &key, &options);
    }
    crate::debian::build(project, image, &key, flags.no_cache)
}

/// The content key of any image, whatever its flavour.
fn key_of(project: &Project, image: &Image) -> Result<String> {
    match image.buildroot {
        Some(_) => crate::buildroot::build::image_key(project, image),
        None => crate::debian::image_key(project, image),
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
            Ok(m) => {
                // A missing input (a wheel not built yet) makes it outdated, not the listing fail.
                let current = key_of(project, image).is_ok_and(|k| k == m.config_hash)
                    && m.artifacts_present(&dir);
                format!(
                    "{} ({})",
                    if current { "built" } else { "outdated" },
                    m.created
                )
            }
            Err(_) => "not built".to_string(),
        };
        let default = if *name == config.default_image {
            " (default)"
        } else {
            ""
        };
        let (suite, sets) = match &image.buildroot {
            Some(br) => (
                br.version.clone(),
                format!("{} packages", br.packages.len()),
            ),
            None => (
                image.suite.clone(),
                image
                    .package_sets
                    .iter()
                    .chain(&image.extra_package_sets)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
        };
        println!(
            "{:<22} {:<9} {:<10} {:<24} {state}{default}",
            name, image.flavour, suite, sets
        );
    }
    Ok(())
}
