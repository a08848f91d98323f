/* SymCall result checks: the guest wrote the call area, so every length,
 * count and string in it is checked before use. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "services/symbiotic/symcall.h"

_Static_assert(sizeof(struct sym_symcall_proc) == 40, "process record layout");
_Static_assert(sizeof(struct sym_symcall_vma) == 128, "mapping record layout");
_Static_assert(sizeof(struct sym_symcall_fcache) == 32, "page-cache header layout");
_Static_assert(sizeof(struct sym_symcall_fcache_page) == 16, "page-cache record layout");

/* A NUL within the field and printable text before it: its length, or -1. */
static int text_len(const char *s, size_t field)
{
	size_t k;
	for (k = 0; k < field && s[k]; k++)
		if (s[k] < 0x20 || s[k] > 0x7e)
			return -1;
	return k == field ? -1 : (int)k;
}

int symcall_check_result(const struct sym_symcall_area *hdr, uint32_t id, size_t max_data, uint32_t *status,
                         uint64_t *ret, uint32_t *data_len, char *err, size_t errlen)
{
	if (hdr->magic != SYM_SYMCALL_MAGIC || hdr->layout != SYM_SYMCALL_LAYOUT) {
		snprintf(err, errlen, "symcall: the call area is not one this symbiont reads (magic 0x%08x, layout %u)",
		         hdr->magic, hdr->layout);
		return -1;
	}
	if (hdr->id != id) {
		snprintf(err, errlen, "symcall: the call area holds call %u, not %u", hdr->id, id);
		return -1;
	}
	if (hdr->status == SYM_SYMCALL_PENDING) {
		snprintf(err, errlen, "symcall: the guest rang without answering");
		return -1;
	}
	if (hdr->data_len > max_data || hdr->data_len > SYM_SYMCALL_DATA_MAX) {
		snprintf(err, errlen, "symcall: the guest says %u bytes of data, the area holds %zu", hdr->data_len,
		         max_data < SYM_SYMCALL_DATA_MAX ? max_data : (size_t)SYM_SYMCALL_DATA_MAX);
		return -1;
	}
	*status = hdr->status;
	*ret = hdr->ret;
	*data_len = hdr->data_len;
	return 0;
}

int symcall_parse_procs(const void *data, size_t len, uint64_t ret, struct symcall_proc *out, size_t max, char *err,
                        size_t errlen)
{
	const unsigned char *p = data;
	size_t n = len / sizeof(struct sym_symcall_proc);

	if (len % sizeof(struct sym_symcall_proc) || n != ret) {
		snprintf(err, errlen, "symcall: %zu bytes of process records for a result of %llu", len,
		         (unsigned long long)ret);
		return -1;
	}
	if (n > max) {
		snprintf(err, errlen, "symcall: %zu processes, more than %zu", n, max);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct sym_symcall_proc r;
		size_t k;
		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (r.pid < 0 || r.ppid < 0) {
			snprintf(err, errlen, "symcall: process record %zu has a negative pid", i);
			return -1;
		}
		int tl = text_len(r.comm, sizeof(r.comm));
		if (tl < 0) {
			snprintf(err, errlen, "symcall: process record %zu has a name that is not printable text", i);
			return -1;
		}
		k = (size_t)tl;
		out[i].pid = r.pid;
		out[i].ppid = r.ppid;
		out[i].uid = r.uid;
		out[i].state = r.state;
		out[i].kthread = r.flags & SYM_PROC_KTHREAD;
		memcpy(out[i].comm, r.comm, k + 1);
	}
	return (int)n;
}

int symcall_parse_vmas(const void *data, size_t len, uint64_t ret, struct symcall_vma *out, size_t max, char *err,
                       size_t errlen)
{
	const unsigned char *p = data;
	size_t n = len / sizeof(struct sym_symcall_vma);
	uint64_t prev_end = 0;

	if (len % sizeof(struct sym_symcall_vma) || n != ret) {
		snprintf(err, errlen, "symcall: %zu bytes of mapping records for a result of %llu", len,
		         (unsigned long long)ret);
		return -1;
	}
	if (n > max) {
		snprintf(err, errlen, "symcall: %zu mappings, more than %zu", n, max);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct sym_symcall_vma r;
		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (r.start >= r.end || (r.start | r.end) & 0xfff || r.start < prev_end || r.end > 1ULL << 57) {
			snprintf(err, errlen, "symcall: mapping record %zu is not a page-aligned range above the last",
			         i);
			return -1;
		}
		int tl = text_len(r.path, sizeof(r.path));
		if (tl < 0) {
			snprintf(err, errlen, "symcall: mapping record %zu has a path that is not printable text", i);
			return -1;
		}
		prev_end = r.end;
		out[i] = (struct symcall_vma){ .start = r.start, .end = r.end, .pgoff = r.pgoff, .flags = r.flags };
		memcpy(out[i].path, r.path, (size_t)tl + 1);
	}
	return (int)n;
}

int symcall_parse_fcache(const void *data, size_t len, uint32_t call, uint64_t ret, uint64_t start,
                         struct sym_symcall_fcache *head, struct sym_symcall_fcache_page *out, size_t max, char *err,
                         size_t errlen)
{
	const unsigned char *p = data;
	const size_t rec = sizeof(struct sym_symcall_fcache_page);

	if (len < sizeof(*head)) {
		snprintf(err, errlen, "symcall: %zu bytes of page-cache data, shorter than its header", len);
		return -1;
	}
	memcpy(head, p, sizeof(*head));
	if (len != sizeof(*head) + (size_t)head->count * rec ||
	    (call == SYM_SYMCALL_FILE_PAGES ? head->count != ret : head->count != 0)) {
		snprintf(err, errlen, "symcall: %zu bytes of page-cache data for %u records and a result of %llu", len,
		         head->count, (unsigned long long)ret);
		return -1;
	}
	if (head->count > max) {
		snprintf(err, errlen, "symcall: %u cached pages in one answer, more than %zu", head->count, max);
		return -1;
	}
	uint64_t low = start;
	for (size_t i = 0; i < head->count; i++) {
		memcpy(&out[i], p + sizeof(*head) + i * rec, rec);
		if (out[i].index < low || out[i].index == SYM_FCACHE_END || (out[i].gpa & 0xfff)) {
			snprintf(err, errlen,
			         "symcall: cached page record %zu is not a page address at an index above the last", i);
			return -1;
		}
		low = out[i].index + 1;
	}
	if (head->next != SYM_FCACHE_END && (head->count == 0 || head->next < low)) {
		snprintf(err, errlen, "symcall: the page-cache walk goes on at index %llu, not past its last record",
		         (unsigned long long)head->next);
		return -1;
	}
	return (int)head->count;
}
