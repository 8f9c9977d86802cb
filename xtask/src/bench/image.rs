//! Suite `image`: the plain mmdebstrap command equivalent to the default image,
//! then our cold build (empty cache), the no-change re-run, and the same image
//! with one extra package, all in one run so the ratios compare like with like.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use super::results::{Figure, Goal, Suite};
use crate::flags;
use crate::image::Inputs;
use crate::manifest::Manifest;
use crate::progress::{human_bytes, human_duration};
use crate::project::Project;

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let sh = &project.sh;
    let config = project.config()?;
    let image = config.image(flags.image.as_deref())?.clone();
    let inputs = Inputs::load(project, &image)?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let scratch = tempfile::Builder::new()
        .prefix("acalsim-bench-")
        .tempdir()
        .context("creating a scratch dir")?;
    let mut figures = Vec::new();

    // 1. The plain command a user would type, cold apt cache, no tricks.
    let plain_secs = if flags.skip_plain {
        None
    } else {
        let mut include = inputs.base_packages.clone();
        include.push("initramfs-tools".into());
        let include = format!("--include={}", include.join(","));
        let tar = scratch.path().join("plain.tar");
        let (suite, mirror) = (&image.suite, &image.mirror);
        let valid_until = crate::debian::check_valid_until(sh, &image);
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
            size as f64 / (1 << 20) as f64,
            "MiB",
            None,
        ));
        Some(secs)
    };

    // 2. Our cold build: an empty user cache, so downloads are included as above.
    let cache = scratch.path().join("cache");
    let config_path = &project.config_path;
    let name = image.name.clone();
    let build = |args: &[&str]| -> Result<f64> {
        let t = Instant::now();
        cmd!(sh, "{exe} --config {config_path} image {args...}")
            .env("XDG_CACHE_HOME", &cache)
            .run()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let cold = build(&[&name, "--no-cache"])?;
    let ratio = plain_secs.map(|p| cold / p);
    figures.push(Figure::single("cold build", cold, "s", None));
    if let Some(r) = ratio {
        figures.push(Figure::single(
            "cold build / plain mmdebstrap",
            r,
            "x",
            Some(Goal::AtMost(0.6)),
        ));
    }
    let m = Manifest::read(&project.images_dir().join(&name))?;
    figures.push(Figure::single(
        "ext4 in use",
        m.build.rootfs_used_bytes as f64 / (1 << 20) as f64,
        "MiB",
        None,
    ));
    if let Some(q) = m.rootfs.get("qcow2") {
        figures.push(Figure::single(
            "qcow2 size",
            q.size as f64 / (1 << 20) as f64,
            "MiB",
            None,
        ));
    }
    if let Some(initrd) = &m.initrd {
        figures.push(Figure::single(
            "initrd size",
            initrd.size as f64 / (1 << 20) as f64,
            "MiB",
            None,
        ));
    }

    // 3. Nothing changed: the whole `cargo xtask image` invocation, as users
    // type it (after a build, so a source edit during the bench is not timed).
    cmd!(sh, "cargo build --quiet --package xtask")
        .run()
        .context("building xtask")?;
    let t = Instant::now();
    cmd!(sh, "cargo xtask --config {config_path} image {name}")
        .env("XDG_CACHE_HOME", &cache)
        .quiet()
        .run()?;
    let warm = t.elapsed().as_secs_f64();
    figures.push(Figure::single(
        "no-change re-run",
        warm,
        "s",
        Some(Goal::AtMost(2.0)),
    ));

    // 4. One package more, on the cached base layer.
    let add_one = scratch.path().join("add-one.toml");
    let base_text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let extra = format!(
        "{base_text}\n[images.bench-add-one]\nextends = \"{name}\"\nextra_packages = {:?}\n",
        [
            image.extra_packages.clone(),
            vec![flags.extra_package.clone()]
        ]
        .concat()
    );
    std::fs::write(&add_one, extra).with_context(|| format!("writing {}", add_one.display()))?;
    let t = Instant::now();
    cmd!(sh, "{exe} --config {add_one} image bench-add-one")
        .env("XDG_CACHE_HOME", &cache)
        .run()?;
    let add = t.elapsed().as_secs_f64();
    figures.push(Figure::single("add one package", add, "s", None));
    figures.push(Figure::single(
        "add one package / cold build",
        add / cold,
        "x",
        Some(Goal::AtMost(0.3)),
    ));
    remove_dir(&project.images_dir().join("bench-add-one"))?;

    Ok(Suite {
        suite: "image".into(),
        image: name,
        guest: None,
        figures,
    })
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}
