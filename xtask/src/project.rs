//! Where things live: the workspace root, the config, outputs under
//! `target/xtask/`, and the shell every external command runs in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::config::{self, Config};

pub struct Project {
    pub root: PathBuf,
    pub sh: Shell,
    pub config_path: PathBuf,
    pub verbose: bool,
}

/// The config as typed, from the directory the user is in; a relative
/// path that is not there but is in the workspace root (the default
/// `acalsim.toml` from a subdirectory) is the root's.
fn config_from(typed: &Path, root: &Path) -> PathBuf {
    if typed.is_relative() && !typed.exists() && root.join(typed).exists() {
        return root.join(typed);
    }
    typed.to_path_buf()
}

impl Project {
    /// Moves the shell to the workspace root so relative paths in the config and
    /// the data folders (`debian/`, `qemu/`) resolve the same from anywhere.
    pub fn open(config_path: &Path, verbose: bool) -> Result<Project> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask crate has no parent directory")?
            .to_path_buf();
        let sh = Shell::new().context("creating shell")?;
        // Only the shell moves: std::fs keeps the directory the user ran cargo
        // from, so the config path reads (and is reported) as they typed it.
        sh.change_dir(&root);
        Ok(Project {
            config_path: config_from(config_path, &root),
            root,
            sh,
            verbose,
        })
    }

    pub fn config(&self) -> Result<Config> {
        config::load(&self.config_path, &self.package_sets()?)
    }

    /// The text of package set `name`: `debian/packages/NAME.list`.
    pub fn read_package_set(&self, name: &str) -> Result<String> {
        let path = self
            .root
            .join("debian/packages")
            .join(format!("{name}.list"));
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Names of the package-set files in `debian/packages/`.
    pub fn package_sets(&self) -> Result<Vec<String>> {
        let dir = self.root.join("debian/packages");
        let mut sets = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            if path.extension().is_some_and(|e| e == "list") {
                if let Some(stem) = path.file_stem() {
                    sets.push(stem.to_string_lossy().into_owned());
                }
            }
        }
        sets.sort();
        Ok(sets)
    }

    pub fn xtask_dir(&self) -> PathBuf {
        self.root.join("target/xtask")
    }
    pub fn images_dir(&self) -> PathBuf {
        self.xtask_dir().join("images")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.xtask_dir().join("logs")
    }
    pub fn build_dir(&self, image: &str) -> PathBuf {
        self.xtask_dir().join("build").join(image)
    }
    /// The lock on a built image: runs hold it shared; its writers (`image`,
    /// `run --persist`) exclusive.
    pub fn image_lock(&self, image: &str) -> PathBuf {
        self.xtask_dir().join("run").join(format!("{image}.lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_config_missing_here_is_the_roots() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("only-in-root.toml"), "").unwrap();
        let typed = Path::new("only-in-root.toml");
        assert_eq!(config_from(typed, root.path()), root.path().join(typed));
        let nowhere = Path::new("nowhere.toml");
        assert_eq!(config_from(nowhere, root.path()), nowhere);
        let absolute = root.path().join("x.toml");
        assert_eq!(config_from(&absolute, root.path()), absolute);
    }
}
