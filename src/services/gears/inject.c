/* Code injection (inject.h): a position-independent ELF runs inside a
 * guest process, as that process, and the process then goes on as if
 * nothing had happened.  Nothing is installed in the guest: the VMM steers
 * the process at system call boundaries, where the event hub lets it see
 * and replace the user registers.
 *
 * The steps, each at an event of the chosen thread (on its vCPU's thread):
 *
 *   WAIT   the first syscall entry or exit of the process.  Its user
 *          registers are saved.  At an entry the call is turned into
 *          mmap(RWX, anonymous, populated); at an exit the registers are
 *          rewound onto the SYSCALL instruction just executed, with mmap's
 *          number and arguments, so the process makes that mmap at once.
 *   MMAP   the mmap's exit: the relocated image, a trampoline, the
 *          argument block and a stack are written into the new pages, and
 *          the thread resumes at the trampoline, which saves the x87/SSE
 *          state (FXSAVE), calls the entry point, restores that state and
 *          makes the trap call (GEARS_TRAP_NR) with the result in RDI.
 *   RUN    the trap call's entry (from the trampoline's address, by that
 *          thread): the result is kept and the call becomes munmap of the
 *          whole mapping.
 *   UNMAP  the munmap's exit: the thread resumes with the saved registers.
 *          Saved at an entry, they point at the SYSCALL instruction with
 *          the call's number in RAX: the interrupted call is made again,
 *          as the kernel restarts a call after a signal handler; saved at
 *          an exit, they are the call's return, result included.
 *
 * A blocking call is so taken over either before it blocks (at its entry;
 * it is then made afresh at the end) or when it returns.  A process asleep
 * in a call for KICK_AFTER_MS is woken so that its call restarts: by the
 * guest kernel's own signal_wake_up_state, called on an idle vCPU (wake.c),
 * or where no vCPU idles by the helper process of gears_kick (exec.c).  One
 * in an uninterruptible sleep for longer than the timeout is not woken: the
 * injection then fails having changed nothing.
 *
 * The guest is hostile and the process may do anything meanwhile: die
 * (a process-list check every POLL_MS), execve, exit or unmap the
 * injection's pages (seen at those calls' entries), or never come back.
 * Each ends the injection with an error naming what happened; the VMM only
 * ever reads and writes the process's memory through checked page walks
 * (uaccess.c), writing only pages the process itself may write. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/gears/gears.h"
#include "services/gears/inject.h"
#include "services/gears/names.h"
#include "services/gears/wake.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

#define NR_MMAP       9
#define NR_MPROTECT   10
#define NR_MUNMAP     11
#define NR_MREMAP     25
#define NR_CLONE      56
#define NR_FORK       57
#define NR_VFORK      58
#define NR_EXECVE     59
#define NR_EXIT       60
#define NR_EXIT_GROUP 231
#define NR_EXECVEAT   322
#define NR_CLONE3     435

#define PROT_RWX      7
#define MAP_FLAGS     (0x02 | 0x20 | 0x8000) /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE */
#define MAP_FIXED_BIT 0x10
#define STACK_BYTES   (64u << 10)
#define POLL_MS       200
#define KICK_AFTER_MS 300 /* a process quiet this long is woken (gears_kick) */

enum { R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI, R_R8, R_R9, R_R10 };

/* The trampoline, at the first byte of its page; the x87/SSE save area is
 * FX_OFF bytes in (16-byte aligned).  rel32 fields are filled in. */
/* clang-format off */
static const uint8_t tramp_code[] = {
	0x48, 0x8d, 0x3d, 0, 0, 0, 0,       /*  0 lea rdi, [rip + arg]  */
	0x48, 0x0f, 0xae, 0x05, 0, 0, 0, 0, /*  7 fxsave64 [rip + fx]   */
	0xe8, 0, 0, 0, 0,                   /* 15 call entry            */
	0x48, 0x0f, 0xae, 0x0d, 0, 0, 0, 0, /* 20 fxrstor64 [rip + fx]  */
	0x48, 0x89, 0xc7,                   /* 28 mov rdi, rax          */
	0xb8, GEARS_TRAP_NR & 0xff, GEARS_TRAP_NR >> 8, 0, 0, /* 31 mov eax, TRAP */
	0x0f, 0x05,                         /* 36 syscall               */
	0x0f, 0x0b,                         /* 38 ud2                   */
};
/* clang-format on */
#define TRAMP_SYSCALL 36
#define FX_OFF        512

enum inj_state { INJ_WAIT, INJ_MMAP, INJ_RUN, INJ_UNMAP, INJ_DONE, INJ_FAILED };

struct gears_inj {
	struct gears *g;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum inj_state state;
	int32_t want;  /* process asked for, 0 for any */
	int32_t avoid; /* with want 0: not this one either */
	/* the thread taken over */
	int32_t tid, tgid;
	char comm[GUESTOS_COMM_LEN];
	uint64_t cr3;
	uint64_t syscall_rip; /* its SYSCALL instruction */
	struct sym_uregs saved, resume;
	/* what goes in */
	const struct gears_elf_image *image;
	const void *arg;
	size_t arglen;
	uint64_t map, maplen, tramp, trap_rip;
	/* what came out */
	int64_t ret;
	bool unmap_failed;
	bool abandoned; /* the command gave up: image and arg are gone */
	char kick_err[256];
	const char *woken;  /* how the process was woken: "kernel", "helper", or NULL */
	bool took_at_entry; /* taken over at a call's entry (else its exit) */
	uint64_t took_nr;   /* that call */
	char why[256];      /* INJ_FAILED */
	struct sym_sub *enter_sub, *exit_sub;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void regs_from(struct sym_uregs *u, const struct sym_regs *r)
{
	memcpy(u->gpr, r->gpr, sizeof(u->gpr));
	u->rip = r->rip;
	u->rflags = r->rflags;
}

/* Under inj->lock. */
static void fail_now(struct gears_inj *in, const char *fmt, const char *what)
{
	if (in->state == INJ_DONE || in->state == INJ_FAILED)
		return;
	snprintf(in->why, sizeof(in->why), fmt, what, (int)in->tgid);
	in->state = INJ_FAILED;
	pthread_cond_broadcast(&in->cond);
}

static int write_all(const struct gears_mem *m, uint64_t va, const uint8_t *b, size_t len)
{
	while (len) {
		size_t chunk = 4096 - (va & 0xfff);
		if (chunk > len)
			chunk = len;
		if (m->write(m->ctx, va, b, chunk))
			return -1;
		va += chunk, b += chunk, len -= chunk;
	}
	return 0;
}

static void put_rel32(uint8_t *code, size_t field, uint64_t from_next, uint64_t to)
{
	int32_t d = (int32_t)(int64_t)(to - from_next);
	memcpy(code + field, &d, 4);
}

/* The mapping is there: image, trampoline, argument block, stack.  0, or
 * -1 when a page cannot be written (the process changed its memory). */
static int fill_mapping(struct gears_inj *in, const struct sym_regs *r)
{
	struct gears_uaccess ua;
	struct gears_mem m;
	const struct gears_elf_image *im = in->image;
	uint8_t code[sizeof(tramp_code)];
	uint64_t arg_at = in->tramp + 4096;
	uint8_t *bytes = malloc(im->span);
	int rc;

	if (!bytes)
		return -1;
	gears_uaccess_init(&ua, &m, &in->g->vm->mem, r);
	gears_elf_relocate(im, in->map, bytes);
	memcpy(code, tramp_code, sizeof(code));
	put_rel32(code, 3, in->tramp + 7, arg_at);
	put_rel32(code, 11, in->tramp + 15, in->tramp + FX_OFF);
	put_rel32(code, 16, in->tramp + 20, in->map + im->entry);
	put_rel32(code, 24, in->tramp + 28, in->tramp + FX_OFF);
	rc = write_all(&m, in->map, bytes, im->span) || write_all(&m, in->tramp, code, sizeof(code)) ||
	     (in->arglen && write_all(&m, arg_at, in->arg, in->arglen));
	free(bytes);
	return rc ? -1 : 0;
}

/* The thread goes on with u (copied: the engine applies it after this
 * injection may have been freed). */
static void resume_with(struct sym_event *ev, const struct sym_uregs *u)
{
	ev->syscall.resume = true;
	ev->syscall.resume_regs = *u;
}

static bool overlaps(const struct gears_inj *in, uint64_t addr, uint64_t len)
{
	return addr < in->map + in->maplen && addr + len > in->map;
}

/* A call by the process while its thread runs the injected code: those
 * that take the ground from under it end the injection. */
static void watch_call(struct gears_inj *in, const struct sym_event *ev)
{
	const uint64_t *a = ev->syscall.args;
	switch (ev->syscall.nr) {
	case NR_EXECVE:
	case NR_EXECVEAT: fail_now(in, "the process called %s during the injection (pid %d)", "execve"); break;
	case NR_EXIT_GROUP: fail_now(in, "the process called %s during the injection (pid %d)", "exit_group"); break;
	case NR_MUNMAP:
		if (overlaps(in, a[0], a[1]))
			fail_now(in, "the process called %s on the injection's memory (pid %d)", "munmap");
		break;
	case NR_MREMAP:
		if (overlaps(in, a[0], a[1]) || ((a[3] & 2) && overlaps(in, a[4], a[2])))
			fail_now(in, "the process called %s on the injection's memory (pid %d)", "mremap");
		break;
	case NR_MPROTECT:
		if (overlaps(in, a[0], a[1]))
			fail_now(in, "the process called %s on the injection's memory (pid %d)", "mprotect");
		break;
	case NR_MMAP:
		if ((a[3] & MAP_FIXED_BIT) && overlaps(in, a[0], a[1]))
			fail_now(in, "the process called %s over the injection's memory (pid %d)", "mmap(MAP_FIXED)");
		break;
	default: break;
	}
}

/* Takes the thread over at its first boundary (state WAIT). */
static void take_over(struct gears_inj *in, struct sym_event *ev, const struct guestos_task_id *who)
{
	const struct sym_regs *r = ev->regs;
	bool enter = ev->type == SYM_EV_SYSCALL_ENTER;
	uint64_t nr = ev->syscall.nr;

	/* A fork's child returns from the call too, possibly on its parent's
	 * stack (vfork): leave those alone. */
	if (!enter && (nr == NR_CLONE || nr == NR_FORK || nr == NR_VFORK || nr == NR_CLONE3))
		return;
	in->tid = who->pid;
	in->took_at_entry = enter;
	in->took_nr = nr;
	in->tgid = who->tgid;
	snprintf(in->comm, sizeof(in->comm), "%s", who->comm);
	in->cr3 = r->cr3 & 0x000ffffffffff000ULL;
	regs_from(&in->saved, r);
	if (enter) {
		/* rip is the SYSCALL instruction; the call becomes mmap */
		in->syscall_rip = r->rip;
		ev->syscall.nr = NR_MMAP;
		ev->syscall.args[0] = 0;
		ev->syscall.args[1] = in->maplen;
		ev->syscall.args[2] = PROT_RWX;
		ev->syscall.args[3] = MAP_FLAGS;
		ev->syscall.args[4] = (uint64_t)-1;
		ev->syscall.args[5] = 0;
	} else {
		/* rip follows the SYSCALL instruction (0F 05, its last two bytes) */
		in->syscall_rip = r->rip - 2;
		in->resume = in->saved;
		in->resume.rip = in->syscall_rip;
		in->resume.gpr[R_RAX] = NR_MMAP;
		in->resume.gpr[R_RDI] = 0;
		in->resume.gpr[R_RSI] = in->maplen;
		in->resume.gpr[R_RDX] = PROT_RWX;
		in->resume.gpr[R_R10] = MAP_FLAGS;
		in->resume.gpr[R_R8] = (uint64_t)-1;
		in->resume.gpr[R_R9] = 0;
		resume_with(ev, &in->resume);
	}
	in->state = INJ_MMAP;
}

/* Puts the mapping away through the process's own SYSCALL instruction,
 * then (at UNMAP's exit) the saved registers back. */
static void unmap_then_restore(struct gears_inj *in, struct sym_event *ev)
{
	in->resume = in->saved;
	in->resume.rip = in->syscall_rip;
	in->resume.gpr[R_RAX] = NR_MUNMAP;
	in->resume.gpr[R_RDI] = in->map;
	in->resume.gpr[R_RSI] = in->maplen;
	resume_with(ev, &in->resume);
	in->state = INJ_UNMAP;
}

static enum sym_action on_syscall(void *opaque, struct sym_event *ev)
{
	struct gears_inj *in = opaque;
	struct guestos_task_id who;
	bool enter = ev->type == SYM_EV_SYSCALL_ENTER;
	uint64_t cr3 = ev->regs->cr3 & 0x000ffffffffff000ULL;

	/* Cheap tests first: once a thread is chosen, only its address space
	 * matters (no lock: tid and cr3 are set once, before state leaves WAIT,
	 * and read here only after seeing that under the lock below). */
	pthread_mutex_lock(&in->lock);
	enum inj_state st = in->state;
	bool mine_as = st != INJ_WAIT && cr3 == in->cr3;
	pthread_mutex_unlock(&in->lock);
	if (st == INJ_DONE || st == INJ_FAILED || (st != INJ_WAIT && !mine_as))
		return SYM_CONTINUE;
	if (gears_who_now(in->g, ev, &who) < 0)
		return SYM_CONTINUE;

	pthread_mutex_lock(&in->lock);
	switch (in->state) {
	case INJ_WAIT:
		if ((in->want && who.tgid != in->want) || (!in->want && (who.tgid <= 1 || who.tgid == in->avoid)))
			break;
		/* Any process will do, but not one on its way out: the process
		 * hosts the injection until it returns, and one at exit_group
		 * is gone right after (a shell loop's `sleep`, the commonest
		 * caller in a quiet guest, often is). */
		if (!in->want && enter && (ev->syscall.nr == NR_EXIT || ev->syscall.nr == NR_EXIT_GROUP))
			break;
		/* nor a run helper of an earlier exec or push, which ends as
		 * soon as its session does */
		if (!in->want && gears_is_helper(in->g, who.tgid))
			break;
		take_over(in, ev, &who);
		break;
	case INJ_MMAP:
		if (enter || who.pid != in->tid || ev->syscall.nr != NR_MMAP)
			break;
		if (ev->syscall.ret < 0 && ev->syscall.ret > -4096) {
			const char *e = gears_errno_name((int)-ev->syscall.ret);
			fail_now(in, "mmap in the process failed with %s (pid %d)", e ? e : "an error");
			resume_with(ev, &in->saved);
			break;
		}
		if (in->abandoned) {
			snprintf(in->why, sizeof(in->why), "abandoned");
			unmap_then_restore(in, ev);
			break;
		}
		in->map = (uint64_t)ev->syscall.ret;
		in->tramp = in->map + in->image->span;
		in->trap_rip = in->tramp + TRAMP_SYSCALL;
		if (fill_mapping(in, ev->regs)) {
			snprintf(in->why, sizeof(in->why), "the injection's pages in pid %d could not be written",
			         (int)in->tgid);
			unmap_then_restore(in, ev);
			break;
		}
		memset(&in->resume, 0, sizeof(in->resume));
		in->resume.gpr[R_RSP] = (in->map + in->maplen) & ~15ULL;
		in->resume.rip = in->tramp;
		in->resume.rflags = in->saved.rflags & ~0x400ULL; /* DF clear, as the ABI wants at a call */
		resume_with(ev, &in->resume);
		in->state = INJ_RUN;
		break;
	case INJ_RUN:
		if (!enter)
			break;
		if (who.pid == in->tid && ev->syscall.nr == GEARS_TRAP_NR && ev->regs->rip == in->trap_rip) {
			in->ret = (int64_t)ev->syscall.args[0];
			ev->syscall.nr = NR_MUNMAP;
			ev->syscall.args[0] = in->map;
			ev->syscall.args[1] = in->maplen;
			in->state = INJ_UNMAP;
			break;
		}
		if (who.pid == in->tid && ev->syscall.nr == NR_EXIT) {
			fail_now(in, "the injected code called %s, ending the thread (pid %d)", "exit");
			break;
		}
		if (who.tgid == in->tgid)
			watch_call(in, ev);
		break;
	case INJ_UNMAP:
		if (enter || who.pid != in->tid || ev->syscall.nr != NR_MUNMAP)
			break;
		in->unmap_failed = ev->syscall.ret != 0;
		resume_with(ev, &in->saved);
		in->state = in->why[0] ? INJ_FAILED : INJ_DONE;
		pthread_cond_broadcast(&in->cond);
		break;
	default: break;
	}
	pthread_mutex_unlock(&in->lock);
	return SYM_CONTINUE;
}

/* Is process tgid still there (and not a zombie)?  1 yes, 0 no, -1 cannot tell. */
static int process_alive(struct gears *g, int32_t tgid)
{
	struct guestos_process *ps = NULL;
	size_t n = 0;
	char err[128];
	int r;

	pthread_mutex_lock(&g->os_lock);
	r = guestos_processes(g->os, &ps, &n, err, sizeof(err));
	pthread_mutex_unlock(&g->os_lock);
	if (r < 0)
		return -1;
	r = 0;
	for (size_t i = 0; i < n && !r; i++)
		if (ps[i].tgid == tgid)
			r = ps[i].state != 'Z' && ps[i].state != 'X';
	free(ps);
	return r;
}

static void inj_free(struct gears_inj *in)
{
	sym_unsubscribe(in->enter_sub);
	sym_unsubscribe(in->exit_sub);
	pthread_mutex_destroy(&in->lock);
	pthread_cond_destroy(&in->cond);
	free(in);
}

void gears_inject_fini(struct gears *g)
{
	if (g->inj)
		inj_free(g->inj);
	if (g->kick)
		inj_free(g->kick);
	g->inj = g->kick = NULL;
}

/* A GEARS_INJECT event per injection (under in->lock): where the process
 * was taken over, and how it ended. */
static void report(struct gears_inj *in, int rc, const char *err)
{
	struct json_object *o = json_object_new_object();
	const char *name = gears_syscall_name((unsigned)in->took_nr);
	bool taken = in->state != INJ_WAIT && in->tid;
	json_object_object_add(o, "pid", json_object_new_int(in->tgid));
	json_object_object_add(o, "tid", taken ? json_object_new_int(in->tid) : NULL);
	json_object_object_add(o, "comm", taken ? json_object_new_string(in->comm) : NULL);
	json_object_object_add(o, "at", taken ? json_object_new_string(in->took_at_entry ? "entry" : "exit") : NULL);
	json_object_object_add(o, "syscall", taken ? json_object_new_string(name ? name : "?") : NULL);
	json_object_object_add(o, "waker", json_object_new_boolean(in->avoid != 0));
	json_object_object_add(o, "woken", in->woken ? json_object_new_string(in->woken) : NULL);
	json_object_object_add(o, "ret", rc ? NULL : json_object_new_int64(in->ret));
	json_object_object_add(o, "error", err ? json_object_new_string(err) : NULL);
	control_event(in->g->vm->control, "GEARS_INJECT", o);
}

/* A new injection, subscribed and waiting for its process (want, or any
 * but init and avoid). */
static struct gears_inj *inj_start(struct gears *g, int32_t want, int32_t avoid, const struct gears_elf_image *image,
                                   const void *arg, size_t arglen, char *err, size_t errlen)
{
	struct sym_filter fe = { .type = SYM_EV_SYSCALL_ENTER }, fx = { .type = SYM_EV_SYSCALL_EXIT };
	struct gears_inj *in = calloc(1, sizeof(*in));

	if (!in) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	in->g = g;
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	in->want = want;
	in->avoid = avoid;
	in->tgid = want;
	in->image = image;
	in->arg = arg;
	in->arglen = arglen;
	in->maplen = image->span + 4096 + ((arglen + 4095) & ~4095ULL) + STACK_BYTES;
	if (!(in->enter_sub = sym_subscribe(g->vm, &fe, on_syscall, in, err, errlen)) ||
	    !(in->exit_sub = sym_subscribe(g->vm, &fx, on_syscall, in, err, errlen))) {
		inj_free(in);
		return NULL;
	}
	return in;
}

/* Waits for in to finish, fail or run out of time (then it is abandoned:
 * the process is still put back if its code ever returns).  kick: after
 * KICK_AFTER_MS with no process taken over yet, wake the one wanted (or,
 * for any process, one asleep) once: wake.c, or else gears_kick.  0 with *res, or -1 with err.  *finished: in may be
 * freed. */
static int inj_wait(struct gears_inj *in, int timeout_ms, bool kick, struct gears_inject_result *res, bool *finished,
                    char *err, size_t errlen)
{
	struct gears *g = in->g;
	uint64_t start = now_ns(), deadline = start + (uint64_t)timeout_ms * 1000000ull, next_poll = 0;
	int32_t pid = in->want;
	int rc = -1;

	pthread_mutex_lock(&in->lock);
	while (in->state != INJ_DONE && in->state != INJ_FAILED) {
		uint64_t now = now_ns();
		if (now >= deadline) {
			in->abandoned = true;
			if (in->state == INJ_WAIT) {
				in->state = INJ_FAILED;
				if (pid)
					snprintf(
					        in->why, sizeof(in->why),
					        "process %d made no system call within %d ms (asleep in one that could "
					        "not be interrupted, or stopped)",
					        (int)pid, timeout_ms);
				else
					snprintf(in->why, sizeof(in->why), "no process made a system call within %d ms",
					         timeout_ms);
			} else {
				snprintf(
				        in->why, sizeof(in->why),
				        "the injected code in pid %d has not returned within %d ms (it is left to run; the "
				        "process is put back if it ever returns)",
				        (int)in->tgid, timeout_ms);
			}
			break;
		}
		if (kick && in->state == INJ_WAIT && now - start >= KICK_AFTER_MS * 1000000ull) {
			char kernel_why[256], helper_why[256];
			const char *woken = NULL;
			kick = false;
			pthread_mutex_unlock(&in->lock);
			/* The kernel's own waking needs only an idle vCPU; the
			 * helper, another process's system call (so it is no
			 * help to an injection into any process). */
			int32_t target = pid;
			helper_why[0] = 0;
			if (!gears_wake_process(g, &target, in->avoid, kernel_why, sizeof(kernel_why)))
				woken = "kernel";
			else if (pid && !gears_kick(g, pid, helper_why, sizeof(helper_why)))
				woken = "helper";
			pthread_mutex_lock(&in->lock);
			in->woken = woken;
			if (!woken)
				snprintf(in->kick_err, sizeof(in->kick_err), "%.120s%s%.120s", kernel_why,
				         helper_why[0] ? "; " : "", helper_why);
			continue;
		}
		if (now >= next_poll && (in->state != INJ_WAIT || pid)) {
			int32_t who = in->tgid;
			pthread_mutex_unlock(&in->lock);
			int alive = process_alive(g, who);
			pthread_mutex_lock(&in->lock);
			if (alive == 0)
				fail_now(in, "the process %sexited (or was killed) during the injection (pid %d)", "");
			next_poll = now + POLL_MS * 1000000ull;
		}
		uint64_t until = next_poll < deadline ? next_poll : deadline;
		if (kick && until > start + KICK_AFTER_MS * 1000000ull)
			until = start + KICK_AFTER_MS * 1000000ull;
		struct timespec ts = host_deadline_after_ns(until > now ? until - now : 0);
		pthread_cond_timedwait(&in->cond, &in->lock, &ts);
	}
	if (in->state == INJ_DONE) {
		*res = (struct gears_inject_result){
			.ret = in->ret, .pid = in->tgid, .tid = in->tid, .addr = in->map, .total_ns = now_ns() - start
		};
		snprintf(res->comm, sizeof(res->comm), "%s", in->comm);
		rc = 0;
	} else if (in->kick_err[0] && in->state == INJ_FAILED && !in->tid) {
		snprintf(err, errlen, "%.200s; waking it failed: %.150s", in->why, in->kick_err);
	} else {
		snprintf(err, errlen, "%s", in->why[0] ? in->why : "the injection failed");
	}
	*finished = in->state == INJ_DONE || in->state == INJ_FAILED;
	report(in, rc, rc ? err : NULL);
	pthread_mutex_unlock(&in->lock);
	return rc;
}

/* Before a new injection into slot: the one there must have finished. */
static int reap_slot(struct gears_inj **slot, char *err, size_t errlen)
{
	struct gears_inj *in = *slot;
	if (!in)
		return 0;
	pthread_mutex_lock(&in->lock);
	enum inj_state st = in->state;
	pthread_mutex_unlock(&in->lock);
	if (st != INJ_DONE && st != INJ_FAILED) {
		snprintf(err, errlen, "the code injected earlier into pid %d has not returned yet", (int)in->tgid);
		return -1;
	}
	inj_free(in);
	*slot = NULL;
	return 0;
}

static int run_in_slot(struct gears *g, struct gears_inj **slot, int32_t want, int32_t avoid,
                       const struct gears_elf_image *image, const void *arg, size_t arglen, int timeout_ms,
                       struct gears_inject_result *res, char *err, size_t errlen)
{
	bool finished;
	int rc;
	if (reap_slot(slot, err, errlen))
		return -1;
	if (!(*slot = inj_start(g, want, avoid, image, arg, arglen, err, errlen)))
		return -1;
	rc = inj_wait(*slot, timeout_ms, slot == &g->inj, res, &finished, err, errlen);
	if (finished) {
		inj_free(*slot);
		*slot = NULL;
	}
	return rc;
}

int gears_inject_run(struct gears *g, int32_t pid, const struct gears_elf_image *image, const void *arg, size_t arglen,
                     int timeout_ms, struct gears_inject_result *res, char *err, size_t errlen)
{
	char why[256];

	if (arglen > GEARS_INJECT_MAX_ARG) {
		snprintf(err, errlen, "the argument block is larger than %u bytes", GEARS_INJECT_MAX_ARG);
		return -1;
	}
	if (gears_os_prepare(g, why, sizeof(why))) {
		snprintf(err, errlen, "injection needs guest OS awareness: %s", why);
		return -1;
	}
	if (pid > 0 && process_alive(g, pid) == 0) {
		snprintf(err, errlen, "no process %d in the guest", (int)pid);
		return -1;
	}
	return run_in_slot(g, &g->inj, pid, 0, image, arg, arglen, timeout_ms, res, err, errlen);
}

int gears_inject_beside(struct gears *g, int32_t avoid, const struct gears_elf_image *image, const void *arg,
                        size_t arglen, int timeout_ms, struct gears_inject_result *res, char *err, size_t errlen)
{
	if (arglen > GEARS_INJECT_MAX_ARG) {
		snprintf(err, errlen, "the argument block is larger than %u bytes", GEARS_INJECT_MAX_ARG);
		return -1;
	}
	return run_in_slot(g, &g->kick, 0, avoid, image, arg, arglen, timeout_ms, res, err, errlen);
}
