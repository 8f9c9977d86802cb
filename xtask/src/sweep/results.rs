//! A sweep's tables and plot, from its point records: `results.csv`,
//! `results.json` (the records), `results.md` and, with `[plot]`,
//! `plot.svg`. Written after every point and by `--report`, each file
//! whole (a temporary file renamed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value as Json;

use super::plan::Point;
use super::record::Record;
use super::spec::{Spec, Value};
use crate::bench::plot::{self, Line};

pub const CSV: &str = "results.csv";
pub const JSON: &str = "results.json";
pub const MARKDOWN: &str = "results.md";
pub const PLOT: &str = "plot.svg";

/// The table: one row per recorded point, in plan order.
#[derive(Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The columns: id, the parameters, repeat, how it ended, its times, then
/// the metrics (`metrics` in the file's order, else every one seen, sorted).
pub fn table(spec: &Spec, rows: &[(&Point, &Record)]) -> Table {
    let metrics: Vec<String> = if spec.metrics.is_empty() {
        let mut seen: Vec<String> = rows
            .iter()
            .flat_map(|(_, r)| r.metrics.keys().cloned())
            .collect();
        seen.sort();
        seen.dedup();
        seen
    } else {
        spec.metrics.clone()
    };
    let mut columns = vec!["id".to_string()];
    columns.extend(spec.params.iter().map(|(n, _)| n.clone()));
    columns.extend(["repeat", "status", "result", "wall_secs", "restore_secs"].map(String::from));
    columns.extend(metrics.iter().cloned());
    let rows = rows
        .iter()
        .map(|(p, r)| {
            let mut row = vec![p.id.clone()];
            row.extend(p.params.iter().map(|(_, v)| v.text()));
            row.push(p.repeat.to_string());
            row.push(r.status.to_string());
            row.push(r.result.clone());
            row.push(format!("{:.3}", r.wall_secs));
            row.push(
                r.restore_secs
                    .map(|s| format!("{s:.3}"))
                    .unwrap_or_default(),
            );
            row.extend(
                metrics
                    .iter()
                    .map(|m| r.metrics.get(m).map(text).unwrap_or_default()),
            );
            row
        })
        .collect();
    Table { columns, rows }
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn csv(t: &Table) -> String {
    let line = |cells: &[String]| {
        cells
            .iter()
            .map(|c| csv_cell(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    let mut out = line(&t.columns);
    for row in &t.rows {
        out.push_str(&line(row));
    }
    out
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}

pub fn markdown(spec: &Spec, t: &Table) -> String {
    let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("# {}\n\n", spec.name);
    if let Some(d) = &spec.description {
        out.push_str(&format!("{d}\n\n"));
    }
    out.push_str(&format!(
        "| {} |\n",
        t.columns
            .iter()
            .map(|c| cell(c))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    out.push_str(&format!("|{}\n", "---|".repeat(t.columns.len())));
    for row in &t.rows {
        out.push_str(&format!(
            "| {} |\n",
            row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}

/// `[plot]`'s lines: y (the mean over the repeats of the points that ended
/// ok) against x, one line per value of `series`.
pub fn plot_lines(spec: &Spec, rows: &[(&Point, &Record)]) -> Vec<Line> {
    let Some(plot) = &spec.plot else {
        return vec![];
    };
    let x_of = |p: &Point| position(spec, &plot.x, p);
    let mut by_series: BTreeMap<String, BTreeMap<String, (f64, Vec<f64>)>> = BTreeMap::new();
    for (p, r) in rows.iter().filter(|(_, r)| r.ok()) {
        let Some(y) = y_value(r, &plot.y) else {
            continue;
        };
        let series = match &plot.series {
            Some(s) => format!("{s}={}", param(p, s).map(|v| v.text()).unwrap_or_default()),
            None => plot.y.clone(),
        };
        let x = x_of(p);
        let entry = by_series
            .entry(series)
            .or_default()
            .entry(format!("{x:020.6}"))
            .or_insert((x, vec![]));
        entry.1.push(y);
    }
    by_series
        .into_iter()
        .map(|(name, xs)| Line {
            name,
            points: xs
                .into_values()
                .map(|(x, ys)| (x, ys.iter().sum::<f64>() / ys.len() as f64))
                .collect(),
        })
        .collect()
}

fn param<'a>(p: &'a Point, name: &str) -> Option<&'a Value> {
    p.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A numeric parameter's value; otherwise its place in the matrix's list.
fn position(spec: &Spec, name: &str, p: &Point) -> f64 {
    match param(p, name) {
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(v) => spec
            .params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, values)| values.iter().position(|x| x == v))
            .map_or(0.0, |i| i as f64),
        None => 0.0,
    }
}

fn y_value(r: &Record, name: &str) -> Option<f64> {
    match name {
        "wall_secs" => Some(r.wall_secs),
        "restore_secs" => r.restore_secs,
        metric => r.metrics.get(metric)?.as_f64(),
    }
}

/// The records of `points` present in `out`, by id.
pub fn recorded(out: &Path, points: &[Point]) -> BTreeMap<String, Record> {
    let dir = super::point::points_dir(out);
    points
        .iter()
        .filter_map(|p| super::record::read(&dir.join(&p.id)).map(|r| (p.id.clone(), r)))
        .collect()
}

/// Writes the tables of `points` from their records in `done`.
pub fn write_all(
    out: &Path,
    spec: &Spec,
    points: &[Point],
    done: &BTreeMap<String, Record>,
) -> Result<Vec<PathBuf>> {
    let rows: Vec<(&Point, &Record)> = points
        .iter()
        .filter_map(|p| done.get(&p.id).map(|r| (p, r)))
        .collect();
    write(out, spec, &rows)
}

/// Writes every results file into `out`; returns their paths.
pub fn write(out: &Path, spec: &Spec, rows: &[(&Point, &Record)]) -> Result<Vec<PathBuf>> {
    let t = table(spec, rows);
    let records: Vec<&Record> = rows.iter().map(|(_, r)| *r).collect();
    let json = serde_json::to_string_pretty(&records).context("serializing the records")?;
    let mut files = vec![
        (CSV, csv(&t)),
        (JSON, json + "\n"),
        (MARKDOWN, markdown(spec, &t)),
    ];
    if let Some(p) = &spec.plot {
        let lines = plot_lines(spec, rows);
        let title = format!("{}: {} against {}", spec.name, p.y, p.x);
        files.push((PLOT, plot::lines(&title, &p.x, &p.y, &lines)?));
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = out.join(name);
        write_whole(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

fn write_whole(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("a results file's directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sweep::{plan, provenance, record, spec};

    fn sample_spec() -> Spec {
        spec::parse(
            "command = [\"run\", \"{n}\", \"{c}\"]\nmetrics = [\"cycles\"]\n[matrix]\nn = [1, 2]\nc = [\"a,b\", \"x\"]\n[plot]\nx = \"n\"\ny = \"cycles\"\nseries = \"c\"\n",
            Path::new("t.toml"),
        )
        .expect("parses")
    }

    fn rec(p: &Point, status: i32, cycles: Option<u64>) -> Record {
        Record {
            schema: record::SCHEMA,
            sweep: "t".into(),
            file: "t.toml".into(),
            id: p.id.clone(),
            params: p
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.json()))
                .collect(),
            repeat: p.repeat,
            image: "cosim".into(),
            warm: true,
            argv: vec![],
            env: vec![],
            sst: None,
            status,
            result: if status == 0 {
                "ok".into()
            } else {
                format!("exit {status}")
            },
            started: "2026-12-05T12:00:00Z".into(),
            wall_secs: 2.5,
            restore_secs: Some(0.3),
            metrics: cycles
                .map(|c| [("cycles".to_string(), Json::from(c))].into())
                .unwrap_or_default(),
            provenance: provenance::tests::sample(),
            host: "h".into(),
            slurm_job: None,
            logs: vec![],
        }
    }

    #[test]
    fn the_table_has_the_parameters_then_the_run_then_the_metrics() {
        let s = sample_spec();
        let points = plan::points(&s);
        let records: Vec<Record> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i == 3 {
                    rec(p, 3, None)
                } else {
                    rec(p, 0, Some(100 * (i as u64 + 1)))
                }
            })
            .collect();
        let rows: Vec<(&Point, &Record)> = points.iter().zip(&records).collect();
        let t = table(&s, &rows);
        assert_eq!(
            t.columns,
            [
                "id",
                "n",
                "c",
                "repeat",
                "status",
                "result",
                "wall_secs",
                "restore_secs",
                "cycles"
            ]
        );
        let csv = csv(&t);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines[1].ends_with(",1,\"a,b\",1,0,ok,2.500,0.300,100"),
            "{csv}"
        );
        assert!(lines[4].ends_with(",2,x,1,3,exit 3,2.500,0.300,"), "{csv}");
        let md = markdown(&s, &t);
        assert!(md.contains("| id | n | c | repeat |"), "{md}");

        let lines = plot_lines(&s, &rows);
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["c=a,b", "c=x"]);
        assert_eq!(lines[0].points, [(1.0, 100.0), (2.0, 300.0)]);
        assert_eq!(
            lines[1].points,
            [(1.0, 200.0)],
            "the failed point is left out"
        );
    }
}
