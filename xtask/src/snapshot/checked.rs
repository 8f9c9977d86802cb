//! A snapshot's files are checksummed once per saved state, not on every
//! restore: after a full check, `checked.json` keeps what each file's inode
//! looked like (size, mtime, ctime, inode, device). A later check hashes
//! only a file whose stamp differs, so any write to it, a truncation, a
//! copy or a replacement sends it through the full check again.
//!
//! As git does with "racy" index entries, a stamp is kept only for a file
//! whose ctime is at least [`SETTLED`] older than the start of the hash that
//! passed: file times come from a coarse clock, so a file written again
//! within the same tick as a check could keep its stamp.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CHECKED: &str = "checked.json";

/// How long a file must have been left alone before its stamp stands for
/// the content just hashed.
pub const SETTLED: Duration = Duration::from_secs(2);

/// What `path`'s inode looks like now, and its ctime.
fn stamp(path: &Path) -> Option<(String, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    let text = format!(
        "size {} mtime {}.{:09} ctime {}.{:09} inode {} dev {}",
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.ino(),
        m.dev()
    );
    let ctime = UNIX_EPOCH + Duration::new(m.ctime().max(0) as u64, m.ctime_nsec() as u32);
    Some((text, ctime))
}

/// The stamps `dir`'s last full check kept: file name → stamp.
pub fn read(dir: &Path) -> BTreeMap<String, String> {
    crate::cache::read_json_if_present(&dir.join(CHECKED))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Whether `name` in `dir` is as the full check recorded in `seen` saw it.
pub fn unchanged(seen: &BTreeMap<String, String>, dir: &Path, name: &str) -> bool {
    match (seen.get(name), stamp(&dir.join(name))) {
        (Some(kept), Some((now, _))) => *kept == now,
        _ => false,
    }
}

/// Keeps the stamps of `names` in `dir`, whose contents a check that began
/// at `hashed_from` found whole; a file changed within [`SETTLED`] of it is
/// left out and will be hashed again. Written whole (temp file, rename), so
/// concurrent restores of one snapshot never read half of it. A failure
/// only costs the next restore a full check.
pub fn remember(dir: &Path, names: &[&str], hashed_from: SystemTime) {
    let mut kept = BTreeMap::new();
    for name in names {
        if let Some((text, ctime)) = stamp(&dir.join(name)) {
            if ctime + SETTLED <= hashed_from {
                kept.insert(name.to_string(), text);
            }
        }
    }
    // A temporary file of its own: two restores may write at once.
    let written = tempfile::NamedTempFile::new_in(dir)
        .ok()
        .and_then(|mut tmp| {
            serde_json::to_writer_pretty(&mut tmp, &kept).ok()?;
            tmp.persist(dir.join(CHECKED)).ok()
        });
    drop(written);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_stands_until_the_file_is_written_and_never_for_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vm.state"), b"guest ram").unwrap();
        // Hashed just now: the file may still change within its ctime tick.
        remember(dir.path(), &["vm.state"], SystemTime::now());
        assert!(!unchanged(&read(dir.path()), dir.path(), "vm.state"));

        let later = SystemTime::now() + SETTLED + Duration::from_secs(1);
        remember(dir.path(), &["vm.state", "gone"], later);
        let seen = read(dir.path());
        assert!(unchanged(&seen, dir.path(), "vm.state"));
        assert!(!unchanged(&seen, dir.path(), "gone"));

        std::fs::write(dir.path().join("vm.state"), b"guest ram, more").unwrap();
        assert!(!unchanged(&seen, dir.path(), "vm.state"), "a write is seen");
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        std::fs::rename(dir.path().join("other"), dir.path().join("vm.state")).unwrap();
        assert!(
            !unchanged(&seen, dir.path(), "vm.state"),
            "a replacement is seen"
        );
    }
}
