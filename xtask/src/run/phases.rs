//! Where a warm run's time goes: a [`Timeline`] of marks, each ending the
//! phase it names, taken on whichever thread passes that step; the guest's
//! own phases, which its runner writes beside the job's status; and the
//! table they make, written to the run's log, printed with `-v` and read
//! back by `bench boot` ([`parse`]).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The job's status file: the exit status on its first line; a warm run's
/// guest adds one `NAME SECONDS` line per phase it timed, in order.
const STATUS: &str = "status";

/// The host's phase from the job handed over until its status is in: the
/// guest's own phases are cut out of it.
pub const JOB_AND_STATUS: &str = "job, status back";

/// The table's first line; [`parse`] reads the lines after it.
const HEADING: &str = "warm run phases (seconds):";

/// Marks of one run, from its start.
pub struct Timeline {
    origin: Instant,
    marks: Mutex<Vec<(String, Instant)>>,
}

impl Timeline {
    /// A timeline from now; with `since_process_start`, its first phase is
    /// the time this process took to get here (cargo's start is not in it).
    pub fn start(since_process_start: bool) -> Timeline {
        let now = Instant::now();
        let age = since_process_start.then(process_age).flatten();
        let origin = age.and_then(|a| now.checked_sub(a)).unwrap_or(now);
        let timeline = Timeline {
            origin,
            marks: Mutex::new(Vec::new()),
        };
        if age.is_some() {
            timeline.mark("xtask start");
        }
        timeline
    }

    /// Ends the phase `what` now.
    pub fn mark(&self, what: &str) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.push((what.to_string(), Instant::now()));
        }
    }

    /// Each phase and its seconds, in the order they ended; the phase that
    /// ends at `split` is cut into the guest's phases and what is left of it.
    pub fn phases(&self, split: Option<(&str, &[(String, f64)])>) -> Vec<(String, f64)> {
        let marks = self.marks.lock().map(|m| m.clone()).unwrap_or_default();
        let mut marks = marks;
        marks.sort_by_key(|(_, at)| *at);
        let mut out = Vec::new();
        let mut last = self.origin;
        for (what, at) in marks {
            let secs = at.saturating_duration_since(last).as_secs_f64();
            last = at;
            match split {
                Some((name, guest)) if name == what && !guest.is_empty() => {
                    let inside: f64 = guest.iter().map(|(_, s)| s).sum();
                    out.extend(guest.iter().map(|(n, s)| (format!("guest: {n}"), *s)));
                    out.push((what, (secs - inside).max(0.0)));
                }
                _ => out.push((what, secs)),
            }
        }
        out
    }
}

/// How long ago this process started, from /proc (10 ms steps).
fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22, counted after the command name's closing parenthesis.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let ticks: f64 = after_name.split(' ').nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let age = uptime - ticks / hz;
    (age >= 0.0).then(|| Duration::from_secs_f64(age))
}

/// The guest's phases from the lines after the status; none when the
/// image's runner writes none (an image built before it did).
pub fn guest_phases(job_dir: &Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(job_dir.join(STATUS))
        .map(|text| parse_lines(text.split_once('\n').map_or("", |(_, rest)| rest)))
        .unwrap_or_default()
}

/// `NAME SECONDS` lines; the name may hold spaces, the seconds are last.
fn parse_lines(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| {
            let (name, secs) = l.trim().rsplit_once(' ')?;
            Some((name.trim().to_string(), secs.parse().ok()?))
        })
        .collect()
}

/// The table: a heading, one indented line per phase, then the total.
pub fn render(phases: &[(String, f64)]) -> String {
    let width = phases
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut text = format!("{HEADING}\n");
    for (name, secs) in phases {
        text.push_str(&format!("  {name:<width$}  {secs:.3}\n"));
    }
    let total: f64 = phases.iter().map(|(_, s)| s).sum();
    text.push_str(&format!("  {:<width$}  {total:.3}\n", "total"));
    text
}

/// The phases of the first table in `text` (a run's stderr), total left out.
pub fn parse(text: &str) -> Vec<(String, f64)> {
    let Some(start) = text.find(HEADING) else {
        return Vec::new();
    };
    let table: String = text[start + HEADING.len()..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut phases = parse_lines(&table);
    phases.retain(|(n, _)| n != "total");
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_back_as_it_was_written() {
        let phases = vec![
            ("xtask start".to_string(), 0.012),
            ("guest: shares, drivers".to_string(), 0.25),
            ("QEMU stop".to_string(), 0.031),
        ];
        let text = format!(
            "warm: restored snapshot x in 0.2s\n{}after\n",
            render(&phases)
        );
        assert!(text.contains("  total                   0.293\n"), "{text}");
        assert_eq!(parse(&text), phases);
        assert!(parse("no table here").is_empty());
    }

    #[test]
    fn the_guest_phases_replace_their_part_of_the_host_phase_they_ran_in() {
        let t = Timeline::start(false);
        t.mark("state load");
        std::thread::sleep(Duration::from_millis(30));
        t.mark("job, status back");
        let guest = vec![("job".to_string(), 0.01), ("clock".to_string(), 0.005)];
        let phases = t.phases(Some(("job, status back", &guest)));
        let names: Vec<_> = phases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "state load",
                "guest: job",
                "guest: clock",
                "job, status back"
            ]
        );
        let rest = phases[3].1;
        assert!((0.014..0.2).contains(&rest), "{phases:?}");
        // Without the guest's file the host's phase stays whole.
        assert_eq!(
            t.phases(Some(("job, status back", &[])))[1].0,
            "job, status back"
        );
    }

    #[test]
    fn guest_lines_are_names_with_spaces_then_seconds() {
        assert_eq!(
            parse_lines("clock, entropy 0.004\nbad\nshares 0.2\n"),
            [
                ("clock, entropy".to_string(), 0.004),
                ("shares".into(), 0.2)
            ]
        );
    }

    #[test]
    fn a_timeline_since_the_process_start_begins_with_that_phase() {
        let t = Timeline::start(true);
        let phases = t.phases(None);
        assert_eq!(phases[0].0, "xtask start", "{phases:?}");
        assert!(phases[0].1 < 3600.0);
    }
}
