//! Suite `boot`: `cargo xtask run -- true` from start to exit (fast boot, full
//! systemd boot, initramfs when the image has one), the time to the login
//! prompt of an interactive boot, and `run --warm -- true` beside the fast
//! boot (bench/warm.rs).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::results::{self, Figure, Goal, Suite};
use super::warm;
use crate::flags;
use crate::progress::human_duration;
use crate::project::Project;

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let sh = &project.sh;
    let config = project.config()?;
    let name = config.image(flags.image.as_deref())?.name.clone();
    let guest = results::guest(project, &name, None, None)?;
    let m = crate::manifest::Manifest::read(&project.images_dir().join(&name))?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config_path = &project.config_path;
    let repeat = flags.repeats();
    let mut figures = Vec::new();

    let mut headless = |label: &str, extra: &[&str], goal: Option<f64>| -> Result<()> {
        let mut samples = Vec::new();
        for i in 0..repeat {
            let t = Instant::now();
            cmd!(
                sh,
                "{exe} --config {config_path} run {name} {extra...} -- true"
            )
            .quiet()
            .run()
            .with_context(|| format!("bench: `run {name} {} -- true` failed", extra.join(" ")))?;
            samples.push(t.elapsed().as_secs_f64());
            eprintln!(
                "bench: {label} #{}: {}",
                i + 1,
                human_duration(samples[samples.len() - 1])
            );
        }
        figures.push(Figure::new(label, samples, "s", goal.map(Goal::AtMost)));
        Ok(())
    };
    headless("boot → headless `true` (fast boot)", &[], Some(8.0))?;
    if m.rootfs.contains_key("initramfs") {
        headless(
            "boot → headless `true` (initramfs, fast boot)",
            &["--initramfs"],
            None,
        )?;
    }
    // The systemd boots take ~4x the fast one under TCG: not in --quick.
    if !flags.quick {
        headless(
            "boot → headless `true` (full systemd boot)",
            &["--boot", "full"],
            None,
        )?;
        figures.push(login_prompt_figure(project, &exe, &name, repeat)?);
    }
    if !flags.no_warm {
        let fast_boot = figures[0].samples.clone();
        figures.extend(warm::figures(
            project,
            &name,
            "whole run `true`",
            &["true".into()],
            Some(&fast_boot),
            repeat,
            Some(Goal::AtMost(0.15)),
        )?);
    }
    Ok(Suite {
        suite: "boot".into(),
        image: name,
        guest: Some(guest),
        figures,
    })
}

/// `repeat` interactive boots to the login prompt.
fn login_prompt_figure(project: &Project, exe: &Path, name: &str, repeat: usize) -> Result<Figure> {
    let mut samples = Vec::new();
    for i in 0..repeat {
        samples.push(login_prompt_secs(project, exe, name)?);
        eprintln!(
            "bench: login prompt #{}: {}",
            i + 1,
            human_duration(samples[samples.len() - 1])
        );
    }
    Ok(Figure::new(
        "boot → login prompt (interactive)",
        samples,
        "s",
        None,
    ))
}

/// An interactive `cargo xtask run` until the console shows `login:`; then
/// SIGTERM, which `run` answers by stopping QEMU.
fn login_prompt_secs(project: &Project, exe: &Path, name: &str) -> Result<f64> {
    use std::io::Read;
    let config_path = &project.config_path;
    let mut child =
        std::process::Command::from(cmd!(project.sh, "{exe} --config {config_path} run {name}"))
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
        bail!(
            "the interactive boot of `{name}` ended without a login prompt:\n{}",
            String::from_utf8_lossy(&console)
        );
    }
    Ok(secs)
}
