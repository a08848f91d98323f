/* An injection that takes its time: sleeps 20 s (for tests that kill or
 * change the process while injected code runs), then returns 7. */
#include "sys.h"

long payload_main(void)
{
	long ts[2] = { 20, 0 };
	sys2(SYS_nanosleep, ts, 0);
	return 7;
}
