//! The plan, pure: an experiment's points (the matrix's cross product, less
//! `exclude`, plus `include`, each repeated) with stable ids, and one
//! point's templates filled in.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use super::spec::{Spec, SstSide, Value, REPEAT, SOCKET};
use super::template;

/// One run of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Stable: derived from the parameter values and the repeat only, so
    /// adding a value to the matrix keeps every other point's id.
    pub id: String,
    /// Parameter values, in the matrix's order.
    pub params: Vec<(String, Value)>,
    /// 1-based.
    pub repeat: u32,
}

impl Point {
    /// The parameters as `a=1 b=x`, for people.
    pub fn label(&self) -> String {
        let mut words: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.text()))
            .collect();
        words.push(format!("{REPEAT}={}", self.repeat));
        words.join(" ")
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if name == REPEAT {
            return Some(self.repeat.to_string());
        }
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.text())
    }
}

/// The points of `spec`, in order: the cross product (the first parameter
/// varies slowest), then the included ones, each repeated.
pub fn points(spec: &Spec) -> Vec<Point> {
    let mut combos: Vec<Vec<(String, Value)>> = vec![vec![]];
    for (name, values) in &spec.params {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    combos.retain(|c| !spec.exclude.iter().any(|e| matches(c, e)));
    for include in &spec.include {
        let combo: Vec<(String, Value)> = spec
            .params
            .iter()
            .filter_map(|(name, _)| include.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        if !combos.contains(&combo) {
            combos.push(combo);
        }
    }
    combos
        .into_iter()
        .flat_map(|params| {
            (1..=spec.repeats).map(move |repeat| Point {
                id: id(&params, repeat),
                params: params.clone(),
                repeat,
            })
        })
        .collect()
}

/// Every key of `assignment` has its value in `combo`.
fn matches(combo: &[(String, Value)], assignment: &BTreeMap<String, Value>) -> bool {
    assignment
        .iter()
        .all(|(k, v)| combo.iter().any(|(ck, cv)| ck == k && cv == v))
}

/// 12 hex digits of sha256 over the sorted `name=value` lines and the repeat.
pub fn id(params: &[(String, Value)], repeat: u32) -> String {
    let mut lines: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}\n", v.json()))
        .collect();
    lines.sort();
    lines.push(format!("{REPEAT}={repeat}\n"));
    let digest = Sha256::digest(lines.concat().as_bytes());
    format!("{digest:x}")[..12].to_string()
}

/// A point's session: the templates filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Filled {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub sst: FilledSst,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilledSst {
    Peer {
        cycles_per_unit: u64,
    },
    /// `{socket}` is left for the session, which picks the socket.
    Command {
        command: String,
    },
    None,
}

/// `spec`'s templates for `point`. The spec's check already refused
/// unknown names; a value that makes no number for the peer fails here.
pub fn fill(spec: &Spec, point: &Point) -> Result<Filled> {
    let lookup = |name: &str| {
        if name == SOCKET {
            return Some(format!("{{{SOCKET}}}"));
        }
        point.lookup(name)
    };
    let one = |t: &str| {
        template::fill(t, &lookup).map_err(|name| anyhow::anyhow!("no value for `{{{name}}}`"))
    };
    let argv = spec.command.iter().map(|w| one(w)).collect::<Result<_>>()?;
    let env = spec
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), one(v)?)))
        .collect::<Result<_>>()?;
    let sst = match &spec.sst {
        SstSide::Peer { cycles_per_unit } => {
            let text = one(cycles_per_unit)?;
            match text.parse::<u64>() {
                Ok(n) if n > 0 => FilledSst::Peer { cycles_per_unit: n },
                _ => bail!(
                    "{}: cycles_per_unit = \"{cycles_per_unit}\" gives `{text}` for point {} ({}); the peer needs a positive integer",
                    spec.file.display(),
                    point.id,
                    point.label()
                ),
            }
        }
        SstSide::Command { command, .. } => FilledSst::Command {
            command: one(command)?,
        },
        SstSide::None => FilledSst::None,
    };
    Ok(Filled { argv, env, sst })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sweep::spec;

    const FILE: &str = r#"
image = "cosim"
warm = true
command = ["python3", "/mnt/scripts/sst/sst_compute.py", "--count", "{count}", "--cycles-per-unit", "{cycles}"]
cycles_per_unit = "{cycles}"
[matrix]
count = [10, 20]
cycles = [50, 100, 200]
exclude = [{ count = 20, cycles = 200 }]
include = [{ count = 5, cycles = 7 }]
"#;

    fn spec(text: &str) -> Spec {
        spec::parse(text, Path::new("exp.toml")).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn points_are_the_cross_product_less_excluded_plus_included() {
        let points = points(&spec(FILE));
        let labels: Vec<String> = points.iter().map(Point::label).collect();
        assert_eq!(
            labels,
            [
                "count=10 cycles=50 repeat=1",
                "count=10 cycles=100 repeat=1",
                "count=10 cycles=200 repeat=1",
                "count=20 cycles=50 repeat=1",
                "count=20 cycles=100 repeat=1",
                "count=5 cycles=7 repeat=1",
            ]
        );
        let mut ids: Vec<&str> = points.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6, "ids are unique");
    }

    #[test]
    fn adding_a_value_or_a_repeat_keeps_every_old_id() {
        let before = points(&spec(FILE));
        let more = FILE.replace("cycles = [50, 100, 200]", "cycles = [25, 50, 100, 200]");
        let more = more.replace("warm = true", "warm = true\nrepeats = 2");
        let after = points(&spec(&more));
        assert_eq!(after.len(), 2 * 8 - 2 + 2);
        for p in &before {
            let same = after
                .iter()
                .find(|q| q.id == p.id)
                .expect("the old id is kept");
            assert_eq!((&same.params, same.repeat), (&p.params, p.repeat));
        }
        // Parameter order in the file does not matter either.
        let swapped = FILE.replace(
            "count = [10, 20]\ncycles = [50, 100, 200]",
            "cycles = [50, 100, 200]\ncount = [10, 20]",
        );
        let mut a: Vec<String> = points(&spec(&swapped)).into_iter().map(|p| p.id).collect();
        let mut b: Vec<String> = before.into_iter().map(|p| p.id).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn a_points_templates_are_filled_with_its_values() {
        let s = spec(FILE);
        let p = &points(&s)[1];
        let f = fill(&s, p).expect("filled");
        assert_eq!(
            f.argv,
            [
                "python3",
                "/mnt/scripts/sst/sst_compute.py",
                "--count",
                "10",
                "--cycles-per-unit",
                "100"
            ]
        );
        assert_eq!(
            f.sst,
            FilledSst::Peer {
                cycles_per_unit: 100
            }
        );

        let real = spec(&FILE.replace(
            "cycles_per_unit = \"{cycles}\"",
            "sst = \"sst --add-lib-path=x linux.py -- --socket={socket} --cpu={cycles} ${HOME}\"",
        ));
        assert_eq!(
            fill(&real, p).expect("filled").sst,
            FilledSst::Command {
                command: "sst --add-lib-path=x linux.py -- --socket={socket} --cpu=100 ${HOME}"
                    .into()
            }
        );
        let bad = spec(&FILE.replace("cycles = [50, 100, 200]", "cycles = [\"fast\"]"));
        let e = fill(&bad, &points(&bad)[0]).expect_err("not a number");
        assert!(e.to_string().contains("gives `fast`"), "{e}");
    }
}
