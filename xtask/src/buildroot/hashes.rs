//! The checksums Buildroot holds for the files a build downloads. A
//! package's hash files are the ones Buildroot itself checks its downloads
//! against (`<PKG>_HASH_FILES`, as `make printvars` names them, so a
//! per-version directory or a BR2_GLOBAL_PATCH_DIR counts), and
//! `BR_NO_CHECK_HASH_FOR` names the files it never checks, such as the
//! tarball of a custom kernel version. Pure: the caller reads the files.

use std::collections::{BTreeMap, BTreeSet};

/// The variables `make printvars` is asked for, beside `show-info`.
pub const PRINTVARS: &str = "BR_NO_CHECK_HASH_FOR %_HASH_FILES";

/// What Buildroot holds for one downloaded file.
#[derive(Debug, Clone, PartialEq)]
pub enum Checksum {
    /// A line of the package's hash files: sha256 when there is one, else
    /// the first other kind (gcc and binutils have only sha512).
    Known { kind: String, hex: String },
    /// In BR_NO_CHECK_HASH_FOR and in no hash file: Buildroot accepts
    /// whatever it downloads (a custom version).
    Unchecked,
    /// In no hash file of the package.
    Missing,
}

/// Every hash line of the selected packages, and the unchecked files.
#[derive(Debug, Default)]
pub struct Hashes {
    lines: BTreeMap<String, Vec<HashLine>>,
    unchecked: BTreeSet<String>,
}

/// `sha256  HEX  FILE` of a `.hash` file.
#[derive(Debug, Clone, PartialEq)]
pub struct HashLine {
    pub kind: String,
    pub hex: String,
    pub file: String,
}

impl Hashes {
    /// The hash lines of `packages`, from the `printvars` variables and a
    /// reader of the files they name (as make gives them: relative to the
    /// Buildroot tree, or absolute for an external tree).
    pub fn new<'a>(
        packages: impl IntoIterator<Item = &'a str>,
        vars: &BTreeMap<String, String>,
        read: impl Fn(&str) -> Option<String>,
    ) -> Hashes {
        let mut lines = BTreeMap::new();
        for package in packages {
            let files = vars
                .get(&format!("{}_HASH_FILES", make_name(package)))
                .map_or("", String::as_str);
            let entries = files
                .split_whitespace()
                .filter_map(&read)
                .flat_map(|text| parse_hash_file(&text))
                .collect();
            lines.insert(package.to_string(), entries);
        }
        let unchecked = vars
            .get("BR_NO_CHECK_HASH_FOR")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        Hashes { lines, unchecked }
    }

    /// What `package`'s hash files say about `file`.
    pub fn checksum(&self, package: &str, file: &str) -> Checksum {
        let lines: Vec<&HashLine> = self
            .lines
            .get(package)
            .into_iter()
            .flatten()
            .filter(|l| l.file == file)
            .collect();
        let best = lines
            .iter()
            .find(|l| l.kind == "sha256")
            .or_else(|| lines.first());
        match best {
            Some(l) => Checksum::Known {
                kind: l.kind.clone(),
                hex: l.hex.clone(),
            },
            None if self.unchecked.contains(file) => Checksum::Unchecked,
            None => Checksum::Missing,
        }
    }
}

/// `host-gcc-final` -> `HOST_GCC_FINAL`, Buildroot's UPPERCASE of a package
/// name (letters up, '-' and '.' to '_').
pub fn make_name(package: &str) -> String {
    package
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// The lines of a `.hash` file; comments, blank lines and anything that is
/// not `KIND HEX FILE` are skipped.
pub fn parse_hash_file(text: &str) -> Vec<HashLine> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let (kind, hex, file) = (fields.next()?, fields.next()?, fields.next()?);
            let is_hex = hex.chars().all(|c| c.is_ascii_hexdigit());
            (fields.next().is_none() && is_hex).then(|| HashLine {
                kind: kind.to_string(),
                hex: hex.to_string(),
                file: file.to_string(),
            })
        })
        .collect()
}

/// `NAME=value` lines of `make printvars`; other lines are skipped.
pub fn parse_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// `printvars` and hash files as Buildroot 2024.02.13 has them for the
    /// packages of `downloads::tests::info()` (hashes cut to their start).
    pub fn hashes() -> Hashes {
        let vars = parse_vars(
            "BR_NO_CHECK_HASH_FOR=dvb-apps-3d43b28.tar.gz linux-6.18.tar.xz \n\
             HOST_GCC_FINAL_HASH_FILES=package/gcc/gcc-final//gcc-final.hash\n\
             HOST_GCC_INITIAL_HASH_FILES=package/gcc/gcc-initial//gcc-initial.hash\n\
             LINUX_HASH_FILES=linux//linux.hash\n\
             LINUX_HEADERS_HASH_FILES=package/linux-headers//linux-headers.hash\n\
             PYTHON_NUMPY_HASH_FILES=package/python-numpy//python-numpy.hash\n\
             ACALSIM_KERNEL_MODULES_HASH_FILES=/ext/package/acalsim-kernel-modules//acalsim-kernel-modules.hash\n",
        );
        let linux = "# From https://www.kernel.org/pub/linux/kernel/v6.x/sha256sums.asc\n\
                     sha256  7fd20721551a  linux-6.6.84.tar.xz\n\
                     sha256  44caf510603b  linux-6.1.131.tar.xz\n";
        // linux-headers.hash is a symlink to linux.hash in Buildroot.
        let files: BTreeMap<&str, &str> = [
            ("linux//linux.hash", linux),
            ("package/linux-headers//linux-headers.hash", linux),
            (
                "package/gcc/gcc-final//gcc-final.hash",
                "# From https://gcc.gnu.org/pub/gcc/releases/gcc-12.4.0/sha512.sum\n\
                 sha512  5bd29402cad2  gcc-12.4.0.tar.xz\n",
            ),
            (
                "package/python-numpy//python-numpy.hash",
                "# Locally calculated\n\
                 md5  0aa1b2  numpy-1.25.0.tar.gz\n\
                 sha256  f1accae9a28d  numpy-1.25.0.tar.gz\n\
                 sha256  c1d2e3  LICENSE.txt\n",
            ),
        ]
        .into();
        let packages = [
            "host-gcc-final",
            "host-gcc-initial",
            "linux",
            "linux-headers",
            "python-numpy",
            "acalsim-kernel-modules",
        ];
        Hashes::new(packages, &vars, |p| files.get(p).map(|t| t.to_string()))
    }

    #[test]
    fn a_download_gets_sha256_else_the_kind_buildroot_has() {
        let h = hashes();
        let known = |kind: &str, hex: &str| Checksum::Known {
            kind: kind.into(),
            hex: hex.into(),
        };
        assert_eq!(
            h.checksum("python-numpy", "numpy-1.25.0.tar.gz"),
            known("sha256", "f1accae9a28d"),
            "sha256 wins over the md5 line before it"
        );
        assert_eq!(
            h.checksum("host-gcc-final", "gcc-12.4.0.tar.xz"),
            known("sha512", "5bd29402cad2")
        );
        assert_eq!(
            h.checksum("linux", "linux-6.18.tar.xz"),
            Checksum::Unchecked,
            "a custom kernel version: Buildroot has no hash and checks none"
        );
        assert_eq!(
            h.checksum("linux-headers", "linux-6.6.84.tar.xz"),
            known("sha256", "7fd20721551a")
        );
        assert_eq!(
            h.checksum("host-gcc-initial", "gcc-12.4.0.tar.xz"),
            Checksum::Missing,
            "its hash file is not in this sample"
        );
        assert_eq!(h.checksum("python-numpy", "LICENSE"), Checksum::Missing);
    }

    #[test]
    fn make_names_and_printvars_lines_read_as_buildroot_writes_them() {
        assert_eq!(make_name("host-gcc-final"), "HOST_GCC_FINAL");
        assert_eq!(make_name("python-ruamel.yaml"), "PYTHON_RUAMEL_YAML");
        let vars = parse_vars("LINUX_HASH_FILES=linux//linux.hash\nmake: noise\n\nX=\n");
        assert_eq!(vars["LINUX_HASH_FILES"], "linux//linux.hash");
        assert_eq!(vars["X"], "");
        assert_eq!(vars.len(), 2);
        assert_eq!(
            parse_hash_file("# c\n\nsha256  ab12  f.tar.gz\nbad line\nsha1 zz g\n"),
            [HashLine {
                kind: "sha256".into(),
                hex: "ab12".into(),
                file: "f.tar.gz".into()
            }]
        );
    }
}
