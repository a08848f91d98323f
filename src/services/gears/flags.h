/* Flag words by name, as strace shows them: O_RDONLY|O_CLOEXEC,
 * PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, AT_SYMLINK_NOFOLLOW,
 * R_OK|W_OK; bits without a name are added in hex. */
#ifndef SYMBIONT_GEARS_FLAGS_H
#define SYMBIONT_GEARS_FLAGS_H

#include <stddef.h>
#include <stdint.h>

enum gears_flag_kind { GEARS_OPEN_FLAGS, GEARS_PROT, GEARS_MAP_FLAGS, GEARS_AT_FLAGS, GEARS_ACCESS_MODE };

/* Writes the names into out (always NUL-terminated). */
void gears_format_flags(char *out, size_t outlen, enum gears_flag_kind kind, uint64_t value);

#endif
