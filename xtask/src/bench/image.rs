//! Suite `image`: the plain mmdebstrap command equivalent to the default image,
//! then our cold build (empty cache), the no-change re-run, and the same image
//! with one extra package, all in one run so the ratios compare like with like.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use super::results::{Figure, Goal, Suite};
use crate::config::{Debian, Image};
use crate::debian::Inputs;
use crate::flags;
use crate::manifest::Manifest;
use crate::progress::{human_bytes, human_duration};
use crate::project::Project;

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let config = project.config()?;
    let image = config.image(flags.image.as_deref())?.clone();
    let debian = image
        .debian()
        .with_context(|| format!("bench image: image `{}` is not a Debian image", image.name))?;
    let inputs = Inputs::load(project, &image, debian)?;
    let cx = SuiteContext::new(project)?;
    let mut figures = Vec::new();

    let plain_secs = if flags.skip_plain {
        None
    } else {
        Some(plain_mmdebstrap(&cx, debian, &inputs, &mut figures)?)
    };
    let cold = cold_build(&cx, &image.name, plain_secs, &mut figures)?;
    no_change_rerun(&cx, &image.name, &mut figures)?;
    add_one_package(
        &cx,
        &image,
        debian,
        &flags.extra_package,
        cold,
        &mut figures,
    )?;
    Ok(Suite {
        suite: "image".into(),
        image: image.name,
        guest: None,
        figures,
    })
}

/// What every step shares: the xtask binary, and a scratch directory whose
/// empty `cache/` our builds get, so their downloads count as the plain
/// run's do.
struct SuiteContext<'a> {
    project: &'a Project,
    exe: PathBuf,
    scratch: tempfile::TempDir,
    cache: PathBuf,
}

impl SuiteContext<'_> {
    fn new(project: &Project) -> Result<SuiteContext<'_>> {
        let exe = std::env::current_exe().context("locating the xtask binary")?;
        let scratch = tempfile::Builder::new()
            .prefix("acalsim-bench-")
            .tempdir()
            .context("creating a scratch dir")?;
        let cache = scratch.path().join("cache");
        Ok(SuiteContext {
            project,
            exe,
            scratch,
            cache,
        })
    }
}

/// Step 1: the plain command a user would type, cold apt cache, no tricks;
/// returns its seconds.
fn plain_mmdebstrap(
    cx: &SuiteContext,
    debian: &Debian,
    inputs: &Inputs,
    figures: &mut Vec<Figure>,
) -> Result<f64> {
    let sh = &cx.project.sh;
    let mut include = inputs.base_packages.clone();
    include.push("initramfs-tools".into());
    let include = format!("--include={}", include.join(","));
    let tar = cx.scratch.path().join("plain.tar");
    let (suite, mirror) = (&debian.suite, &debian.mirror);
    let valid_until = crate::debian::check_valid_until(sh, debian);
    let aptopt: Vec<&str> = if valid_until {
        vec![]
    } else {
        vec![r#"--aptopt=Acquire::Check-Valid-Until "false""#]
    };
    eprintln!(
        "bench: plain mmdebstrap ({} packages)",
        inputs.base_packages.len()
    );
    let t = Instant::now();
    cmd!(sh, "mmdebstrap --mode=root --variant=minbase --architectures=riscv64 {aptopt...} {include} {suite} {tar} {mirror}")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .context("plain mmdebstrap failed")?;
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&tar).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_file(&tar).ok();
    eprintln!(
        "bench: plain mmdebstrap {} ({} tar)",
        human_duration(secs),
        human_bytes(size)
    );
    figures.push(Figure::single("plain mmdebstrap", secs, "s", None));
    figures.push(Figure::single(
        "plain mmdebstrap tar size",
        mib(size),
        "MiB",
        None,
    ));
    Ok(secs)
}

/// Step 2: our cold build (`--no-cache`, empty cache) against the plain run, and
/// the sizes of what it made; returns its seconds.
fn cold_build(
    cx: &SuiteContext,
    name: &str,
    plain_secs: Option<f64>,
    figures: &mut Vec<Figure>,
) -> Result<f64> {
    let (exe, config_path) = (&cx.exe, &cx.project.config_path);
    let t = Instant::now();
    cmd!(
        cx.project.sh,
        "{exe} --config {config_path} image {name} --no-cache"
    )
    .env("XDG_CACHE_HOME", &cx.cache)
    .run()?;
    let cold = t.elapsed().as_secs_f64();
    figures.push(Figure::single("cold build", cold, "s", None));
    if let Some(plain) = plain_secs {
        figures.push(Figure::single(
            "cold build / plain mmdebstrap",
            cold / plain,
            "x",
            Some(Goal::AtMost(0.6)),
        ));
    }
    let m = Manifest::read(&cx.project.images_dir().join(name))?;
    figures.push(Figure::single(
        "ext4 in use",
        mib(m.build.rootfs_used_bytes),
        "MiB",
        None,
    ));
    if let Some(q) = m.rootfs.get("qcow2") {
        figures.push(Figure::single("qcow2 size", mib(q.size), "MiB", None));
    }
    if let Some(initrd) = &m.initrd {
        figures.push(Figure::single("initrd size", mib(initrd.size), "MiB", None));
    }
    Ok(cold)
}

/// Step 3: nothing changed: the whole `cargo xtask image` invocation, as users
/// type it (after a build, so a source edit during the bench is not timed).
fn no_change_rerun(cx: &SuiteContext, name: &str, figures: &mut Vec<Figure>) -> Result<()> {
    let (sh, config_path) = (&cx.project.sh, &cx.project.config_path);
    cmd!(sh, "cargo build --quiet --package xtask")
        .run()
        .context("building xtask")?;
    let t = Instant::now();
    cmd!(sh, "cargo xtask --config {config_path} image {name}")
        .env("XDG_CACHE_HOME", &cx.cache)
        .quiet()
        .run()?;
    let warm = t.elapsed().as_secs_f64();
    figures.push(Figure::single(
        "no-change re-run",
        warm,
        "s",
        Some(Goal::AtMost(2.0)),
    ));
    Ok(())
}

/// Step 4: one package more, on the cached base layer: an image extending ours,
/// in a copy of the config; the image is removed afterwards.
fn add_one_package(
    cx: &SuiteContext,
    image: &Image,
    debian: &Debian,
    package: &str,
    cold: f64,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let (exe, config_path) = (&cx.exe, &cx.project.config_path);
    let add_one = cx.scratch.path().join("add-one.toml");
    let base_text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let extra = format!(
        "{base_text}\n[images.bench-add-one]\nextends = \"{}\"\nextra_packages = {:?}\n",
        image.name,
        [debian.extra_packages.clone(), vec![package.to_string()]].concat()
    );
    std::fs::write(&add_one, extra).with_context(|| format!("writing {}", add_one.display()))?;
    let t = Instant::now();
    cmd!(
        cx.project.sh,
        "{exe} --config {add_one} image bench-add-one"
    )
    .env("XDG_CACHE_HOME", &cx.cache)
    .run()?;
    let add = t.elapsed().as_secs_f64();
    figures.push(Figure::single("add one package", add, "s", None));
    figures.push(Figure::single(
        "add one package / cold build",
        add / cold,
        "x",
        Some(Goal::AtMost(0.3)),
    ));
    remove_dir(&cx.project.images_dir().join("bench-add-one"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}
