# Packages of the ACALSIM external tree. None yet: everything the image needs
# comes from Buildroot itself; Config.in only fixes what Buildroot 2024.02
# lacks for riscv64.
include $(sort $(wildcard $(BR2_EXTERNAL_ACALSIM_PATH)/package/*/*.mk))
