//! A run's record, `run.json` in its folder, and the one summary line it
//! ends with: what ran (image, command, QEMU's command line, version and
//! sha256), how it ended and how long each part took. Written when QEMU
//! starts and again when the run has ended; a co-simulation adds its SST
//! side. Scripts read `runs/latest/run.json` or `run --json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::folder::RECORD;

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// The run's folder.
    pub folder: PathBuf,
    pub image: String,
    /// The guest command's argv; empty for an interactive run.
    pub command: Vec<String>,
    /// Started from the warm-start snapshot.
    pub warm: bool,
    /// UTC, `YYYYMMDD-HHMMSS`.
    pub started_at: String,
    pub qemu: QemuUsed,
    /// The QEMU command line of the boot that ran the command.
    pub qemu_command: String,
    /// How the run ended; `None` while it runs (or if it was killed).
    pub end: Option<End>,
    /// A co-simulation's SST side.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sst: Option<SstSide>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QemuUsed {
    pub path: PathBuf,
    /// The first line of its `--version`.
    pub version: String,
    pub sha256: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct End {
    /// This process's exit status: the command's, 124 past a limit, 128 +
    /// signal when interrupted.
    pub status: i32,
    /// `exited`, `timeout` (`--timeout`), `boot timeout` (`--boot-timeout`),
    /// `interrupted by signal N`, `SST side ended`, or `error: …`.
    pub how: String,
    /// From the command's call to its end, in seconds.
    pub total_secs: f64,
    /// `boot`, or `restore` for a warm run: QEMU's start to the command's.
    pub start_kind: String,
    /// `None`: the command never started.
    pub start_secs: Option<f64>,
    /// The command's start to its end.
    pub job_secs: Option<f64>,
}

/// A co-simulation's SST side, as its session saw it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SstSide {
    /// Its argv.
    pub command: Vec<String>,
    /// Its working directory.
    pub dir: PathBuf,
    /// How it ended (e.g. `exited with status 0`).
    pub ended: String,
    /// The reference peer's COMPUTE requests and the cycles it answered
    /// (`None` for real SST, whose output this does not read).
    pub computes: Option<u64>,
    pub cycles: Option<u64>,
}

/// Reads `dir/run.json`.
pub fn read(dir: &Path) -> Result<Record> {
    let path = dir.join(RECORD);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes `dir/run.json` whole (a temporary file renamed over it).
pub fn write(dir: &Path, record: &Record) -> Result<()> {
    let path = dir.join(RECORD);
    let tmp = dir.join(format!(".{RECORD}.tmp"));
    let text = serde_json::to_string_pretty(record).context("serializing run.json")?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// The closing line, e.g. `exit 0 in 10.9 s (boot 6.2 s, job 4.1 s; 1000
/// COMPUTEs, 3262207600 cycles); run folder: target/xtask/runs/…`, with
/// the folder shown relative to `root`.
pub fn line(record: &Record, root: &Path) -> String {
    let Some(end) = &record.end else {
        return format!("run folder: {}", shown(&record.folder, root));
    };
    let mut parts = Vec::new();
    match (end.start_secs, end.job_secs) {
        (Some(start), Some(job)) => {
            parts.push(format!("{} {start:.1} s, job {job:.1} s", end.start_kind))
        }
        _ => parts.push(format!(
            "the command never started: {} unfinished",
            end.start_kind
        )),
    }
    if let Some(sst) = &record.sst {
        if let (Some(n), Some(cycles)) = (sst.computes, sst.cycles) {
            parts.push(format!("{n} COMPUTEs, {cycles} cycles"));
        }
    }
    let how = match end.how.as_str() {
        "exited" => String::new(),
        how => format!(" ({how})"),
    };
    format!(
        "exit {}{how} in {:.1} s ({}); run folder: {}",
        end.status,
        end.total_secs,
        parts.join("; "),
        shown(&record.folder, root)
    )
}

fn shown(folder: &Path, root: &Path) -> String {
    folder
        .strip_prefix(root)
        .unwrap_or(folder)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            folder: "/p/target/xtask/runs/20261205-194640-cosim".into(),
            image: "cosim".into(),
            end: Some(End {
                status: 0,
                how: "exited".into(),
                total_secs: 10.94,
                start_kind: "boot".into(),
                start_secs: Some(6.21),
                job_secs: Some(4.06),
            }),
            ..Record::default()
        }
    }

    #[test]
    fn the_line_names_the_status_the_times_and_the_folder() {
        let root = Path::new("/p");
        assert_eq!(
            line(&record(), root),
            "exit 0 in 10.9 s (boot 6.2 s, job 4.1 s); run folder: target/xtask/runs/20261205-194640-cosim"
        );
        let mut cosim = record();
        cosim.sst = Some(SstSide {
            computes: Some(1000),
            cycles: Some(3_262_207_600),
            ..SstSide::default()
        });
        assert!(line(&cosim, root)
            .contains("(boot 6.2 s, job 4.1 s; 1000 COMPUTEs, 3262207600 cycles)"));
        let mut hung = record();
        let end = hung.end.as_mut().unwrap();
        (end.status, end.how, end.start_secs, end.job_secs) =
            (124, "boot timeout".into(), None, None);
        assert_eq!(
            line(&hung, Path::new("/elsewhere")),
            "exit 124 (boot timeout) in 10.9 s (the command never started: boot unfinished); \
             run folder: /p/target/xtask/runs/20261205-194640-cosim"
        );
    }

    #[test]
    fn the_record_survives_its_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &record()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), record());
        let text = std::fs::read_to_string(dir.path().join(RECORD)).unwrap();
        assert!(!text.contains("\"sst\""), "{text}");
    }
}
