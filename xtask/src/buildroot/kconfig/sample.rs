//! A small Kconfig tree in the shape of Buildroot's, with one of each thing
//! the reader and the explainer must handle, for their tests.

use std::collections::BTreeMap;

use super::expr::Values;
use super::parse::{load, Kconfig};

const ROOT: &str = r#"
menu "Target packages"
source "pkg/Config.in"
endmenu
source "pkg/Config.in.host"
source "Config.in.legacy"
"#;
const PKG: &str = r#"
if BR2_PACKAGE_PYTHON3
config BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS
	bool
	default y if BR2_arm

config BR2_PACKAGE_PYTHON_NUMPY
	bool "python-numpy"
	depends on BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS
	depends on BR2_INSTALL_LIBSTDCPP
	help
	  NumPy.
	  depends on nothing here: this is help text

endif

config BR2_PACKAGE_CMAKE
	bool

config BR2_PACKAGE_CMAKE_CTEST
	bool "ctest"
	depends on BR2_USE_MMU && \
		BR2_INSTALL_LIBSTDCPP
	select BR2_PACKAGE_CMAKE

choice
	prompt "libc"
config BR2_GLIBC
	bool "glibc"
config BR2_MUSL
	bool "musl"
endchoice
"#;
const HOST: &str = "config BR2_PACKAGE_HOST_PATCHELF\n\tbool \"host patchelf\"\n";
const LEGACY: &str =
    "config BR2_PACKAGE_OLDTHING\n\tbool \"oldthing has been removed\"\n\tselect BR2_LEGACY\n";

/// The sample tree, read from memory with `source` arguments taken as paths.
pub fn tree() -> Kconfig {
    let files: BTreeMap<&str, &str> = [
        ("Config.in", ROOT),
        ("pkg/Config.in", PKG),
        ("pkg/Config.in.host", HOST),
        ("Config.in.legacy", LEGACY),
    ]
    .into();
    load(
        "Config.in",
        &|p| files.get(p).map(|t| t.to_string()),
        &|a| a.to_string(),
    )
}

/// `.config` values from `(symbol, value)` pairs.
pub fn values(pairs: &[(&str, &str)]) -> Values {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
