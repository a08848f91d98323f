/* A hostile injection: replaces the process it runs in (execve of a shell
 * that prints EXECED-OK), so the injection never returns.  The VMM must end
 * it with an error naming the call. */
#include "sys.h"

long payload_main(void)
{
	static const char sh[] = "/bin/sh", dash_c[] = "-c", cmd[] = "echo EXECED-OK";
	const char *argv[] = { sh, dash_c, cmd, 0 };
	const char *envp[] = { 0 };
	return sys3(SYS_execve, sh, argv, envp);
}
