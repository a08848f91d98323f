/* Local APIC of one emu vCPU: xAPIC MMIO at apic_base, or in x2APIC mode
 * (APIC_BASE.EXTD) the MSRs 0x800-0x8ff with 32-bit IDs, the 64-bit ICR,
 * the logical ID derived from the APIC ID, and the self-IPI register.
 *
 * Locking: every field is protected by vm->io_lock.  Entry points called
 * from the vCPU side (MMIO, interrupt acknowledge, TPR, TSC deadline) take
 * it; entry points called from devices, timers and MSIs (lapic_accept,
 * lapic_set_lint0) run with it held already.  Without a VM (unit tests)
 * there is no lock.
 *
 * Timer: counts at the APIC bus clock EMU_CRYSTAL_HZ divided by the divide
 * configuration, in one-shot, periodic or TSC-deadline mode; expiries are
 * vm_timers on vm->timers, so they fire on the event-loop thread. */
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/sys.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

#define LAPIC_VERSION 0x50014 /* version 0x14, 6 LVT entries */

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

#define LVT_MASKED (1u << 16)
#define LVT_LEVEL  (1u << 15)
#define SVR_ENABLE (1u << 8)

enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6, DM_EXTINT = 7 };

#define MIN_PERIOD_NS 10000ULL /* periodic timers faster than this are slowed down */

struct emu_lapic {
	struct emu_cpu *cpu;
	struct vm *vm;
	uint32_t id, tpr, ldr, dfr, svr, esr, esr_pending;
	uint32_t lvt[LVT_COUNT];
	uint32_t icr_lo, icr_hi;
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t timer_init, timer_dcr;
	uint64_t timer_start;  /* ns when the count was loaded */
	uint64_t tsc_deadline; /* guest TSC value, 0 = disarmed */
	struct vm_timer timer;
	bool timer_armed;
	int lint0;
	bool extint; /* LINT0 level seen with ExtINT mode */
};

static void lock(struct emu_lapic *l)
{
	if (l->vm)
		pthread_mutex_lock(&l->vm->io_lock);
}

static void unlock(struct emu_lapic *l)
{
	if (l->vm)
		pthread_mutex_unlock(&l->vm->io_lock);
}

static void wake(struct emu_lapic *l)
{
	atomic_store(&l->cpu->irq_pending, true);
	emu_kick(l->cpu);
}

/* ---- vector bitmaps ---- */

static void vset(uint32_t *m, int v)
{
	m[v >> 5] |= 1u << (v & 31);
}
static void vclr(uint32_t *m, int v)
{
	m[v >> 5] &= ~(1u << (v & 31));
}
static bool vtest(const uint32_t *m, int v)
{
	return (m[v >> 5] >> (v & 31)) & 1;
}

static int vhighest(const uint32_t *m)
{
	for (int i = 7; i >= 0; i--)
		if (m[i])
			return i * 32 + 31 - __builtin_clz(m[i]);
	return -1;
}

static uint32_t ppr(struct emu_lapic *l)
{
	int isrv = vhighest(l->isr);
	uint32_t isrc = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	return (l->tpr & 0xf0) >= isrc ? l->tpr & 0xff : isrc;
}

static bool sw_enabled(struct emu_lapic *l)
{
	return (l->svr & SVR_ENABLE) != 0;
}

static bool hw_enabled(struct emu_lapic *l)
{
	return (l->cpu->apic_base & APIC_BASE_EN) != 0;
}

static bool x2apic_mode(const struct emu_lapic *l)
{
	return (l->cpu->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

/* x2APIC's logical ID, fixed by the APIC ID: cluster in 31:16, one bit of
 * the 16 in 15:0. */
static uint32_t x2apic_ldr(const struct emu_lapic *l)
{
	return ((l->id >> 4) << 16) | (1u << (l->id & 0xf));
}

static void error(struct emu_lapic *l, uint32_t bit)
{
	l->esr_pending |= bit;
}

/* ---- acceptance ---- */

static void accept_fixed(struct emu_lapic *l, int vector, bool level)
{
	if (vector < 16) {
		error(l, 1u << 6); /* received illegal vector */
		return;
	}
	vset(l->irr, vector);
	if (level)
		vset(l->tmr, vector);
	else
		vclr(l->tmr, vector);
	wake(l);
}

void lapic_accept(struct emu_lapic *l, int dm, int vector, bool level)
{
	if (!hw_enabled(l))
		return;
	switch (dm) {
	case DM_FIXED:
	case DM_LOWEST: accept_fixed(l, vector, level); break;
	case DM_NMI:
		emu_cpu_nmi(l->cpu);
		wake(l);
		break;
	case DM_INIT: emu_cpu_init_ipi(l->cpu); break;
	case DM_SIPI: emu_cpu_sipi(l->cpu, (uint8_t)vector); break;
	case DM_EXTINT:
		l->extint = true;
		wake(l);
		break;
	default: /* SMI: no SMM */ break;
	}
}

static void lvt_deliver(struct emu_lapic *l, int idx)
{
	uint32_t lvt = l->lvt[idx];
	if ((lvt & LVT_MASKED) || !sw_enabled(l))
		return;
	lapic_accept(l, (lvt >> 8) & 7, lvt & 0xff, idx != LVT_TIMER && (lvt & LVT_LEVEL));
}

/* LINT0 input (the PIC's INTR on the BSP).  io_lock held. */
void lapic_set_lint0(struct emu_lapic *l, int level)
{
	l->lint0 = level;
	if (level)
		wake(l);
}

/* The PIC's INTR reaches the CPU when the APIC is hardware-disabled, or
 * LINT0 is an unmasked ExtINT entry (virtual wire mode). */
static bool pic_intr_allowed(struct emu_lapic *l)
{
	uint32_t lvt = l->lvt[LVT_LINT0];
	if (!hw_enabled(l))
		return true;
	return !(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == DM_EXTINT;
}

static int deliverable(struct emu_lapic *l)
{
	int v;
	if (!hw_enabled(l) || !sw_enabled(l))
		return -1;
	v = vhighest(l->irr);
	if (v < 0 || (uint32_t)(v & 0xf0) <= (ppr(l) & 0xf0))
		return -1;
	return v;
}

int lapic_ack(struct emu_lapic *l)
{
	int v;
	lock(l);
	v = deliverable(l);
	if (v >= 0) {
		vclr(l->irr, v);
		vset(l->isr, v);
	} else if (l->extint || (l->lint0 && pic_intr_allowed(l))) {
		l->extint = false;
		v = -2;
	}
	unlock(l);
	return v;
}

/* ---- timer ---- */

static uint64_t tick_ns(struct emu_lapic *l)
{
	uint32_t d = (l->timer_dcr & 3) | ((l->timer_dcr & 8) >> 1);
	uint64_t div = d == 7 ? 1 : 2ULL << d;
	return div * 1000000000ULL / EMU_CRYSTAL_HZ;
}

static unsigned timer_mode(struct emu_lapic *l)
{
	return (l->lvt[LVT_TIMER] >> 17) & 3;
}

static uint64_t period_ns(struct emu_lapic *l)
{
	return (uint64_t)l->timer_init * tick_ns(l);
}

static void timer_stop(struct emu_lapic *l)
{
	if (l->vm)
		timer_cancel(&l->timer);
	l->timer_armed = false;
}

static void timer_arm_at(struct emu_lapic *l, uint64_t ns)
{
	l->timer_armed = true;
	if (l->vm)
		timer_arm(&l->timer, ns);
}

static void timer_fire(void *opaque)
{
	struct emu_lapic *l = opaque;

	l->timer_armed = false;
	if (timer_mode(l) == 2) {
		if (!l->tsc_deadline)
			return;
		l->tsc_deadline = 0;
		lvt_deliver(l, LVT_TIMER);
		return;
	}
	if (!l->timer_init)
		return;
	lvt_deliver(l, LVT_TIMER);
	if (timer_mode(l) == 1) {
		uint64_t p = period_ns(l), now = vm_now(l->vm);
		if (p < MIN_PERIOD_NS)
			p = MIN_PERIOD_NS;
		l->timer_start += p;
		if (l->timer_start + p < now) /* fell behind: do not fire a burst */
			l->timer_start = now;
		timer_arm_at(l, l->timer_start + p);
	}
}

static uint32_t current_count(struct emu_lapic *l)
{
	uint64_t el, ticks;
	if (!l->timer_init || timer_mode(l) == 2)
		return 0;
	el = vm_now(l->vm) - l->timer_start;
	ticks = el / tick_ns(l);
	if (timer_mode(l) == 1)
		return l->timer_init - (uint32_t)(ticks % l->timer_init);
	return ticks >= l->timer_init ? 0 : l->timer_init - (uint32_t)ticks;
}

static void timer_load(struct emu_lapic *l, uint32_t count)
{
	uint64_t p;
	timer_stop(l);
	l->timer_init = count;
	l->timer_start = vm_now(l->vm);
	if (!count || timer_mode(l) == 2)
		return;
	p = period_ns(l);
	if (timer_mode(l) == 1 && p < MIN_PERIOD_NS)
		p = MIN_PERIOD_NS;
	timer_arm_at(l, l->timer_start + p);
}

/* TSC value → host ns of the VM clock. */
static uint64_t tsc_to_ns(struct emu_lapic *l, uint64_t tsc)
{
	uint64_t t = tsc - l->cpu->tsc_offset;
	if ((int64_t)t < 0)
		return 0;
	return t / (EMU_TSC_HZ / 1000000000ULL);
}

static void deadline_update(struct emu_lapic *l)
{
	if (timer_mode(l) != 2)
		return;
	timer_stop(l);
	if (l->tsc_deadline)
		timer_arm_at(l, tsc_to_ns(l, l->tsc_deadline));
}

uint64_t lapic_get_tsc_deadline(struct emu_lapic *l)
{
	uint64_t v;
	lock(l);
	v = timer_mode(l) == 2 ? l->tsc_deadline : 0;
	unlock(l);
	return v;
}

void lapic_set_tsc_deadline(struct emu_lapic *l, uint64_t v)
{
	lock(l);
	if (timer_mode(l) == 2) {
		l->tsc_deadline = v;
		deadline_update(l);
	}
	unlock(l);
}

/* ---- IPIs ---- */

static bool matches(struct emu_lapic *l, uint32_t dest, bool logical, bool x2dest)
{
	if (x2dest && x2apic_mode(l)) {
		uint32_t ldr = x2apic_ldr(l);
		if (dest == 0xffffffffu)
			return true;
		if (!logical)
			return dest == l->id;
		return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff) != 0;
	}
	dest &= 0xff; /* an xAPIC destination, or an 8-bit one (MSIs) */
	if (!logical)
		return dest == 0xff || dest == l->id;
	if (dest == 0xff)
		return true;
	if ((l->dfr >> 28) == 0xf) /* flat */
		return ((l->ldr >> 24) & dest) != 0;
	/* cluster */
	return ((l->ldr >> 28) == (dest >> 4)) && (((l->ldr >> 24) & dest & 0xf) != 0);
}

/* Sends to every LAPIC the destination selects; self is the sender (or
 * NULL), shorthand as ICR bits 19:18.  io_lock held. */
static bool send(struct vm *vm, struct emu_lapic *self, unsigned shorthand, uint32_t dest, bool logical, bool x2dest,
                 int dm, int vector, bool level)
{
	bool lowest_done = false, other = false;
	int n = vm ? vm->ncpus : 1;

	for (int i = 0; i < n; i++) {
		struct emu_lapic *t;
		if (vm) {
			if (!vm->vcpus[i] || !vm->vcpus[i]->priv)
				continue;
			t = emu_cpu_of(vm->vcpus[i])->lapic;
		} else {
			t = self;
		}
		if (!t)
			continue;
		switch (shorthand) {
		case 1:
			if (t != self)
				continue;
			break;
		case 2: break;
		case 3:
			if (t == self)
				continue;
			break;
		default:
			if (!matches(t, dest, logical, x2dest))
				continue;
			break;
		}
		if (dm == DM_LOWEST) {
			if (lowest_done)
				continue;
			lowest_done = true;
		}
		lapic_accept(t, dm, vector, level);
		other |= t != self;
	}
	return other;
}

void emu_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	uint32_t dest = (addr >> 12) & 0xff;
	bool logical = (addr >> 2) & 1;
	int vector = data & 0xff, dm = (data >> 8) & 7;
	bool level = (data >> 15) & 1;

	if ((addr & 0xfff00000ULL) != APIC_BASE_DEFAULT)
		return;
	send(vm, NULL, 0, dest, logical, false, dm, vector, level);
}

static void icr_write(struct emu_lapic *l, uint32_t lo)
{
	int dm = (lo >> 8) & 7;
	unsigned sh = (lo >> 18) & 3;
	bool x2 = x2apic_mode(l);

	l->icr_lo = lo & ~(1u << 12); /* delivery is instant: always idle */
	if (dm == DM_INIT && !(lo & (1u << 14)) && (lo & LVT_LEVEL))
		return; /* INIT level de-assert: nothing to do */
	if (send(l->vm, l, sh, x2 ? l->icr_hi : l->icr_hi >> 24, (lo >> 11) & 1, x2, dm, lo & 0xff, false))
		emu_yield(l->cpu); /* let the target run before the sender spins on it */
}

/* ---- EOI ---- */

static void eoi(struct emu_lapic *l)
{
	int v = vhighest(l->isr);
	if (v < 0)
		return;
	vclr(l->isr, v);
	if (vtest(l->tmr, v)) {
		vclr(l->tmr, v);
		if (l->vm)
			vm_irqchip_eoi(l->vm, (uint8_t)v);
	}
	if (vhighest(l->irr) >= 0)
		wake(l);
}

/* ---- registers ---- */

static uint32_t reg_read(struct emu_lapic *l, unsigned reg)
{
	switch (reg) {
	case 0x20: return l->id << 24;
	case 0x30: return LAPIC_VERSION;
	case 0x80: return l->tpr;
	case 0x90: return 0; /* APR */
	case 0xa0: return ppr(l);
	case 0xd0: return l->ldr;
	case 0xe0: return l->dfr;
	case 0xf0: return l->svr;
	case 0x280: return l->esr;
	case 0x300: return l->icr_lo;
	case 0x310: return l->icr_hi;
	case 0x320:
	case 0x330:
	case 0x340:
	case 0x350:
	case 0x360:
	case 0x370: return l->lvt[(reg - 0x320) >> 4];
	case 0x380: return l->timer_init;
	case 0x390: return current_count(l);
	case 0x3e0: return l->timer_dcr;
	}
	if (reg >= 0x100 && reg < 0x180)
		return l->isr[(reg - 0x100) >> 4];
	if (reg >= 0x180 && reg < 0x200)
		return l->tmr[(reg - 0x180) >> 4];
	if (reg >= 0x200 && reg < 0x280)
		return l->irr[(reg - 0x200) >> 4];
	return 0;
}

static void reg_write(struct emu_lapic *l, unsigned reg, uint32_t v)
{
	switch (reg) {
	case 0x20: l->id = v >> 24; break;
	case 0x80:
		l->tpr = v & 0xff;
		wake(l);
		break;
	case 0xb0: eoi(l); break;
	case 0xd0: l->ldr = v & 0xff000000u; break;
	case 0xe0: l->dfr = v | 0x0fffffffu; break;
	case 0xf0:
		l->svr = v & 0x13ff;
		if (!sw_enabled(l)) {
			for (int i = 0; i < LVT_COUNT; i++)
				l->lvt[i] |= LVT_MASKED;
		}
		wake(l);
		break;
	case 0x280:
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case 0x300: icr_write(l, v); break;
	case 0x310: l->icr_hi = v & 0xff000000u; break;
	case 0x320: {
		unsigned old = timer_mode(l);
		uint32_t mask = 0x700ff | LVT_MASKED;
		l->lvt[LVT_TIMER] = (v & mask) | (sw_enabled(l) ? 0 : LVT_MASKED);
		if (old != timer_mode(l) && (old == 2 || timer_mode(l) == 2)) {
			/* Switching between count and deadline modes disarms
			 * (SDM 10.5.4.1); one-shot <-> periodic keeps the count
			 * running, the new mode taking effect when it reaches 0. */
			timer_stop(l);
			l->timer_init = 0;
			l->tsc_deadline = 0;
		}
		break;
	}
	case 0x330:
	case 0x340:
	case 0x350:
	case 0x360:
	case 0x370: {
		int i = (reg - 0x320) >> 4;
		l->lvt[i] = (v & 0x1a7ff) | (sw_enabled(l) ? 0 : LVT_MASKED);
		if (i == LVT_LINT0)
			wake(l);
		break;
	}
	case 0x380:
		if (timer_mode(l) != 2) /* ignored in TSC-deadline mode */
			timer_load(l, v);
		break;
	case 0x3e0: {
		uint32_t cur = current_count(l);
		l->timer_dcr = v & 0xb;
		/* Keep the remaining count running at the new rate. */
		if (l->timer_init && timer_mode(l) != 2 && l->timer_armed) {
			timer_stop(l);
			l->timer_start = vm_now(l->vm) - (uint64_t)(l->timer_init - cur) * tick_ns(l);
			timer_arm_at(l, l->timer_start + period_ns(l));
		}
		break;
	}
	default: break; /* read-only or reserved: ignored */
	}
}

/* The timer's current count, the IRR and ISR depend on host time and on
 * which interrupts came: a register read is logged when recording and
 * taken from the log when replaying (the register was read, harmlessly). */
static uint64_t replayed(struct vm *vm, enum rr_space space, uint64_t addr, unsigned size, uint64_t v)
{
	uint64_t logged;
	if (replay_take_read(vm, space, addr, size, &logged))
		return logged;
	replay_note_read(vm, space, addr, size, v);
	return v;
}

uint64_t lapic_mmio_read(struct emu_cpu *cpu, uint64_t off, unsigned size)
{
	struct emu_lapic *l = cpu->lapic;
	uint32_t v;
	if (!l)
		return ~0ULL;
	if (x2apic_mode(l))
		return 0; /* the xAPIC page is not decoded in x2APIC mode */
	lock(l);
	v = reg_read(l, (unsigned)(off & 0xff0));
	unlock(l);
	v >>= (off & 3) * 8;
	v = size >= 4 ? v : v & ((1u << (size * 8)) - 1);
	return unlikely(l->vm && l->vm->replay) ? replayed(l->vm, RR_LAPIC, off, size, v) : v;
}

void lapic_mmio_write(struct emu_cpu *cpu, uint64_t off, uint64_t val, unsigned size)
{
	struct emu_lapic *l = cpu->lapic;
	if (!l || (off & 0xf) || size < 4 || x2apic_mode(l))
		return; /* only aligned 32-bit writes reach registers (xAPIC mode) */
	lock(l);
	reg_write(l, (unsigned)(off & 0xff0), (uint32_t)val);
	unlock(l);
}

/* ---- x2APIC: the registers as MSRs 0x800 + offset / 16 ---- */

bool lapic_msr_read(struct emu_lapic *l, uint32_t msr, uint64_t *val)
{
	unsigned reg = (msr - 0x800) << 4;

	if (!x2apic_mode(l))
		return false; /* #GP: not in x2APIC mode */
	switch (reg) {
	case 0x20: *val = l->id; return true; /* the whole 32-bit ID */
	case 0xd0: *val = x2apic_ldr(l); return true;
	case 0x300:
		lock(l);
		*val = ((uint64_t)l->icr_hi << 32) | l->icr_lo;
		unlock(l);
		return true;
	case 0x30:
	case 0x80:
	case 0xa0:
	case 0xf0:
	case 0x280:
	case 0x320:
	case 0x330:
	case 0x340:
	case 0x350:
	case 0x360:
	case 0x370:
	case 0x380:
	case 0x390:
	case 0x3e0: break;
	default:
		if (reg >= 0x100 && reg < 0x280)
			break; /* ISR, TMR, IRR */
		return false;  /* write-only (EOI, self IPI), DFR, ICR high, reserved: #GP */
	}
	lock(l);
	*val = reg_read(l, reg);
	unlock(l);
	if (unlikely(l->vm && l->vm->replay))
		*val = replayed(l->vm, RR_MSR, msr, 8, *val);
	return true;
}

bool lapic_msr_write(struct emu_lapic *l, uint32_t msr, uint64_t v)
{
	unsigned reg = (msr - 0x800) << 4;

	if (!x2apic_mode(l))
		return false;
	if (reg != 0x300 && (v >> 32))
		return false; /* the registers but the ICR are 32 bits */
	switch (reg) {
	case 0x80:
	case 0xf0:
	case 0x320:
	case 0x330:
	case 0x340:
	case 0x350:
	case 0x360:
	case 0x370:
	case 0x380:
	case 0x3e0: break;
	case 0xb0:  /* EOI: only 0 */
	case 0x280: /* ESR: only 0 */
		if (v)
			return false;
		break;
	case 0x300: /* ICR: the destination in 63:32, one write sends */
		lock(l);
		l->icr_hi = (uint32_t)(v >> 32);
		icr_write(l, (uint32_t)v);
		unlock(l);
		return true;
	case 0x3f0: /* SELF IPI: a fixed, edge IPI to this APIC */
		if (v & ~0xffull)
			return false;
		lock(l);
		if (v < 16)
			error(l, 1u << 6); /* illegal vector, as through the ICR */
		else
			accept_fixed(l, (int)v, false);
		unlock(l);
		return true;
	default: return false; /* read-only or reserved: #GP */
	}
	lock(l);
	reg_write(l, reg, (uint32_t)v);
	unlock(l);
	return true;
}

uint32_t lapic_get_id(struct emu_lapic *l)
{
	return l->id;
}

uint8_t lapic_get_tpr(struct emu_lapic *l)
{
	return (uint8_t)l->tpr; /* this thread is its only writer (sys.h) */
}

void lapic_set_tpr(struct emu_lapic *l, uint8_t tpr)
{
	if (l->tpr == tpr)
		return;
	lock(l);
	l->tpr = tpr;
	unlock(l);
}

void lapic_reset(struct emu_lapic *l, bool bsp)
{
	timer_stop(l);
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->tpr = l->ldr = l->esr = l->esr_pending = 0;
	l->dfr = 0xffffffffu;
	l->svr = 0xff;
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = LVT_MASKED;
	/* As firmware leaves it: the BSP's LINT0 in virtual-wire mode
	 * (ExtINT, unmasked) so the PIC reaches the CPU, LINT1 as NMI. */
	if (bsp) {
		l->lvt[LVT_LINT0] = DM_EXTINT << 8;
		l->lvt[LVT_LINT1] = DM_NMI << 8;
	}
	l->icr_lo = l->icr_hi = 0;
	l->timer_init = l->timer_dcr = 0;
	l->tsc_deadline = 0;
	l->extint = false;
}

/* ---- state exchange: the xAPIC register page ---- */

static void put32(uint8_t *page, unsigned reg, uint32_t v)
{
	memcpy(page + reg, &v, 4);
}

static uint32_t get32(const uint8_t *page, unsigned reg)
{
	uint32_t v;
	memcpy(&v, page + reg, 4);
	return v;
}

void lapic_get_regs(struct emu_lapic *l, uint8_t page[1024])
{
	memset(page, 0, 1024);
	lock(l);
	put32(page, 0x20, l->id << 24);
	put32(page, 0x30, LAPIC_VERSION);
	put32(page, 0x80, l->tpr);
	put32(page, 0xa0, ppr(l));
	put32(page, 0xd0, l->ldr);
	put32(page, 0xe0, l->dfr);
	put32(page, 0xf0, l->svr);
	for (int i = 0; i < 8; i++) {
		put32(page, 0x100 + 0x10 * i, l->isr[i]);
		put32(page, 0x180 + 0x10 * i, l->tmr[i]);
		put32(page, 0x200 + 0x10 * i, l->irr[i]);
	}
	put32(page, 0x280, l->esr);
	put32(page, 0x300, l->icr_lo);
	put32(page, 0x310, l->icr_hi);
	for (int i = 0; i < LVT_COUNT; i++)
		put32(page, 0x320 + 0x10 * i, l->lvt[i]);
	put32(page, 0x380, l->timer_init);
	put32(page, 0x390, current_count(l));
	put32(page, 0x3e0, l->timer_dcr);
	unlock(l);
}

/* The registers as a page, as KVM_SET_LAPIC takes them: a running count
 * goes on from the page's current count (KVM restarts it from the initial
 * count instead; both are within one period).  A TSC deadline comes with
 * the MSRs. */
void lapic_set_regs(struct emu_lapic *l, const uint8_t page[1024])
{
	uint32_t cur;
	lock(l);
	timer_stop(l);
	l->id = get32(page, 0x20) >> 24;
	l->tpr = get32(page, 0x80) & 0xff;
	l->ldr = get32(page, 0xd0) & 0xff000000u;
	l->dfr = get32(page, 0xe0) | 0x0fffffffu;
	l->svr = get32(page, 0xf0) & 0x13ff;
	for (int i = 0; i < 8; i++) {
		l->isr[i] = get32(page, 0x100 + 0x10 * i);
		l->tmr[i] = get32(page, 0x180 + 0x10 * i);
		l->irr[i] = get32(page, 0x200 + 0x10 * i);
	}
	l->esr = get32(page, 0x280);
	l->esr_pending = 0;
	l->icr_lo = get32(page, 0x300) & ~(1u << 12);
	l->icr_hi = get32(page, 0x310) & 0xff000000u;
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = get32(page, 0x320 + 0x10 * i);
	l->timer_dcr = get32(page, 0x3e0) & 0xb;
	l->timer_init = get32(page, 0x380);
	cur = get32(page, 0x390);
	if (cur > l->timer_init)
		cur = l->timer_init;
	l->tsc_deadline = 0;
	l->timer_start = vm_now(l->vm) - (uint64_t)(l->timer_init - cur) * tick_ns(l);
	if (l->timer_init && timer_mode(l) != 2 && (cur || timer_mode(l) == 1)) {
		uint64_t p = period_ns(l);
		if (timer_mode(l) == 1 && p < MIN_PERIOD_NS)
			p = MIN_PERIOD_NS;
		timer_arm_at(l, l->timer_start + p);
	}
	unlock(l);
	wake(l);
}

struct emu_lapic *lapic_create(struct emu_cpu *cpu, int id)
{
	struct emu_lapic *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cpu = cpu;
	l->vm = cpu->vm;
	l->id = (uint32_t)id;
	if (l->vm)
		timer_init(&l->timer, &l->vm->timers, timer_fire, l);
	lapic_reset(l, id == 0);
	return l;
}

void lapic_destroy(struct emu_lapic *l)
{
	if (!l)
		return;
	timer_stop(l);
	free(l);
}

/* For unit tests: run the timer expiry as the event loop would (only an
 * armed timer expires). */
void lapic_timer_expire(struct emu_lapic *l);
void lapic_timer_expire(struct emu_lapic *l)
{
	if (l->timer_armed)
		timer_fire(l);
}
