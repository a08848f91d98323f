/* MC146818 RTC and CMOS memory (ports 0x70-0x71), time from the host's
 * UTC clock, interrupts on one ISA line (IRQ 8 on the board). */
#ifndef SYMBIONT_HW_RTC_H
#define SYMBIONT_HW_RTC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct rtc;
struct device_ops;

extern const struct device_ops rtc_device_ops;

struct rtc *rtc_create(struct vm *vm, unsigned irq);
void rtc_destroy(struct rtc *rtc);
/* Tests: replace the wall clock (default CLOCK_REALTIME, ns since 1970). */
void rtc_set_clock(struct rtc *rtc, uint64_t (*now)(void *ctx), void *ctx);
/* Raw CMOS byte access for the board (memory size fields etc.). */
void rtc_cmos_set(struct rtc *rtc, unsigned idx, uint8_t val);
uint8_t rtc_cmos_get(struct rtc *rtc, unsigned idx);
bool rtc_nmi_disabled(struct rtc *rtc);

#endif
