//! Warm-start snapshots of booted guests (`run --warm`): where they are
//! kept and checked ([`store`]), their checksum ([`checksum`]), the QMP
//! commands that save and restore them ([`qmp`]), and `cargo xtask
//! snapshots`, which lists and removes them.

pub mod checksum;
pub mod qmp;
pub mod store;

use anyhow::Result;

use crate::progress::human_bytes;
use store::{KeyLock, Store};

/// `cargo xtask snapshots [--clean]`.
pub fn run(clean: bool) -> Result<()> {
    let store = Store::open()?;
    let found = store.list()?;
    if found.is_empty() {
        println!(
            "no snapshots in {} (`cargo xtask run --warm -- CMD` makes one)",
            store.dir().display()
        );
        return Ok(());
    }
    if clean {
        return remove_all(&store, &found);
    }
    println!(
        "{:<17} {:<20} {:>4} {:>6} {:<16} {:>9} {:>9}  CREATED",
        "KEY", "IMAGE", "SMP", "MEMORY", "WARMUP", "ON DISK", "RAM FILE"
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
                    r.warmup.join(",")
                };
                println!(
                    "{name:<17} {:<20} {:>4} {:>5}M {warmup:<16} {on_disk:>9} {:>9}  {}",
                    r.image,
                    r.smp,
                    r.memory_mib,
                    human_bytes(ram),
                    r.created
                );
            }
            None => println!(
                "{name:<17} (no readable {}; `--clean` removes it) {on_disk:>9}",
                store::RECORD
            ),
        }
    }
    println!(
        "in {}; `cargo xtask snapshots --clean` removes them",
        store.dir().display()
    );
    Ok(())
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
