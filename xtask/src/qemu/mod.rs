//! `cargo xtask qemu build`: the project's own `qemu-system-riscv64`, with
//! ACALSim's virtio-sst-device compiled in unmodified.
//!
//! [`build`] reads as its stages: find ACALSim, compute the cache key from
//! everything the build reads (a cached build with that key ends it at
//! once), fetch and verify the source (`fetch`), lay out the tree with the
//! project's patches and glue (`tree`), configure (`configure`, plain data),
//! compile the one program, install it with its firmware into a temporary
//! directory renamed into the cache, and record it (`record`).

mod archive;
mod configure;
mod fetch;
mod key;
pub mod record;
mod tree;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::acalsim::{self, Acalsim};
use crate::flags;
use crate::progress::{CommandLog, Steps};
use crate::project::Project;
use record::Built;

pub fn run(project: &Project, flags: &flags::Qemu) -> Result<()> {
    match &flags.command {
        flags::QemuCommand::Build(b) => build(project, b).map(|built| {
            eprintln!("qemu: {} ({})", built.binary.display(), built.version);
        }),
        flags::QemuCommand::Info(i) => {
            let built = record::current(project)?.with_context(|| {
                format!(
                    "no QEMU built for this checkout ({} is missing): run `cargo xtask qemu build`",
                    record::pointer(project).display()
                )
            })?;
            match i.json {
                true => println!("{}", serde_json::to_string_pretty(&built)?),
                false => println!("{}", built.describe()),
            }
            Ok(())
        }
    }
}

/// Builds (or finds cached) the QEMU `acalsim.toml`'s `[qemu]` table describes.
pub fn build(project: &Project, opts: &flags::QemuBuild) -> Result<Built> {
    let started = Instant::now();
    let config = project.config()?;
    let q = &config.qemu;
    let sh = &project.sh;
    let acalsim = acalsim::locate(sh, &project.root, q.acalsim.as_deref())?;
    let glue = tree::Glue::in_project(&project.root)?;
    let cache = crate::cache::cache_dir()?.join("qemu");
    crate::cache::remove_leftovers(&cache)?;

    let log_path = project.logs_dir().join("qemu-build.log");
    let mut steps = Steps::new(6, log_path.clone(), project.verbose)?;
    let inputs = steps.step("inputs: compiler, firmware, ACALSim's device", |s| {
        key::Inputs::gather(sh, s, q, &acalsim, &glue)
    })?;
    if let Some(identity) = fetch::pinned_identity(q) {
        let key = inputs.key(&identity);
        if !opts.rebuild {
            if let Some(built) = cached(project, &cache, &key)? {
                eprintln!("qemu: up to date (key {})", &key[..16]);
                return Ok(built);
            }
        }
    }
    let (source, identity) = steps.step("source: fetch and verify", |s| {
        fetch::fetch(sh, s, &project.root, q)
    })?;
    let key = inputs.key(&identity);
    let _building = crate::cache::lock_unit(&cache, &key[..16])?;
    if !opts.rebuild {
        if let Some(built) = cached(project, &cache, &key)? {
            eprintln!("qemu: up to date (key {})", &key[..16]);
            return Ok(built);
        }
    }
    let work = cache.join(format!("work-{}", &key[..16]));
    let (src, build_dir) = (work.join("src"), work.join("build"));
    if work.exists() {
        crate::output::remove_dir(&work)?;
    }
    steps.step("tree: unpack, patches, ACALSim's device and glue", |s| {
        tree::prepare(sh, s, &source, &glue, &acalsim, &src)
    })?;
    steps.step("configure (riscv64-softmmu, 9p, slirp)", |s| {
        configure_tree(s, project, &src, &build_dir, &key)
    })?;
    steps.step("compile qemu-system-riscv64", |s| {
        compile(s, project, &build_dir, &acalsim, &log_path)
    })?;
    let built = steps.step("install into the cache", |s| {
        let partial = cache.join(format!("{}.partial", &key[..16]));
        let installed = install(s, project, &build_dir, &partial, &inputs)?;
        let built = Built {
            binary: cache.join(&key[..16]).join("bin").join(configure::PROGRAM),
            version: installed.version,
            sha256: installed.sha256,
            key: key.clone(),
            source: source.verified.clone(),
            acalsim: acalsim.origin.clone(),
            acalsim_device_sha256: inputs.acalsim_device.clone(),
            firmware_sha256: inputs.firmware_sha256.clone(),
            built_at: crate::output::utc_now(sh),
            build_secs: started.elapsed().as_secs_f64(),
        };
        record::write(&partial.join(record::BUILD_JSON), &built)?;
        crate::output::install(&partial, &cache.join(&key[..16]))?;
        Ok(built)
    })?;
    if !opts.keep_work {
        crate::output::remove_dir(&work)?;
    }
    record::write(&record::pointer(project), &built)?;
    eprintln!(
        "qemu: built in {} ({} steps timed in {})",
        crate::progress::human_duration(started.elapsed().as_secs_f64()),
        steps.timings.len(),
        log_path.display()
    );
    Ok(built)
}

/// The cached build under `key`, recorded as this checkout's QEMU.
fn cached(project: &Project, cache: &Path, key: &str) -> Result<Option<Built>> {
    let record_path = cache.join(&key[..16]).join(record::BUILD_JSON);
    if !record_path.is_file() {
        return Ok(None);
    }
    let built = record::read(&record_path)?;
    if !built.binary.is_file() || built.key != key {
        return Ok(None);
    }
    record::write(&record::pointer(project), &built)?;
    Ok(Some(built))
}

fn configure_tree(
    log: &CommandLog,
    project: &Project,
    src: &Path,
    build_dir: &Path,
    key: &str,
) -> Result<()> {
    let sh = &project.sh;
    std::fs::create_dir_all(build_dir)
        .with_context(|| format!("creating {}", build_dir.display()))?;
    let _dir = sh.push_dir(build_dir);
    let configure = src.join("configure");
    let args = configure::args(&format!("acalsim-{}", &key[..12]));
    log.run(cmd!(sh, "{configure} {args...}"))
        .context("configuring QEMU (`cargo xtask doctor --fix` installs its build dependencies)")
}

/// `ninja` of the one program; progress every 10% where there is no spinner.
/// A compile error in ACALSim's device or the glue says which and why.
fn compile(
    log: &CommandLog,
    project: &Project,
    build_dir: &Path,
    acalsim: &Acalsim,
    log_path: &Path,
) -> Result<()> {
    let sh = &project.sh;
    let jobs = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    let program = configure::PROGRAM;
    let result = log.run_milestones(
        cmd!(sh, "ninja -C {build_dir} -j {jobs} {program}"),
        ninja_milestone,
    );
    if let Err(e) = result {
        let text = std::fs::read_to_string(log_path).unwrap_or_default();
        if let Some(first) = key::first_device_error(&text) {
            bail!(
                "ACALSim's device ({}) does not compile against this QEMU with the project's glue:\n    {first}\n\
                 qemu/acalsim/acalsim-virtio-sst.c bridges QEMU 7.0's API (virtio_init's name argument, \
                 DEFINE_PROP_END_OF_LIST, class_init's const data, set_status's int); a 7.0 API it does not \
                 know needs a line there. Full log: {}",
                acalsim.device_dir().join("virtio-sst.c").display(),
                log_path.display()
            );
        }
        return Err(e);
    }
    Ok(())
}

/// `[1234/2000] Compiling …` → a line at each tenth of the build.
fn ninja_milestone(line: &str) -> Option<String> {
    let (done, total) = line.strip_prefix('[')?.split_once(']')?.0.split_once('/')?;
    let (done, total): (u64, u64) = (done.parse().ok()?, total.parse().ok()?);
    let tenth = (total / 10).max(1);
    (done % tenth == 0 || done == total).then(|| format!("compiled {done}/{total}"))
}

struct Installed {
    version: String,
    sha256: String,
}

/// `bin/qemu-system-riscv64` and `share/qemu/` with OpenSBI's firmware,
/// where QEMU's relocatable data path finds it for `-bios default`.
fn install(
    log: &CommandLog,
    project: &Project,
    build_dir: &Path,
    partial: &Path,
    inputs: &key::Inputs,
) -> Result<Installed> {
    let sh = &project.sh;
    let bin = partial.join("bin");
    let share = partial.join("share/qemu");
    for d in [&bin, &share] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let program: PathBuf = bin.join(configure::PROGRAM);
    std::fs::copy(build_dir.join(configure::PROGRAM), &program)
        .with_context(|| format!("copying {} into {}", configure::PROGRAM, bin.display()))?;
    std::fs::copy(&inputs.firmware, share.join(key::FIRMWARE_NAME))
        .with_context(|| format!("copying {}", inputs.firmware.display()))?;
    let devices = log.read(cmd!(sh, "{program} -machine virt -device help"))?;
    if !devices.contains("\"virtio-sst-device\"") {
        bail!(
            "the built QEMU does not list virtio-sst-device in `-device help`; see the build log"
        );
    }
    let version = log.read(cmd!(sh, "{program} --version"))?;
    Ok(Installed {
        version: version.lines().next().unwrap_or_default().to_string(),
        sha256: crate::cache::sha256_file(&program)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninja_progress_is_reported_at_each_tenth() {
        assert_eq!(
            ninja_milestone("[100/1000] Compiling C object x.o").as_deref(),
            Some("compiled 100/1000")
        );
        assert_eq!(ninja_milestone("[101/1000] Compiling C object x.o"), None);
        assert_eq!(
            ninja_milestone("[1000/1000] Linking target qemu-system-riscv64").as_deref(),
            Some("compiled 1000/1000")
        );
        assert_eq!(ninja_milestone("[3/5] x").as_deref(), Some("compiled 3/5"));
        assert_eq!(ninja_milestone("ninja: Entering directory"), None);
    }
}
