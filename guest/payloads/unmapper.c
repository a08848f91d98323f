/* A hostile injection: unmaps the page its own code is in, as a guest
 * might to pull the ground from under the VMM.  The VMM must end the
 * injection with an error naming the call (the process then dies of its
 * own doing: it returns into nothing). */
#include "sys.h"

#define SYS_munmap 11

long payload_main(void)
{
	unsigned long page = (unsigned long)&payload_main & ~4095ul;
	sys2(SYS_munmap, page, 4096);
	return 1;
}
