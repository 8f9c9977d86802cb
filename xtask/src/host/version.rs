//! The version number in a tool's banner: `1.5.4` out of
//! `*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***`, `10.0.2` out of
//! a Debian package version `1:10.0.2+ds-2+deb13u1~bpo12+1`.

/// The first dotted number in `banner` (`9.2p1` keeps its patch suffix), or
/// else its first plain number; `None` when it has no digits at all.
///
/// Words are split at anything but letters, digits and dots, so an epoch
/// (`1:`), a Debian revision (`-2+b1`), a `v` prefix and a program name
/// glued on (`OpenSSH_9.2p1`, `file-5.44`) fall away.
pub fn short_version(banner: &str) -> Option<String> {
    let words: Vec<&str> = banner
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|w| !w.is_empty())
        .collect();
    let dotted = words.iter().find_map(|w| dotted_number(w));
    dotted.or_else(|| {
        words
            .iter()
            .find(|w| w.chars().all(|c| c.is_ascii_digit()))
            .map(|w| w.to_string())
    })
}

/// `1.2.13` of `1.2.13.dfsg`, `9.2p1` of `9.2p1`, `1.5.4` of `v1.5.4`;
/// `None` unless the word starts with digits, a dot and a digit.
fn dotted_number(word: &str) -> Option<String> {
    let word = match word.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => word,
    };
    let chars: Vec<char> = word.chars().collect();
    let mut end = 0;
    let mut dots = 0;
    while end < chars.len() {
        let c = chars[end];
        let next_is_digit = chars.get(end + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() {
            end += 1;
        } else if c == '.' && end > 0 && next_is_digit {
            dots += 1;
            end += 1;
        } else {
            break;
        }
    }
    if end == 0 || dots == 0 {
        return None;
    }
    // A patch suffix such as OpenSSH's `p1` (letters then digits, no dot).
    let suffix: String = chars[end..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let keep = suffix.starts_with(|c: char| c.is_ascii_lowercase()) && suffix.len() <= 3;
    let number: String = chars[..end].iter().collect();
    Some(if keep { number + &suffix } else { number })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each tool `doctor` checks printed on a Debian 12 host
    /// (2026-12-05), first line with a digit, and the version it shows.
    #[rustfmt::skip]
    const BANNERS: &[(&str, &str)] = &[
        ("mmdebstrap 1.5.5", "1.5.5"),
        ("1.0.141~bpo12+1", "1.0.141"),
        ("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)", "10.0.2"),
        ("qemu-riscv64 version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)", "10.0.2"),
        ("qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)", "10.0.2"),
        ("mke2fs 1.47.0 (5-Feb-2023)", "1.47.0"),
        ("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***", "1.5.4"),
        ("cpio (GNU cpio) 2.13", "2.13"),
        ("xz (XZ Utils) 5.4.1", "5.4.1"),
        ("0.20-1", "0.20"),
        ("unshare from util-linux 2.38.1", "2.38.1"),
        ("gpgv (GnuPG) 2.2.40", "2.2.40"),
        ("OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026", "9.2p1"),
        ("Debian dpkg-source version 1.21.22.", "1.21.22"),
        ("GNU Make 4.3", "4.3"),
        ("g++ (Debian 12.2.0-14+deb12u1) 12.2.0", "12.2.0"),
        ("git version 2.47.3", "2.47.3"),
        ("rsync  version 3.5.0  protocol version 32", "3.5.0"),
        ("bc 1.07.1", "1.07.1"),
        ("6.0-28", "6.0"),
        ("file-5.44", "5.44"),
        ("GNU patch 2.7.6", "2.7.6"),
        ("GNU Wget 1.21.3 built on linux-gnu.", "1.21.3"),
        ("7.88.1-10+deb12u15", "7.88.1"),
        ("1:1.2.13.dfsg-1", "1.2.13"),
        ("2.74.6-2+deb12u9", "2.74.6"),
        ("version: 0.9.0", "0.9.0"),
        ("5.0.4 (mccabe: 0.7.0, pycodestyle: 2.10.0, pyflakes: 2.5.0) CPython 3.11.2 on", "5.0.4"),
        ("2:0.4.26-3", "0.4.26"),
        ("1:10.0.2+ds-2+deb13u1~bpo12+1", "10.0.2"),
        ("autoconf (GNU Autoconf) 2.71", "2.71"),
        ("libtoolize (GNU libtool) 2.4.7", "2.4.7"),
        ("cargo-nextest 0.9.143 (60fa45f63 2026-08-04)", "0.9.143"),
    ];

    #[test]
    fn the_version_is_read_out_of_each_tools_banner() {
        for (banner, version) in BANNERS {
            assert_eq!(short_version(banner).as_deref(), Some(*version), "{banner}");
        }
    }

    #[test]
    fn a_banner_without_a_dotted_number_gives_its_first_number_or_none() {
        assert_eq!(
            short_version("tool build 20231105").as_deref(),
            Some("20231105")
        );
        assert_eq!(short_version("no version here"), None);
        assert_eq!(short_version("v2 only"), None);
    }
}
