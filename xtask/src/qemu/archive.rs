//! The signed chain from a Debian suite's `InRelease` to one file of a
//! source package, as pure parsing: `InRelease` (verified text) lists the
//! sha256 of `main/source/Sources.xz`; `Sources` lists, per source package
//! version, the sha256 of each of its files. The archive here serves QEMU's
//! upstream tarball but not always its `.dsc`, so `apt-get source` cannot be
//! relied on; this chain needs neither.

/// The `SHA256:` entry of `path` (e.g. `main/source/Sources.xz`) in a
/// Release file's text: (sha256, size).
pub fn release_sha256(release: &str, path: &str) -> Option<(String, u64)> {
    let mut in_sha256 = false;
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line.trim_end() == "SHA256:";
            continue;
        }
        if !in_sha256 {
            continue;
        }
        let mut words = line.split_whitespace();
        if let (Some(sha), Some(size), Some(name), None) =
            (words.next(), words.next(), words.next(), words.next())
        {
            if name == path {
                return Some((sha.to_string(), size.parse().ok()?));
            }
        }
    }
    None
}

/// The `Date:` field of a Release file (recorded: which index vouched for a file).
pub fn release_date(release: &str) -> Option<String> {
    release
        .lines()
        .find_map(|l| l.strip_prefix("Date:"))
        .map(|d| d.trim().to_string())
}

/// One file of a source package, as a `Sources` stanza lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The package version whose stanza lists it, e.g. "1:10.2.2+ds-1".
    pub version: String,
    /// Pool directory, e.g. "pool/main/q/qemu".
    pub directory: String,
    pub sha256: String,
    pub size: u64,
}

/// The stanza of `package` that lists `file` in its `Checksums-Sha256`.
/// A suite can list several versions of one package (sid lists three of
/// qemu), so the file name, not the first stanza, picks the one.
pub fn source_file(sources: &str, package: &str, file: &str) -> Option<SourceFile> {
    sources
        .split("\n\n")
        .filter(|stanza| field(stanza, "Package").as_deref() == Some(package))
        .find_map(|stanza| {
            let (sha256, size) = checksums(stanza)
                .into_iter()
                .find(|(_, _, name)| name == file)
                .map(|(sha, size, _)| (sha, size))?;
            Some(SourceFile {
                version: field(stanza, "Version")?,
                directory: field(stanza, "Directory")?,
                sha256,
                size,
            })
        })
}

/// A single-line field's value.
fn field(stanza: &str, name: &str) -> Option<String> {
    stanza.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key == name).then(|| value.trim().to_string())
    })
}

/// The `Checksums-Sha256:` lines: (sha256, size, file name).
fn checksums(stanza: &str) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stanza.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "Checksums-Sha256:";
            continue;
        }
        if inside {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let [sha, size, name] = w[..] {
                if let Ok(size) = size.parse() {
                    out.push((sha.to_string(), size, name.to_string()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: Debian\nSuite: unstable\nDate: Fri, 30 Oct 2026 08:12:34 UTC\nMD5Sum:\n 0123 12103252 main/source/Sources.xz\nSHA256:\n aaaa 100 main/binary-all/Packages.xz\n 4f6b97c1 12103252 main/source/Sources.xz\n";

    #[test]
    fn release_gives_the_sha256_not_the_md5_of_a_path() {
        assert_eq!(
            release_sha256(RELEASE, "main/source/Sources.xz"),
            Some(("4f6b97c1".to_string(), 12103252))
        );
        assert_eq!(release_sha256(RELEASE, "main/source/Sources.gz"), None);
        assert_eq!(
            release_date(RELEASE).as_deref(),
            Some("Fri, 30 Oct 2026 08:12:34 UTC")
        );
    }

    const SOURCES: &str = "Package: qemu\nVersion: 1:10.2.2+ds-1\nDirectory: pool/main/q/qemu\nChecksums-Sha256:\n f168 10994 qemu_10.2.2+ds-1.dsc\n be05 38669728 qemu_10.2.2+ds.orig.tar.xz\nBuild-Depends: meson\n\nPackage: qemu\nVersion: 1:11.1.3+ds-1\nDirectory: pool/main/q/qemu\nChecksums-Sha256:\n 9999 40000000 qemu_11.1.3+ds.orig.tar.xz\n\nPackage: qemu-web\nVersion: 1\nDirectory: pool/main/q/qemu-web\nChecksums-Sha256:\n 1111 1 qemu_10.2.2+ds.orig.tar.xz\n";

    #[test]
    fn the_stanza_listing_the_file_is_chosen_among_several_versions() {
        let f = source_file(SOURCES, "qemu", "qemu_11.1.3+ds.orig.tar.xz").unwrap();
        assert_eq!(f.version, "1:11.1.3+ds-1");
        assert_eq!(f.sha256, "9999");
        let f = source_file(SOURCES, "qemu", "qemu_10.2.2+ds.orig.tar.xz").unwrap();
        assert_eq!(
            f,
            SourceFile {
                version: "1:10.2.2+ds-1".into(),
                directory: "pool/main/q/qemu".into(),
                sha256: "be05".into(),
                size: 38669728,
            }
        );
        assert_eq!(
            source_file(SOURCES, "qemu", "qemu_9.0.0+ds.orig.tar.xz"),
            None
        );
    }
}
