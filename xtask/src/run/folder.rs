//! Every run and session gets a folder of its own under
//! `target/xtask/runs/`: `<UTC time>-<image>/` with the boot log, the SST
//! side's and the peer's logs, and `run.json` (what ran, on which QEMU, how
//! it ended and how long it took). `runs/latest` links to the newest; the
//! oldest are pruned past [`KEEP`], never one whose run is still going.
//!
//! Naming and choosing what to prune are pure; [`create`] and [`prune`]
//! do the filesystem work.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// The console and QEMU's stderr.
pub const BOOT_LOG: &str = "boot.log";
/// The boot that saved a warm run's snapshot, when this run saved one.
pub const WARMUP_LOG: &str = "warmup.log";
/// What ran and how it ended (`summary::Record`).
pub const RECORD: &str = "run.json";
/// The SST side's stdout and stderr (a co-simulation).
pub const SST_LOG: &str = "sst.log";
/// The reference peer's requests and answers, one JSON object a line.
pub const PEER_LOG: &str = "peer.jsonl";
/// The link to the newest folder.
pub const LATEST: &str = "latest";
/// How many run folders are kept.
pub const KEEP: usize = 50;

/// `runs/` under the project's `target/xtask/`.
pub fn runs_dir(xtask_dir: &Path) -> PathBuf {
    xtask_dir.join("runs")
}

/// `YYYYMMDD-HHMMSS` in UTC for `secs` since the epoch.
pub fn stamp(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil, for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}{month:02}{day:02}-{h:02}{m:02}{s:02}")
}

/// The folder's name: the time, the image, and `-N` from the second of
/// the same second and image on.
pub fn folder_name(stamp: &str, image: &str, n: u32) -> String {
    match n {
        0 | 1 => format!("{stamp}-{image}"),
        n => format!("{stamp}-{image}-{n}"),
    }
}

/// Makes a new folder for a run of `image` in `runs`, points `latest` at
/// it and prunes the oldest past [`KEEP`].
pub fn create(runs: &Path, image: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(runs).with_context(|| format!("creating {}", runs.display()))?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp = stamp(secs);
    let dir = (1..)
        .map(|n| runs.join(folder_name(&stamp, image, n)))
        .find_map(|dir| match std::fs::create_dir(&dir) {
            Ok(()) => Some(Ok(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
            Err(e) => Some(Err(e).with_context(|| format!("creating {}", dir.display()))),
        })
        .context("naming a run folder")??;
    // Written before anything else: prune tells a running folder by it.
    let pid = dir.join(PID_FILE);
    std::fs::write(&pid, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid.display()))?;
    point_latest(runs, &dir)?;
    if let Err(e) = prune(runs, KEEP) {
        eprintln!(
            "warning: pruning old run folders in {}: {e:#}",
            runs.display()
        );
    }
    Ok(dir)
}

/// The pid of the process a folder belongs to, removed when its run has ended.
pub const PID_FILE: &str = "pid";

/// Marks `dir`'s run as ended: prune may take it from now on.
pub fn close(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PID_FILE));
}

/// `latest` -> the folder, replaced in one rename so a reader never sees none.
fn point_latest(runs: &Path, dir: &Path) -> Result<()> {
    let name = dir.file_name().context("a run folder's name")?;
    let tmp = runs.join(format!(".{LATEST}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).with_context(|| format!("linking {}", tmp.display()))?;
    let latest = runs.join(LATEST);
    std::fs::rename(&tmp, &latest).with_context(|| format!("replacing {}", latest.display()))
}

/// Removes the oldest folders past `keep`, skipping any whose process is
/// still alive; returns what it removed.
pub fn prune(runs: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let mut names: Vec<String> = std::fs::read_dir(runs)
        .with_context(|| format!("reading {}", runs.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    let running = |name: &String| {
        std::fs::read_to_string(runs.join(name).join(PID_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    };
    names.sort();
    let mut removed = Vec::new();
    for name in to_prune(&names, keep) {
        if running(name) {
            continue;
        }
        let dir = runs.join(name);
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        removed.push(dir);
    }
    Ok(removed)
}

/// The oldest of `sorted` (names sort by time) beyond the newest `keep`.
pub fn to_prune(sorted: &[String], keep: usize) -> &[String] {
    &sorted[..sorted.len().saturating_sub(keep)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_the_utc_calendar_time() {
        assert_eq!(stamp(0), "19700101-000000");
        // date -u -d @1796500000 +%Y%m%d-%H%M%S
        assert_eq!(stamp(1_796_500_000), "20261205-194640");
        assert_eq!(stamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn a_second_folder_in_the_same_second_is_numbered() {
        assert_eq!(folder_name("s", "img", 1), "s-img");
        assert_eq!(folder_name("s", "img", 2), "s-img-2");
    }

    #[test]
    fn create_links_latest_and_prune_keeps_the_newest_and_the_running() {
        let runs = tempfile::tempdir().unwrap();
        let dir = create(runs.path(), "img").unwrap();
        let latest = std::fs::read_link(runs.path().join(LATEST)).unwrap();
        assert_eq!(runs.path().join(latest), dir);
        let second = create(runs.path(), "img").unwrap();
        assert_ne!(second, dir);
        for n in 0..4 {
            std::fs::create_dir(runs.path().join(format!("2000010{n}-000000-old"))).unwrap();
        }
        // The oldest is still running (our pid); the next two go.
        std::fs::write(
            runs.path().join("20000100-000000-old").join(PID_FILE),
            std::process::id().to_string(),
        )
        .unwrap();
        let removed = prune(runs.path(), 3).unwrap();
        let names: Vec<_> = removed.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["20000101-000000-old", "20000102-000000-old"]);
        assert!(runs.path().join("20000100-000000-old").is_dir());
        assert!(dir.is_dir() && second.is_dir());
        close(&dir);
        assert!(!dir.join(PID_FILE).exists());
    }
}
