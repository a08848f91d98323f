/* A group member's TCP port forwards, as it publishes them in the group
 * directory (CID.tcp) for the guests' socket accelerator (docs/vsock.md):
 * one "HOSTPORT GUESTPORT" line per forward, ports 1 to 65535. */
#ifndef SYMBIONT_HOST_VSOCK_FORWARDS_H
#define SYMBIONT_HOST_VSOCK_FORWARDS_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_FORWARDS_MAX   64
#define VSOCK_FORWARDS_BYTES 4096 /* what a reader takes of a file */

/* Parses text (len bytes, not NUL-terminated) written by another member:
 * up to max well-formed lines into out as (host port, guest port); lines
 * that are not are skipped.  How many. */
int vsock_forwards_parse(const char *text, size_t len, uint16_t (*out)[2], int max);

#endif
