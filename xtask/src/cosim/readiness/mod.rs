//! What `doctor --cosim` concludes from the facts `ready.rs` gathers:
//! one [`Item`] per thing a co-simulation needs (QEMU with the device,
//! ACALSim's sources, SST, the image, its warm snapshot), each with the
//! command that fixes it, the lines people read and the JSON. Pure: no file
//! system, no processes.

use std::path::PathBuf;

use serde::Serialize;

use crate::acalsim::Found;
use crate::image::BuiltState;
use crate::table::{fit, short_time, WIDTH};

/// Everything `doctor --cosim` looks at, as plain data.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The `[cosim]` table's image (or the default image).
    pub image: String,
    /// Whether that image builds ACALSim's driver (`kernel_modules`).
    pub image_needs_acalsim: bool,
    pub qemu: Qemu,
    /// `None`: neither `ACALSIM_SRC` nor `[qemu] acalsim` is set.
    pub acalsim: Option<Result<Found, String>>,
    /// `cargo xtask sst build`'s SST: its version line, if built.
    pub sst: Option<String>,
    /// `SST_CORE_SRC` or `[cosim] sst_core` is set.
    pub sst_core_set: bool,
    /// `[cosim] sst` names an SST command (else the reference peer answers).
    pub sst_side: Option<String>,
    pub built: BuiltState,
    pub snapshot: Snapshot,
}

/// The QEMU a session would boot.
#[derive(Debug, Clone, PartialEq)]
pub enum Qemu {
    Found {
        chosen_by: ChosenBy,
        path: PathBuf,
        /// The first line of its `--version`.
        version: String,
        /// `-device help` lists virtio-sst-device.
        device: bool,
    },
    /// It does not run: why.
    Broken(String),
}

/// Where the QEMU a session boots comes from, as `run` chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// `ACALSIM_QEMU` names it.
    Env,
    /// `cargo xtask qemu build` made it.
    Project,
    /// `qemu-system-riscv64` on PATH.
    Host,
}

impl ChosenBy {
    fn text(self) -> &'static str {
        match self {
            ChosenBy::Env => "ACALSIM_QEMU",
            ChosenBy::Project => "the project's build",
            ChosenBy::Host => "the host's",
        }
    }
}

/// A warm snapshot of the image, for the QEMU a session boots, with the SST device.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    Current {
        key: String,
        smp: u32,
        memory_mib: u64,
        created: String,
    },
    None,
}

/// How an item stands.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not there and needed.
    Missing,
    /// Built from older inputs.
    Outdated,
    /// Built, but whether it is current is not known (an input is unset).
    Unchecked,
    /// Not there, and not needed to start a session.
    Absent,
}

impl Status {
    /// As the line and the JSON say it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Outdated => "outdated",
            Status::Unchecked => "unchecked",
            Status::Absent => "absent",
        }
    }
}

/// One line of `doctor --cosim`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Item {
    /// `qemu`, `acalsim`, `sst`, `image` or `snapshot`.
    pub item: &'static str,
    pub status: Status,
    /// `status` is `ok`.
    pub ok: bool,
    /// A session cannot start unless it is ok (or `unchecked`).
    pub required: bool,
    pub detail: String,
    /// The command that fixes it, when it is not ok.
    pub fix: Option<String>,
}

/// `doctor --cosim --json`.
#[derive(Serialize, Debug)]
pub struct Report {
    /// Every required item is ok (or, for the image, unchecked).
    pub ready: bool,
    pub image: String,
    pub items: Vec<Item>,
}

/// PATH: an ACALSim checkout, its src/qemu-acalsim-sst-linux, or a tarball
/// (`qemu build --help`); the other fixes need it set first.
const ACALSIM_FIX: &str = "export ACALSIM_SRC=PATH";

fn item(item: &'static str, status: Status, required: bool, detail: String) -> Item {
    Item {
        item,
        status,
        ok: status == Status::Ok,
        required,
        detail,
        fix: None,
    }
}

impl Item {
    fn fix(mut self, command: impl Into<String>) -> Item {
        self.fix = Some(command.into());
        self
    }

    /// Whether a session can start as far as this item goes.
    fn usable(&self) -> bool {
        matches!(self.status, Status::Ok | Status::Unchecked | Status::Absent)
    }
}

/// Each item from the facts, and whether a session can start.
pub fn report(f: &Facts) -> Report {
    let qemu = qemu_item(&f.qemu);
    let image = image_item(f);
    // Building QEMU needs ACALSim's device; building the image, its driver.
    let image_to_build = matches!(image.status, Status::Missing | Status::Outdated);
    let acalsim_needed = !qemu.ok || (f.image_needs_acalsim && image_to_build);
    let items = vec![
        qemu,
        acalsim_item(&f.acalsim, acalsim_needed),
        sst_item(f),
        image,
        snapshot_item(f),
    ];
    Report {
        ready: items.iter().all(|i| !i.required || i.usable()),
        image: f.image.clone(),
        items,
    }
}

fn qemu_item(q: &Qemu) -> Item {
    let build = "cargo xtask qemu build";
    match q {
        Qemu::Found {
            chosen_by,
            version,
            device,
            ..
        } => {
            let v = crate::host::short_version(version).unwrap_or_else(|| version.clone());
            let fix = match chosen_by {
                ChosenBy::Env => format!("unset ACALSIM_QEMU; {build}"),
                _ => build.to_string(),
            };
            let chosen_by = chosen_by.text();
            match device {
                true => item(
                    "qemu",
                    Status::Ok,
                    true,
                    format!("QEMU {v}, {chosen_by}, with virtio-sst-device"),
                ),
                false => item(
                    "qemu",
                    Status::Missing,
                    true,
                    format!("QEMU {v}, {chosen_by}, has no virtio-sst-device"),
                )
                .fix(fix),
            }
        }
        Qemu::Broken(why) => item("qemu", Status::Missing, true, why.clone()).fix(build),
    }
}

fn acalsim_item(a: &Option<Result<Found, String>>, needed: bool) -> Item {
    let status = if needed {
        Status::Missing
    } else {
        Status::Absent
    };
    match a {
        Some(Ok(found)) => item(
            "acalsim",
            Status::Ok,
            needed,
            format!("{} ({})", found.origin, found.what),
        ),
        Some(Err(why)) => item("acalsim", status, needed, why.clone()).fix(ACALSIM_FIX),
        None => {
            let detail = match needed {
                true => "not set; building QEMU and the image needs them",
                false => "not set; needed only to rebuild QEMU or the image",
            };
            item("acalsim", status, needed, detail.into()).fix(ACALSIM_FIX)
        }
    }
}

fn sst_item(f: &Facts) -> Item {
    let build = "cargo xtask sst build";
    let required = f.sst_side.is_some();
    match &f.sst {
        Some(version) => {
            let v = crate::host::short_version(version).unwrap_or_else(|| version.clone());
            item(
                "sst",
                Status::Ok,
                required,
                format!("SST-core {v}, the project's build, with element acalsim"),
            )
        }
        None => {
            let (status, detail) = match &f.sst_side {
                Some(cmd) => (
                    Status::Missing,
                    format!("not built; [cosim] sst runs `{cmd}`"),
                ),
                None => (
                    Status::Absent,
                    "none: the reference peer answers".to_string(),
                ),
            };
            let fix = match f.sst_core_set {
                true => build.to_string(),
                false => format!("SST_CORE_SRC=PATH {build}"),
            };
            item("sst", status, required, detail).fix(fix)
        }
    }
}

fn image_item(f: &Facts) -> Item {
    let name = &f.image;
    let build = format!("cargo xtask image {name}");
    if !f.image_needs_acalsim {
        // Booted, it would have no /dev/sst0: every request would fail.
        return item(
            "image",
            Status::Missing,
            true,
            format!("`{name}` has no ACALSim driver"),
        )
        .fix("[cosim] image with acalsim:drivers");
    }
    match &f.built {
        BuiltState::Current { created } => item(
            "image",
            Status::Ok,
            true,
            format!("`{name}` built {}, current", short_time(created)),
        ),
        BuiltState::Outdated { created } => item(
            "image",
            Status::Outdated,
            true,
            format!("`{name}` built {} from older inputs", short_time(created)),
        )
        .fix(build),
        BuiltState::NotBuilt => item(
            "image",
            Status::Missing,
            true,
            format!("`{name}` is not built"),
        )
        .fix(build),
        BuiltState::Unchecked { created, because } => {
            let built = format!("`{name}` built {}", short_time(created));
            match (&f.acalsim, f.image_needs_acalsim) {
                (Some(Ok(_)), _) | (_, false) => item(
                    "image",
                    Status::Unchecked,
                    true,
                    format!("{built}, not checked: {because}"),
                ),
                _ => item(
                    "image",
                    Status::Unchecked,
                    true,
                    format!("{built}, ACALSim unset"),
                )
                .fix(ACALSIM_FIX),
            }
        }
    }
}

fn snapshot_item(f: &Facts) -> Item {
    match &f.snapshot {
        Snapshot::Current {
            key,
            smp,
            memory_mib,
            created,
        } => item(
            "snapshot",
            Status::Ok,
            false,
            format!(
                "{key} of `{}` (smp {smp}, {memory_mib}M), saved {}",
                f.image,
                short_time(created)
            ),
        ),
        Snapshot::None => item(
            "snapshot",
            Status::Absent,
            false,
            format!("none of `{}` for this QEMU", f.image),
        )
        .fix("cargo xtask cosim --warm -- true"),
    }
}

/// One line per item, `STATUS  ITEM  detail  fix: COMMAND`, within
/// [`WIDTH`] (the detail is cut to leave the command whole), then the verdict.
pub fn render(r: &Report) -> String {
    let mut lines: Vec<String> = r
        .items
        .iter()
        .map(|i| {
            let head = format!("{:<10}{:<10}", i.status.name(), i.item);
            let tail = i
                .fix
                .as_ref()
                .map_or(String::new(), |f| format!("  fix: {f}"));
            let room = WIDTH
                .saturating_sub(head.chars().count() + tail.chars().count())
                .max(12);
            format!(
                "{head}{}{tail}",
                fit(i.detail.lines().next().unwrap_or(""), room)
            )
        })
        .collect();
    let blocking: Vec<&str> = r
        .items
        .iter()
        .filter(|i| i.required && !i.usable())
        .map(|i| i.item)
        .collect();
    lines.push(match blocking.is_empty() {
        true => format!("ready: `cargo xtask cosim -- CMD` boots `{}`", r.image),
        false => format!(
            "not ready: {} (run the fix at the end of each line)",
            blocking.join(", ")
        ),
    });
    lines.join("\n")
}

#[cfg(test)]
mod tests;
