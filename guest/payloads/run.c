/* Agentless exec and file copy (src/services/gears/exec.c): injected into
 * some guest process, this detaches a helper process and returns at once.
 * The helper, a grandchild reparented to init so the injected process never
 * sees it, then runs a command (relaying its output) or copies a file,
 * talking to the VMM through trap calls (include/symbiont/abi/gears_run.h)
 * that the VMM answers itself.  No libc: everything it needs is here. */
#include "sys.h"

#include "symbiont/abi/gears_run.h"

#define SIGKILL          9
#define SIGCHLD          17
#define O_RDONLY         0
#define O_WRONLY         1
#define O_RDWR           2
#define O_CREAT          0100
#define O_TRUNC          01000
#define O_CLOEXEC        02000000
#define AT_FDCWD         (-100)
#define POLLIN           1
#define POLLHUP          0x10
#define EAGAIN           11
#define EINTR            4
#define ENOENT           2
#define WALL             0x40000000
#define CLOSE_RANGE      436
#define SYS_ptrace       101
#define PTRACE_DETACH    17
#define PTRACE_SEIZE     0x4206
#define PTRACE_INTERRUPT 0x4207

struct pollfd {
	int fd;
	short events, revents;
};

static char buf[GEARS_RUN_CHUNK];

static long trap(const struct gears_run_args *a, long op, const void *p, long len, long arg)
{
	return sys6(GEARS_RUN_TRAP_NR, (long)a->cookie, op, (long)p, len, arg, 0);
}

static void pause_ms(long ms)
{
	long ts[2] = { 0, ms * 1000000 };
	sys2(SYS_nanosleep, ts, 0);
}

/* Sends p[len] as stream s; 0, or -1 when the VMM is gone. */
static int send_out(const struct gears_run_args *a, int s, const char *p, long len)
{
	while (len > 0) {
		long r = trap(a, GEARS_OP_OUT, p, len, s);
		if (r == -EAGAIN || r == -EINTR) {
			pause_ms(10);
			continue;
		}
		if (r <= 0)
			return -1;
		p += r, len -= r;
	}
	return 0;
}

/* The last word: retried while the client's queue is full. */
static void end(const struct gears_run_args *a, long arg)
{
	while (trap(a, GEARS_OP_END, 0, 0, arg) == -EAGAIN)
		pause_ms(10);
}

static void say(const struct gears_run_args *a, const char *s1, const char *s2)
{
	send_out(a, 2, "symbiont exec: ", 15);
	send_out(a, 2, s1, (long)str_len(s1));
	send_out(a, 2, s2, (long)str_len(s2));
	send_out(a, 2, "\n", 1);
}

static const char *next_string(const char *s)
{
	return s + str_len(s) + 1;
}

/* The command child: never returns. */
static void child_exec(const struct gears_run_args *a, char **argv, char **envp, const char *cwd, int out, int err)
{
	int null = (int)sys3(SYS_open, "/dev/null", O_RDWR, 0);
	if (null >= 0)
		sys2(SYS_dup2, null, 0);
	sys2(SYS_dup2, out, 1);
	sys2(SYS_dup2, err, 2);
	if (sys3(CLOSE_RANGE, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			sys1(SYS_close, fd);
	if (cwd && sys1(SYS_chdir, cwd) < 0) {
		sys3(SYS_write, 2, "symbiont exec: cannot change to the working directory\n", 54);
		sys1(SYS_exit_group, 127);
	}
	(void)a;
	const char *cmd = argv[0];
	int slash = 0;
	for (const char *p = cmd; *p; p++)
		slash |= *p == '/';
	if (slash) {
		sys3(SYS_execve, cmd, argv, envp);
	} else {
		static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
			                            "/usr/bin",        "/sbin",          "/bin" };
		char path[512];
		for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			size_t d = str_len(dirs[i]), c = str_len(cmd);
			if (d + 1 + c + 1 > sizeof(path))
				continue;
			memcpy(path, dirs[i], d);
			path[d] = '/';
			memcpy(path + d + 1, cmd, c + 1);
			sys3(SYS_execve, path, argv, envp);
		}
	}
	sys3(SYS_write, 2, "symbiont exec: cannot run ", 26);
	sys3(SYS_write, 2, cmd, str_len(cmd));
	sys3(SYS_write, 2, "\n", 1);
	sys1(SYS_exit_group, 127);
}

static void run_exec(const struct gears_run_args *a, char **argv, char **envp, const char *cwd)
{
	int out[2], err[2], status = 0;
	struct pollfd p[2];
	int open_streams = 2;

	if (sys2(SYS_pipe2, out, O_CLOEXEC) < 0 || sys2(SYS_pipe2, err, O_CLOEXEC) < 0) {
		say(a, "cannot make pipes", "");
		end(a, 127 << 8);
		return;
	}
	long child = sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (child == 0)
		child_exec(a, argv, envp, cwd, out[1], err[1]);
	sys1(SYS_close, out[1]);
	sys1(SYS_close, err[1]);
	if (child < 0) {
		say(a, "cannot fork", "");
		end(a, 127 << 8);
		return;
	}
	p[0] = (struct pollfd){ out[0], POLLIN, 0 };
	p[1] = (struct pollfd){ err[0], POLLIN, 0 };
	while (open_streams) {
		if (sys3(SYS_poll, p, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			long n = sys3(SYS_read, p[i].fd, buf, sizeof(buf));
			if (n == -EINTR || n == -EAGAIN)
				continue;
			if (n <= 0) {
				sys1(SYS_close, p[i].fd);
				p[i].fd = -1;
				open_streams--;
				continue;
			}
			if (send_out(a, i + 1, buf, n)) { /* the VMM or its client is gone */
				sys2(SYS_kill, child, SIGKILL);
				sys4(SYS_wait4, child, &status, 0, 0);
				return;
			}
		}
	}
	while (sys4(SYS_wait4, child, &status, 0, 0) == -EINTR)
		;
	end(a, status);
}

static void run_push(const struct gears_run_args *a, const char *path)
{
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r = 0;
	if (fd < 0) {
		end(a, fd);
		return;
	}
	memset(buf, 0, sizeof(buf)); /* the VMM writes only pages this process owns */
	for (;;) {
		long n = trap(a, GEARS_OP_IN, buf, sizeof(buf), 0);
		if (n == -EAGAIN || n == -EINTR) {
			pause_ms(10);
			continue;
		}
		if (n <= 0) {
			r = n;
			break;
		}
		for (long off = 0; off < n;) {
			long w = sys3(SYS_write, fd, buf + off, n - off);
			if (w == -EINTR)
				continue;
			if (w <= 0) {
				r = w ? w : -5;
				goto out;
			}
			off += w;
		}
	}
out:
	if (sys1(SYS_close, fd) < 0 && !r)
		r = -5; /* EIO */
	end(a, r);
}

static void run_pull(const struct gears_run_args *a, const char *path)
{
	long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0), r = 0;
	if (fd < 0) {
		end(a, fd);
		return;
	}
	for (;;) {
		long n = sys3(SYS_read, fd, buf, sizeof(buf));
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			r = n;
			break;
		}
		if (send_out(a, 1, buf, n)) {
			sys1(SYS_close, fd);
			return;
		}
	}
	sys1(SYS_close, fd);
	end(a, r);
}

/* Interrupts the system call process p sleeps in, as a signal would but
 * with none delivered: attached with PTRACE_SEIZE, stopped by
 * PTRACE_INTERRUPT (the call returns -ERESTART..., the process stops on its
 * way out), detached: the kernel then restarts the call.  Detaching is
 * retried until the stop has happened (2 s at most); a helper that exits
 * before detaches anyway, and the kernel drops the pending stop then. */
static void run_kick(long p)
{
	if (sys4(SYS_ptrace, PTRACE_SEIZE, p, 0, 0) < 0)
		return;
	sys4(SYS_ptrace, PTRACE_INTERRUPT, p, 0, 0);
	for (int i = 0; i < 200; i++) {
		if (sys4(SYS_ptrace, PTRACE_DETACH, p, 0, 0) == 0)
			return;
		pause_ms(10);
	}
}

/* The helper process: never returns. */
static void helper(const struct gears_run_args *a)
{
	char *argv[64], *envp[64];
	const char *s = (const char *)(a + 1), *cwd = 0;
	unsigned long mask = 0;
	unsigned n = 0, e = 0;

	sys0(SYS_setsid); /* out of the injected process's session and terminal */
	sys4(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, &mask, 0, 8);
	/* Its handlers are its own code, not ours; and a SIGCHLD it ignores
	 * would have our child reaped before we wait for its status. */
	for (int sig = 1; sig <= 64; sig++) {
		unsigned long act[4] = { 0, 0, 0, 0 }; /* SIG_DFL */
		sys4(SYS_rt_sigaction, sig, act, 0, 8);
	}
	for (unsigned i = 0; i < a->argc; i++, s = next_string(s))
		if (n < 63)
			argv[n++] = (char *)s;
	argv[n] = 0;
	for (unsigned i = 0; i < a->envc; i++, s = next_string(s))
		if (e < 63)
			envp[e++] = (char *)s;
	envp[e] = 0;
	if (a->has_cwd)
		cwd = s;
	if (a->mode == GEARS_RUN_KICK)
		run_kick(a->target);
	else if (a->mode == GEARS_RUN_EXEC && n)
		run_exec(a, argv, envp, cwd);
	else if (a->mode == GEARS_RUN_PUSH && n)
		run_push(a, argv[0]);
	else if (a->mode == GEARS_RUN_PULL && n)
		run_pull(a, argv[0]);
	sys1(SYS_exit_group, 0);
}

/* In the injected process: a child with no exit signal (so the process's
 * own SIGCHLD handling never sees it), which starts the helper and exits;
 * the helper is then init's.  Returns the child's pid, or -errno. */
long payload_main(const struct gears_run_args *a)
{
	int status;
	long child = sys5(SYS_clone, 0, 0, 0, 0, 0);
	if (child == 0) {
		long helper_pid = sys5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		if (helper_pid == 0)
			helper(a);
		sys1(SYS_exit, helper_pid < 0);
	}
	if (child > 0)
		while (sys4(SYS_wait4, child, &status, WALL, 0) == -EINTR)
			;
	return child;
}
