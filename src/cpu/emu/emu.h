/* The software x86-64 engine: internal contract between its parts.
 *
 * Pipeline: the execution loop (exec.c) finds the decoded block for the
 * current RIP in the block cache (keyed by guest-physical address and code
 * mode), runs its instructions through their handlers, and checks for
 * interrupts between blocks.  Instructions are decoded once (decode.c).
 * Memory goes through a software TLB (mmu.c) whose fast path is an inline
 * compare and add.  Faults longjmp back to the loop (emu_raise), which
 * delivers them through the IDT (excp.c).  Arithmetic flags are lazy
 * (flags.c): handlers record the operation and operands, and the flags are
 * computed only when something reads them.
 *
 * Ownership of parts (so they can be written in parallel):
 *   decode.c exec.c block.c flags.c and the integer families
 *     (alu.c shift.c muldiv.c string.c bitops.c branch.c misc.c)
 *   mmu.c/mmu.h seg.c excp.c system.c lapic.c cpuid.c engine.c  (system)
 *   fpu.c sse.c fxsave.c                                        (x87/SSE)
 *
 * The seam for a future translator to host code: a block is a plain array
 * of decoded instructions with their handlers; a translator replaces
 * block->run with generated code and keeps everything else. */
#ifndef SYMBIONT_EMU_H
#define SYMBIONT_EMU_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/engine.h"
#include "symbiont/x86.h"

struct emu_cpu;
struct emu_insn;
struct emu_block_cache;
struct emu_lapic;

typedef void (*emu_exec_fn)(struct emu_cpu *cpu, const struct emu_insn *in);

/* ---- decoded instruction ------------------------------------------------ */

#define EMU_NOREG  0xff
#define EMU_RIPREL 0xfe /* base of a RIP-relative memory operand */

enum {
	PFX_LOCK = 1 << 0,
	PFX_REP = 1 << 1,      /* F3 */
	PFX_REPNE = 1 << 2,    /* F2 */
	PFX_OPSIZE = 1 << 3,   /* 66 */
	PFX_ADDRSIZE = 1 << 4, /* 67 */
	PFX_REX = 1 << 5,
	PFX_SEG = 1 << 6, /* an explicit segment override was given */
};

struct emu_insn {
	emu_exec_fn exec;
	uint8_t len;      /* bytes, 1..15 */
	uint8_t opsize;   /* operand size in bytes: 1, 2, 4 or 8 */
	uint8_t addrsize; /* 2, 4 or 8 */
	uint8_t seg;      /* SEG_* of the memory operand after overrides */
	uint8_t prefix;   /* PFX_* */
	uint8_t rex;      /* raw REX byte or 0 */
	uint8_t map;      /* 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t opcode;   /* the opcode byte within its map */
	uint8_t modrm;
	uint8_t reg;        /* ModRM.reg | REX.R<<3, or the register in the opcode | REX.B<<3 */
	uint8_t rm;         /* ModRM.rm | REX.B<<3 when the operand is a register */
	uint8_t has_mem;    /* ModRM names memory */
	uint8_t base;       /* 0..15, EMU_NOREG or EMU_RIPREL */
	uint8_t index;      /* 0..15 or EMU_NOREG */
	uint8_t scale;      /* shift count 0..3 */
	uint8_t ends_block; /* control transfer, or changes state decoding depends on */
	uint8_t vex;        /* VEX-encoded: bit 0, then L (bit 1) and pp (bits 2-3; bmi.c); bit 7: invalid */
	uint8_t vvvv;       /* VEX.vvvv (uninverted): a register operand */
	uint8_t vflags;     /* AVX: how avx.c runs vsub per 128-bit lane (AVXF_* there) */
	uint8_t vparam;     /* AVX: a per-form parameter (avx.c) */
	emu_exec_fn vsub;   /* AVX: the legacy-SSE handler an AVX form runs per lane, or NULL */
	int32_t disp;
	uint64_t imm;  /* first immediate, sign- or zero-extended as the opcode says */
	uint64_t imm2; /* second immediate: ENTER level, far-pointer selector */
};

/* ---- lazy flags --------------------------------------------------------- */

/* The last flag-setting operation: flags are derived from (op, size, dst,
 * src1, src2) when read.  CF/PF/AF/ZF/SF/OF live here; all other RFLAGS bits
 * (DF, IF, TF, IOPL, AC, ID, ...) live in cpu->rflags. */
struct emu_flags {
	uint32_t op;  /* EMU_CC_* from flags.c */
	uint8_t size; /* operand bytes */
	uint64_t dst, src1, src2;
};

/* ---- softmmu ------------------------------------------------------------ */

#define EMU_TLB_SIZE 256

/* One entry maps a 4 KiB virtual page.  A tag holds the page-aligned
 * linear address when that access kind hits, else an impossible value.
 * host = linear + addend. */
struct emu_tlb_entry {
	uint64_t tag_read, tag_write, tag_exec;
	uintptr_t addend;
	uint64_t gpa_page;  /* guest-physical page, for code invalidation */
	uint8_t global;     /* G bit with CR4.PGE: survives a CR3 write */
	uint8_t page_shift; /* 12, 21, 22 or 30: size of the guest page it came from */
};

/* ---- the vCPU ------------------------------------------------------------ */

enum emu_code_mode { EMU_MODE16 = 0, EMU_MODE32 = 1, EMU_MODE64 = 2 };

struct emu_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t next_rip; /* set by the loop to rip+len before a handler runs */
	uint64_t rflags;   /* everything except the six arithmetic flags */
	struct emu_flags cc;

	struct x86_seg seg[SEG_COUNT], tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr[8];
	/* DR7's enabled points by kind (debugreg.c), and the data points an
	 * instruction has hit so far (its #DB trap comes after it). */
	uint8_t dr_exec, dr_data, dr_io, dr_hit;
	/* DR6 bits of a #DB trap held back by MOV SS / POP SS: delivered
	 * after the next instruction, with that one's own (exec.c). */
	uint16_t dr6_deferred;
	/* insn_count + 1 when a REP string instruction yielded between its
	 * iterations (RIP still on it): an event delivered before anything
	 * else retires pushes RF = 1, so an instruction breakpoint on the REP
	 * does not fire again when it resumes. */
	uint64_t rep_yield_at;
	int cpl;
	enum emu_code_mode code_mode; /* default operand/address size of CS */
	bool long_mode;               /* EFER.LMA */

	/* MSRs */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat, misc_enable, apic_base, tsc_offset, mtrr_def_type;
	uint64_t tsc_adjust; /* IA32_TSC_ADJUST (system.c); tsc_offset includes it */
	uint64_t mtrr_fixed[11], mtrr_var[16];

	/* x87 / MMX / SSE (fpu.c, sse.c).  The x87 state is kept as the
	 * 108-byte FNSAVE image (32-bit protected-mode layout) so fpu.c can
	 * run x87 instructions on the host between FRSTOR and FNSAVE; MMi is
	 * the mantissa of physical register i, i.e. st[(i - TOP) & 7].
	 * Reset with emu_fpu_reset(). */
	struct emu_fpu {
		uint16_t cw, cw_pad, sw, sw_pad; /* sw holds TOP in bits 11-13 */
		uint16_t tw, tw_pad;             /* full tag word, 2 bits per physical register */
		uint32_t img_fip;                /* host scratch: the guest's pointers are below */
		uint16_t img_fcs, img_fop;
		uint32_t img_fdp;
		uint16_t img_fds, img_fds_pad;
		uint8_t st[8][10]; /* ST(0)..ST(7) in stack order, 80-bit each */
		uint16_t fop, fcs, fds;
		uint64_t fip, fdp;
	} fpu;
	union emu_xmm {
		uint8_t b[16];
		uint16_t w[8];
		uint32_t d[4];
		uint64_t q[2];
		int8_t sb[16];
		int16_t sw[8];
		int32_t sd[4];
		int64_t sq[2];
		float f[4];
		double df[2];
	} xmm[16 + 2];          /* 16 and 17: avx.c's scratch operands, not architectural */
	union emu_xmm ymmh[16]; /* bits 255:128 of YMM0-15 (AVX, avx.c) */
	uint32_t mxcsr;
	uint64_t xcr0; /* XSETBV's enables (xsave.c): x87 always, SSE, PKRU */
	uint32_t pkru; /* protection-key rights: AD bit 2k, WD bit 2k+1 (mmu.c) */

	/* Interrupts */
	atomic_bool irq_pending; /* something may be deliverable: check at block end */
	bool interrupt_shadow;   /* after STI / MOV SS: one instruction without IRQs */
	/* Blocks must run one instruction at a time for the debug machinery:
	 * bit 0 while DR7 enables a point, bit 1 while RF may be set.  Beside
	 * the shadow: the executor tests both with one load per block. */
	uint8_t dbg_slow;
	bool halted;
	bool nmi_pending;
	bool nmi_blocked; /* an NMI handler runs: no NMI until the next IRET */
	bool nmi_latched; /* a second NMI came while one was pending and none ran */
	/* An event another engine had chosen and not yet delivered (struct
	 * x86_events): delivered at the next interrupt check. */
	struct {
		bool valid, exception, has_error;
		uint8_t vector;
		uint32_t error;
	} inject;
	struct emu_lapic *lapic;

	/* Exceptions: emu_raise() records and longjmps to exc_jmp. */
	jmp_buf exc_jmp;
	int exc_vector;
	uint32_t exc_error;
	bool exc_has_error;
	int exc_depth; /* 0 normal, 1 delivering, 2 double fault → triple */

	struct emu_tlb_entry tlb[EMU_TLB_SIZE];
	/* TLB_USER while supervisor data accesses (SMAP: CR4.SMAP, and CPL 3
	 * or RFLAGS.AC clear) or fetches (CR4.SMEP) must not use user pages:
	 * supervisor lookups then miss on them and the walk faults (mmu.h). */
	uint64_t smap_bits, smep_bits;
	struct emu_block_cache *blocks;

	struct vm *vm;
	struct vcpu *vcpu;
	struct guest_mem *mem;
	uint64_t insn_count; /* retired instructions, for profiling and replay */
	/* Replaying: the count at which the loop must look for an interrupt
	 * the log holds (blocks that would run past it go one instruction at
	 * a time).  Stored inverted, so that a zeroed emu_cpu has none
	 * (UINT64_MAX): read it through emu_insn_stop(). */
	uint64_t insn_stop_inv;
	uint64_t insn_user; /* of those, at CPL 3 (counted per block) */
	/* Host time at CPL 3 (guest user time), counted at each change of
	 * privilege (emu_update_mode) and slice end; user_since is when the
	 * current stretch began, 0 outside one.  Only with a VM (its clock). */
	uint64_t user_ns, user_since;
	uint64_t interrupts_delivered, exceptions_delivered; /* for metrics */
	/* Set by a handler to end the current block after it (code written
	 * under the running block, state the decoder or the interrupt check
	 * depends on changed); the loop clears it at each block start. */
	bool exit_block;
	uint32_t pauses;    /* PAUSEs since emu_exec was entered (spin-wait hint) */
	unsigned hooks_gen; /* vm->hooks_gen the decoded blocks were built for */
};

static inline uint64_t emu_insn_stop(const struct emu_cpu *cpu)
{
	return ~cpu->insn_stop_inv;
}

/* ---- exceptions (excp.c) ------------------------------------------------- */

#define EXC_DE  0
#define EXC_DB  1
#define EXC_NMI 2
#define EXC_BP  3
#define EXC_OF  4
#define EXC_BR  5
#define EXC_UD  6
#define EXC_NM  7
#define EXC_DF  8
#define EXC_TS  10
#define EXC_NP  11
#define EXC_SS  12
#define EXC_GP  13
#define EXC_PF  14
#define EXC_MF  16
#define EXC_AC  17
#define EXC_MC  18
#define EXC_XM  19

#define DR6_BD (1u << 13) /* general detect: a MOV DR while DR7.GD */
#define DR6_BS (1u << 14) /* single-step */
#define DR7_GD (1u << 13)

/* Raise a fault: RIP still points at the faulting instruction. */
_Noreturn void emu_raise(struct emu_cpu *cpu, int vector);
_Noreturn void emu_raise_err(struct emu_cpu *cpu, int vector, uint32_t error);
/* Deliver the exception recorded by emu_raise through the IDT (called by
 * the loop after the longjmp). */
void emu_deliver_exception(struct emu_cpu *cpu);
/* Deliver an external interrupt / software interrupt through the IDT.
 * is_soft: INT n (privilege check against gate DPL, RIP after the insn). */
void emu_deliver_interrupt(struct emu_cpu *cpu, int vector, bool is_soft);
/* ICEBP (INT1, F1): a #DB trap after the instruction, delivered as a
 * hardware exception (no gate DPL check), DR6 untouched. */
void emu_deliver_int1(struct emu_cpu *cpu);
/* A REP string instruction stops between iterations (RIP stays on it). */
static inline void emu_rep_yield(struct emu_cpu *cpu)
{
	cpu->next_rip = cpu->rip;
	cpu->exit_block = true;
	cpu->rep_yield_at = cpu->insn_count + 1; /* the loop counts it as retired */
}
/* Called by the loop between blocks when irq_pending: takes one pending
 * interrupt (NMI, LAPIC, PIC ExtINT) if RFLAGS.IF and no shadow allow it. */
void emu_check_interrupts(struct emu_cpu *cpu);

/* ---- memory (mmu.c; may be inline in mmu.h) ------------------------------ */

/* Linear address of seg:off, with the segment limit/canonical checks the
 * mode needs (#GP/#SS on failure). */
uint64_t emu_linear(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size, bool write);
/* Data access at seg:off, size 1/2/4/8.  Faults are raised, never returned. */
uint64_t emu_read(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size);
void emu_write(struct emu_cpu *cpu, int seg, uint64_t off, uint64_t val, unsigned size);
/* Arbitrary-length access (SSE 16-byte, FXSAVE 512-byte, descriptors). */
void emu_read_bytes(struct emu_cpu *cpu, int seg, uint64_t off, void *dst, unsigned len);
void emu_write_bytes(struct emu_cpu *cpu, int seg, uint64_t off, const void *src, unsigned len);
/* Linear-address access with an explicit privilege (for descriptor tables,
 * TSS and interrupt stack frames, which are supervisor accesses). */
uint64_t emu_read_linear(struct emu_cpu *cpu, uint64_t la, unsigned size, bool supervisor);
void emu_write_linear(struct emu_cpu *cpu, uint64_t la, uint64_t val, unsigned size, bool supervisor);
/* Instruction fetch: guest-physical address of the code byte at linear la,
 * faulting as a fetch would (NX, U/S). */
uint64_t emu_fetch_gpa(struct emu_cpu *cpu, uint64_t la);
void emu_tlb_flush(struct emu_cpu *cpu, bool include_global);
void emu_tlb_flush_page(struct emu_cpu *cpu, uint64_t la);
/* Remove write entries mapping guest-physical page gpa_page from every
 * vCPU's TLB, so later writes to it take the slow path (which calls
 * emu_code_written).  Called by block.c when it caches code from a page. */
void emu_tlb_protect_code(struct emu_cpu *cpu, uint64_t gpa_page);
/* Sends writes to every page now watched (sym_watch) to the slow path. */
void emu_tlb_protect_watched(struct emu_cpu *cpu);
/* Sends the next write to every page to the slow path (the dirty log
 * restarts: each page's first write must be seen). */
void emu_tlb_protect_all(struct emu_cpu *cpu);
/* For REP STOS/MOVS: the host address a write to la goes to when its page
 * is watched RAM holding no translated code and someone wants PAGE_WRITE
 * (gpa set), else NULL; faults as a store would.  The caller writes up to
 * the page's end there and reports it with emu_event_page_write(): one
 * event per chunk instead of one per element. */
uint8_t *emu_watched_host(struct emu_cpu *cpu, uint64_t la, uint64_t *gpa);

/* ---- decoding and blocks (decode.c, block.c, exec.c) ---------------------- */

/* Decodes one instruction at cpu->rip+offset... into *in; raises #UD/#PF
 * as the hardware would.  Returns the length. */
int emu_decode(struct emu_cpu *cpu, uint64_t la, struct emu_insn *in);
/* A write hit a page holding cached code: drop the blocks on it. */
void emu_code_written(struct emu_cpu *cpu, uint64_t gpa, unsigned len);
bool emu_page_has_code(struct emu_cpu *cpu, uint64_t gpa_page);
void emu_blocks_flush(struct emu_cpu *cpu);
/* Runs until vm_stopping() or the vCPU halts with nothing pending.  Returns
 * after a HLT so the engine can sleep, and, in a VM with several vCPUs,
 * when the vCPU spins (a run of PAUSEs), so the engine can run the vCPU
 * it is probably waiting for. */
void emu_exec(struct emu_cpu *cpu);
/* Executes exactly one instruction (no block cache).  Returns -1, or the
 * vector of the exception it raised: that exception is recorded (exc_*) but
 * not delivered, RIP still points at the instruction.  For tests and
 * debuggers. */
int emu_step(struct emu_cpu *cpu);
/* Block cache of a vCPU, shared with the other vCPUs of its VM (they run on
 * one thread); emu_exec creates or joins it on first use.  Call
 * emu_blocks_free when the vCPU goes away (the last one frees it).  0, or
 * -1 when out of memory. */
int emu_blocks_init(struct emu_cpu *cpu);
void emu_blocks_free(struct emu_cpu *cpu);

/* Effective address (offset within the segment) of a memory operand. */
uint64_t emu_ea(struct emu_cpu *cpu, const struct emu_insn *in);

/* Group selectors: the decoder knows the operand shapes of every opcode and
 * asks the owning part for the handler.  NULL means #UD. */
emu_exec_fn emu_sys_select(const struct emu_insn *in); /* system.c / seg.c */
emu_exec_fn emu_x87_select(const struct emu_insn *in); /* fpu.c: D8..DF, 9B */
emu_exec_fn emu_sse_select(const struct emu_insn *in); /* sse.c: MMX/SSE/SSE2, 0F AE, 0F 77 */
emu_exec_fn emu_vex_select(struct emu_insn *in);       /* bmi.c: VEX-encoded BMI1/BMI2, else avx.c */
/* avx.c: the VEX-encoded SIMD forms (AVX, AVX2, FMA, F16C); NULL is #UD.  It
 * fills in->vflags, vparam, vsub and the legacy prefix bits of VEX.pp. */
emu_exec_fn emu_avx_select(struct emu_insn *in);
/* Power-on x87/SSE/AVX state (FCW 0x40, tags 0x5555, MXCSR 0x1F80, YMM 0).
 * INIT keeps the x87/SSE state, as the hardware does. */
void emu_fpu_reset(struct emu_cpu *cpu);
/* SSE4.1/SSE4.2 run partly on the host's own SSE4 (sse4.c): advertise them
 * only when this is true. */
bool emu_sse4_host_ok(void);
/* AVX, AVX2, FMA and F16C run the SSE4 handlers per lane (avx.c): they are
 * advertised with SSE4.1/4.2, i.e. when emu_sse4_host_ok(). */
bool emu_avx_ok(void);

/* The event hub's hook points (events.c); each caller first tests
 * vm_events_wanted().  emu_event_syscall: before SYSCALL's effects, true
 * when a subscriber skipped the call (RAX holds its result).
 * emu_event_user_return: after a SYSRET/SYSEXIT/IRET to CPL 3 (next_rip set).
 * emu_event_wrmsr: false when a subscriber refused the write. */
bool emu_event_syscall(struct emu_cpu *cpu);
/* INT 0x80 from user mode (the 32-bit system call entry): as
 * emu_event_syscall, true when the call was skipped (no interrupt then). */
bool emu_event_int80(struct emu_cpu *cpu);
/* SYSENTER from 32-bit user mode, Linux's other 32-bit entry (the vDSO's):
 * the same, for a SYSENTER followed by INT 0x80 as in the vDSO; any other
 * is let through without an event (false). */
bool emu_event_sysenter(struct emu_cpu *cpu);
void emu_event_user_return(struct emu_cpu *cpu);
void emu_event_exception(struct emu_cpu *cpu, int vector);
void emu_event_cr3(struct emu_cpu *cpu, uint64_t old_cr3, uint64_t new_cr3);
bool emu_event_wrmsr(struct emu_cpu *cpu, uint32_t msr, uint64_t *value);
/* Debug registers (debugreg.c).  emu_dr_update after DR7 changes;
 * emu_dr_page: a data point lies in this linear page (its TLB entries take
 * the slow path); emu_dr_exec_match: the instruction points at la (a
 * mask); emu_dr_data: an access by the slow path, noted in dr_hit;
 * emu_dr_trap: the #DB trap with DR6 bits dr6 (B0-B3 replace the old
 * ones, BS is added; never returns). */
void emu_dr_update(struct emu_cpu *cpu);
bool emu_dr_page(const struct emu_cpu *cpu, uint64_t la_page);
unsigned emu_dr_exec_match(const struct emu_cpu *cpu, uint64_t la);
void emu_dr_data(struct emu_cpu *cpu, uint64_t la, unsigned size, bool write);
void emu_dr_io(struct emu_cpu *cpu, uint16_t port, unsigned size); /* IN/OUT with CR4.DE */
void emu_dr_trap(struct emu_cpu *cpu, unsigned dr6) __attribute__((noreturn));

/* CODE_HOOK before the instruction at RIP (guest-physical gpa) runs:
 * true when a subscriber stopped the VM there (SYM_STOP), so that the
 * instruction must not run yet; STEP after the instruction that was at
 * rip ran. */
bool emu_event_hook(struct emu_cpu *cpu, uint64_t gpa);
void emu_event_step(struct emu_cpu *cpu, uint64_t rip);
/* A store to a watched page (after it, from the MMU slow path): true when
 * a subscriber stopped the VM, which then ends the block after this
 * instruction (exit_block is set; a REP string op yields its rest). */
bool emu_event_page_write(struct emu_cpu *cpu, uint64_t gpa, unsigned len);
/* A load from a watched page while someone wants PAGE_READ (after it, from
 * the MMU slow path); stopping ends the block as for a write. */
bool emu_event_page_read(struct emu_cpu *cpu, uint64_t gpa, unsigned len);
/* x87/MMX/SSE state as a 512-byte FXSAVE64 image (fxsave.c), for state
 * exchange with KVM (struct kvm_fpu holds the same fields) and snapshots.
 * Load fails (-1, state unchanged) on reserved MXCSR bits. */
void emu_fpu_save(struct emu_cpu *cpu, void *img);
/* Sets PKRU (WRPKRU, XRSTOR, state loads): the TLB forgets permissions
 * it cached under the old value (mmu.c). */
void emu_set_pkru(struct emu_cpu *cpu, uint32_t v);
/* XCR0 values XSETBV accepts (xsave.c): x87, and SSE and PKRU.  XGETBV and
 * XSETBV (0F 01 D0/D1) are there too. */
bool emu_xcr0_valid(uint64_t xcr0);
void emu_xgetbv(struct emu_cpu *cpu, const struct emu_insn *in);
void emu_xsetbv(struct emu_cpu *cpu, const struct emu_insn *in);
void op_invpcid(struct emu_cpu *cpu, const struct emu_insn *in); /* system.c */
int emu_fpu_load(struct emu_cpu *cpu, const void *img);

/* ---- flags (flags.c) ----------------------------------------------------- */

uint64_t emu_get_rflags(struct emu_cpu *cpu);
/* Sets every bit given (the caller applies privilege masks, e.g. POPF
 * keeping IOPL/IF at CPL>0). */
void emu_set_rflags(struct emu_cpu *cpu, uint64_t v);

/* ---- mode (seg.c) --------------------------------------------------------- */

/* Recompute cpl, code_mode and long_mode after CS, CR0 or EFER change. */
void emu_update_mode(struct emu_cpu *cpu);
/* Recompute smap_bits and smep_bits after CR4, CPL or RFLAGS.AC change (mmu.c). */
void emu_mmu_update_smap(struct emu_cpu *cpu);
/* #GP(0) for SGDT/SIDT/SLDT/STR/SMSW at CPL > 0 under CR4.UMIP (system.c). */
void emu_umip_check(struct emu_cpu *cpu);

/* ---- state exchange (engine.c) -------------------------------------------- */

/* All of struct x86_state the engine has (its parts); set returns -1 for an
 * FPU image this CPU cannot hold.  get_parts reads the registers and the
 * parts in parts alone (X86_STATE_*). */
int emu_cpu_set_state(struct emu_cpu *cpu, const struct x86_state *s);
void emu_cpu_get_state(struct emu_cpu *cpu, struct x86_state *s);
void emu_cpu_get_parts(struct emu_cpu *cpu, struct x86_state *s, uint32_t parts);

/* Inline fast paths for emu_read/emu_write/emu_linear (system side). */
#include "cpu/emu/mmu.h"

#endif
