/* A 32-bit program for the GEARS e2e test: makes its calls with i386
 * numbers through INT 0x80 or, built with -DVIA_VDSO, through the vDSO's
 * __kernel_vsyscall (AT_SYSINFO), which enters the kernel with SYSENTER;
 * and says how its open went: T32-OPEN-OK, or T32-OPEN-ERR-<errno>.
 * Built -m32 -static -nostdlib by the test. */
#define AT_SYSINFO 32

static unsigned long vsyscall; /* __kernel_vsyscall, from the auxiliary vector */

static long sys3(long nr, long a, long b, long c)
{
	long r;
#ifdef VIA_VDSO
	__asm__ volatile("call *%[v]" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), [v] "m"(vsyscall) : "memory");
#else
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
#endif
	return r;
}

static void say(const char *s, long n)
{
	sys3(4 /* write */, 1, (long)s, n);
}

/* sp: the initial stack, argc then argv, envp and the auxiliary vector */
__attribute__((used)) static void start_c(long *sp)
{
	long argc = sp[0];
	long *p = sp + 1 + argc + 1;
	while (*p)
		p++;
	for (p++; p[0]; p += 2)
		if (p[0] == AT_SYSINFO)
			vsyscall = (unsigned long)p[1];
#ifdef VIA_VDSO
	if (!vsyscall) {
		say("T32-NO-VDSO\n", 12);
		sys3(1 /* exit */, 1, 0, 0);
	}
#endif
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

__asm__(".globl _start\n"
        "_start:\n"
        "	push %esp\n"
        "	call start_c\n");
