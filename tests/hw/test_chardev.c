/* Character backends: spec parsing, file output, and stdio input from a
 * pipe with backpressure (the fd is unwatched while a lot is queued and
 * watched again once drained) and end of input. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "hwtest.h"

#include "host/chardev.h"

static void test_bad_specs(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	char err[128] = "";
	assert_null(chardev_create(t->vm, "tcp:1234", err, sizeof(err)));
	assert_non_null(strstr(err, "tcp:1234"));
	assert_null(strchr(err, '\n'));
	err[0] = 0;
	assert_null(chardev_create(t->vm, "file:", err, sizeof(err)));
	assert_true(err[0]);
	assert_null(chardev_create(t->vm, "file:/nonexistent-dir/x", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x"));
	struct chardev *c = chardev_create(t->vm, "null", err, sizeof(err));
	assert_non_null(c);
	chardev_write(c, "x", 1);
	assert_int_equal(chardev_pending(c), 0);
	chardev_destroy(c);
	tvm_free(t);
}

static void test_file_backend(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	char path[] = "/tmp/symbiont-chardev-XXXXXX", spec[64], err[128];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", path);
	struct chardev *c = chardev_create(t->vm, spec, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(t->vm->nfds, 0); /* no input side */
	chardev_write(c, "boot log\n", 9);
	chardev_write(c, "more", 4);
	chardev_destroy(c);
	char buf[64] = { 0 };
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 13);
	close(fd);
	unlink(path);
	assert_string_equal(buf, "boot log\nmore");
	tvm_free(t);
}

static int notified;
static void on_input(void *ctx)
{
	(void)ctx;
	notified++;
}

/* Calls the fd callback as the event loop would: only when readable. */
static bool poke(struct vm *vm)
{
	if (vm->nfds == 0)
		return false;
	struct pollfd pfd = { .fd = vm->fds[0].fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	vm->fds[0].ready(vm->fds[0].opaque);
	return true;
}

static void test_stdio_pipe_backpressure_and_eof(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	int p[2], saved = dup(0);
	enum { TOTAL = 200 * 1024 };
	assert_int_equal(pipe(p), 0);
	/* A pipe bigger than the high-water mark, so backpressure shows. */
	bool big = fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (1 << 20);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(dup2(p[0], 0), 0);
	close(p[0]);
	uint8_t *data = malloc(TOTAL);
	for (int i = 0; i < TOTAL; i++)
		data[i] = i * 131 + (i >> 8);
	char err[128];
	struct chardev *c = chardev_create(t->vm, "stdio", err, sizeof(err));
	assert_non_null(c);
	chardev_set_input_handler(c, on_input, NULL);
	assert_int_equal(t->vm->nfds, 1); /* watching stdin */
	assert_int_equal(t->vm->fds[0].fd, 0);

	size_t written = 0, got = 0;
	uint8_t buf[1000];
	bool paused_seen = false;
	while (got < TOTAL) {
		if (written < TOTAL) {
			ssize_t n = write(p[1], data + written, TOTAL - written > 150000 ? 150000 : TOTAL - written);
			assert_true(n > 0 || errno == EAGAIN);
			if (n > 0)
				written += n;
			if (written == TOTAL)
				close(p[1]); /* end of input */
		}
		/* Feed the chardev until it stops watching (backpressure) or the
		 * pipe is empty; drain only now and then, like a slow guest. */
		for (int i = 0; i < 64 && poke(t->vm); i++)
			;
		if (t->vm->nfds == 0 && chardev_pending(c) > 32 * 1024)
			paused_seen = true;
		size_t n = chardev_read(c, buf, sizeof(buf));
		while (n) {
			assert_memory_equal(buf, data + got, n);
			got += n;
			n = chardev_read(c, buf, sizeof(buf));
		}
		if (written == TOTAL && t->vm->nfds == 0 && chardev_pending(c) == 0)
			break;
	}
	assert_int_equal(got, TOTAL);
	assert_true(paused_seen || !big);
	assert_true(notified > 0);
	/* EOF: no longer watched, and draining does not re-add it. */
	poke(t->vm);
	assert_int_equal(t->vm->nfds, 0);
	chardev_read(c, buf, sizeof(buf));
	assert_int_equal(t->vm->nfds, 0);
	assert_false(vm_stopping(t->vm)); /* end of input does not stop the VM */
	chardev_destroy(c);
	dup2(saved, 0);
	close(saved);
	free(data);
	tvm_free(t);
}

static void test_unread_keeps_order(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	struct chardev *c = chardev_create_buffer(t->vm);
	chardev_push_input(c, "cdef", 4);
	uint8_t b[8];
	assert_int_equal(chardev_read(c, b, 2), 2); /* "cd" */
	chardev_unread(c, "abcd", 4);
	assert_int_equal(chardev_read(c, b, 8), 6);
	assert_memory_equal(b, "abcdef", 6);
	chardev_unread(c, "xy", 2); /* into an empty buffer */
	assert_int_equal(chardev_read(c, b, 8), 2);
	assert_memory_equal(b, "xy", 2);
	chardev_destroy(c);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_file_backend),
		cmocka_unit_test(test_stdio_pipe_backpressure_and_eof),
		cmocka_unit_test(test_unread_keeps_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
