# Packages of the ACALSIM external tree: acalsim-kernel-modules (an image's
# kernel_modules). Everything else the image needs comes from Buildroot
# itself; Config.in also fixes what Buildroot 2024.02 lacks for riscv64.
include $(sort $(wildcard $(BR2_EXTERNAL_ACALSIM_PATH)/package/*/*.mk))
