//! Progress on the terminal for long steps, full output in a log file.
//!
//! On a terminal each step shows a spinner with its elapsed time and the
//! latest line the tool printed; elsewhere (CI, pipes) it prints one line when
//! a step starts and one when it ends. Either way every byte a tool prints goes
//! to the log, and a failure quotes the last lines of it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

const TAIL_LINES: usize = 25;

pub struct Steps {
    total: usize,
    done: usize,
    started: Instant,
    pub log: PathBuf,
    pub timings: Vec<(String, f64)>,
    verbose: bool,
}

impl Steps {
    /// `verbose` echoes every command to the terminal as well as the log.
    pub fn new(total: usize, log: PathBuf, verbose: bool) -> Result<Steps> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        File::create(&log).with_context(|| format!("creating log {}", log.display()))?;
        eprintln!("    full log: {}", log.display());
        Ok(Steps {
            total,
            done: 0,
            started: Instant::now(),
            log,
            timings: Vec::new(),
            verbose,
        })
    }

    /// Runs one step, showing `title` and how long it takes.
    pub fn step<T>(&mut self, title: &str, f: impl FnOnce(&Step) -> Result<T>) -> Result<T> {
        self.done += 1;
        let prefix = format!("[{}/{}]", self.done, self.total);
        let bar = ProgressBar::new_spinner();
        let tty = !bar.is_hidden();
        if tty {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                    .expect("static template"),
            );
            bar.set_prefix(format!("{prefix} {title}"));
            bar.enable_steady_tick(Duration::from_millis(200));
        } else {
            eprintln!("==> {prefix} {title}");
        }
        append(&self.log, &format!("\n==> {prefix} {title}\n"))?;
        let started = Instant::now();
        let result = f(&Step {
            bar: bar.clone(),
            log: self.log.clone(),
            verbose: self.verbose,
        });
        let secs = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let status = if result.is_ok() { "done" } else { "FAILED" };
        eprintln!("    {prefix} {title}: {status} in {}", human_duration(secs));
        self.timings.push((title.to_string(), secs));
        result
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// What a running step can do: report a detail, run a logged command.
pub struct Step {
    bar: ProgressBar,
    log: PathBuf,
    verbose: bool,
}

impl Step {
    pub fn say(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
        let _ = append(&self.log, &format!("{msg}\n"));
    }

    /// Runs `cmd` with stdout and stderr appended to the step log; the latest
    /// line shows on the spinner. A failure names the command and quotes its tail.
    pub fn run(&self, cmd: xshell::Cmd<'_>) -> Result<()> {
        self.run_milestones(cmd, |_| None)
    }

    /// Like [`Step::run`]; lines `milestone` picks out are also reported as
    /// progress where there is no spinner (CI, pipes), stamped with the time.
    pub fn run_milestones(
        &self,
        cmd: xshell::Cmd<'_>,
        milestone: fn(&str) -> Option<String>,
    ) -> Result<()> {
        let shown = cmd.to_string();
        append(&self.log, &format!("$ {shown}\n"))?;
        if self.verbose {
            self.bar.suspend(|| eprintln!("$ {shown}"));
        }
        let mut command: std::process::Command = cmd.into();
        command.stdin(std::process::Stdio::null());
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting `{shown}`"))?;
        let log = Arc::new(Mutex::new(
            File::options()
                .append(true)
                .open(&self.log)
                .with_context(|| format!("opening {}", self.log.display()))?,
        ));
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let started = Instant::now();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|stream| {
            let (log, tail, bar) = (log.clone(), tail.clone(), self.bar.clone());
            std::thread::spawn(move || pump(stream, started, &log, &tail, &bar, milestone))
        })
        .collect();
        let status = child
            .wait()
            .with_context(|| format!("waiting for `{shown}`"))?;
        for r in readers {
            let _ = r.join();
        }
        if !status.success() {
            let tail = tail
                .lock()
                .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            bail!(
                "`{shown}` failed ({status}); last lines of {}:\n{tail}",
                self.log.display()
            );
        }
        Ok(())
    }
}

/// Copies a child's output to the log, each line stamped with the seconds since
/// the command started: that is how a slow package or hook is found afterwards.
fn pump(
    stream: Box<dyn Read + Send>,
    started: Instant,
    log: &Mutex<File>,
    tail: &Mutex<VecDeque<String>>,
    bar: &ProgressBar,
    milestone: fn(&str) -> Option<String>,
) {
    for line in BufReader::new(stream).split(b'\n').map_while(|l| l.ok()) {
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if let Ok(mut f) = log.lock() {
            let _ = writeln!(f, "[{:7.1}s] {line}", started.elapsed().as_secs_f64());
        }
        if !line.is_empty() {
            bar.set_message(line.clone());
        }
        if bar.is_hidden() {
            if let Some(m) = milestone(&line) {
                eprintln!(
                    "    [{}] {m}",
                    human_duration(started.elapsed().as_secs_f64())
                );
            }
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

fn append(log: &Path, text: &str) -> Result<()> {
    let mut f = File::options()
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", log.display()))
}

pub fn human_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(human_duration(1.23), "1.2s");
        assert_eq!(human_duration(648.0), "10m48s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(457 << 20), "457.0 MiB");
    }

    #[test]
    fn failed_command_quotes_its_output_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut steps = Steps::new(1, log.clone(), false).unwrap();
        let sh = xshell::Shell::new().unwrap();
        let err = steps
            .step("fail", |s| {
                s.run(xshell::cmd!(sh, "sh -c 'echo visible-line; exit 3'"))
            })
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("visible-line") && msg.contains("exit status: 3"),
            "{msg}"
        );
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("visible-line"));
    }
}
