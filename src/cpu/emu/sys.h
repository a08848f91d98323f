/* Internal interfaces between the system-side files of the emu engine
 * (mmu.c seg.c excp.c system.c lapic.c cpuid.c engine.c).  Not part of the
 * contract in emu.h: the integer and x87/SSE parts never need these. */
#ifndef SYMBIONT_EMU_SYS_H
#define SYMBIONT_EMU_SYS_H

#include "cpu/emu/emu.h"

/* The virtual TSC and the LAPIC timer clock (CPUID 0x15/0x16/0x40000010). */
#define EMU_CRYSTAL_HZ 25000000ULL /* core crystal = APIC bus clock */
#define EMU_TSC_RATIO  80ULL       /* TSC = crystal * 80 = 2 GHz */
#define EMU_TSC_HZ     (EMU_CRYSTAL_HZ * EMU_TSC_RATIO)

/* The per-vCPU object the engine keeps in vcpu->priv: the CPU comes first so
 * priv can be read as a struct emu_cpu *. */
static inline struct emu_cpu *emu_cpu_of(struct vcpu *v)
{
	return (struct emu_cpu *)v->priv;
}

/* ---- seg.c ---- */
/* Reads the 8-byte descriptor for selector sel from the GDT or LDT.  Returns
 * false when the selector is beyond the table limit. */
bool emu_desc_read(struct emu_cpu *cpu, uint16_t sel, uint64_t *desc);
/* Also the high 8 bytes of a 16-byte system descriptor in long mode. */
bool emu_desc_read16(struct emu_cpu *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi);
void emu_desc_to_seg(struct x86_seg *s, uint16_t sel, uint64_t d);
void emu_desc_set_accessed(struct emu_cpu *cpu, uint16_t sel, uint64_t d);
/* Loads a data segment register (DS/ES/FS/GS/SS) with the protected-mode
 * checks; raises #GP/#SS/#NP with the selector as error code. */
void emu_load_seg(struct emu_cpu *cpu, int seg, uint16_t sel);
/* Real-mode / VM86 style load: base = sel << 4, nothing else changes. */
void emu_load_seg_real(struct emu_cpu *cpu, int seg, uint16_t sel);
uint64_t emu_stack_mask(const struct emu_cpu *cpu);
emu_exec_fn emu_seg_select(const struct emu_insn *in);

/* ---- excp.c ---- */
bool emu_exc_has_error(int vector);

/* ---- system.c ---- */
uint64_t emu_rdtsc(struct emu_cpu *cpu);
uint64_t emu_rdtsc_guest(struct emu_cpu *cpu); /* RDTSC, RDTSCP, RDMSR: through record/replay */
void emu_set_cr0(struct emu_cpu *cpu, uint64_t v);
void emu_set_cr4(struct emu_cpu *cpu, uint64_t v);
void emu_set_cr3(struct emu_cpu *cpu, uint64_t v);

/* ---- msr.c ---- */
/* RDMSR/WRMSR: false → #GP(0). */
bool emu_msr_read(struct emu_cpu *cpu, uint32_t msr, uint64_t *val);
bool emu_msr_write(struct emu_cpu *cpu, uint32_t msr, uint64_t val);
/* Power-on values of the MSRs firmware would leave behind. */
void emu_msr_reset(struct emu_cpu *cpu);
/* struct x86_state's MSRs (the TSC deadline is the caller's, see msr.c). */
void emu_msr_get_state(struct emu_cpu *cpu, struct x86_msrs *m);
void emu_msr_set_state(struct emu_cpu *cpu, const struct x86_msrs *m);

static inline bool emu_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* ---- dma.c ---- */
#define EMU_DMA_RANGES 64
struct emu_dma {
	pthread_mutex_t lock; /* the ranges */
	struct emu_dma_range {
		uint64_t gpa, end;
	} r[EMU_DMA_RANGES], hull;
	int n;
	atomic_bool pending;
};
void emu_dma_init(struct emu_dma *d);
void emu_dma_destroy(struct emu_dma *d);
/* Any thread: [gpa, gpa+len) of guest RAM was written behind the CPUs. */
void emu_dma_queue(struct emu_dma *d, uint64_t gpa, uint64_t len);
/* The runner, at a block boundary: drops the code decoded from the queued
 * ranges in every vCPU's block cache. */
void emu_dma_apply(struct emu_dma *d, struct vm *vm);

/* ---- cpuid.c ---- */
void emu_cpuid(struct emu_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* ---- lapic.c ---- */
struct emu_lapic *lapic_create(struct emu_cpu *cpu, int id);
void lapic_destroy(struct emu_lapic *l);
void lapic_reset(struct emu_lapic *l, bool bsp);
/* MMIO at apic_base: the caller holds nothing; lapic takes what it needs. */
uint64_t lapic_mmio_read(struct emu_cpu *cpu, uint64_t off, unsigned size);
void lapic_mmio_write(struct emu_cpu *cpu, uint64_t off, uint64_t val, unsigned size);
/* Highest deliverable vector moved IRR → ISR; -2 when instead the PIC's
 * INTR is to be taken through LINT0 (ask pic_ack); -1 for nothing.  NMIs
 * arrive as cpu->nmi_pending. */
int lapic_ack(struct emu_lapic *l);
/* Interrupt accepted from the bus (MSI/IOAPIC/IPI): callers hold io_lock. */
void lapic_accept(struct emu_lapic *l, int delivery_mode, int vector, bool level);
void lapic_set_lint0(struct emu_lapic *l, int level);
uint64_t lapic_get_tsc_deadline(struct emu_lapic *l);
void lapic_set_tsc_deadline(struct emu_lapic *l, uint64_t v);
uint32_t lapic_get_id(struct emu_lapic *l);
/* x2APIC mode's MSRs 0x800-0x8ff: false means #GP (not in x2APIC mode, a
 * read-only or write-only register the wrong way, reserved bits). */
bool lapic_msr_read(struct emu_lapic *l, uint32_t msr, uint64_t *val);
bool lapic_msr_write(struct emu_lapic *l, uint32_t msr, uint64_t v);
/* The TPR, read and written on the thread that runs the vCPU (the only
 * writer of it) or with the vCPUs parked: the read takes no lock, and a
 * write of the value it already has takes none either (a SymCall's state
 * swap sets it twice per call, and the I/O lock's cache line is shared
 * with every device thread). */
uint8_t lapic_get_tpr(struct emu_lapic *l);
/* The whole register file as the 1 KiB xAPIC page (struct x86_state). */
void lapic_get_regs(struct emu_lapic *l, uint8_t page[1024]);
void lapic_set_regs(struct emu_lapic *l, const uint8_t page[1024]);
void lapic_set_tpr(struct emu_lapic *l, uint8_t tpr);

/* ---- engine.c ---- */
/* Wakes the vCPU's runner (HLT sleep) after irq_pending was set. */
void emu_kick(struct emu_cpu *cpu);
/* Delivers an MSI-format message (addr/data) to the matching LAPICs; called
 * with io_lock held. */
void emu_msi(struct vm *vm, uint64_t addr, uint32_t data);
/* Ends the vCPU's time slice at the next block boundary (it sent an IPI
 * and the target should run before the sender spins waiting for it). */
void emu_yield(struct emu_cpu *cpu);
/* INIT / SIPI from another vCPU's ICR write. */
void emu_cpu_init_ipi(struct emu_cpu *cpu);
/* An NMI reaches the CPU (from its LAPIC: NMI delivery mode, LINT1). */
void emu_cpu_nmi(struct emu_cpu *cpu);
void emu_cpu_sipi(struct emu_cpu *cpu, uint8_t vector);

#endif
