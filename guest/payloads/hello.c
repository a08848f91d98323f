/* The smallest injection: writes a line naming its process to fd 1 (the
 * process's own standard output) and returns the process id. */
#include "sys.h"

static char line[] = "INJECTED-hello from pid ";

static size_t put_number(char *out, long v)
{
	char tmp[24];
	size_t n = 0, i = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(tmp));
	while (n)
		out[i++] = tmp[--n];
	return i;
}

long payload_main(void)
{
	char buf[64];
	long pid = sys0(SYS_getpid);
	size_t n = str_len(line);
	/* the pointer to line is relocated (R_X86_64_RELATIVE) at load */
	static const char *volatile msg = line;
	memcpy(buf, msg, n);
	n += put_number(buf + n, pid);
	buf[n++] = '\n';
	sys3(SYS_write, 1, buf, n);
	return pid;
}
