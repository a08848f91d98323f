/* System calls and the few helpers a payload needs, with no libc: the code
 * symbiont injects into guest processes (src/services/gears/inject.c) runs
 * in a process it knows nothing about, so it brings everything itself. */
#ifndef SYMBIONT_PAYLOAD_SYS_H
#define SYMBIONT_PAYLOAD_SYS_H

typedef unsigned long size_t;
typedef long ssize_t;

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
#define sys0(n)                sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a)             sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)          sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)       sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d)    sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

enum {
	SYS_read = 0,
	SYS_write = 1,
	SYS_open = 2,
	SYS_close = 3,
	SYS_poll = 7,
	SYS_pipe2 = 293,
	SYS_dup2 = 33,
	SYS_nanosleep = 35,
	SYS_getpid = 39,
	SYS_clone = 56,
	SYS_execve = 59,
	SYS_exit = 60,
	SYS_wait4 = 61,
	SYS_kill = 62,
	SYS_chdir = 80,
	SYS_setsid = 112,
	SYS_exit_group = 231,
	SYS_openat = 257,
	SYS_rt_sigprocmask = 14,
	SYS_rt_sigaction = 13,
};

static inline size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* The compiler may emit calls to these even with -ffreestanding. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);

#endif
