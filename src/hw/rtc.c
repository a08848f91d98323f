/* MC146818 real-time clock.
 *
 * Time is never ticked: the registers are computed from the host's UTC
 * clock plus an offset that changes only when the guest sets the clock.
 * The update-in-progress bit is high for the last 244 us of every second,
 * as on the real part, so a guest that waits for UIP low and then reads
 * quickly (or re-reads until two reads agree, as Linux does) sees one
 * consistent second. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/rtc.h"
#include "symbiont/vm.h"

#define REG_SEC        0x00
#define REG_SEC_ALARM  0x01
#define REG_MIN        0x02
#define REG_MIN_ALARM  0x03
#define REG_HOUR       0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY       0x06
#define REG_MDAY       0x07
#define REG_MON        0x08
#define REG_YEAR       0x09
#define REG_A          0x0a
#define REG_B          0x0b
#define REG_C          0x0c
#define REG_D          0x0d
#define REG_CENTURY    0x32

#define A_UIP  0x80
#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_DM   0x04 /* binary */
#define B_24H  0x02
#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10

#define NS     1000000000ULL
#define UIP_NS 244000ULL

struct rtc {
	struct vm *vm;
	struct irq_line irq;
	uint8_t cmos[128];
	uint8_t index;
	bool nmi_disabled;
	int64_t offset; /* guest seconds - host seconds */
	struct vm_timer periodic, second;
	uint64_t (*now)(void *ctx);
	void *now_ctx;
};

static uint64_t default_now(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* Timers run on the VM clock; the wall clock only says where in the second
 * we are. */
static uint64_t mono_ns(const struct rtc *rtc)
{
	return vm_now(rtc->vm);
}

static uint8_t to_bcd(int v)
{
	v = (v % 100 + 100) % 100; /* two digits, whatever the guest set */
	return (v / 10) << 4 | (v % 10);
}
static int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t enc(struct rtc *rtc, int v)
{
	return (rtc->cmos[REG_B] & B_DM) ? v : to_bcd(v);
}

static int dec(struct rtc *rtc, uint8_t v)
{
	return (rtc->cmos[REG_B] & B_DM) ? v : from_bcd(v);
}

static uint8_t enc_hour(struct rtc *rtc, int h)
{
	if (rtc->cmos[REG_B] & B_24H)
		return enc(rtc, h);
	int h12 = h % 12 ? h % 12 : 12;
	return enc(rtc, h12) | (h >= 12 ? 0x80 : 0);
}

static int dec_hour(struct rtc *rtc, uint8_t v)
{
	if (rtc->cmos[REG_B] & B_24H)
		return dec(rtc, v);
	int h = dec(rtc, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

static bool running(struct rtc *rtc)
{
	/* Divider bits 6-4 must select the 32.768 kHz time base. */
	return (rtc->cmos[REG_A] & 0x70) == 0x20 && !(rtc->cmos[REG_B] & B_SET);
}

static int64_t guest_seconds(struct rtc *rtc)
{
	return (int64_t)(rtc->now(rtc->now_ctx) / NS) + rtc->offset;
}

/* Write the current time into the time registers. */
static void snapshot(struct rtc *rtc)
{
	time_t t = guest_seconds(rtc);
	struct tm tm;
	gmtime_r(&t, &tm);
	rtc->cmos[REG_SEC] = enc(rtc, tm.tm_sec);
	rtc->cmos[REG_MIN] = enc(rtc, tm.tm_min);
	rtc->cmos[REG_HOUR] = enc_hour(rtc, tm.tm_hour);
	rtc->cmos[REG_WDAY] = enc(rtc, tm.tm_wday + 1);
	rtc->cmos[REG_MDAY] = enc(rtc, tm.tm_mday);
	rtc->cmos[REG_MON] = enc(rtc, tm.tm_mon + 1);
	rtc->cmos[REG_YEAR] = enc(rtc, tm.tm_year % 100);
	rtc->cmos[REG_CENTURY] = to_bcd((tm.tm_year + 1900) / 100); /* century is always BCD */
}

/* The guest set the clock: the registers become the new time. */
static void adopt_registers(struct rtc *rtc)
{
	struct tm tm = { 0 };
	tm.tm_sec = dec(rtc, rtc->cmos[REG_SEC]);
	tm.tm_min = dec(rtc, rtc->cmos[REG_MIN]);
	tm.tm_hour = dec_hour(rtc, rtc->cmos[REG_HOUR]);
	tm.tm_mday = dec(rtc, rtc->cmos[REG_MDAY]);
	tm.tm_mon = dec(rtc, rtc->cmos[REG_MON]) - 1;
	tm.tm_year = from_bcd(rtc->cmos[REG_CENTURY]) * 100 + dec(rtc, rtc->cmos[REG_YEAR]) - 1900;
	if (tm.tm_sec > 59 || tm.tm_min > 59 || tm.tm_hour > 23 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11 || dec(rtc, rtc->cmos[REG_YEAR]) > 99)
		return;
	time_t t = timegm(&tm);
	/* Nonsense the guest wrote (bad BCD, years before 1970 or far ahead)
	 * leaves the clock where it was. */
	if (t >= 0 && t < 253402300800LL)
		rtc->offset = (int64_t)t - (int64_t)(rtc->now(rtc->now_ctx) / NS);
}

static void update_irq(struct rtc *rtc)
{
	uint8_t c = rtc->cmos[REG_C] & 0x70, b = rtc->cmos[REG_B];
	if (c & b & (B_PIE | B_AIE | B_UIE)) {
		if (!(rtc->cmos[REG_C] & C_IRQF)) {
			rtc->cmos[REG_C] |= C_IRQF;
			irq_line_set(&rtc->irq, 1);
		}
	}
}

static uint64_t periodic_ns(struct rtc *rtc)
{
	unsigned r = rtc->cmos[REG_A] & 0xf;
	if (!r)
		return 0;
	if (r < 3)
		r += 7; /* rates 1 and 2 repeat rates 8 and 9 */
	return NS * (1u << (r - 1)) / 32768;
}

static void arm_periodic(struct rtc *rtc)
{
	uint64_t p = periodic_ns(rtc);
	if (!p || !(rtc->cmos[REG_B] & B_PIE) || (rtc->cmos[REG_A] & 0x70) != 0x20) {
		timer_cancel(&rtc->periodic);
		return;
	}
	uint64_t now = mono_ns(rtc);
	timer_arm(&rtc->periodic, now + p - now % p);
}

static void periodic_fire(void *opaque)
{
	struct rtc *rtc = opaque;
	rtc->cmos[REG_C] |= C_PF;
	update_irq(rtc);
	arm_periodic(rtc);
}

static void arm_second(struct rtc *rtc)
{
	if (!(rtc->cmos[REG_B] & (B_UIE | B_AIE)) || !running(rtc)) {
		timer_cancel(&rtc->second);
		return;
	}
	uint64_t wall = rtc->now(rtc->now_ctx);
	timer_arm(&rtc->second, mono_ns(rtc) + (NS - wall % NS));
}

static bool alarm_match(uint8_t alarm, uint8_t now)
{
	return (alarm & 0xc0) == 0xc0 || alarm == now; /* 11xxxxxx: don't care */
}

static void second_fire(void *opaque)
{
	struct rtc *rtc = opaque;
	if (running(rtc)) {
		snapshot(rtc);
		rtc->cmos[REG_C] |= C_UF;
		if (alarm_match(rtc->cmos[REG_SEC_ALARM], rtc->cmos[REG_SEC]) &&
		    alarm_match(rtc->cmos[REG_MIN_ALARM], rtc->cmos[REG_MIN]) &&
		    alarm_match(rtc->cmos[REG_HOUR_ALARM], rtc->cmos[REG_HOUR]))
			rtc->cmos[REG_C] |= C_AF;
		update_irq(rtc);
	}
	arm_second(rtc);
}

static bool uip(struct rtc *rtc)
{
	return running(rtc) && rtc->now(rtc->now_ctx) % NS >= NS - UIP_NS;
}

/* Registers that hold the current time (not the alarm). */
static bool is_clock_reg(unsigned i)
{
	return i == REG_SEC || i == REG_MIN || (i >= REG_HOUR && i <= REG_YEAR && i != REG_HOUR_ALARM) ||
	       i == REG_CENTURY;
}

static uint8_t reg_read(struct rtc *rtc, unsigned i)
{
	uint8_t v;
	if (is_clock_reg(i) && running(rtc))
		snapshot(rtc);
	switch (i) {
	case REG_A: return (rtc->cmos[REG_A] & 0x7f) | (uip(rtc) ? A_UIP : 0);
	case REG_C:
		v = rtc->cmos[REG_C];
		rtc->cmos[REG_C] = 0;
		if (v & C_IRQF)
			irq_line_set(&rtc->irq, 0);
		return v;
	case REG_D: return 0x80; /* valid RAM and time */
	default: return rtc->cmos[i];
	}
}

static void reg_write(struct rtc *rtc, unsigned i, uint8_t v)
{
	uint8_t old;
	switch (i) {
	case REG_A:
		rtc->cmos[REG_A] = v & 0x7f;
		arm_periodic(rtc);
		arm_second(rtc);
		break;
	case REG_B:
		old = rtc->cmos[REG_B];
		if ((v & B_SET) && !(old & B_SET) && running(rtc))
			snapshot(rtc);                           /* freeze the registers for the guest to edit */
		rtc->cmos[REG_B] = v & ~(v & B_SET ? B_UIE : 0); /* SET clears UIE */
		if ((old & B_SET) && !(v & B_SET))
			adopt_registers(rtc);
		update_irq(rtc);
		arm_periodic(rtc);
		arm_second(rtc);
		break;
	case REG_C:
	case REG_D: break; /* read-only */
	default:
		if (is_clock_reg(i) && !(rtc->cmos[REG_B] & B_SET)) {
			snapshot(rtc);
			rtc->cmos[i] = v;
			adopt_registers(rtc);
		} else {
			rtc->cmos[i] = v;
		}
		break;
	}
}

static uint64_t rtc_read(void *dev, uint64_t off, unsigned size)
{
	struct rtc *rtc = dev;
	(void)size;
	if (off == 0)
		return 0xff; /* the index register is write-only */
	return reg_read(rtc, rtc->index);
}

static void rtc_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct rtc *rtc = dev;
	(void)size;
	if (off == 0) {
		rtc->index = val & 0x7f;
		rtc->nmi_disabled = val & 0x80;
	} else {
		reg_write(rtc, rtc->index, val);
	}
}

static const struct io_ops rtc_ops = { rtc_read, rtc_write };

/* Memory size fields the BIOS would have left for the OS. */
static void cmos_memory(struct rtc *rtc, const struct guest_mem *m)
{
	uint64_t ext_kb = m->low_size > (1 << 20) ? (m->low_size - (1 << 20)) >> 10 : 0;
	uint64_t above16 = m->low_size > (16 << 20) ? (m->low_size - (16 << 20)) >> 16 : 0;
	uint64_t above4g = (m->size - m->low_size) >> 16;
	if (ext_kb > 0xffff)
		ext_kb = 0xffff;
	if (above16 > 0xffff)
		above16 = 0xffff;
	if (above4g > 0xffffff)
		above4g = 0xffffff;
	rtc->cmos[0x15] = 640 & 0xff;
	rtc->cmos[0x16] = 640 >> 8;
	rtc->cmos[0x17] = rtc->cmos[0x30] = ext_kb & 0xff;
	rtc->cmos[0x18] = rtc->cmos[0x31] = ext_kb >> 8;
	rtc->cmos[0x34] = above16 & 0xff;
	rtc->cmos[0x35] = above16 >> 8;
	rtc->cmos[0x5b] = above4g & 0xff;
	rtc->cmos[0x5c] = (above4g >> 8) & 0xff;
	rtc->cmos[0x5d] = above4g >> 16;
	rtc->cmos[0x14] = 0x06; /* equipment: FPU present, VGA/EGA (no floppy) */
}

/* ---- lifecycle ----------------------------------------------------------- */

/* The MC146818's RESET pin: interrupt enables and flags clear, the
 * battery-backed CMOS (time, memory sizes, rates) stays. */
static void rtc_reset(void *dev)
{
	struct rtc *rtc = dev;
	rtc->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE);
	rtc->cmos[REG_C] = 0;
	rtc->index = 0;
	rtc->nmi_disabled = false;
	irq_line_set(&rtc->irq, 0);
	arm_periodic(rtc);
	arm_second(rtc);
}

static int rtc_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct rtc *rtc = dev;
	(void)err, (void)errlen;
	st_put_bytes(b, rtc->cmos, sizeof(rtc->cmos));
	st_put8(b, rtc->index);
	st_put_bool(b, rtc->nmi_disabled);
	st_put64(b, (uint64_t)rtc->offset);
	return 0;
}

/* offset is guest seconds against the host's wall clock, so the guest's
 * time keeps running across a save and load; the timers are re-armed from
 * the loaded rates and enables, the IRQ line follows IRQF. */
static int rtc_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct rtc *rtc = dev;
	uint8_t cmos[sizeof(rtc->cmos)], index;
	bool nmi;
	int64_t offset;
	(void)err, (void)errlen;
	st_get_bytes(r, cmos, sizeof(cmos));
	index = st_get8(r);
	st_check(r, index < sizeof(cmos));
	nmi = st_get_bool(r);
	offset = (int64_t)st_get64(r);
	if (!st_ok(r))
		return -1;
	memcpy(rtc->cmos, cmos, sizeof(cmos));
	rtc->index = index;
	rtc->nmi_disabled = nmi;
	rtc->offset = offset;
	irq_line_set(&rtc->irq, (rtc->cmos[REG_C] & C_IRQF) != 0);
	arm_periodic(rtc);
	arm_second(rtc);
	return 0;
}

static void rtc_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct rtc *rtc = dev;
	emit(ctx, "reg_b", rtc->cmos[REG_B]);
	emit(ctx, "reg_c", rtc->cmos[REG_C]);
	emit(ctx, "periodic_armed", rtc->periodic.armed);
}

const struct device_ops rtc_device_ops = {
	.name = "rtc",
	.version = 1,
	.reset = rtc_reset,
	.save = rtc_save,
	.load = rtc_load,
	.stats = rtc_stats,
};

struct rtc *rtc_create(struct vm *vm, unsigned irq)
{
	struct rtc *rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return NULL;
	rtc->vm = vm;
	rtc->irq = vm_irq_line(vm, irq);
	rtc->now = default_now;
	rtc->cmos[REG_A] = 0x26; /* 32.768 kHz, 1024 Hz periodic rate */
	rtc->cmos[REG_B] = B_24H;
	timer_init(&rtc->periodic, &vm->timers, periodic_fire, rtc);
	timer_init(&rtc->second, &vm->timers, second_fire, rtc);
	cmos_memory(rtc, &vm->mem);
	snapshot(rtc);
	if (io_bus_register(&vm->pio, 0x70, 2, &rtc_ops, rtc)) {
		free(rtc);
		return NULL;
	}
	if (vm_device_add(vm, &rtc_device_ops, rtc)) {
		io_bus_unregister(&vm->pio, 0x70);
		free(rtc);
		return NULL;
	}
	return rtc;
}

void rtc_destroy(struct rtc *rtc)
{
	if (!rtc)
		return;
	timer_cancel(&rtc->periodic);
	timer_cancel(&rtc->second);
	io_bus_unregister(&rtc->vm->pio, 0x70);
	vm_device_remove(rtc->vm, rtc);
	free(rtc);
}

void rtc_set_clock(struct rtc *rtc, uint64_t (*now)(void *ctx), void *ctx)
{
	rtc->now = now;
	rtc->now_ctx = ctx;
	snapshot(rtc);
}

void rtc_cmos_set(struct rtc *rtc, unsigned idx, uint8_t val)
{
	if (idx < sizeof(rtc->cmos))
		rtc->cmos[idx] = val;
}

uint8_t rtc_cmos_get(struct rtc *rtc, unsigned idx)
{
	return idx < sizeof(rtc->cmos) ? rtc->cmos[idx] : 0xff;
}

bool rtc_nmi_disabled(struct rtc *rtc)
{
	return rtc->nmi_disabled;
}
