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
            log: CommandLog {
                path: self.log.clone(),
                verbose: self.verbose,
                bar: bar.clone(),
            },
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

/// What a running step can do: report a detail, and (through [`CommandLog`],
/// which it dereferences to) run logged commands.
pub struct Step {
    log: CommandLog,
}

impl Step {
    pub fn say(&self, msg: &str) {
        self.log.bar.set_message(msg.to_string());
        let _ = append(&self.log.path, &format!("{msg}\n"));
    }
}

// A step is where a build's commands run; deref lets every helper that
// takes `&CommandLog` take the step itself.
impl std::ops::Deref for Step {
    type Target = CommandLog;
    fn deref(&self) -> &CommandLog {
        &self.log
    }
}

/// A build's log file: every command a build runs goes through here, so the
/// log has each command line and its output, each line stamped.
#[derive(Clone)]
pub struct CommandLog {
    path: PathBuf,
    verbose: bool,
    /// The spinner the latest output line shows on (hidden outside a step).
    bar: ProgressBar,
}

impl CommandLog {
    /// Appends to `path` (created with its directory): for work that runs
    /// outside a step, such as the native helper on its own thread.
    pub fn append_to(path: &Path, verbose: bool) -> Result<CommandLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        File::options()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening log {}", path.display()))?;
        Ok(CommandLog {
            path: path.to_path_buf(),
            verbose,
            bar: ProgressBar::hidden(),
        })
    }

    /// Runs `cmd` with stdout and stderr appended to the log; the latest
    /// line shows on the spinner. A failure names the command and quotes its tail.
    pub fn run(&self, cmd: xshell::Cmd<'_>) -> Result<()> {
        self.exec(cmd, |_| None, false).map(drop)
    }

    /// Like [`CommandLog::run`]; lines `milestone` picks out are also reported
    /// as progress where there is no spinner (CI, pipes), stamped with the time.
    pub fn run_milestones(
        &self,
        cmd: xshell::Cmd<'_>,
        milestone: fn(&str) -> Option<String>,
    ) -> Result<()> {
        self.exec(cmd, milestone, false).map(drop)
    }

    /// Runs `cmd` and returns its stdout, trimmed; the command line, its
    /// stderr and its stdout go to the log as well.
    pub fn read(&self, cmd: xshell::Cmd<'_>) -> Result<String> {
        self.exec(cmd, |_| None, true)
    }

    fn exec(
        &self,
        cmd: xshell::Cmd<'_>,
        milestone: fn(&str) -> Option<String>,
        capture: bool,
    ) -> Result<String> {
        let shown = cmd.to_string();
        append(&self.path, &format!("$ {shown}\n"))?;
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
                .open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?,
        ));
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let captured = Arc::new(Mutex::new(String::new()));
        let started = Instant::now();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| (Box::new(s) as Box<dyn Read + Send>, capture)),
            child
                .stderr
                .take()
                .map(|s| (Box::new(s) as Box<dyn Read + Send>, false)),
        ]
        .into_iter()
        .flatten()
        .map(|(stream, keep)| {
            let lines = StampedLines {
                log: log.clone(),
                tail: tail.clone(),
                bar: self.bar.clone(),
                captured: keep.then(|| captured.clone()),
                started,
                milestone,
            };
            std::thread::spawn(move || lines.copy(stream))
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
                self.path.display()
            );
        }
        let stdout = captured
            .lock()
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        Ok(stdout)
    }
}

/// Where one output stream of a command goes, line by line.
struct StampedLines {
    log: Arc<Mutex<File>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    bar: ProgressBar,
    /// stdout of a [`CommandLog::read`], kept whole for the caller.
    captured: Option<Arc<Mutex<String>>>,
    started: Instant,
    milestone: fn(&str) -> Option<String>,
}

impl StampedLines {
    /// Copies a child's output to the log, each line stamped with the seconds
    /// since the command started: that is how a slow package or hook is found.
    fn copy(self, stream: Box<dyn Read + Send>) {
        for line in BufReader::new(stream).split(b'\n').map_while(|l| l.ok()) {
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let secs = self.started.elapsed().as_secs_f64();
            if let Ok(mut f) = self.log.lock() {
                let _ = writeln!(f, "[{secs:7.1}s] {line}");
            }
            if let Some(captured) = &self.captured {
                if let Ok(mut c) = captured.lock() {
                    c.push_str(&line);
                    c.push('\n');
                }
            }
            if !line.is_empty() {
                self.bar.set_message(line.clone());
            }
            if self.bar.is_hidden() {
                if let Some(m) = (self.milestone)(&line) {
                    eprintln!("    [{}] {m}", human_duration(secs));
                }
            }
            if let Ok(mut t) = self.tail.lock() {
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
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
    fn read_returns_stdout_and_logs_the_command_and_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/log");
        let log = CommandLog::append_to(&path, false).unwrap();
        let sh = xshell::Shell::new().unwrap();
        let out = log
            .read(xshell::cmd!(sh, "sh -c 'echo out-line; echo err-line >&2'"))
            .unwrap();
        assert_eq!(out, "out-line");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("$ sh -c") && text.contains("] out-line") && text.contains("] err-line"),
            "{text}"
        );
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
