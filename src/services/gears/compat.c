/* i386 system call numbers to x86-64 ones (compat.h), from the kernel's
 * two tables (arch/x86/entry/syscalls/syscall_32.tbl and _64.tbl). */
#include <stddef.h>

#include "services/gears/compat.h"

static const struct {
	unsigned short i386, x86_64;
} map[] = {
	{ 1, 60 },    /* exit */
	{ 2, 57 },    /* fork */
	{ 3, 0 },     /* read */
	{ 4, 1 },     /* write */
	{ 5, 2 },     /* open */
	{ 6, 3 },     /* close */
	{ 8, 85 },    /* creat */
	{ 9, 86 },    /* link */
	{ 10, 87 },   /* unlink */
	{ 11, 59 },   /* execve */
	{ 12, 80 },   /* chdir */
	{ 15, 90 },   /* chmod */
	{ 19, 8 },    /* lseek */
	{ 20, 39 },   /* getpid */
	{ 33, 21 },   /* access */
	{ 37, 62 },   /* kill */
	{ 38, 82 },   /* rename */
	{ 39, 83 },   /* mkdir */
	{ 40, 84 },   /* rmdir */
	{ 41, 32 },   /* dup */
	{ 42, 22 },   /* pipe */
	{ 45, 12 },   /* brk */
	{ 54, 16 },   /* ioctl */
	{ 63, 33 },   /* dup2 */
	{ 64, 110 },  /* getppid */
	{ 83, 88 },   /* symlink */
	{ 85, 89 },   /* readlink */
	{ 91, 11 },   /* munmap */
	{ 114, 61 },  /* wait4 */
	{ 120, 56 },  /* clone */
	{ 122, 63 },  /* uname */
	{ 125, 10 },  /* mprotect */
	{ 145, 19 },  /* readv */
	{ 146, 20 },  /* writev */
	{ 162, 35 },  /* nanosleep */
	{ 168, 7 },   /* poll */
	{ 183, 79 },  /* getcwd */
	{ 190, 58 },  /* vfork */
	{ 220, 217 }, /* getdents64 */
	{ 224, 186 }, /* gettid */
	{ 240, 202 }, /* futex */
	{ 252, 231 }, /* exit_group */
	{ 258, 218 }, /* set_tid_address */
	{ 295, 257 }, /* openat */
	{ 296, 258 }, /* mkdirat */
	{ 301, 263 }, /* unlinkat */
	{ 302, 264 }, /* renameat */
	{ 305, 267 }, /* readlinkat */
	{ 307, 269 }, /* faccessat */
	{ 331, 293 }, /* pipe2 */
	{ 355, 318 }, /* getrandom */
	{ 358, 322 }, /* execveat */
	{ 436, 436 }, /* close_range: from 424 on the tables agree */
	{ 437, 437 }, /* openat2 */
	{ 439, 439 }, /* faccessat2 */
};

int gears_compat_to_64(unsigned nr32)
{
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].i386 == nr32)
			return map[i].x86_64;
	return -1;
}

int gears_64_to_compat(unsigned nr64)
{
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].x86_64 == nr64)
			return map[i].i386;
	return -1;
}
