//! `run --warm`: start a job from a snapshot of the booted guest, its
//! warm-up modules (e.g. torch) already imported.
//!
//! [`run`] reads as its steps: the request is checked (a headless job, the
//! fast boot, QEMU 10.2+); the machine is planned as for a cold run, with
//! the control port and `acalsim.warm` added; its shape gives the key
//! (`key.rs`). Under the key's shared lock a whole snapshot is restored
//! (`restore.rs`); a missing one is saved first by a boot that stops when
//! the guest says it is ready (`save.rs`, under the exclusive lock), and a
//! damaged one is removed and saved again. Every QEMU gets its own
//! directory of sockets in the run's session, which is dropped on every way
//! out, as in a cold run.

mod control;
mod key;
mod launch;
mod restore;
mod save;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::machine::Boot;
use super::phases::{self, Timeline};
use super::preflight::{BuiltImage, ChosenQemu};
use super::report::Finished;
use super::request::Request;
use super::session::Session;
use super::supervise::{Signals, StdoutSink, Watch};
use crate::project::Project;
use crate::snapshot::store::{self, Lookup, Store};
use launch::{prepare, Warm};

/// Runs `request`'s job from the snapshot, saving it first when needed.
pub fn run(
    project: &Project,
    request: &Request,
    image: &BuiltImage,
    qemu: &ChosenQemu,
    timeline: Timeline,
    mut stdout_sink: Option<StdoutSink>,
    mut watch: Option<Watch>,
) -> Result<Finished> {
    check_request(request)?;
    require_snapshot_qemu(&qemu.path, &qemu.version)?;
    let cx = Warm {
        project,
        request,
        image,
        qemu,
        session: Session::open(project, &image.name, request)?,
        signals: Signals::register()?,
        warmup: warmup_modules(project, &image.name),
        timeline: Arc::new(timeline),
    };
    let store = Store::open()?;
    let mut launches = 0;
    let first = prepare(&cx, &mut launches)?;
    let (input, key) = snapshot_key(&cx, &first)?;
    let mut next = Some(first);
    let mut saved_now = false;
    loop {
        let mut launch = Some(match next.take() {
            Some(launch) => launch,
            None => prepare(&cx, &mut launches)?,
        });
        let shared = store.lock_shared(&key)?;
        cx.timeline.mark("lock");
        let lookup = store.lookup(&key);
        cx.timeline.mark("snapshot check");
        match lookup {
            Lookup::Valid { dir, .. } => {
                let restoring = launch.take().context("a launch for the restore")?;
                match restore::run(&cx, restoring, &dir, stdout_sink.take(), watch.take())? {
                    restore::Restored::Ended(finished, log) => {
                        report_phases(cx, &log, saved_now)?;
                        return Ok(finished);
                    }
                    restore::Restored::Refused(why) if saved_now => {
                        bail!("the snapshot just saved did not restore: {why}")
                    }
                    restore::Restored::Refused(why) => eprintln!(
                        "warm: snapshot {} did not restore ({why}); removing it, this run boots cold",
                        store::short(&key)
                    ),
                }
            }
            Lookup::Corrupt(why) => eprintln!(
                "warm: snapshot {} is damaged ({why}); removing it, this run boots cold and saves a new one",
                store::short(&key)
            ),
            Lookup::Missing => {}
        }
        drop(shared);
        let _exclusive = store.lock_exclusive(&key, || interrupted(&cx.signals))?;
        match store.lookup(&key) {
            // Another run saved it while this one waited for the lock.
            Lookup::Valid { .. } if !saved_now && launch.is_some() => {
                next = launch;
                continue;
            }
            Lookup::Missing => {}
            _ => store.discard(&key)?,
        }
        let saving = match launch {
            Some(launch) => launch,
            None => prepare(&cx, &mut launches)?,
        };
        if let Some(ended) = save::run(&cx, saving, &store, &key, &input)? {
            return Ok(ended);
        }
        saved_now = true;
    }
}

/// The key of the machine `first` boots (its input, and the key).
fn snapshot_key(cx: &Warm, first: &launch::Launch) -> Result<(String, String)> {
    let stamp = match &first.machine.disk {
        Some(disk) => store::root_stamp(&disk.path)
            .with_context(|| format!("reading {}", disk.path.display()))?,
        None => String::new(),
    };
    let input = key::key_input(
        &first.machine,
        &cx.image.manifest,
        &stamp,
        &cx.qemu.description,
    );
    let key = key::key(&input);
    cx.timeline.mark("session, key");
    Ok((input, key))
}

/// The restore's phases, the guest's among them: appended to the run's
/// log, and printed with `-v`. The session is torn down first, as the last
/// phase the command pays for. A run that saved the snapshot first has no
/// table: its phases would hide the boot and the save among the restore's.
fn report_phases(cx: Warm, log: &Path, saved_now: bool) -> Result<()> {
    if saved_now {
        return Ok(());
    }
    let guest = phases::guest_phases(&cx.session.job_dir);
    let (timeline, verbose) = (Arc::clone(&cx.timeline), cx.project.verbose);
    let quiet = cx.request.quiet;
    drop(cx);
    timeline.mark("clean-up");
    let table = phases::render(&timeline.phases(Some((phases::JOB_AND_STATUS, &guest))));
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("\n{table}").as_bytes()))
        .with_context(|| format!("appending the phases to {}", log.display()))?;
    if verbose && !quiet {
        eprint!("{table}");
    }
    Ok(())
}

/// `--warm` starts a job in the fast boot; the rest of `run` is the same.
fn check_request(request: &Request) -> Result<()> {
    if !request.is_job() {
        bail!("--warm runs a command: give one after `--` (an interactive console starts from a boot)");
    }
    if request.boot_or_default() != Boot::Fast {
        bail!("--warm restores a guest of the fast boot; leave out --boot full");
    }
    if request.persist || !request.drives.is_empty() {
        bail!("--warm restores the disk as the snapshot saw it: it cannot keep changes (--persist) or attach disks (--drive)");
    }
    Ok(())
}

/// QEMU before 10.2 does not save the riscv timer state (ACLINT
/// `time_delta`, pending timers, Sstc): a restored guest loses timer
/// interrupts or sees its clock stand still. The error says what is wrong,
/// why, and then the command that fixes it on a line of its own.
fn require_snapshot_qemu(path: &Path, version: &str) -> Result<()> {
    match qemu_version(version) {
        Some(v) if v >= (10, 2) => Ok(()),
        found => bail!(
            "--warm needs QEMU 10.2 or newer; this run's QEMU is {}:\n  \
             {} ({version})\n\
             QEMU before 10.2 does not save the riscv timer state, so a restored guest would lose\n\
             timer interrupts. Build the project's QEMU 10.2, which `run --warm` then uses:\n  \
             ACALSIM_SRC=PATH cargo xtask qemu build\n\
             or pass --qemu PATH to a QEMU 10.2 or newer.",
            found.map_or("of unknown version".into(), |(a, b)| format!("{a}.{b}")),
            path.display(),
        ),
    }
}

/// (major, minor) of "QEMU emulator version 10.2.2 (…)".
fn qemu_version(version: &str) -> Option<(u32, u32)> {
    let rest = &version[version.find("version ")? + "version ".len()..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The image's `warmup` modules; none for an image the config no longer has.
fn warmup_modules(project: &Project, image: &str) -> Vec<String> {
    project
        .config()
        .ok()
        .and_then(|c| c.image(Some(image)).ok().map(|i| i.warmup.clone()))
        .unwrap_or_default()
}

fn interrupted(signals: &Signals) -> Result<()> {
    match signals.caught() {
        Some(signal) => bail!("interrupted by signal {signal}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_qemu_10_2_and_newer_may_save_a_riscv_guest() {
        let path = Path::new("/usr/bin/qemu-system-riscv64");
        let project_build = "QEMU emulator version 10.2.2 (acalsim-46f1)";
        assert_eq!(qemu_version(project_build), Some((10, 2)));
        require_snapshot_qemu(path, project_build).unwrap();
        require_snapshot_qemu(path, "QEMU emulator version 11.0.0").unwrap();
        let host = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)";
        let e = require_snapshot_qemu(path, host).unwrap_err().to_string();
        assert!(
            e.starts_with("--warm needs QEMU 10.2 or newer; this run's QEMU is 10.0:\n"),
            "{e}"
        );
        assert!(
            e.lines()
                .any(|l| l == "  ACALSIM_SRC=PATH cargo xtask qemu build"),
            "the fix on a line of its own: {e}"
        );
        assert!(
            e.contains(&format!("  /usr/bin/qemu-system-riscv64 ({host})")),
            "{e}"
        );
        assert!(e.lines().all(|l| l.chars().count() <= 100), "{e}");
        assert!(require_snapshot_qemu(path, "a QEMU that printed nothing")
            .unwrap_err()
            .to_string()
            .contains("unknown version"));
    }

    #[test]
    fn warm_runs_are_headless_fast_boot_jobs_on_an_unchanged_disk() {
        let job = Request {
            command: vec!["true".into()],
            warm: true,
            ..Request::default()
        };
        check_request(&job).unwrap();
        let e = |r: Request| check_request(&r).unwrap_err().to_string();
        assert!(e(Request {
            command: vec![],
            ..job.clone()
        })
        .contains("give one after `--`"));
        assert!(e(Request {
            boot: Some(Boot::Full),
            ..job.clone()
        })
        .contains("--boot full"));
        assert!(e(Request {
            persist: true,
            ..job.clone()
        })
        .contains("--persist"));
        assert!(e(Request {
            drives: vec!["/d".into()],
            ..job
        })
        .contains("--drive"));
    }
}
