// SPDX-License-Identifier: GPL-2.0
/* Loads, says so, unloads: proves a kernel_modules entry was built against
 * the image's kernel and indexed by depmod. */
#include <linux/init.h>
#include <linux/module.h>

static int __init acalsim_hello_init(void)
{
	pr_info("acalsim_hello: loaded\n");
	return 0;
}

static void __exit acalsim_hello_exit(void)
{
}

module_init(acalsim_hello_init);
module_exit(acalsim_hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("acalsim-xtask kernel_modules test module");
