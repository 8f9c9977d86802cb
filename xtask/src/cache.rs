//! The user cache (`$XDG_CACHE_HOME/acalsim`, default `~/.cache/acalsim`) and
//! content keys: downloads, apt archives and base layers survive `cargo clean`
//! and fresh clones, and are reused only when their inputs are byte-identical.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::lock;

pub fn cache_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home =
                std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(base.join("acalsim"))
}

/// A sha256 over labelled parts; labels keep `("a", "bc")` and `("ab", "c")` apart.
#[derive(Default)]
pub struct ContentKey(Sha256);

impl ContentKey {
    pub fn new(kind: &str) -> ContentKey {
        let mut key = ContentKey::default();
        key.add("kind", kind.as_bytes());
        key
    }

    pub fn add(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        for part in [label.as_bytes(), bytes] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
        self
    }

    /// Hashes a file's bytes under `label` (not its path, which differs between clones).
    pub fn add_file(&mut self, label: &str, path: &Path) -> Result<&mut Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(self.add(label, &bytes))
    }

    /// Hashes every file below `dir`, in path order, names relative to `dir`.
    pub fn add_dir(&mut self, dir: &Path) -> Result<&mut Self> {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .into_owned();
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            self.add(&rel, &bytes);
        }
        Ok(self)
    }

    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// What interrupted builds left in a build cache: `*.partial` installs and
/// `work-*` trees (never used again, only removed; an install is never
/// touched). The cache is shared by every checkout, so a tree whose unit's
/// lock is held (a build running elsewhere) is not a leftover: it stays.
pub fn remove_leftovers(cache: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(unit) = leftover_unit(&name) else {
            continue;
        };
        let Ok(_idle) = lock::try_lock(&unit_lock(cache, unit), lock::Mode::Exclusive)? else {
            continue; // being built right now
        };
        let path = e.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// The unit a leftover belongs to: `work-UNIT` and `UNIT.partial` are UNIT's.
fn leftover_unit(name: &str) -> Option<&str> {
    name.strip_prefix("work-")
        .or_else(|| name.strip_suffix(".partial"))
        .filter(|unit| !unit.is_empty())
}

fn unit_lock(cache: &Path, unit: &str) -> PathBuf {
    cache.join(format!("{unit}.lock"))
}

/// Held while a build writes `work-UNIT` or `UNIT.partial` in `cache`: a
/// second build of the same unit (another checkout, say) waits for it, and
/// says so, then finds the unit built.
pub fn lock_unit(cache: &Path, unit: &str) -> Result<lock::Lock> {
    lock::lock_waiting(&unit_lock(cache, unit), lock::Mode::Exclusive, |busy| {
        eprintln!(
            "another build of {} is running ({busy}); waiting for it to finish",
            cache.join(unit).display()
        )
    })
}

/// Claims the cache entry `dir` for building: `None` when it is already
/// `built` (perhaps by another checkout that held the claim meanwhile), else
/// its unit lock, to hold while `DIR.partial` is written and renamed.
pub fn claim(dir: &Path, built: impl Fn(&Path) -> bool) -> Result<Option<lock::Lock>> {
    if built(dir) {
        return Ok(None);
    }
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        anyhow::bail!("{} is not a cache entry", dir.display());
    };
    let held = lock_unit(parent, &name.to_string_lossy())?;
    Ok((!built(dir)).then_some(held))
}

/// A build record (`build.json` and the like), parsed.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The record at `path`, or `None` when there is no file there.
pub fn read_json_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    read_json(path).map(Some)
}

/// Writes `value` as pretty JSON to `path` through a temporary file renamed
/// into place, so a reader never sees half a record.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(value)
        .with_context(|| format!("serialising {}", path.display()))?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_separate_parts() {
        let a = ContentKey::new("t").add("a", b"bc").hex();
        let b = ContentKey::new("t").add("ab", b"c").hex();
        assert_ne!(a, b);
        assert_eq!(a, ContentKey::new("t").add("a", b"bc").hex());
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn file_hash_matches_known_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn leftovers_are_work_trees_and_partial_installs_by_unit() {
        assert_eq!(leftover_unit("work-0123abcd"), Some("0123abcd"));
        assert_eq!(leftover_unit("core-77.partial"), Some("core-77"));
        assert_eq!(leftover_unit("0123abcd"), None);
        assert_eq!(leftover_unit("0123abcd.lock"), None);
        assert_eq!(leftover_unit("work-"), None);
    }

    #[test]
    fn a_tree_another_process_is_building_is_no_leftover() {
        let cache = tempfile::tempdir().unwrap();
        for tree in ["work-aaaa", "aaaa.partial", "work-bbbb"] {
            std::fs::create_dir(cache.path().join(tree)).unwrap();
        }
        std::fs::create_dir(cache.path().join("bbbb")).unwrap(); // an install
                                                                 // Another checkout's build of unit aaaa holds its lock.
        let lock = unit_lock(cache.path(), "aaaa");
        std::fs::write(&lock, "").unwrap();
        let mut builder = std::process::Command::new("python3")
            .args(["-c", crate::lock::tests::HOLD_LOCK])
            .arg(&lock)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !crate::lock::is_held(&lock) {
            assert!(
                std::time::Instant::now() < deadline,
                "flock never took the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        remove_leftovers(cache.path()).unwrap();
        let left = |name: &str| cache.path().join(name).exists();
        assert!(
            left("work-aaaa") && left("aaaa.partial"),
            "a running build's trees stay"
        );
        assert!(!left("work-bbbb"), "an idle unit's work tree is a leftover");
        assert!(left("bbbb"), "an install is never touched");
        builder.kill().unwrap();
        builder.wait().unwrap();
        remove_leftovers(cache.path()).unwrap();
        assert!(
            !left("work-aaaa") && !left("aaaa.partial"),
            "once its build died, they go"
        );
    }

    #[test]
    fn dir_key_changes_with_any_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), b"1").unwrap();
        let before = ContentKey::new("t").add_dir(dir.path()).unwrap().hex();
        std::fs::write(dir.path().join("sub/a"), b"2").unwrap();
        let after = ContentKey::new("t").add_dir(dir.path()).unwrap().hex();
        assert_ne!(before, after);
    }
}
