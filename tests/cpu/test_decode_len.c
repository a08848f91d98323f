/* Instruction lengths from the emu decoder against binutils' disassembler.
 *
 * Random instructions (legacy prefixes, REX, every opcode of the one-byte,
 * 0F, 0F38 and 0F3A maps, random ModRM/SIB/displacement/immediate bytes)
 * are decoded by emu_decode_bytes() in 64-bit, 32-bit and 16-bit mode and
 * by objdump, each at its own 32-byte slot padded with NOPs.  Wherever both
 * accept the instruction, the lengths must match: a wrong length would make
 * the engine decode garbage after it.  This checks the operand shapes of the
 * opcodes the decoder only parses for the system and x87/SSE parts too.
 * Skipped (77-style, with a message) when objdump is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cpu/emu/ops.h"

#define N    20000
#define SLOT 32

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

/* One random instruction of up to 15 bytes into b. */
static void gen(uint8_t *b, enum emu_code_mode mode)
{
	static const uint8_t pfx[] = { 0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36, 0xf0 };
	int n = 0;
	for (int i = 0; i < 15; i++)
		b[i] = (uint8_t)rnd();
	unsigned np = rnd() % 4 == 0 ? (unsigned)(rnd() % 3) : 0;
	for (unsigned i = 0; i < np; i++)
		b[n++] = pfx[rnd() % (sizeof(pfx) - 1)]; /* no LOCK: objdump keeps it apart */
	if (rnd() % 3 == 0)
		b[n++] = 0x66;
	if (mode == EMU_MODE64 && rnd() % 2)
		b[n++] = 0x40 | (uint8_t)(rnd() % 16);
	switch (rnd() % 4) {
	case 0:
	case 1: break; /* one-byte map: b[n] random */
	case 2: b[n++] = 0x0f; break;
	default:
		b[n++] = 0x0f;
		b[n++] = rnd() % 2 ? 0x38 : 0x3a;
		break;
	}
}

/* Opcodes where objdump and the engine legitimately disagree: encodings the
 * engine treats as invalid or that objdump reads as something else (VEX,
 * EVEX, XOP, 3DNow!, 0F38/0F3A opcodes that no CPU defines). */
static bool comparable(const uint8_t *b, const struct emu_insn *in, enum emu_code_mode mode)
{
	int i = 0;
	if (in->exec == op_ud || in->exec == op_gp0)
		return false;
	while (i < 15 && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e ||
	                  b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65 || b[i] == 0x36 ||
	                  (mode == EMU_MODE64 && (b[i] & 0xf0) == 0x40)))
		i++;
	if (b[i] == 0xc4 || b[i] == 0xc5 || b[i] == 0x62 || b[i] == 0x8f || b[i] == 0xd6)
		return false;
	if (b[i] == 0x0f && b[i + 1] == 0x0f)
		return false; /* 3DNow! */
	return true;
}

static void run_mode(enum emu_code_mode mode, const char *march, int *compared, int *bad)
{
	char path[] = "/tmp/symbiont-declen-XXXXXX", cmd[256], line[512];
	static uint8_t buf[N * SLOT];
	static uint8_t lens[N];
	static bool ok[N];
	int fd = mkstemp(path);
	FILE *p;

	assert_true(fd >= 0);
	memset(buf, 0x90, sizeof(buf));
	for (int i = 0; i < N; i++) {
		struct emu_insn in;
		uint8_t *b = buf + i * SLOT;
		gen(b, mode);
		int len = emu_decode_bytes(b, 15, mode, &in);
		assert_true(len >= 1 && len <= 15);
		lens[i] = (uint8_t)len;
		ok[i] = comparable(b, &in, mode);
		memset(b + len, 0x90, SLOT - len); /* what follows must not change the length */
	}
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	snprintf(cmd, sizeof(cmd), "objdump -D -b binary -m %s %s --insn-width=16 %s", march,
	         mode == EMU_MODE64 ? "-M intel64" : "", path); /* Intel: 66 does not shorten near branches */
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long addr;
		char *tab, *m, orig[512];
		int nb = 0;
		strcpy(orig, line);
		if (sscanf(line, " %lx:", &addr) != 1 || addr % SLOT || !(tab = strchr(line, '\t')))
			continue;
		m = strchr(tab + 1, '\t');
		if (!m || strstr(m, "(bad)") || strstr(m, "data16") || strstr(m, "addr32") || strstr(m, "addr16") ||
		    strstr(m, "rex") || strstr(m, "ss\n") || strstr(m, "cs\n") || strstr(m, "ds\n") ||
		    strstr(m, "es\n") || strstr(m, "fs\n") || strstr(m, "gs\n") || strstr(m, "repz\n") ||
		    strstr(m, "repnz\n") || strstr(m, "bnd"))
			continue; /* objdump printed a prefix on its own line */
		*m = 0;
		for (char *tok = strtok(tab + 1, " "); tok; tok = strtok(NULL, " "))
			nb++;
		*m = '\t';
		unsigned i = (unsigned)(addr / SLOT);
		if (i >= N || !ok[i])
			continue;
		(*compared)++;
		if (nb != lens[i]) {
			if (++*bad <= 20)
				printf("mode %d: engine %u bytes, objdump %d: %s", mode, lens[i], nb, orig);
		}
	}
	pclose(p);
	unlink(path);
}

static void test_lengths(void **state)
{
	int compared = 0, bad = 0;
	(void)state;
	if (system("objdump --version >/dev/null 2>&1") != 0) {
		printf("objdump not installed: skipped\n");
		skip();
	}
	run_mode(EMU_MODE64, "i386:x86-64", &compared, &bad);
	run_mode(EMU_MODE32, "i386", &compared, &bad);
	run_mode(EMU_MODE16, "i8086", &compared, &bad);
	printf("%d instructions compared with objdump, %d length mismatches\n", compared, bad);
	assert_true(compared > N);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_lengths) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
