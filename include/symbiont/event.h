/* The event hub: how services see what a guest does, engine-neutral.
 *
 * A service subscribes with a filter and a callback; the engine (or a
 * device, for device events) calls the hub when a matching thing happens.
 * Filters narrow at the source (a syscall-number bitmap, an address space,
 * an exception vector, an MSR), and an event type nobody subscribed to costs
 * the engine one load and test of vm->events_active on a path that is not
 * hot (SYSCALL, SYSRET/IRET to user, exception delivery, MOV CR3, WRMSR):
 * nothing measurable (docs/services.md has the numbers).
 *
 * vCPU events are delivered on the vCPU's own thread, between the
 * instruction's checks and its effects, with the vCPU's registers as they
 * are at that point (ev->regs).  A callback may act on the event through
 * its mutable fields (the syscall number and arguments at entry, its result
 * at exit or when skipped, whether an MSR write happens) and its return
 * value; it must not block for long (the vCPU waits), must not pause the VM
 * with vm_pause (it would wait for this very vCPU: vm_pause_request with
 * SYM_STOP is the way to stop it there) and must not subscribe or
 * unsubscribe (return SYM_UNSUBSCRIBE to drop itself).  Guest memory under
 * the event's address space: gva_read()/gva_write() (symbiont/memory.h)
 * with ev->regs->cr3. */
#ifndef SYMBIONT_EVENT_H
#define SYMBIONT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

enum sym_event_type {
	SYM_EV_SYSCALL_ENTER, /* SYSCALL from 64-bit user mode, or (compat) INT 0x80 from user mode */
	SYM_EV_SYSCALL_EXIT,  /* the return to user mode right after that SYSCALL */
	SYM_EV_EXCEPTION,     /* an exception (vector 0-31) the vCPU delivers */
	SYM_EV_CR3_WRITE,     /* MOV to CR3 (an address-space switch) */
	SYM_EV_MSR_WRITE,     /* WRMSR */
	SYM_EV_DMA,           /* a device wrote guest RAM (engine-neutral) */
	SYM_EV_BLOCK,         /* a block request completed (engine-neutral) */
	SYM_EV_PAGE_WRITE,    /* a vCPU or a device wrote a watched guest page (sym_watch) */
	SYM_EV_CODE_HOOK,     /* a vCPU is about to run the instruction at a hooked address */
	SYM_EV_STEP,          /* a vCPU has run one instruction (single-stepping) */
	SYM_EV_PACKET,        /* a network frame between a NIC and its host backend (engine-neutral) */
	SYM_EV_PAGE_READ,     /* a vCPU read a watched guest page (sym_watch), while someone subscribes */
	SYM_EV_HW_POINT,      /* a vCPU hit a debug-register point (vm_set_hw_points, symbiont/vcpu.h) */
	SYM_EV_TYPES
};

#define SYM_EV_BIT(t) (1u << (t))
/* The vCPU events an engine must deliver itself (the rest come from the
 * core or devices). */
#define SYM_EV_VCPU_MASK                                                                                     \
	(SYM_EV_BIT(SYM_EV_SYSCALL_ENTER) | SYM_EV_BIT(SYM_EV_SYSCALL_EXIT) | SYM_EV_BIT(SYM_EV_EXCEPTION) | \
	 SYM_EV_BIT(SYM_EV_CR3_WRITE) | SYM_EV_BIT(SYM_EV_MSR_WRITE) | SYM_EV_BIT(SYM_EV_PAGE_WRITE) |       \
	 SYM_EV_BIT(SYM_EV_CODE_HOOK) | SYM_EV_BIT(SYM_EV_STEP) | SYM_EV_BIT(SYM_EV_PAGE_READ) |             \
	 SYM_EV_BIT(SYM_EV_HW_POINT))

#define SYM_SYSCALL_MAX 512 /* syscall numbers a filter can name */

struct sym_filter {
	enum sym_event_type type;
	/* SYSCALL_*: the numbers wanted; all clear means every number. */
	uint64_t syscalls[SYM_SYSCALL_MAX / 64];
	/* SYSCALL_*: the 32-bit entry (INT 0x80, i386 numbers, arguments in
	 * ebx ecx edx esi edi ebp) instead of the 64-bit one.  A subscriber
	 * sees only the one it asked for, so numbers never mix. */
	bool compat;
	/* vCPU events: only in this address space (CR3 without its PCID and
	 * flag bits); 0 means any. */
	uint64_t cr3;
	int vector;   /* EXCEPTION: this vector only, or -1 for any */
	uint32_t msr; /* MSR_WRITE: this MSR only, or 0 for any */
	bool any_msr; /* MSR_WRITE: set with msr 0 to mean "any" explicitly */
	/* PAGE_WRITE, PAGE_READ: only accesses that touch [gpa_start,
	 * gpa_end); both 0 means any watched page.  Which pages are watched is
	 * sym_watch()'s. */
	uint64_t gpa_start, gpa_end;
	/* CODE_HOOK: the guest-physical address of the hooked instruction's
	 * first byte (required; a kernel function's: gva_translate() of its
	 * address).  Physical, so the hook holds in every address space that
	 * maps the code (narrow it with cr3) and costs nothing elsewhere. */
	uint64_t hook_gpa;
	/* vCPU events: only on vCPU `cpu` when one_cpu is set. */
	bool one_cpu;
	int cpu;
};

static inline void sym_filter_syscall(struct sym_filter *f, unsigned nr)
{
	if (nr < SYM_SYSCALL_MAX)
		f->syscalls[nr / 64] |= 1ULL << (nr % 64);
}

/* The vCPU's registers where the event happened (read-only). */
struct sym_regs {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	uint64_t cr3, cr4;
	int cpl;
	/* What guest OS awareness needs to find the current task from inside
	 * a callback (symbiont/guestos.h): GS.base, the other side of SWAPGS,
	 * and the SYSCALL entry point. */
	uint64_t gs_base, kernel_gs_base, lstar;
};

/* User registers to resume with (syscall.resume). */
struct sym_uregs {
	uint64_t gpr[16]; /* rax rcx rdx rbx rsp rbp rsi rdi r8-r15 */
	uint64_t rip, rflags;
};
#define SYM_UREGS_RFLAGS_MASK 0x40cd5ULL /* CF PF AF ZF SF DF OF AC */

/* Is rip one a SYSCALL_EXIT may resume at: canonical, in the lower half. */
static inline bool sym_uregs_rip_ok(uint64_t rip)
{
	return rip < 0x0000800000000000ULL;
}

/* A piece of guest RAM a request read from or wrote into. */
struct sym_gpa_range {
	uint64_t gpa;
	uint32_t len;
};

enum sym_block_op { SYM_BLOCK_READ, SYM_BLOCK_WRITE, SYM_BLOCK_FLUSH, SYM_BLOCK_OTHER };

struct sym_event {
	enum sym_event_type type;
	int cpu;                     /* vCPU index; -1 for device events */
	const struct sym_regs *regs; /* NULL for device events */
	union {
		struct {
			bool compat;       /* by the 32-bit entry: i386 numbers (sym_filter.compat) */
			uint64_t nr;       /* ENTER: may be changed (the call then made) */
			uint64_t args[6];  /* rdi rsi rdx r10 r8 r9; ENTER: may be changed */
			int64_t ret;       /* EXIT: the result, may be changed; ENTER with SYM_SKIP: the result */
			uint64_t enter_ns; /* EXIT: when it entered, on the VM clock */
			/* EXIT, and ENTER with SYM_SKIP: when a callback sets resume,
			 * the vCPU goes on in user mode with resume_regs instead (all
			 * 16 GPRs, RIP, and RFLAGS' arithmetic, DF and AC bits; ret is
			 * then ignored).  A RIP that is not a canonical user address is
			 * refused (nothing changes).  The registers are copied into the
			 * event, not pointed to: the engine applies them after the hub
			 * has let go of every subscriber, whose state may be gone by
			 * then. */
			bool resume;
			struct sym_uregs resume_regs;
		} syscall;
		struct {
			uint8_t vector;
			bool has_error;
			uint32_t error;
			uint64_t cr2; /* #PF: the faulting address */
		} exception;
		struct {
			uint64_t old_cr3, new_cr3;
		} cr3;
		struct {
			uint32_t msr;
			uint64_t value; /* may be changed (the value then written) */
		} msr;
		struct {
			uint64_t gpa, len;
		} dma;
		struct {
			const char *device; /* its id: "virtio-blk", "virtio-blk.1"... */
			enum sym_block_op op;
			uint64_t sector; /* 512-byte units */
			uint64_t bytes;
			bool ok;
			/* READ: the guest pages the disk's data went to; WRITE: the
			 * guest pages it came from (in order, a page or less each) */
			const struct sym_gpa_range *ranges;
			unsigned nranges;
		} block;
		struct {
			uint64_t gpa; /* the bytes written, within one page */
			uint32_t len;
			bool dma; /* a device wrote them (cpu -1, no regs), else the vCPU ev->cpu */
		} write;
		struct {
			uint64_t gpa; /* the bytes read (after the load), within one page */
			uint32_t len;
		} read;
		struct {
			uint64_t gpa; /* the hooked instruction's; regs->rip is its address */
		} hook;
		struct {
			unsigned hit; /* the points hit: bit i for point i (DR6's B0-B3) */
		} hw;
		struct {
			uint64_t rip; /* the instruction that ran; regs are as after it */
		} step;
		struct {
			const char *device;   /* "virtio-net", "virtio-net.1"... */
			bool to_guest;        /* from the host backend to the guest, else the guest sent it */
			const uint8_t *frame; /* the Ethernet frame (valid during the callback only) */
			uint32_t len;
		} packet;
	};
};

enum sym_action {
	SYM_CONTINUE,    /* go on (with whatever the callback changed) */
	SYM_SKIP,        /* SYSCALL_ENTER: do not run the call, return syscall.ret to the
	                  * caller; MSR_WRITE: the write does not happen; PACKET: the
	                  * frame is dropped (counted as filtered) */
	SYM_UNSUBSCRIBE, /* as CONTINUE, and drop this subscription */
	/* CODE_HOOK, STEP, PAGE_READ, HW_POINT and a vCPU's PAGE_WRITE: stop the guest right there,
	 * for a debugger.  The callback first takes a pause hold with
	 * vm_pause_request() (symbiont/vm.h; without a pause pending STOP is
	 * CONTINUE), and the engine parks the vCPU at once: before the hooked
	 * instruction (emu; kvm's INT3 hooks run it on resume), after the
	 * stepped instruction, after the instruction that read or wrote (the
	 * rest of its block does not run).  The subscriber releases the hold with
	 * vm_resume() from another thread, after a vm_pause() of its own if
	 * it wants to wait until every vCPU is parked.  Other event types
	 * treat it as CONTINUE; SKIP wins over it. */
	SYM_STOP,
};

typedef enum sym_action (*sym_event_fn)(void *opaque, struct sym_event *ev);

struct sym_sub;

/* NULL with one line in err: a bad filter, a type this VM's engine does
 * not deliver, too many subscriptions. */
struct sym_sub *sym_subscribe(struct vm *vm, const struct sym_filter *f, sym_event_fn fn, void *opaque, char *err,
                              size_t errlen);
/* Not from inside a callback (return SYM_UNSUBSCRIBE there).  When it
 * returns, the callback is not running and will not run again. */
void sym_unsubscribe(struct sym_sub *s);

/* Watched pages: PAGE_WRITE is delivered for guest writes to the pages of
 * [gpa, gpa+len), and PAGE_READ (emu) for a vCPU's reads of them while a
 * PAGE_READ subscription exists (reads of watched pages then leave the
 * fast path; without one they never do).  PAGE_WRITE: writes to the pages of
 * [gpa, gpa+len) (whole 4 KiB pages, RAM only), from a vCPU (after the
 * store, on its thread) or a device (vm_mem_written, on the device's
 * thread).  A page stays watched until as many sym_unwatch() as
 * sym_watch() calls covered it (each page counts to 255 watches).  Callable
 * from anywhere, callbacks included; a new watch is in force for a vCPU
 * from its next block of instructions (emu: before the guest can see a
 * completion the watch was set from).  Engines that cannot see vCPU writes
 * (kvm) refuse PAGE_WRITE subscriptions.  -1 with err: not RAM, or a page
 * watched 255 times (nothing changed then). */
int sym_watch(struct vm *vm, uint64_t gpa, uint64_t len, char *err, size_t errlen);
void sym_unwatch(struct vm *vm, uint64_t gpa, uint64_t len);
/* For engines: is this page watched?  A load, no lock. */
bool sym_watched(const struct vm *vm, uint64_t gpa);

/* Counters of the hub, for tests and metrics. */
struct sym_event_stats {
	uint64_t delivered[SYM_EV_TYPES];
	uint64_t syscall_exits_unmatched; /* pending exits dropped (execve, signals, a full table) */
};
void sym_event_stats(struct vm *vm, struct sym_event_stats *out);

/* ---- for engines and devices ------------------------------------------------
 * First test vm_events_wanted(vm, type) (symbiont/vm.h): one load. */

/* Whether an instruction starting at gpa has a CODE_HOOK subscriber (for
 * an engine deciding where its decoded blocks end); vm->hooks_gen changes
 * whenever the set of hooks does. */
bool sym_hooked(struct vm *vm, uint64_t gpa);
/* The hooked addresses (at most max of them into gpas); how many there are. */
int sym_hooks(struct vm *vm, uint64_t *gpas, int max);
/* The exception vectors EXCEPTION subscribers asked for: bit v for vector
 * v, all 32 when one wants any. */
uint32_t sym_exception_vectors(struct vm *vm);
/* The MSRs MSR_WRITE subscribers asked for (at most max of them into msrs):
 * how many there are, or -1 when one wants every MSR; vm->msrs_gen
 * changes whenever the set does. */
int sym_msrs(struct vm *vm, uint32_t *msrs, int max);
/* Calls every matching subscriber; SYM_SKIP if any asked for it. */
enum sym_action sym_event_deliver(struct vm *vm, struct sym_event *ev);
/* A SYSCALL_ENTER that went ahead: remember it, so that the return to
 * rip_after on the same user stack (rsp) in the same address space is its
 * exit. */
void sym_syscall_entered(struct vm *vm, const struct sym_event *enter, uint64_t rsp, uint64_t rip_after);
/* A SYSCALL_ENTER a subscriber refused (SYM_SKIP) without moving the
 * vCPU elsewhere (no resume): its EXIT at once, with the result it was
 * given, so that a trace shows the call the caller saw fail.  Its regs
 * are the entry's (RIP at the call instruction).  The exit's subscribers
 * may change enter->syscall.ret, which the engine then returns. */
void sym_syscall_refused(struct vm *vm, struct sym_event *enter);
/* On a return to user mode (r as after the return): true, with *exit
 * filled from its entry, when this returns from a remembered syscall. */
bool sym_syscall_returning(struct vm *vm, const struct sym_regs *r, struct sym_event *exit);
/* A device wrote guest RAM (called by vm_mem_written). */
void sym_event_dma(struct vm *vm, uint64_t gpa, uint64_t len);
/* PAGE_WRITE for the watched pages among [gpa, gpa+len) a device wrote. */
void sym_event_page_dma(struct vm *vm, uint64_t gpa, uint64_t len);
/* Device events are built by the device and passed to sym_event_deliver
 * with cpu -1 and no regs. */

#endif
