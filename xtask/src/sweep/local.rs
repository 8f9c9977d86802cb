//! The points run on this machine, `jobs` sessions at once, each a thread
//! calling `point::run`. With `warm`, the first point runs alone: it saves
//! the snapshot every other point restores. A progress bar counts points
//! done, failed and running, with the ETA; Ctrl-C stops every running
//! session (each run stops its own QEMU and SST side), and the points it
//! stopped are left missing for the next run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::plan::Point;
use super::point::{self, OnSignal, Ran, Shared};
use super::results;
use crate::project::Project;
use crate::run::Signals;

pub struct Finished {
    /// The signal that stopped the sweep, if one did.
    pub interrupted: Option<i32>,
}

/// Runs `todo` (of the sweep's `points`); records land in the results
/// directory and the tables are rewritten after every point.
pub fn run(
    project: &Project,
    shared: &Shared,
    points: &[Point],
    todo: &[Point],
    jobs: usize,
) -> Result<Finished> {
    let signals = Signals::register()?;
    let progress = Progress::new(todo.len() as u64);
    let mut queue: VecDeque<&Point> = todo.iter().collect();
    if shared.spec.warm {
        if let Some(first) = queue.pop_front() {
            progress.starting();
            one(project, shared, points, first, &signals, &progress)?;
        }
    }
    let queue = Mutex::new(queue);
    let (config_path, verbose) = (project.config_path.clone(), project.verbose);
    let workers = jobs.max(1).min(todo.len().max(1));
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    // A shell per thread: xshell's Shell is not shared across threads.
                    let project = Project::open(&config_path, verbose)?;
                    loop {
                        if signals.caught().is_some() {
                            return Ok(());
                        }
                        let Some(next) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                            return Ok(());
                        };
                        progress.starting();
                        if let Err(e) = one(&project, shared, points, next, &signals, &progress) {
                            // Stop the others taking points; the error is the sweep's.
                            if let Ok(mut q) = queue.lock() {
                                q.clear();
                            }
                            return Err(e);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a sweep worker panicked"))??;
        }
        Ok(())
    })?;
    progress.bar.finish_and_clear();
    Ok(Finished {
        interrupted: signals.caught(),
    })
}

/// Runs one point, reports it and rewrites the tables.
fn one(
    project: &Project,
    shared: &Shared,
    points: &[Point],
    p: &Point,
    signals: &Signals,
    progress: &Progress,
) -> Result<()> {
    let ran = point::run(project, shared, p, OnSignal::Discard, &|| signals.caught())
        .with_context(|| format!("point {} ({})", p.id, p.label()));
    progress.running.fetch_sub(1, Ordering::SeqCst);
    match ran? {
        Ran::Interrupted => progress.line(format!(
            "  stopped: {} ({}); left for the next run",
            p.id,
            p.label()
        )),
        Ran::Recorded(r) => {
            if r.ok() {
                progress.ok.fetch_add(1, Ordering::SeqCst);
                progress.line(format!(
                    "  ok: {} ({}) in {:.1} s",
                    p.id,
                    p.label(),
                    r.wall_secs
                ));
            } else {
                progress.failed.fetch_add(1, Ordering::SeqCst);
                progress.line(format!("  FAILED: {} ({}): {}", p.id, p.label(), r.result));
            }
            progress.bar.inc(1);
            let done = results::recorded(&shared.out, points);
            results::write_all(&shared.out, shared.spec, points, &done)?;
        }
    }
    progress.update();
    Ok(())
}

/// The bar (on a terminal) and its counts; elsewhere one line per point.
struct Progress {
    bar: ProgressBar,
    ok: AtomicUsize,
    failed: AtomicUsize,
    running: AtomicUsize,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} points  {msg}  {elapsed_precise}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(500));
        Progress {
            bar,
            ok: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        }
    }

    fn starting(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.update();
    }

    fn update(&self) {
        self.bar.set_message(format!(
            "{} ok, {} failed, {} running",
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            self.running.load(Ordering::SeqCst)
        ));
    }

    fn line(&self, text: String) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}
