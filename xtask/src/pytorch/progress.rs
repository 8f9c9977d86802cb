//! Progress of the guest build on the host: ninja's `[n/N]` lines become a
//! percentage, the elapsed time and an ETA; every byte goes to the log.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::progress::human_duration;

/// `[123/4567] Building CXX object …` -> (123, 4567).
pub fn ninja_step(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (counts, _) = rest.split_once(']')?;
    let (done, total) = counts.split_once('/')?;
    let (done, total) = (done.trim().parse().ok()?, total.trim().parse().ok()?);
    (total > 0 && done <= total).then_some((done, total))
}

/// Seconds left, from the rate since the first step seen in this run (a
/// resumed build starts at its old count, so only this run's steps count).
pub fn eta_secs(first: (u64, f64), now: (u64, f64), total: u64) -> Option<f64> {
    let (steps, secs) = (now.0.checked_sub(first.0)?, now.1 - first.1);
    (steps > 0 && secs > 0.0).then(|| (total - now.0) as f64 * secs / steps as f64)
}

pub struct Tracker {
    log: File,
    started: Instant,
    first: Option<(u64, f64)>,
    last_report: Option<Instant>,
    partial: Vec<u8>,
    tty: bool,
}

impl Tracker {
    pub fn new(log: &Path) -> Result<Tracker> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        Ok(Tracker {
            log,
            started: Instant::now(),
            first: None,
            last_report: None,
            partial: Vec::new(),
            tty: std::io::stderr().is_terminal(),
        })
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            // Stamped with the seconds since the build started: where the time goes.
            let _ = writeln!(
                self.log,
                "[{:8.1}s] {line}",
                self.started.elapsed().as_secs_f64()
            );
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        let now = self.started.elapsed().as_secs_f64();
        let Some((done, total)) = ninja_step(line) else {
            // Our script's own lines and errors are worth seeing as they come.
            if line.starts_with("build.sh:") || line.contains("error") || line.starts_with("FAILED")
            {
                self.clear();
                eprintln!("{line}");
            }
            return;
        };
        let first = *self.first.get_or_insert((done, now));
        let eta = eta_secs(first, (done, now), total)
            .map(|s| format!(", ETA {}", human_duration(s)))
            .unwrap_or_default();
        let text = format!(
            "[{done}/{total}] {:.0}% after {}{eta}",
            done as f64 * 100.0 / total as f64,
            human_duration(now)
        );
        if self.tty {
            let what = line.split_once(']').map_or("", |(_, w)| w.trim());
            let mut shown = format!("{text} {what}");
            shown.truncate(150);
            eprint!("\r\x1b[K{shown}");
        } else if self
            .last_report
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
            || done == total
        {
            eprintln!("    {text}");
            self.last_report = Some(Instant::now());
        }
    }

    fn clear(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }

    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            let _ = writeln!(
                self.log,
                "[{:8.1}s] {rest}",
                self.started.elapsed().as_secs_f64()
            );
            self.line(&rest);
        }
        if self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninja_lines_are_read_and_others_ignored() {
        assert_eq!(
            ninja_step("[12/345] Building CXX object c10/CMakeFiles/c10.dir/core/Allocator.cpp.o"),
            Some((12, 345))
        );
        assert_eq!(
            ninja_step("  [1/1] Linking CXX shared library lib/libc10.so"),
            Some((1, 1))
        );
        assert_eq!(ninja_step("[0/0] nothing"), None);
        assert_eq!(ninja_step("-- Configuring done"), None);
        assert_eq!(ninja_step("[a/b] x"), None);
    }

    #[test]
    fn eta_uses_only_this_runs_rate() {
        // Resumed at 100 of 300; 10 steps in 20 s -> 190 left at 2 s each.
        assert_eq!(eta_secs((100, 5.0), (110, 25.0), 300), Some(380.0));
        assert_eq!(
            eta_secs((100, 5.0), (100, 9.0), 300),
            None,
            "no step done yet"
        );
    }
}
