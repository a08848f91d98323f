/* SymSpy page parsing: every value comes from the guest, so each is checked
 * before it is believed (magic, layout, size, strings terminated and
 * printable, counts within their arrays). */
#include <stdio.h>
#include <string.h>

#include "symbiont/symspy.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

_Static_assert(sizeof(struct sym_symspy_global) <= SYM_SYMSPY_PAGE_SIZE, "global page layout too large");
_Static_assert(sizeof(struct sym_symspy_cpu) <= SYM_SYMSPY_PAGE_SIZE, "cpu page layout too large");

/* A guest string: NUL within n bytes, printable ASCII before it. */
static int copy_string(char *dst, const char *src, size_t n, const char *what, char *err, size_t errlen)
{
	size_t i;
	for (i = 0; i < n && src[i]; i++) {
		if (src[i] < 0x20 || src[i] > 0x7e) {
			snprintf(err, errlen, "symspy: %s has an unprintable byte 0x%02x", what, (unsigned char)src[i]);
			return -1;
		}
	}
	if (i == n) {
		snprintf(err, errlen, "symspy: %s is not terminated", what);
		return -1;
	}
	memcpy(dst, src, i + 1);
	return 0;
}

static int check_header(uint32_t magic, uint32_t want, uint32_t layout, uint32_t seq, const char *what, char *err,
                        size_t errlen)
{
	if (magic != want) {
		snprintf(err, errlen, "symspy: %s page has magic 0x%08x, not 0x%08x", what, magic, want);
		return -1;
	}
	if (layout != SYM_SYMSPY_LAYOUT) {
		snprintf(err, errlen, "symspy: %s page has layout %u, this symbiont reads %u", what, layout,
		         SYM_SYMSPY_LAYOUT);
		return -1;
	}
	if (seq & 1) {
		snprintf(err, errlen, "symspy: %s page is being written (seqcount %u)", what, seq);
		return -1;
	}
	return 0;
}

/* Memory figures beyond 2^50 KiB (1 EiB) are not a real guest's. */
#define KB_MAX (1ull << 50)

int symspy_parse_global(const void *page, size_t len, struct symspy_global *out, char *err, size_t errlen)
{
	struct sym_symspy_global g;
	const __u64 *mem[] = { &g.mem_free_kb, &g.mem_available_kb, &g.page_cache_kb, &g.anon_kb, &g.buffers_kb };

	if (len < sizeof(g)) {
		snprintf(err, errlen, "symspy: global page is %zu bytes, needs %zu", len, sizeof(g));
		return -1;
	}
	memcpy(&g, page, sizeof(g));
	if (check_header(g.magic, SYM_SYMSPY_GLOBAL_MAGIC, g.layout, g.seq, "global", err, errlen))
		return -1;
	if (g.size != sizeof(g)) {
		snprintf(err, errlen, "symspy: global page says its layout is %u bytes, not %zu", g.size, sizeof(g));
		return -1;
	}
	if (g.mem_total_kb == 0 || g.mem_total_kb > KB_MAX) {
		snprintf(err, errlen, "symspy: implausible memory total %llu KiB", (unsigned long long)g.mem_total_kb);
		return -1;
	}
	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++) {
		if (*mem[i] > g.mem_total_kb) {
			snprintf(err, errlen, "symspy: a memory figure (%llu KiB) exceeds the total (%llu KiB)",
			         (unsigned long long)*mem[i], (unsigned long long)g.mem_total_kb);
			return -1;
		}
	}
	if (g.nr_cpus == 0 || g.nr_running > g.nr_tasks) {
		snprintf(err, errlen, "symspy: implausible counts (%u CPUs, %u runnable of %u tasks)", g.nr_cpus,
		         g.nr_running, g.nr_tasks);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (copy_string(out->release, g.release, sizeof(g.release), "kernel release", err, errlen))
		return -1;
	out->updates = g.updates;
	out->update_ns = g.update_ns;
	out->kaslr_base = g.kaslr_base;
	out->mem_total_kb = g.mem_total_kb;
	out->mem_free_kb = g.mem_free_kb;
	out->mem_available_kb = g.mem_available_kb;
	out->page_cache_kb = g.page_cache_kb;
	out->anon_kb = g.anon_kb;
	out->buffers_kb = g.buffers_kb;
	for (int i = 0; i < 3; i++)
		out->loadavg[i] = (double)g.loadavg[i] / (1u << SYM_SYMSPY_FSHIFT);
	out->nr_cpus = g.nr_cpus;
	out->nr_running = g.nr_running;
	out->nr_tasks = g.nr_tasks;
	out->nrq = g.nr_cpus < SYM_SYMSPY_MAX_CPUS ? g.nr_cpus : SYM_SYMSPY_MAX_CPUS;
	for (unsigned i = 0; i < out->nrq; i++) {
		if (g.rq_len[i] > g.nr_tasks) {
			snprintf(err, errlen, "symspy: run queue %u holds %u of %u tasks", i, g.rq_len[i], g.nr_tasks);
			return -1;
		}
		out->rq_len[i] = g.rq_len[i];
	}
	return 0;
}

int symspy_parse_cpu(const void *page, size_t len, struct symspy_cpu *out, char *err, size_t errlen)
{
	struct sym_symspy_cpu c;

	if (len < sizeof(c)) {
		snprintf(err, errlen, "symspy: CPU page is %zu bytes, needs %zu", len, sizeof(c));
		return -1;
	}
	memcpy(&c, page, sizeof(c));
	if (check_header(c.magic, SYM_SYMSPY_CPU_MAGIC, c.layout, c.seq, "CPU", err, errlen))
		return -1;
	if (c.pid < 0 || c.tgid < 0) {
		snprintf(err, errlen, "symspy: CPU page has a negative pid (%d, tgid %d)", c.pid, c.tgid);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (copy_string(out->comm, c.comm, sizeof(c.comm), "task name", err, errlen))
		return -1;
	out->cpu = c.cpu;
	out->switches = c.switches;
	out->switch_ns = c.switch_ns;
	out->pid = c.pid;
	out->tgid = c.tgid;
	return 0;
}

static int read_seq(const struct guest_mem *mem, uint64_t gpa, uint32_t *seq)
{
	const uint32_t *p = gpa_to_host(mem, gpa, sizeof(*p));
	if (!p)
		return -1;
	*seq = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return 0;
}

int symspy_snapshot(const struct guest_mem *mem, uint64_t gpa, size_t seq_off, void *buf, size_t len, int tries,
                    char *err, size_t errlen)
{
	uint32_t s1, s2;

	if ((gpa & (SYM_SYMSPY_PAGE_SIZE - 1)) || len > SYM_SYMSPY_PAGE_SIZE || seq_off + 4 > len ||
	    !gpa_to_host(mem, gpa, SYM_SYMSPY_PAGE_SIZE)) {
		snprintf(err, errlen, "symspy: page 0x%llx is not a page of guest RAM", (unsigned long long)gpa);
		return -1;
	}
	for (int i = 0; i < tries; i++) {
		if (read_seq(mem, gpa + seq_off, &s1))
			break;
		if (s1 & 1)
			continue;
		if (gpa_read(mem, gpa, buf, len))
			break;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (read_seq(mem, gpa + seq_off, &s2))
			break;
		if (s1 == s2) {
			memcpy((char *)buf + seq_off, &s1, sizeof(s1)); /* the copy's own may be torn */
			return 0;
		}
	}
	snprintf(err, errlen, "symspy: page 0x%llx changed under every one of %d reads", (unsigned long long)gpa,
	         tries);
	return -1;
}

#define READ_TRIES 1000

int symspy_read_global(struct vm *vm, struct symspy_global *out, char *err, size_t errlen)
{
	uint8_t page[sizeof(struct sym_symspy_global)];
	uint64_t gpa = atomic_load_explicit(&vm->symspy.global_gpa, memory_order_acquire);

	if (!gpa) {
		snprintf(err, errlen, "symspy: the guest shares no pages (no symbiotic module loaded)");
		return -1;
	}
	if (symspy_snapshot(&vm->mem, gpa, offsetof(struct sym_symspy_global, seq), page, sizeof(page), READ_TRIES, err,
	                    errlen))
		return -1;
	return symspy_parse_global(page, sizeof(page), out, err, errlen);
}

int symspy_read_cpu(struct vm *vm, int cpu, struct symspy_cpu *out, char *err, size_t errlen)
{
	uint8_t page[sizeof(struct sym_symspy_cpu)];
	uint64_t gpa = cpu >= 0 && cpu < VM_MAX_CPUS
	                       ? atomic_load_explicit(&vm->symspy.cpu_gpa[cpu], memory_order_acquire)
	                       : 0;

	if (!gpa) {
		snprintf(err, errlen, "symspy: no page for this vCPU");
		return -1;
	}
	if (symspy_snapshot(&vm->mem, gpa, offsetof(struct sym_symspy_cpu, seq), page, sizeof(page), READ_TRIES, err,
	                    errlen))
		return -1;
	return symspy_parse_cpu(page, sizeof(page), out, err, errlen);
}
