/* Picks the host network backend named by a --net spec. */
#include <stdio.h>
#include <string.h>

#include "host/net.h"

/* The backend a spec names and its options: "user" / "user,OPTS" gives
 * NET_USER with *opts = OPTS, "tap:IF" / "tap,ifname=IF" NET_TAP with *opts
 * = IF; anything else -1 with a message. */
enum { NET_USER, NET_TAP };
static int split_spec(const char *spec, const char **opts, char *err, size_t errlen)
{
	if (!strcmp(spec, "user"))
		return *opts = "", NET_USER;
	if (!strncmp(spec, "user,", 5))
		return *opts = spec + 5, NET_USER;
	if (!strncmp(spec, "tap:", 4))
		return *opts = spec + 4, NET_TAP;
	if (!strncmp(spec, "tap,ifname=", 11))
		return *opts = spec + 11, NET_TAP;
	snprintf(err, errlen, "--net %s: expected user[,hostfwd=...] or tap:IFNAME", spec);
	return -1;
}

int net_spec_check(const char *spec, char *err, size_t errlen)
{
	const char *opts;
	switch (split_spec(spec, &opts, err, errlen)) {
	case NET_USER: return net_slirp_opts_check(opts, err, errlen);
	case NET_TAP: return net_tap_name_check(opts, err, errlen);
	default: return -1;
	}
}

struct net_backend *net_backend_create(const char *spec, const struct vm_clock *clock, char *err, size_t errlen)
{
	const char *opts;
	switch (split_spec(spec, &opts, err, errlen)) {
	case NET_USER: return net_slirp_create(opts, clock, err, errlen);
	case NET_TAP: return net_tap_create(opts, err, errlen);
	default: return NULL;
	}
}
