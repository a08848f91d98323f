/* strace-style text for a system call (decode.h).
 *
 * Each call this knows has a signature: how many arguments and how to
 * show each; the others are shown with six hex arguments.  Everything
 * read from the guest goes through gears_mem with a bound: strings are cut
 * at STR_SHOWN (paths at PATH_SHOWN) bytes, buffers at BUF_SHOWN, argv at
 * ARGV_SHOWN entries, and a pointer that cannot be read shows as
 * "<bad address>". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "services/gears/decode.h"
#include "services/gears/flags.h"
#include "services/gears/names.h"

#define STR_SHOWN   64  /* bytes of a string argument */
#define PATH_SHOWN  256 /* bytes of a path */
#define BUF_SHOWN   32  /* bytes of a read or write buffer */
#define ARGV_SHOWN  16  /* entries of argv */
#define ENV_COUNTED 4096
#define AT_FDCWD    (-100)
#define O_CREATES   (00000100 | 020000000) /* O_CREAT, O_TMPFILE: the flags that use a mode */

enum arg_kind {
	A_INT,   /* signed 32-bit */
	A_LONG,  /* signed 64-bit */
	A_ULONG, /* unsigned */
	A_HEX,
	A_PTR,   /* NULL or hex */
	A_DIRFD, /* AT_FDCWD or a number */
	A_PATH,
	A_STR,
	A_BUF_IN,  /* written by the caller: its contents, length in the next argument */
	A_BUF_OUT, /* filled by the call: contents at exit (ret bytes), else the pointer */
	A_OFLAGS,
	A_MODE, /* octal */
	A_PROT,
	A_MAPFLAGS,
	A_ATFLAGS,
	A_AMODE,
	A_ARGV,
	A_ENVP,
	A_SOCKADDR, /* length in the next argument */
};

struct signature {
	uint16_t nr;
	uint8_t nargs;
	uint8_t kind[6];
};

/* x86-64 numbers. */
static const struct signature signatures[] = {
	{ 0, 3, { A_INT, A_BUF_OUT, A_ULONG } },                           /* read */
	{ 1, 3, { A_INT, A_BUF_IN, A_ULONG } },                            /* write */
	{ 2, 3, { A_PATH, A_OFLAGS, A_MODE } },                            /* open */
	{ 3, 1, { A_INT } },                                               /* close */
	{ 4, 2, { A_PATH, A_PTR } },                                       /* stat */
	{ 5, 2, { A_INT, A_PTR } },                                        /* fstat */
	{ 6, 2, { A_PATH, A_PTR } },                                       /* lstat */
	{ 7, 3, { A_PTR, A_ULONG, A_INT } },                               /* poll */
	{ 8, 3, { A_INT, A_LONG, A_INT } },                                /* lseek */
	{ 9, 6, { A_PTR, A_ULONG, A_PROT, A_MAPFLAGS, A_INT, A_HEX } },    /* mmap */
	{ 10, 3, { A_PTR, A_ULONG, A_PROT } },                             /* mprotect */
	{ 11, 2, { A_PTR, A_ULONG } },                                     /* munmap */
	{ 12, 1, { A_PTR } },                                              /* brk */
	{ 13, 4, { A_INT, A_PTR, A_PTR, A_ULONG } },                       /* rt_sigaction */
	{ 14, 4, { A_INT, A_PTR, A_PTR, A_ULONG } },                       /* rt_sigprocmask */
	{ 16, 3, { A_INT, A_HEX, A_HEX } },                                /* ioctl */
	{ 17, 4, { A_INT, A_BUF_OUT, A_ULONG, A_LONG } },                  /* pread64 */
	{ 18, 4, { A_INT, A_BUF_IN, A_ULONG, A_LONG } },                   /* pwrite64 */
	{ 19, 3, { A_INT, A_PTR, A_INT } },                                /* readv */
	{ 20, 3, { A_INT, A_PTR, A_INT } },                                /* writev */
	{ 21, 2, { A_PATH, A_AMODE } },                                    /* access */
	{ 22, 1, { A_PTR } },                                              /* pipe */
	{ 32, 1, { A_INT } },                                              /* dup */
	{ 33, 2, { A_INT, A_INT } },                                       /* dup2 */
	{ 35, 2, { A_PTR, A_PTR } },                                       /* nanosleep */
	{ 39, 0, { 0 } },                                                  /* getpid */
	{ 40, 4, { A_INT, A_INT, A_PTR, A_ULONG } },                       /* sendfile */
	{ 41, 3, { A_INT, A_INT, A_INT } },                                /* socket */
	{ 42, 3, { A_INT, A_SOCKADDR, A_INT } },                           /* connect */
	{ 43, 3, { A_INT, A_PTR, A_PTR } },                                /* accept */
	{ 44, 6, { A_INT, A_BUF_IN, A_ULONG, A_HEX, A_SOCKADDR, A_INT } }, /* sendto */
	{ 49, 3, { A_INT, A_SOCKADDR, A_INT } },                           /* bind */
	{ 57, 0, { 0 } },                                                  /* fork */
	{ 58, 0, { 0 } },                                                  /* vfork */
	{ 59, 3, { A_PATH, A_ARGV, A_ENVP } },                             /* execve */
	{ 60, 1, { A_INT } },                                              /* exit */
	{ 61, 4, { A_INT, A_PTR, A_HEX, A_PTR } },                         /* wait4 */
	{ 62, 2, { A_INT, A_INT } },                                       /* kill */
	{ 72, 3, { A_INT, A_INT, A_HEX } },                                /* fcntl */
	{ 79, 2, { A_BUF_OUT, A_ULONG } },                                 /* getcwd */
	{ 80, 1, { A_PATH } },                                             /* chdir */
	{ 82, 2, { A_PATH, A_PATH } },                                     /* rename */
	{ 83, 2, { A_PATH, A_MODE } },                                     /* mkdir */
	{ 84, 1, { A_PATH } },                                             /* rmdir */
	{ 85, 2, { A_PATH, A_MODE } },                                     /* creat */
	{ 86, 2, { A_PATH, A_PATH } },                                     /* link */
	{ 87, 1, { A_PATH } },                                             /* unlink */
	{ 88, 2, { A_PATH, A_PATH } },                                     /* symlink */
	{ 89, 3, { A_PATH, A_BUF_OUT, A_ULONG } },                         /* readlink */
	{ 90, 2, { A_PATH, A_MODE } },                                     /* chmod */
	{ 92, 3, { A_PATH, A_INT, A_INT } },                               /* chown */
	{ 102, 0, { 0 } },                                                 /* getuid */
	{ 104, 0, { 0 } },                                                 /* getgid */
	{ 107, 0, { 0 } },                                                 /* geteuid */
	{ 108, 0, { 0 } },                                                 /* getegid */
	{ 110, 0, { 0 } },                                                 /* getppid */
	{ 157, 5, { A_INT, A_HEX, A_HEX, A_HEX, A_HEX } },                 /* prctl */
	{ 158, 2, { A_HEX, A_HEX } },                                      /* arch_prctl */
	{ 161, 1, { A_PATH } },                                            /* chroot */
	{ 165, 5, { A_STR, A_PATH, A_STR, A_HEX, A_PTR } },                /* mount */
	{ 186, 0, { 0 } },                                                 /* gettid */
	{ 217, 3, { A_INT, A_PTR, A_ULONG } },                             /* getdents64 */
	{ 218, 1, { A_PTR } },                                             /* set_tid_address */
	{ 228, 2, { A_INT, A_PTR } },                                      /* clock_gettime */
	{ 231, 1, { A_INT } },                                             /* exit_group */
	{ 257, 4, { A_DIRFD, A_PATH, A_OFLAGS, A_MODE } },                 /* openat */
	{ 258, 3, { A_DIRFD, A_PATH, A_MODE } },                           /* mkdirat */
	{ 262, 4, { A_DIRFD, A_PATH, A_PTR, A_ATFLAGS } },                 /* newfstatat */
	{ 263, 3, { A_DIRFD, A_PATH, A_ATFLAGS } },                        /* unlinkat */
	{ 264, 4, { A_DIRFD, A_PATH, A_DIRFD, A_PATH } },                  /* renameat */
	{ 267, 4, { A_DIRFD, A_PATH, A_BUF_OUT, A_ULONG } },               /* readlinkat */
	{ 268, 3, { A_DIRFD, A_PATH, A_MODE } },                           /* fchmodat */
	{ 269, 3, { A_DIRFD, A_PATH, A_AMODE } },                          /* faccessat */
	{ 292, 3, { A_INT, A_INT, A_OFLAGS } },                            /* dup3 */
	{ 293, 2, { A_PTR, A_OFLAGS } },                                   /* pipe2 */
	{ 302, 4, { A_INT, A_INT, A_PTR, A_PTR } },                        /* prlimit64 */
	{ 316, 5, { A_DIRFD, A_PATH, A_DIRFD, A_PATH, A_HEX } },           /* renameat2 */
	{ 318, 3, { A_BUF_OUT, A_ULONG, A_HEX } },                         /* getrandom */
	{ 322, 5, { A_DIRFD, A_PATH, A_ARGV, A_ENVP, A_ATFLAGS } },        /* execveat */
	{ 332, 5, { A_DIRFD, A_PATH, A_ATFLAGS, A_HEX, A_PTR } },          /* statx */
	{ 437, 4, { A_DIRFD, A_PATH, A_PTR, A_ULONG } },                   /* openat2 */
	{ 439, 4, { A_DIRFD, A_PATH, A_AMODE, A_ATFLAGS } },               /* faccessat2 */
};

static const struct signature *signature_of(uint64_t nr)
{
	for (size_t i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++)
		if (signatures[i].nr == nr)
			return &signatures[i];
	return NULL;
}

int gears_path_arg(uint64_t nr)
{
	const struct signature *s = signature_of(nr);
	if (!s)
		return -1;
	for (int i = 0; i < s->nargs; i++)
		if (s->kind[i] == A_PATH)
			return i;
	return -1;
}

bool gears_no_return(uint64_t nr)
{
	return nr == 59 || nr == 60 || nr == 231 || nr == 322;
}

/* ---- a bounded text builder ---------------------------------------------- */

struct text {
	char *p;
	size_t cap, len;
	bool cut;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->cut)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->cut = true;
		t->len = t->cap - 1;
		t->p[t->len] = 0;
		return;
	}
	t->len += (size_t)n;
}

/* bytes as a C string literal, quotes included; "..." after it if cut */
static void put_quoted(struct text *t, const uint8_t *b, size_t n, bool more)
{
	put(t, "\"");
	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];
		switch (c) {
		case '\n': put(t, "\\n"); break;
		case '\t': put(t, "\\t"); break;
		case '\r': put(t, "\\r"); break;
		case '"': put(t, "\\\""); break;
		case '\\': put(t, "\\\\"); break;
		default:
			if (c >= 0x20 && c < 0x7f)
				put(t, "%c", c);
			else
				put(t, "\\x%02x", c);
		}
	}
	put(t, "\"%s", more ? "..." : "");
}

int gears_read_string(const struct gears_mem *m, uint64_t va, char *out, size_t max)
{
	size_t got = 0;

	if (!max)
		return -1;
	while (got + 1 < max) {
		size_t chunk = 4096 - ((va + got) & 0xfff), i;
		if (chunk > max - 1 - got)
			chunk = max - 1 - got;
		if (va + got < va || m->read(m->ctx, va + got, out + got, chunk)) {
			out[got] = 0;
			return got ? 1 : -1; /* what was read before the hole is a cut string */
		}
		for (i = 0; i < chunk; i++)
			if (!out[got + i]) {
				return 0;
			}
		got += chunk;
	}
	out[got] = 0;
	return 1;
}

static void put_string(struct text *t, const struct gears_mem *m, uint64_t va, size_t shown)
{
	char buf[PATH_SHOWN + 1];
	int r;

	if (!va) {
		put(t, "NULL");
		return;
	}
	r = gears_read_string(m, va, buf, shown + 1);
	if (r < 0) {
		put(t, "<bad address>");
		return;
	}
	put_quoted(t, (const uint8_t *)buf, strlen(buf), r == 1);
}

static void put_buffer(struct text *t, const struct gears_mem *m, uint64_t va, uint64_t len)
{
	uint8_t buf[BUF_SHOWN];
	size_t n = len < BUF_SHOWN ? (size_t)len : BUF_SHOWN;

	if (!va && len) {
		put(t, "NULL");
		return;
	}
	/* page by page: a buffer may end on a mapped page and go on into a hole */
	for (size_t got = 0; got < n;) {
		size_t chunk = 4096 - ((va + got) & 0xfff);
		if (chunk > n - got)
			chunk = n - got;
		if (m->read(m->ctx, va + got, buf + got, chunk)) {
			put(t, "<bad address>");
			return;
		}
		got += chunk;
	}
	put_quoted(t, buf, n, len > n);
}

static bool read_u64(const struct gears_mem *m, uint64_t va, uint64_t *v)
{
	return !m->read(m->ctx, va, v, sizeof(*v));
}

static void put_argv(struct text *t, const struct gears_mem *m, uint64_t va)
{
	uint64_t p;
	unsigned i;

	if (!va) {
		put(t, "NULL");
		return;
	}
	put(t, "[");
	for (i = 0; i < ARGV_SHOWN; i++) {
		if (!read_u64(m, va + 8 * i, &p)) {
			put(t, "%s<bad address>", i ? ", " : "");
			break;
		}
		if (!p)
			break;
		put(t, "%s", i ? ", " : "");
		put_string(t, m, p, STR_SHOWN);
	}
	if (i == ARGV_SHOWN && read_u64(m, va + 8 * i, &p) && p)
		put(t, ", ...");
	put(t, "]");
}

static void put_envp(struct text *t, const struct gears_mem *m, uint64_t va)
{
	uint64_t p;
	unsigned n = 0;

	if (!va) {
		put(t, "NULL");
		return;
	}
	while (n < ENV_COUNTED && read_u64(m, va + 8 * n, &p) && p)
		n++;
	put(t, "%#" PRIx64 " /* %u%s vars */", va, n, n == ENV_COUNTED ? "+" : "");
}

static void put_sockaddr(struct text *t, const struct gears_mem *m, uint64_t va, uint64_t len)
{
	uint8_t sa[110]; /* sockaddr_un, the largest shown */
	size_t n = len < sizeof(sa) ? (size_t)len : sizeof(sa);
	uint16_t family;

	if (!va) {
		put(t, "NULL");
		return;
	}
	if (n < 2) {
		put(t, "%#" PRIx64, va);
		return;
	}
	if (m->read(m->ctx, va, sa, n)) {
		put(t, "<bad address>");
		return;
	}
	memcpy(&family, sa, 2);
	if (family == 2 && n >= 8) { /* AF_INET */
		put(t, "{sa_family=AF_INET, sin_port=htons(%u), sin_addr=inet_addr(\"%u.%u.%u.%u\")}",
		    (unsigned)sa[2] << 8 | sa[3], sa[4], sa[5], sa[6], sa[7]);
	} else if (family == 1) { /* AF_UNIX */
		put(t, "{sa_family=AF_UNIX, sun_path=");
		size_t plen = 0;
		while (2 + plen < n && sa[2 + plen])
			plen++;
		put_quoted(t, sa + 2, plen, false);
		put(t, "}");
	} else if (family == 10 && n >= 24) { /* AF_INET6 */
		put(t, "{sa_family=AF_INET6, sin6_port=htons(%u), sin6_addr=", (unsigned)sa[2] << 8 | sa[3]);
		for (int i = 0; i < 16; i += 2)
			put(t, "%s%x", i ? ":" : "", (unsigned)sa[8 + i] << 8 | sa[9 + i]);
		put(t, "}");
	} else {
		put(t, "{sa_family=%u, ...}", family);
	}
}

static void put_arg(struct text *t, enum arg_kind k, const uint64_t *args, int i, bool exited, int64_t ret,
                    const struct gears_mem *m)
{
	uint64_t v = args[i];
	char flags[256];

	switch (k) {
	case A_INT: put(t, "%d", (int32_t)v); break;
	case A_LONG: put(t, "%" PRId64, (int64_t)v); break;
	case A_ULONG: put(t, "%" PRIu64, v); break;
	case A_HEX: put(t, "%#" PRIx64, v); break;
	case A_PTR:
		if (v)
			put(t, "%#" PRIx64, v);
		else
			put(t, "NULL");
		break;
	case A_DIRFD:
		if ((int32_t)v == AT_FDCWD)
			put(t, "AT_FDCWD");
		else
			put(t, "%d", (int32_t)v);
		break;
	case A_PATH: put_string(t, m, v, PATH_SHOWN); break;
	case A_STR: put_string(t, m, v, STR_SHOWN); break;
	case A_BUF_IN: put_buffer(t, m, v, i < 5 ? args[i + 1] : 0); break;
	case A_BUF_OUT:
		if (exited && ret >= 0)
			put_buffer(t, m, v, (uint64_t)ret);
		else if (v)
			put(t, "%#" PRIx64, v);
		else
			put(t, "NULL");
		break;
	case A_OFLAGS: gears_format_flags(flags, sizeof(flags), GEARS_OPEN_FLAGS, v), put(t, "%s", flags); break;
	case A_MODE: put(t, "%#" PRIo64, v & 07777); break;
	case A_PROT: gears_format_flags(flags, sizeof(flags), GEARS_PROT, v), put(t, "%s", flags); break;
	case A_MAPFLAGS: gears_format_flags(flags, sizeof(flags), GEARS_MAP_FLAGS, v), put(t, "%s", flags); break;
	case A_ATFLAGS: gears_format_flags(flags, sizeof(flags), GEARS_AT_FLAGS, v), put(t, "%s", flags); break;
	case A_AMODE: gears_format_flags(flags, sizeof(flags), GEARS_ACCESS_MODE, v), put(t, "%s", flags); break;
	case A_ARGV: put_argv(t, m, v); break;
	case A_ENVP: put_envp(t, m, v); break;
	case A_SOCKADDR: put_sockaddr(t, m, v, i < 5 ? args[i + 1] : 0); break;
	}
}

void gears_format_call(char *out, size_t outlen, uint64_t nr, const uint64_t args[6], bool exited, int64_t ret,
                       const struct gears_mem *m)
{
	struct text t = { .p = out, .cap = outlen };
	const struct signature *s = signature_of(nr);
	const char *name = gears_syscall_name(nr);

	if (!outlen)
		return;
	out[0] = 0;
	if (name)
		put(&t, "%s(", name);
	else
		put(&t, "syscall_%" PRIu64 "(", nr);
	for (int i = 0; i < (s ? s->nargs : 6); i++) {
		/* open's mode means something only when it creates (as strace shows it) */
		if (s && s->kind[i] == A_MODE && i && s->kind[i - 1] == A_OFLAGS && !(args[i - 1] & O_CREATES))
			break;
		put(&t, "%s", i ? ", " : "");
		if (s)
			put_arg(&t, (enum arg_kind)s->kind[i], args, i, exited, ret, m);
		else
			put(&t, "%#" PRIx64, args[i]);
	}
	put(&t, ")");
	if (t.cut && outlen >= 4) /* show that it was cut */
		memcpy(out + outlen - 4, "...", 4);
}

void gears_format_result(char *out, size_t outlen, uint64_t nr, bool exited, int64_t ret)
{
	static const struct {
		int e;
		const char *name;
	} restart[] = { { 512, "ERESTARTSYS" },
		        { 513, "ERESTARTNOINTR" },
		        { 514, "ERESTARTNOHAND" },
		        { 515, "ENOIOCTLCMD" },
		        { 516, "ERESTART_RESTARTBLOCK" } };

	if (!outlen)
		return;
	if (!exited) {
		snprintf(out, outlen, "?");
	} else if (ret < 0 && ret >= -4095) {
		const char *name = gears_errno_name(-ret);
		for (size_t i = 0; !name && i < sizeof(restart) / sizeof(restart[0]); i++)
			if (restart[i].e == -ret)
				name = restart[i].name;
		if (name && -ret < 512)
			snprintf(out, outlen, "-1 %s (%s)", name, strerror((int)-ret));
		else if (name)
			snprintf(out, outlen, "? %s (to be restarted)", name);
		else
			snprintf(out, outlen, "-1 (errno %" PRId64 ")", -ret);
	} else if (nr == 9 || nr == 12) { /* mmap, brk: addresses */
		snprintf(out, outlen, "%#" PRIx64, (uint64_t)ret);
	} else {
		snprintf(out, outlen, "%" PRId64, ret);
	}
}
