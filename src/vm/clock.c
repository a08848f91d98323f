/* The host side of the VM clock (symbiont/clock.h). */
#include <time.h>

#include "symbiont/clock.h"

uint64_t host_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}
