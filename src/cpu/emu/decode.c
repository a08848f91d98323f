/* x86 instruction decoder: bytes → struct emu_insn, once per instruction
 * (the block cache keeps the result).
 *
 * Table-driven: one table for the one-byte map and one for the 0F map;
 * each entry gives the handler and the operand shape (ModRM, immediate
 * kind, byte size, default/forced 64-bit operand size, invalid in 64-bit
 * mode, LOCK allowed, ends the block).  Group opcodes (80-83, C0/C1/D0-D3,
 * F6/F7, FE, FF, 8F, C6/C7, 0F BA, 0F C7) take their handler from a
 * second table indexed by ModRM.reg.  Opcodes owned by the system and
 * x87/SSE parts are fully parsed here and their handler comes from
 * emu_sys_select / emu_x87_select / emu_sse_select.
 *
 * Integer features implemented (for the CPUID policy in cpuid.c):
 *   CPUID.1:EDX  CX8 (CMPXCHG8B), CMOV
 *   CPUID.1:ECX  CX16 (CMPXCHG16B), POPCNT, MOVBE (0F 38 F0/F1, bitops.c)
 *   CPUID.7:EBX  BMI1 (TZCNT here, F3 0F BC; the VEX-encoded ANDN, BEXTR,
 *                BLSI/BLSMSK/BLSR in bmi.c), BMI2 (bmi.c); VEX prefixes are
 *                decoded here, and every VEX form but those is #UD (no AVX)
 *   CPUID.80000001:ECX  LZCNT (ABM bit 5), LAHF/SAHF in 64-bit mode (bit 0)
 *   CPUID.80000001:EDX  LM, NX (MMU), SYSCALL (system part)
 *   CPUID.7:EBX  ERMS, and .7:EDX FSRM: REP MOVSB/STOSB have a page-at-a-time
 *                fast path in 64-bit mode (string.c)
 * Not implemented (do not advertise): RDRAND/RDSEED, ADX, AVX/AVX2/FMA.
 * F3 0F BC/BD always decode as TZCNT/LZCNT, as on current CPUs whatever
 * CPUID says.  TZCNT gives BSF's result for a non-zero source (so "rep bsf"
 * in code that assumes no BMI1 works); LZCNT does not match BSR, which is
 * why ABM (LZCNT) must be advertised, and it is. */
#include <string.h>

#include "cpu/emu/ops.h"

/* Entry flags. */
enum {
	M = 1 << 0,      /* ModRM follows */
	B = 1 << 1,      /* byte operand size */
	D64 = 1 << 2,    /* default operand size 64 in long mode (push/pop...) */
	F64 = 1 << 3,    /* operand size always 64 in long mode (near branches) */
	INV = 1 << 4,    /* #UD in 64-bit mode */
	END = 1 << 5,    /* ends the block */
	LK = 1 << 6,     /* LOCK allowed (with a memory operand) */
	GRP = 1 << 7,    /* handler from the group table */
	SYS = 1 << 8,    /* ask emu_sys_select */
	X87 = 1 << 9,    /* ask emu_x87_select */
	SSE = 1 << 10,   /* ask emu_sse_select */
	ACC = 1 << 11,   /* r/m operand is rAX (AL,Ib / eAX,Iz forms) */
	OPR = 1 << 12,   /* register in the opcode's low 3 bits */
	RO = 1 << 13,    /* ModRM always names registers (MOV CR/DR) */
	NOSEG = 1 << 14, /* no ModRM but a DS-relative memory operand */
	/* immediate kind in bits 16..19 */
	IB = 1 << 16,  /* imm8 zero-extended */
	IBS = 2 << 16, /* imm8 sign-extended (also Jb) */
	IW = 3 << 16,  /* imm16 */
	IZ = 4 << 16,  /* imm8 for byte ops, else imm16/imm32 sign-extended (also Jz) */
	IV = 5 << 16,  /* imm16/32/64 by operand size (B8+r) */
	AP = 6 << 16,  /* far pointer: offset16/32, then selector (imm2) */
	MO = 7 << 16,  /* moffs: address-size offset */
	IWB = 8 << 16, /* ENTER: imm16, imm8 (imm2) */
	IMASK = 15 << 16,
};

struct opd {
	emu_exec_fn fn;
	uint32_t f;
};

/* Group ids, stored in place of the handler for GRP entries. */
enum { G1 = 1, G1A, G2, G3, G4, G5, G8, G9, G11 };
/* clang-format off */
/* The opcode tables are laid out by hand, a row per opcode group. */
#define GRPE(g, fl) { (emu_exec_fn)(uintptr_t)(g), (fl) | GRP }

#define ALU6(o, n, lk) \
	[o] = { op_##n##_EG, M | B | (lk) }, [o + 1] = { op_##n##_EG, M | (lk) }, \
	[o + 2] = { op_##n##_GE, M | B }, [o + 3] = { op_##n##_GE, M }, \
	[o + 4] = { op_##n##_EI, B | IZ | ACC }, [o + 5] = { op_##n##_EI, IZ | ACC }

static const struct opd map1[256] = {
	ALU6(0x00, add, LK), ALU6(0x08, or, LK), ALU6(0x10, adc, LK), ALU6(0x18, sbb, LK),
	ALU6(0x20, and, LK), ALU6(0x28, sub, LK), ALU6(0x30, xor, LK), ALU6(0x38, cmp, 0),
	[0x06] = { NULL, SYS | INV | END }, [0x07] = { NULL, SYS | INV | END },
	[0x0e] = { NULL, SYS | INV | END },
	[0x16] = { NULL, SYS | INV | END }, [0x17] = { NULL, SYS | INV | END },
	[0x1e] = { NULL, SYS | INV | END }, [0x1f] = { NULL, SYS | INV | END },
	[0x27] = { op_daa, INV }, [0x2f] = { op_das, INV },
	[0x37] = { op_aaa, INV }, [0x3f] = { op_aas, INV },
	[0x40 ... 0x47] = { op_inc, OPR | INV }, [0x48 ... 0x4f] = { op_dec, OPR | INV },
	[0x50 ... 0x57] = { op_push_R, OPR | D64 }, [0x58 ... 0x5f] = { op_pop_R, OPR | D64 },
	[0x60] = { op_pusha, INV }, [0x61] = { op_popa, INV },
	[0x62] = { NULL, SYS | M | INV | END },
	[0x63] = { NULL, SYS | M | END }, /* ARPL; MOVSXD in 64-bit mode */
	[0x68] = { op_push_I, IZ | D64 }, [0x69] = { op_imul_GEI, M | IZ },
	[0x6a] = { op_push_I, IBS | D64 }, [0x6b] = { op_imul_GEI, M | IBS },
	[0x6c ... 0x6f] = { NULL, SYS | NOSEG | END },
	[0x70 ... 0x7f] = { op_jcc, IBS | F64 | END },
	[0x80] = GRPE(G1, M | B | IZ), [0x81] = GRPE(G1, M | IZ),
	[0x82] = GRPE(G1, M | B | IZ | INV), [0x83] = GRPE(G1, M | IBS),
	[0x84] = { op_test_EG, M | B }, [0x85] = { op_test_EG, M },
	[0x86] = { op_xchg, M | B | LK }, [0x87] = { op_xchg, M | LK },
	[0x88] = { op_mov_EG, M | B }, [0x89] = { op_mov_EG, M },
	[0x8a] = { op_mov_GE, M | B }, [0x8b] = { op_mov_GE, M },
	[0x8c] = { NULL, SYS | M | END }, [0x8d] = { op_lea, M },
	[0x8e] = { NULL, SYS | M | END }, [0x8f] = GRPE(G1A, M | D64),
	[0x90 ... 0x97] = { op_xchg, OPR },
	[0x98] = { op_cbw, 0 }, [0x99] = { op_cwd, 0 },
	[0x9a] = { NULL, SYS | AP | INV | END }, [0x9b] = { NULL, X87 },
	[0x9c] = { NULL, SYS | D64 | END }, [0x9d] = { NULL, SYS | D64 | END },
	[0x9e] = { op_sahf, 0 }, [0x9f] = { op_lahf, 0 },
	[0xa0] = { op_mov_load_moffs, B | MO }, [0xa1] = { op_mov_load_moffs, MO },
	[0xa2] = { op_mov_store_moffs, B | MO }, [0xa3] = { op_mov_store_moffs, MO },
	[0xa4] = { op_movs, B | NOSEG }, [0xa5] = { op_movs, NOSEG },
	[0xa6] = { op_cmps, B | NOSEG }, [0xa7] = { op_cmps, NOSEG },
	[0xa8] = { op_test_EI, B | IZ | ACC }, [0xa9] = { op_test_EI, IZ | ACC },
	[0xaa] = { op_stos, B }, [0xab] = { op_stos, 0 },
	[0xac] = { op_lods, B | NOSEG }, [0xad] = { op_lods, NOSEG },
	[0xae] = { op_scas, B }, [0xaf] = { op_scas, 0 },
	[0xb0 ... 0xb7] = { op_mov_EI, OPR | B | IZ }, [0xb8 ... 0xbf] = { op_mov_EI, OPR | IV },
	[0xc0] = GRPE(G2, M | B | IB), [0xc1] = GRPE(G2, M | IB),
	[0xc2] = { op_ret, IW | F64 | END }, [0xc3] = { op_ret, F64 | END },
	[0xc4] = { NULL, SYS | M | INV | END }, [0xc5] = { NULL, SYS | M | INV | END },
	[0xc6] = GRPE(G11, M | B | IZ), [0xc7] = GRPE(G11, M | IZ),
	[0xc8] = { op_enter, IWB | D64 }, [0xc9] = { op_leave, D64 },
	[0xca] = { NULL, SYS | IW | END }, [0xcb] = { NULL, SYS | END },
	[0xcc] = { NULL, SYS | END }, [0xcd] = { NULL, SYS | IB | END },
	[0xce] = { NULL, SYS | INV | END }, [0xcf] = { NULL, SYS | END },
	[0xd0] = GRPE(G2, M | B), [0xd1] = GRPE(G2, M),
	[0xd2] = GRPE(G2, M | B), [0xd3] = GRPE(G2, M),
	[0xd4] = { op_aam, IB | INV }, [0xd5] = { op_aad, IB | INV },
	[0xd7] = { op_xlat, NOSEG },
	[0xd8 ... 0xdf] = { NULL, X87 | M },
	[0xe0] = { op_loopne, IBS | F64 | END }, [0xe1] = { op_loope, IBS | F64 | END },
	[0xe2] = { op_loop, IBS | F64 | END }, [0xe3] = { op_jcxz, IBS | F64 | END },
	[0xe4 ... 0xe7] = { NULL, SYS | IB | END },
	[0xe8] = { op_call_rel, IZ | F64 | END }, [0xe9] = { op_jmp_rel, IZ | F64 | END },
	[0xea] = { NULL, SYS | AP | INV | END }, [0xeb] = { op_jmp_rel, IBS | F64 | END },
	[0xec ... 0xef] = { NULL, SYS | END },
	[0xf1] = { NULL, SYS | END }, [0xf4] = { NULL, SYS | END },
	[0xf5] = { op_cmc, 0 },
	[0xf6] = GRPE(G3, M | B), [0xf7] = GRPE(G3, M),
	[0xf8] = { op_clc, 0 }, [0xf9] = { op_stc, 0 },
	[0xfa] = { NULL, SYS | END }, [0xfb] = { NULL, SYS | END },
	[0xfc] = { op_cld, 0 }, [0xfd] = { op_std, 0 },
	[0xfe] = GRPE(G4, M | B), [0xff] = GRPE(G5, M),
};

static const struct opd map2[256] = {
	[0x00 ... 0x03] = { NULL, SYS | M | END },
	[0x05 ... 0x09] = { NULL, SYS | END },
	[0x0b] = { op_ud, END },
	[0x0d] = { op_nop, M }, /* PREFETCH/PREFETCHW */
	[0x10 ... 0x17] = { NULL, SSE | M },
	[0x18 ... 0x1f] = { op_nop, M }, /* hint NOPs, ENDBR */
	[0x20 ... 0x23] = { NULL, SYS | M | RO | F64 | END },
	[0x28 ... 0x2f] = { NULL, SSE | M },
	[0x30 ... 0x35] = { NULL, SYS | END },
	[0x40 ... 0x4f] = { op_cmov, M },
	[0x50 ... 0x6f] = { NULL, SSE | M },
	[0x70 ... 0x73] = { NULL, SSE | M | IB },
	[0x74 ... 0x76] = { NULL, SSE | M }, [0x77] = { NULL, SSE },
	[0x78 ... 0x7f] = { NULL, SSE | M },
	[0x80 ... 0x8f] = { op_jcc, IZ | F64 | END },
	[0x90 ... 0x9f] = { op_setcc, M | B },
	[0xa0] = { NULL, SYS | D64 | END }, [0xa1] = { NULL, SYS | D64 | END },
	[0xa2] = { NULL, SYS | END },
	[0xa3] = { op_bt_G, M }, [0xa4] = { op_shld, M | IB }, [0xa5] = { op_shld, M },
	[0xa8] = { NULL, SYS | D64 | END }, [0xa9] = { NULL, SYS | D64 | END },
	[0xab] = { op_bts_G, M | LK }, [0xac] = { op_shrd, M | IB }, [0xad] = { op_shrd, M },
	[0xae] = { NULL, SSE | M }, [0xaf] = { op_imul_GE, M },
	[0xb0] = { op_cmpxchg, M | B | LK }, [0xb1] = { op_cmpxchg, M | LK },
	[0xb2] = { NULL, SYS | M | END }, [0xb3] = { op_btr_G, M | LK },
	[0xb4] = { NULL, SYS | M | END }, [0xb5] = { NULL, SYS | M | END },
	[0xb6] = { op_movzx, M }, [0xb7] = { op_movzx, M },
	[0xb8] = { op_popcnt, M }, /* F3 only: checked in decode */
	[0xb9] = { op_ud, M | END },
	[0xba] = GRPE(G8, M | IB), [0xbb] = { op_btc_G, M | LK },
	[0xbc] = { op_bsf, M }, [0xbd] = { op_bsr, M },
	[0xbe] = { op_movsx, M }, [0xbf] = { op_movsx, M },
	[0xc0] = { op_xadd, M | B | LK }, [0xc1] = { op_xadd, M | LK },
	[0xc2] = { NULL, SSE | M | IB }, [0xc3] = { NULL, SSE | M },
	[0xc4 ... 0xc6] = { NULL, SSE | M | IB },
	[0xc7] = GRPE(G9, M),
	[0xc8 ... 0xcf] = { op_bswap, OPR },
	[0xd0 ... 0xff] = { NULL, SSE | M },
};

/* Group tables: handler and flags added to the opcode's. */
static const struct opd groups[][8] = {
	[G1] = { { op_add_EI, LK }, { op_or_EI, LK }, { op_adc_EI, LK }, { op_sbb_EI, LK },
		 { op_and_EI, LK }, { op_sub_EI, LK }, { op_xor_EI, LK }, { op_cmp_EI, 0 } },
	[G1A] = { { op_pop_E, 0 } },
	[G2] = { { op_rol, 0 }, { op_ror, 0 }, { op_rcl, 0 }, { op_rcr, 0 },
		 { op_shl, 0 }, { op_shr, 0 }, { op_shl, 0 }, { op_sar, 0 } },
	[G3] = { { op_test_EI, IZ }, { op_test_EI, IZ }, { op_not, LK }, { op_neg, LK },
		 { op_mul, 0 }, { op_imul1, 0 }, { op_div, 0 }, { op_idiv, 0 } },
	[G4] = { { op_inc, LK }, { op_dec, LK } },
	[G5] = { { op_inc, LK }, { op_dec, LK }, { op_call_E, F64 | END }, { NULL, SYS | END },
		 { op_jmp_E, F64 | END }, { NULL, SYS | END }, { op_push_E, D64 } },
	[G8] = { [4] = { op_bt_I, 0 }, { op_bts_I, LK }, { op_btr_I, LK }, { op_btc_I, LK } },
	[G9] = { { NULL, SYS | END }, { op_cmpxchg8b, LK }, { NULL, SYS | END }, { NULL, SYS | END },
		 { NULL, SYS | END }, { NULL, SYS | END }, { NULL, SYS | END }, { NULL, SYS | END } },
	[G11] = { { op_mov_EI, 0 } },
};
/* clang-format on */

static const uint8_t modrm16_base[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP, EMU_NOREG, EMU_NOREG, X86_RBP, X86_RBX };
static const uint8_t modrm16_index[8] = { X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, EMU_NOREG, EMU_NOREG };

#define SEG_NONE 0xff

/* Next byte, or stop: 0 (need more bytes) while under 15, else the
 * instruction is too long (#GP). */
#define GETB()                             \
	({                                 \
		if (pos >= avail)          \
			goto out_of_bytes; \
		b[pos++];                  \
	})

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define GETN(n)                                    \
	({                                         \
		unsigned n_ = (n);                 \
		if (pos + n_ > avail)              \
			goto out_of_bytes;         \
		uint64_t v_ = get_le(b + pos, n_); \
		pos += n_;                         \
		v_;                                \
	})

int emu_decode_bytes(const uint8_t *b, unsigned avail, enum emu_code_mode mode, struct emu_insn *in)
{
	unsigned pos = 0, seg = SEG_NONE;
	uint8_t pfx = 0, rex = 0, c;
	const struct opd *d;
	uint32_t f;
	emu_exec_fn fn;
	bool m64 = mode == EMU_MODE64;

	if (avail > 15)
		avail = 15;
	memset(in, 0, sizeof(*in));
	in->base = in->index = EMU_NOREG;

	for (;;) {
		c = GETB();
		switch (c) {
		case 0xf0: pfx |= PFX_LOCK; break;
		case 0xf2: pfx = (pfx & ~PFX_REP) | PFX_REPNE; break;
		case 0xf3: pfx = (pfx & ~PFX_REPNE) | PFX_REP; break;
		case 0x66: pfx |= PFX_OPSIZE; break;
		case 0x67: pfx |= PFX_ADDRSIZE; break;
		case 0x26: seg = SEG_ES; break;
		case 0x2e: seg = SEG_CS; break;
		case 0x36: seg = SEG_SS; break;
		case 0x3e: seg = SEG_DS; break;
		case 0x64: seg = SEG_FS; break;
		case 0x65: seg = SEG_GS; break;
		default:
			if (m64 && (c & 0xf0) == 0x40) {
				rex = c;
				continue; /* stays only if the opcode follows */
			}
			goto opcode;
		}
		rex = 0; /* a legacy prefix after REX cancels it */
	}
opcode:
	if (seg != SEG_NONE) {
		pfx |= PFX_SEG;
		if (m64 && seg < SEG_FS) /* ES/CS/SS/DS overrides do nothing */
			seg = SEG_NONE;
	}
	if ((c == 0xc4 || c == 0xc5) && (m64 || (pos < avail && b[pos] >= 0xc0))) {
		/* VEX (outside 64-bit mode C4/C5 are LES/LDS unless a register
		 * "operand" follows): R X B W inverted into REX form, the map,
		 * vvvv, L, pp.  After 66/F2/F3/LOCK or REX it is #UD. */
		uint8_t v1 = GETB(), v2 = c == 0xc4 ? GETB() : (uint8_t)(v1 & 0x7f), map = c == 0xc4 ? v1 & 0x1f : 1;
		bool bad = (pfx & (PFX_LOCK | PFX_REP | PFX_REPNE | PFX_OPSIZE)) || rex || map < 1 || map > 3;
		rex = (uint8_t)((v1 & 0x80 ? 0 : 4) | (c == 0xc4 ? (v1 & 0x40 ? 0 : 2) | (v1 & 0x20 ? 0 : 1) : 0) |
		                (c == 0xc4 && (v2 & 0x80) ? 8 : 0));
		in->vvvv = (uint8_t)(~v2 >> 3 & 15);
		if (!m64) /* R X B W and vvvv's top bit mean nothing there */
			rex = 0, in->vvvv &= 7;
		in->vex = (uint8_t)(1 | (v2 & 4) >> 1 | (v2 & 3) << 2);
		in->prefix = pfx;
		in->rex = rex;
		in->map = map;
		c = GETB();
		in->opcode = c;
		static const struct opd vex_modrm = { NULL, M }, vex_modrm_ib = { NULL, M | IB },
		                        vex_none = { NULL, 0 };
		/* map 1's opcodes with an imm8: PSHUFD and the shift groups, CMPPS,
		 * PINSRW, PEXTRW, SHUFPS */
		bool ib1 = map == 1 && ((c >= 0x70 && c <= 0x73) || c == 0xc2 || (c >= 0xc4 && c <= 0xc6));
		d = map == 3 || ib1         ? &vex_modrm_ib
		    : map == 1 && c == 0x77 ? &vex_none
		                            : &vex_modrm; /* (VZEROUPPER/ALL) */
		if (bad)
			in->vex |= 0x80; /* #UD (after the whole instruction is decoded, for its length) */
		f = d->f;
		fn = d->fn;
		goto operands;
	}
	if (rex)
		pfx |= PFX_REX;
	in->prefix = pfx;
	in->rex = rex;
	if (c != 0x0f) {
		in->map = 0;
		d = &map1[c];
	} else {
		c = GETB();
		if (c == 0x38 || c == 0x3a) {
			in->map = c == 0x38 ? 2 : 3;
			c = GETB();
			static const struct opd sse38 = { NULL, SSE | M }, sse3a = { NULL, SSE | M | IB };
			d = in->map == 2 ? &sse38 : &sse3a;
		} else {
			in->map = 1;
			d = &map2[c];
		}
	}
	in->opcode = c;
	f = d->f;
	fn = d->fn;

operands:
	if (m64)
		in->addrsize = pfx & PFX_ADDRSIZE ? 4 : 8;
	else
		in->addrsize = ((mode == EMU_MODE32) ^ !!(pfx & PFX_ADDRSIZE)) ? 4 : 2;

	if (f & M) {
		uint8_t modrm = GETB(), mod = modrm >> 6, rm = modrm & 7;
		in->modrm = modrm;
		in->reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
		if (f & GRP) {
			const struct opd *g = &groups[(uintptr_t)fn][(modrm >> 3) & 7];
			fn = g->fn;
			f = (f & ~(uint32_t)GRP) | g->f;
			if (g->f & IMASK)
				f = (f & ~(uint32_t)IMASK) | (g->f & IMASK);
			if (!fn && !(f & SYS))
				f |= END;
		}
		if (mod == 3 || (f & RO)) {
			in->rm = rm | ((rex & 1) << 3);
		} else {
			in->has_mem = 1;
			if (in->addrsize == 2) {
				in->base = modrm16_base[rm];
				in->index = modrm16_index[rm];
				if (mod == 0 && rm == 6) {
					in->base = EMU_NOREG;
					in->disp = (int16_t)GETN(2);
				} else if (mod == 1) {
					in->disp = (int8_t)GETB();
				} else if (mod == 2) {
					in->disp = (int16_t)GETN(2);
				}
				if (seg == SEG_NONE)
					seg = in->base == X86_RBP ? SEG_SS : SEG_DS;
			} else {
				uint8_t base;
				if (rm == 4) {
					uint8_t sib = GETB(), idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
					in->scale = sib >> 6;
					in->index = idx == 4 ? EMU_NOREG : idx;
					base = sib & 7;
					if (base == 5 && mod == 0) {
						in->base = EMU_NOREG;
						in->disp = (int32_t)GETN(4);
					} else {
						in->base = base | ((rex & 1) << 3);
					}
				} else if (rm == 5 && mod == 0) {
					in->base = m64 ? EMU_RIPREL : EMU_NOREG;
					in->disp = (int32_t)GETN(4);
				} else {
					in->base = rm | ((rex & 1) << 3);
				}
				if (mod == 1)
					in->disp = (int8_t)GETB();
				else if (mod == 2)
					in->disp = (int32_t)GETN(4);
				if (seg == SEG_NONE)
					seg = (in->base == X86_RSP || in->base == X86_RBP) ? SEG_SS : SEG_DS;
			}
		}
	} else if (f & OPR) {
		in->reg = in->rm = (c & 7) | ((rex & 1) << 3);
	} else if (f & ACC) {
		in->rm = X86_RAX;
	}
	in->seg = seg == SEG_NONE ? SEG_DS : seg;

	/* Operand size. */
	if (in->vex)
		in->opsize = m64 && (rex & 8) ? 8 : 4; /* VEX.W; 66 is not an operand-size prefix there */
	else if (f & B)
		in->opsize = 1;
	else if (m64)
		in->opsize = (rex & 8) || (f & F64) ? 8 : (pfx & PFX_OPSIZE) ? 2 : (f & D64) ? 8 : 4;
	else
		in->opsize = ((mode == EMU_MODE32) ^ !!(pfx & PFX_OPSIZE)) ? 4 : 2;

	/* Immediates. */
	switch (f & IMASK) {
	case IB: in->imm = GETB(); break;
	case IBS: in->imm = (uint64_t)(int64_t)(int8_t)GETB(); break;
	case IW: in->imm = GETN(2); break;
	case IZ:
		if (in->opsize == 1)
			in->imm = GETB();
		else if (in->opsize == 2)
			in->imm = (uint64_t)(int64_t)(int16_t)GETN(2);
		else
			in->imm = (uint64_t)(int64_t)(int32_t)GETN(4);
		break;
	case IV: in->imm = GETN(in->opsize); break;
	case AP:
		in->imm = GETN(in->opsize == 2 ? 2 : 4);
		in->imm2 = GETN(2);
		break;
	case MO: in->imm = GETN(in->addrsize); break;
	case IWB:
		in->imm = GETN(2);
		in->imm2 = GETB();
		break;
	}
	if (in->map == 0 && (c & 0xfe) == 0xd0)
		in->imm = 1; /* D0/D1: shift by one */
	in->len = pos;

	/* Handler. */
	if (in->vex) {
		fn = !(in->vex & 0x80) ? emu_vex_select(in) : NULL; /* (VZEROUPPER has no ModRM) */
	} else if (f & SYS) {
		if (in->map == 0 && c == 0x63 && m64) {
			fn = op_movsxd;
			f &= ~(uint32_t)END;
		} else {
			fn = emu_sys_select(in);
		}
	} else if (f & X87) {
		fn = emu_x87_select(in);
	} else if ((f & SSE) && in->map == 2 && c == 0x82 && (pfx & (PFX_OPSIZE | PFX_REP | PFX_REPNE)) == PFX_OPSIZE) {
		fn = in->has_mem ? op_invpcid : NULL; /* INVPCID: a system instruction */
		f = (f & ~(uint32_t)SSE) | SYS | END;
	} else if ((f & SSE) && in->map == 2 && (c & 0xfe) == 0xf0 && !(pfx & (PFX_REP | PFX_REPNE))) {
		/* MOVBE (F2 makes it CRC32, an SSE4.2 form): memory operands only */
		fn = in->has_mem ? op_movbe : NULL;
		f &= ~(uint32_t)SSE;
	} else if (f & SSE) {
		fn = emu_sse_select(in);
	} else if (in->map == 0 && c == 0x90 && !(rex & 1)) {
		fn = pfx & PFX_REP ? op_pause : op_nop; /* not XCHG eAX,eAX: no zero-extension */
	} else if (in->map == 0 && (c & 0xf8) == 0x90) {
		in->reg = X86_RAX;
	} else if (in->map == 1) {
		if (c == 0xb8)
			fn = pfx & PFX_REP ? op_popcnt : NULL;
		else if (c == 0xbc && (pfx & PFX_REP))
			fn = op_tzcnt;
		else if (c == 0xbd && (pfx & PFX_REP))
			fn = op_lzcnt;
		else if (c == 0xc7 && !(f & SYS) && (!in->has_mem))
			fn = NULL; /* CMPXCHG8B needs memory */
	}
	if ((f & INV) && m64)
		fn = NULL;
	if ((pfx & PFX_LOCK) && (!(f & LK) || !in->has_mem))
		fn = NULL;
	if (!fn) {
		fn = op_ud;
		f |= END;
	} else if (!(f & (SYS | X87 | SSE))) {
		fn = emu_misc_specialize(emu_alu_specialize(fn, in->opsize), in->opsize);
	}
	in->exec = fn;
	/* 2: a system instruction, which may change what later blocks
	 * depend on (paging, mode, interrupt flag). */
	in->ends_block = (f & END) ? ((f & (SYS | X87 | SSE)) ? 2 : 1) : 0;
	return pos;

out_of_bytes:
	if (avail < 15)
		return 0; /* more bytes may follow */
	/* Longer than 15 bytes: #GP(0) when executed. */
	memset(in, 0, sizeof(*in));
	in->exec = op_gp0;
	in->len = 15;
	in->opsize = in->addrsize = 4;
	in->base = in->index = EMU_NOREG;
	in->ends_block = 1;
	return 15;
}

/* Decodes the instruction at linear address la, fetching the next page only
 * when the instruction really continues there (a fault on it is then
 * architectural). */
int emu_decode(struct emu_cpu *cpu, uint64_t la, struct emu_insn *in)
{
	enum emu_code_mode mode = cpu->code_mode;
	unsigned avail = 4096 - (la & 4095);
	const uint8_t *p = gpa_to_host(cpu->mem, emu_fetch_gpa(cpu, la), avail < 15 ? avail : 15);
	uint8_t buf[15];
	int n;

	if (!p)
		emu_raise_err(cpu, EXC_GP, 0); /* executing outside RAM */
	n = emu_decode_bytes(p, avail, mode, in);
	if (n)
		return n;
	memcpy(buf, p, avail);
	p = gpa_to_host(cpu->mem, emu_fetch_gpa(cpu, la + avail), 15 - avail);
	if (!p)
		emu_raise_err(cpu, EXC_GP, 0);
	memcpy(buf + avail, p, 15 - avail);
	return emu_decode_bytes(buf, 15, mode, in);
}

uint64_t emu_ea(struct emu_cpu *cpu, const struct emu_insn *in)
{
	return ea_of(cpu, in);
}
