//! Warm-start snapshots of booted guests (`run --warm`): where they are
//! kept and checked ([`store`]), their checksum ([`checksum`]), the QMP
//! commands that save and restore them ([`qmp`]), and `cargo xtask
//! snapshots`, which lists them (with whether each one's image is still as
//! it was saved) and removes the stale ones or all.

mod checked;
pub mod checksum;
pub mod qmp;
pub mod store;

use anyhow::Result;

use crate::progress::human_bytes;
use store::{KeyLock, Store};

/// `cargo xtask snapshots [--clean | --prune]`.
pub fn run(clean: bool, prune: bool) -> Result<()> {
    let store = Store::open()?;
    let mut found = store.list()?;
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
    println!(
        "{:<17} {:<20} {:>4} {:>6} {:<16} {:>9} {:>9}  {:<20}  STATE",
        "KEY", "IMAGE", "SMP", "MEMORY", "WARMUP", "ON DISK", "RAM FILE", "CREATED"
    );
    for (dir, record) in &found {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let on_disk = human_bytes(store::allocated(dir));
        match record {
            Some(r) => {
                let ram = r
                    .files
                    .iter()
                    .find(|f| f.name == store::STATE)
                    .map_or(0, |f| f.size);
                let warmup = if r.warmup.is_empty() {
                    "-".to_string()
                } else {
                    fit(&r.warmup.join(","), 16)
                };
                println!(
                    "{name:<17} {:<20} {:>4} {:>5}M {warmup:<16} {on_disk:>9} {:>9}  {:<20}  {}",
                    r.image,
                    r.smp,
                    r.memory_mib,
                    human_bytes(ram),
                    r.created,
                    match stale(record) {
                        Some(why) => format!("stale: {why}"),
                        None if r.seen.is_none() => "unknown (an older record)".into(),
                        None => "current".into(),
                    }
                );
            }
            None => println!(
                "{name:<17} (no readable {}; `--clean` removes it) {on_disk:>9}",
                store::RECORD
            ),
        }
    }
    println!(
        "in {}; `cargo xtask snapshots --prune` removes the stale ones, `--clean` all",
        store.dir().display()
    );
    Ok(())
}

/// `text`, cut to `width` characters with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    match text.chars().count() > width {
        true => text.chars().take(width - 1).chain(['…']).collect(),
        false => text.to_string(),
    }
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
fn stale(record: &Option<store::Record>) -> Option<String> {
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

    #[test]
    fn long_warm_up_lists_are_cut_to_the_column() {
        assert_eq!(fit("torch", 16), "torch");
        assert_eq!(fit("torch,transformers,x", 16), "torch,transform…");
        assert_eq!(fit("torch,transformers,x", 16).chars().count(), 16);
    }
}
