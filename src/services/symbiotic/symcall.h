/* SymCall results as the VMM sees them: the call area's header and data,
 * written by the guest, checked before they are believed. */
#ifndef SYMBIONT_SERVICES_SYMCALL_H
#define SYMBIONT_SERVICES_SYMCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/abi/symcall.h"

struct symcall_proc {
	int32_t pid, ppid;
	uint32_t uid, state;
	bool kthread;
	char comm[16];
};

/* The header of a finished call (copied out of the guest): 0 with status,
 * ret and data_len (at most max_data) filled in, or -1 with one line in err
 * (not the guest's area, another call's id, still pending, a length past
 * the area). */
int symcall_check_result(const struct sym_symcall_area *hdr, uint32_t id, size_t max_data, uint32_t *status,
                         uint64_t *ret, uint32_t *data_len, char *err, size_t errlen);

/* SYM_SYMCALL_PROCESSES data: at most max records into out; the count, or
 * -1 with one line in err (a length that is not whole records, a count
 * other than the call's result, a record with a negative pid or a name
 * that is not terminated and printable). */
int symcall_parse_procs(const void *data, size_t len, uint64_t ret, struct symcall_proc *out, size_t max, char *err,
                        size_t errlen);

struct symcall_vma {
	uint64_t start, end, pgoff;
	uint32_t flags; /* SYM_VMA_* */
	char path[96];
};

/* SYM_SYMCALL_VMAS data: the same checks, and each mapping non-empty,
 * page-aligned, above the one before and below 2^57, its path terminated
 * and printable. */
int symcall_parse_vmas(const void *data, size_t len, uint64_t ret, struct symcall_vma *out, size_t max, char *err,
                       size_t errlen);

/* SYM_SYMCALL_FILE_PAGES / _DROP data: the header into *head and (FILE_PAGES)
 * at most max records into out: the record count, or -1 with one line in
 * err (shorter than the header, a length other than the header and its
 * records, a count other than the call's result for FILE_PAGES or any
 * record for FILE_DROP, indices not ascending from start, a next index not
 * past the last record, an address that is not a page's). */
int symcall_parse_fcache(const void *data, size_t len, uint32_t call, uint64_t ret, uint64_t start,
                         struct sym_symcall_fcache *head, struct sym_symcall_fcache_page *out, size_t max, char *err,
                         size_t errlen);

#endif
