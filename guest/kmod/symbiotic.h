/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What symbiotic.ko offers other guest modules: SymCall numbers of their
 * own (from SYM_SYMCALL_FIRST_REGISTERED), so that a module the VMM loads
 * at run time (SymMod) gives it a new interface.  The handler runs as the
 * symbiotic module's own calls do: CPL 0, interrupts off, in whatever the
 * vCPU was doing; it must not sleep or take a lock it might interrupt.
 */
#ifndef SYMBIOTIC_H
#define SYMBIOTIC_H

#include <linux/types.h>

#include "symbiont/abi/symcall.h"

typedef u64 (*symbiotic_call_fn)(struct sym_symcall_area *a, u32 *status);

int symbiotic_register_call(u32 nr, symbiotic_call_fn fn);
void symbiotic_unregister_call(u32 nr);

#endif
