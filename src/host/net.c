/* Picks the host network backend named by a --net spec. */
#include <stdio.h>
#include <string.h>

#include "host/net.h"

struct net_backend *net_backend_create(const char *spec, const struct vm_clock *clock, char *err, size_t errlen)
{
	if (!strcmp(spec, "user"))
		return net_slirp_create("", clock, err, errlen);
	if (!strncmp(spec, "user,", 5))
		return net_slirp_create(spec + 5, clock, err, errlen);
	if (!strncmp(spec, "tap:", 4))
		return net_tap_create(spec + 4, err, errlen);
	if (!strncmp(spec, "tap,ifname=", 11))
		return net_tap_create(spec + 11, err, errlen);
	snprintf(err, errlen, "--net %s: expected user[,hostfwd=...] or tap:IFNAME", spec);
	return NULL;
}
