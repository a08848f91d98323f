/* The emu execution loop and block cache on small 64-bit guest programs:
 * loops through cached blocks, self-modifying code inside the running
 * block and in a block cached earlier, an instruction crossing a page
 * boundary whose second page is rewritten, long REP STOS/MOVS that the loop
 * interrupts and resumes, a #DE delivered through the IDT, single-step
 * traps, and REP STOS clearing a page that holds cached code.
 *
 * The guest programs are assembled by the host toolchain into .rodata (never
 * run natively) and copied into guest memory, which is identity-mapped with
 * 2 MiB pages.  Each program ends with HLT, which makes emu_exec return. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/emu/block.h"
#include "cpu/emu/sys.h"
#include "cpu/engine.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

__attribute__((weak)) void emu_check_interrupts(struct emu_cpu *cpu)
{
	(void)cpu;
}

#define MEM_SIZE (16ULL << 20)
#define CODE     0x100000ULL
#define STACK    0x200000ULL
#define GDT      0x5000ULL
#define IDT      0x6000ULL

#define PROG(name) extern const uint8_t name##_start[], name##_end[];
/* clang-format off */
PROG(p_loop) PROG(p_smc) PROG(p_smc2) PROG(p_cross) PROG(p_rep) PROG(p_div) PROG(p_tf) PROG(p_clr)
PROG(p_real) PROG(p_spin) PROG(p_fid) PROG(p_nmi) PROG(p_msr) PROG(p_dbg) PROG(p_mov) PROG(p_alu)
        /* clang-format on */
        extern const uint8_t p_clr_fn[];
extern const uint8_t p_nmi_handler[];
extern const uint8_t p_div_fault[], p_mov_fault[], p_mov_data[];
extern const uint8_t p_dbg_gd[], p_dbg_icebp[], p_dbg_popf[], p_dbg_movss[], p_dbg_movss_next[], p_dbg_int3_next[],
        p_dbg_sti[], p_dbg_rep[], p_dbg_store[];

__asm__(".section .rodata\n"
        ".balign 4096\n"
        "p_msr_start:\n" /* two writes of IA32_SYSENTER_CS, then read it back */
        "  mov $0x174, %ecx\n"
        "  mov $0x1234, %eax\n"
        "  xor %edx, %edx\n"
        "  wrmsr\n"
        "  mov $0x5678, %eax\n"
        "  wrmsr\n"
        "  rdmsr\n"
        "  hlt\n"
        "p_msr_end:\n"
        ".balign 4096\n"
        "p_loop_start:\n"
        "  xor %eax, %eax\n"
        "  mov $1000, %ecx\n"
        "1: add %rcx, %rax\n"
        "  dec %ecx\n"
        "  jnz 1b\n"
        "  hlt\n"
        "p_loop_end:\n"

        ".balign 4096\n"
        "p_smc_start:\n"
        "  movb $42, 2f+1(%rip)\n" /* rewrites the next instruction's immediate */
        "2: mov $7, %eax\n"
        "  hlt\n"
        "p_smc_end:\n"

        ".balign 4096\n"
        "p_smc2_start:\n"
        "  call 3f\n"
        "  mov %eax, %ebx\n"
        "  movb $9, 3f+1(%rip)\n" /* rewrites a block cached by the first call */
        "  call 3f\n"
        "  hlt\n"
        "3: mov $5, %eax\n"
        "  ret\n"
        "p_smc2_end:\n"

        ".balign 4096\n"
        "p_cross_start:\n"
        "  xor %ebx, %ebx\n"
        "  jmp 4f\n"
        "  .skip 4096 - 3 - 4 - 2, 0x90\n" /* movabs starts 4 bytes before the page end */
        "4: movabs $0x1122334455667788, %rax\n"
        "  test %ebx, %ebx\n"
        "  jnz 5f\n"
        "  inc %ebx\n"
        "  movb $0x99, 4b+9(%rip)\n" /* top immediate byte, on the second page */
        "  jmp 4b\n"
        "5: hlt\n"
        "p_cross_end:\n"

        ".balign 4096\n"
        "p_rep_start:\n"
        "  mov $0x300000, %rdi\n"
        "  mov $0x280001, %rcx\n" /* 2.5 MiB + 1: several chunks and pages */
        "  mov $0xab, %al\n"
        "  rep stosb\n"
        "  mov $0x300000, %rsi\n"
        "  mov $0x700000, %rdi\n"
        "  mov $0x50000, %ecx\n"
        "  rep movsq\n"
        "  hlt\n"
        "p_rep_end:\n"

        ".balign 4096\n"
        "p_div_start:\n"
        "  lea 6f(%rip), %rax\n" /* IDT[0] = a 64-bit interrupt gate to 6f */
        "  mov %ax, 0x6000\n"
        "  movw $8, 0x6002\n"
        "  movw $0x8e00, 0x6004\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x6006\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x6008\n"
        "  movl $0, 0x600c\n"
        "  xor %edx, %edx\n"
        "  mov $1, %eax\n"
        "  xor %ecx, %ecx\n"
        "p_div_fault: div %ecx\n"
        "  hlt\n"
        "6: mov $0xde, %ebx\n"
        "  hlt\n"
        "p_div_end:\n"

        ".balign 4096\n"
        "p_mov_start:\n"         /* the MOV forms translate.c inlines, and their slow paths */
        "  lea 7f(%rip), %rax\n" /* IDT[13] = a 64-bit interrupt gate to 7f */
        "  mov %ax, 0x60d0\n"
        "  movw $8, 0x60d2\n"
        "  movw $0x8e00, 0x60d4\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x60d6\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x60d8\n"
        "  movl $0, 0x60dc\n"
        "  mov $0x400000, %rsi\n"
        "  mov $3, %rcx\n"
        "  mov $-1, %r10\n"
        "  movabs $0x1122334455667788, %rax\n"
        "  mov %rax, (%rsi)\n"
        "  mov %eax, 8(%rsi,%rcx,8)\n"
        "  mov (%rsi), %rdx\n"
        "  mov 8(%rsi,%rcx,8), %edi\n"
        "  mov %rdx, %r9\n"
        "  mov %edx, %r10d\n"
        "  mov p_mov_data(%rip), %r11\n"
        "  mov %r11, p_mov_data+8(%rip)\n" /* a page with code: the slow path */
        "  mov $0xffc, %r8\n"
        "  mov %rax, 0x400000(%r8)\n" /* crosses the page end: the slow path */
        "  mov 0x400000(%r8), %r12\n"
        "  mov %ss:0x400000, %rbp\n"
        "  movabs $0x8000000000000000, %r13\n"
        "p_mov_fault: mov (%r13), %r14\n" /* not canonical: #GP(0) */
        "  hlt\n"
        "7: mov 8(%rsp), %r15\n" /* the faulting RIP, above the error code */
        "  hlt\n"
        "p_mov_data: .quad 0x5566778899aabbcc, 0\n"
        "p_mov_end:\n"

        ".balign 4096\n"
        "p_alu_start:\n" /* the ALU register forms translate.c inlines; flags read back */
        "  movabs $0xffffffff00000001, %rax\n"
        "  mov $0xffffffff, %ecx\n"
        "  add %ecx, %eax\n" /* 32-bit: 0, CF ZF, upper half cleared */
        "  pushfq\n"
        "  mov $5, %rdx\n"
        "  sub %rcx, %rdx\n" /* borrow, negative */
        "  pushfq\n"
        "  cmp %rdx, %rcx\n"
        "  pushfq\n"
        "  cmp %ecx, %edx\n"
        "  pushfq\n"
        "  mov $-1, %r13\n"
        "  xor %r13d, %r13d\n"
        "  pushfq\n"
        "  movabs $0x8000000000000080, %r14\n"
        "  test %r14, %r14\n"
        "  pushfq\n"
        "  mov %r14, %r15\n"
        "  or %rcx, %r15\n"
        "  and %r14d, %r13d\n"
        "  .byte 0x4c, 0x03, 0xf9\n" /* add %rcx, %r15 in the 03 direction */
        "  pushfq\n"
        "  .byte 0x48, 0x2b, 0xd1\n" /* sub %rcx, %rdx in the 2B direction */
        "  adc %rdx, %rdx\n"         /* a handler reading the inline flags */
        "  pushfq\n"
        "  xor %ebx, %ebx\n"
        "  seto %bl\n"
        "  hlt\n"
        "p_alu_end:\n"

        ".balign 4096\n"
        "p_tf_start:\n"
        "  lea 7f(%rip), %rax\n" /* IDT[1] = a 64-bit interrupt gate to 7f */
        "  mov %ax, 0x6010\n"
        "  movw $8, 0x6012\n"
        "  movw $0x8e00, 0x6014\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x6016\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x6018\n"
        "  movl $0, 0x601c\n"
        "  xor %r15d, %r15d\n"
        "  pushfq\n"
        "  orq $0x100, (%rsp)\n"
        "  popfq\n" /* the first trap comes after the next instruction */
        "  nop\n"
        "  nop\n"
        "  add $1, %r14\n"
        "  hlt\n"
        "7: inc %r15\n"
        "  cmpq $3, %r15\n" /* clear TF in the frame after three traps */
        "  jne 8f\n"
        "  andq $~0x100, 16(%rsp)\n"
        "8: iretq\n"
        "p_tf_end:\n"

        /* Faults the SDM requires of system instructions and MSRs: each
         * try sets the resume address at 0x7000; the #GP handler counts
         * in r12, keeps the error code in r13 and resumes there. */
        ".balign 4096\n"
        "p_fid_start:\n"
        "  lea 9f(%rip), %rax\n" /* IDT[13] = a 64-bit interrupt gate to 9f */
        "  mov %ax, 0x60d0\n"
        "  movw $8, 0x60d2\n"
        "  movw $0x8e00, 0x60d4\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x60d6\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x60d8\n"
        "  movl $0, 0x60dc\n"
        "  xor %r12d, %r12d\n"
        "  mov $0x5555, %r13\n"
        "  movw $0xffff, 0x7100\n" /* a GDT/IDT image with a non-canonical base */
        "  movabs $0x8000000000005000, %rax\n"
        "  mov %rax, 0x7102\n"
        "  lea 1f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  lgdt 0x7100\n" /* #GP(0) */
        "1: mov %r12, %r8\n"
        "  mov %r13, %r9\n"
        "  lea 2f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  mov $0x48, %ecx\n" /* SPEC_CTRL: not enumerated, so #GP */
        "  xor %eax, %eax\n"
        "  xor %edx, %edx\n"
        "  wrmsr\n"
        "2: lea 3f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  mov $0x49, %ecx\n" /* PRED_CMD: likewise */
        "  mov $1, %eax\n"
        "  xor %edx, %edx\n"
        "  wrmsr\n"
        "3: lea 4f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  mov $0x1a0, %ecx\n" /* MISC_ENABLE: read/write bits stick */
        "  mov $0x10009, %eax\n"
        "  xor %edx, %edx\n"
        "  wrmsr\n"
        "  rdmsr\n"
        "  mov %rax, %r10\n"
        "  mov $0x10003, %eax\n" /* bit 1 is reserved: #GP, nothing changes */
        "  wrmsr\n"
        "4: rdmsr\n"
        "  mov %rax, %r11\n"
        "  mov $1, %eax\n"
        "  cpuid\n" /* the APIC is globally disabled here (APIC_BASE 0) */
        "  mov %edx, %r14d\n"
        "  movw $39, 0x7200\n" /* the GDT grows by a 16-byte TSS descriptor at 0x18 */
        "  movq $0x5000, 0x7202\n"
        "  lgdt 0x7200\n"
        "  movabs $0x0000890000000067, %rax\n" /* present, available 64-bit TSS */
        "  mov %rax, 0x5018\n"
        "  movl $0x80000000, 0x5020\n" /* base[63:32]: not canonical */
        "  movl $0, 0x5024\n"
        "  lea 6f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  mov $0x18, %eax\n"
        "  ltr %ax\n" /* #GP(0x18) */
        "6: mov %r13, %r15\n"
        "  lea 5f(%rip), %rax\n"
        "  mov %rax, 0x7000\n"
        "  lidt 0x7100\n" /* #GP(0), the IDT kept */
        "5: hlt\n"
        "9: pop %r13\n"
        "  inc %r12\n"
        "  mov 0x7000, %rax\n"
        "  mov %rax, (%rsp)\n"
        "  iretq\n"
        "p_fid_end:\n"

        /* NMIs: the handler counts in r12 and keeps the first frame's RIP
         * in r13. */
        ".balign 4096\n"
        "p_nmi_start:\n"
        "  nop\n" /* in the shadow the test starts with (r12, r13 start at 0) */
        "  nop\n"
        "  nop\n"
        "  hlt\n"
        "p_nmi_handler:\n"
        "  inc %r12\n"
        "  test %r13, %r13\n"
        "  jnz 1f\n"
        "  mov (%rsp), %r13\n"
        "1: iretq\n"
        "p_nmi_end:\n"

        /* Issue-17 debug corner cases.  The #DB handler (9f) logs each
         * #DB at 0x8000 + 64 * r15: the pushed RIP, DR6, the pushed
         * RFLAGS, DR7 and RCX; clears DR6 and returns with RF set (as a
         * debugger does).  The #BP handler (8f) counts in r13. */
        ".balign 4096\n"
        "p_dbg_start:\n"
        "  lea 9f(%rip), %rax\n" /* IDT[1] = an interrupt gate to 9f */
        "  mov %ax, 0x6010\n"
        "  movw $8, 0x6012\n"
        "  movw $0x8e00, 0x6014\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x6016\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x6018\n"
        "  lea 8f(%rip), %rax\n" /* IDT[3] = an interrupt gate to 8f */
        "  mov %ax, 0x6030\n"
        "  movw $8, 0x6032\n"
        "  movw $0x8e00, 0x6034\n"
        "  shr $16, %rax\n"
        "  mov %ax, 0x6036\n"
        "  shr $16, %rax\n"
        "  mov %eax, 0x6038\n"
        "  xor %r15d, %r15d\n"
        "  xor %r13d, %r13d\n"
        /* 0: general detect: the MOV DR faults, the handler sees GD clear */
        "  mov $0x2400, %eax\n"
        "  mov %rax, %dr7\n"
        "p_dbg_gd:\n"
        "  mov %dr0, %rax\n"
        /* 1: ICEBP: a trap after it, DR6 untouched */
        "  .byte 0xf1\n"
        "p_dbg_icebp:\n"
        /* 2-4: TF on; PUSHF, AND and a POPF that clears TF each trap */
        "  pushfq\n"
        "  orq $0x100, (%rsp)\n"
        "  popfq\n"
        "  pushfq\n"
        "  andq $~0x100, (%rsp)\n"
        "  popfq\n"
        "p_dbg_popf:\n"
        "  nop\n"
        /* 5-6: TF on; MOV SS holds its trap to after the next instruction */
        "  pushfq\n"
        "  orq $0x100, (%rsp)\n"
        "  popfq\n"
        "  mov %ss, %eax\n"
        "p_dbg_movss:\n"
        "  mov %eax, %ss\n"
        "  nop\n"
        "p_dbg_movss_next:\n"
        /* 7-8: INT3 (no trap after it: it clears TF; none after the
         * handler's IRET either), a trap after the next NOP, then STI */
        "  int3\n"
        "  nop\n"
        "p_dbg_int3_next:\n"
        "  sti\n"
        "p_dbg_sti:\n"
        /* 9-11: PUSHF, AND and the POPF clearing TF; none after CLI */
        "  pushfq\n"
        "  andq $~0x100, (%rsp)\n"
        "  popfq\n"
        "  cli\n"
        /* 12: a data breakpoint inside REP STOSB: a trap after the 6th
         * byte, RIP on the REP, RCX 10 left, RF = 1 pushed */
        "  mov $0x9005, %eax\n"
        "  mov %rax, %dr0\n"
        "  mov $0x10001, %eax\n" /* L0, R/W0 = 01 (write), LEN0 = 00 */
        "  mov %rax, %dr7\n"
        "  mov $0x9000, %edi\n"
        "  mov $16, %ecx\n"
        "  mov $0xab, %al\n"
        "  cld\n"
        "p_dbg_rep:\n"
        "  rep stosb\n"
        /* 13: the same byte by a plain store: RF = 0 pushed */
        "  movb $1, 0x9005\n"
        "p_dbg_store:\n"
        "  xor %eax, %eax\n"
        "  mov %rax, %dr7\n"
        "  hlt\n"
        "9: push %rax\n"
        "  push %rbx\n"
        "  mov %r15, %rbx\n"
        "  shl $6, %rbx\n"
        "  mov 16(%rsp), %rax\n"
        "  mov %rax, 0x8000(%rbx)\n"
        "  mov %dr6, %rax\n"
        "  mov %rax, 0x8008(%rbx)\n"
        "  mov 32(%rsp), %rax\n"
        "  mov %rax, 0x8010(%rbx)\n"
        "  mov %dr7, %rax\n"
        "  mov %rax, 0x8018(%rbx)\n"
        "  mov %rcx, 0x8020(%rbx)\n"
        "  xor %eax, %eax\n"
        "  mov %rax, %dr6\n"
        "  orq $0x10000, 32(%rsp)\n"
        "  inc %r15\n"
        "  pop %rbx\n"
        "  pop %rax\n"
        "  iretq\n"
        "8: inc %r13\n"
        "  iretq\n"
        "p_dbg_end:\n"

        ".balign 4096\n"
        "p_spin_start:\n"
        "1: pause\n" /* a spin-wait that nothing on this vCPU ends */
        "  jmp 1b\n"
        "p_spin_end:\n"

        ".balign 4096\n"
        "p_real_start:\n"
        ".code16\n"
        "  mov $0x2000, %ax\n"
        "  mov %ax, %ds\n"
        "  mov %ax, %es\n"
        "  mov $0x3000, %ax\n"
        "  mov %ax, %ss\n"
        "  mov $0x100, %sp\n"
        "  mov $0x10, %bx\n"
        "  mov $0x4, %si\n"
        "  movw $0x1234, 0x20(%bx,%si)\n" /* DS:0x34 */
        "  mov 0x20(%bx,%si), %cx\n"
        "  push %cx\n"
        "  pop %dx\n"
        "  call 1f\n"
        "  jmp 2f\n"
        "1: add $1, %dx\n"
        "  ret\n"
        "2: mov $5, %cx\n"
        "  xor %ax, %ax\n"
        "3: add %cx, %ax\n"
        "  loop 3b\n"
        "  mov %ax, %bp\n"
        "  mov $0x12345678, %eax\n" /* 66: 32-bit operand */
        "  mov %eax, 0x60(%ebx)\n"  /* 66 67: 32-bit address, DS:0x70 */
        "  cld\n"
        "  mov $0xab, %al\n"
        "  mov $0x50, %di\n"
        "  mov $3, %cx\n"
        "  rep stosb\n" /* ES:0x50..0x52 */
        "  hlt\n"
        ".code64\n"
        "p_real_end:\n"

        ".balign 4096\n"
        "p_clr_start:\n"
        "  call p_clr_fn\n" /* caches code on the next page */
        "  lea p_clr_fn(%rip), %rdi\n"
        "  mov $4096, %ecx\n"
        "  xor %eax, %eax\n"
        "  rep stosb\n" /* clear_page over it */
        "  hlt\n"
        ".balign 4096\n"
        "p_clr_fn: ret\n"
        ".balign 4096\n"
        "p_clr_end:\n"
        ".text\n");

static struct guest_mem gmem;
static struct emu_cpu *cpu;
/* The suite runs twice: interpreted, then with every block translated at
 * its first entry (translate.c), so each assertion holds for both. */
static bool translating;

static void setup_cpu(const uint8_t *start, const uint8_t *end)
{
	struct x86_seg code = { .sel = 0x08, .limit = 0xffffffff, .type = 0xb, .s = 1, .present = 1, .l = 1, .g = 1 };
	struct x86_seg data = { .sel = 0x10, .limit = 0xffffffff, .type = 0x3, .s = 1, .present = 1, .db = 1, .g = 1 };
	uint64_t *pml4 = (uint64_t *)(gmem.host + 0x1000), *pdpt = (uint64_t *)(gmem.host + 0x2000);
	uint64_t *pd = (uint64_t *)(gmem.host + 0x3000), *gdt = (uint64_t *)(gmem.host + GDT);

	memset(gmem.host, 0, MEM_SIZE);
	pml4[0] = 0x2000 | 3;
	pdpt[0] = 0x3000 | 3;
	for (int i = 0; i < 8; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;
	gdt[1] = 0x00af9b000000ffffULL; /* 64-bit code */
	gdt[2] = 0x00cf93000000ffffULL; /* data */
	memcpy(gmem.host + CODE, start, (size_t)(end - start));

	emu_blocks_free(cpu);
	memset(cpu, 0, sizeof(*cpu));
	cpu->mem = &gmem;
	for (int i = 0; i < SEG_COUNT; i++)
		cpu->seg[i] = data;
	cpu->seg[SEG_CS] = code;
	cpu->gdt.base = GDT, cpu->gdt.limit = 23;
	cpu->idt.base = IDT, cpu->idt.limit = 0xfff;
	cpu->tr = (struct x86_seg){ .type = 0xb, .present = 1, .limit = 0x67 };
	cpu->cr0 = CR0_PE | CR0_PG | CR0_NE | CR0_ET | CR0_WP;
	cpu->cr4 = CR4_PAE;
	cpu->efer = EFER_LME | EFER_LMA;
	cpu->cr3 = 0x1000;
	cpu->rflags = RFLAGS_FIXED;
	emu_set_rflags(cpu, RFLAGS_FIXED);
	cpu->rip = CODE;
	cpu->gpr[X86_RSP] = STACK;
	emu_update_mode(cpu);
	emu_tlb_flush(cpu, true);
	assert_int_equal(cpu->code_mode, EMU_MODE64);
	assert_int_equal(emu_blocks_translate(cpu, translating, 1), 0);
}

#define RUN(p)                                 \
	do {                                   \
		setup_cpu(p##_start, p##_end); \
		emu_exec(cpu);                 \
		assert_true(cpu->halted);      \
	} while (0)

static void test_loop(void **state)
{
	(void)state;
	RUN(p_loop);
	assert_int_equal(cpu->gpr[X86_RAX], 500500);
	assert_int_equal(cpu->gpr[X86_RCX], 0);
	/* 2 + 3 * 1000 + hlt */
	assert_int_equal(cpu->insn_count, 3003);
	assert_int_equal(cpu->rip, CODE + (uint64_t)(p_loop_end - p_loop_start));
}

static void test_smc_same_block(void **state)
{
	(void)state;
	RUN(p_smc);
	assert_int_equal(cpu->gpr[X86_RAX], 42);
	assert_true(cpu->blocks->invalidations >= 1);
}

static void test_smc_other_block(void **state)
{
	(void)state;
	RUN(p_smc2);
	assert_int_equal(cpu->gpr[X86_RBX], 5);
	assert_int_equal(cpu->gpr[X86_RAX], 9);
	assert_true(cpu->blocks->invalidations >= 1);
}

static void test_page_crossing(void **state)
{
	(void)state;
	RUN(p_cross);
	assert_int_equal(cpu->gpr[X86_RAX], 0x9922334455667788ULL);
	assert_true(cpu->blocks->invalidations >= 1);
}

static void test_rep_chunks(void **state)
{
	(void)state;
	RUN(p_rep);
	assert_int_equal(cpu->gpr[X86_RCX], 0);
	assert_int_equal(cpu->gpr[X86_RDI], 0x700000 + 0x50000 * 8);
	assert_int_equal(cpu->gpr[X86_RSI], 0x300000 + 0x50000 * 8);
	for (uint64_t a = 0x300000; a < 0x580001; a += 0x1001)
		assert_int_equal(gmem.host[a], 0xab);
	assert_int_equal(gmem.host[0x580000], 0xab);
	assert_int_equal(gmem.host[0x580001], 0);
	assert_memory_equal(gmem.host + 0x700000, gmem.host + 0x300000, 0x280000);
}

static void test_divide_error(void **state)
{
	(void)state;
	RUN(p_div);
	assert_int_equal(cpu->gpr[X86_RBX], 0xde);
	/* The frame holds the faulting RIP (the DIV itself). */
	uint64_t rip;
	memcpy(&rip, gmem.host + STACK - 40, 8);
	assert_int_equal(rip, CODE + (uint64_t)(p_div_fault - p_div_start));
}

static void test_mov_forms(void **state)
{
	(void)state;
	RUN(p_mov);
	assert_int_equal(cpu->gpr[X86_RDX], 0x1122334455667788ULL);
	assert_int_equal(cpu->gpr[X86_RDI], 0x55667788);
	assert_int_equal(cpu->gpr[X86_R9], 0x1122334455667788ULL);
	assert_int_equal(cpu->gpr[X86_R10], 0x55667788);
	assert_int_equal(cpu->gpr[X86_R11], 0x5566778899aabbccULL);
	assert_int_equal(cpu->gpr[X86_R12], 0x1122334455667788ULL);
	assert_int_equal(cpu->gpr[X86_RBP], 0x1122334455667788ULL);
	uint64_t copy;
	memcpy(&copy, gmem.host + CODE + (uint64_t)(p_mov_data - p_mov_start) + 8, 8);
	assert_int_equal(copy, 0x5566778899aabbccULL);
	assert_int_equal(cpu->gpr[X86_R15], CODE + (uint64_t)(p_mov_fault - p_mov_start));
	if (translating)
		assert_true(cpu->blocks->code.inlined >= 10);
}

static void test_alu_forms(void **state)
{
	(void)state;
	uint64_t fl;
	RUN(p_alu);
	assert_int_equal(cpu->gpr[X86_RAX], 0);
	memcpy(&fl, gmem.host + STACK - 8, 8); /* after the 32-bit ADD */
	assert_int_equal(fl & (RFLAGS_CF | RFLAGS_ZF), RFLAGS_CF | RFLAGS_ZF);
	memcpy(&fl, gmem.host + STACK - 16, 8); /* after SUB 5 - 0xffffffff */
	assert_int_equal(fl & (RFLAGS_CF | RFLAGS_SF), RFLAGS_CF | RFLAGS_SF);
	assert_int_equal(cpu->gpr[X86_R13], 0);
	if (translating)
		assert_true(cpu->blocks->code.inlined >= 10);
}

/* Issue-17 fidelity: non-canonical descriptor-table bases fault, MSRs the
 * CPUID does not enumerate fault, MISC_ENABLE keeps its read/write bits
 * and refuses reserved ones, CPUID.1:EDX.APIC follows APIC_BASE.EN. */
static void test_system_faults(void **state)
{
	(void)state;
	RUN(p_fid);
	assert_int_equal(cpu->gpr[8], 1); /* LGDT faulted... */
	assert_int_equal(cpu->gpr[9], 0); /* ...with error code 0 */
	assert_int_equal(cpu->gdt.base, GDT);
	assert_int_equal(cpu->gdt.limit, 39);
	assert_int_equal(cpu->idt.base, IDT);
	assert_int_equal(cpu->gpr[12], 6);    /* LGDT, SPEC_CTRL, PRED_CMD, reserved MISC_ENABLE bit, LTR, LIDT */
	assert_int_equal(cpu->gpr[15], 0x18); /* LTR's error code: the selector */
	assert_int_equal(cpu->tr.sel, 0);     /* the task register kept */
	assert_int_equal(cpu->gpr[10] & 0xffff, 0x0009);
	assert_int_equal(cpu->gpr[10] >> 16 & 1, 1);
	assert_int_equal(cpu->gpr[11], cpu->gpr[10]); /* the refused write changed nothing */
	assert_false(cpu->gpr[14] & (1u << 9));
}

/* Two NMIs that arrive together: one is handled and the other waits for
 * its IRET (not collapsed into one); and neither comes inside the
 * interrupt shadow the vCPU is in (STI's or MOV SS's). */
static void test_nmi_shadow_and_queue(void **state)
{
	(void)state;
	setup_cpu(p_nmi_start, p_nmi_end);
	uint64_t handler = CODE + (uint64_t)(p_nmi_handler - p_nmi_start);
	uint8_t *gate = gmem.host + IDT + 2 * 16;
	memset(gate, 0, 16);
	gate[0] = (uint8_t)handler, gate[1] = (uint8_t)(handler >> 8);
	gate[2] = 8;
	gate[5] = 0x8e;
	gate[6] = (uint8_t)(handler >> 16), gate[7] = (uint8_t)(handler >> 24);
	cpu->interrupt_shadow = true;
	emu_cpu_nmi(cpu);
	emu_cpu_nmi(cpu);
	emu_exec(cpu);
	assert_true(cpu->halted);
	assert_int_equal(cpu->gpr[12], 2);
	assert_int_equal(cpu->gpr[13], CODE + 1); /* after the first instruction, not before it */
}

static void test_single_step(void **state)
{
	(void)state;
	RUN(p_tf);
	/* Traps after nop, nop, add; the handler clears TF in the third frame. */
	assert_int_equal(cpu->gpr[15], 3);
	assert_int_equal(cpu->gpr[14], 1);
	assert_true(cpu->dr[6] & (1u << 14));
}

struct db_log {
	uint64_t rip, dr6, rflags, dr7, rcx, pad[3];
};

#define AT(label) (CODE + (uint64_t)(label - p_dbg_start))

/* Issue 17's debug corner cases (the SDM, vol. 3 ch. 18): general detect,
 * ICEBP, single-step after a POPF that clears TF, MOV SS holding a trap
 * back, INT3 and STI under TF, and RF pushed for a data breakpoint between
 * the iterations of a REP STOSB (and not for a plain store). */
static void test_debug_corners(void **state)
{
	(void)state;
	RUN(p_dbg);
	const struct db_log *l = (const struct db_log *)(gmem.host + 0x8000);
	const uint64_t bs = 1u << 14, bd = 1u << 13, rf = 1u << 16;
	assert_int_equal(cpu->gpr[15], 14);
	assert_int_equal(cpu->gpr[13], 1); /* the INT3 ran its handler */
	/* 0: GD: a fault on the MOV DR itself, BD, GD clear in the handler */
	assert_int_equal(l[0].rip, AT(p_dbg_gd));
	assert_true(l[0].dr6 & bd);
	assert_false(l[0].dr7 & (1u << 13));
	/* 1: ICEBP: the next RIP, no BS/BD/B0-B3 */
	assert_int_equal(l[1].rip, AT(p_dbg_icebp));
	assert_int_equal(l[1].dr6 & (bs | bd | 0xf), 0);
	/* 2-4: PUSHF, AND, and the POPF that cleared TF */
	assert_int_equal(l[4].rip, AT(p_dbg_popf));
	for (int i = 2; i <= 4; i++)
		assert_true(l[i].dr6 & bs);
	/* 5: after MOV r, SS (PUSHF/OR/POPF set TF: no trap, as TF was 0
	 * when the POPF began); 6: none after MOV SS, one after the NOP */
	assert_int_equal(l[5].rip, AT(p_dbg_movss));
	assert_int_equal(l[6].rip, AT(p_dbg_movss_next));
	assert_true(l[6].dr6 & bs);
	/* 7: nothing after INT3 or its handler's IRET; after the NOP */
	assert_int_equal(l[7].rip, AT(p_dbg_int3_next));
	/* 8: STI traps as any instruction */
	assert_int_equal(l[8].rip, AT(p_dbg_sti));
	/* 11: the POPF clearing TF; no trap after the CLI */
	assert_true(l[11].dr6 & bs);
	/* 12: the REP's sixth byte: RIP on the REP, 10 bytes left, RF = 1 */
	assert_int_equal(l[12].rip, AT(p_dbg_rep));
	assert_int_equal(l[12].rcx, 10);
	assert_int_equal(l[12].dr6 & 0xf, 1);
	assert_false(l[12].dr6 & bs);
	assert_true(l[12].rflags & rf);
	/* 13: a plain store: the next RIP, RF = 0 */
	assert_int_equal(l[13].rip, AT(p_dbg_store));
	assert_int_equal(l[13].dr6 & 0xf, 1);
	assert_false(l[13].rflags & rf);
	assert_int_equal(cpu->gpr[X86_RCX], 0); /* the REP finished */
	for (int i = 0; i < 16; i++)
		assert_int_equal(gmem.host[0x9000 + i], i == 5 ? 1 : 0xab);
}

/* An NMI taken between the iterations of a long REP STOSB pushes RF = 1;
 * one taken after a whole instruction pushes RF = 0. */
static void test_rep_interrupt_rf(void **state)
{
	(void)state;
	for (int mid = 0; mid < 2; mid++) {
		setup_cpu(p_nmi_start, p_nmi_end);
		uint64_t handler = CODE + (uint64_t)(p_nmi_handler - p_nmi_start);
		uint8_t *gate = gmem.host + IDT + 2 * 16;
		memset(gate, 0, 16);
		gate[0] = (uint8_t)handler, gate[1] = (uint8_t)(handler >> 8);
		gate[2] = 8;
		gate[5] = 0x8e;
		gate[6] = (uint8_t)(handler >> 16), gate[7] = (uint8_t)(handler >> 24);
		/* REP STOSB over 64 KiB with DF = 1 (the element-wise path): the
		 * first execution stops after its budget with RIP on it. */
		static const uint8_t rep_std[] = { 0xfd, 0xf3, 0xaa, 0xf4 }; /* std; rep stosb; hlt */
		memcpy(gmem.host + 0x180000, rep_std, sizeof(rep_std));
		cpu->rip = 0x180000;
		cpu->gpr[X86_RDI] = 0x4fffff;
		cpu->gpr[X86_RCX] = mid ? 0x10000 : 1;
		assert_int_equal(emu_step(cpu), -1); /* STD */
		assert_int_equal(emu_step(cpu), -1); /* REP STOSB, part or all of it */
		assert_int_equal(cpu->rip, mid ? 0x180001 : 0x180003);
		emu_cpu_nmi(cpu);
		emu_exec(cpu);
		assert_true(cpu->halted);
		assert_int_equal(cpu->gpr[12], 1);
		uint64_t flags;
		memcpy(&flags, gmem.host + STACK - 24, 8);
		assert_int_equal(!!(flags & RFLAGS_RF), mid);
		assert_int_equal(cpu->gpr[X86_RCX], 0);
	}
}

/* A REP MOVSB whose source is not RAM (every element takes the slow
 * path) with a huge count stops after a budget of elements, RIP still on
 * it, instead of holding the vCPU for the whole count (a fuzz find). */
static void test_rep_slow_elements_yield(void **state)
{
	(void)state;
	static const uint8_t rep_movsb[] = { 0xf3, 0xa4, 0xf4 };
	setup_cpu(rep_movsb, rep_movsb + sizeof(rep_movsb));
	((uint64_t *)(gmem.host + 0x3000))[8] = (8ULL << 21) | 0x83; /* 16..18 MiB: beyond RAM */
	emu_tlb_flush(cpu, true);
	cpu->gpr[X86_RSI] = 16ULL << 20;
	cpu->gpr[X86_RDI] = 0x300000;
	cpu->gpr[X86_RCX] = 1ULL << 40;
	assert_int_equal(emu_step(cpu), -1);
	assert_int_equal(cpu->rip, CODE);
	assert_true(cpu->gpr[X86_RCX] < (1ULL << 40) && cpu->gpr[X86_RCX] >= (1ULL << 40) - 65536);
	assert_int_equal(gmem.host[0x300000], 0xff); /* what reads of no device give */
}

static void test_clear_code_page(void **state)
{
	uint64_t page = CODE + (uint64_t)(p_clr_fn - p_clr_start);
	(void)state;
	RUN(p_clr);
	assert_int_equal(cpu->gpr[X86_RCX], 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(gmem.host[page + i], 0);
	assert_false(emu_page_has_code(cpu, page)); /* its blocks are gone, writes are fast again */
	assert_true(cpu->blocks->invalidations >= 1);
}

/* Real mode: 16-bit addressing, segment bases, 16-bit stack, CALL/RET,
 * LOOP, 66/67 prefixes, REP STOSB with ES:DI. */
static void test_real_mode(void **state)
{
	uint32_t v32;
	uint16_t v16;
	(void)state;
	setup_cpu(p_real_start, p_real_end);
	memmove(gmem.host + 0x10000, gmem.host + CODE, (size_t)(p_real_end - p_real_start));
	cpu->cr0 = CR0_ET;
	cpu->efer = 0;
	cpu->seg[SEG_CS] =
	        (struct x86_seg){ .sel = 0x1000, .base = 0x10000, .limit = 0xffff, .type = 0xb, .s = 1, .present = 1 };
	for (int i = 0; i < SEG_COUNT; i++)
		if (i != SEG_CS)
			cpu->seg[i] = (struct x86_seg){ .limit = 0xffff, .type = 0x3, .s = 1, .present = 1 };
	cpu->rip = 0;
	emu_update_mode(cpu);
	emu_tlb_flush(cpu, true);
	assert_int_equal(cpu->code_mode, EMU_MODE16);
	emu_exec(cpu);
	assert_true(cpu->halted);
	memcpy(&v16, gmem.host + 0x20034, 2);
	assert_int_equal(v16, 0x1234);
	assert_int_equal(cpu->gpr[X86_RDX] & 0xffff, 0x1235);
	assert_int_equal(cpu->gpr[X86_RBP] & 0xffff, 15);
	memcpy(&v32, gmem.host + 0x20070, 4);
	assert_int_equal(v32, 0x12345678);
	assert_int_equal(gmem.host[0x20050], 0xab);
	assert_int_equal(gmem.host[0x20052], 0xab);
	assert_int_equal(gmem.host[0x20053], 0);
	assert_int_equal(cpu->gpr[X86_RDI] & 0xffff, 0x53);
	assert_int_equal(cpu->gpr[X86_RSP] & 0xffff, 0x100);
	assert_int_equal(cpu->rip, (uint64_t)(p_real_end - p_real_start));
}

/* Event hub hooks on the loop of p_loop: a CODE_HOOK on its ADD (offset
 * 7) fires before each of the 1000 runs with RIP there and RCX counting
 * down, and stops when its callback drops it (the engine then decodes the
 * code again without the hook); STEP reports instruction after instruction
 * until dropped.  The program's result is the same either way. */
struct hits {
	int n, limit;
	uint64_t rip, rcx, gpa;
	bool rcx_ok;
};

static enum sym_action on_hit(void *opaque, struct sym_event *ev)
{
	struct hits *h = opaque;
	if (ev->type == SYM_EV_CODE_HOOK) {
		h->rcx_ok &= ev->regs->gpr[X86_RCX] == 1000 - (uint64_t)h->n;
		h->gpa = ev->hook.gpa;
		h->rip = ev->regs->rip;
	} else {
		h->rcx_ok &= ev->step.rip != ev->regs->rip; /* the one that ran, and where it went */
		h->rip = ev->step.rip;
	}
	return ++h->n == h->limit ? SYM_UNSUBSCRIBE : SYM_CONTINUE;
}

static void test_code_hook_and_step(void **state)
{
	static const struct engine_ops engine = { .name = "test", .events = SYM_EV_VCPU_MASK };
	struct vm *vm = calloc(1, sizeof(*vm));
	struct sym_filter f = { .type = SYM_EV_CODE_HOOK, .hook_gpa = CODE + 7 };
	struct hits h = { .limit = -1, .rcx_ok = true };
	char err[128];
	(void)state;

	vm->mem = gmem;
	vm->engine = &engine;
	vm->ncpus = 1;
	struct sym_sub *s = sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err));
	assert_non_null(s);
	setup_cpu(p_loop_start, p_loop_end);
	cpu->vm = vm;
	emu_exec(cpu);
	assert_true(cpu->halted);
	assert_int_equal(h.n, 1000);
	assert_true(h.rcx_ok);
	assert_int_equal(h.gpa, CODE + 7);
	assert_int_equal(h.rip, CODE + 7);
	assert_int_equal(cpu->gpr[X86_RAX], 500500);
	sym_unsubscribe(s);

	/* Dropped by its callback after 10: the rest of the loop runs unhooked. */
	h = (struct hits){ .limit = 10, .rcx_ok = true };
	assert_non_null(sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err)));
	setup_cpu(p_loop_start, p_loop_end);
	cpu->vm = vm;
	emu_exec(cpu);
	assert_int_equal(h.n, 10);
	assert_true(h.rcx_ok);
	assert_int_equal(cpu->gpr[X86_RAX], 500500);

	/* Single-stepping vCPU 0: every instruction until the callback stops it. */
	f = (struct sym_filter){ .type = SYM_EV_STEP, .one_cpu = true, .cpu = 0 };
	h = (struct hits){ .limit = -1, .rcx_ok = true };
	s = sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err));
	assert_non_null(s);
	setup_cpu(p_loop_start, p_loop_end);
	cpu->vm = vm;
	emu_exec(cpu);
	assert_int_equal(h.n, 3003); /* every instruction, HLT included */
	assert_true(h.rcx_ok);
	assert_int_equal(h.rip, CODE + 14); /* the HLT */
	sym_unsubscribe(s);
	h = (struct hits){ .limit = 5, .rcx_ok = true };
	assert_non_null(sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err)));
	setup_cpu(p_loop_start, p_loop_end);
	cpu->vm = vm;
	emu_exec(cpu);
	assert_int_equal(h.n, 5);
	assert_int_equal(cpu->gpr[X86_RAX], 500500);

	/* Refusals: a hook outside RAM, a vCPU the VM lacks. */
	f = (struct sym_filter){ .type = SYM_EV_CODE_HOOK, .hook_gpa = MEM_SIZE };
	assert_null(sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err)));
	f = (struct sym_filter){ .type = SYM_EV_STEP, .one_cpu = true, .cpu = 1 };
	assert_null(sym_subscribe(vm, &f, on_hit, &h, err, sizeof(err)));

	cpu->vm = NULL;
	vm_event_hub_free(vm);
	free(vm);
}

/* MSR write events, as test_kvm's on KVM: both writes seen with their
 * values, the first changed and the second refused; the guest reads back
 * the changed value. */
struct msr_hits {
	int n;
	uint64_t values[4];
};

static enum sym_action on_msr(void *opaque, struct sym_event *ev)
{
	struct msr_hits *h = opaque;
	if (h->n < 4)
		h->values[h->n] = ev->msr.msr == 0x174 ? ev->msr.value : ~0ULL;
	if (h->n++ == 0) {
		ev->msr.value = 0x77;
		return SYM_CONTINUE;
	}
	return SYM_SKIP;
}

static void test_msr_write_events(void **state)
{
	static const struct engine_ops engine = { .name = "test", .events = SYM_EV_VCPU_MASK };
	struct vm *vm = calloc(1, sizeof(*vm));
	struct sym_filter f = { .type = SYM_EV_MSR_WRITE };
	struct msr_hits h = { 0 };
	char err[128];
	(void)state;

	vm->mem = gmem;
	vm->engine = &engine;
	vm->ncpus = 1;
	struct sym_sub *s = sym_subscribe(vm, &f, on_msr, &h, err, sizeof(err));
	assert_non_null(s);
	setup_cpu(p_msr_start, p_msr_end);
	cpu->vm = vm;
	emu_exec(cpu);
	assert_true(cpu->halted);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.values[0], 0x1234);
	assert_int_equal(h.values[1], 0x5678);
	assert_int_equal(cpu->gpr[X86_RAX] & 0xffffffff, 0x77);
	sym_unsubscribe(s);
	cpu->vm = NULL;
	vm_event_hub_free(vm);
	free(vm);
}

/* With several vCPUs, a spinning one hands the thread back to the engine. */
static void test_pause_yields(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	(void)state;
	assert_non_null(vm);
	vm->ncpus = 2;
	setup_cpu(p_spin_start, p_spin_end);
	cpu->vm = vm;
	emu_exec(cpu); /* returns although the guest never halts */
	assert_false(cpu->halted);
	assert_true(cpu->pauses >= 32);
	cpu->vm = NULL;
	free(vm);
}

/* Differential: each program interpreted, then translated; registers,
 * flags, RIP, the instruction count and all of guest memory must agree. */
struct run_result {
	uint64_t gpr[16], rip, rflags, insn_count, translated;
	uint8_t *mem;
};

static void run_mode(const uint8_t *start, const uint8_t *end, bool on, struct run_result *r)
{
	bool saved = translating;
	translating = on;
	setup_cpu(start, end);
	translating = saved;
	emu_exec(cpu);
	assert_true(cpu->halted);
	memcpy(r->gpr, cpu->gpr, sizeof(r->gpr));
	r->rip = cpu->rip;
	r->rflags = emu_get_rflags(cpu);
	r->insn_count = cpu->insn_count;
	r->translated = cpu->blocks->translated;
	r->mem = malloc(MEM_SIZE);
	assert_non_null(r->mem);
	memcpy(r->mem, gmem.host, MEM_SIZE);
}

static void test_translate_differential(void **state)
{
	(void)state;
	const uint8_t *progs[][2] = { { p_loop_start, p_loop_end }, { p_smc_start, p_smc_end },
		                      { p_smc2_start, p_smc2_end }, { p_cross_start, p_cross_end },
		                      { p_rep_start, p_rep_end },   { p_div_start, p_div_end },
		                      { p_clr_start, p_clr_end },   { p_mov_start, p_mov_end },
		                      { p_alu_start, p_alu_end } };
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct run_result a, b;
		run_mode(progs[i][0], progs[i][1], false, &a);
		run_mode(progs[i][0], progs[i][1], true, &b);
		assert_int_equal(a.translated, 0);
		assert_true(b.translated > 0);
		assert_memory_equal(a.gpr, b.gpr, sizeof(a.gpr));
		assert_int_equal(a.rip, b.rip);
		assert_int_equal(a.rflags, b.rflags);
		assert_int_equal(a.insn_count, b.insn_count);
		assert_memory_equal(a.mem, b.mem, MEM_SIZE);
		free(a.mem);
		free(b.mem);
	}
}

/* A full code buffer stops translation and is flushed whole at the loop's
 * next look; the program still runs to the same end. */
static void test_translate_buffer_full(void **state)
{
	(void)state;
	translating = true;
	setup_cpu(p_loop_start, p_loop_end);
	translating = false;
	cpu->blocks->code.used = cpu->blocks->code.size - 64; /* no room for one block */
	emu_exec(cpu);
	assert_true(cpu->halted);
	assert_int_equal(cpu->gpr[X86_RAX], 500500);
	assert_int_equal(cpu->insn_count, 3003);
	assert_true(cpu->blocks->flushes >= 1);
	assert_true(cpu->blocks->translated > 0); /* translated again after the flush */
}

static int setup(void **state)
{
	(void)state;
	gmem.host = aligned_alloc(4096, MEM_SIZE);
	gmem.size = gmem.low_size = MEM_SIZE;
	cpu = calloc(1, sizeof(*cpu));
	return gmem.host && cpu ? 0 : -1;
}

/* Each group (interpreted, translated, translate) starts afresh. */
static int teardown(void **state)
{
	(void)state;
	if (cpu)
		emu_blocks_free(cpu);
	free(cpu);
	free(gmem.host);
	cpu = NULL;
	gmem.host = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_smc_same_block),
		cmocka_unit_test(test_smc_other_block),
		cmocka_unit_test(test_page_crossing),
		cmocka_unit_test(test_rep_chunks),
		cmocka_unit_test(test_divide_error),
		cmocka_unit_test(test_mov_forms),
		cmocka_unit_test(test_alu_forms),
		cmocka_unit_test(test_single_step),
		cmocka_unit_test(test_debug_corners),
		cmocka_unit_test(test_rep_interrupt_rf),
		cmocka_unit_test(test_rep_slow_elements_yield),
		cmocka_unit_test(test_system_faults),
		cmocka_unit_test(test_nmi_shadow_and_queue),
		cmocka_unit_test(test_clear_code_page),
		cmocka_unit_test(test_real_mode),
		cmocka_unit_test(test_pause_yields),
		cmocka_unit_test(test_code_hook_and_step),
		cmocka_unit_test(test_msr_write_events),
	};
	const struct CMUnitTest translate_tests[] = {
		cmocka_unit_test(test_translate_differential),
		cmocka_unit_test(test_translate_buffer_full),
	};
	int failed = cmocka_run_group_tests_name("interpreted", tests, setup, teardown);
	translating = true;
	failed += cmocka_run_group_tests_name("translated", tests, setup, teardown);
	translating = false;
	return failed + cmocka_run_group_tests_name("translate", translate_tests, setup, teardown);
}
