//! An experiment file (TOML) as plain data: [`Spec`]. Every mistake is
//! reported at its file:line:col, as in acalsim.toml, saying what would be
//! valid: an unknown `{name}` in a template, an empty matrix, a value that
//! is not a list, an include that leaves out a parameter.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use toml::Spanned;

use super::matrix::{self, At};
pub use super::matrix::{Value, REPEAT, SOCKET};
use super::template::{self, Placeholder};
use crate::config::located;

pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// The other side of each point's session.
#[derive(Debug, Clone, PartialEq)]
pub enum SstSide {
    /// The reference peer (`cargo xtask sst peer`); its cycles per COMPUTE
    /// unit as a template.
    Peer { cycles_per_unit: String },
    /// A shell command (real SST) run in `dir` (default: the project root);
    /// `{socket}` and the parameters are filled in.
    Command {
        command: String,
        dir: Option<PathBuf>,
    },
    /// No SST side: every point is a plain `run`.
    None,
}

/// `[plot]`: a metric against one parameter, one line per value of another.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub x: String,
    pub y: String,
    pub series: Option<String>,
}

/// An experiment: one guest command over a matrix of parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The file's stem: names the results directory.
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    /// `None`: `[cosim] image` with an SST side, else the default image.
    pub image: Option<String>,
    pub warm: bool,
    pub timeout: Duration,
    pub repeats: u32,
    /// The guest command, argv templates.
    pub command: Vec<String>,
    /// Extra environment of the guest command, value templates.
    pub env: Vec<(String, String)>,
    pub sst: SstSide,
    /// Parameter name → its values, in file order.
    pub params: Vec<(String, Vec<Value>)>,
    pub exclude: Vec<BTreeMap<String, Value>>,
    pub include: Vec<BTreeMap<String, Value>>,
    /// Dotted paths into the job's JSON; empty: every number it prints.
    pub metrics: Vec<String>,
    pub plot: Option<Plot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    description: Option<String>,
    image: Option<String>,
    warm: Option<bool>,
    timeout: Option<Spanned<i64>>,
    repeats: Option<Spanned<i64>>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    env: Option<BTreeMap<String, Spanned<String>>>,
    sst: Option<Spanned<String>>,
    sst_dir: Option<Spanned<String>>,
    cycles_per_unit: Option<Spanned<toml::Value>>,
    matrix: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    metrics: Option<Vec<String>>,
    plot: Option<Spanned<RawPlot>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlot {
    x: String,
    y: String,
    series: Option<String>,
}

/// Reads and checks an experiment file.
pub fn load(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the experiment file {}", path.display()))?;
    parse(&text, path)
}

/// Parses an experiment file's text; `path` names it in errors and results.
pub fn parse(text: &str, path: &Path) -> Result<Spec> {
    let file = path.display().to_string();
    let at = |span: Range<usize>, msg: String| located(text, &file, span, &msg);
    let raw: Raw = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => at(span, e.message().to_string()),
        None => anyhow::anyhow!("{file}: {}", e.message()),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!("{file}: an experiment file needs a name (its stem names the results)")
        })?;

    let (params, exclude, include) = matrix::parse(raw.matrix, &at)?;
    let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    names.push(REPEAT);
    let check = |t: &Spanned<String>, what: &str, extra: &[&str]| -> Result<String> {
        check_template(t.get_ref(), what, &names, extra).map_err(|e| at(t.span(), e))?;
        Ok(t.get_ref().clone())
    };

    let command = match raw.command {
        Some(c) if !c.get_ref().is_empty() => c
            .into_inner()
            .iter()
            .map(|word| check(word, "command", &[]))
            .collect::<Result<Vec<_>>>()?,
        Some(c) => return Err(at(c.span(), "command: empty; give the guest command as a list of words, e.g. [\"python3\", \"/mnt/scripts/sst/sst_compute.py\", \"--count\", \"{count}\"]".into())),
        None => return Err(at(0..0, "command: missing; give the guest command as a list of words, e.g. command = [\"python3\", \"/mnt/scripts/sst/sst_compute.py\", \"--count\", \"{count}\"]".into())),
    };
    let env = raw
        .env
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| Ok((k.clone(), check(v, &format!("env.{k}"), &[])?)))
        .collect::<Result<Vec<_>>>()?;
    let sst = sst_side(raw.sst, raw.sst_dir, raw.cycles_per_unit, &check, &at)?;
    let timeout = match raw.timeout {
        Some(t) if *t.get_ref() < 1 => return Err(at(t.span(), format!("timeout: {} seconds; give the seconds each point may take (at least 1; default {DEFAULT_TIMEOUT_SECS})", t.get_ref()))),
        Some(t) => Duration::from_secs(*t.get_ref() as u64),
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
    };
    let repeats = match raw.repeats {
        Some(r) if !(1..=1000).contains(r.get_ref()) => {
            return Err(at(
                r.span(),
                format!(
                    "repeats: {}; give how often each point runs, 1 to 1000",
                    r.get_ref()
                ),
            ))
        }
        Some(r) => *r.get_ref() as u32,
        None => 1,
    };
    let plot = match raw.plot {
        Some(p) => Some(plot(p, &params, &at)?),
        None => None,
    };
    Ok(Spec {
        name,
        file: path.to_path_buf(),
        description: raw.description,
        image: raw.image,
        warm: raw.warm.unwrap_or(false),
        timeout,
        repeats,
        command,
        env,
        sst,
        params,
        exclude,
        include,
        metrics: raw.metrics.unwrap_or_default(),
        plot,
    })
}

/// Checks a template and returns its text: (template, what it is, extra names).
type Check<'a> = dyn Fn(&Spanned<String>, &str, &[&str]) -> Result<String> + 'a;

fn sst_side(
    sst: Option<Spanned<String>>,
    sst_dir: Option<Spanned<String>>,
    cycles: Option<Spanned<toml::Value>>,
    check: &Check,
    at: &At,
) -> Result<SstSide> {
    let kind = sst.as_ref().map(|s| s.get_ref().as_str());
    if let (Some(c), false) = (&cycles, matches!(kind, None | Some("peer"))) {
        return Err(at(c.span(), "cycles_per_unit: sets the reference peer's cycles; with another SST side give the parameter in its command (e.g. `sst … -- --param={name}`)".into()));
    }
    if let (Some(d), false) = (
        &sst_dir,
        !matches!(kind, None | Some("peer") | Some("none")),
    ) {
        return Err(at(
            d.span(),
            "sst_dir: the directory an SST command runs in; it needs sst = \"COMMAND\"".into(),
        ));
    }
    Ok(match kind {
        None | Some("peer") => {
            let cycles_per_unit = match cycles {
                None => crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT.to_string(),
                Some(c) => {
                    let text = match c.get_ref() {
                        toml::Value::Integer(i) if *i > 0 => i.to_string(),
                        toml::Value::String(s) => s.clone(),
                        other => return Err(at(c.span(), format!("cycles_per_unit: `{other}`; give a positive integer or a template such as \"{{cycles_per_unit}}\""))),
                    };
                    check(&Spanned::new(c.span(), text), "cycles_per_unit", &[])?
                }
            };
            SstSide::Peer { cycles_per_unit }
        }
        Some("none") => SstSide::None,
        Some(_) => {
            let sst = sst.context("the SST command")?;
            if sst.get_ref().trim().is_empty() {
                return Err(at(sst.span(), "sst: empty; give \"peer\" (the default), \"none\", or the SST side's shell command".into()));
            }
            SstSide::Command {
                command: check(&sst, "sst", &[SOCKET])?,
                dir: sst_dir.map(|d| PathBuf::from(d.into_inner())),
            }
        }
    })
}

fn plot(p: Spanned<RawPlot>, params: &[(String, Vec<Value>)], at: &At) -> Result<Plot> {
    let span = p.span();
    let p = p.into_inner();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    for (key, name) in [("x", Some(&p.x)), ("series", p.series.as_ref())] {
        if let Some(name) = name {
            if !names.contains(&name.as_str()) {
                return Err(at(
                    span.clone(),
                    format!(
                        "[plot] {key} = \"{name}\": not a parameter; the parameters are {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(Plot {
        x: p.x,
        y: p.y,
        series: p.series,
    })
}

/// An error message when `text` has a placeholder that is neither a
/// parameter, `repeat`, nor one of `extra`.
fn check_template(text: &str, what: &str, names: &[&str], extra: &[&str]) -> Result<(), String> {
    for piece in template::pieces(text) {
        if let Placeholder::Name(name) = piece {
            if !names.contains(&name) && !extra.contains(&name) {
                let mut valid: Vec<String> = names
                    .iter()
                    .chain(extra)
                    .map(|n| format!("{{{n}}}"))
                    .collect();
                valid.sort();
                return Err(format!("{what}: unknown `{{{name}}}`; valid here: {} (write `{{{{` for a literal brace)", valid.join(", ")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"command = ["echo", "{n}"]
[matrix]
n = [1, 2]
"#;

    fn error(text: &str) -> String {
        match parse(text, Path::new("exp/e.toml")) {
            Ok(spec) => panic!("accepted: {spec:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn the_shipped_experiments_parse_and_plot_a_metric_they_keep() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("experiments/") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let spec = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
                if let Some(plot) = &spec.plot {
                    assert!(
                        spec.metrics.is_empty() || spec.metrics.contains(&plot.y),
                        "{}: [plot] y = {} is not in metrics",
                        path.display(),
                        plot.y
                    );
                }
                n += 1;
            }
        }
        assert!(n >= 2, "the shipped experiments: {n}");
    }

    #[test]
    fn a_good_file_has_its_defaults() {
        let s = parse(GOOD, Path::new("exp/e.toml")).expect("parses");
        assert_eq!(s.name, "e");
        assert_eq!(
            (s.warm, s.repeats, s.timeout.as_secs()),
            (false, 1, DEFAULT_TIMEOUT_SECS)
        );
        assert_eq!(
            s.sst,
            SstSide::Peer {
                cycles_per_unit: "100".into()
            }
        );
        assert_eq!(
            s.params,
            [("n".to_string(), vec![Value::Int(1), Value::Int(2)])]
        );
    }

    #[test]
    fn mistakes_are_reported_at_their_line_and_column() {
        let unknown = error(&GOOD.replace("\"{n}\"", "\"{m}\""));
        assert!(
            unknown
                .starts_with("exp/e.toml:1:20: command: unknown `{m}`; valid here: {n}, {repeat}"),
            "{unknown}"
        );
        let not_list = error(&GOOD.replace("n = [1, 2]", "n = 4"));
        assert!(
            not_list.starts_with("exp/e.toml:3:5: [matrix] n: not a list"),
            "{not_list}"
        );
        let empty = error(&GOOD.replace("n = [1, 2]", "n = []"));
        assert!(
            empty.contains("[matrix] n: an empty list gives no points"),
            "{empty}"
        );
        let no_matrix = error("command = [\"true\"]\n[matrix]\n");
        assert!(
            no_matrix.starts_with("exp/e.toml:2:1: [matrix]: no parameters"),
            "{no_matrix}"
        );
        let include = error(&GOOD.replace("n = [1, 2]", "n = [1]\nk = [2]\ninclude = [{ n = 3 }]"));
        assert!(include.contains("leaves out k"), "{include}");
        let exclude = error(&GOOD.replace("n = [1, 2]", "n = [1]\nexclude = [{ q = 3 }]"));
        assert!(
            exclude.contains("`q` is not a parameter; the parameters are n"),
            "{exclude}"
        );
        let key = error(&format!("jobs = 2\n{GOOD}"));
        assert!(
            key.starts_with("exp/e.toml:1:1: unknown field `jobs`"),
            "{key}"
        );
        let socket = error(&format!(
            "sst = \"sst x.py --p={{socket}} --q={{z}}\"\n{GOOD}"
        ));
        assert!(
            socket.contains("sst: unknown `{z}`; valid here: {n}, {repeat}, {socket}"),
            "{socket}"
        );
        let cycles = error(&format!("sst = \"none\"\ncycles_per_unit = 7\n{GOOD}"));
        assert!(
            cycles.starts_with("exp/e.toml:2:19: cycles_per_unit: sets the reference peer's"),
            "{cycles}"
        );
        let plot = error(&format!("{GOOD}[plot]\nx = \"k\"\ny = \"cycles\"\n"));
        assert!(plot.contains("[plot] x = \"k\": not a parameter"), "{plot}");
        let reserved = error(&GOOD.replace("n = [1, 2]", "n = [1]\nrepeat = [1]"));
        assert!(
            reserved.contains("[matrix] `repeat`: a parameter name"),
            "{reserved}"
        );
    }
}
