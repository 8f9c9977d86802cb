//! The data files a Debian image is built from, read once, and the two
//! content keys over them: the image key (config + every input file; equal
//! -> nothing to do) and the base-layer key (what the bootstrapper sees;
//! equal -> the cached layer is unpacked instead).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::cache::ContentKey;
use crate::config::{Debian, Image};
use crate::kernel_modules::{self, ModuleTree};
use crate::project::Project;

use super::bootstrap;

/// Bump when the build changes in a way the inputs do not show.
const BUILD_FORMAT: &str = "debian-image-v2";

/// The data files an image is built from, read once.
pub struct Inputs {
    pub package_sets: BTreeMap<String, String>,
    pub base_packages: Vec<String>,
    /// `extra_package_sets` then `extra_packages`: installed on top of the base layer.
    pub top_packages: Vec<String>,
    /// `kernel_modules`, located (their sources are part of the image key).
    pub modules: Vec<ModuleTree>,
    root: PathBuf,
}

impl Inputs {
    pub fn load(project: &Project, image: &Image, d: &Debian) -> Result<Inputs> {
        let mut package_sets = BTreeMap::new();
        for name in d.package_sets.iter().chain(&d.extra_package_sets) {
            package_sets.insert(name.clone(), project.read_package_set(name)?);
        }
        let base_packages = bootstrap::base_packages(d, &package_sets)?;
        let top_packages = bootstrap::top_packages(d, &package_sets)?;
        Ok(Inputs {
            package_sets,
            base_packages,
            top_packages,
            modules: kernel_modules::resolve(project, image)?,
            root: project.root.clone(),
        })
    }
}

/// Key of the base layer: exactly what the bootstrapper sees.
pub fn base_layer_key(d: &Debian, inputs: &Inputs, check_valid_until: bool) -> Result<String> {
    let mut key = ContentKey::new("debian-base-layer-v1");
    key.add("bootstrapper", d.bootstrapper.to_string().as_bytes())
        .add("suite", d.suite.as_bytes())
        .add("mirror", d.mirror.as_bytes())
        .add("components", d.components.join(",").as_bytes())
        .add("packages", inputs.base_packages.join(",").as_bytes())
        .add("check_valid_until", &[check_valid_until as u8]);
    key.add_file(
        "path-exclude",
        &inputs.root.join("debian/dpkg/path-exclude"),
    )?;
    key.add_dir(&inputs.root.join("debian/hooks"))?;
    Ok(key.hex())
}

/// Key of the whole image: the resolved config and every file that shapes it.
pub fn image_key(image: &Image, d: &Debian, inputs: &Inputs) -> Result<String> {
    let mut key = ContentKey::new(BUILD_FORMAT);
    key.add("image", image.key_input()?.as_bytes());
    for (name, text) in &inputs.package_sets {
        key.add(name, text.as_bytes());
    }
    for dir in ["debian", "guest-scripts/runner"] {
        key.add_dir(&inputs.root.join(dir))?;
    }
    // Only the run.sh template of qemu/: the QEMU build's glue is not the image's.
    key.add_file("run.sh.in", &inputs.root.join("qemu/run.sh.in"))?;
    for wheel in &d.wheels {
        let path = inputs.root.join(wheel);
        if !path.is_file() {
            bail!("image `{}`: wheels: {} does not exist (a PyTorch wheel comes from `cargo xtask pytorch build`)", image.name, path.display());
        }
        key.add_file(wheel, &path)?;
    }
    kernel_modules::add_to_key(&mut key, &inputs.modules)?;
    Ok(key.hex())
}
