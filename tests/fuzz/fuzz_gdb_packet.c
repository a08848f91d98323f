/* libFuzzer target: the gdb stub's protocol layer (src/services/gdbstub/
 * packet.h, proto.h) on an arbitrary byte stream from a client: framing,
 * checksums and escapes, then every complete packet through the command
 * dispatcher against a fake target (two vCPUs, 4 KiB of memory).  A reply
 * must fit a packet and frame, register writes must leave the state as
 * the packets say, and nothing may read or write out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/gdbstub/packet.h"
#include "services/gdbstub/proto.h"

#define MEM 4096

struct fake {
	struct x86_state st[2];
	uint8_t mem[MEM];
};

static int f_get(void *t, int cpu, struct x86_state *s)
{
	if (cpu < 0 || cpu > 1)
		abort();
	*s = ((struct fake *)t)->st[cpu];
	return 0;
}

static int f_set(void *t, int cpu, const struct x86_state *s)
{
	if (cpu < 0 || cpu > 1)
		abort();
	((struct fake *)t)->st[cpu] = *s;
	return 0;
}

static long f_read(void *t, int cpu, uint64_t addr, void *buf, size_t len)
{
	(void)cpu;
	if (addr >= MEM || len == 0)
		return -1;
	size_t n = MEM - addr < len ? MEM - (size_t)addr : len;
	memcpy(buf, ((struct fake *)t)->mem + addr, n);
	return (long)n;
}

static long f_write(void *t, int cpu, uint64_t addr, const void *buf, size_t len)
{
	(void)cpu;
	if (addr >= MEM || len > MEM - addr)
		return -1;
	memcpy(((struct fake *)t)->mem + addr, buf, len);
	return (long)len;
}

static int f_point(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	(void)t, (void)cpu, (void)kind;
	if (type > GDB_WP_ACCESS)
		abort();
	return addr & 1 ? -1 : type == GDB_WP_READ ? 1 : 0;
}

static int f_monitor(void *t, const char *cmd, char *out, size_t cap)
{
	(void)t;
	strncpy(out, cmd, cap - 1);
	out[cap - 1] = 0;
	return 0;
}

static bool f_reversible(void *t)
{
	(void)t;
	return true; /* so that bs and bc are parsed too */
}

static const struct gdb_target_ops ops = { f_get, f_set, f_read, f_write, f_point, f_point, f_monitor, f_reversible };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gdb_rx rx;
	static struct fake fake;
	static char reply[GDB_PACKET_MAX + 1], frame[2 * GDB_PACKET_MAX + 8];
	struct gdb_session s;
	size_t rlen;

	memset(&fake, 0, sizeof(fake));
	gdb_rx_init(&rx);
	gdb_session_init(&s, &ops, &fake, 2);
	for (size_t i = 0; i < size; i++) {
		if (gdb_rx_byte(&rx, data[i]) != GDB_RX_PACKET)
			continue;
		if (rx.len > GDB_PACKET_MAX)
			abort();
		enum gdb_action a = gdb_handle(&s, rx.buf, rx.len, reply, &rlen);
		if (a == GDB_REPLY || a == GDB_DETACH) {
			if (rlen > GDB_PACKET_MAX || !gdb_frame(frame, sizeof(frame), reply, rlen))
				abort();
		}
		if (a == GDB_RESUME && (s.step_cpu < -1 || s.step_cpu > 1))
			abort();
		if (s.console && strlen(s.console) != s.console_len)
			abort();
		free(s.console);
		s.console = NULL;
		s.console_len = 0;
		rlen = gdb_stop_reply(&s, reply, sizeof(reply));
		if (!rlen || rlen > GDB_PACKET_MAX)
			abort();
	}
	return 0;
}
