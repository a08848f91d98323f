// SPDX-License-Identifier: GPL-2.0
/*
 * The SymMod example: a module the VMM loads into a running guest
 * (`symbiont ctl NAME symmod load symmod_hello.ko`) that registers a SymCall
 * of its own, SYM_SYMCALL_HELLO, so the VMM gains an interface it did not
 * have: `symbiont ctl NAME symcall 256 21` answers 42 and a greeting.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/string.h>

#include "symbiotic.h"

static const char greeting[] = "hello from symmod";

static u64 hello(struct sym_symcall_area *a, u32 *status)
{
	memcpy(a->data, greeting, sizeof(greeting));
	a->data_len = sizeof(greeting);
	return READ_ONCE(a->args[0]) * 2;
}

static int __init symmod_hello_init(void)
{
	int r = symbiotic_register_call(SYM_SYMCALL_HELLO, hello);

	if (r)
		pr_err("cannot register SymCall %#x: %d\n", SYM_SYMCALL_HELLO, r);
	return r;
}

static void __exit symmod_hello_exit(void)
{
	symbiotic_unregister_call(SYM_SYMCALL_HELLO);
}

module_init(symmod_hello_init);
module_exit(symmod_hello_exit);
MODULE_DESCRIPTION("SymMod example: a SymCall registered at run time");
MODULE_LICENSE("GPL");
