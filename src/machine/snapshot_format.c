/* The snapshot state file: a header, then sections, each with its own
 * length and CRC-32, ending with an END section (docs/snapshot.md).  The
 * decoder trusts nothing: a file from disk may be truncated, corrupt or
 * written by someone else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "machine/snapshot_format.h"
#include "symbiont/abi/cpuid.h"

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_CONF        TAG('C', 'O', 'N', 'F')
#define TAG_VCPU        TAG('V', 'C', 'P', 'U')
#define TAG_DEVICE      TAG('D', 'E', 'V', 'S')
#define TAG_CPU_MODEL   TAG('C', 'P', 'U', 'M')
#define TAG_DISK        TAG('D', 'I', 'S', 'K')
#define TAG_RAM         TAG('R', 'A', 'M', ' ')
#define TAG_END         TAG('E', 'N', 'D', ' ')
#define HEADER_LEN      16 /* magic, version, flags */

const struct snap_cpuid_leaf snap_cpuid_leaves[] = {
	{ 0x1, 0, { 0, 0, ~((1u << 27) | (1u << 31)), ~(1u << 9) } }, /* not OSXSAVE, hypervisor, APIC */
	{ 0x7, 0, { 0, ~0u, ~(1u << 4), ~0u } },                      /* not OSPKE */
	{ 0xd, 1, { ~0u, 0, 0, 0 } },                                 /* XSAVEOPT, XSAVEC, XGETBV1, XSAVES */
	{ 0x80000001, 0, { 0, 0, ~0u, ~0u } },
	{ SYM_CPUID_LEAF_TIMING, 0, { 0, 0, 0, 0 } }, /* not features: the TSC frequency the guest was told */
};
const int snap_cpuid_nleaves = sizeof(snap_cpuid_leaves) / sizeof(snap_cpuid_leaves[0]);

/* ---- vCPU state --------------------------------------------------------- */

static void put_seg(struct state_buf *b, const struct x86_seg *g)
{
	st_put64(b, g->base);
	st_put32(b, g->limit);
	st_put16(b, g->sel);
	const uint8_t f[] = { g->type, g->s, g->dpl, g->present, g->db, g->l, g->g, g->avl, g->unusable };
	st_put_bytes(b, f, sizeof(f));
}

static void get_seg(struct state_reader *r, struct x86_seg *g)
{
	g->base = st_get64(r);
	g->limit = st_get32(r);
	g->sel = st_get16(r);
	g->type = st_get8(r);
	st_check(r, g->type < 16);
	g->s = st_get_bool(r);
	g->dpl = st_get8(r);
	st_check(r, g->dpl < 4);
	g->present = st_get_bool(r);
	g->db = st_get_bool(r);
	g->l = st_get_bool(r);
	g->g = st_get_bool(r);
	g->avl = st_get_bool(r);
	g->unusable = st_get_bool(r);
}

/* The MSRs in struct x86_msrs order. */
#define MSR_WORDS (sizeof(struct x86_msrs) / sizeof(uint64_t))

void snap_put_x86_state(struct state_buf *b, const struct x86_state *s)
{
	const uint64_t *msr = (const uint64_t *)&s->msr;
	const struct x86_events *e = &s->ev;

	for (int i = 0; i < 16; i++)
		st_put64(b, s->gpr[i]);
	st_put64(b, s->rip);
	st_put64(b, s->rflags);
	for (int i = 0; i < SEG_COUNT; i++)
		put_seg(b, &s->seg[i]);
	put_seg(b, &s->tr);
	put_seg(b, &s->ldt);
	st_put64(b, s->gdt.base);
	st_put16(b, s->gdt.limit);
	st_put64(b, s->idt.base);
	st_put16(b, s->idt.limit);
	st_put64(b, s->cr0);
	st_put64(b, s->cr2);
	st_put64(b, s->cr3);
	st_put64(b, s->cr4);
	st_put64(b, s->cr8);
	st_put64(b, s->efer);
	st_put64(b, s->apic_base);
	st_put32(b, s->parts);
	for (size_t i = 0; i < MSR_WORDS; i++)
		st_put64(b, msr[i]);
	st_put_bytes(b, s->fxsave, sizeof(s->fxsave));
	st_put64(b, s->xcr0 ? s->xcr0 : 1); /* (0: a state that never set it) */
	st_put32(b, s->pkru);
	for (int i = 0; i < 4; i++)
		st_put64(b, s->dr[i]);
	st_put64(b, s->dr6);
	st_put64(b, s->dr7);
	st_put_bool(b, e->interrupt_shadow);
	st_put_bool(b, e->nmi_pending);
	st_put_bool(b, e->nmi_masked);
	st_put_bool(b, e->exception_injected);
	st_put_bool(b, e->exception_has_error);
	st_put8(b, e->exception_nr);
	st_put32(b, e->exception_error);
	st_put_bool(b, e->interrupt_injected);
	st_put_bool(b, e->interrupt_soft);
	st_put8(b, e->interrupt_nr);
	st_put8(b, e->mp_state);
	st_put_bytes(b, s->lapic, sizeof(s->lapic));
	st_put_bytes(b, s->ymmh, sizeof(s->ymmh)); /* (version 4) */
}

/* version: the file's format; before 4 there are no YMM upper halves
 * (zero, as the CPUs that wrote those files had none). */
static void get_x86_state(struct state_reader *r, struct x86_state *s, uint32_t version)
{
	uint64_t *msr = (uint64_t *)&s->msr;
	struct x86_events *e = &s->ev;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		s->gpr[i] = st_get64(r);
	s->rip = st_get64(r);
	s->rflags = st_get64(r);
	for (int i = 0; i < SEG_COUNT; i++)
		get_seg(r, &s->seg[i]);
	get_seg(r, &s->tr);
	get_seg(r, &s->ldt);
	s->gdt.base = st_get64(r);
	s->gdt.limit = st_get16(r);
	s->idt.base = st_get64(r);
	s->idt.limit = st_get16(r);
	s->cr0 = st_get64(r);
	s->cr2 = st_get64(r);
	s->cr3 = st_get64(r);
	s->cr4 = st_get64(r);
	s->cr8 = st_get64(r);
	st_check(r, s->cr8 < 16);
	s->efer = st_get64(r);
	s->apic_base = st_get64(r);
	s->parts = st_get32(r);
	/* A whole state only: a snapshot resumes a running CPU, and an engine
	 * given less would keep its own power-on parts. */
	st_check(r, s->parts == X86_STATE_ALL);
	for (size_t i = 0; i < MSR_WORDS; i++)
		msr[i] = st_get64(r);
	st_get_bytes(r, s->fxsave, sizeof(s->fxsave));
	s->xcr0 = st_get64(r);
	st_check(r, s->xcr0 & 1); /* x87 is always enabled */
	s->pkru = st_get32(r);
	for (int i = 0; i < 4; i++)
		s->dr[i] = st_get64(r);
	s->dr6 = st_get64(r);
	s->dr7 = st_get64(r);
	e->interrupt_shadow = st_get_bool(r);
	e->nmi_pending = st_get_bool(r);
	e->nmi_masked = st_get_bool(r);
	e->exception_injected = st_get_bool(r);
	e->exception_has_error = st_get_bool(r);
	e->exception_nr = st_get8(r);
	st_check(r, e->exception_nr < 32);
	e->exception_error = st_get32(r);
	e->interrupt_injected = st_get_bool(r);
	e->interrupt_soft = st_get_bool(r);
	e->interrupt_nr = st_get8(r);
	e->mp_state = st_get8(r);
	st_check(r, e->mp_state <= X86_MP_WAIT_SIPI);
	st_get_bytes(r, s->lapic, sizeof(s->lapic));
	if (version >= 4)
		st_get_bytes(r, s->ymmh, sizeof(s->ymmh));
}

void snap_get_x86_state(struct state_reader *r, struct x86_state *s)
{
	get_x86_state(r, s, SNAP_VERSION);
}

/* ---- strings ------------------------------------------------------------ */

static void put_str(struct state_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	st_put_bool(b, s != NULL);
	if (!s)
		return;
	if (n > SNAP_MAX_STRING) {
		b->failed = true; /* the configuration's strings come from a command line: never this long */
		return;
	}
	st_put16(b, (uint16_t)n);
	st_put_bytes(b, s, n);
}

/* NULL when absent; a bad or overlong string marks r bad (and gives NULL). */
static char *get_str(struct state_reader *r)
{
	if (!st_get_bool(r))
		return NULL;
	uint16_t n = st_get16(r);
	if (r->bad || n > SNAP_MAX_STRING || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const char *p = (const char *)r->p + r->off;
	if (memchr(p, 0, n)) {
		r->bad = true; /* would silently cut the string */
		return NULL;
	}
	char *s = strndup(p, n);
	if (!s)
		r->bad = true;
	r->off += n;
	return s;
}

/* ---- encoding ----------------------------------------------------------- */

static size_t section_begin(struct state_buf *b, uint32_t tag)
{
	st_put32(b, tag);
	st_put32(b, 0); /* length, patched by section_end */
	return b->len;
}

static void section_end(struct state_buf *b, size_t start)
{
	if (b->failed)
		return;
	uint32_t len = (uint32_t)(b->len - start);
	for (int i = 0; i < 4; i++)
		b->data[start - 4 + i] = (uint8_t)(len >> (8 * i));
	st_put32(b, (uint32_t)crc32(0, b->data + start - 8, (uInt)(len + 8)));
}

void snapshot_encode(const struct snapshot *s, struct state_buf *b)
{
	size_t at;

	st_put_bytes(b, SNAP_MAGIC, 8);
	st_put32(b, SNAP_VERSION);
	st_put32(b, 0); /* flags: none defined */

	at = section_begin(b, TAG_CONF);
	st_put64(b, s->mem_size);
	st_put32(b, (uint32_t)s->ncpus);
	st_put64(b, s->clock_ns);
	st_put64(b, s->wall_ns);
	put_str(b, s->engine);
	put_str(b, s->kernel);
	put_str(b, s->initrd);
	put_str(b, s->append);
	put_str(b, s->system_map);
	put_str(b, s->vsock);
	put_str(b, s->cpu_model);
	put_str(b, s->label);
	put_str(b, s->policy);
	st_put8(b, (uint8_t)s->ndisks);
	for (int i = 0; i < s->ndisks; i++)
		put_str(b, s->disks[i]);
	st_put8(b, (uint8_t)s->nnets);
	for (int i = 0; i < s->nnets; i++)
		put_str(b, s->nets[i]);
	section_end(b, at);

	at = section_begin(b, TAG_CPU_MODEL);
	st_put8(b, (uint8_t)s->ncpuid);
	for (int i = 0; i < s->ncpuid; i++) {
		st_put32(b, s->cpuid[i].leaf);
		st_put32(b, s->cpuid[i].sub);
		for (int j = 0; j < 4; j++)
			st_put32(b, s->cpuid[i].r[j]);
	}
	section_end(b, at);

	for (int i = 0; i < s->ndisks; i++) {
		at = section_begin(b, TAG_DISK);
		st_put8(b, (uint8_t)i);
		st_put64(b, s->disk_ref[i].size);
		st_put64(b, (uint64_t)s->disk_ref[i].mtime_sec);
		st_put32(b, s->disk_ref[i].mtime_nsec);
		section_end(b, at);
	}
	for (int i = 0; i < s->ncpus; i++) {
		at = section_begin(b, TAG_VCPU);
		st_put32(b, (uint32_t)i);
		snap_put_x86_state(b, &s->cpu[i]);
		section_end(b, at);
	}
	for (int i = 0; i < s->ndevices; i++) {
		size_t n = strnlen(s->dev[i].id, sizeof(s->dev[i].id));
		at = section_begin(b, TAG_DEVICE);
		st_put8(b, (uint8_t)n);
		st_put_bytes(b, s->dev[i].id, n);
		st_put32(b, s->dev[i].len);
		st_put_bytes(b, s->dev[i].blob, s->dev[i].len);
		section_end(b, at);
	}
	at = section_begin(b, TAG_RAM);
	st_put64(b, s->mem_size);
	st_put32(b, SNAP_PAGE_SIZE);
	st_put64(b, s->ram_data_pages);
	section_end(b, at);

	at = section_begin(b, TAG_END);
	section_end(b, at);
}

/* ---- decoding ----------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

static int decode_conf(struct state_reader *r, struct snapshot *s)
{
	s->mem_size = st_get64(r);
	uint32_t ncpus = st_get32(r);
	st_check(r, ncpus >= 1 && ncpus <= VM_MAX_CPUS);
	s->ncpus = (int)ncpus;
	s->clock_ns = st_get64(r);
	s->wall_ns = st_get64(r);
	s->engine = get_str(r);
	s->kernel = get_str(r);
	s->initrd = get_str(r);
	s->append = get_str(r);
	s->system_map = get_str(r);
	s->vsock = get_str(r);
	s->cpu_model = get_str(r);
	st_check(r, !s->cpu_model || !strcmp(s->cpu_model, "host") || !strcmp(s->cpu_model, "portable"));
	s->label = get_str(r);
	s->policy = get_str(r);
	uint8_t nd = st_get8(r);
	st_check(r, nd <= VM_MAX_DISKS);
	for (int i = 0; i < nd && !r->bad; i++, s->ndisks++)
		st_check(r, (s->disks[i] = get_str(r)) != NULL);
	uint8_t nn = st_get8(r);
	st_check(r, nn <= VM_MAX_NICS);
	for (int i = 0; i < nn && !r->bad; i++, s->nnets++)
		st_check(r, (s->nets[i] = get_str(r)) != NULL);
	st_check(r, s->engine != NULL);
	return st_ok(r) ? 0 : -1;
}

int snapshot_decode(const uint8_t *data, size_t len, struct snapshot *s, char *err, size_t errlen)
{
	struct state_reader h = { .p = data, .len = len };
	bool have_conf = false, have_ram = false, have_end = false, have_cpu_model = false;
	int ncpus_seen = 0, disks_seen = 0, order = 0;
	uint8_t magic[8];

	memset(s, 0, sizeof(*s));
	s->owns_strings = true;
	if (len < HEADER_LEN)
		return bad(err, errlen, "not a symbiont snapshot (too short)");
	st_get_bytes(&h, magic, 8);
	if (memcmp(magic, SNAP_MAGIC, 8))
		return bad(err, errlen, "not a symbiont snapshot (bad magic)");
	uint32_t version = st_get32(&h), flags = st_get32(&h);
	if (version < SNAP_VERSION_OLDEST || version > SNAP_VERSION) {
		snprintf(err, errlen, "snapshot format version %u, this build reads %u to %u", version,
		         SNAP_VERSION_OLDEST, SNAP_VERSION);
		return -1;
	}
	if (flags)
		return bad(err, errlen, "snapshot has flags this build does not know");

	while (!have_end) {
		if (len - h.off < 12) {
			snapshot_free(s);
			return bad(err, errlen, "snapshot truncated (no end section)");
		}
		size_t start = h.off;
		uint32_t tag = st_get32(&h), plen = st_get32(&h);
		if (plen > len - h.off || len - h.off - plen < 4) {
			snapshot_free(s);
			return bad(err, errlen, "snapshot truncated (a section runs past the end)");
		}
		struct state_reader r = { .p = data + h.off, .len = plen };
		h.off += plen;
		uint32_t crc = st_get32(&h);
		if ((uint32_t)crc32(0, data + start, (uInt)(plen + 8)) != crc) {
			snapshot_free(s);
			return bad(err, errlen, "snapshot is corrupt (section checksum)");
		}
		/* One order only (the encoder's), so a file has one meaning. */
		int rank = tag == TAG_CONF        ? 1
		           : tag == TAG_CPU_MODEL ? 2
		           : tag == TAG_DISK      ? 3
		           : tag == TAG_VCPU      ? 4
		           : tag == TAG_DEVICE    ? 5
		                                  : 6;
		const char *what = NULL;
		if (rank < order) {
			snapshot_free(s);
			return bad(err, errlen, "snapshot sections are out of order");
		}
		order = rank;
		switch (tag) {
		case TAG_CONF:
			if (have_conf || decode_conf(&r, s) < 0)
				what = "snapshot configuration is malformed";
			have_conf = true;
			break;
		case TAG_CPU_MODEL: {
			uint8_t n = st_get8(&r);
			if (!have_conf || have_cpu_model || n > SNAP_MAX_CPUID) {
				what = "snapshot CPU model is malformed";
				break;
			}
			have_cpu_model = true;
			for (int i = 0; i < n; i++) {
				s->cpuid[i].leaf = st_get32(&r);
				s->cpuid[i].sub = st_get32(&r);
				for (int j = 0; j < 4; j++)
					s->cpuid[i].r[j] = st_get32(&r);
			}
			s->ncpuid = n;
			if (!st_ok(&r))
				what = "snapshot CPU model is malformed";
			break;
		}
		case TAG_DISK: {
			uint8_t i = st_get8(&r);
			if (!have_conf || i != disks_seen || i >= s->ndisks) {
				what = "snapshot disk reference is out of place";
				break;
			}
			disks_seen++;
			s->disk_ref[i].size = st_get64(&r);
			s->disk_ref[i].mtime_sec = (int64_t)st_get64(&r);
			s->disk_ref[i].mtime_nsec = st_get32(&r);
			st_check(&r, s->disk_ref[i].mtime_nsec < 1000000000u);
			if (!st_ok(&r))
				what = "snapshot disk reference is malformed";
			break;
		}
		case TAG_VCPU: {
			/* In order, one per vCPU of the configuration. */
			uint32_t i = st_get32(&r);
			if (!have_conf || i != (uint32_t)ncpus_seen || ncpus_seen >= s->ncpus) {
				what = "snapshot vCPU section is out of place";
				break;
			}
			get_x86_state(&r, &s->cpu[i], version);
			if (!st_ok(&r))
				what = "snapshot vCPU state is malformed";
			ncpus_seen++;
			break;
		}
		case TAG_DEVICE: {
			struct snap_device *d = &s->dev[s->ndevices];
			uint8_t n = st_get8(&r);
			if (s->ndevices >= VM_MAX_DEVICES || n == 0 || n >= sizeof(d->id)) {
				what = "snapshot device section is malformed";
				break;
			}
			st_get_bytes(&r, d->id, n);
			d->id[n] = 0;
			d->len = st_get32(&r);
			if (r.bad || strlen(d->id) != n || d->len > SNAP_MAX_DEV_BLOB || d->len != r.len - r.off) {
				what = "snapshot device section is malformed";
				break;
			}
			d->blob = r.p + r.off;
			for (int j = 0; j < s->ndevices; j++)
				if (!strcmp(s->dev[j].id, d->id))
					what = "snapshot has a device twice";
			s->ndevices++;
			break;
		}
		case TAG_RAM: {
			uint64_t size = st_get64(&r);
			uint32_t page = st_get32(&r);
			s->ram_data_pages = st_get64(&r);
			if (!have_conf || have_ram || !st_ok(&r) || size != s->mem_size || page != SNAP_PAGE_SIZE ||
			    s->ram_data_pages > size / SNAP_PAGE_SIZE)
				what = "snapshot RAM section is malformed";
			have_ram = true;
			break;
		}
		case TAG_END:
			if (plen)
				what = "snapshot end section is malformed";
			have_end = true;
			break;
		default: what = "snapshot has a section this build does not know"; break;
		}
		if (what) {
			snapshot_free(s);
			return bad(err, errlen, what);
		}
	}
	const char *what = NULL;
	if (h.off != len)
		what = "snapshot has bytes after its end section";
	else if (!have_conf || !have_ram || !have_cpu_model)
		what = "snapshot lacks its configuration, CPU model or RAM section";
	else if (ncpus_seen != s->ncpus)
		what = "snapshot lacks a vCPU's state";
	else if (disks_seen != s->ndisks)
		what = "snapshot lacks a disk reference";
	if (what) {
		snapshot_free(s);
		return bad(err, errlen, what);
	}
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	if (!s->owns_strings)
		return;
	free(s->engine);
	free(s->kernel);
	free(s->initrd);
	free(s->append);
	free(s->system_map);
	free(s->vsock);
	free(s->cpu_model);
	free(s->label);
	free(s->policy);
	for (int i = 0; i < VM_MAX_DISKS; i++)
		free(s->disks[i]);
	for (int i = 0; i < VM_MAX_NICS; i++)
		free(s->nets[i]);
	memset(s, 0, sizeof(*s));
}
