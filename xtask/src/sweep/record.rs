//! One point's record (`points/ID/record.json`): what ran, how it ended,
//! its metrics and its provenance; and the job's metrics, read from the
//! last line of its stdout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::provenance::Provenance;

pub const SCHEMA: u32 = 1;
/// In each point's directory.
pub const RECORD: &str = "record.json";
/// The guest command's stdout.
pub const OUTPUT: &str = "output.txt";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: u32,
    /// The experiment's name and file.
    pub sweep: String,
    pub file: String,
    pub id: String,
    /// Parameter values by name, and the repeat (1-based).
    pub params: BTreeMap<String, Json>,
    pub repeat: u32,
    pub image: String,
    pub warm: bool,
    /// The guest command as run, and its extra environment.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The SST side's command line; `None` without one.
    pub sst: Option<String>,
    /// The guest command's exit status (124: timed out; 128 + N: signal N).
    pub status: i32,
    /// "ok", or what went wrong, for people.
    pub result: String,
    pub started: String,
    /// From the point's start to its end: the whole session.
    pub wall_secs: f64,
    /// A warm point's restore (QEMU loading the state).
    pub restore_secs: Option<f64>,
    /// The job's last stdout line's JSON, flattened to dotted names.
    pub metrics: BTreeMap<String, Json>,
    pub provenance: Provenance,
    /// The host that ran it, and the Slurm job (`JOBID_TASK`) if any.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// The point's logs, relative to its directory.
    pub logs: Vec<String>,
}

impl Record {
    /// Complete and right: a point the next run skips.
    pub fn ok(&self) -> bool {
        self.result == "ok"
    }
}

/// Reads `dir/record.json`; `None` when there is none (or it is unreadable:
/// then the point is run again, as if missing).
pub fn read(dir: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(dir.join(RECORD)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write(dir: &Path, record: &Record) -> Result<PathBuf> {
    let path = dir.join(RECORD);
    crate::cache::write_json(&path, record)?;
    Ok(path)
}

/// The metrics in `stdout`: its last non-empty line, a JSON object,
/// flattened (`{"sst": {"cycles": 1}}` → `sst.cycles`; lists are left
/// out). With `wanted`, exactly those names, each required.
pub fn metrics(stdout: &str, wanted: &[String]) -> Result<BTreeMap<String, Json>, String> {
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let Some(last) = last else {
        return Err("the job printed nothing; a sweep's job prints its results as one JSON object on its last stdout line".into());
    };
    let object = match serde_json::from_str::<Json>(last) {
        Ok(Json::Object(o)) => o,
        _ => {
            return Err(format!(
                "the job's last stdout line is not a JSON object: `{}`; a sweep's job prints its results as one on its last line (e.g. `--json`)",
                clip(last)
            ))
        }
    };
    let mut flat = BTreeMap::new();
    flatten("", &Json::Object(object), &mut flat);
    if wanted.is_empty() {
        return Ok(flat);
    }
    let mut out = BTreeMap::new();
    for name in wanted {
        match flat.get(name) {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None => {
                return Err(format!(
                    "metric `{name}` is not in the job's JSON; it has: {}",
                    flat.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
    Ok(out)
}

fn flatten(prefix: &str, value: &Json, out: &mut BTreeMap<String, Json>) {
    match value {
        Json::Object(o) => {
            for (k, v) in o {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        Json::Array(_) | Json::Null => {}
        scalar => {
            out.insert(prefix.to_string(), scalar.clone());
        }
    }
}

fn clip(line: &str) -> String {
    match line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_the_last_lines_json_flattened() {
        let out = "warming up\n{\"tokens\": 8, \"sst\": {\"cycles\": 1200, \"ids\": [1, 2]}, \"engine\": \"torch\", \"none\": null}\n\n";
        let m = metrics(out, &[]).expect("metrics");
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["engine", "sst.cycles", "tokens"]
        );
        assert_eq!(m["sst.cycles"], 1200);
        let picked = metrics(out, &["sst.cycles".into()]).expect("picked");
        assert_eq!(picked.len(), 1);
        let e = metrics(out, &["sst.latency".into()]).expect_err("missing");
        assert!(
            e.contains(
                "metric `sst.latency` is not in the job's JSON; it has: engine, sst.cycles, tokens"
            ),
            "{e}"
        );
        let e = metrics("{\"a\": 1}\nsst compute: ok\n", &[]).expect_err("not last");
        assert!(e.contains("not a JSON object: `sst compute: ok`"), "{e}");
        assert!(metrics("", &[]).is_err());
    }
}
