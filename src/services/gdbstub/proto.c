/* The gdb remote protocol's commands (proto.h).  Every number, length and
 * thread id comes from the client and is checked here: a bad one gets an
 * error reply (E01 malformed, E02 no such thread, E03 target refused,
 * E14 memory not readable/writable), an unknown command the empty reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gdbstub/packet.h"
#include "services/gdbstub/proto.h"

#define E_BADPKT  "E01"
#define E_THREAD  "E02"
#define E_REFUSED "E03"
#define E_MEM     "E14"

/* The most memory one m/M/X moves: a reply of hex digits fits a packet. */
#define MEM_MAX ((GDB_PACKET_MAX - 8) / 2)

void gdb_session_init(struct gdb_session *s, const struct gdb_target_ops *ops, void *target, int ncpus)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->target = target;
	s->ncpus = ncpus;
	s->c_cpu = -1;
	s->stop_sig = 5;
	s->step_cpu = -1;
}

static enum gdb_action reply_str(char *reply, size_t *rlen, const char *text)
{
	*rlen = strlen(text);
	memcpy(reply, text, *rlen + 1);
	return GDB_REPLY;
}

/* A thread id: "-1" (all), "0" (any) or a hex vCPU number + 1.  -2 for
 * malformed, -3 for no such vCPU; else the vCPU, or -1 for all/any. */
static int parse_thread(const struct gdb_session *s, const char **p)
{
	uint64_t v;
	if ((*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		return -1;
	}
	if (gdb_parse_hex(p, &v) < 0)
		return -2;
	if (v == 0)
		return -1;
	return v <= (uint64_t)s->ncpus ? (int)v - 1 : -3;
}

size_t gdb_stop_reply(const struct gdb_session *s, char *reply, size_t cap)
{
	int n = snprintf(reply, cap, "T%02x", s->stop_sig & 0xff);
	if (s->stop_watch)
		n += snprintf(reply + n, cap - (size_t)n, "%swatch:%llx;",
		              s->stop_watch == 'r'   ? "r"
		              : s->stop_watch == 'a' ? "a"
		                                     : "",
		              (unsigned long long)s->stop_addr);
	else if (s->stop_swbreak)
		n += snprintf(reply + n, cap - (size_t)n, "swbreak:;");
	else if (s->stop_hwbreak)
		n += snprintf(reply + n, cap - (size_t)n, "hwbreak:;");
	else if (s->stop_history_begin)
		n += snprintf(reply + n, cap - (size_t)n, "replaylog:begin;");
	n += snprintf(reply + n, cap - (size_t)n, "thread:%x;", s->stop_cpu + 1);
	return (size_t)n;
}

static int cur_cpu(const struct gdb_session *s)
{
	return s->g_cpu >= 0 && s->g_cpu < s->ncpus ? s->g_cpu : 0;
}

static enum gdb_action read_regs(struct gdb_session *s, char *reply, size_t *rlen)
{
	struct x86_state st;
	uint8_t buf[16];
	size_t o = 0;
	if (s->ops->get_regs(s->target, cur_cpu(s), &st) < 0)
		return reply_str(reply, rlen, E_REFUSED);
	for (int r = 0; r < GDB_NREGS; r++) {
		int n = gdb_reg_size(r);
		gdb_reg_get(&st, r, buf);
		gdb_tohex(reply + o, buf, (size_t)n);
		o += 2 * (size_t)n;
	}
	*rlen = o;
	return GDB_REPLY;
}

static enum gdb_action write_regs(struct gdb_session *s, const char *hex, size_t len, char *reply, size_t *rlen)
{
	struct x86_state st;
	uint8_t buf[16];
	size_t o = 0;
	if (len != 2 * gdb_regs_size())
		return reply_str(reply, rlen, E_BADPKT);
	if (s->ops->get_regs(s->target, cur_cpu(s), &st) < 0)
		return reply_str(reply, rlen, E_REFUSED);
	for (int r = 0; r < GDB_NREGS; r++) {
		int n = gdb_reg_size(r);
		if (gdb_fromhex(buf, hex + o, (size_t)n) < 0)
			return reply_str(reply, rlen, E_BADPKT);
		if (gdb_reg_set(&st, r, buf) < 0)
			return reply_str(reply, rlen, E_REFUSED);
		o += 2 * (size_t)n;
	}
	if (s->ops->set_regs(s->target, cur_cpu(s), &st) < 0)
		return reply_str(reply, rlen, E_REFUSED);
	return reply_str(reply, rlen, "OK");
}

/* p N / P N=VALUE */
static enum gdb_action one_reg(struct gdb_session *s, const char *p, bool write, char *reply, size_t *rlen)
{
	struct x86_state st;
	uint8_t buf[16];
	uint64_t r;
	if (gdb_parse_hex(&p, &r) < 0 || r >= GDB_NREGS || (write ? *p != '=' : *p != 0))
		return reply_str(reply, rlen, E_BADPKT);
	int n = gdb_reg_size((int)r);
	if (s->ops->get_regs(s->target, cur_cpu(s), &st) < 0)
		return reply_str(reply, rlen, E_REFUSED);
	if (!write) {
		gdb_reg_get(&st, (int)r, buf);
		gdb_tohex(reply, buf, (size_t)n);
		*rlen = 2 * (size_t)n;
		return GDB_REPLY;
	}
	p++;
	if (strlen(p) != 2 * (size_t)n || gdb_fromhex(buf, p, (size_t)n) < 0)
		return reply_str(reply, rlen, E_BADPKT);
	if (gdb_reg_set(&st, (int)r, buf) < 0 || s->ops->set_regs(s->target, cur_cpu(s), &st) < 0)
		return reply_str(reply, rlen, E_REFUSED);
	return reply_str(reply, rlen, "OK");
}

/* ADDR,LENGTH then sep; 0 or -1. */
static int addr_len(const char **p, uint64_t *addr, uint64_t *len, char sep)
{
	if (gdb_parse_hex(p, addr) < 0 || **p != ',')
		return -1;
	(*p)++;
	if (gdb_parse_hex(p, len) < 0 || **p != sep)
		return -1;
	(*p)++;
	return 0;
}

static enum gdb_action read_mem(struct gdb_session *s, const char *p, char *reply, size_t *rlen)
{
	uint64_t addr, len;
	uint8_t buf[MEM_MAX];
	if (addr_len(&p, &addr, &len, 0) < 0)
		return reply_str(reply, rlen, E_BADPKT);
	if (len > MEM_MAX)
		len = MEM_MAX; /* gdb asks again for the rest */
	if (len == 0)
		return reply_str(reply, rlen, "");
	long n = s->ops->read_mem(s->target, cur_cpu(s), addr, buf, (size_t)len);
	if (n <= 0)
		return reply_str(reply, rlen, E_MEM);
	gdb_tohex(reply, buf, (size_t)n);
	*rlen = 2 * (size_t)n;
	return GDB_REPLY;
}

/* M ADDR,LEN:HEX and X ADDR,LEN:BINARY (escapes already undone by the framing) */
static enum gdb_action write_mem(struct gdb_session *s, const char *p, const char *end, bool binary, char *reply,
                                 size_t *rlen)
{
	uint64_t addr, len;
	uint8_t buf[GDB_PACKET_MAX];
	if (addr_len(&p, &addr, &len, ':') < 0 || len > sizeof(buf))
		return reply_str(reply, rlen, E_BADPKT);
	size_t have = (size_t)(end - p);
	if (binary) {
		if (have != len)
			return reply_str(reply, rlen, E_BADPKT);
		memcpy(buf, p, have);
	} else if (have != 2 * len || gdb_fromhex(buf, p, (size_t)len) < 0) {
		return reply_str(reply, rlen, E_BADPKT);
	}
	if (len == 0)
		return reply_str(reply, rlen, "OK");
	if (s->ops->write_mem(s->target, cur_cpu(s), addr, buf, (size_t)len) != (long)len)
		return reply_str(reply, rlen, E_MEM);
	return reply_str(reply, rlen, "OK");
}

/* Z/z TYPE,ADDR,KIND */
static enum gdb_action point(struct gdb_session *s, const char *p, bool insert, char *reply, size_t *rlen)
{
	uint64_t type, addr, kind;
	if (gdb_parse_hex(&p, &type) < 0 || type > GDB_WP_ACCESS || *p++ != ',' || gdb_parse_hex(&p, &addr) < 0 ||
	    *p++ != ',' || gdb_parse_hex(&p, &kind) < 0 || (*p && *p != ';'))
		return reply_str(reply, rlen, type > GDB_WP_ACCESS ? "" : E_BADPKT);
	int r = (insert ? s->ops->insert : s->ops->remove)(s->target, cur_cpu(s), (enum gdb_point)type, addr, kind);
	return reply_str(reply, rlen, r == 0 ? "OK" : r > 0 ? "" : E_REFUSED);
}

/* qXfer:features:read:ANNEX:OFFSET,LENGTH */
static enum gdb_action xfer_features(const char *p, char *reply, size_t *rlen)
{
	static const char annex[] = "target.xml:";
	uint64_t off, len;
	size_t total = gdb_target_xml_len;
	if (strncmp(p, annex, sizeof(annex) - 1))
		return reply_str(reply, rlen, E_MEM); /* no such annex */
	p += sizeof(annex) - 1;
	if (addr_len(&p, &off, &len, 0) < 0)
		return reply_str(reply, rlen, E_BADPKT);
	if (off >= total)
		return reply_str(reply, rlen, "l");
	if (len > GDB_PACKET_MAX - 1)
		len = GDB_PACKET_MAX - 1;
	size_t n = total - off < len ? total - (size_t)off : (size_t)len;
	reply[0] = off + n < total ? 'm' : 'l';
	memcpy(reply + 1, gdb_target_xml + off, n); /* XML text: nothing the framing must escape but '*' and '}' */
	*rlen = n + 1;
	return GDB_REPLY;
}

static enum gdb_action monitor(struct gdb_session *s, const char *hex, char *reply, size_t *rlen)
{
	size_t n = strlen(hex);
	char cmd[512], *out;
	if (n % 2 || n / 2 >= sizeof(cmd) || gdb_fromhex(cmd, hex, n / 2) < 0)
		return reply_str(reply, rlen, E_BADPKT);
	cmd[n / 2] = 0;
	if (memchr(cmd, 0, n / 2))
		return reply_str(reply, rlen, E_BADPKT);
	if (!s->ops->monitor)
		return reply_str(reply, rlen, "");
	out = malloc(GDB_PACKET_MAX);
	if (!out)
		return reply_str(reply, rlen, E_REFUSED);
	out[0] = 0;
	int r = s->ops->monitor(s->target, cmd, out, GDB_PACKET_MAX);
	out[GDB_PACKET_MAX - 1] = 0;
	free(s->console);
	s->console = out;
	s->console_len = strlen(out);
	return reply_str(reply, rlen, r == 0 ? "OK" : E_REFUSED);
}

/* vCont;ACTION[:THREAD]... : one step action picks the vCPU that steps;
 * every other vCPU runs (all-stop: the first stop stops them all). */
static enum gdb_action vcont(struct gdb_session *s, const char *p, char *reply, size_t *rlen)
{
	int step = -1;
	if (*p == '?')
		return reply_str(reply, rlen, "vCont;c;C;s;S");
	if (*p != ';')
		return reply_str(reply, rlen, "");
	while (*p == ';') {
		char a = *++p;
		int cpu = -1;
		uint64_t sig;
		if (a != 'c' && a != 's' && a != 'C' && a != 'S')
			return reply_str(reply, rlen, E_BADPKT);
		p++;
		if ((a == 'C' || a == 'S') && gdb_parse_hex(&p, &sig) < 0)
			return reply_str(reply, rlen, E_BADPKT); /* the signal is not passed to a VM */
		if (*p == ':') {
			p++;
			cpu = parse_thread(s, &p);
			if (cpu < -1)
				return reply_str(reply, rlen, cpu == -3 ? E_THREAD : E_BADPKT);
		}
		if ((a == 's' || a == 'S') && step < 0)
			step = cpu >= 0 ? cpu : cur_cpu(s);
	}
	if (*p)
		return reply_str(reply, rlen, E_BADPKT);
	s->step_cpu = step;
	return GDB_RESUME;
}

static enum gdb_action query(struct gdb_session *s, const char *pkt, char *reply, size_t *rlen)
{
	if (!strncmp(pkt, "qSupported", 10)) {
		bool rev = s->ops->reversible && s->ops->reversible(s->target);
		*rlen = (size_t)snprintf(
		        reply, GDB_PACKET_MAX,
		        "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+%s",
		        GDB_PACKET_MAX, rev ? ";ReverseStep+;ReverseContinue+" : "");
		return GDB_REPLY;
	}
	if (!strncmp(pkt, "qXfer:features:read:", 20))
		return xfer_features(pkt + 20, reply, rlen);
	if (!strcmp(pkt, "qfThreadInfo")) {
		size_t o = 0;
		reply[o++] = 'm';
		for (int i = 0; i < s->ncpus; i++)
			o += (size_t)snprintf(reply + o, GDB_PACKET_MAX - o, "%s%x", i ? "," : "", i + 1);
		*rlen = o;
		return GDB_REPLY;
	}
	if (!strcmp(pkt, "qsThreadInfo"))
		return reply_str(reply, rlen, "l");
	if (!strcmp(pkt, "qC")) {
		*rlen = (size_t)snprintf(reply, GDB_PACKET_MAX, "QC%x", cur_cpu(s) + 1);
		return GDB_REPLY;
	}
	if (!strcmp(pkt, "qAttached"))
		return reply_str(reply, rlen, "1");
	if (!strncmp(pkt, "qThreadExtraInfo,", 17)) {
		const char *p = pkt + 17;
		char text[32];
		int cpu = parse_thread(s, &p);
		if (cpu < 0 || *p)
			return reply_str(reply, rlen, E_THREAD);
		snprintf(text, sizeof(text), "vCPU %d", cpu);
		gdb_tohex(reply, text, strlen(text));
		*rlen = 2 * strlen(text);
		return GDB_REPLY;
	}
	if (!strncmp(pkt, "qRcmd,", 6))
		return monitor(s, pkt + 6, reply, rlen);
	return reply_str(reply, rlen, "");
}

enum gdb_action gdb_handle(struct gdb_session *s, const char *pkt, size_t len, char *reply, size_t *rlen)
{
	const char *p = pkt + 1, *end = pkt + len;
	int cpu;

	*rlen = 0;
	reply[0] = 0;
	if (!len)
		return reply_str(reply, rlen, "");
	/* Only X carries binary data: anywhere else a NUL ends the packet early. */
	if (pkt[0] != 'X' && memchr(pkt, 0, len))
		return reply_str(reply, rlen, E_BADPKT);
	switch (pkt[0]) {
	case '?': *rlen = gdb_stop_reply(s, reply, GDB_PACKET_MAX); return GDB_REPLY;
	case 'g':
		if (len != 1)
			return reply_str(reply, rlen, E_BADPKT);
		return read_regs(s, reply, rlen);
	case 'G': return write_regs(s, p, len - 1, reply, rlen);
	case 'p': return one_reg(s, p, false, reply, rlen);
	case 'P': return one_reg(s, p, true, reply, rlen);
	case 'm': return read_mem(s, p, reply, rlen);
	case 'M': return write_mem(s, p, end, false, reply, rlen);
	case 'X': return write_mem(s, p, end, true, reply, rlen);
	case 'Z': return point(s, p, true, reply, rlen);
	case 'z': return point(s, p, false, reply, rlen);
	case 'H':
		if (*p != 'g' && *p != 'c')
			return reply_str(reply, rlen, E_BADPKT);
		{
			char which = *p++;
			cpu = parse_thread(s, &p);
			if (cpu < -1 || *p)
				return reply_str(reply, rlen, cpu == -3 ? E_THREAD : E_BADPKT);
			if (which == 'g')
				s->g_cpu = cpu < 0 ? 0 : cpu;
			else
				s->c_cpu = cpu;
		}
		return reply_str(reply, rlen, "OK");
	case 'T': cpu = parse_thread(s, &p); return reply_str(reply, rlen, cpu >= 0 && !*p ? "OK" : E_THREAD);
	case 'c':
	case 'C':
		s->step_cpu = -1;
		return GDB_RESUME; /* an address to resume at is not supported: gdb does not send one */
	case 's':
	case 'S': s->step_cpu = s->c_cpu >= 0 ? s->c_cpu : cur_cpu(s); return GDB_RESUME;
	case 'v':
		if (!strncmp(pkt, "vCont", 5))
			return vcont(s, pkt + 5, reply, rlen);
		if (!strncmp(pkt, "vMustReplyEmpty", 15))
			return reply_str(reply, rlen, "");
		if (!strncmp(pkt, "vKill", 5))
			return GDB_KILL;
		return reply_str(reply, rlen, "");
	case 'q': return query(s, pkt, reply, rlen);
	case 'Q':
		if (!strcmp(pkt, "QStartNoAckMode")) {
			s->no_ack = true;
			return reply_str(reply, rlen, "OK");
		}
		return reply_str(reply, rlen, "");
	case 'b':
		/* bs, bc: only a target that can go back; anything else after b is unknown */
		if (len != 2 || (pkt[1] != 's' && pkt[1] != 'c') || !s->ops->reversible ||
		    !s->ops->reversible(s->target))
			return reply_str(reply, rlen, "");
		s->step_cpu = -1;
		return pkt[1] == 's' ? GDB_REVERSE_STEP : GDB_REVERSE_CONT;
	case 'D': reply_str(reply, rlen, "OK"); return GDB_DETACH;
	case 'k': return GDB_KILL;
	default: return reply_str(reply, rlen, "");
	}
}
