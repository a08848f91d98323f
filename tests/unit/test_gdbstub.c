/* The gdb stub's protocol layer (src/services/gdbstub/packet.h, proto.h)
 * against a fake target: framing, checksums, escapes, acks and Ctrl-C;
 * every command the stub answers, with good and malformed arguments; the
 * register layout of the target description, x87 tags included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/gdbstub/packet.h"
#include "services/gdbstub/proto.h"

/* ---- a fake target: 64 KiB of memory at 0, two vCPUs ---- */

#define FAKE_MEM 65536

struct fake {
	struct x86_state st[2];
	uint8_t mem[FAKE_MEM];
	int inserted, removed;
	enum gdb_point last_type;
	uint64_t last_addr, last_kind;
	char last_monitor[128];
	bool reversible;
};

static int f_get(void *t, int cpu, struct x86_state *s)
{
	*s = ((struct fake *)t)->st[cpu];
	return 0;
}

static int f_set(void *t, int cpu, const struct x86_state *s)
{
	((struct fake *)t)->st[cpu] = *s;
	return 0;
}

static long f_read(void *t, int cpu, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = t;
	(void)cpu;
	if (addr >= FAKE_MEM)
		return -1;
	size_t n = FAKE_MEM - addr < len ? FAKE_MEM - (size_t)addr : len;
	memcpy(buf, f->mem + addr, n);
	return (long)n;
}

static long f_write(void *t, int cpu, uint64_t addr, const void *buf, size_t len)
{
	struct fake *f = t;
	(void)cpu;
	if (addr >= FAKE_MEM || len > FAKE_MEM - addr)
		return -1;
	memcpy(f->mem + addr, buf, len);
	return (long)len;
}

static int f_insert(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	struct fake *f = t;
	(void)cpu;
	if (type == GDB_WP_READ)
		return 1;
	if (addr >= FAKE_MEM)
		return -1;
	f->inserted++;
	f->last_type = type, f->last_addr = addr, f->last_kind = kind;
	return 0;
}

static int f_remove(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	struct fake *f = t;
	(void)cpu, (void)type, (void)addr, (void)kind;
	f->removed++;
	return 0;
}

static int f_monitor(void *t, const char *cmd, char *out, size_t cap)
{
	struct fake *f = t;
	snprintf(f->last_monitor, sizeof(f->last_monitor), "%s", cmd);
	snprintf(out, cap, "ran %s\n", cmd);
	return 0;
}

static bool f_reversible(void *t)
{
	return ((struct fake *)t)->reversible;
}

static const struct gdb_target_ops fake_ops = {
	f_get, f_set, f_read, f_write, f_insert, f_remove, f_monitor, f_reversible,
};

static struct fake *fake;
static struct gdb_session sess;
static char reply[GDB_PACKET_MAX + 1];
static size_t rlen;

static int setup(void **state)
{
	(void)state;
	fake = calloc(1, sizeof(*fake));
	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < 16; i++)
			fake->st[c].gpr[i] = 0x1000u * (c + 1) + i;
		fake->st[c].rip = 0x100000 + c;
		fake->st[c].rflags = 0x202;
		fake->st[c].seg[SEG_CS].sel = 0x10;
		fake->st[c].cr0 = 0x80000011;
		fake->st[c].efer = 0x500;
	}
	for (int i = 0; i < FAKE_MEM; i++)
		fake->mem[i] = (uint8_t)i;
	gdb_session_init(&sess, &fake_ops, fake, 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sess.console);
	free(fake);
	return 0;
}

static enum gdb_action run(const char *pkt)
{
	return gdb_handle(&sess, pkt, strlen(pkt), reply, &rlen);
}

static void expect(const char *pkt, const char *want)
{
	assert_int_equal(run(pkt), GDB_REPLY);
	reply[rlen] = 0;
	assert_string_equal(reply, want);
}

/* ---- framing ---- */

static enum gdb_rx_event feed(struct gdb_rx *rx, const char *bytes, size_t n)
{
	enum gdb_rx_event last = GDB_RX_NONE;
	for (size_t i = 0; i < n; i++) {
		enum gdb_rx_event e = gdb_rx_byte(rx, (uint8_t)bytes[i]);
		if (e != GDB_RX_NONE)
			last = e;
	}
	return last;
}

static void test_framing(void **state)
{
	struct gdb_rx *rx = malloc(sizeof(*rx));
	char out[64];
	(void)state;

	gdb_rx_init(rx);
	assert_int_equal(feed(rx, "$g#67", 5), GDB_RX_PACKET);
	assert_int_equal(rx->len, 1);
	assert_string_equal(rx->buf, "g");
	assert_int_equal(feed(rx, "$g#68", 5), GDB_RX_BAD);        /* wrong checksum */
	assert_int_equal(feed(rx, "$g#6z", 5), GDB_RX_BAD);        /* not hex */
	assert_int_equal(gdb_rx_byte(rx, 0x03), GDB_RX_INTERRUPT); /* Ctrl-C between packets */
	assert_int_equal(gdb_rx_byte(rx, '+'), GDB_RX_ACK);
	assert_int_equal(gdb_rx_byte(rx, '-'), GDB_RX_NACK);
	assert_int_equal(feed(rx, "junk\xff$?#3f", 10), GDB_RX_PACKET); /* noise before a packet */
	/* 0x03 inside a packet is data, and a '$' restarts a packet */
	assert_int_equal(feed(rx, "$ab$?#3f", 8), GDB_RX_PACKET);
	assert_string_equal(rx->buf, "?");

	/* escapes: } then the byte xor 0x20; the checksum covers the raw bytes */
	size_t n = gdb_frame(out, sizeof(out), "a#b}c$*", 7);
	assert_true(n > 0);
	out[n] = 0;
	assert_int_equal(n, 15);
	assert_memory_equal(out,
	                    "$a}\x03"
	                    "b}]c}\x04}\x0a#88",
	                    15);
	assert_int_equal(feed(rx, out, n), GDB_RX_PACKET);
	assert_int_equal(rx->len, 7);
	assert_memory_equal(rx->buf, "a#b}c$*", 7);
	assert_int_equal(feed(rx, "$}#7d", 5), GDB_RX_BAD);       /* an escape with nothing after it */
	assert_int_equal(gdb_frame(out, 8, "0123456789", 10), 0); /* does not fit */

	/* longer than any packet: consumed, then reported */
	char *big = malloc(GDB_PACKET_MAX + 100);
	uint8_t sum = 0;
	big[0] = '$';
	for (int i = 1; i <= GDB_PACKET_MAX + 10; i++)
		big[i] = 'x', sum += 'x';
	snprintf(big + GDB_PACKET_MAX + 11, 4, "#%02x", sum);
	assert_int_equal(feed(rx, big, GDB_PACKET_MAX + 14), GDB_RX_TOO_LONG);
	assert_int_equal(feed(rx, "$g#67", 5), GDB_RX_PACKET); /* and the next one is fine */
	free(big);
	free(rx);
}

static void test_hex(void **state)
{
	const char *p;
	uint64_t v;
	uint8_t b[4];
	char h[9];
	(void)state;
	p = "1f,";
	assert_int_equal(gdb_parse_hex(&p, &v), 0);
	assert_int_equal(v, 0x1f);
	assert_string_equal(p, ",");
	p = "ffffffffffffffff";
	assert_int_equal(gdb_parse_hex(&p, &v), 0);
	assert_true(v == UINT64_MAX);
	p = "10000000000000000"; /* 17 digits */
	assert_int_equal(gdb_parse_hex(&p, &v), -1);
	p = ",";
	assert_int_equal(gdb_parse_hex(&p, &v), -1);
	assert_int_equal(gdb_fromhex(b, "deadBEEF", 4), 0);
	gdb_tohex(h, b, 4);
	assert_string_equal(h, "deadbeef");
	assert_int_equal(gdb_fromhex(b, "de", 2), -1); /* short */
	assert_int_equal(gdb_fromhex(b, "dx", 1), -1);
}

/* ---- commands ---- */

static void test_queries(void **state)
{
	(void)state;
	assert_int_equal(run("qSupported:multiprocess+;swbreak+"), GDB_REPLY);
	assert_non_null(strstr(reply, "PacketSize=4000"));
	assert_non_null(strstr(reply, "qXfer:features:read+"));
	expect("qfThreadInfo", "m1,2");
	expect("qsThreadInfo", "l");
	expect("qAttached", "1");
	expect("Hg2", "OK");
	expect("qC", "QC2");
	expect("Hg3", "E02"); /* only two vCPUs */
	expect("Hgzz", "E01");
	expect("Hc-1", "OK");
	expect("Hx1", "E01");
	expect("T1", "OK");
	expect("T5", "E02");
	expect("qThreadExtraInfo,1", "764350552030"); /* "vCPU 0" */
	expect("QStartNoAckMode", "OK");
	assert_true(sess.no_ack);
	expect("qUnknownThing", "");
	expect("vMustReplyEmpty", "");
	expect("!", "");
	expect("vCont?", "vCont;c;C;s;S");
}

static void test_target_xml(void **state)
{
	char *xml = calloc(1, 65536), q[64];
	size_t have = 0;
	(void)state;
	for (;;) {
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,100", have);
		assert_int_equal(run(q), GDB_REPLY);
		assert_true(rlen >= 1 && rlen <= 0x101);
		memcpy(xml + have, reply + 1, rlen - 1);
		have += rlen - 1;
		if (reply[0] == 'l')
			break;
		assert_int_equal(reply[0], 'm');
	}
	assert_int_equal(have, gdb_target_xml_len);
	assert_memory_equal(xml, gdb_target_xml, have);
	/* one <reg per register, in 'g' order */
	int regs = 0;
	for (char *p = xml; (p = strstr(p, "<reg ")); p++)
		regs++;
	assert_int_equal(regs, GDB_NREGS);
	assert_non_null(strstr(xml, "org.gnu.gdb.i386.core"));
	assert_non_null(strstr(xml, "name=\"fs_base\""));
	assert_non_null(strstr(xml, "name=\"efer\""));
	assert_non_null(strstr(xml, "org.gnu.gdb.i386.avx"));
	assert_non_null(strstr(xml, "name=\"ymm15h\""));
	expect("qXfer:features:read:other.xml:0,10", "E14");
	expect("qXfer:features:read:target.xml:zz", "E01");
	expect("qXfer:features:read:target.xml:ffff,10", "l");
	free(xml);
}

static void test_registers(void **state)
{
	(void)state;
	assert_int_equal(gdb_regs_size(),
	                 16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8 + 6 * 8 + 16 * 16);
	assert_int_equal(run("g"), GDB_REPLY);
	assert_int_equal(rlen, 2 * gdb_regs_size());
	assert_memory_equal(reply, "0010000000000000", 16);      /* rax, little-endian */
	assert_memory_equal(reply + 16, "0310000000000000", 16); /* then rbx (x86_state index 3) */
	/* rip is register 16 */
	expect("p10", "0000100000000000");
	expect("p11", "02020000");         /* eflags, 4 bytes */
	expect("p12", "10000000");         /* cs */
	expect("p3b", "1100008000000000"); /* cr0 */
	expect("p40", "0005000000000000"); /* efer */
	expect("p51", "E01");              /* no register 81 */
	expect("pzz", "E01");
	expect("P0=efbeadde00000000", "OK");
	assert_true(fake->st[0].gpr[X86_RAX] == 0xdeadbeef);
	expect("P0=efbe", "E01");      /* wrong size */
	expect("P12=08000000", "E03"); /* a selector change is refused */
	expect("P11=ffffffff", "OK");  /* eflags keeps only defined bits */
	assert_true(fake->st[0].rflags == (0x3f7fd7 | 2));

	/* G: everything back as read, a changed rcx */
	assert_int_equal(run("g"), GDB_REPLY);
	char *g = malloc(rlen + 2);
	g[0] = 'G';
	memcpy(g + 1, reply, rlen);
	g[rlen + 1] = 0;
	memcpy(g + 1 + 32, "7856341200000000", 16); /* rcx is the third */
	expect(g, "OK");
	assert_true(fake->st[0].gpr[X86_RCX] == 0x12345678);
	g[rlen] = 0; /* one digit short */
	expect(g, "E01");
	free(g);
	/* the other vCPU */
	expect("Hg2", "OK");
	expect("p0", "0020000000000000");
}

static void test_x87_tags(void **state)
{
	struct x86_state s;
	uint8_t out[16], in[4];
	(void)state;
	memset(&s, 0, sizeof(s));
	/* TOP = 6: ST0 is physical 6, ST1 physical 7.  ST0 = 1.0 (valid),
	 * ST1 = 0 (zero); FXSAVE's abridged tag marks physical 6 and 7. */
	s.fxsave[2] = 0, s.fxsave[3] = 6 << 3;
	s.fxsave[4] = 0xc0;
	s.fxsave[32 + 7] = 0x80, s.fxsave[32 + 8] = 0xff, s.fxsave[32 + 9] = 0x3f;
	gdb_reg_get(&s, 34, out);                       /* ftag */
	assert_int_equal(out[0] | out[1] << 8, 0x4fff); /* phys 6 valid (00), 7 zero (01), the rest empty */
	in[0] = 0xff, in[1] = 0xcf, in[2] = in[3] = 0;  /* phys 6 valid, 7 empty */
	assert_int_equal(gdb_reg_set(&s, 34, in), 0);
	assert_int_equal(s.fxsave[4], 0x40);
	gdb_reg_get(&s, 24, out); /* st0: the 10 bytes */
	assert_memory_equal(out, s.fxsave + 32, 10);
	gdb_reg_get(&s, 40, out); /* xmm0 */
	assert_memory_equal(out, s.fxsave + 160, 16);
	assert_int_equal(gdb_reg_size(24), 10);
	assert_int_equal(gdb_reg_size(40), 16);
	assert_int_equal(gdb_reg_size(GDB_NREGS), -1);
	/* ymm0h-ymm15h (65-80): the YMM upper halves, read and written */
	s.ymmh[16 * 3 + 5] = 0x5a;
	gdb_reg_get(&s, 65 + 3, out);
	assert_memory_equal(out, s.ymmh + 48, 16);
	assert_int_equal(gdb_reg_size(80), 16);
	uint8_t y[16];
	memset(y, 0xc3, sizeof(y));
	assert_int_equal(gdb_reg_set(&s, 80, y), 0);
	assert_memory_equal(s.ymmh + 16 * 15, y, 16);
}

static void test_memory(void **state)
{
	(void)state;
	expect("m10,4", "10111213");
	expect("m0,0", "");
	expect("mfffe,10", "feff"); /* cut where the memory ends */
	expect("m10000,1", "E14");
	expect("m10", "E01");
	expect("m10,", "E01");
	expect("m10,4x", "E01");
	expect("m11111111111111111,1", "E01");
	assert_int_equal(run("m0,ffffffffffffffff"), GDB_REPLY); /* a huge length: as much as a reply holds */
	assert_true(rlen > 8000 && rlen <= GDB_PACKET_MAX);
	expect("M20,2:abcd", "OK");
	assert_int_equal(fake->mem[0x20], 0xab);
	assert_int_equal(fake->mem[0x21], 0xcd);
	expect("M20,2:abc", "E01");
	expect("M20,2:abcdef", "E01");
	expect("M20,2:zzzz", "E01");
	expect("Mffff,2:0000", "E14");
	expect("Mffffffffffffffff,ffffffffffffffff:00", "E01");
	/* X: binary, NULs and all */
	const char x[] = "X30,3:\x00\x01#";
	assert_int_equal(gdb_handle(&sess, x, sizeof(x) - 1, reply, &rlen), GDB_REPLY);
	reply[rlen] = 0;
	assert_string_equal(reply, "OK");
	assert_memory_equal(fake->mem + 0x30, "\x00\x01#", 3);
	expect("X30,4:ab", "E01");
	/* a NUL inside a text packet */
	assert_int_equal(gdb_handle(&sess, "m1\0,4", 5, reply, &rlen), GDB_REPLY);
	reply[rlen] = 0;
	assert_string_equal(reply, "E01");
}

static void test_points(void **state)
{
	(void)state;
	expect("Z0,100,1", "OK");
	assert_int_equal(fake->inserted, 1);
	assert_int_equal(fake->last_type, GDB_BP_SW);
	assert_true(fake->last_addr == 0x100);
	expect("Z2,200,4", "OK");
	assert_int_equal(fake->last_type, GDB_WP_WRITE);
	assert_true(fake->last_kind == 4);
	expect("Z3,200,4", "");      /* not supported by this target */
	expect("Z1,20000,1", "E03"); /* refused */
	expect("Z5,0,1", "");        /* no such type */
	expect("Z0,100", "E01");
	expect("Z0,,1", "E01");
	expect("Z0,100,1;X1,ab", "OK"); /* conditions are ignored */
	expect("z0,100,1", "OK");
	assert_int_equal(fake->removed, 1);
}

static void test_run_control(void **state)
{
	(void)state;
	assert_int_equal(run("c"), GDB_RESUME);
	assert_int_equal(sess.step_cpu, -1);
	assert_int_equal(run("s"), GDB_RESUME);
	assert_int_equal(sess.step_cpu, 0);
	assert_int_equal(run("vCont;s:2;c"), GDB_RESUME);
	assert_int_equal(sess.step_cpu, 1);
	assert_int_equal(run("vCont;c"), GDB_RESUME);
	assert_int_equal(sess.step_cpu, -1);
	assert_int_equal(run("vCont;S05:1"), GDB_RESUME);
	assert_int_equal(sess.step_cpu, 0);
	expect("vCont;s:9", "E02");
	expect("vCont;q", "E01");
	expect("vCont;c:", "E01");
	expect("vCont;cx", "E01");
	expect("vContX", "");
	assert_int_equal(run("D"), GDB_DETACH);
	reply[rlen] = 0;
	assert_string_equal(reply, "OK");
	assert_int_equal(run("k"), GDB_KILL);
	assert_int_equal(run("vKill;1"), GDB_KILL);
	/* stop replies */
	sess.stop_sig = 5, sess.stop_cpu = 1, sess.stop_watch = 'w', sess.stop_addr = 0x1008;
	expect("?", "T05watch:1008;thread:2;");
	sess.stop_watch = 'r';
	expect("?", "T05rwatch:1008;thread:2;");
	sess.stop_watch = 'a';
	expect("?", "T05awatch:1008;thread:2;");
	sess.stop_watch = 0, sess.stop_swbreak = true;
	expect("?", "T05swbreak:;thread:2;");
	sess.stop_swbreak = false, sess.stop_sig = 2, sess.stop_cpu = 0;
	expect("?", "T02thread:1;");
}

/* bs and bc: only offered, and only answered, where the target can go
 * back (a replay with checkpoints); the start of history in the stop reply. */
static void test_reverse(void **state)
{
	(void)state;
	assert_int_equal(run("qSupported"), GDB_REPLY);
	reply[rlen] = 0;
	assert_null(strstr(reply, "ReverseStep"));
	expect("bs", "");
	expect("bc", "");
	fake->reversible = true;
	assert_int_equal(run("qSupported:swbreak+"), GDB_REPLY);
	reply[rlen] = 0;
	assert_non_null(strstr(reply, ";ReverseStep+;ReverseContinue+"));
	assert_int_equal(run("bs"), GDB_REVERSE_STEP);
	assert_int_equal(run("bc"), GDB_REVERSE_CONT);
	expect("bx", "");
	expect("bss", "");
	expect("b", "");
	sess.stop_sig = 5, sess.stop_cpu = 0, sess.stop_history_begin = true;
	expect("?", "T05replaylog:begin;thread:1;");
	sess.stop_history_begin = false;
	expect("?", "T05thread:1;");
}

static void test_monitor(void **state)
{
	(void)state;
	expect("qRcmd,7073", "OK"); /* "ps" */
	assert_string_equal(fake->last_monitor, "ps");
	assert_non_null(sess.console);
	assert_string_equal(sess.console, "ran ps\n");
	expect("qRcmd,707", "E01"); /* odd */
	expect("qRcmd,7g", "E01");
	expect("qRcmd,0070", "E01"); /* a NUL in the command */
	char big[2000] = "qRcmd,";
	memset(big + 6, '6', 1200);
	expect(big, "E01"); /* longer than a command may be */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_hex),
		cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_xml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test(test_x87_tags),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
