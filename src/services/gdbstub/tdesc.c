/* The registers gdb sees (proto.h): the target description it reads with
 * qXfer:features:read, and the conversion of struct x86_state to and from
 * the byte layout of 'g', 'G', 'p' and 'P', which follows the
 * description's order.  The x87 state comes from the FXSAVE image: gdb
 * wants the full tag word (two bits per register) where FXSAVE keeps one
 * bit, and the 64-bit layout's FIP/FDP halves as fioff/fiseg and
 * fooff/foseg, as amd64 gdb reads an FXSAVE64 area. */
#include <string.h>

#include "services/gdbstub/proto.h"

/* gdb's amd64 core, sse, segments and avx (the YMM upper halves, from
 * which gdb builds ymm0-15) features by the names gdb checks, and a
 * feature of our own for the control registers and EFER. */
const char gdb_target_xml[] =
        "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target version=\"1.0\">"
        "<architecture>i386:x86-64</architecture>"
        "<feature name=\"org.gnu.gdb.i386.core\">"
        "<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>"
        "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>"
        "<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>"
        "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>"
        "<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>"
        "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>"
        "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
        "</feature><feature name=\"org.gnu.gdb.i386.sse\">"
        "<vector id=\"v8bf16\" type=\"bfloat16\" count=\"8\"/><vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/><vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" count=\"8\"/><vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" count=\"2\"/><union id=\"vec128\"><field name=\"v8_bfloat16\" type=\"v8bf16\"/><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>"
        "<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>"
        "<reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>"
        "</feature><feature name=\"org.gnu.gdb.i386.segments\">"
        "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>"
        "<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>"
        "</feature><feature name=\"org.symbiont.x86.system\">"
        "<reg name=\"cr0\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "<reg name=\"cr2\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "<reg name=\"cr3\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "<reg name=\"cr4\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "<reg name=\"cr8\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "<reg name=\"efer\" bitsize=\"64\" type=\"int\" group=\"system\"/>"
        "</feature><feature name=\"org.gnu.gdb.i386.avx\">"
        "<reg name=\"ymm0h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm1h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm2h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm3h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm4h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm5h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm6h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm7h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm8h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm9h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm10h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm11h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm12h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm13h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm14h\" bitsize=\"128\" type=\"uint128\"/>"
        "<reg name=\"ymm15h\" bitsize=\"128\" type=\"uint128\"/>"
        "</feature></target>";

const size_t gdb_target_xml_len = sizeof(gdb_target_xml) - 1;

enum {
	R_RIP = 16,
	R_EFLAGS,
	R_CS,
	R_GS = 23,
	R_ST0,
	R_FCTRL = 32,
	R_FSTAT,
	R_FTAG,
	R_FISEG,
	R_FIOFF,
	R_FOSEG,
	R_FOOFF,
	R_FOP,
	R_XMM0,
	R_MXCSR = 56,
	R_FS_BASE,
	R_GS_BASE,
	R_CR0,
	R_CR2,
	R_CR3,
	R_CR4,
	R_CR8,
	R_EFER,
	R_YMM0H,
};

/* gdb's order of the general registers, as x86_state indices. */
static const int gpr_of[16] = { X86_RAX, X86_RBX, X86_RCX, X86_RDX, X86_RSI, X86_RDI, X86_RBP, X86_RSP,
	                        X86_R8,  X86_R9,  X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15 };
static const int seg_of[6] = { SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS };

int gdb_reg_size(int r)
{
	if (r < 0 || r >= GDB_NREGS)
		return -1;
	if (r <= R_RIP)
		return 8;
	if (r < R_ST0)
		return 4;
	if (r < R_FCTRL)
		return 10;
	if (r < R_XMM0)
		return 4;
	if (r < R_MXCSR)
		return 16;
	if (r == R_MXCSR)
		return 4;
	if (r >= R_YMM0H)
		return 16;
	return 8;
}

size_t gdb_regs_size(void)
{
	size_t n = 0;
	for (int r = 0; r < GDB_NREGS; r++)
		n += (size_t)gdb_reg_size(r);
	return n;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *out, uint32_t v)
{
	memcpy(out, &v, 4); /* x86 hosts only: little-endian like the guest */
}

static uint32_t get32(const uint8_t *in)
{
	uint32_t v;
	memcpy(&v, in, 4);
	return v;
}

/* The two-bit tag of an x87 register holding the 80-bit value p. */
static unsigned x87_tag(const uint8_t *p)
{
	uint16_t exp = get16(p + 8) & 0x7fff;
	uint64_t mant;
	memcpy(&mant, p, 8);
	if (exp == 0x7fff)
		return 2; /* special: infinity or NaN */
	if (exp == 0)
		return mant ? 2 : 1; /* denormal, or zero */
	return (mant >> 63) ? 0 : 2; /* valid, or unnormal */
}

static uint16_t full_tag(const uint8_t *fx)
{
	unsigned top = (get16(fx + 2) >> 11) & 7;
	uint16_t tag = 0;
	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned t = 3; /* empty */
		if (fx[4] >> phys & 1)
			t = x87_tag(fx + 32 + 16 * ((phys - top) & 7));
		tag |= (uint16_t)(t << (2 * phys));
	}
	return tag;
}

void gdb_reg_get(const struct x86_state *s, int r, uint8_t *out)
{
	const uint8_t *fx = s->fxsave;
	uint64_t v = 0;

	if (r < 16)
		v = s->gpr[gpr_of[r]];
	else if (r == R_RIP)
		v = s->rip;
	else if (r == R_EFLAGS)
		v = s->rflags;
	else if (r >= R_CS && r <= R_GS)
		v = s->seg[seg_of[r - R_CS]].sel;
	else if (r >= R_ST0 && r < R_FCTRL) {
		memcpy(out, fx + 32 + 16 * (r - R_ST0), 10);
		return;
	} else if (r == R_FCTRL || r == R_FSTAT)
		v = get16(fx + (r == R_FCTRL ? 0 : 2));
	else if (r == R_FTAG)
		v = full_tag(fx);
	else if (r == R_FIOFF || r == R_FISEG || r == R_FOOFF || r == R_FOSEG) {
		static const int off[] = { [R_FISEG - R_FISEG] = 12,
			                   [R_FIOFF - R_FISEG] = 8,
			                   [R_FOSEG - R_FISEG] = 20,
			                   [R_FOOFF - R_FISEG] = 16 };
		v = get32(fx + off[r - R_FISEG]);
	} else if (r == R_FOP)
		v = get16(fx + 6) & 0x7ff;
	else if (r >= R_XMM0 && r < R_MXCSR) {
		memcpy(out, fx + 160 + 16 * (r - R_XMM0), 16);
		return;
	} else if (r == R_MXCSR)
		v = get32(fx + 24);
	else if (r == R_FS_BASE)
		v = s->seg[SEG_FS].base;
	else if (r == R_GS_BASE)
		v = s->seg[SEG_GS].base;
	else if (r >= R_CR0 && r <= R_EFER) {
		const uint64_t cr[] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer };
		v = cr[r - R_CR0];
	} else if (r >= R_YMM0H) {
		memcpy(out, s->ymmh + 16 * (r - R_YMM0H), 16);
		return;
	}
	if (gdb_reg_size(r) == 4)
		put32(out, (uint32_t)v);
	else if (gdb_reg_size(r) == 8)
		memcpy(out, &v, 8);
}

int gdb_reg_set(struct x86_state *s, int r, const uint8_t *in)
{
	uint8_t *fx = s->fxsave;
	uint64_t v = 0;
	int size = gdb_reg_size(r);

	if (size < 0)
		return -1;
	if (size == 4)
		v = get32(in);
	else if (size == 8)
		memcpy(&v, in, 8);
	if (r < 16)
		s->gpr[gpr_of[r]] = v;
	else if (r == R_RIP)
		s->rip = v;
	else if (r == R_EFLAGS)
		s->rflags = (v & 0x3f7fd7) | RFLAGS_FIXED; /* the defined bits */
	else if (r >= R_CS && r <= R_GS) {
		/* A selector alone would leave its descriptor cache stale:
		 * only the value it has is taken (gdb's G sends them all). */
		if ((uint16_t)v != s->seg[seg_of[r - R_CS]].sel || v >> 16)
			return -1;
	} else if (r >= R_ST0 && r < R_FCTRL)
		memcpy(fx + 32 + 16 * (r - R_ST0), in, 10);
	else if (r == R_FCTRL || r == R_FSTAT) {
		fx[r == R_FCTRL ? 0 : 2] = (uint8_t)v;
		fx[r == R_FCTRL ? 1 : 3] = (uint8_t)(v >> 8);
	} else if (r == R_FTAG) {
		uint8_t abridged = 0;
		for (unsigned phys = 0; phys < 8; phys++)
			if (((v >> (2 * phys)) & 3) != 3)
				abridged |= (uint8_t)(1u << phys);
		fx[4] = abridged;
	} else if (r == R_FIOFF || r == R_FISEG || r == R_FOOFF || r == R_FOSEG) {
		static const int off[] = { [R_FISEG - R_FISEG] = 12,
			                   [R_FIOFF - R_FISEG] = 8,
			                   [R_FOSEG - R_FISEG] = 20,
			                   [R_FOOFF - R_FISEG] = 16 };
		put32(fx + off[r - R_FISEG], (uint32_t)v);
	} else if (r == R_FOP) {
		fx[6] = (uint8_t)v;
		fx[7] = (uint8_t)((v >> 8) & 7);
	} else if (r >= R_XMM0 && r < R_MXCSR)
		memcpy(fx + 160 + 16 * (r - R_XMM0), in, 16);
	else if (r == R_MXCSR)
		put32(fx + 24, (uint32_t)v);
	else if (r == R_FS_BASE)
		s->seg[SEG_FS].base = v;
	else if (r == R_GS_BASE)
		s->seg[SEG_GS].base = v;
	else if (r == R_CR0)
		s->cr0 = v;
	else if (r == R_CR2)
		s->cr2 = v;
	else if (r == R_CR3)
		s->cr3 = v;
	else if (r == R_CR4)
		s->cr4 = v;
	else if (r == R_CR8)
		s->cr8 = v;
	else if (r == R_EFER)
		s->efer = v;
	else if (r >= R_YMM0H)
		memcpy(s->ymmh + 16 * (r - R_YMM0H), in, 16);
	return 0;
}
