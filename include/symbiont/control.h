/* The control API: a QMP-speaking unix socket (QEMU's machine protocol,
 * the subset docs/control.md lists) through which `symbiont ctl`, scripts
 * and management tools ask a running VM questions and give it orders.
 *
 * The server runs on a thread of its own, so a slow, stuck or hostile
 * client never stalls the VM: input and output are bounded per client, and
 * a client past a bound is told why and dropped.  Commands are registered
 * by name; each handler runs on the control thread with no VMM lock held
 * and takes the locks it needs.  Events may be posted from any thread. */
#ifndef SYMBIONT_CONTROL_H
#define SYMBIONT_CONTROL_H

#include <stddef.h>

struct json_object;
struct control;

/* QMP error classes (the ones QEMU still uses). */
#define CONTROL_ERR_GENERIC   "GenericError"
#define CONTROL_ERR_NOT_FOUND "CommandNotFound"

/* Per-client bounds: one command's JSON text, and replies plus events not
 * yet read by the client. */
#define CONTROL_MAX_INPUT   (64 * 1024)
#define CONTROL_MAX_OUTPUT  (4 * 1024 * 1024)
#define CONTROL_MAX_CLIENTS 16

/* A command handler: returns 0 with *ret set to the result (NULL means an
 * empty object), or -1 with a one-line message in err (class GenericError).
 * args is the command's "arguments" object (never NULL: empty if absent);
 * it stays owned by the caller.  *ret is consumed by the caller. */
typedef int (*control_cmd_fn)(void *opaque, struct json_object *args, struct json_object **ret, char *err,
                              size_t errlen);

/* Opens the socket at path (mode 0600; a stale socket there is replaced,
 * a live one refused) and starts the control thread.  NULL with a message
 * on failure. */
struct control *control_open(const char *path, char *err, size_t errlen);
/* Stops the thread, drops every client and removes the socket. */
void control_close(struct control *c);

/* Adds a command; the name must be new.  Call before clients can use it
 * (at build time) or at any time from any thread. */
int control_register(struct control *c, const char *name, control_cmd_fn fn, void *opaque);
/* The same for a command that changes what the guest sees (injects, refuses
 * calls, runs guest code, resets it): refused with one line while changes
 * are forbidden. */
int control_register_changing(struct control *c, const char *name, control_cmd_fn fn, void *opaque);
/* From now on such commands are refused, saying "... which WHY" (NULL or
 * "": allowed again).  A replay forbids them: the guest must do what it did
 * when it was recorded. */
void control_forbid_changes(struct control *c, const char *why);

/* Sends {"event": name, "data": data, "timestamp": ...} to every client
 * past capabilities negotiation.  data (may be NULL) is consumed.  Safe
 * from any thread; never blocks on a client. */
void control_event(struct control *c, const char *name, struct json_object *data);

/* Clients by id, so that a service can tie what a command starts (a
 * trace) to the client that asked, and end it when that client goes.
 * control_caller(): the id of the client whose command handler is running
 * (call it from the handler; 0 elsewhere).  Ids start at 1 and are never
 * reused by one socket. */
uint64_t control_caller(struct control *c);
/* As control_event(), to that client alone, for streams a client may not
 * keep up with: when half of CONTROL_MAX_OUTPUT already waits for it, the
 * event is dropped (not the client).  0 if queued, -1 if dropped or the
 * client has gone. */
int control_event_to(struct control *c, uint64_t client, const char *name, struct json_object *data);
/* fn(opaque, client) runs on the control thread after a negotiated or
 * not client went away (it closed, or was dropped past a bound), with no
 * lock held, so it may unsubscribe from events.  Not called for the
 * clients still there at control_close() (services are stopped after it).
 * 0, or -1 past CONTROL_MAX_HOOKS. */
#define CONTROL_MAX_HOOKS 8
int control_on_disconnect(struct control *c, void (*fn)(void *opaque, uint64_t client), void *opaque);

/* Runs command name in-process, as a client's "execute" would (on the
 * calling thread, no client: control_caller() is 0): for a front end that
 * speaks another protocol (the gdb stub's `monitor`).  0 with *ret set (may
 * be NULL), or -1 with one line in err (no such command, or its error). */
int control_execute(struct control *c, const char *name, struct json_object *args, struct json_object **ret, char *err,
                    size_t errlen);

/* The socket's path (as given to control_open). */
const char *control_path(const struct control *c);

#endif
