//! The out-of-tree kernel modules an image carries (`kernel_modules`): where
//! each Kbuild directory is, which sibling directories it reaches into (ACALSim's
//! `drivers/` includes `../virtio-device`), their part of the image's content
//! key, and the compiler's first error when one does not build. Each flavour
//! builds them its own way against its own kernel.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::acalsim;
use crate::cache::ContentKey;
use crate::config::{Buildroot, Image, KernelModule};
use crate::project::Project;

/// One module directory, ready to copy: the directory and the siblings it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleTree {
    /// The config entry, e.g. "acalsim:drivers".
    pub written: String,
    pub dir: PathBuf,
    /// Sibling directories the sources name as `../NAME`.
    pub siblings: Vec<PathBuf>,
}

impl ModuleTree {
    /// The directory's name, which it keeps in the copy.
    pub fn name(&self) -> String {
        file_name(&self.dir)
    }

    /// Copies the directory and its siblings into `dest`, side by side, as
    /// they are in the source (so `../NAME` still resolves). The source is
    /// never written to: kbuild puts its objects in the copy.
    pub fn copy_into(&self, dest: &Path) -> Result<()> {
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        let opts = fs_extra::dir::CopyOptions::new().copy_inside(true);
        for d in std::iter::once(&self.dir).chain(&self.siblings) {
            fs_extra::dir::copy(d, dest.join(file_name(d)), &opts)
                .with_context(|| format!("copying {} to {}", d.display(), dest.display()))?;
        }
        Ok(())
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The image's module directories, checked to exist and to have a kbuild file.
pub fn resolve(project: &Project, image: &Image) -> Result<Vec<ModuleTree>> {
    if image.kernel_modules.is_empty() {
        return Ok(vec![]);
    }
    let mut found_acalsim = None;
    let mut trees = Vec::new();
    for m in &image.kernel_modules {
        let dir = match m {
            KernelModule::Acalsim(sub) => {
                if found_acalsim.is_none() {
                    let config = project.config()?;
                    found_acalsim = Some(
                        acalsim::locate(&project.sh, &project.root, config.qemu.acalsim.as_deref())
                            .with_context(|| {
                                format!("image `{}`: kernel_modules `{}`", image.name, m.written())
                            })?,
                    );
                }
                found_acalsim.as_ref().expect("located above").dir.join(sub)
            }
            KernelModule::Dir(d) => project.root.join(d),
        };
        let has_kbuild = dir.join("Kbuild").is_file() || dir.join("Makefile").is_file();
        if !has_kbuild {
            bail!(
                "image `{}`: kernel_modules `{}`: {} has no Kbuild or Makefile (expected an out-of-tree module directory)",
                image.name,
                m.written(),
                dir.display()
            );
        }
        let siblings = sibling_dirs(&dir)?;
        trees.push(ModuleTree {
            written: m.written(),
            dir,
            siblings,
        });
    }
    Ok(trees)
}

/// ACALSim's driver needs Linux 6.11 (`virtio_find_vqs` with `struct
/// virtqueue_info`, one-argument `class_create`): say so before hours of build.
pub fn refuse_too_old_kernel_for_acalsim(image: &Image, br: &Buildroot) -> Result<()> {
    let wants_driver = image
        .kernel_modules
        .contains(&KernelModule::Acalsim("drivers".into()));
    let series = crate::config::buildroot::kernel_series(&br.kernel_version);
    if wants_driver && series.is_some_and(|s| s < (6, 11)) {
        bail!(
            "image `{}`: ACALSim's driver (kernel_modules `acalsim:drivers`) needs Linux 6.11 or newer \
             (virtio_find_vqs with struct virtqueue_info, one-argument class_create), but kernel_version is {}",
            image.name,
            br.kernel_version
        );
    }
    Ok(())
}

/// The siblings of `dir` that its Kbuild files and sources name as `../NAME`.
fn sibling_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = file_name(&path);
        let is_source = ["Kbuild", "Makefile"].contains(&name.as_str())
            || name.ends_with(".c")
            || name.ends_with(".h");
        if path.is_file() && is_source {
            texts.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    let parent = dir.parent().unwrap_or(dir);
    Ok(referenced_siblings(texts.iter().map(String::as_str))
        .into_iter()
        .map(|n| parent.join(n))
        .filter(|p| p.is_dir() && p != dir)
        .collect())
}

/// The names `../NAME/…` or `../NAME` refers to in these texts.
pub fn referenced_siblings<'a>(texts: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for text in texts {
        for (i, _) in text.match_indices("../") {
            let rest = &text[i + 3..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .collect();
            if !name.is_empty() && name != "." && name != ".." {
                names.insert(name);
            }
        }
    }
    names
}

/// The module sources, for the image's content key: every file of each
/// directory and its siblings.
pub fn add_to_key(key: &mut ContentKey, trees: &[ModuleTree]) -> Result<()> {
    for t in trees {
        key.add("kernel-module", t.written.as_bytes());
        for d in std::iter::once(&t.dir).chain(&t.siblings) {
            key.add("dir", file_name(d).as_bytes());
            key.add_dir(d)?;
        }
    }
    Ok(())
}

/// The compiler's first error in a build log (`file:line:col: error: …`).
pub fn first_compiler_error(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(": error: ") || l.contains(": fatal error: "))
        .map(|l| match l.find("] ") {
            Some(i) if l.starts_with('[') => l[i + 2..].trim().to_string(),
            _ => l.trim().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_are_what_the_sources_reach_with_dot_dot() {
        let makefile = "obj-m := virtio-sst.o\nccflags-y := -I$(src)/../virtio-device\n";
        let header = "#include \"../virtio-device/sst-protocol.h\"\n#include \"../common.h\"\n";
        let names = referenced_siblings([makefile, header].into_iter());
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["common.h", "virtio-device"]
        );
    }

    #[test]
    fn a_sibling_directory_is_copied_beside_the_module() {
        let t = tempfile::tempdir().unwrap();
        let (drivers, device) = (
            t.path().join("src/drivers"),
            t.path().join("src/virtio-device"),
        );
        std::fs::create_dir_all(&drivers).unwrap();
        std::fs::create_dir_all(&device).unwrap();
        std::fs::write(
            drivers.join("Makefile"),
            "ccflags-y := -I$(src)/../virtio-device\n",
        )
        .unwrap();
        std::fs::write(drivers.join("x.h"), "#include \"../common.h\"\n").unwrap();
        std::fs::write(device.join("sst-protocol.h"), "/* */\n").unwrap();
        let tree = ModuleTree {
            written: "acalsim:drivers".into(),
            dir: drivers.clone(),
            siblings: sibling_dirs(&drivers).unwrap(),
        };
        assert_eq!(tree.siblings, [device], "common.h is not a directory");
        let dest = t.path().join("copy");
        tree.copy_into(&dest).unwrap();
        assert!(dest.join("drivers/Makefile").is_file());
        assert!(dest.join("virtio-device/sst-protocol.h").is_file());
        let mut a = ContentKey::new("t");
        add_to_key(&mut a, std::slice::from_ref(&tree)).unwrap();
        std::fs::write(tree.siblings[0].join("sst-protocol.h"), "/* changed */\n").unwrap();
        let mut b = ContentKey::new("t");
        add_to_key(&mut b, std::slice::from_ref(&tree)).unwrap();
        assert_ne!(a.hex(), b.hex(), "a sibling's change changes the key");
    }

    #[test]
    fn the_first_compiler_error_is_found_in_a_stamped_log() {
        let log = "[   1.0s]   CC [M]  sst-virtio.o\n[   1.2s] sst-virtio.c:12:5: error: unknown type name 'foo'\n[   1.2s] sst-virtio.c:20:1: error: second\n";
        assert_eq!(
            first_compiler_error(log).as_deref(),
            Some("sst-virtio.c:12:5: error: unknown type name 'foo'")
        );
        assert_eq!(first_compiler_error("all fine\n"), None);
    }
}
