################################################################################
#
# acalsim-kernel-modules
#
################################################################################

# `cargo xtask image` copies each kernel_modules directory, with the sibling
# directories it includes, into ACALSIM_KERNEL_MODULES_SRC (one numbered
# directory per entry) and lists them in ACALSIM_KERNEL_MODULES_SUBDIRS, both
# given on make's command line.
# A placeholder keeps reading this file working without sources (make
# show-info, the Kconfig check); building with it stops with the reason.
ACALSIM_KERNEL_MODULES_SRC ?= /nonexistent/acalsim-kernel-modules-src
ACALSIM_KERNEL_MODULES_VERSION = local
ACALSIM_KERNEL_MODULES_SITE = $(ACALSIM_KERNEL_MODULES_SRC)
ACALSIM_KERNEL_MODULES_SITE_METHOD = local
ACALSIM_KERNEL_MODULES_LICENSE = per module (see each module's sources)
ACALSIM_KERNEL_MODULES_MODULE_SUBDIRS = $(ACALSIM_KERNEL_MODULES_SUBDIRS)

# Checked when the package is built, not when make reads this file, so that
# `make show-info` and the Kconfig check work without module sources.
define ACALSIM_KERNEL_MODULES_CHECK_SRC
	$(if $(wildcard $(ACALSIM_KERNEL_MODULES_SRC)),,$(error acalsim-kernel-modules: no module sources at $(ACALSIM_KERNEL_MODULES_SRC); build the image with `cargo xtask image`))
endef
ACALSIM_KERNEL_MODULES_PRE_RSYNC_HOOKS += ACALSIM_KERNEL_MODULES_CHECK_SRC

$(eval $(kernel-module))
$(eval $(generic-package))
