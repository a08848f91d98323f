/* libFuzzer target: SymSpy pages and SymCall answers, which a hostile guest
 * writes as it likes.  The input is a page of guest RAM (padded with zeros)
 * and a byte choosing where the VMM believes the page is; the copy under the
 * seqcount, then the global and the CPU parsers, must refuse garbage with
 * one line and never read outside the page or the RAM (ASan checks that).
 * The same bytes are also a SymCall area header followed by process data. */
#include <stdint.h>
#include <string.h>

#include "services/symbiotic/symcall.h"
#include "symbiont/symspy.h"
#include "symbiont/memory.h"

#define RAM (4 * SYM_SYMSPY_PAGE_SIZE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ram[RAM] __attribute__((aligned(4096)));
	struct guest_mem m = { .host = ram, .size = RAM, .low_size = RAM };
	uint8_t page[SYM_SYMSPY_PAGE_SIZE];
	struct symspy_global g;
	struct symspy_cpu c;
	char err[256];
	uint64_t gpa;

	if (size < 1)
		return 0;
	/* mostly the page itself, sometimes an address that is not one */
	gpa = data[0] < 0xf0 ? (uint64_t)(data[0] % 4) * SYM_SYMSPY_PAGE_SIZE : (uint64_t)data[0] << 8;
	data++, size--;
	memset(ram, 0, sizeof(ram));
	memcpy(ram + SYM_SYMSPY_PAGE_SIZE, data, size < SYM_SYMSPY_PAGE_SIZE ? size : SYM_SYMSPY_PAGE_SIZE);
	memcpy(ram, ram + SYM_SYMSPY_PAGE_SIZE, SYM_SYMSPY_PAGE_SIZE);
	if (symspy_snapshot(&m, gpa, offsetof(struct sym_symspy_global, seq), page, sizeof(struct sym_symspy_global), 4,
	                    err, sizeof(err)) == 0 &&
	    symspy_parse_global(page, sizeof(struct sym_symspy_global), &g, err, sizeof(err)) == 0 && g.nrq > 0)
		(void)g.rq_len[g.nrq - 1];
	if (symspy_snapshot(&m, gpa, offsetof(struct sym_symspy_cpu, seq), page, sizeof(struct sym_symspy_cpu), 4, err,
	                    sizeof(err)) == 0)
		(void)symspy_parse_cpu(page, sizeof(struct sym_symspy_cpu), &c, err, sizeof(err));
	/* the parsers straight on the input, any length */
	(void)symspy_parse_global(data, size, &g, err, sizeof(err));
	(void)symspy_parse_cpu(data, size, &c, err, sizeof(err));

	static struct symcall_proc procs[64];
	static struct symcall_vma vmas[64];
	struct sym_symcall_area hdr;
	uint32_t status, len;
	uint64_t ret;
	if (size >= sizeof(hdr)) {
		memcpy(&hdr, data, sizeof(hdr));
		if (symcall_check_result(&hdr, hdr.id, size - sizeof(hdr), &status, &ret, &len, err, sizeof(err)) == 0)
			(void)symcall_parse_procs(data + sizeof(hdr), len, ret, procs, 64, err, sizeof(err));
		(void)symcall_parse_vmas(data + sizeof(hdr), size - sizeof(hdr), hdr.ret, vmas, 64, err, sizeof(err));
		static struct sym_symcall_fcache_page pages[64];
		struct sym_symcall_fcache fh;
		(void)symcall_parse_fcache(data + sizeof(hdr), size - sizeof(hdr),
		                           hdr.call & 1 ? SYM_SYMCALL_FILE_DROP : SYM_SYMCALL_FILE_PAGES, hdr.ret,
		                           hdr.args[0], &fh, pages, 64, err, sizeof(err));
	}
	return 0;
}
