//! `cargo xtask image`: pick the image's flavour and skip it when its
//! content key says nothing changed; [`built_state`] says whether a built
//! image is current (`images` and `doctor --cosim` list it). The builds
//! themselves live in `debian/` and `buildroot/`; what both produce, in
//! `output.rs`.

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
pub fn key_of(project: &Project, image: &Image) -> Result<String> {
    match &image.flavour {
        Flavour::Buildroot(_) => crate::buildroot::build::image_key(project, image),
        Flavour::Debian(d) => crate::debian::image_key(project, image, d),
    }
}

/// Whether an image is built, and built from what the config and its inputs
/// make now.
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltState {
    NotBuilt,
    /// Its key matches and every file is there; `created` is the build's time.
    Current {
        created: String,
    },
    /// Built from other inputs, or a file is missing or truncated.
    Outdated {
        created: String,
    },
    /// An input of the key is missing (ACALSim's sources unset, a wheel not
    /// built yet), so whether it is current is not known: why.
    Unchecked {
        created: String,
        because: String,
    },
}

impl BuiltState {
    /// `current`, `outdated`, `unchecked` or `not-built`, as `--json` says it.
    pub fn name(&self) -> &'static str {
        match self {
            BuiltState::NotBuilt => "not-built",
            BuiltState::Current { .. } => "current",
            BuiltState::Outdated { .. } => "outdated",
            BuiltState::Unchecked { .. } => "unchecked",
        }
    }

    pub fn created(&self) -> Option<&str> {
        match self {
            BuiltState::NotBuilt => None,
            BuiltState::Current { created }
            | BuiltState::Outdated { created }
            | BuiltState::Unchecked { created, .. } => Some(created),
        }
    }
}

/// The state of `image` in this checkout, and its manifest when it is built.
pub fn built_state(project: &Project, image: &Image) -> (BuiltState, Option<Manifest>) {
    let dir = project.images_dir().join(&image.name);
    match Manifest::read(&dir) {
        Ok(m) => (
            judge(&key_of(project, image), &m, m.artifacts_present(&dir)),
            Some(m),
        ),
        Err(_) => (BuiltState::NotBuilt, None),
    }
}

/// A built image's state by its key and files; a key that could not be
/// computed is `Unchecked` with the first line of why (every context, so
/// that both where and what read in it).
fn judge(key: &Result<String>, m: &Manifest, artifacts_present: bool) -> BuiltState {
    let created = m.created.clone();
    match key {
        Ok(k) if *k == m.config_hash && artifacts_present => BuiltState::Current { created },
        Ok(_) => BuiltState::Outdated { created },
        Err(e) => BuiltState::Unchecked {
            created,
            because: format!("{e:#}").lines().next().unwrap_or("").to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_image_is_current_outdated_or_not_checked_with_the_reason() {
        let m = crate::manifest::sample();
        let key = |k: &str| -> Result<String> { Ok(k.to_string()) };
        let created = m.created.clone();
        assert_eq!(
            judge(&key(&m.config_hash), &m, true),
            BuiltState::Current {
                created: created.clone()
            }
        );
        assert_eq!(judge(&key(&m.config_hash), &m, false).name(), "outdated");
        assert_eq!(judge(&key("another"), &m, true).name(), "outdated");
        let unset = Err(anyhow::anyhow!(
            "ACALSim's sources are needed but none are set: set ACALSIM_SRC=PATH\nmore"
        ));
        assert_eq!(
            judge(&unset, &m, true),
            BuiltState::Unchecked {
                created,
                because: "ACALSim's sources are needed but none are set: set ACALSIM_SRC=PATH"
                    .into()
            }
        );
    }
}
