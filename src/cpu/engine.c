/* Engine choice.  "auto" prefers KVM only where it runs guest kernel code
 * natively: the kvm_pvm module provides /dev/kvm too, but emulates every
 * guest kernel-mode instruction, which makes a stock kernel far slower
 * than the emu engine. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/engine.h"

#define KVM_DEV "/dev/kvm"

static int kvm_usable(char *err, size_t errlen)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "engine kvm: cannot open %s: %s", KVM_DEV, strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

bool kvm_is_pvm(void)
{
	struct stat st;
	return stat("/sys/module/kvm_pvm", &st) == 0;
}

const char engine_names[] = "auto, emu or kvm";

bool engine_known(const char *name)
{
	return !strcmp(name, "auto") || !strcmp(name, "emu") || !strcmp(name, "kvm");
}

const struct engine_ops *engine_select(const char *name, char *err, size_t errlen)
{
	char tmp[160];

	if (!name || !strcmp(name, "auto")) {
		if (!kvm_is_pvm() && kvm_usable(tmp, sizeof(tmp)))
			return &kvm_engine_ops;
		return &emu_engine_ops;
	}
	if (!strcmp(name, "emu"))
		return &emu_engine_ops;
	if (!strcmp(name, "kvm"))
		return kvm_usable(err, errlen) ? &kvm_engine_ops : NULL;
	snprintf(err, errlen, "unknown engine '%s' (%s)", name, engine_names);
	return NULL;
}
