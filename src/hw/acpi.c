/* ACPI tables, a minimal AML encoder for the DSDT, and the PM registers.
 *
 * There is no C library on Debian that emits AML, and the DSDT needs only
 * a handful of constructs (Scope, Device, Name, Package, Buffer, integers,
 * strings), so a few helpers over a byte buffer do it.  Package lengths
 * are patched when a construct is closed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/acpi.h"
#include "hw/board.h"
#include "hw/pci.h"
#include "symbiont/vm.h"

/* ---- byte buffer --------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
	size_t open[16]; /* start offsets of open package lengths */
	int depth;
};

static void need(struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void bytes(struct buf *b, const void *src, size_t n)
{
	need(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void u8(struct buf *b, uint8_t v)
{
	bytes(b, &v, 1);
}
static void u16(struct buf *b, uint16_t v)
{
	u8(b, v);
	u8(b, v >> 8);
}
static void u32(struct buf *b, uint32_t v)
{
	u16(b, v);
	u16(b, v >> 16);
}
static void u64(struct buf *b, uint64_t v)
{
	u32(b, v);
	u32(b, v >> 32);
}

/* ---- AML ----------------------------------------------------------------- */

#define AML_ZERO       0x00
#define AML_ONE        0x01
#define AML_NAME       0x08
#define AML_BYTE       0x0a
#define AML_WORD       0x0b
#define AML_DWORD      0x0c
#define AML_QWORD      0x0e
#define AML_SCOPE      0x10
#define AML_BUFFER     0x11
#define AML_PACKAGE    0x12
#define AML_EXT        0x5b
#define AML_DEVICE     0x82
#define AML_DUAL_NAME  0x2e
#define AML_MULTI_NAME 0x2f
#define AML_ROOT       '\\'

static void aml_int(struct buf *b, uint64_t v)
{
	if (v == 0) {
		u8(b, AML_ZERO);
	} else if (v == 1) {
		u8(b, AML_ONE);
	} else if (v <= 0xff) {
		u8(b, AML_BYTE);
		u8(b, v);
	} else if (v <= 0xffff) {
		u8(b, AML_WORD);
		u16(b, v);
	} else if (v <= 0xffffffff) {
		u8(b, AML_DWORD);
		u32(b, v);
	} else {
		u8(b, AML_QWORD);
		u64(b, v);
	}
}

/* "\\_SB_.PCI0", "_HID", "PCI0": segments shorter than 4 are '_'-padded. */
static void aml_name(struct buf *b, const char *path)
{
	const char *seg[8];
	int n = 0;
	if (*path == AML_ROOT) {
		u8(b, AML_ROOT);
		path++;
	}
	for (const char *p = path; *p && n < 8;) {
		seg[n++] = p;
		p = strchr(p, '.');
		if (!p)
			break;
		p++;
	}
	if (n == 2)
		u8(b, AML_DUAL_NAME);
	else if (n > 2) {
		u8(b, AML_MULTI_NAME);
		u8(b, n);
	}
	for (int i = 0; i < n; i++) {
		char s[4] = { '_', '_', '_', '_' };
		for (int j = 0; j < 4 && seg[i][j] && seg[i][j] != '.'; j++)
			s[j] = seg[i][j];
		bytes(b, s, 4);
	}
	if (n == 0)
		u8(b, 0); /* NullName */
}

/* Opens a PkgLength: four bytes reserved, trimmed when closed. */
static void pkg_open(struct buf *b)
{
	if (b->depth < 16)
		b->open[b->depth] = b->len;
	b->depth++;
	u32(b, 0);
}

static void pkg_close(struct buf *b)
{
	if (b->oom || --b->depth >= 16)
		return;
	size_t start = b->open[b->depth], body = b->len - start - 4;
	int n = body + 1 <= 0x3f ? 1 : body + 2 <= 0xfff ? 2 : body + 3 <= 0xfffff ? 3 : 4;
	size_t total = body + n;
	uint8_t enc[4];
	if (n == 1) {
		enc[0] = total;
	} else {
		enc[0] = (n - 1) << 6 | (total & 0xf);
		for (int i = 1; i < n; i++)
			enc[i] = total >> (4 + 8 * (i - 1));
	}
	memmove(b->p + start + n, b->p + start + 4, body);
	memcpy(b->p + start, enc, n);
	b->len -= 4 - n;
}

static void aml_scope(struct buf *b, const char *name)
{
	u8(b, AML_SCOPE);
	pkg_open(b);
	aml_name(b, name);
}

static void aml_device(struct buf *b, const char *name)
{
	u8(b, AML_EXT);
	u8(b, AML_DEVICE);
	pkg_open(b);
	aml_name(b, name);
}

static void aml_name_decl(struct buf *b, const char *name)
{
	u8(b, AML_NAME);
	aml_name(b, name);
}

static void aml_package(struct buf *b, uint8_t count)
{
	u8(b, AML_PACKAGE);
	pkg_open(b);
	u8(b, count);
}

static void aml_buffer(struct buf *b, const void *data, size_t len)
{
	u8(b, AML_BUFFER);
	pkg_open(b);
	aml_int(b, len);
	bytes(b, data, len);
	pkg_close(b);
}

/* EISA id "PNP0A03" → the compressed 32-bit form. */
static uint32_t eisaid(const char *id)
{
	uint32_t v = ((id[0] - 0x40) & 0x1f) << 26 | ((id[1] - 0x40) & 0x1f) << 21 | ((id[2] - 0x40) & 0x1f) << 16 |
	             (uint32_t)strtoul(id + 3, NULL, 16);
	return __builtin_bswap32(v);
}

/* ---- resource descriptors ------------------------------------------------ */

static void res_io(struct buf *b, uint16_t base, uint8_t len)
{
	u8(b, 0x47); /* I/O port descriptor */
	u8(b, 1);    /* 16-bit decode */
	u16(b, base);
	u16(b, base);
	u8(b, 1);
	u8(b, len);
}

static void res_irq(struct buf *b, unsigned irq)
{
	u8(b, 0x22); /* IRQ descriptor, no flags: edge, active high */
	u16(b, 1u << irq);
}

/* Word address space descriptor (bus number or I/O range), producer,
 * fixed min and max. */
static void res_word(struct buf *b, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	u8(b, 0x88);
	u16(b, 13);
	u8(b, type);
	u8(b, 0x0c); /* MinFixed | MaxFixed */
	u8(b, tflags);
	u16(b, 0);
	u16(b, min);
	u16(b, max);
	u16(b, 0);
	u16(b, max - min + 1);
}

static void res_dword_mem(struct buf *b, uint32_t min, uint32_t max)
{
	u8(b, 0x87);
	u16(b, 23);
	u8(b, 0);    /* memory */
	u8(b, 0x0c); /* MinFixed | MaxFixed */
	u8(b, 0x01); /* read-write, non-cacheable */
	u32(b, 0);
	u32(b, min);
	u32(b, max);
	u32(b, 0);
	u32(b, max - min + 1);
}

static void res_end(struct buf *b)
{
	u8(b, 0x79);
	u8(b, 0);
}

static void build_dsdt_body(struct buf *b)
{
	struct buf r = { 0 };

	aml_scope(b, "\\_SB_");

	aml_device(b, "PCI0");
	aml_name_decl(b, "_HID");
	u8(b, AML_DWORD);
	u32(b, eisaid("PNP0A03"));
	aml_name_decl(b, "_ADR");
	aml_int(b, 0);
	aml_name_decl(b, "_UID");
	aml_int(b, 0);
	aml_name_decl(b, "_CRS");
	res_word(&r, 2, 0, 0, 0);           /* bus 0 */
	res_io(&r, 0xcf8, 8);               /* the config ports themselves */
	res_word(&r, 1, 3, 0x0000, 0x0cf7); /* I/O below them */
	res_word(&r, 1, 3, 0x0d00, 0xffff); /* and above, with 0xc000+ for BARs */
	res_dword_mem(&r, BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_BASE + BOARD_PCI_MMIO_SIZE - 1);
	res_end(&r);
	aml_buffer(b, r.p, r.len);
	free(r.p);

	/* _PRT: every slot's four pins, straight to GSIs (no link devices). */
	aml_name_decl(b, "_PRT");
	aml_package(b, PCI_SLOTS * 4);
	for (int slot = 0; slot < PCI_SLOTS; slot++) {
		for (int pin = 0; pin < 4; pin++) {
			aml_package(b, 4);
			u8(b, AML_DWORD);
			u32(b, (uint32_t)slot << 16 | 0xffff);
			aml_int(b, pin);
			aml_int(b, 0);
			aml_int(b, pci_slot_gsi(slot, pin + 1));
			pkg_close(b);
		}
	}
	pkg_close(b);
	pkg_close(b); /* PCI0 */

	aml_device(b, "COM1");
	aml_name_decl(b, "_HID");
	u8(b, AML_DWORD);
	u32(b, eisaid("PNP0501"));
	aml_name_decl(b, "_UID");
	aml_int(b, 1);
	aml_name_decl(b, "_CRS");
	memset(&r, 0, sizeof(r));
	res_io(&r, BOARD_COM1_PORT, 8);
	res_irq(&r, BOARD_COM1_IRQ);
	res_end(&r);
	aml_buffer(b, r.p, r.len);
	free(r.p);
	pkg_close(b); /* COM1 */

	pkg_close(b); /* \_SB */

	/* \_S5: SLP_TYP for PM1a and PM1b. */
	aml_name_decl(b, "\\_S5_");
	aml_package(b, 4);
	aml_int(b, ACPI_S5_SLP_TYP);
	aml_int(b, ACPI_S5_SLP_TYP);
	aml_int(b, 0);
	aml_int(b, 0);
	pkg_close(b);
}

/* ---- tables -------------------------------------------------------------- */

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return -s;
}

/* Standard 36-byte header; length and checksum are fixed by table_end. */
static size_t table_begin(struct buf *b, const char *sig, uint8_t rev)
{
	size_t start = b->len;
	bytes(b, sig, 4);
	u32(b, 0);
	u8(b, rev);
	u8(b, 0);
	bytes(b, "SYMBNT", 6);
	bytes(b, "SYMBIONT", 8);
	u32(b, 1);
	bytes(b, "SYMB", 4);
	u32(b, 1);
	return start;
}

static void table_end(struct buf *b, size_t start)
{
	if (b->oom)
		return;
	uint32_t len = b->len - start;
	memcpy(b->p + start + 4, &len, 4);
	b->p[start + 9] = checksum(b->p + start, len);
}

static void align(struct buf *b, size_t a)
{
	while (b->len % a)
		u8(b, 0);
}

/* Generic Address Structure for a system I/O register. */
static void gas_io(struct buf *b, unsigned bits, uint64_t addr)
{
	u8(b, addr ? 1 : 0);
	u8(b, addr ? bits : 0);
	u8(b, 0);
	u8(b, 0);
	u64(b, addr);
}

uint64_t acpi_build_tables(struct vm *vm, int ncpus, char *err, size_t errlen)
{
	struct buf b = { 0 };
	const uint64_t base = BOARD_ACPI_BASE;
	size_t rsdp, facs, dsdt, fadt, madt, xsdt, rsdt;

	/* RSDP first: guests that scan memory find it at the start of the
	 * BIOS area. */
	rsdp = b.len;
	bytes(&b, "RSD PTR ", 8);
	u8(&b, 0);
	bytes(&b, "SYMBNT", 6);
	u8(&b, 2);
	u32(&b, 0); /* RSDT, patched */
	u32(&b, 36);
	u64(&b, 0); /* XSDT, patched */
	u8(&b, 0);
	u8(&b, 0);
	u16(&b, 0);
	align(&b, 64);

	facs = b.len;
	bytes(&b, "FACS", 4);
	u32(&b, 64);
	u32(&b, 0); /* hardware signature */
	u32(&b, 0); /* waking vector */
	u32(&b, 0); /* global lock */
	u32(&b, 0); /* flags */
	u64(&b, 0); /* X waking vector */
	u8(&b, 2);  /* version */
	while (b.len < facs + 64)
		u8(&b, 0);

	dsdt = table_begin(&b, "DSDT", 2);
	build_dsdt_body(&b);
	table_end(&b, dsdt);
	align(&b, 16);

	fadt = table_begin(&b, "FACP", 6);
	u32(&b, base + facs);
	u32(&b, base + dsdt);
	u8(&b, 0); /* reserved */
	u8(&b, 0); /* preferred PM profile: unspecified */
	u16(&b, ACPI_SCI_IRQ);
	u32(&b, 0); /* SMI_CMD: none, always in ACPI mode */
	u8(&b, 0);  /* ACPI_ENABLE */
	u8(&b, 0);  /* ACPI_DISABLE */
	u8(&b, 0);  /* S4BIOS_REQ */
	u8(&b, 0);  /* PSTATE_CNT */
	u32(&b, ACPI_PM1A_EVT);
	u32(&b, 0);
	u32(&b, ACPI_PM1A_CNT);
	u32(&b, 0);
	u32(&b, 0); /* PM2_CNT */
	u32(&b, ACPI_PM_TMR);
	u32(&b, 0);    /* GPE0 */
	u32(&b, 0);    /* GPE1 */
	u8(&b, 4);     /* PM1_EVT_LEN */
	u8(&b, 2);     /* PM1_CNT_LEN */
	u8(&b, 0);     /* PM2_CNT_LEN */
	u8(&b, 4);     /* PM_TMR_LEN */
	u8(&b, 0);     /* GPE0_BLK_LEN */
	u8(&b, 0);     /* GPE1_BLK_LEN */
	u8(&b, 0);     /* GPE1_BASE */
	u8(&b, 0);     /* CST_CNT */
	u16(&b, 101);  /* P_LVL2_LAT: C2 unsupported */
	u16(&b, 1001); /* P_LVL3_LAT: C3 unsupported */
	u16(&b, 0);
	u16(&b, 0);
	u8(&b, 0);
	u8(&b, 0);
	u8(&b, 0);       /* DAY_ALRM */
	u8(&b, 0);       /* MON_ALRM */
	u8(&b, 0x32);    /* CENTURY: CMOS index */
	u16(&b, 0x0007); /* IAPC_BOOT_ARCH: legacy devices, 8042, no VGA */
	u8(&b, 0);
	/* WBINVD, PROC_C1, SLP_BUTTON absent (the power button is a fixed
	 * feature: PWRBTN_STS/EN in PM1, raising the SCI), FIX_RTC,
	 * TMR_VAL_EXT (32-bit PM timer), RESET_REG_SUP. */
	u32(&b, 1 << 0 | 1 << 2 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 10);
	gas_io(&b, 8, 0xcf9); /* RESET_REG */
	u8(&b, 0x06);         /* RESET_VALUE: RST_CPU | SYS_RST */
	u16(&b, 0);           /* ARM_BOOT_ARCH */
	u8(&b, 0);            /* minor version */
	u64(&b, base + facs);
	u64(&b, base + dsdt);
	gas_io(&b, 32, ACPI_PM1A_EVT);
	gas_io(&b, 0, 0);
	gas_io(&b, 16, ACPI_PM1A_CNT);
	gas_io(&b, 0, 0);
	gas_io(&b, 0, 0); /* PM2 */
	gas_io(&b, 32, ACPI_PM_TMR);
	gas_io(&b, 0, 0);         /* GPE0 */
	gas_io(&b, 0, 0);         /* GPE1 */
	gas_io(&b, 0, 0);         /* sleep control */
	gas_io(&b, 0, 0);         /* sleep status */
	bytes(&b, "SYMBIONT", 8); /* hypervisor vendor identity */
	table_end(&b, fadt);
	align(&b, 16);

	madt = table_begin(&b, "APIC", 4);
	u32(&b, BOARD_LAPIC_BASE);
	u32(&b, 1); /* PCAT_COMPAT: 8259s present */
	for (int i = 0; i < ncpus; i++) {
		u8(&b, 0); /* processor local APIC */
		u8(&b, 8);
		u8(&b, i);  /* ACPI processor UID */
		u8(&b, i);  /* APIC ID */
		u32(&b, 1); /* enabled */
	}
	u8(&b, 1); /* I/O APIC */
	u8(&b, 12);
	u8(&b, 0); /* IOAPIC ID */
	u8(&b, 0);
	u32(&b, BOARD_IOAPIC_BASE);
	u32(&b, 0); /* GSI base */
	/* ISA IRQ n is GSI n (IRQ0 too: both irqchips wire the PIT to pin 0).
	 * The SCI is level-triggered, active high. */
	u8(&b, 2);
	u8(&b, 10);
	u8(&b, 0);
	u8(&b, ACPI_SCI_IRQ);
	u32(&b, ACPI_SCI_IRQ);
	u16(&b, 0x000d);
	u8(&b, 4); /* local APIC NMI: all processors, LINT1 */
	u8(&b, 6);
	u8(&b, 0xff);
	u16(&b, 0);
	u8(&b, 1);
	table_end(&b, madt);
	align(&b, 16);

	xsdt = table_begin(&b, "XSDT", 1);
	u64(&b, base + fadt);
	u64(&b, base + madt);
	table_end(&b, xsdt);
	align(&b, 16);

	rsdt = table_begin(&b, "RSDT", 1);
	u32(&b, base + fadt);
	u32(&b, base + madt);
	table_end(&b, rsdt);

	if (b.oom || b.len > ACPI_TABLES_SIZE) {
		snprintf(err, errlen, "acpi: tables do not fit");
		free(b.p);
		return 0;
	}
	uint32_t r32 = base + rsdt;
	uint64_t x64 = base + xsdt;
	memcpy(b.p + rsdp + 16, &r32, 4);
	memcpy(b.p + rsdp + 24, &x64, 8);
	b.p[rsdp + 8] = checksum(b.p + rsdp, 20);
	b.p[rsdp + 32] = checksum(b.p + rsdp, 36);
	if (gpa_write(&vm->mem, base, b.p, b.len) < 0) {
		snprintf(err, errlen, "acpi: guest memory too small for the tables at %#llx", (unsigned long long)base);
		free(b.p);
		return 0;
	}
	free(b.p);
	return base + rsdp;
}

/* ---- PM registers ---------------------------------------------------------- */

#define PM1_TMR_STS       0x0001
#define PM1_PWRBTN_STS    0x0100
#define PM1_WAK_STS       0x8000
#define PM1_SCI_EN        0x0001
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_EN        0x2000

struct acpi_pm {
	struct vm *vm;
	uint16_t sts, en, cnt;
	uint64_t t0;
	struct irq_line sci; /* level: an enabled status bit is set */
};

/* The SCI follows the enabled status bits (the power button's is the one
 * this model ever sets). */
static void update_sci(struct acpi_pm *pm)
{
	irq_line_set(&pm->sci, (pm->sts & pm->en & PM1_PWRBTN_STS) != 0);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
	pm->sts |= PM1_PWRBTN_STS;
	update_sci(pm);
}

static uint64_t sub(uint32_t v, uint64_t off, unsigned size)
{
	v >>= 8 * off;
	return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
}

static uint64_t evt_read(void *dev, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = dev;
	return sub(pm->sts | (uint32_t)pm->en << 16, off, size);
}

static void evt_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct acpi_pm *pm = dev;
	uint32_t v = val << (8 * off), m = (size >= 4 ? ~0u : ((1u << (8 * size)) - 1)) << (8 * off);
	pm->sts &= ~(v & m & 0xffff); /* status bits are write-1-to-clear */
	pm->en = (pm->en & ~(m >> 16)) | ((v & m) >> 16);
	update_sci(pm);
}

static uint64_t cnt_read(void *dev, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = dev;
	return sub(pm->cnt | PM1_SCI_EN, off, size);
}

static void cnt_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct acpi_pm *pm = dev;
	uint32_t v = val << (8 * off), m = (size >= 2 ? 0xffff : 0xff) << (8 * off);
	uint16_t cnt = (pm->cnt & ~m) | (v & m);
	if (cnt & PM1_SLP_EN) {
		unsigned typ = (cnt >> PM1_SLP_TYP_SHIFT) & 7;
		if (typ == ACPI_S5_SLP_TYP) {
			vm_request_exit(pm->vm, 0); /* soft off */
			return;
		}
		/* Other sleep states are not supported: the guest stays in S0. */
	}
	pm->cnt = cnt & ~PM1_SLP_EN; /* SLP_EN is write-only */
}

static uint64_t tmr_read(void *dev, uint64_t off, unsigned size)
{
	struct acpi_pm *pm = dev;
	uint64_t ns = vm_now(pm->vm) - pm->t0;
	uint32_t ticks = (uint32_t)((unsigned __int128)ns * ACPI_PM_TIMER_HZ / 1000000000ULL);
	return sub(ticks, off, size);
}

static void tmr_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	(void)dev;
	(void)off;
	(void)val;
	(void)size; /* read-only */
}

static const struct io_ops evt_ops = { evt_read, evt_write };
static const struct io_ops cnt_ops = { cnt_read, cnt_write };
static const struct io_ops tmr_ops = { tmr_read, tmr_write };

/* PM1 registers, and the PM timer's origin on the VM clock, so the timer
 * keeps counting across a save and load. */
static void pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;
	pm->sts = pm->en = pm->cnt = 0;
	pm->t0 = vm_now(pm->vm);
	update_sci(pm);
}

static int pm_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct acpi_pm *pm = dev;
	(void)err, (void)errlen;
	st_put16(b, pm->sts);
	st_put16(b, pm->en);
	st_put16(b, pm->cnt);
	st_put64(b, pm->t0);
	return 0;
}

static int pm_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct acpi_pm *pm = dev;
	uint16_t sts, en, cnt;
	uint64_t t0;
	(void)err, (void)errlen;
	sts = st_get16(r);
	en = st_get16(r);
	cnt = st_get16(r);
	st_check(r, !(cnt & PM1_SLP_EN)); /* write-only, never stored */
	t0 = st_get64(r);
	if (!st_ok(r))
		return -1;
	pm->sts = sts;
	pm->en = en;
	pm->cnt = cnt;
	pm->t0 = t0;
	update_sci(pm);
	return 0;
}

static void pm_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct acpi_pm *pm = dev;
	emit(ctx, "pm1_sts", pm->sts);
	emit(ctx, "pm1_en", pm->en);
	emit(ctx, "pm1_cnt", pm->cnt);
}

const struct device_ops acpi_pm_device_ops = {
	.name = "acpi-pm",
	.version = 1,
	.reset = pm_reset,
	.save = pm_save,
	.load = pm_load,
	.stats = pm_stats,
};

struct acpi_pm *acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;
	pm->vm = vm;
	pm->t0 = vm_now(vm);
	pm->sci = vm_irq_line(vm, ACPI_SCI_IRQ);
	if (io_bus_register(&vm->pio, ACPI_PM1A_EVT, 4, &evt_ops, pm))
		goto fail;
	if (io_bus_register(&vm->pio, ACPI_PM1A_CNT, 2, &cnt_ops, pm))
		goto fail_evt;
	if (io_bus_register(&vm->pio, ACPI_PM_TMR, 4, &tmr_ops, pm))
		goto fail_cnt;
	if (vm_device_add(vm, &acpi_pm_device_ops, pm))
		goto fail_tmr;
	return pm;
fail_tmr:
	io_bus_unregister(&vm->pio, ACPI_PM_TMR);
fail_cnt:
	io_bus_unregister(&vm->pio, ACPI_PM1A_CNT);
fail_evt:
	io_bus_unregister(&vm->pio, ACPI_PM1A_EVT);
fail:
	free(pm);
	return NULL;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	io_bus_unregister(&pm->vm->pio, ACPI_PM1A_EVT);
	io_bus_unregister(&pm->vm->pio, ACPI_PM1A_CNT);
	io_bus_unregister(&pm->vm->pio, ACPI_PM_TMR);
	vm_device_remove(pm->vm, pm);
	free(pm);
}
