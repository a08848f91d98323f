/* GEARS (Hale, Xia and Dinda, ICAC'12): guest-context services without the
 * guest's cooperation, over the event hub.  What the parts share:
 *
 *   gears.c       the service: its state, guest OS awareness, the commands' glue
 *   uaccess.c     the calling process's memory, read and written with its own rights
 *   trace.c       syscall traces streamed to the client that started them
 *   deny.c        rules that refuse calls with an errno
 *   inject_env.c  variables added to the environment of later execs
 *   inject.c      code injection into a running process (inject.h)
 *   inject_cmd.c  the inject command; elfimage.c the ELF it injects
 *   wake.c        waking a sleeping process by a call of the guest kernel
 *   exec.c        agentless exec, push and pull, on injection; payload.c the
 *                 payload it injects (guest/payloads/run.c, built in);
 *                 trapio.c the buffers of its trap calls
 *   compat.c      i386 numbers, for the 32-bit entry (INT 0x80)
 *   decode.c, flags.c, names.c   strace-style text
 *   rules.c       matching (who, which calls, which paths)
 *   envp.c        building a new envp in the caller's memory */
#ifndef SYMBIONT_GEARS_H
#define SYMBIONT_GEARS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "services/gears/decode.h"
#include "services/gears/rules.h"
#include "symbiont/event.h"
#include "symbiont/guestos.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

#define GEARS_MAX_TRACES 16
#define GEARS_MAX_DENIES 32
#define GEARS_MAX_ENV    16

struct gears_trace;
struct gears_deny;
struct gears_env;
struct gears_inj;
struct gears_sessions;

struct gears {
	struct vm *vm;

	/* Guest OS awareness, to name the calling task.  The handle is used
	 * by one thread at a time (os_lock), and get_regs answers from the
	 * event being handled (regs, cpu), set under that lock. */
	pthread_mutex_t os_lock;
	struct guestos_kernel *kernel;
	struct guestos *os;
	char why_not[256]; /* why there is no os, once tried */
	const struct sym_regs *regs;
	int regs_cpu;
	/* Outside any event (a command in a guest where nothing has made a
	 * system call yet), the vCPUs' own registers, read with the VM paused
	 * while guest OS awareness finds the kernel (gears_os_prepare). */
	struct guestos_regs paused_regs[VM_MAX_CPUS];
	bool paused_ok[VM_MAX_CPUS], use_paused;
	/* The processes (tgid) of the last few run helpers, seen at their
	 * trap calls: an injection into any process skips them, since a
	 * helper is about to end (gears_helper_seen/gears_is_helper).  Not
	 * their address spaces: a page-table page is soon another process's. */
	_Atomic int32_t helper_tgid[8];
	atomic_uint helper_next;

	/* Commands run on the control thread one at a time: these lists are
	 * changed and read only there.  Callbacks see only their own trace or
	 * rule, which does not change while subscribed. */
	struct gears_trace *traces[GEARS_MAX_TRACES];
	int ntraces;
	struct gears_deny *denies[GEARS_MAX_DENIES];
	int ndenies;
	uint64_t next_id; /* of traces and rules */

	/* Env rules are read by the exec callback: under env_lock. */
	pthread_mutex_t env_lock;
	struct gears_env *envs[GEARS_MAX_ENV];
	int nenvs;
	struct sym_sub *exec_sub;

	/* The code injection in progress, or one whose code never returned
	 * (control thread; its callbacks see only their own). */
	struct gears_inj *inj;
	struct gears_inj *kick; /* the one that wakes inj's process */
	/* exec, push and pull sessions (exec.c) */
	struct gears_sessions *sessions;
};

/* The task that made the call of ev: 0, or -1 when it cannot be told
 * (no guest OS awareness, unreadable kernel data). */
int gears_who_now(struct gears *g, const struct sym_event *ev, struct guestos_task_id *out);
/* Whether w selects the task that made the call of ev, named in *out
 * (as gears_who_now) either way.  Its cgroup is read only for a cgroup
 * filter. */
bool gears_who_selects(struct gears *g, const struct gears_who *w, const struct sym_event *ev,
                       struct guestos_task_id *out);
/* For a command whose rule has a pid, comm or cgroup: 0 once guest OS
 * awareness is loaded, or -1 with err. */
int gears_os_for_who(struct gears *g, const struct gears_who *w, char *err, size_t errlen);
/* Loads guest OS awareness once (on the control thread): 0, or -1 with
 * why in err. */
void gears_helper_seen(struct gears *g, int32_t tgid);
bool gears_is_helper(struct gears *g, int32_t tgid);
int gears_os_prepare(struct gears *g, char *err, size_t errlen);

/* The memory of the process that made ev's call, through its page tables. */
struct gears_uaccess {
	const struct guest_mem *mem;
	uint64_t root;
	bool la57;
};
void gears_uaccess_init(struct gears_uaccess *ua, struct gears_mem *m, const struct guest_mem *mem,
                        const struct sym_regs *regs);

/* Arguments of commands. */
int gears_arg_who(struct json_object *args, struct gears_who *who, char *err, size_t errlen);
int gears_arg_id(struct json_object *args, const char *key, uint64_t *id, char *err, size_t errlen);
const char *gears_arg_str(struct json_object *args, const char *key);
/* 'timeout_ms' (default 10 s) into *ms. */
int gears_arg_timeout(struct json_object *args, int *ms, char *err, size_t errlen);
/* Reads and checks the ELF at host path (elfimage.h). */
struct gears_elf_image;
int gears_load_elf_file(const char *path, struct gears_elf_image *im, char *err, size_t errlen);

/* The parts: register their commands (0, or -1 with err). */
int gears_trace_init(struct gears *g, char *err, size_t errlen);
int gears_deny_init(struct gears *g, char *err, size_t errlen);
int gears_env_init(struct gears *g, char *err, size_t errlen);
int gears_inject_init(struct gears *g, char *err, size_t errlen);
int gears_exec_init(struct gears *g, char *err, size_t errlen);
void gears_exec_client_gone(struct gears *g, uint64_t client);
void gears_exec_fini(struct gears *g);
/* A client went away: its traces end. */
void gears_trace_client_gone(struct gears *g, uint64_t client);
/* At the service's stop: every subscription ends, everything is freed. */
void gears_trace_fini(struct gears *g);
void gears_deny_fini(struct gears *g);
void gears_env_fini(struct gears *g);
void gears_inject_fini(struct gears *g);

#endif
