//! `cargo xtask images`: what the config declares beside what is built, as
//! a table that fits 100 columns or (`--json`) one JSON document.
//!
//! [`run`] gathers one [`Row`] per image (the config, the package sets read
//! from `debian/packages/`, the built state); the table, its package
//! summaries and the JSON are pure functions of the rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, Flavour, Image};
use crate::debian::bootstrap;
use crate::image::{built_state, BuiltState};
use crate::project::Project;
use crate::table::{format_table, short_time, wrap, WIDTH};

/// The widest a PACKAGES cell gets.
const PACKAGES_WIDTH: usize = 25;
/// Marks the config's `default_image`.
const DEFAULT_MARK: &str = "*";

/// One image of `images --json`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// `debian` or `buildroot`.
    pub flavour: String,
    /// The Debian suite or the Buildroot version.
    pub release: String,
    /// Whether it is the config's `default_image`.
    pub default: bool,
    pub description: String,
    /// Debian: `package_sets` then `extra_package_sets`.
    pub package_sets: Vec<String>,
    /// The packages the config asks for: the sets' packages, the kernel and
    /// `extra_packages`, less `remove_packages` (Buildroot: its packages).
    pub packages: Vec<String>,
    pub extra_packages: Vec<String>,
    pub removed_packages: Vec<String>,
    pub wheels: Vec<String>,
    /// `current`, `outdated`, `unchecked` or `not-built`.
    pub state: &'static str,
    /// When the built image was made (UTC).
    pub built_at: Option<String>,
    /// How many packages the built image has installed (its manifest).
    pub installed_packages: Option<usize>,
    /// Why an `unchecked` image could not be compared with its inputs.
    pub not_checked_because: Option<String>,
    pub dir: PathBuf,
}

/// `images --json`: the default image's name, and every image.
#[derive(Serialize, Debug)]
pub struct Listing {
    pub default_image: String,
    pub images: Vec<Row>,
}

/// `cargo xtask images [--json]`.
pub fn run(project: &Project, json: bool) -> Result<()> {
    let config = project.config()?;
    let sets = read_package_sets(project, &config)?;
    let mut images = Vec::new();
    for image in config.images.values() {
        let (state, manifest) = built_state(project, image);
        let mut row = row(image, &sets, &state, image.name == config.default_image)?;
        row.installed_packages = manifest.map(|m| m.packages.len());
        row.dir = project.images_dir().join(&image.name);
        images.push(row);
    }
    if json {
        let listing = Listing {
            default_image: config.default_image.clone(),
            images,
        };
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        println!("{}", render(&images));
    }
    Ok(())
}

/// The text of every package set the config's Debian images name.
fn read_package_sets(project: &Project, config: &Config) -> Result<BTreeMap<String, String>> {
    let mut sets = BTreeMap::new();
    for image in config.images.values() {
        if let Flavour::Debian(d) = &image.flavour {
            for name in d.package_sets.iter().chain(&d.extra_package_sets) {
                sets.insert(name.clone(), project.read_package_set(name)?);
            }
        }
    }
    Ok(sets)
}

/// An image's row from the config and its state (no file system).
fn row(
    image: &Image,
    sets: &BTreeMap<String, String>,
    state: &BuiltState,
    default: bool,
) -> Result<Row> {
    let mut row = Row {
        name: image.name.clone(),
        flavour: image.flavour.name().to_string(),
        release: String::new(),
        default,
        description: image.description.clone(),
        package_sets: vec![],
        packages: vec![],
        extra_packages: vec![],
        removed_packages: vec![],
        wheels: vec![],
        state: state.name(),
        built_at: state.created().map(String::from),
        installed_packages: None,
        not_checked_because: match state {
            BuiltState::Unchecked { because, .. } => Some(because.clone()),
            _ => None,
        },
        dir: PathBuf::new(),
    };
    match &image.flavour {
        Flavour::Buildroot(br) => {
            row.release = br.version.clone();
            row.packages = br.packages.clone();
        }
        Flavour::Debian(d) => {
            row.release = d.suite.clone();
            row.package_sets = d
                .package_sets
                .iter()
                .chain(&d.extra_package_sets)
                .cloned()
                .collect();
            let mut packages: Vec<String> = Vec::new();
            for p in bootstrap::base_packages(d, sets)?
                .into_iter()
                .chain(bootstrap::top_packages(d, sets)?)
            {
                if !packages.contains(&p) && !d.remove_packages.contains(&p) {
                    packages.push(p);
                }
            }
            row.packages = packages;
            row.extra_packages = d.extra_packages.clone();
            row.removed_packages = d.remove_packages.clone();
            row.wheels = d.wheels.clone();
        }
    }
    Ok(row)
}

/// The table, then a line on the default mark and one for each image that
/// could not be checked, saying why.
pub fn render(rows: &[Row]) -> String {
    let header = ["IMAGE", "FLAVOUR", "RELEASE", "PACKAGES", "BUILT", "STATE"];
    let mut packages: Vec<String> = rows.iter().map(packages_cell).collect();
    let lists: Vec<&[String]> = rows.iter().map(|r| r.packages.as_slice()).collect();
    distinguish(&mut packages, &lists);
    let mut table = vec![header.map(String::from).to_vec()];
    for (r, packages) in rows.iter().zip(packages) {
        let mark = if r.default { DEFAULT_MARK } else { "" };
        table.push(vec![
            format!("{}{mark}", r.name),
            r.flavour.clone(),
            r.release.clone(),
            packages,
            r.built_at.as_deref().map_or("-".into(), short_time),
            match r.state {
                "not-built" => "not built".to_string(),
                "unchecked" => "not checked".to_string(),
                state => state.to_string(),
            },
        ]);
    }
    let mut text = format_table(&table);
    if rows.iter().any(|r| r.default) {
        text += &format!("\n{DEFAULT_MARK} the default image (`default_image` in the config)");
    }
    for r in rows {
        if let Some(why) = &r.not_checked_because {
            text += "\n";
            text += &wrap(&format!("{} not checked: {why}", r.name), WIDTH, "  ");
        }
    }
    text
}

/// `23: base+python+torch +4`: how many packages, then the sets (cut from
/// the left at a set boundary when too long), `+N` extra packages, `-N`
/// removed ones, `+N whl`. Buildroot: the count and the first names.
fn packages_cell(r: &Row) -> String {
    let count = format!("{}: ", r.packages.len());
    if r.flavour == "buildroot" {
        return format!(
            "{count}{}",
            first_words(&r.packages, PACKAGES_WIDTH - count.len())
        );
    }
    let mut tail = String::new();
    for (n, sign, what) in [
        (r.extra_packages.len(), "+", ""),
        (r.removed_packages.len(), "-", ""),
        (r.wheels.len(), "+", " whl"),
    ] {
        if n > 0 {
            tail += &format!(" {sign}{n}{what}");
        }
    }
    let room = PACKAGES_WIDTH.saturating_sub(count.chars().count() + tail.chars().count());
    let mut sets: Vec<&str> = r.package_sets.iter().map(String::as_str).collect();
    let mut shown = sets.join("+");
    while shown.chars().count() > room && sets.len() > 1 {
        sets.remove(0);
        shown = format!("…+{}", sets.join("+"));
    }
    format!("{count}{shown}{tail}")
}

/// As many of `words` as fit in `width` with spaces between, then `…` if
/// some were left out.
fn first_words(words: &[String], width: usize) -> String {
    let all = words.join(" ");
    if all.chars().count() <= width {
        return all;
    }
    let mut shown = String::new();
    for w in words {
        if shown.chars().count() + w.chars().count() + 2 > width {
            break;
        }
        shown += w;
        shown += " ";
    }
    shown + "…"
}

/// Cells that read the same for different package lists get a short
/// digest of their list, so they never look alike.
fn distinguish(cells: &mut [String], lists: &[&[String]]) {
    let clashes: Vec<bool> = (0..cells.len())
        .map(|i| (0..cells.len()).any(|j| j != i && cells[j] == cells[i] && lists[j] != lists[i]))
        .collect();
    for (i, clash) in clashes.into_iter().enumerate() {
        if clash {
            let mut sorted = lists[i].to_vec();
            sorted.sort();
            let digest = Sha256::digest(sorted.join("\n").as_bytes());
            cells[i] += &format!(" #{:02x}{:02x}", digest[0], digest[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian(name: &str, sets: &[&str], packages: usize, extra: usize) -> Row {
        Row {
            name: name.into(),
            flavour: "debian".into(),
            release: "sid".into(),
            default: false,
            description: String::new(),
            package_sets: sets.iter().map(|s| s.to_string()).collect(),
            packages: (0..packages).map(|i| format!("p{i}")).collect(),
            extra_packages: (0..extra).map(|i| format!("e{i}")).collect(),
            removed_packages: vec![],
            wheels: vec![],
            state: "not-built",
            built_at: None,
            installed_packages: None,
            not_checked_because: None,
            dir: PathBuf::new(),
        }
    }

    #[test]
    fn packages_show_their_count_sets_and_extras_within_the_column() {
        let torch = debian("t", &["base", "python", "torch"], 19, 0);
        assert_eq!(packages_cell(&torch), "19: base+python+torch");
        let llama = debian("l", &["base", "python", "torch"], 23, 4);
        assert_eq!(packages_cell(&llama), "23: base+python+torch +4");
        let build = debian("b", &["base", "python", "torch", "pytorch-build"], 33, 0);
        assert_eq!(packages_cell(&build), "33: …+torch+pytorch-build");
        let wheel = Row {
            removed_packages: vec!["python3-torch".into()],
            wheels: vec!["torch.whl".into()],
            ..debian("w", &["base", "python", "torch"], 20, 1)
        };
        assert_eq!(packages_cell(&wheel), "20: …+torch +1 -1 +1 whl");
        for r in [&torch, &llama, &build] {
            assert!(packages_cell(r).chars().count() <= PACKAGES_WIDTH);
        }
        let br = Row {
            flavour: "buildroot".into(),
            packages: ["python3", "python-pip", "python-numpy", "openblas"]
                .map(String::from)
                .to_vec(),
            ..debian("br", &[], 0, 0)
        };
        assert_eq!(packages_cell(&br), "4: python3 python-pip …");
    }

    #[test]
    fn different_package_lists_never_read_the_same() {
        let a = debian("a", &["base"], 3, 0);
        let mut b = debian("b", &["base"], 3, 0);
        b.packages[2] = "other".into();
        let same = debian("c", &["base"], 3, 0);
        let mut cells: Vec<String> = [&a, &b, &same].map(packages_cell).to_vec();
        distinguish(&mut cells, &[&a.packages, &b.packages, &same.packages]);
        assert_ne!(cells[0], cells[1]);
        assert_eq!(cells[0], cells[2], "the same list reads the same");
        assert!(cells[1].starts_with("3: base #"), "{}", cells[1]);
    }

    #[test]
    fn the_table_fits_and_notes_the_default_and_unchecked_images() {
        let mut torch = debian("debian-sid-torch", &["base", "python", "torch"], 19, 0);
        torch.default = true;
        torch.state = "current";
        torch.built_at = Some("2026-12-05T17:51:10Z".into());
        let cosim = Row {
            state: "unchecked",
            built_at: Some("2026-12-05T19:17:07Z".into()),
            not_checked_because: Some(format!("ACALSim's sources are needed {}", "x ".repeat(60))),
            ..debian("cosim", &["base", "python", "torch"], 23, 4)
        };
        let build = debian(
            "debian-trixie-torch",
            &["base", "python", "torch", "pytorch-build"],
            33,
            9,
        );
        let text = render(&[torch, cosim, build]);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("debian-sid-torch*    debian   sid"),
            "{text}"
        );
        assert!(lines[1].ends_with("2026-12-05 17:51  current"), "{text}");
        assert!(lines[2].ends_with("not checked"), "{text}");
        assert!(lines[3].ends_with("-                 not built"), "{text}");
        assert!(lines[4].starts_with("* the default image"), "{text}");
        assert!(
            lines[5].starts_with("cosim not checked: ACALSim's sources"),
            "{text}"
        );
    }

    #[test]
    fn rows_serialize_with_the_documented_fields() {
        let v = serde_json::to_value(debian("a", &["base"], 1, 0)).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "built_at",
                "default",
                "description",
                "dir",
                "extra_packages",
                "flavour",
                "installed_packages",
                "name",
                "not_checked_because",
                "package_sets",
                "packages",
                "release",
                "removed_packages",
                "state",
                "wheels"
            ]
        );
        assert_eq!(v["state"], "not-built");
        assert_eq!(v["built_at"], serde_json::Value::Null);
    }
}
