/* The 32-bit system call entry (INT 0x80) uses i386 numbers: the common
 * calls mapped to their x86-64 counterparts, so that traces and deny rules
 * (written with x86-64 names) cover 32-bit programs too, and the decoder
 * shows their arguments.  Calls missing here (socketcall, ipc, the *64
 * stat family, and most others) are shown by number and cannot be named
 * in a rule. */
#ifndef SYMBIONT_GEARS_COMPAT_H
#define SYMBIONT_GEARS_COMPAT_H

/* The x86-64 number of i386 call nr32, or -1. */
int gears_compat_to_64(unsigned nr32);
/* The i386 number of x86-64 call nr64, or -1. */
int gears_64_to_compat(unsigned nr64);

#endif
