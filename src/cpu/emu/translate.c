/* Call-threaded translation of decoded blocks into host code.
 *
 * The interpreter's loop (exec.c) calls each instruction's handler through
 * one indirect call site, which the host's branch predictor misses at
 * nearly every instruction of a varied block (the profile in
 * docs/emu-speed.md: a third of a handler's samples sit on its first
 * instruction).  A translated block is the same loop unrolled: for each
 * instruction a direct call to its handler with the decoded instruction as
 * an immediate, so every call site has one target.  The handlers, the
 * state they see and the order of every store are the interpreter's, so a
 * translated block is exact wherever the interpreter is: RIP, next_rip and
 * insn_count are in the emu_cpu before each handler runs (a fault's longjmp
 * out of a handler leaves them as the interpreter would), and exit_block
 * ends the block after the instruction that set it.
 *
 * Generated code (x86-64 System V):
 *     push rbx; mov rbx, rdi                   cpu in rbx for the block
 *   per instruction:
 *     mov rax, [rbx+rip]; add rax, len; (mask to 32/16 bits); mov [rbx+next_rip], rax
 *     mov rdi, rbx; mov rsi, insn; call handler
 *     mov rax, [rbx+next_rip]; mov [rbx+rip], rax; inc qword [rbx+insn_count]
 *     cmp byte [rbx+exit_block], 0; jne out     (not after the last)
 *   out: pop rbx; ret */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/flags.h"
#include "cpu/emu/translate.h"

/* The most one instruction emits (with the far call form). */
#define INSN_MAX_BYTES 256

int emu_code_buf_init(struct emu_code_buf *cb, size_t size)
{
	void *rw, *rx, *hint;
	int fd;

	memset(cb, 0, sizeof(*cb));
	fd = memfd_create("symbiont-emu-code", MFD_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		goto fail;
	}
	/* Near the handlers if the kernel lets us, so calls are rel32. */
	hint = (void *)(((uintptr_t)&emu_code_buf_init & ~(uintptr_t)0xfffff) - ((uintptr_t)1 << 30));
	rx = mmap(hint, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	if (rx == MAP_FAILED) {
		close(fd);
		goto fail;
	}
	rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (rw == MAP_FAILED) {
		munmap(rx, size);
		goto fail;
	}
	cb->rw = rw;
	cb->rx = rx;
	cb->size = size;
	return 0;
fail:
	cb->failed = true;
	return -1;
}

void emu_code_buf_free(struct emu_code_buf *cb)
{
	if (cb->rw)
		munmap(cb->rw, cb->size);
	if (cb->rx)
		munmap((void *)cb->rx, cb->size);
	memset(cb, 0, sizeof(*cb));
}

struct emitter {
	uint8_t *p;        /* where the next byte goes (rw view) */
	intptr_t rx_delta; /* rx address - rw address */
};

static void b1(struct emitter *e, uint8_t v)
{
	*e->p++ = v;
}

static void b4(struct emitter *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static void b8(struct emitter *e, uint64_t v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

static void bytes(struct emitter *e, const char *s, unsigned n)
{
	memcpy(e->p, s, n);
	e->p += n;
}

/* op [rbx+disp32] with a 48 REX.W prefix and ModRM reg field r. */
static void rbx_mem(struct emitter *e, uint8_t opcode, unsigned r, size_t disp)
{
	b1(e, 0x48);
	b1(e, opcode);
	b1(e, (uint8_t)(0x80 | (r << 3) | 3)); /* mod 10, rm = rbx */
	b4(e, (uint32_t)disp);
}

static void call(struct emitter *e, const void *target)
{
	intptr_t next = (intptr_t)e->p + e->rx_delta + 5;
	intptr_t rel = (intptr_t)target - next;
	if (rel == (int32_t)rel) {
		b1(e, 0xe8);
		b4(e, (uint32_t)(int32_t)rel);
		return;
	}
	bytes(e, "\x48\xb8", 2); /* mov rax, imm64; call rax */
	b8(e, (uint64_t)(uintptr_t)target);
	bytes(e, "\xff\xd0", 2);
}

static uint8_t *jcc32(struct emitter *e, uint8_t cc)
{
	b1(e, 0x0f);
	b1(e, cc);
	b4(e, 0);
	return e->p - 4;
}

static void patch32(uint8_t *at, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (at + 4));
	memcpy(at, &rel, 4);
}

#define GPR(r)  (offsetof(struct emu_cpu, gpr) + 8 * (size_t)(r))
#define CC_JNE  0x85
#define CC_JA   0x87
#define TLB_OFF offsetof(struct emu_cpu, tlb)

_Static_assert(EMU_TLB_SIZE == 256, "the inline TLB index is one byte");

/* MOV r/m, r (89) and MOV r, r/m (8B) of 4 or 8 bytes in 64-bit code, the
 * memory operand through DS/ES/SS/CS (base 0): a third of the sha256
 * workload's instructions.  Inline: the register move, or the address, the
 * TLB compare emu_read_la/emu_write_la make (same tag, mask and page-end
 * test) and the host access.  Anything else (a miss, an I/O or protected
 * page, a non-canonical address) calls the handler, which does it all
 * again the interpreter's way. */
static bool inline_mov(const struct emu_insn *in, unsigned mode)
{
	return mode == EMU_MODE64 && in->map == 0 && (in->opcode == 0x89 || in->opcode == 0x8b) && !in->vex &&
	       !(in->prefix & PFX_LOCK) && (in->opsize == 4 || in->opsize == 8) &&
	       (!in->has_mem || (in->addrsize == 8 && in->seg < SEG_FS));
}

static void emit_mov(struct emitter *e, const struct emu_insn *in)
{
	bool store = in->opcode == 0x89, q = in->opsize == 8;
	uint8_t *slow[4], *done;
	unsigned nslow = 0;

	if (!in->has_mem) {
		unsigned dst = store ? in->rm : in->reg, src = store ? in->reg : in->rm;
		if (q)
			rbx_mem(e, 0x8b, 0, GPR(src)); /* mov rax, [gpr src] */
		else {
			b1(e, 0x8b); /* mov eax, [gpr src] (zero-extends) */
			b1(e, 0x83);
			b4(e, (uint32_t)GPR(src));
		}
		rbx_mem(e, 0x89, 0, GPR(dst)); /* mov [gpr dst], rax */
		return;
	}
	/* rdx = the linear address (rax holds next_rip, for RIP-relative) */
	if (in->base < 16)
		rbx_mem(e, 0x8b, 2, GPR(in->base)); /* mov rdx, [gpr base] */
	else if (in->base == EMU_RIPREL)
		bytes(e, "\x48\x89\xc2", 3); /* mov rdx, rax */
	else
		bytes(e, "\x31\xd2", 2); /* xor edx, edx */
	if (in->index != EMU_NOREG) {
		rbx_mem(e, 0x8b, 1, GPR(in->index)); /* mov rcx, [gpr index] */
		if (in->scale) {
			bytes(e, "\x48\xc1\xe1", 3); /* shl rcx, scale */
			b1(e, in->scale);
		}
		bytes(e, "\x48\x01\xca", 3); /* add rdx, rcx */
	}
	if (in->disp) {
		bytes(e, "\x48\x81\xc2", 3); /* add rdx, disp32 */
		b4(e, (uint32_t)in->disp);
	}
	/* canonical */
	bytes(e, "\x48\x89\xd1\x48\xc1\xe1\x10\x48\xc1\xf9\x10\x48\x39\xd1", 14);
	slow[nslow++] = jcc32(e, CC_JNE);
	/* rcx = entry offset: ((la >> 12) & 255) * sizeof(entry) */
	bytes(e, "\x48\x89\xd1\x48\xc1\xe9\x0c\x0f\xb6\xc9\x48\x69\xc9", 13);
	b4(e, (uint32_t)sizeof(struct emu_tlb_entry));
	/* rsi = the tag */
	bytes(e, "\x48\x8b\xb4\x0b", 4);
	b4(e, (uint32_t)(TLB_OFF + (store ? offsetof(struct emu_tlb_entry, tag_write)
	                                  : offsetof(struct emu_tlb_entry, tag_read))));
	/* rdi = emu_tlb_mask: CPL 3 ~TLB_USER, else ~(TLB_SUPER|TLB_USER) | smap_bits */
	b1(e, 0x83); /* cmp dword [rbx+cpl], 3 */
	b1(e, 0xbb);
	b4(e, (uint32_t)offsetof(struct emu_cpu, cpl));
	b1(e, 3);
	bytes(e, "\x74\x0d", 2);                                  /* je user */
	rbx_mem(e, 0x8b, 7, offsetof(struct emu_cpu, smap_bits)); /* mov rdi, [smap_bits] (7 bytes) */
	bytes(e, "\x48\x83\xcf\xf6", 4);                          /* or rdi, ~9 */
	bytes(e, "\xeb\x07", 2);                                  /* jmp masked */
	bytes(e, "\x48\xc7\xc7\xf7\xff\xff\xff", 7);              /* user: mov rdi, ~8 */
	/* masked: */
	bytes(e, "\x48\x21\xfe", 3);                              /* and rsi, rdi */
	bytes(e, "\x48\x89\xd7\x48\x81\xe7\x00\xf0\xff\xff", 10); /* mov rdi, rdx; and rdi, ~0xfff */
	bytes(e, "\x48\x39\xfe", 3);                              /* cmp rsi, rdi */
	slow[nslow++] = jcc32(e, CC_JNE);
	bytes(e, "\x89\xd7\x81\xe7\xff\x0f\x00\x00\x81\xff", 10); /* mov edi, edx; and edi, 0xfff; cmp edi, imm */
	b4(e, 0x1000u - in->opsize);
	slow[nslow++] = jcc32(e, CC_JA);
	bytes(e, "\x48\x03\x94\x0b", 4); /* add rdx, [entry.addend] */
	b4(e, (uint32_t)(TLB_OFF + offsetof(struct emu_tlb_entry, addend)));
	if (store) {
		if (q)
			rbx_mem(e, 0x8b, 0, GPR(in->reg)); /* mov rax, [gpr] */
		else {
			b1(e, 0x8b); /* mov eax, [gpr] */
			b1(e, 0x83);
			b4(e, (uint32_t)GPR(in->reg));
		}
		bytes(e, q ? "\x48\x89\x02" : "\x89\x02", q ? 3 : 2); /* mov [rdx], rax/eax */
	} else {
		bytes(e, q ? "\x48\x8b\x02" : "\x8b\x02", q ? 3 : 2); /* mov rax/eax, [rdx] */
		rbx_mem(e, 0x89, 0, GPR(in->reg));                    /* mov [gpr], rax */
	}
	b1(e, 0xe9); /* jmp done */
	done = e->p;
	b4(e, 0);
	for (unsigned i = 0; i < nslow; i++)
		patch32(slow[i], e->p);
	bytes(e, "\x48\x89\xdf\x48\xbe", 5); /* slow: the handler */
	b8(e, (uint64_t)(uintptr_t)in);
	call(e, (const void *)in->exec);
	patch32(done, e->p);
}

/* mov eax/rax (hr 0) or ecx/rcx (hr 1), [gpr r]: 4 bytes zero-extend. */
static void load_gpr(struct emitter *e, unsigned hr, unsigned r, bool q)
{
	if (q)
		b1(e, 0x48);
	b1(e, 0x8b);
	b1(e, (uint8_t)(0x80 | (hr << 3) | 3));
	b4(e, (uint32_t)GPR(r));
}

/* The ALU's register forms of 4 or 8 bytes in 64-bit code (ADD OR AND SUB
 * XOR CMP, both directions, and TEST): the operation and the lazy flags
 * record alu.c's alu() makes (cc_set: op, size, result, operands, or 0, 0
 * for the logical ones). */
static int alu_kind(const struct emu_insn *in, unsigned mode)
{
	if (mode != EMU_MODE64 || in->map != 0 || in->vex || in->has_mem || (in->prefix & PFX_LOCK) ||
	    (in->opsize != 4 && in->opsize != 8))
		return -1;
	switch (in->opcode) {
	case 0x01:
	case 0x03: return 0x01; /* add */
	case 0x09:
	case 0x0b: return 0x09; /* or */
	case 0x21:
	case 0x23: return 0x21; /* and */
	case 0x29:
	case 0x2b: return 0x29; /* sub */
	case 0x31:
	case 0x33: return 0x31; /* xor */
	case 0x39:
	case 0x3b: return 0x39; /* cmp: a sub without the write */
	case 0x85: return 0x85; /* test: an and without the write */
	default: return -1;
	}
}

static void emit_alu(struct emitter *e, const struct emu_insn *in, int kind)
{
	bool q = in->opsize == 8, to_reg = (in->opcode & 2) != 0 && in->opcode != 0x85;
	unsigned dst = to_reg ? in->reg : in->rm, src = to_reg ? in->rm : in->reg;
	bool write = kind != 0x39 && kind != 0x85, arith = kind == 0x01 || kind == 0x29 || kind == 0x39;
	uint8_t host_op = kind == 0x39 ? 0x29 : kind == 0x85 ? 0x21 : (uint8_t)kind;
	uint32_t cc_op = kind == 0x01 ? EMU_CC_ADD : arith ? EMU_CC_SUB : EMU_CC_LOGIC;

	load_gpr(e, 0, dst, q);      /* rax = a (the destination operand) */
	load_gpr(e, 1, src, q);      /* rcx = b */
	bytes(e, "\x48\x89\xc2", 3); /* mov rdx, rax */
	if (q)
		b1(e, 0x48);
	b1(e, host_op); /* op edx/rdx, ecx/rcx (a 4-byte result zero-extends) */
	b1(e, 0xca);
	if (write)
		rbx_mem(e, 0x89, 2, GPR(dst)); /* mov [gpr dst], rdx */
	b1(e, 0xc7);                           /* mov dword [cc.op], imm32 */
	b1(e, 0x83);
	b4(e, (uint32_t)(offsetof(struct emu_cpu, cc) + offsetof(struct emu_flags, op)));
	b4(e, cc_op);
	b1(e, 0xc6); /* mov byte [cc.size], imm8 */
	b1(e, 0x83);
	b4(e, (uint32_t)(offsetof(struct emu_cpu, cc) + offsetof(struct emu_flags, size)));
	b1(e, in->opsize);
	rbx_mem(e, 0x89, 2, offsetof(struct emu_cpu, cc) + offsetof(struct emu_flags, dst));
	if (!arith)
		bytes(e, "\x31\xc0\x31\xc9", 4); /* xor eax, eax; xor ecx, ecx */
	rbx_mem(e, 0x89, 0, offsetof(struct emu_cpu, cc) + offsetof(struct emu_flags, src1));
	rbx_mem(e, 0x89, 1, offsetof(struct emu_cpu, cc) + offsetof(struct emu_flags, src2));
}

emu_code_fn emu_translate(struct emu_code_buf *cb, const struct emu_insn *insns, unsigned n, unsigned mode)
{
	struct emitter e;
	uint8_t *start, *out_fix[256];
	unsigned nfix = 0;

	if (cb->failed || !cb->rw || !n || n > 256)
		return NULL;
	if (cb->used + 16 + (size_t)n * INSN_MAX_BYTES > cb->size) {
		cb->full = true;
		return NULL;
	}
	start = cb->rw + cb->used;
	e.p = start;
	e.rx_delta = (intptr_t)cb->rx - (intptr_t)cb->rw;
	bytes(&e, "\x53\x48\x89\xfb", 4); /* push rbx; mov rbx, rdi */
	for (unsigned i = 0; i < n; i++) {
		const struct emu_insn *in = &insns[i];
		rbx_mem(&e, 0x8b, 0, offsetof(struct emu_cpu, rip)); /* mov rax, [rbx+rip] */
		bytes(&e, "\x48\x83\xc0", 3);                        /* add rax, imm8 */
		b1(&e, in->len);
		if (mode == EMU_MODE32)
			bytes(&e, "\x89\xc0", 2); /* mov eax, eax */
		else if (mode == EMU_MODE16)
			bytes(&e, "\x0f\xb7\xc0", 3);                     /* movzx eax, ax */
		rbx_mem(&e, 0x89, 0, offsetof(struct emu_cpu, next_rip)); /* mov [rbx+next_rip], rax */
		int kind = alu_kind(in, mode);
		if (kind >= 0) {
			emit_alu(&e, in, kind);
			cb->inlined++;
		} else if (inline_mov(in, mode)) {
			emit_mov(&e, in);
			cb->inlined++;
		} else {
			bytes(&e, "\x48\x89\xdf\x48\xbe", 5); /* mov rdi, rbx; mov rsi, imm64 */
			b8(&e, (uint64_t)(uintptr_t)in);
			call(&e, (const void *)in->exec);
		}
		rbx_mem(&e, 0x8b, 0, offsetof(struct emu_cpu, next_rip));   /* mov rax, [rbx+next_rip] */
		rbx_mem(&e, 0x89, 0, offsetof(struct emu_cpu, rip));        /* mov [rbx+rip], rax */
		rbx_mem(&e, 0xff, 0, offsetof(struct emu_cpu, insn_count)); /* inc qword [rbx+insn_count] */
		if (i + 1 < n) {
			b1(&e, 0x80); /* cmp byte [rbx+exit_block], 0 */
			b1(&e, 0xbb);
			b4(&e, (uint32_t)offsetof(struct emu_cpu, exit_block));
			b1(&e, 0);
			bytes(&e, "\x0f\x85", 2); /* jne out */
			out_fix[nfix++] = e.p;
			b4(&e, 0);
		}
	}
	for (unsigned i = 0; i < nfix; i++) {
		int32_t rel = (int32_t)(e.p - (out_fix[i] + 4));
		memcpy(out_fix[i], &rel, 4);
	}
	bytes(&e, "\x5b\xc3", 2); /* out: pop rbx; ret */
	cb->used = (size_t)(e.p - cb->rw + 15) & ~(size_t)15;
	return (emu_code_fn)(uintptr_t)(cb->rx + (start - cb->rw));
}
