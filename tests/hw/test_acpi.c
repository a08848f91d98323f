/* ACPI: checksums and the RSDP → XSDT/RSDT → FADT/MADT → DSDT/FACS chain
 * as a guest walks it, the DSDT's AML structure (_S5, PCI0 with _PRT
 * matching pci_slot_gsi), and the PM registers: PM timer rate and soft-off
 * through PM1a_CNT. */
#include "hwtest.h"

#include "hw/acpi.h"
#include "hw/board.h"
#include "hw/pci.h"

struct ctx {
	struct test_vm *t;
	uint64_t rsdp;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[128] = "";
	c->t = tvm_new(64);
	c->rsdp = acpi_build_tables(c->t->vm, 3, err, sizeof(err));
	assert_string_equal(err, "");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	tvm_free(c->t);
	free(c);
	return 0;
}

static const uint8_t *gp(struct ctx *c, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gpa_to_host(&c->t->vm->mem, gpa, len);
	assert_non_null(p);
	return p;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

/* A table by address: signature, length and checksum checked. */
static const uint8_t *table(struct ctx *c, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gp(c, gpa, 36);
	assert_memory_equal(h, sig, 4);
	uint32_t len = le32(h + 4);
	assert_true(len >= 36 && len < ACPI_TABLES_SIZE);
	const uint8_t *t = gp(c, gpa, len);
	assert_int_equal(sum(t, len), 0);
	return t;
}

static const uint8_t *find_in_xsdt(struct ctx *c, const char *sig)
{
	const uint8_t *r = gp(c, c->rsdp, 36);
	const uint8_t *x = table(c, le64(r + 24), "XSDT");
	for (uint32_t off = 36; off < le32(x + 4); off += 8) {
		const uint8_t *h = gp(c, le64(x + off), 4);
		if (!memcmp(h, sig, 4))
			return table(c, le64(x + off), sig);
	}
	return NULL;
}

static void test_rsdp(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(c->rsdp, BOARD_ACPI_BASE);
	assert_int_equal(c->rsdp % 16, 0);
	const uint8_t *r = gp(c, c->rsdp, 36);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(r[15], 2);
	assert_int_equal(le32(r + 20), 36);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(sum(r, 36), 0);
	/* Both root tables list the same tables. */
	const uint8_t *x = table(c, le64(r + 24), "XSDT");
	const uint8_t *rs = table(c, le32(r + 16), "RSDT");
	int n = (le32(x + 4) - 36) / 8;
	assert_int_equal(n, (int)(le32(rs + 4) - 36) / 4);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++)
		assert_int_equal(le64(x + 36 + 8 * i), le32(rs + 36 + 4 * i));
}

static void test_fadt(void **state)
{
	struct ctx *c = *state;
	const uint8_t *f = find_in_xsdt(c, "FACP");
	assert_non_null(f);
	assert_int_equal(le32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(f[46] | f[47] << 8, ACPI_SCI_IRQ);
	assert_int_equal(le32(f + 56), ACPI_PM1A_EVT);
	assert_int_equal(le32(f + 64), ACPI_PM1A_CNT);
	assert_int_equal(le32(f + 76), ACPI_PM_TMR);
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(f[108], 0x32);            /* century in CMOS */
	assert_true((f[109] | f[110] << 8) & 0x2); /* 8042 present */
	uint32_t flags = le32(f + 112);
	assert_true(flags & (1 << 8));   /* 32-bit PM timer */
	assert_false(flags & (1 << 20)); /* not hardware-reduced */
	assert_true(flags & (1 << 10));  /* reset register */
	assert_int_equal(le64(f + 116 + 4), 0xcf9);
	assert_int_equal(f[128], 0x06);
	/* 32- and 64-bit pointers agree and lead to FACS and DSDT. */
	assert_int_equal(le32(f + 36), le64(f + 132));
	assert_int_equal(le32(f + 40), le64(f + 140));
	const uint8_t *facs = gp(c, le64(f + 132), 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(le32(facs + 4), 64);
	assert_int_equal(le64(f + 132) % 64, 0);
	table(c, le64(f + 140), "DSDT");
	/* X_PM1a_CNT_BLK: system I/O, 16 bits at 0x604. */
	assert_int_equal(f[172], 1);
	assert_int_equal(f[173], 16);
	assert_int_equal(le64(f + 176), ACPI_PM1A_CNT);
}

static void test_madt(void **state)
{
	struct ctx *c = *state;
	const uint8_t *m = find_in_xsdt(c, "APIC");
	assert_non_null(m);
	assert_int_equal(le32(m + 36), BOARD_LAPIC_BASE);
	assert_int_equal(le32(m + 40) & 1, 1); /* PC-AT 8259s */
	int cpus = 0, ioapics = 0, sci = 0, nmi = 0;
	uint32_t len = le32(m + 4), off = 44;
	while (off < len) {
		const uint8_t *e = m + off;
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[3], cpus); /* APIC IDs 0..n-1 */
			assert_int_equal(le32(e + 4) & 1, 1);
			cpus++;
			break;
		case 1:
			assert_int_equal(le32(e + 4), BOARD_IOAPIC_BASE);
			assert_int_equal(le32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_not_equal(e[3], 0); /* no IRQ0 override: GSI 0 is the PIT */
			if (e[3] == ACPI_SCI_IRQ) {
				assert_int_equal(le32(e + 4), ACPI_SCI_IRQ);
				assert_int_equal((e[8] | e[9] << 8) & 0xc, 0xc); /* level */
				sci++;
			}
			break;
		case 4:
			assert_int_equal(e[5], 1); /* LINT1 */
			nmi++;
			break;
		}
		off += e[1];
	}
	assert_int_equal(off, len);
	assert_int_equal(cpus, 3);
	assert_int_equal(ioapics, 1);
	assert_int_equal(sci, 1);
	assert_int_equal(nmi, 1);
}

/* AML PkgLength at p: returns the length and sets *n to its byte count. */
static uint32_t pkglen(const uint8_t *p, int *n)
{
	int extra = p[0] >> 6;
	uint32_t v = extra ? p[0] & 0xf : p[0] & 0x3f;
	for (int i = 0; i < extra; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*n = 1 + extra;
	return v;
}

static const uint8_t *memmem_(const uint8_t *h, size_t hl, const void *n, size_t nl)
{
	for (size_t i = 0; i + nl <= hl; i++)
		if (!memcmp(h + i, n, nl))
			return h + i;
	return NULL;
}

static void test_dsdt_aml(void **state)
{
	struct ctx *c = *state;
	const uint8_t *f = find_in_xsdt(c, "FACP");
	const uint8_t *d = table(c, le64(f + 140), "DSDT");
	uint32_t len = le32(d + 4);
	assert_int_equal(d[8], 2); /* 64-bit integers */
	/* Body: Scope(\_SB_) {...} then Name(\_S5_, Package(4){5, 5, 0, 0}). */
	const uint8_t *p = d + 36;
	assert_int_equal(p[0], 0x10);
	int n;
	uint32_t scope = pkglen(p + 1, &n);
	assert_memory_equal(p + 1 + n, "\\_SB_", 5);
	const uint8_t *s5 = p + 1 + scope;
	assert_true(s5 < d + len);
	static const uint8_t want[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12 };
	assert_memory_equal(s5, want, sizeof(want));
	uint32_t pl = pkglen(s5 + 7, &n);
	assert_int_equal(s5 + 7 + pl, d + len); /* last thing in the table */
	const uint8_t *el = s5 + 7 + n;
	assert_int_equal(el[0], 4);
	assert_int_equal(el[1], 0x0a);
	assert_int_equal(el[2], ACPI_S5_SLP_TYP);
	/* Device(PCI0) inside the scope, as a PNP0A03 host bridge. */
	const uint8_t *dev = memmem_(d, len, "\x5b\x82", 2);
	assert_non_null(dev);
	uint32_t dl = pkglen(dev + 2, &n);
	assert_memory_equal(dev + 2 + n, "PCI0", 4);
	assert_true(dev + 2 + dl <= p + 1 + scope);
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	assert_non_null(memmem_(dev, dl, hid, sizeof(hid)));
	/* _CRS holds the PCI MMIO window as a DWordMemory descriptor. */
	uint8_t mem[] = { 0x87, 23, 0 };
	const uint8_t *m = memmem_(dev, dl, mem, sizeof(mem));
	assert_non_null(m);
	assert_int_equal(le32(m + 10), BOARD_PCI_MMIO_BASE);
	assert_int_equal(le32(m + 14), BOARD_PCI_MMIO_BASE + BOARD_PCI_MMIO_SIZE - 1);
	/* _PRT: 128 entries; spot-check slot 3 pin C. */
	const uint8_t *prt = memmem_(dev, dl, "_PRT", 4);
	assert_non_null(prt);
	assert_int_equal(prt[4], 0x12);
	uint32_t prtlen = pkglen(prt + 5, &n);
	assert_int_equal(prt[5 + n], PCI_SLOTS * 4);
	uint8_t entry[] = { 0x0c, 0xff, 0xff, 3, 0, 0x0a, 2, 0x00, 0x0a, 0 };
	entry[9] = pci_slot_gsi(3, 3);
	assert_non_null(memmem_(prt, prtlen, entry, sizeof(entry)));
}

static void test_pm_timer_and_soft_off(void **state)
{
	struct ctx *c = *state;
	uint64_t now = 5000000000ULL;
	c->t->vm->clock = (struct vm_clock){ fake_clock, &now };
	struct acpi_pm *pm = acpi_pm_create(c->t->vm);
	assert_non_null(pm);
	uint32_t t0 = pin(c->t, ACPI_PM_TMR, 4);
	now += 1000000000ULL;
	uint32_t t1 = pin(c->t, ACPI_PM_TMR, 4);
	assert_int_equal(t1 - t0, ACPI_PM_TIMER_HZ);
	/* SCI_EN reads set: the machine is always in ACPI mode. */
	assert_int_equal(pin(c->t, ACPI_PM1A_CNT, 2) & 1, 1);
	/* Status bits clear by writing ones; enables are plain. */
	pout(c->t, ACPI_PM1A_EVT + 2, 0x0120, 2);
	assert_int_equal(pin(c->t, ACPI_PM1A_EVT + 2, 2), 0x0120);
	pout(c->t, ACPI_PM1A_EVT, 0xffff, 2);
	assert_int_equal(pin(c->t, ACPI_PM1A_EVT + 2, 2), 0x0120);
	/* SLP_TYP without SLP_EN, or another sleep type: nothing happens. */
	pout(c->t, ACPI_PM1A_CNT, ACPI_S5_SLP_TYP << 10, 2);
	assert_false(vm_stopping(c->t->vm));
	assert_int_equal(pin(c->t, ACPI_PM1A_CNT, 2) >> 10 & 7, ACPI_S5_SLP_TYP);
	pout(c->t, ACPI_PM1A_CNT, 3 << 10 | 1 << 13, 2);
	assert_false(vm_stopping(c->t->vm));
	assert_false(pin(c->t, ACPI_PM1A_CNT, 2) & (1 << 13)); /* SLP_EN is write-only */
	/* The _S5 value with SLP_EN powers off with status 0. */
	pout(c->t, ACPI_PM1A_CNT, ACPI_S5_SLP_TYP << 10 | 1 << 13, 2);
	assert_true(vm_stopping(c->t->vm));
	assert_int_equal(c->t->vm->exit_status, 0);
	acpi_pm_destroy(pm);
	assert_int_equal(c->t->vm->pio.n, 0);
}

static void test_many_cpus_fit(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(32);
	char err[128];
	assert_int_equal(acpi_build_tables(t->vm, VM_MAX_CPUS, err, sizeof(err)), BOARD_ACPI_BASE);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fadt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_aml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_timer_and_soft_off, setup, teardown),
		cmocka_unit_test(test_many_cpus_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
