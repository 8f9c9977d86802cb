//! Why did Kconfig drop a requested symbol: the finding for one
//! `SYMBOL=value`, from the entries the reader found and the `.config` values.

use super::expr::{eval, symbols_in, Values};
use super::parse::{Entry, Kconfig};

/// What Kconfig did with one requested `SYMBOL=value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Kept,
    /// Set, but to another value.
    Changed {
        got: String,
    },
    Dropped {
        reason: String,
    },
}

/// Compares a requested symbol with the resulting `.config` and explains a loss.
pub fn explain(symbol: &str, wanted: &str, values: &Values, k: &Kconfig) -> Finding {
    let got = values.get(symbol).cloned().unwrap_or_else(|| "n".into());
    if got == wanted {
        return Finding::Kept;
    }
    if wanted == "n" {
        return Finding::Changed { got };
    }
    let Some(entries) = k.entries.get(symbol) else {
        return Finding::Dropped {
            reason: unknown_symbol(symbol, k),
        };
    };
    if entries.iter().all(|e| e.file.ends_with("Config.in.legacy")) {
        return Finding::Dropped {
            reason: format!(
                "a legacy option: removed or renamed in this Buildroot (see {})",
                entries[0].file
            ),
        };
    }
    if let Some(first) = first_unmet_dependency(entries, values) {
        return Finding::Dropped { reason: first };
    }
    if !entries.iter().any(|e| e.prompt) {
        return Finding::Dropped {
            reason: no_prompt(symbol, k),
        };
    }
    if entries.iter().any(|e| e.in_choice) {
        return Finding::Dropped {
            reason: "in a choice where another option was chosen".into(),
        };
    }
    if got != "n" {
        return Finding::Changed { got };
    }
    Finding::Dropped {
        reason: "Kconfig did not keep it (no unmet dependency found; check `make menuconfig`)"
            .into(),
    }
}

/// The entry whose conditions hold decides; this reports the first unmet
/// condition of the non-legacy entries, with the values of its symbols.
fn first_unmet_dependency(entries: &[Entry], values: &Values) -> Option<String> {
    let mut unmet = entries
        .iter()
        .filter(|e| !e.file.ends_with("Config.in.legacy"))
        .flat_map(|e| e.depends.iter().map(move |cond| (e, cond)))
        .filter(|(_, cond)| eval(cond, values) == 0);
    let (e, cond) = unmet.next()?;
    let state: Vec<String> = symbols_in(cond)
        .into_iter()
        .map(|s| format!("{s}={}", values.get(&s).map_or("n", String::as_str)))
        .collect();
    Some(format!(
        "unmet `depends on {cond}` ({}) at {}:{}",
        state.join(", "),
        e.file,
        e.line
    ))
}

fn no_prompt(symbol: &str, k: &Kconfig) -> String {
    let by = k
        .selected_by
        .get(symbol)
        .map(|v| dedup(v))
        .unwrap_or_default();
    let hint = if by.is_empty() {
        String::new()
    } else {
        format!("; selected by {}", by.join(", "))
    };
    format!("no prompt: a defconfig cannot set it, only another option's `select` can{hint}")
}

fn unknown_symbol(symbol: &str, k: &Kconfig) -> String {
    let mut reason = "unknown symbol: no such option in this Buildroot".to_string();
    if let Some(name) = symbol.strip_prefix("BR2_PACKAGE_") {
        let host = format!("BR2_PACKAGE_HOST_{name}");
        if k.entries.contains_key(&host) {
            reason.push_str(&format!(
                " (only the host tool {host} exists; Buildroot builds it when a package needs it)"
            ));
        } else {
            reason.push_str(" (there is no target package of that name)");
        }
    }
    reason
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildroot::kconfig::sample::{tree, values};

    #[test]
    fn each_kind_of_loss_is_explained() {
        let k = tree();
        let v = values(&[
            ("BR2_PACKAGE_PYTHON3", "y"),
            ("BR2_INSTALL_LIBSTDCPP", "y"),
            ("BR2_GLIBC", "y"),
            ("BR2_PACKAGE_X", "y"),
        ]);
        let reason = |s: &str| match explain(s, "y", &v, &k) {
            Finding::Dropped { reason } => reason,
            other => panic!("{s}: {other:?}"),
        };
        let numpy = reason("BR2_PACKAGE_PYTHON_NUMPY");
        assert!(
            numpy.contains("unmet `depends on BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS`"),
            "{numpy}"
        );
        assert!(
            numpy.contains("BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS=n")
                && numpy.contains("pkg/Config.in:7"),
            "{numpy}"
        );
        let cmake = reason("BR2_PACKAGE_CMAKE");
        assert!(
            cmake.contains("no prompt") && cmake.contains("selected by BR2_PACKAGE_CMAKE_CTEST"),
            "{cmake}"
        );
        let patchelf = reason("BR2_PACKAGE_PATCHELF");
        assert!(
            patchelf.contains("unknown symbol") && patchelf.contains("BR2_PACKAGE_HOST_PATCHELF"),
            "{patchelf}"
        );
        let ninja = reason("BR2_PACKAGE_NINJA");
        assert!(ninja.contains("no target package"), "{ninja}");
        assert!(reason("BR2_PACKAGE_OLDTHING").contains("legacy option"));
        assert!(reason("BR2_MUSL").contains("choice"));
        assert_eq!(explain("BR2_PACKAGE_X", "y", &v, &k), Finding::Kept);
        assert_eq!(
            explain("BR2_GLIBC", "n", &v, &k),
            Finding::Changed { got: "y".into() }
        );
    }
}
