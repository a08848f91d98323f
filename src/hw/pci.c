/* PCI host bridge and device model.  See pci.h for how a device uses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/board.h"
#include "hw/pci.h"

#define MSIX_TABLE_OFF 0x000
#define MSIX_PBA_OFF   0x800
#define MSIX_BAR_SIZE  0x1000

struct pci_host {
	struct vm *vm;
	struct pci_device bridge;
	struct pci_device *dev[PCI_SLOTS];
	uint32_t addr; /* CONFIG_ADDRESS */
	uint8_t rcr;   /* reset control register, port 0xCF9 */
	uint64_t mmio_next, io_next;
	/* INTx lines are wired-OR: devices sharing a GSI each count here. */
	int intx_count[4];
};

unsigned pci_slot_gsi(int slot, int pin)
{
	return 16 + ((unsigned)slot + (unsigned)pin - 1) % 4;
}

/* ---- config space ----------------------------------------------------- */

_Static_assert(PCI_MSIX_MAX_VEC == MSIX_PBA_OFF / 16, "the MSI-X table ends where the PBA starts");

static uint32_t get32(const struct pci_device *d, unsigned off)
{
	return d->cfg[off] | d->cfg[off + 1] << 8 | d->cfg[off + 2] << 16 | (uint32_t)d->cfg[off + 3] << 24;
}

static void put(uint8_t *p, unsigned off, uint32_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[off + i] = v >> (8 * i);
}

static uint16_t command(const struct pci_device *d)
{
	return d->cfg[PCI_COMMAND] | d->cfg[PCI_COMMAND + 1] << 8;
}

static uint64_t bar_cfg_addr(const struct pci_device *d, int n)
{
	const struct pci_bar *b = &d->bar[n];
	uint32_t lo = get32(d, PCI_BAR0 + 4 * n);
	if (b->type == PCI_BAR_IO)
		return lo & ~3u;
	uint64_t a = lo & ~0xfu;
	if (b->type == PCI_BAR_MEM64)
		a |= (uint64_t)get32(d, PCI_BAR0 + 4 * (n + 1)) << 32;
	return a;
}

/* Map or unmap each BAR to match its register and the command enables. */
static void update_mappings(struct pci_device *d)
{
	for (int n = 0; n < 6; n++) {
		struct pci_bar *b = &d->bar[n];
		if (!b->size || b->type == PCI_BAR_NONE)
			continue;
		bool io = b->type == PCI_BAR_IO;
		struct io_bus *bus = io ? &d->vm->pio : &d->vm->mmio;
		uint64_t a = bar_cfg_addr(d, n);
		bool on = d->slot >= 0 && (command(d) & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY));
		/* Addresses a BAR cannot sensibly decode (zero, the all-ones
		 * sizing pattern, past the end of the space) stay unmapped. */
		uint64_t limit = io ? PCI_IO_END : b->type == PCI_BAR_MEM32 ? MEM_4G : ~0ULL;
		if (a == 0 || a + b->size < a || a + b->size > limit ||
		    (!io && a + b->size > MEM_4G - 0x100000 && a < MEM_4G))
			on = false;
		if (b->is_mapped && (!on || b->mapped != a)) {
			io_bus_unregister(bus, b->mapped);
			b->is_mapped = false;
		}
		if (on && !b->is_mapped && io_bus_register(bus, a, b->size, b->ops, b->opaque) == 0) {
			b->mapped = a;
			b->is_mapped = true;
		}
	}
}

static void update_intx(struct pci_device *d)
{
	int level = d->intx_level && !(command(d) & PCI_COMMAND_INTX_DISABLE) && d->slot >= 0;
	if (level == d->intx_out || !d->host || !d->cfg[PCI_INTERRUPT_PIN])
		return;
	d->intx_out = level;
	int *count = &d->host->intx_count[(d->intx.gsi - 16) & 3];
	*count += level ? 1 : -1;
	irq_line_set(&d->intx, *count > 0);
}

static void msix_flush_pending(struct pci_device *d);

uint32_t pci_cfg_read(struct pci_device *d, unsigned off, unsigned size)
{
	uint32_t v = 0;
	if (off >= PCI_CFG_SIZE || off + size > PCI_CFG_SIZE)
		return ~0u;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	if (d->cfg_read)
		v = d->cfg_read(d, off, size, v);
	return v;
}

static bool touches(unsigned off, unsigned size, unsigned lo, unsigned hi)
{
	return off < hi && off + size > lo;
}

void pci_cfg_write(struct pci_device *d, unsigned off, unsigned size, uint32_t val)
{
	if (off >= PCI_CFG_SIZE || off + size > PCI_CFG_SIZE)
		return;
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = val >> (8 * i), m = d->wmask[off + i];
		d->cfg[off + i] = (d->cfg[off + i] & ~m) | (b & m);
		d->cfg[off + i] &= ~(b & d->w1cmask[off + i]);
	}
	if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 2) || touches(off, size, PCI_BAR0, PCI_BAR0 + 24))
		update_mappings(d);
	if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 2))
		update_intx(d);
	if (d->msix_cap && touches(off, size, d->msix_cap + 2, d->msix_cap + 4))
		msix_flush_pending(d);
	if (d->cfg_write)
		d->cfg_write(d, off, size, val);
}

/* ---- device setup -------------------------------------------------------- */

void pci_device_init(struct pci_device *d, struct vm *vm, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->slot = -1;
	put(d->cfg, PCI_VENDOR_ID, vendor, 2);
	put(d->cfg, PCI_DEVICE_ID, device, 2);
	put(d->cfg, PCI_CLASS_PROG, class_code, 3);
	put(d->cfg, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	put(d->cfg, PCI_SUBSYSTEM_ID, subsys_id, 2);
	d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
	put(d->wmask, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE,
	    2);
	d->w1cmask[PCI_STATUS + 1] = 0xf9; /* error bits */
	d->wmask[0x0c] = 0xff;             /* cache line size */
	d->wmask[0x0d] = 0xff;             /* latency timer */
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_next_free = 0x40;
}

int pci_bar_init(struct pci_device *d, int n, enum pci_bar_type type, uint64_t size, const struct io_ops *ops,
                 void *opaque)
{
	if (n < 0 || n > 5 || (type == PCI_BAR_MEM64 && n == 5) || type == PCI_BAR_NONE || !ops)
		return -1;
	uint64_t min = type == PCI_BAR_IO ? 4 : 16, s = min;
	while (s < size && s)
		s <<= 1;
	if (!s || (type == PCI_BAR_IO && s > 256) || (type == PCI_BAR_MEM32 && s > (1ULL << 31)))
		return -1;
	d->bar[n] = (struct pci_bar){ .type = type, .size = s, .ops = ops, .opaque = opaque };
	unsigned off = PCI_BAR0 + 4 * n;
	uint32_t lo_mask = (uint32_t) ~(s - 1);
	switch (type) {
	case PCI_BAR_IO:
		put(d->cfg, off, 0x1, 4);
		put(d->wmask, off, lo_mask & ~3u, 4);
		break;
	case PCI_BAR_MEM32:
		put(d->cfg, off, 0x0, 4);
		put(d->wmask, off, lo_mask & ~0xfu, 4);
		break;
	case PCI_BAR_MEM64:
		put(d->cfg, off, 0x4, 4);
		put(d->wmask, off, (s >> 32 ? 0 : lo_mask) & ~0xfu, 4);
		put(d->cfg, off + 4, 0, 4);
		put(d->wmask, off + 4, (uint32_t)(~(s - 1) >> 32), 4);
		d->bar[n + 1] = (struct pci_bar){ 0 };
		break;
	default: break;
	}
	return 0;
}

uint64_t pci_bar_addr(const struct pci_device *d, int n)
{
	if (n < 0 || n > 5 || !d->bar[n].is_mapped)
		return 0;
	return d->bar[n].mapped;
}

int pci_add_capability(struct pci_device *d, uint8_t id, uint8_t len)
{
	unsigned off = (d->cap_next_free + 3) & ~3u;
	if (len < 2 || off + len > PCI_CFG_SIZE)
		return -1;
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	/* Append to the end of the list so capabilities appear in the order
	 * they were added. */
	unsigned p = PCI_CAPABILITY_LIST;
	while (d->cfg[p])
		p = d->cfg[p] + 1;
	d->cfg[p] = off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next_free = off + len;
	return off;
}

/* ---- MSI-X ------------------------------------------------------------ */

static uint16_t msix_ctrl(const struct pci_device *d)
{
	return d->cfg[d->msix_cap + 2] | d->cfg[d->msix_cap + 3] << 8;
}

bool pci_msix_enabled(const struct pci_device *d)
{
	return d->msix_cap && (msix_ctrl(d) & PCI_MSIX_FLAGS_ENABLE);
}

static bool vec_masked(const struct pci_device *d, unsigned v)
{
	return (msix_ctrl(d) & PCI_MSIX_FLAGS_MASKALL) || (d->msix_table[v].ctrl & 1);
}

static void msix_send(struct pci_device *d, unsigned v)
{
	const struct pci_msix_entry *e = &d->msix_table[v];
	vm_signal_msi(d->vm, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

void pci_msix_notify(struct pci_device *d, unsigned v)
{
	if (!pci_msix_enabled(d) || v >= d->msix_nvec)
		return;
	if (vec_masked(d, v)) {
		d->msix_pba[v / 8] |= 1u << (v % 8);
		return;
	}
	msix_send(d, v);
}

/* Unmasking delivers what became pending while masked. */
static void msix_flush_pending(struct pci_device *d)
{
	if (!pci_msix_enabled(d))
		return;
	for (unsigned v = 0; v < d->msix_nvec; v++) {
		if ((d->msix_pba[v / 8] >> (v % 8) & 1) && !vec_masked(d, v)) {
			d->msix_pba[v / 8] &= ~(1u << (v % 8));
			msix_send(d, v);
		}
	}
}

static uint32_t msix_read32(struct pci_device *d, uint64_t off)
{
	if (off < MSIX_PBA_OFF) {
		unsigned v = off / 16;
		if (v >= d->msix_nvec)
			return 0;
		const uint32_t *w = &d->msix_table[v].addr_lo;
		return w[(off % 16) / 4];
	}
	off -= MSIX_PBA_OFF;
	uint32_t r = 0;
	for (unsigned i = 0; i < 4; i++)
		if (off + i < (d->msix_nvec + 7) / 8)
			r |= (uint32_t)d->msix_pba[off + i] << (8 * i);
	return r;
}

static void msix_write32(struct pci_device *d, uint64_t off, uint32_t val)
{
	if (off >= MSIX_PBA_OFF)
		return; /* PBA is read-only */
	unsigned v = off / 16;
	if (v >= d->msix_nvec)
		return;
	uint32_t *w = &d->msix_table[v].addr_lo;
	unsigned i = (off % 16) / 4;
	w[i] = i == 3 ? val & 1 : val;
	if (i == 3)
		msix_flush_pending(d);
}

static uint64_t msix_bar_read(void *dev, uint64_t off, unsigned size)
{
	struct pci_device *d = dev;
	uint64_t v = msix_read32(d, off & ~3ULL);
	if (size == 8)
		return v | (uint64_t)msix_read32(d, (off & ~3ULL) + 4) << 32;
	v >>= 8 * (off & 3);
	return size == 4 ? (uint32_t)v : v & ((1u << (8 * size)) - 1);
}

static void msix_bar_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_device *d = dev;
	if (size == 8) {
		msix_write32(d, off, val);
		msix_write32(d, off + 4, val >> 32);
	} else if (size == 4 && !(off & 3)) {
		msix_write32(d, off, val);
	}
	/* narrower table writes are undefined by the spec: ignored */
}

static const struct io_ops msix_ops = { msix_bar_read, msix_bar_write };

int pci_msix_init(struct pci_device *d, unsigned nvec, int bar_n)
{
	if (!nvec || nvec > PCI_MSIX_MAX_VEC || d->msix_cap)
		return -1;
	if (pci_bar_init(d, bar_n, PCI_BAR_MEM32, MSIX_BAR_SIZE, &msix_ops, d))
		return -1;
	int cap = pci_add_capability(d, PCI_CAP_ID_MSIX, 12);
	if (cap < 0)
		return -1;
	d->msix_table = calloc(nvec, sizeof(*d->msix_table));
	d->msix_pba = calloc((nvec + 7) / 8, 1);
	if (!d->msix_table || !d->msix_pba) {
		pci_msix_free(d);
		return -1;
	}
	for (unsigned v = 0; v < nvec; v++)
		d->msix_table[v].ctrl = 1; /* vectors start masked */
	d->msix_cap = cap;
	d->msix_bar = bar_n;
	d->msix_nvec = nvec;
	put(d->cfg, cap + 2, nvec - 1, 2);
	d->wmask[cap + 3] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	put(d->cfg, cap + 4, MSIX_TABLE_OFF | bar_n, 4);
	put(d->cfg, cap + 8, MSIX_PBA_OFF | bar_n, 4);
	return 0;
}

void pci_msix_free(struct pci_device *d)
{
	free(d->msix_table);
	free(d->msix_pba);
	d->msix_table = NULL;
	d->msix_pba = NULL;
}

/* ---- INTx ------------------------------------------------------------- */

void pci_set_irq(struct pci_device *d, int level)
{
	d->intx_level = level != 0;
	if (level)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	update_intx(d);
}

/* ---- registration ------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int pci_register(struct pci_host *h, struct pci_device *d, char *err, size_t errlen)
{
	int slot;
	for (slot = 1; slot < PCI_SLOTS && h->dev[slot]; slot++)
		;
	if (slot == PCI_SLOTS) {
		snprintf(err, errlen, "pci: all %d slots are taken", PCI_SLOTS);
		return -1;
	}
	uint64_t mmio = h->mmio_next, io = h->io_next;
	uint16_t cmd = 0;
	for (int n = 0; n < 6; n++) {
		struct pci_bar *b = &d->bar[n];
		if (!b->size || b->type == PCI_BAR_NONE)
			continue;
		unsigned off = PCI_BAR0 + 4 * n;
		if (b->type == PCI_BAR_IO) {
			uint64_t a = align_up(io, b->size);
			if (a + b->size > PCI_IO_END) {
				snprintf(err, errlen, "pci: out of I/O space for slot %d BAR%d", slot, n);
				return -1;
			}
			put(d->cfg, off, (uint32_t)a | 1, 4);
			io = a + b->size;
			cmd |= PCI_COMMAND_IO;
		} else {
			uint64_t a = align_up(mmio, b->size);
			if (a + b->size > BOARD_PCI_MMIO_BASE + BOARD_PCI_MMIO_SIZE) {
				snprintf(err, errlen, "pci: out of MMIO space for slot %d BAR%d", slot, n);
				return -1;
			}
			put(d->cfg, off, (uint32_t)a | (b->type == PCI_BAR_MEM64 ? 4 : 0), 4);
			if (b->type == PCI_BAR_MEM64)
				put(d->cfg, off + 4, a >> 32, 4);
			mmio = a + b->size;
			cmd |= PCI_COMMAND_MEMORY;
		}
	}
	h->mmio_next = mmio;
	h->io_next = io;
	h->dev[slot] = d;
	d->host = h;
	d->slot = slot;
	if (d->cfg[PCI_INTERRUPT_PIN]) {
		unsigned gsi = pci_slot_gsi(slot, d->cfg[PCI_INTERRUPT_PIN]);
		d->intx = vm_irq_line(d->vm, gsi);
		d->cfg[PCI_INTERRUPT_LINE] = gsi;
	}
	put(d->cfg, PCI_COMMAND, command(d) | cmd, 2);
	update_mappings(d);
	update_intx(d);
	return 0;
}

void pci_unregister(struct pci_device *d)
{
	if (d->slot < 0)
		return;
	d->host->dev[d->slot] = NULL;
	d->slot = -1;
	update_intx(d);     /* slot < 0: lets go of its INTx line */
	update_mappings(d); /* slot < 0: everything goes */
}

/* ---- host bridge ports -------------------------------------------------- */

static struct pci_device *target(struct pci_host *h, unsigned *reg)
{
	uint32_t a = h->addr;
	if (!(a & 0x80000000u))
		return NULL;
	unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f, fn = (a >> 8) & 7;
	*reg = a & 0xfc;
	if (bus || fn)
		return NULL; /* single-function devices on bus 0 only */
	return h->dev[dev];
}

static uint64_t host_read(void *opaque, uint64_t off, unsigned size)
{
	struct pci_host *h = opaque;
	uint64_t ones = size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	if (off == 0 && size == 4)
		return h->addr;
	if (off == 1 && size == 1)
		return h->rcr;
	if (off < 4)
		return ones;
	unsigned reg, sub = off - 4;
	struct pci_device *d = target(h, &reg);
	if (!d || sub + size > 4)
		return ones;
	return pci_cfg_read(d, reg + sub, size);
}

static void host_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pci_host *h = opaque;
	if (off == 0 && size == 4) {
		h->addr = val;
		return;
	}
	if (off == 1 && size == 1) {
		/* Reset control: RST_CPU (bit 2) resets the machine. */
		h->rcr = val & 0x0a;
		if (val & 0x04) {
			fprintf(stderr, "symbiont: guest reset (port 0xcf9); rebooting is not supported, exiting\n");
			vm_request_exit(h->vm, 0);
		}
		return;
	}
	if (off < 4)
		return;
	unsigned reg, sub = off - 4;
	struct pci_device *d = target(h, &reg);
	if (d && sub + size <= 4)
		pci_cfg_write(d, reg + sub, size, val);
}

static const struct io_ops host_ops = { host_read, host_write };

/* ---- saved state --------------------------------------------------------- */

void pci_state_save(const struct pci_device *d, struct state_buf *b)
{
	st_put_bytes(b, d->cfg, PCI_CFG_SIZE);
	st_put_bool(b, d->intx_level);
	for (unsigned v = 0; v < d->msix_nvec; v++) {
		st_put32(b, d->msix_table[v].addr_lo);
		st_put32(b, d->msix_table[v].addr_hi);
		st_put32(b, d->msix_table[v].data);
		st_put32(b, d->msix_table[v].ctrl);
	}
	st_put_bytes(b, d->msix_pba, (d->msix_nvec + 7) / 8);
}

void pci_state_read(const struct pci_device *d, struct state_reader *r, struct pci_state *s)
{
	st_get_bytes(r, s->cfg, PCI_CFG_SIZE);
	/* Bytes neither the guest nor the device changes (IDs, class, BAR
	 * types, the capability list) say which device this was.  The status
	 * register's interrupt bit is the device's own doing. */
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t ro = (uint8_t) ~(d->wmask[i] | d->w1cmask[i]);
		if (i == PCI_STATUS || i == PCI_STATUS + 1)
			continue;
		st_check(r, (s->cfg[i] & ro) == (d->cfg[i] & ro));
	}
	s->intx_level = st_get_bool(r);
	for (unsigned v = 0; v < d->msix_nvec; v++) {
		s->table[v].addr_lo = st_get32(r);
		s->table[v].addr_hi = st_get32(r);
		s->table[v].data = st_get32(r);
		s->table[v].ctrl = st_get32(r);
	}
	st_get_bytes(r, s->pba, (d->msix_nvec + 7) / 8);
}

void pci_state_apply(struct pci_device *d, const struct pci_state *s)
{
	memcpy(d->cfg, s->cfg, PCI_CFG_SIZE);
	if (d->msix_nvec) {
		memcpy(d->msix_table, s->table, d->msix_nvec * sizeof(s->table[0]));
		memcpy(d->msix_pba, s->pba, (d->msix_nvec + 7) / 8);
	}
	d->intx_level = s->intx_level;
	update_mappings(d);
	update_intx(d);
}

/* The host bridge: CONFIG_ADDRESS, the reset control register and the
 * bridge function's config space.  Each device behind it saves its own. */
static void host_reset(void *dev)
{
	struct pci_host *h = dev;
	h->addr = 0;
	h->rcr = 0;
	pci_cfg_write(&h->bridge, PCI_COMMAND, 2, 0);
}

static int host_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct pci_host *h = dev;
	(void)err, (void)errlen;
	st_put32(b, h->addr);
	st_put8(b, h->rcr);
	pci_state_save(&h->bridge, b);
	return 0;
}

static int host_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct pci_host *h = dev;
	struct pci_state *s = malloc(sizeof(*s));
	uint32_t addr;
	uint8_t rcr;

	if (!s) {
		snprintf(err, errlen, "pci-host: out of memory");
		return -1;
	}
	addr = st_get32(r);
	rcr = st_get8(r);
	st_check(r, !(rcr & ~0x0a));
	pci_state_read(&h->bridge, r, s);
	if (!st_ok(r)) {
		free(s);
		return -1;
	}
	h->addr = addr;
	h->rcr = rcr;
	pci_state_apply(&h->bridge, s);
	free(s);
	return 0;
}

static void host_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct pci_host *h = dev;
	int n = 0;
	for (int i = 0; i < PCI_SLOTS; i++)
		n += h->dev[i] != NULL;
	emit(ctx, "functions", (uint64_t)n);
}

const struct device_ops pci_host_device_ops = {
	.name = "pci-host",
	.version = 1,
	.reset = host_reset,
	.save = host_save,
	.load = host_load,
	.stats = host_stats,
};

struct pci_host *pci_host_create(struct vm *vm)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->vm = vm;
	h->mmio_next = BOARD_PCI_MMIO_BASE;
	h->io_next = PCI_IO_BASE;
	/* 00.0: an i440FX host bridge, which every x86 OS knows. */
	pci_device_init(&h->bridge, vm, 0x8086, 0x1237, 0x060000, 0, 0);
	h->bridge.cfg[PCI_REVISION_ID] = 0x02;
	h->bridge.cfg[PCI_INTERRUPT_PIN] = 0;
	h->bridge.wmask[PCI_INTERRUPT_LINE] = 0;
	h->bridge.slot = 0;
	h->bridge.host = h;
	h->dev[0] = &h->bridge;
	if (io_bus_register(&vm->pio, 0xcf8, 8, &host_ops, h)) {
		free(h);
		return NULL;
	}
	if (vm_device_add(vm, &pci_host_device_ops, h)) {
		io_bus_unregister(&vm->pio, 0xcf8);
		free(h);
		return NULL;
	}
	return h;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	io_bus_unregister(&h->vm->pio, 0xcf8);
	vm_device_remove(h->vm, h);
	free(h);
}

struct pci_device *pci_host_device(struct pci_host *h, int slot)
{
	return slot >= 0 && slot < PCI_SLOTS ? h->dev[slot] : NULL;
}
