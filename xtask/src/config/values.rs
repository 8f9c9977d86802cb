//! Checks shared by every part of the config: names, word lists, sizes,
//! enumerations, and the `file:line:col` error every one of them reports.

use std::ops::Range;

use anyhow::Result;
use toml::Spanned;

/// Makes the error for a span of the config text (see [`located`]).
pub type At<'a> = dyn Fn(Range<usize>, String) -> anyhow::Error + 'a;

/// Formats `msg` as `file:line:col: msg`, followed by the offending line.
pub fn located(text: &str, file: &str, span: Range<usize>, msg: &str) -> anyhow::Error {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let col = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    anyhow::anyhow!("{file}:{line_no}:{col}: {msg}\n    | {line}")
}

/// A value that names one of a fixed set, as its enum.
pub trait Choice: Sized + Copy + 'static {
    /// Every value with its name in the config.
    const ALL: &'static [(Self, &'static str)];

    fn name(self) -> &'static str;

    /// The names, for "valid: …" messages.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n)| *n).collect()
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }
}

/// `key = "NAME"` as one of `T`'s values, `default` when the key is absent.
pub fn one_of<T: Choice>(v: &Option<Spanned<String>>, key: &str, default: T, at: &At) -> Result<T> {
    match v {
        None => Ok(default),
        Some(s) => T::from_name(s.get_ref()).ok_or_else(|| {
            at(
                s.span(),
                format!(
                    "`{key} = \"{}\"` is not valid; valid: {}",
                    s.get_ref(),
                    T::names().join(", ")
                ),
            )
        }),
    }
}

/// A list of names, each checked by `ok`.
pub fn word_list(
    v: Option<Spanned<Vec<String>>>,
    key: &str,
    at: &At,
    ok: fn(&str) -> bool,
) -> Result<Option<Vec<String>>> {
    match v {
        Some(list) => {
            if let Some(bad) = list.get_ref().iter().find(|w| !ok(w)) {
                return Err(at(list.span(), format!("{key}: `{bad}` is not a valid name (lowercase letters, digits, '+', '-', '.')")));
            }
            Ok(Some(list.into_inner()))
        }
        None => Ok(None),
    }
}

/// Lowercase letters, digits and '-', not starting with '-'.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Exactly `len` hex digits (a sha256 is 64, a git commit 40).
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Debian policy 5.6.1: `[a-z0-9][a-z0-9+.-]+`.
pub fn is_package_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
}

/// QEMU's riscv `virt` machine takes at most 512 harts (`VIRT_CPUS_MAX`).
pub const MAX_SMP: u32 = 512;
/// Below this the Debian kernel and its initrd do not come up.
pub const MIN_MEMORY_MIB: u64 = 128;

/// A vCPU count QEMU's `virt` machine accepts, or why not.
pub fn check_smp(n: u32) -> Result<u32, String> {
    if (1..=MAX_SMP).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} virtual CPUs: QEMU's virt machine takes 1 to {MAX_SMP}"
        ))
    }
}

/// A guest memory size ("4G", "1536M") in MiB: a whole number of MiB, and at
/// least what the guest boots with.
pub fn memory_mib(s: &str) -> Result<u64, String> {
    let bytes = parse_size(s)?;
    if bytes < MIN_MEMORY_MIB << 20 {
        return Err(format!(
            "`{s}` is too small to boot the guest; use at least {MIN_MEMORY_MIB}M"
        ));
    }
    if bytes % (1 << 20) != 0 {
        return Err(format!(
            "`{s}` is not a whole number of MiB (QEMU's -m counts MiB), e.g. 4G or 1536M"
        ));
    }
    Ok(bytes >> 20)
}

/// "4G", "512M", "1024K", "1T" or plain bytes, binary units.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{s}`: expected a number with an optional K, M, G or T suffix, e.g. \"4G\"")
    })?;
    let shift = match unit.trim_end_matches(['i', 'B']) {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(format!("`{s}`: unknown unit `{other}`; use K, M, G or T")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}
