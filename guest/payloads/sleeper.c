/* An injection that takes its time: sleeps 20 s (for tests that kill or
 * change the process while injected code runs), then returns 7.  A signal
 * the process takes meanwhile (a shell's SIGCHLD) does not cut the sleep
 * short: it sleeps on for the time left. */
#include "sys.h"

#define EINTR 4

long payload_main(void)
{
	long ts[2] = { 20, 0 }, left[2];
	while (sys2(SYS_nanosleep, ts, left) == -EINTR) {
		ts[0] = left[0];
		ts[1] = left[1];
	}
	return 7;
}
