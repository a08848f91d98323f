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
#include "cpu/emu/translate.h"

/* The most one instruction emits (with the far call form). */
#define INSN_MAX_BYTES 96

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
		bytes(&e, "\x48\x89\xdf\x48\xbe", 5);                     /* mov rdi, rbx; mov rsi, imm64 */
		b8(&e, (uint64_t)(uintptr_t)in);
		call(&e, (const void *)in->exec);
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
