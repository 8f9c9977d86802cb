//! `cargo xtask bench`: the speed and size figures the project promises,
//! measured on this machine and written to `target/xtask/bench/<time>.json`.
//!
//! Suite `image`: the plain mmdebstrap command equivalent to the default image,
//! then our cold build (empty cache), the no-change re-run, and the same image
//! with one extra package, all in one run so the ratios compare like with like.
//!
//! Suite `boot`: `cargo xtask run -- true` from start to exit (fast boot, full
//! systemd boot, initramfs when the image has one) and the time to the login
//! prompt of an interactive boot, each repeated; min, median and max.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::cmd;

use crate::flags;
use crate::image::Inputs;
use crate::manifest::Manifest;
use crate::progress::{human_bytes, human_duration};
use crate::project::Project;

pub const SUITES: &[&str] = &["image", "boot"];

#[derive(Serialize)]
struct Results {
    suite: String,
    image: String,
    created: String,
    machine: Machine,
    figures: Vec<Figure>,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    /// The tool the suite measures: mmdebstrap (image) or QEMU (boot).
    tool: String,
}

#[derive(Serialize)]
struct Figure {
    name: String,
    /// The median of `samples`.
    value: f64,
    unit: String,
    min: f64,
    max: f64,
    samples: Vec<f64>,
    /// Goal as text, e.g. "<= 0.6x plain", and whether it was met.
    goal: Option<String>,
    met: Option<bool>,
}

pub fn run(project: &Project, flags: &flags::Bench) -> Result<()> {
    for suite in &flags.suites {
        if !SUITES.contains(&suite.as_str()) {
            bail!("unknown bench suite `{suite}`; valid: {}", SUITES.join(", "));
        }
    }
    for suite in &flags.suites {
        match suite.as_str() {
            "image" => image_suite(project, flags)?,
            "boot" => boot_suite(project, flags)?,
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}

fn image_suite(project: &Project, flags: &flags::Bench) -> Result<()> {
    let sh = &project.sh;
    let config = project.config()?;
    let image = config.image(flags.image.as_deref())?.clone();
    let inputs = Inputs::load(project, &image)?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let scratch = tempfile::Builder::new().prefix("acalsim-bench-").tempdir().context("creating a scratch dir")?;
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
        let aptopt: Vec<&str> = if valid_until { vec![] } else { vec![r#"--aptopt=Acquire::Check-Valid-Until "false""#] };
        eprintln!("bench: plain mmdebstrap ({} packages)", inputs.base_packages.len());
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
        eprintln!("bench: plain mmdebstrap {} ({} tar)", human_duration(secs), human_bytes(size));
        figures.push(figure("plain mmdebstrap", secs, "s", None, None));
        figures.push(figure("plain mmdebstrap tar size", size as f64 / (1 << 20) as f64, "MiB", None, None));
        Some(secs)
    };

    // 2. Our cold build: an empty user cache, so downloads are included as above.
    let cache = scratch.path().join("cache");
    let config_path = &project.config_path;
    let name = image.name.clone();
    let build = |args: &[&str]| -> Result<f64> {
        let t = Instant::now();
        cmd!(sh, "{exe} --config {config_path} image {args...}").env("XDG_CACHE_HOME", &cache).run()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let cold = build(&[&name, "--no-cache"])?;
    let ratio = plain_secs.map(|p| cold / p);
    figures.push(figure("cold build", cold, "s", None, None));
    if let Some(r) = ratio {
        figures.push(figure("cold build / plain mmdebstrap", r, "x", Some("<= 0.6x"), Some(r <= 0.6)));
    }
    let m = Manifest::read(&project.images_dir().join(&name))?;
    figures.push(figure("ext4 in use", m.build.rootfs_used_bytes as f64 / (1 << 20) as f64, "MiB", None, None));
    if let Some(q) = m.rootfs.get("qcow2") {
        figures.push(figure("qcow2 size", q.size as f64 / (1 << 20) as f64, "MiB", None, None));
    }
    if let Some(initrd) = &m.initrd {
        figures.push(figure("initrd size", initrd.size as f64 / (1 << 20) as f64, "MiB", None, None));
    }

    // 3. Nothing changed: the whole `cargo xtask image` invocation, as users
    // type it (after a build, so a source edit during the bench is not timed).
    cmd!(sh, "cargo build --quiet --package xtask").run().context("building xtask")?;
    let t = Instant::now();
    cmd!(sh, "cargo xtask --config {config_path} image {name}").env("XDG_CACHE_HOME", &cache).quiet().run()?;
    let warm = t.elapsed().as_secs_f64();
    figures.push(figure("no-change re-run", warm, "s", Some("<= 2 s"), Some(warm <= 2.0)));

    // 4. One package more, on the cached base layer.
    let add_one = scratch.path().join("add-one.toml");
    let base_text = std::fs::read_to_string(config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let extra = format!(
        "{base_text}\n[images.bench-add-one]\nextends = \"{name}\"\nextra_packages = {:?}\n",
        [image.extra_packages.clone(), vec![flags.extra_package.clone()]].concat()
    );
    std::fs::write(&add_one, extra).with_context(|| format!("writing {}", add_one.display()))?;
    let t = Instant::now();
    cmd!(sh, "{exe} --config {add_one} image bench-add-one").env("XDG_CACHE_HOME", &cache).run()?;
    let add = t.elapsed().as_secs_f64();
    figures.push(figure("add one package", add, "s", None, None));
    figures.push(figure("add one package / cold build", add / cold, "x", Some("<= 0.3x"), Some(add / cold <= 0.3)));
    remove_dir(&project.images_dir().join("bench-add-one"))?;

    let tool = cmd!(sh, "mmdebstrap --version").quiet().read().unwrap_or_default();
    write_results(project, &results(project, "image", name, tool, figures))
}

/// A suite's results with the time and the machine they were measured on.
fn results(project: &Project, suite: &str, image: String, tool: String, figures: Vec<Figure>) -> Results {
    Results {
        suite: suite.into(),
        image,
        created: cmd!(project.sh, "date -u +%Y-%m-%dT%H:%M:%SZ").quiet().read().unwrap_or_default(),
        machine: Machine {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            tool,
        },
        figures,
    }
}

fn figure(name: &str, value: f64, unit: &str, goal: Option<&str>, met: Option<bool>) -> Figure {
    sampled(name, vec![value], unit, goal, met)
}

/// A figure from repeated measurements: the median, with min and max.
fn sampled(name: &str, mut samples: Vec<f64>, unit: &str, goal: Option<&str>, met: Option<bool>) -> Figure {
    samples.sort_by(f64::total_cmp);
    let value = median(&samples);
    let (min, max) = (samples.first().copied().unwrap_or(f64::NAN), samples.last().copied().unwrap_or(f64::NAN));
    Figure { name: name.into(), value, unit: unit.into(), min, max, samples, goal: goal.map(String::from), met }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn boot_suite(project: &Project, flags: &flags::Bench) -> Result<()> {
    let sh = &project.sh;
    let config = project.config()?;
    let name = config.image(flags.image.as_deref())?.name.clone();
    let m = Manifest::read(&project.images_dir().join(&name))
        .with_context(|| format!("bench boot needs the image built: `cargo xtask image {name}`"))?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config_path = &project.config_path;
    let repeat = flags.repeat.max(1);
    let mut figures = Vec::new();

    let mut headless = |label: &str, extra: &[&str], goal: Option<f64>| -> Result<()> {
        let mut samples = Vec::new();
        for i in 0..repeat {
            let t = Instant::now();
            cmd!(sh, "{exe} --config {config_path} run {name} {extra...} -- true")
                .quiet()
                .run()
                .with_context(|| format!("bench: `run {name} {} -- true` failed", extra.join(" ")))?;
            samples.push(t.elapsed().as_secs_f64());
            eprintln!("bench: {label} #{}: {}", i + 1, human_duration(samples[samples.len() - 1]));
        }
        let goal_text = goal.map(|g| format!("<= {g} s"));
        let met = goal.map(|g| median_of(&samples) <= g);
        figures.push(sampled(label, samples, "s", goal_text.as_deref(), met));
        Ok(())
    };
    headless("boot → headless `true` (fast boot)", &[], Some(8.0))?;
    headless("boot → headless `true` (full systemd boot)", &["--boot", "full"], None)?;
    if m.rootfs.contains_key("initramfs") {
        headless("boot → headless `true` (initramfs, fast boot)", &["--initramfs"], None)?;
    }
    let mut samples = Vec::new();
    for i in 0..repeat {
        samples.push(login_prompt_secs(project, &exe, &name)?);
        eprintln!("bench: login prompt #{}: {}", i + 1, human_duration(samples[samples.len() - 1]));
    }
    figures.push(sampled("boot → login prompt (interactive)", samples, "s", None, None));

    let qemu = cmd!(sh, "qemu-system-riscv64 --version").quiet().read().unwrap_or_default();
    let tool = qemu.lines().next().unwrap_or("").to_string();
    write_results(project, &results(project, "boot", name, tool, figures))
}

fn median_of(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    median(&sorted)
}

/// An interactive `cargo xtask run` until the console shows `login:`; then
/// SIGTERM, which `run` answers by stopping QEMU.
fn login_prompt_secs(project: &Project, exe: &Path, name: &str) -> Result<f64> {
    use std::io::Read;
    let config_path = &project.config_path;
    let mut child = std::process::Command::from(cmd!(project.sh, "{exe} --config {config_path} run {name}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting an interactive run")?;
    let t = Instant::now();
    let mut stdout = child.stdout.take().context("the run's stdout")?;
    let mut console = Vec::new();
    let mut buf = [0u8; 4096];
    let found = loop {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break false,
            Ok(n) => console.extend_from_slice(&buf[..n]),
        }
        if console.windows(6).any(|w| w == b"login:") {
            break true;
        }
    };
    let secs = t.elapsed().as_secs_f64();
    // SAFETY: kill(2) on our own, not yet reaped child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    if !found {
        bail!("the interactive boot of `{name}` ended without a login prompt:\n{}", String::from_utf8_lossy(&console));
    }
    Ok(secs)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_else(|| "unknown".into())
}

fn write_results(project: &Project, results: &Results) -> Result<()> {
    let dir = project.xtask_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = results.created.replace(':', "");
    let json = dir.join(format!("{stamp}-{}.json", results.suite));
    std::fs::write(&json, serde_json::to_string_pretty(results)? + "\n").with_context(|| format!("writing {}", json.display()))?;
    let table = markdown(results);
    std::fs::write(json.with_extension("md"), &table).with_context(|| format!("writing {}", json.display()))?;
    println!("{table}");
    eprintln!("results: {}", json.display());
    Ok(())
}

fn markdown(r: &Results) -> String {
    let mut s = format!(
        "## bench `{}` — image `{}`, {}\n\n{} ({} cores), {}\n\n| figure | value | goal |\n|---|---|---|\n",
        r.suite, r.image, r.created, r.machine.cpu, r.machine.cores, r.machine.tool
    );
    for f in &r.figures {
        let show = |v: f64| match f.unit.as_str() {
            "s" if v < 60.0 => format!("{v:.1} s"),
            "s" => human_duration(v),
            "x" => format!("{v:.2}x"),
            unit => format!("{v:.1} {unit}"),
        };
        let mut value = show(f.value);
        if f.samples.len() > 1 {
            value = format!("{value} (min {}, max {}, n={})", show(f.min), show(f.max), f.samples.len());
        }
        let goal = match (&f.goal, f.met) {
            (Some(g), Some(true)) => format!("{g} ✓"),
            (Some(g), _) => format!("{g} ✗"),
            _ => String::new(),
        };
        s.push_str(&format!("| {} | {value} | {goal} |\n", f.name));
    }
    s
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}
