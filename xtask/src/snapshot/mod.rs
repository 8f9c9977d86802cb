//! Warm-start snapshots of booted guests (`run --warm`): where they are
//! kept and checked ([`store`]), their checksum ([`checksum`]), the QMP
//! commands that save and restore them ([`qmp`]), and `cargo xtask
//! snapshots`, which lists them (with whether each one's image is still as
//! it was saved) and removes the stale ones or all.

mod checked;
pub mod checksum;
pub mod qmp;
pub mod store;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::progress::human_bytes;
use crate::table::{fit, format_table, short_time};
use store::{KeyLock, Store};

/// `cargo xtask snapshots [--clean | --prune | --json]`.
pub fn run(clean: bool, prune: bool, json: bool) -> Result<()> {
    let store = Store::open()?;
    let mut found = store.list()?;
    if json {
        let listing = Listing {
            dir: store.dir().to_path_buf(),
            snapshots: found.iter().map(|(dir, r)| entry(dir, r)).collect(),
        };
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    if found.is_empty() {
        println!(
            "no snapshots in {} (`cargo xtask run --warm -- CMD` makes one)",
            store.dir().display()
        );
        return Ok(());
    }
    if prune {
        found.retain(|(_, record)| stale(record).is_some());
        if found.is_empty() {
            println!("no stale snapshots: each one's image is as it was saved");
            return Ok(());
        }
    }
    if clean || prune {
        return remove_all(&store, &found);
    }
    let entries: Vec<Entry> = found.iter().map(|(dir, r)| entry(dir, r)).collect();
    println!("{}", render(&entries));
    println!(
        "in {}; `cargo xtask snapshots --prune` removes the stale ones, `--clean` all",
        store.dir().display()
    );
    Ok(())
}

/// `snapshots --json`: the directory and every snapshot in it.
#[derive(Serialize, Debug)]
pub struct Listing {
    pub dir: PathBuf,
    pub snapshots: Vec<Entry>,
}

/// One snapshot, as `snapshots` lists it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Entry {
    /// The directory's name: the key's first 16 hex digits.
    pub key: String,
    /// The rest is `None` when `snapshot.json` cannot be read (`unreadable`).
    pub image: Option<String>,
    pub smp: Option<u32>,
    pub memory_mib: Option<u64>,
    pub warmup: Vec<String>,
    /// What the files take on disk (the RAM file is sparse).
    pub on_disk_bytes: u64,
    /// The RAM file's size (the guest's memory).
    pub ram_file_bytes: Option<u64>,
    pub created: Option<String>,
    /// `--version` and sha256 of the QEMU that saved it.
    pub qemu: Option<String>,
    /// `current`, `stale`, `unknown` (an older record that does not say) or `unreadable`.
    pub state: &'static str,
    pub stale_because: Option<String>,
}

fn entry(dir: &Path, record: &Option<store::Record>) -> Entry {
    let key = dir.file_name().unwrap_or_default().to_string_lossy();
    let on_disk_bytes = store::allocated(dir);
    let why = stale(record);
    let Some(r) = record else {
        return Entry {
            key: key.into_owned(),
            image: None,
            smp: None,
            memory_mib: None,
            warmup: vec![],
            on_disk_bytes,
            ram_file_bytes: None,
            created: None,
            qemu: None,
            state: "unreadable",
            stale_because: why,
        };
    };
    let ram = r.files.iter().find(|f| f.name == store::STATE);
    Entry {
        key: key.into_owned(),
        image: Some(r.image.clone()),
        smp: Some(r.smp),
        memory_mib: Some(r.memory_mib),
        warmup: r.warmup.clone(),
        on_disk_bytes,
        ram_file_bytes: Some(ram.map_or(0, |f| f.size)),
        created: Some(r.created.clone()),
        qemu: Some(r.qemu.clone()),
        state: match (&why, &r.seen) {
            (Some(_), _) => "stale",
            (None, None) => "unknown",
            (None, Some(_)) => "current",
        },
        stale_because: why,
    }
}

/// The table of `snapshots`: one row per snapshot, an unreadable one
/// saying so.
fn render(entries: &[Entry]) -> String {
    // The RAM file's size is in --json: what the disk holds is ON DISK.
    let header = [
        "KEY", "IMAGE", "MACHINE", "WARMUP", "ON DISK", "CREATED", "STATE",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for e in entries {
        let on_disk = human_bytes(e.on_disk_bytes);
        let Some(image) = &e.image else {
            let unreadable = format!("(no readable {}; `--clean` removes it)", store::RECORD);
            rows.push(vec![e.key.clone(), unreadable, on_disk]);
            continue;
        };
        let warmup = match e.warmup.is_empty() {
            true => "-".to_string(),
            false => fit(&e.warmup.join(","), 12),
        };
        let memory = e.memory_mib.map_or(String::new(), |m| match m % 1024 {
            0 => format!("{}G", m / 1024),
            _ => format!("{m}M"),
        });
        let machine = match e.smp {
            Some(n) => format!("{n} cpu {memory}"),
            None => memory,
        };
        let state = match (&e.stale_because, e.state) {
            (Some(why), _) => format!("stale: {why}"),
            (None, "unknown") => "unknown (an older record)".into(),
            (None, state) => state.into(),
        };
        rows.push(vec![
            e.key.clone(),
            image.clone(),
            machine,
            warmup,
            on_disk,
            e.created.as_deref().map(short_time).unwrap_or_default(),
            // Whole: the reason is what tells a user whether to prune.
            state,
        ]);
    }
    format_table(&rows)
}

/// The stale snapshots of `image` other than `except`: how many, and the
/// bytes they take, for the hint a save prints.
pub fn stale_of(store: &Store, image: &str, except: &std::path::Path) -> (usize, u64) {
    let found = store.list().unwrap_or_default();
    found
        .iter()
        .filter(|(dir, r)| {
            dir != except && r.as_ref().is_some_and(|r| r.image == image) && stale(r).is_some()
        })
        .fold((0, 0), |(n, bytes), (dir, _)| {
            (n + 1, bytes + store::allocated(dir))
        })
}

/// Why no run can restore this snapshot any more, if that is known: its
/// image changed since (a record that cannot be read is stale too).
pub fn stale(record: &Option<store::Record>) -> Option<String> {
    match record {
        None => Some(format!("no readable {}", store::RECORD)),
        Some(r) => r.seen.as_ref().and_then(store::stale_because),
    }
}

/// Removes every snapshot no run is using (those are named and kept).
fn remove_all(store: &Store, found: &[(std::path::PathBuf, Option<store::Record>)]) -> Result<()> {
    let mut freed = 0;
    for (dir, _) in found {
        let key = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut in_use = false;
        let lock: Option<KeyLock> = store
            .lock_exclusive(&key, || {
                in_use = true;
                anyhow::bail!("in use")
            })
            .ok();
        if lock.is_none() || in_use {
            println!("kept {key}: a run is using it");
            continue;
        }
        freed += store::allocated(dir);
        store.discard(&key)?;
        println!("removed {key}");
    }
    println!("freed {}", human_bytes(freed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, state: &'static str, why: Option<&str>) -> Entry {
        Entry {
            key: key.into(),
            image: Some("debian-sid-torch".into()),
            smp: Some(2),
            memory_mib: Some(4096),
            warmup: vec!["torch".into(), "transformers".into(), "x".into()],
            on_disk_bytes: 625_000_000,
            ram_file_bytes: Some(4_370_000_000),
            created: Some("2026-12-05T19:19:14Z".into()),
            qemu: Some("qemu (QEMU emulator version 10.2.2, sha256 x)".into()),
            state,
            stale_because: why.map(String::from),
        }
    }

    #[test]
    fn the_table_lines_up_and_cuts_long_warm_up_lists() {
        let text = render(&[
            entry("e12ccfaf5f9f3642", "current", None),
            entry("6758781f9600ede5", "stale", Some("the image was rebuilt")),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("KEY               IMAGE"), "{text}");
        assert!(
            lines[1].contains("torch,trans…") && lines[1].ends_with("  current"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("  stale: the image was rebuilt"),
            "{text}"
        );
        assert!(lines[1].contains("  2 cpu 4G  "), "{text}");
    }

    #[test]
    fn entries_serialize_with_the_documented_fields() {
        let v = serde_json::to_value(entry("k", "current", None)).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "created",
                "image",
                "key",
                "memory_mib",
                "on_disk_bytes",
                "qemu",
                "ram_file_bytes",
                "smp",
                "stale_because",
                "state",
                "warmup"
            ]
        );
        assert_eq!(v["state"], "current");
    }
}
