//! Where snapshots live: `$XDG_CACHE_HOME/acalsim/snapshots/KEY/`, one
//! directory per key holding the VM state (`vm.state`), the disk as it was
//! (`disk.qcow2`, an overlay of the image) and `snapshot.json` with every
//! file's checksum.
//!
//! A snapshot is written into `KEY.partial/` and renamed whole, under an
//! exclusive lock on `KEY.lock`; runs restoring it hold the lock shared, so
//! `snapshots --clean` never removes one in use. A partial directory is only
//! ever removed by the holder of the exclusive lock, so a save in progress
//! is never taken for a leftover.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{checked, checksum};

pub const RECORD: &str = "snapshot.json";
pub const STATE: &str = "vm.state";
pub const DISK: &str = "disk.qcow2";

/// `snapshot.json`: what the snapshot is of, and how to tell it is whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub image: String,
    pub created: String,
    /// `--version` and sha256 of the QEMU that saved it.
    pub qemu: String,
    pub smp: u32,
    pub memory_mib: u64,
    pub warmup: Vec<String>,
    /// From QEMU's start to the guest's "ready", and the save itself.
    pub boot_secs: f64,
    pub import_secs: f64,
    pub save_secs: f64,
    pub files: Vec<FileSum>,
    /// The text the key hashes, for `snapshots` and for humans.
    pub key_input: String,
    /// The image as the snapshot saw it, so that `snapshots` can tell
    /// whether it still is (absent in records of older snapshots).
    #[serde(default)]
    pub seen: Option<Seen>,
}

/// The built image a snapshot was taken of: its directory and content key,
/// and the root disk with its [`root_stamp`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Seen {
    pub image_dir: PathBuf,
    pub image_key: String,
    pub root_disk: Option<PathBuf>,
    pub root_stamp: String,
}

/// The root disk's size, mtime and inode: a `run --persist` since the
/// image's build, or a rebuild, changes it, and with it the snapshot's key.
pub fn root_stamp(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(format!(
        "size {} mtime {}.{:09} inode {}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino()
    ))
}

/// Why a snapshot can no longer be restored by any run: its image was
/// rebuilt, removed or written to since. `None`: it still matches (or an
/// older record does not say what it saw).
pub fn stale_because(seen: &Seen) -> Option<String> {
    let manifest = match crate::manifest::Manifest::read(&seen.image_dir) {
        Ok(m) => m,
        Err(_) => return Some(format!("{} is gone", seen.image_dir.display())),
    };
    if manifest.config_hash != seen.image_key {
        return Some("the image was rebuilt".into());
    }
    let disk = seen.root_disk.as_ref()?;
    match root_stamp(disk) {
        Ok(stamp) if stamp == seen.root_stamp => None,
        Ok(_) => Some("the root disk was written (run --persist)".into()),
        Err(_) => Some(format!("{} is gone", disk.display())),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    pub name: String,
    pub size: u64,
    pub checksum: String,
}

/// The snapshot directory.
pub struct Store {
    dir: PathBuf,
}

/// What [`Store::lookup`] found for a key.
pub enum Lookup {
    Missing,
    Valid {
        dir: PathBuf,
    },
    /// There, but not whole: why.
    Corrupt(String),
}

/// A lock on one key's snapshot, released on drop.
pub struct KeyLock(#[allow(dead_code)] File);

impl Store {
    pub fn open() -> Result<Store> {
        let dir = crate::cache::cache_dir()?.join("snapshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The snapshot directory for `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(short(key))
    }

    /// Shared: the snapshot is read (a restore).
    pub fn lock_shared(&self, key: &str) -> Result<KeyLock> {
        let file = self.lock_file(key)?;
        file.lock_shared()
            .with_context(|| format!("locking snapshot {}", short(key)))?;
        Ok(KeyLock(file))
    }

    /// Exclusive: the snapshot is written or removed. Waits while another
    /// run holds it, saying so once; `keep_going` may end the wait.
    pub fn lock_exclusive(
        &self,
        key: &str,
        mut keep_going: impl FnMut() -> Result<()>,
    ) -> Result<KeyLock> {
        let file = self.lock_file(key)?;
        let started = Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(KeyLock(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !said && started.elapsed() > Duration::from_secs(1) {
                        eprintln!(
                            "warm: another run is saving or using snapshot {}; waiting for it",
                            short(key)
                        );
                        said = true;
                    }
                    keep_going()?;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking snapshot {}", short(key)))
                }
            }
        }
    }

    fn lock_file(&self, key: &str) -> Result<File> {
        let path = self.dir.join(format!("{}.lock", short(key)));
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
    }

    /// The snapshot for `key`, checked file by file against its record.
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.path(key);
        if !dir.exists() {
            return Lookup::Missing;
        }
        match verify(&dir, key) {
            Ok(_) => Lookup::Valid { dir },
            Err(e) => Lookup::Corrupt(format!("{e:#}")),
        }
    }

    /// Removes `key`'s snapshot (the caller holds its exclusive lock).
    pub fn discard(&self, key: &str) -> Result<()> {
        let dir = self.path(key);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        Ok(())
    }

    /// A fresh `KEY.partial/` (a leftover of an interrupted save is removed
    /// first: the caller holds the exclusive lock, so no save is running).
    pub fn start(&self, key: &str) -> Result<Partial> {
        let dir = self.dir.join(format!("{}.partial", short(key)));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the leftover {}", dir.display()))?;
        }
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Partial {
            dir,
            dest: self.path(key),
            committed: false,
        })
    }

    /// Every snapshot directory, with its record if it has a readable one.
    pub fn list(&self) -> Result<Vec<(PathBuf, Option<Record>)>> {
        let mut found = vec![];
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("listing {}", self.dir.display()))?
        {
            let path = entry
                .with_context(|| format!("listing {}", self.dir.display()))?
                .path();
            if path.is_dir() && path.extension().is_none() {
                let record = crate::cache::read_json(&path.join(RECORD)).ok();
                found.push((path, record));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}

/// A snapshot being written; removed on drop unless committed.
pub struct Partial {
    dir: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Partial {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checksums the files named in `record.files` (filling in size and
    /// checksum), writes the record and renames the directory into place.
    pub fn commit(mut self, mut record: Record) -> Result<PathBuf> {
        for file in &mut record.files {
            *file = sum(&self.dir, &file.name)?;
        }
        crate::cache::write_json(&self.dir.join(RECORD), &record)?;
        if self.dest.exists() {
            std::fs::remove_dir_all(&self.dest)
                .with_context(|| format!("removing {}", self.dest.display()))?;
        }
        std::fs::rename(&self.dir, &self.dest).with_context(|| {
            format!("renaming {} to {}", self.dir.display(), self.dest.display())
        })?;
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A file's size and checksum.
pub fn sum(dir: &Path, name: &str) -> Result<FileSum> {
    let path = dir.join(name);
    let size = std::fs::metadata(&path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok(FileSum {
        name: name.to_string(),
        size,
        checksum: checksum::file(&path)?,
    })
}

/// The record, if it is `key`'s and every file it lists is whole: hashed
/// unless the last full check saw it as it is (checked.rs).
fn verify(dir: &Path, key: &str) -> Result<Record> {
    let record: Record = crate::cache::read_json(&dir.join(RECORD))?;
    if record.key != key {
        bail!("{} is for key {}, not {key}", RECORD, record.key);
    }
    let seen = checked::read(dir);
    let hashed_from = std::time::SystemTime::now();
    let mut hashed = false;
    for want in &record.files {
        if checked::unchanged(&seen, dir, &want.name) {
            continue;
        }
        hashed = true;
        let have = sum(dir, &want.name)?;
        if have.size != want.size {
            bail!(
                "{} is {} bytes, the record says {} (truncated?)",
                want.name,
                have.size,
                want.size
            );
        }
        if have.checksum != want.checksum {
            bail!("{}'s checksum does not match its record", want.name);
        }
    }
    if hashed {
        let names: Vec<&str> = record.files.iter().map(|f| f.name.as_str()).collect();
        checked::remember(dir, &names, hashed_from);
    }
    Ok(record)
}

/// Bytes a directory's files take on disk (state files are sparse).
pub fn allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Directory names use the key's first 16 hex digits.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(16)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> Record {
        Record {
            key: key.into(),
            image: "img".into(),
            created: "now".into(),
            qemu: "QEMU 10.2.2".into(),
            smp: 2,
            memory_mib: 4096,
            warmup: vec!["torch".into()],
            boot_secs: 1.0,
            import_secs: 2.0,
            save_secs: 3.0,
            seen: None,
            files: vec![FileSum {
                name: STATE.into(),
                size: 0,
                checksum: String::new(),
            }],
            key_input: "k".into(),
        }
    }

    #[test]
    fn a_committed_snapshot_is_valid_until_a_byte_changes_or_it_is_cut_short() {
        let store = Store {
            dir: tempfile::tempdir().unwrap().keep(),
        };
        let key = "0123456789abcdef0123";
        assert!(matches!(store.lookup(key), Lookup::Missing));
        let partial = store.start(key).unwrap();
        std::fs::write(partial.dir().join(STATE), b"guest ram").unwrap();
        let dir = partial.commit(record(key)).unwrap();
        assert_eq!(dir, store.path(key));
        assert!(matches!(store.lookup(key), Lookup::Valid { .. }));

        std::fs::write(dir.join(STATE), b"guest rAm").unwrap();
        let Lookup::Corrupt(why) = store.lookup(key) else {
            panic!("not corrupt")
        };
        assert!(why.contains("checksum does not match"), "{why}");
        std::fs::write(dir.join(STATE), b"guest").unwrap();
        let Lookup::Corrupt(why) = store.lookup(key) else {
            panic!("not corrupt")
        };
        assert!(why.contains("truncated"), "{why}");
        store.discard(key).unwrap();
        assert!(matches!(store.lookup(key), Lookup::Missing));
    }

    #[test]
    fn an_uncommitted_save_leaves_nothing_and_locks_exclude_each_other() {
        let store = Store {
            dir: tempfile::tempdir().unwrap().keep(),
        };
        let key = "fedcba9876543210";
        let partial = store.start(key).unwrap();
        let partial_dir = partial.dir().to_path_buf();
        drop(partial);
        assert!(!partial_dir.exists());
        assert!(store.list().unwrap().is_empty());

        let shared = store.lock_shared(key).unwrap();
        let mut tries = 0;
        let e = store
            .lock_exclusive(key, || {
                tries += 1;
                if tries > 2 {
                    bail!("gave up")
                }
                Ok(())
            })
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "gave up");
        drop(shared);
        store.lock_exclusive(key, || Ok(())).unwrap();
    }

    #[test]
    fn a_snapshot_goes_stale_when_its_image_is_rebuilt_written_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let image_dir = dir.path().join("img");
        std::fs::create_dir(&image_dir).unwrap();
        let mut manifest = crate::manifest::sample();
        manifest.config_hash = "key-1".into();
        manifest.write(&image_dir).unwrap();
        let disk = image_dir.join("rootfs.ext4");
        std::fs::write(&disk, b"one").unwrap();
        let seen = Seen {
            image_dir: image_dir.clone(),
            image_key: "key-1".into(),
            root_disk: Some(disk.clone()),
            root_stamp: root_stamp(&disk).unwrap(),
        };
        assert_eq!(stale_because(&seen), None);

        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&disk, b"two").unwrap();
        assert_ne!(root_stamp(&disk).unwrap(), seen.root_stamp);
        assert!(stale_because(&seen)
            .unwrap()
            .contains("root disk was written"));

        let rebuilt = Seen {
            image_key: "key-0".into(),
            ..seen.clone()
        };
        assert_eq!(stale_because(&rebuilt).unwrap(), "the image was rebuilt");
        std::fs::remove_dir_all(&image_dir).unwrap();
        assert!(stale_because(&seen).unwrap().ends_with("img is gone"));
        assert!(root_stamp(&disk).is_err());
    }
}
