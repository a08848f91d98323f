/* A 32-bit program for the GEARS e2e test: makes its calls through INT 0x80
 * (i386 numbers) and says how its open went: T32-OPEN-OK, or
 * T32-OPEN-ERR-<errno>.  Built -m32 -static -nostdlib by the test. */
static long sys3(long nr, long a, long b, long c)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

static void say(const char *s, long n)
{
	sys3(4 /* write */, 1, (long)s, n);
}

void _start(void)
{
	/* the path from the stack, as programs build them: a string in a page
	 * the program never touched is not read by deny (docs/services.md) */
	char path[] = "/tmp/gears32-probe";
	long fd = sys3(5 /* open */, (long)path, 0 /* O_RDONLY */, 0);
	if (fd >= 0) {
		say("T32-OPEN-OK\n", 12);
	} else {
		char msg[] = "T32-OPEN-ERR-00\n";
		msg[13] = (char)('0' + (-fd / 10) % 10);
		msg[14] = (char)('0' + -fd % 10);
		say(msg, 16);
	}
	sys3(1 /* exit */, 0, 0, 0);
	for (;;)
		;
}
