/* Flag words by name (flags.h).  The values are the x86-64 Linux ABI's;
 * the guest's, not the host's, so they are spelled out here. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "services/gears/flags.h"

struct flag_name {
	uint64_t bit;
	const char *name;
};

/* Names that include another's bits come first (O_SYNC holds O_DSYNC,
 * O_TMPFILE O_DIRECTORY): a name is used only when all its bits are set. */
static const struct flag_name open_flags[] = {
	{ 04010000, "O_SYNC" },      { 020200000, "O_TMPFILE" }, { 00000100, "O_CREAT" },   { 00000200, "O_EXCL" },
	{ 00000400, "O_NOCTTY" },    { 00001000, "O_TRUNC" },    { 00002000, "O_APPEND" },  { 00004000, "O_NONBLOCK" },
	{ 00010000, "O_DSYNC" },     { 00020000, "O_ASYNC" },    { 00040000, "O_DIRECT" },  { 00100000, "O_LARGEFILE" },
	{ 00200000, "O_DIRECTORY" }, { 00400000, "O_NOFOLLOW" }, { 01000000, "O_NOATIME" }, { 02000000, "O_CLOEXEC" },
	{ 010000000, "O_PATH" },
};
static const struct flag_name prot_flags[] = {
	{ 0x1, "PROT_READ" },           { 0x2, "PROT_WRITE" }, { 0x4, "PROT_EXEC" }, { 0x01000000, "PROT_GROWSDOWN" },
	{ 0x02000000, "PROT_GROWSUP" },
};
static const struct flag_name map_flags[] = {
	{ 0x10, "MAP_FIXED" },      { 0x20, "MAP_ANONYMOUS" },
	{ 0x40, "MAP_32BIT" },      { 0x100, "MAP_GROWSDOWN" },
	{ 0x800, "MAP_DENYWRITE" }, { 0x1000, "MAP_EXECUTABLE" },
	{ 0x2000, "MAP_LOCKED" },   { 0x4000, "MAP_NORESERVE" },
	{ 0x8000, "MAP_POPULATE" }, { 0x10000, "MAP_NONBLOCK" },
	{ 0x20000, "MAP_STACK" },   { 0x40000, "MAP_HUGETLB" },
	{ 0x80000, "MAP_SYNC" },    { 0x100000, "MAP_FIXED_NOREPLACE" },
};
static const struct flag_name at_flags[] = {
	{ 0x100, "AT_SYMLINK_NOFOLLOW" }, { 0x200, "AT_REMOVEDIR" },   { 0x400, "AT_SYMLINK_FOLLOW" },
	{ 0x800, "AT_NO_AUTOMOUNT" },     { 0x1000, "AT_EMPTY_PATH" },
};
static const struct flag_name access_flags[] = { { 4, "R_OK" }, { 2, "W_OK" }, { 1, "X_OK" } };

static void append(char *out, size_t outlen, size_t *used, const char *s)
{
	int n = snprintf(out + *used, outlen - *used, "%s%s", *used ? "|" : "", s);
	if (n > 0)
		*used = *used + (size_t)n < outlen ? *used + (size_t)n : outlen - 1;
}

/* Names each bit of value in table (a multi-bit name only when all its bits
 * are set) after lead (may be NULL), the rest in hex; "0" when nothing. */
static void names(char *out, size_t outlen, const struct flag_name *t, size_t n, uint64_t value, const char *lead)
{
	size_t used = 0;
	char hex[24];

	out[0] = 0;
	if (lead)
		append(out, outlen, &used, lead);
	for (size_t i = 0; i < n; i++) {
		if ((value & t[i].bit) == t[i].bit && t[i].bit) {
			append(out, outlen, &used, t[i].name);
			value &= ~t[i].bit;
		}
	}
	if (value || !used) {
		snprintf(hex, sizeof(hex), "%#" PRIx64, value);
		append(out, outlen, &used, value ? hex : "0");
	}
}

void gears_format_flags(char *out, size_t outlen, enum gears_flag_kind kind, uint64_t value)
{
	static const char *const acc[4] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

	if (!outlen)
		return;
	switch (kind) {
	case GEARS_OPEN_FLAGS:
		value &= 0xffffffff; /* an int in the ABI */
		names(out, outlen, open_flags, sizeof(open_flags) / sizeof(open_flags[0]), value & ~3ULL,
		      acc[value & 3]);
		break;
	case GEARS_PROT:
		if (!value) {
			snprintf(out, outlen, "PROT_NONE");
			break;
		}
		names(out, outlen, prot_flags, sizeof(prot_flags) / sizeof(prot_flags[0]), value, NULL);
		break;
	case GEARS_MAP_FLAGS: {
		static const char *const type[4] = { "0", "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE" };
		names(out, outlen, map_flags, sizeof(map_flags) / sizeof(map_flags[0]), value & ~3ULL,
		      value & 3 ? type[value & 3] : NULL);
		break;
	}
	case GEARS_AT_FLAGS:
		names(out, outlen, at_flags, sizeof(at_flags) / sizeof(at_flags[0]), value & 0xffffffff, NULL);
		break;
	case GEARS_ACCESS_MODE:
		if (!value) {
			snprintf(out, outlen, "F_OK");
			break;
		}
		names(out, outlen, access_flags, sizeof(access_flags) / sizeof(access_flags[0]), value & 0xffffffff,
		      NULL);
		break;
	}
}
