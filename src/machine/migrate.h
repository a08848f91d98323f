/* Live migration (docs/snapshot.md): the sending side, the control
 * commands `migrate`, `query-migrate` and `migrate_cancel`, and the
 * receiving side's listener.  The machine is rebuilt on arrival by
 * machine_incoming (builder.h). */
#ifndef SYMBIONT_MACHINE_MIGRATE_H
#define SYMBIONT_MACHINE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct migration;

/* Registers the commands on vm->control (set).  migrate_stop cancels a
 * migration still running and waits for it (call it before the control
 * socket closes: the migration posts events there); migrate_free frees
 * the state, before the VM goes. */
struct migration *migrate_control_register(struct vm *vm);
void migrate_stop(struct migration *m);
void migrate_free(struct migration *m);

/* "unix:PATH" or "tcp:HOST:PORT": a connected (connect) or listening
 * (listen) stream socket, or -1 with one line in err; *bad_uri tells a
 * malformed address from a host failure. */
int migrate_connect(const char *uri, char *err, size_t errlen);
int migrate_listen(const char *uri, bool *bad_uri, char *err, size_t errlen);
/* Whether uri has one of the two forms, for the command line's check. */
bool migrate_uri_valid(const char *uri);

#endif
