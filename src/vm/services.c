/* The registry of services and their start and stop on a VM
 * (symbiont/service.h).  The registry is the one process-wide list in
 * symbiont: it is filled by constructors before main() and read-only after,
 * and holds descriptions, not per-VM state (that lives in vm->services). */
#include <stdio.h>

#include "symbiont/service.h"
#include "symbiont/vm.h"

static const struct sym_service *registry[VM_MAX_SERVICES];
static int nregistered;

void sym_service_register(const struct sym_service *s)
{
	if (nregistered < VM_MAX_SERVICES)
		registry[nregistered++] = s;
	else
		fprintf(stderr, "symbiont: too many services, %s left out\n", s->name);
}

void services_start(struct vm *vm)
{
	for (int i = 0; i < nregistered; i++) {
		char err[256] = "";
		void *state = NULL;
		if (registry[i]->start(vm, &state, err, sizeof(err)) < 0) {
			fprintf(stderr, "symbiont: service %s: %s\n", registry[i]->name,
			        err[0] ? err : "failed to start");
			continue;
		}
		vm->services[vm->nservices].svc = registry[i];
		vm->services[vm->nservices].state = state;
		vm->nservices++;
	}
}

void services_stop(struct vm *vm)
{
	while (vm->nservices > 0) {
		vm->nservices--;
		if (vm->services[vm->nservices].svc->stop)
			vm->services[vm->nservices].svc->stop(vm->services[vm->nservices].state);
	}
}
