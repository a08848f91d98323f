/* Local APIC of the emu engine without a VM: register reset values,
 * acceptance and priority (IRR/ISR/TPR/PPR/EOI), IPI destinations through
 * the ICR, the timer's modes (expiry run by hand, as the event loop would),
 * LINT0 ExtINT and NMI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/emu/sys.h"

void lapic_timer_expire(struct emu_lapic *l);

#define REG_ID         0x20
#define REG_VER        0x30
#define REG_TPR        0x80
#define REG_PPR        0xa0
#define REG_EOI        0xb0
#define REG_LDR        0xd0
#define REG_SVR        0xf0
#define REG_ISR        0x100
#define REG_IRR        0x200
#define REG_ESR        0x280
#define REG_ICR_LO     0x300
#define REG_ICR_HI     0x310
#define REG_LVT_TIMER  0x320
#define REG_LVT_LINT0  0x350
#define REG_LVT_LINT1  0x360
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR  0x390
#define REG_TIMER_DCR  0x3e0

static int setup(void **state)
{
	struct emu_cpu *c = calloc(1, sizeof(*c));
	c->apic_base = 0xfee00000ULL | APIC_BASE_EN | APIC_BASE_BSP;
	c->lapic = lapic_create(c, 0);
	assert_non_null(c->lapic);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct emu_cpu *c = *state;
	lapic_destroy(c->lapic);
	free(c);
	return 0;
}

static uint32_t rd(struct emu_cpu *c, unsigned reg)
{
	return (uint32_t)lapic_mmio_read(c, reg, 4);
}

static void wr(struct emu_cpu *c, unsigned reg, uint32_t v)
{
	lapic_mmio_write(c, reg, v, 4);
}

static bool irr(struct emu_cpu *c, int v)
{
	return (rd(c, REG_IRR + (v >> 5) * 0x10) >> (v & 31)) & 1;
}

static bool isr(struct emu_cpu *c, int v)
{
	return (rd(c, REG_ISR + (v >> 5) * 0x10) >> (v & 31)) & 1;
}

static void test_reset_values(void **state)
{
	struct emu_cpu *c = *state;
	assert_int_equal(rd(c, REG_VER), 0x50014);
	assert_int_equal(rd(c, REG_ID), 0);
	assert_int_equal(rd(c, REG_SVR), 0xff);
	assert_int_equal(rd(c, REG_LVT_TIMER), 0x10000);
	assert_int_equal(rd(c, REG_LVT_LINT0), 0x700); /* virtual wire on the BSP */
	assert_int_equal(rd(c, REG_LVT_LINT1), 0x400);
}

static void test_priority_and_eoi(void **state)
{
	struct emu_cpu *c = *state;
	struct emu_lapic *l = c->lapic;

	lapic_accept(l, 0, 0x45, false);
	assert_true(irr(c, 0x45));
	assert_int_equal(lapic_ack(l), -1); /* software-disabled */
	wr(c, REG_SVR, 0x1ff);
	wr(c, REG_TPR, 0x50);
	assert_int_equal(lapic_ack(l), -1); /* class 4 below TPR class 5 */
	lapic_accept(l, 0, 0x61, false);
	lapic_accept(l, 0, 0x58, false);
	assert_int_equal(lapic_ack(l), 0x61);
	assert_true(isr(c, 0x61));
	assert_false(irr(c, 0x61));
	assert_int_equal(rd(c, REG_PPR), 0x60);
	assert_int_equal(lapic_ack(l), -1); /* 0x58 is below the in-service class */
	lapic_accept(l, 0, 0x71, false);
	assert_int_equal(lapic_ack(l), 0x71); /* nests above 0x61 */
	wr(c, REG_EOI, 0);
	assert_false(isr(c, 0x71));
	assert_true(isr(c, 0x61));
	wr(c, REG_EOI, 0);
	assert_int_equal(rd(c, REG_PPR), 0x50);
	assert_int_equal(lapic_ack(l), -1); /* 0x58: same class as the TPR */
	wr(c, REG_TPR, 0);
	assert_int_equal(lapic_ack(l), 0x58);
	wr(c, REG_EOI, 0);
	assert_int_equal(lapic_ack(l), 0x45);
}

static void test_icr_destinations(void **state)
{
	struct emu_cpu *c = *state;
	struct emu_lapic *l = c->lapic;

	wr(c, REG_SVR, 0x1ff);
	wr(c, REG_ICR_LO, (1u << 18) | 0x81); /* self */
	assert_true(irr(c, 0x81));
	assert_int_equal(rd(c, REG_ICR_LO) & (1u << 12), 0); /* idle */
	wr(c, REG_ICR_HI, 0u << 24);
	wr(c, REG_ICR_LO, 0x82); /* physical, id 0 */
	assert_true(irr(c, 0x82));
	wr(c, REG_ICR_HI, 3u << 24);
	wr(c, REG_ICR_LO, 0x83); /* physical, id 3: not us */
	assert_false(irr(c, 0x83));
	wr(c, REG_LDR, 1u << 24);
	wr(c, REG_ICR_HI, 0x01u << 24);
	wr(c, REG_ICR_LO, (1u << 11) | 0x84); /* logical flat, bit 0 */
	assert_true(irr(c, 0x84));
	wr(c, REG_ICR_HI, 0x02u << 24);
	wr(c, REG_ICR_LO, (1u << 11) | 0x85);
	assert_false(irr(c, 0x85));
	wr(c, REG_ICR_LO, (3u << 18) | 0x86); /* all but self */
	assert_false(irr(c, 0x86));
	wr(c, REG_ICR_LO, (4u << 8) | (1u << 18)); /* NMI to self */
	assert_true(c->nmi_pending);
	wr(c, REG_ICR_LO, (1u << 18) | 0x05); /* illegal vector */
	assert_false(irr(c, 0x05));
	wr(c, REG_ESR, 0);
	assert_int_equal(rd(c, REG_ESR), 1u << 6);
	(void)l;
}

static void test_timer_modes(void **state)
{
	struct emu_cpu *c = *state;
	struct emu_lapic *l = c->lapic;
	uint32_t cur;

	wr(c, REG_SVR, 0x1ff);
	wr(c, REG_TIMER_DCR, 0xa);  /* divide by 128 */
	wr(c, REG_LVT_TIMER, 0x40); /* one-shot, vector 0x40 */
	wr(c, REG_TIMER_INIT, 0xffffffffu);
	cur = rd(c, REG_TIMER_CUR);
	assert_true(cur > 0 && cur <= 0xffffffffu);
	lapic_timer_expire(l);
	assert_true(irr(c, 0x40));
	assert_int_equal(lapic_ack(l), 0x40);
	wr(c, REG_EOI, 0);

	wr(c, REG_LVT_TIMER, 0x10041); /* masked */
	wr(c, REG_TIMER_INIT, 0xffffffffu);
	lapic_timer_expire(l);
	assert_false(irr(c, 0x41));

	wr(c, REG_LVT_TIMER, (1u << 17) | 0x42); /* periodic keeps counting */
	wr(c, REG_TIMER_INIT, 0xffffffffu);
	lapic_timer_expire(l);
	assert_true(irr(c, 0x42));
	assert_true(rd(c, REG_TIMER_CUR) > 0);

	/* TSC-deadline: the MSR reads back only in that mode; a mode switch
	 * disarms. */
	lapic_set_tsc_deadline(l, 1234);
	assert_int_equal(lapic_get_tsc_deadline(l), 0);
	wr(c, REG_LVT_TIMER, (2u << 17) | 0x43);
	assert_int_equal(rd(c, REG_TIMER_CUR), 0);
	lapic_set_tsc_deadline(l, 1234);
	assert_int_equal(lapic_get_tsc_deadline(l), 1234);
	lapic_timer_expire(l);
	assert_true(irr(c, 0x43));
	assert_int_equal(lapic_get_tsc_deadline(l), 0); /* one shot */
	wr(c, REG_TIMER_INIT, 5000);                    /* ignored in TSC-deadline mode */
	assert_int_equal(rd(c, REG_TIMER_INIT), 0);
	assert_int_equal(lapic_get_tsc_deadline(l), 0);
	lapic_set_tsc_deadline(l, 99);
	wr(c, REG_LVT_TIMER, 0x44);
	wr(c, REG_LVT_TIMER, (2u << 17) | 0x44);
	assert_int_equal(lapic_get_tsc_deadline(l), 0);

	/* One-shot <-> periodic: the count keeps running, and the mode in
	 * force when it reaches 0 decides whether it reloads. */
	wr(c, REG_EOI, 0);
	wr(c, REG_LVT_TIMER, 0x45); /* one-shot */
	wr(c, REG_TIMER_INIT, 0xffffffffu);
	wr(c, REG_LVT_TIMER, (1u << 17) | 0x45); /* now periodic */
	assert_int_equal(rd(c, REG_TIMER_INIT), 0xffffffffu);
	assert_true(rd(c, REG_TIMER_CUR) > 0);
	lapic_timer_expire(l);
	assert_true(irr(c, 0x45));
	assert_true(rd(c, REG_TIMER_CUR) > 0); /* reloaded: periodic */
	wr(c, REG_EOI, 0);
	wr(c, REG_TIMER_INIT, 0xffffffffu); /* a fresh periodic count */
	wr(c, REG_LVT_TIMER, 0x46);         /* then one-shot: still counting */
	assert_true(rd(c, REG_TIMER_CUR) > 0);
	lapic_timer_expire(l);
	assert_true(irr(c, 0x46));
	assert_int_equal(lapic_ack(l), 0x46);
	wr(c, REG_EOI, 0);
	lapic_timer_expire(l); /* one-shot: not armed again */
	assert_false(irr(c, 0x46));
}

/* x2APIC mode: entered from xAPIC through APIC_BASE.EXTD; the registers
 * as MSRs, the logical ID derived from the APIC ID, the 64-bit ICR, the
 * self-IPI register; the mode changes the SDM forbids fault; the xAPIC
 * page is no longer decoded. */
static void test_x2apic(void **state)
{
	struct emu_cpu *c = *state;
	struct emu_lapic *l = c->lapic;
	const uint64_t base = 0xfee00000ULL | APIC_BASE_BSP;
	uint64_t v;

	assert_false(lapic_msr_read(l, 0x802, &v)); /* xAPIC mode: #GP */
	wr(c, REG_SVR, 0x1ff);
	assert_false(emu_msr_write(c, MSR_APIC_BASE, base | APIC_BASE_EXTD)); /* EXTD without EN */
	assert_true(emu_msr_write(c, MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD));
	assert_true(lapic_msr_read(l, 0x802, &v));
	assert_int_equal(v, 0); /* the ID, unshifted */
	assert_true(lapic_msr_read(l, 0x80d, &v));
	assert_int_equal(v, 1); /* cluster 0, bit 0 */
	assert_true(lapic_msr_read(l, 0x80f, &v));
	assert_int_equal(v, 0x1ff);
	assert_false(lapic_msr_write(l, 0x80d, 2));          /* LDR is read-only */
	assert_false(lapic_msr_read(l, 0x80e, &v));          /* no DFR */
	assert_false(lapic_msr_read(l, 0x83f, &v));          /* SELF IPI is write-only */
	assert_false(lapic_msr_write(l, 0x80b, 1));          /* EOI takes only 0 */
	assert_false(lapic_msr_write(l, 0x808, 1ull << 32)); /* 32-bit registers */
	assert_int_equal(rd(c, REG_SVR), 0);                 /* MMIO is not decoded */

	assert_true(lapic_msr_write(l, 0x83f, 0x51)); /* self IPI */
	assert_true(lapic_msr_read(l, 0x822, &v));    /* IRR bits 64-95 */
	assert_true(v >> (0x51 & 31) & 1);
	assert_true(lapic_msr_write(l, 0x830, 0x52));                             /* physical, destination 0 in 63:32 */
	assert_true(lapic_msr_write(l, 0x830, (1ull << 32) | (1u << 11) | 0x53)); /* logical: cluster 0, bit 0 */
	assert_true(lapic_msr_write(l, 0x830, (2ull << 32) | (1u << 11) | 0x54)); /* bit 1: not us */
	assert_true(lapic_msr_write(l, 0x830, (0x10001ull << 32) | (1u << 11) | 0x55)); /* cluster 1 */
	assert_true(lapic_msr_write(l, 0x830, (0xffffffffull << 32) | 0x56));           /* broadcast */
	assert_true(lapic_msr_read(l, 0x820 + (0x52 >> 5), &v));
	assert_true(v >> (0x52 & 31) & 1);
	assert_true(v >> (0x53 & 31) & 1);
	assert_false(v >> (0x54 & 31) & 1);
	assert_false(v >> (0x55 & 31) & 1);
	assert_true(v >> (0x56 & 31) & 1);
	assert_true(lapic_msr_read(l, 0x830, &v));
	assert_int_equal(v >> 32, 0xffffffffu);

	/* x2APIC -> xAPIC directly is refused; through disabled it works,
	 * and disabled -> x2APIC directly is refused too. */
	assert_false(emu_msr_write(c, MSR_APIC_BASE, base | APIC_BASE_EN));
	assert_true(emu_msr_write(c, MSR_APIC_BASE, base));
	assert_false(emu_msr_write(c, MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD));
	assert_true(emu_msr_write(c, MSR_APIC_BASE, base | APIC_BASE_EN));
	assert_false(lapic_msr_read(l, 0x802, &v));
}

static void test_lint0_extint(void **state)
{
	struct emu_cpu *c = *state;
	struct emu_lapic *l = c->lapic;

	assert_int_equal(lapic_ack(l), -1);
	lapic_set_lint0(l, 1);
	assert_int_equal(lapic_ack(l), -2); /* ask the PIC */
	wr(c, REG_SVR, 0x1ff);
	wr(c, REG_LVT_LINT0, 0x10700); /* masked */
	assert_int_equal(lapic_ack(l), -1);
	c->apic_base &= ~APIC_BASE_EN; /* hardware-disabled: the PIC goes straight through */
	assert_int_equal(lapic_ack(l), -2);
	lapic_set_lint0(l, 0);
	assert_int_equal(lapic_ack(l), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_and_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icr_destinations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lint0_extint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_x2apic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
