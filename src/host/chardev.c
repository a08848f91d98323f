/* Character backends.  See chardev.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "symbiont/vm.h"
#include "host/chardev.h"

#define IN_HIGH (64 * 1024) /* stop reading the fd above this */
#define IN_LOW  (4 * 1024)  /* resume below this */
#define CTRL_A  0x01

enum backend { BK_STDIO, BK_FILE, BK_NULL, BK_BUFFER };

struct chardev {
	struct vm *vm;
	enum backend kind;
	int in_fd, out_fd;
	bool watching, eof, tty, escape;

	uint8_t *in; /* queued input: [in_head, in_len) */
	size_t in_head, in_len, in_cap;
	void (*ready)(void *ctx);
	void *ready_ctx;

	uint8_t *out; /* buffer backend */
	size_t out_len, out_cap;
};

/* ---- terminal state: one process, one terminal ------------------------- */

/* The saved terminal settings are process-wide by nature: they must be
 * restorable from atexit and fatal-signal handlers, which get no context. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;
static struct sigaction old_actions[NSIG];

static void tty_restore(void)
{
	if (tio_saved) {
		tcsetattr(0, TCSANOW, &saved_tio);
		tio_saved = 0;
	}
}

static void fatal_signal(int sig)
{
	tty_restore();
	sigaction(sig, &old_actions[sig], NULL);
	raise(sig);
}

static void tty_raw(void)
{
	static const int sigs[] = { SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	static bool hooked;
	struct termios t;
	if (tcgetattr(0, &saved_tio) < 0)
		return;
	t = saved_tio;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* keep host-side newline handling for our own messages */
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(0, TCSANOW, &t) < 0)
		return;
	tio_saved = 1;
	if (!hooked) {
		hooked = true;
		atexit(tty_restore);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
			struct sigaction sa = { .sa_handler = fatal_signal, .sa_flags = SA_RESETHAND };
			sigemptyset(&sa.sa_mask);
			sigaction(sigs[i], &sa, &old_actions[sigs[i]]);
		}
	}
}

/* ---- input queue ---------------------------------------------------------- */

static void fd_ready(void *opaque);

static void watch(struct chardev *c, bool on)
{
	if (on == c->watching || c->in_fd < 0 || c->eof)
		return;
	if (on) {
		if (vm_add_fd(c->vm, c->in_fd, fd_ready, c) == 0)
			c->watching = true;
	} else {
		vm_remove_fd(c->vm, c->in_fd);
		c->watching = false;
	}
}

static void queue(struct chardev *c, const uint8_t *buf, size_t len)
{
	if (!len)
		return;
	if (c->in_head && c->in_head == c->in_len)
		c->in_head = c->in_len = 0;
	if (c->in_len + len > c->in_cap) {
		if (c->in_head) { /* reclaim the consumed front first */
			memmove(c->in, c->in + c->in_head, c->in_len - c->in_head);
			c->in_len -= c->in_head;
			c->in_head = 0;
		}
		if (c->in_len + len > c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap : 4096;
			while (cap < c->in_len + len)
				cap *= 2;
			uint8_t *n = realloc(c->in, cap);
			if (!n)
				return; /* out of memory: drop, never crash */
			c->in = n;
			c->in_cap = cap;
		}
	}
	memcpy(c->in + c->in_len, buf, len);
	c->in_len += len;
}

void chardev_push_input(struct chardev *c, const void *buf, size_t len)
{
	queue(c, buf, len);
	if (chardev_pending(c) > IN_HIGH)
		watch(c, false);
	if (c->ready && chardev_pending(c))
		c->ready(c->ready_ctx);
}

size_t chardev_pending(const struct chardev *c)
{
	return c->in_len - c->in_head;
}

size_t chardev_read(struct chardev *c, void *buf, size_t max)
{
	size_t n = chardev_pending(c);
	if (n > max)
		n = max;
	if (n) {
		memcpy(buf, c->in + c->in_head, n);
		c->in_head += n;
	}
	if (c->in_head == c->in_len)
		c->in_head = c->in_len = 0;
	if (!c->watching && chardev_pending(c) < IN_LOW)
		watch(c, true);
	return n;
}

void chardev_unread(struct chardev *c, const void *buf, size_t len)
{
	if (!len)
		return;
	if (c->in && c->in_head >= len) {
		c->in_head -= len;
		memcpy(c->in + c->in_head, buf, len);
		return;
	}
	size_t pend = chardev_pending(c), cap = c->in_cap > pend + len ? c->in_cap : pend + len;
	uint8_t *n = malloc(cap);
	if (!n)
		return;
	memcpy(n, buf, len);
	if (pend)
		memcpy(n + len, c->in + c->in_head, pend);
	free(c->in);
	c->in = n;
	c->in_cap = cap;
	c->in_head = 0;
	c->in_len = pend + len;
}

void chardev_set_input_handler(struct chardev *c, void (*ready)(void *ctx), void *ctx)
{
	c->ready = ready;
	c->ready_ctx = ctx;
	if (ready && chardev_pending(c))
		ready(ctx);
}

/* Ctrl-A escapes on an interactive terminal, in the manner of QEMU. */
static size_t escapes(struct chardev *c, uint8_t *buf, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (!c->escape) {
			if (b == CTRL_A)
				c->escape = true;
			else
				buf[o++] = b;
			continue;
		}
		c->escape = false;
		switch (b) {
		case 'x':
		case 'X':
			tty_restore();
			fprintf(stderr, "\nsymbiont: terminated by Ctrl-A x\n");
			vm_request_exit(c->vm, 0);
			return o;
		case 'a':
		case CTRL_A: buf[o++] = CTRL_A; break;
		case 'h':
		case '?': fprintf(stderr, "\r\nCtrl-A x  quit\r\nCtrl-A a  send Ctrl-A\r\n"); break;
		default: break; /* unknown escapes are swallowed */
		}
	}
	return o;
}

static void fd_ready(void *opaque)
{
	struct chardev *c = opaque;
	uint8_t buf[4096];
	ssize_t n = read(c->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* end of input (or an error): stop reading, keep running */
		watch(c, false);
		c->eof = true;
		return;
	}
	size_t len = c->tty ? escapes(c, buf, n) : (size_t)n;
	chardev_push_input(c, buf, len);
}

/* ---- output --------------------------------------------------------------- */

void chardev_write(struct chardev *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (!len)
		return;
	if (c->kind == BK_BUFFER) {
		if (c->out_len + len > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 4096;
			while (cap < c->out_len + len)
				cap *= 2;
			uint8_t *n = realloc(c->out, cap);
			if (!n)
				return;
			c->out = n;
			c->out_cap = cap;
		}
		memcpy(c->out + c->out_len, buf, len);
		c->out_len += len;
		return;
	}
	if (c->out_fd < 0)
		return;
	while (len) {
		ssize_t n = write(c->out_fd, p, len);
		if (n > 0) {
			p += n;
			len -= n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			/* Someone made the fd non-blocking (a shared terminal): wait. */
			struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
			poll(&pfd, 1, 100);
		} else {
			c->out_fd = -1; /* closed pipe or full disk: drop output from now on */
			return;
		}
	}
}

const uint8_t *chardev_output(const struct chardev *c, size_t *len)
{
	*len = c->out_len;
	return c->kind == BK_BUFFER ? c->out : NULL;
}

/* ---- construction --------------------------------------------------------- */

static struct chardev *alloc(struct vm *vm, enum backend kind)
{
	struct chardev *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->vm = vm;
	c->kind = kind;
	c->in_fd = c->out_fd = -1;
	return c;
}

struct chardev *chardev_create_buffer(struct vm *vm)
{
	return alloc(vm, BK_BUFFER);
}

struct chardev *chardev_create(struct vm *vm, const char *spec, char *err, size_t errlen)
{
	struct chardev *c;
	if (!spec || !strcmp(spec, "stdio")) {
		c = alloc(vm, BK_STDIO);
		if (!c)
			goto oom;
		/* A closed stdin would make poll() spin on POLLNVAL. */
		c->in_fd = fcntl(0, F_GETFD) < 0 ? -1 : 0;
		c->out_fd = 1;
		c->tty = isatty(0);
		if (c->tty)
			tty_raw();
		watch(c, true);
		return c;
	}
	if (!strcmp(spec, "null")) {
		c = alloc(vm, BK_NULL);
		if (!c)
			goto oom;
		return c;
	}
	if (!strncmp(spec, "file:", 5)) {
		if (!spec[5]) {
			snprintf(err, errlen, "serial: file: needs a path (file:PATH)");
			return NULL;
		}
		int fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			snprintf(err, errlen, "serial: cannot open %s: %s", spec + 5, strerror(errno));
			return NULL;
		}
		c = alloc(vm, BK_FILE);
		if (!c) {
			close(fd);
			goto oom;
		}
		c->out_fd = fd;
		return c;
	}
	snprintf(err, errlen, "serial: unknown backend '%s' (use stdio, file:PATH or null)", spec);
	return NULL;
oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void chardev_destroy(struct chardev *c)
{
	if (!c)
		return;
	watch(c, false);
	if (c->kind == BK_STDIO && c->tty)
		tty_restore();
	if (c->kind == BK_FILE && c->out_fd >= 0)
		close(c->out_fd);
	free(c->in);
	free(c->out);
	free(c);
}
