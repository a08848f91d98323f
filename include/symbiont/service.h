/* Services: what symbiont exists for (introspection, GEARS, the symbiotic
 * interfaces, Geiger, monitoring...), each in src/services/NAME/, built on
 * the public API in include/symbiont/ alone.
 *
 * A service describes itself with a struct sym_service and registers it
 * from a constructor (SYM_SERVICE), as kvmtool's devices do, so that no
 * core file ever names a service: the VM starts every registered service
 * once it is built and its control socket (if any) is open, and stops them
 * before it is taken down.  A service adds control-API commands with
 * control_register(vm->control, ...) when vm->control is set, subscribes
 * to events, and keeps its state in what start() returns. */
#ifndef SYMBIONT_SERVICE_H
#define SYMBIONT_SERVICE_H

#include <stddef.h>

struct vm;

struct sym_service {
	const char *name;
	/* 0 with *state set (may be NULL), or -1 with one line in err: the VM
	 * then runs without this service (a service is never fatal). */
	int (*start)(struct vm *vm, void **state, char *err, size_t errlen);
	/* With the vCPUs stopped and the control socket already closed (no
	 * command of the service can be running); NULL: nothing to do. */
	void (*stop)(void *state);
};

void sym_service_register(const struct sym_service *s);

#define SYM_SERVICE(svc)                                                      \
	static void __attribute__((constructor)) svc##_register_service(void) \
	{                                                                     \
		sym_service_register(&(svc));                                 \
	}

/* For the core: start every registered service on vm (each failure is
 * reported on stderr as "symbiont: service NAME: ..." and skipped), and
 * stop them again. */
void services_start(struct vm *vm);
void services_stop(struct vm *vm);

#endif
