/* VSched (Lin and Dinda, SC'05): a VM reserves "slice of CPU every period"
 * for each of its vCPU threads, with admission control across the VMs of
 * one host, so that every admitted reservation is met.
 *
 * Where the host permits it each reserved thread runs under SCHED_DEADLINE
 * (runtime = slice, deadline = period = period); the kernel's admission
 * control stays the last word and its refusal is reported.  Where it does
 * not (no privilege, a container, a kernel without it), or with cpus=, a
 * user-level scheduler thread in VSched's style runs the VM until its
 * reserved threads have had their slice of CPU and parks its vCPUs for the
 * rest of each period (guest time goes on meanwhile); the vCPU threads run
 * at SCHED_FIFO where permitted, else the reservation is only a cap.
 *
 * Reserved threads: every vCPU thread on kvm; on emu, which runs all vCPUs
 * on vCPU 0's thread, that one thread with ncpus x slice.  The I/O
 * threads (symbiont/iothreads.h: the event loop, the vsock and slirp
 * threads, disk workers), which wake a guest waiting for I/O, run at the
 * lowest SCHED_FIFO priority: ahead of best-effort load, behind every
 * reservation, so a reserved VM's I/O may wait behind other reservations;
 * with io=TIME each of them gets a reservation of its own, io every
 * period (bench/vsched_latency.sh shows what that buys an interactive
 * VM).  The control socket's thread stays best-effort.
 *
 * Admission: a per-user registry of reservations (symbiont/userdir.h,
 * sched/), cleaned of VMs that died, refuses a VM whose reservation would
 * take the host past VSCHED_BOUND of each online CPU (EDF schedules any set
 * whose utilization is at most 1 per CPU; the margin leaves the kernel's
 * own reserve (5% by default) and best-effort threads room). */
#ifndef SYMBIONT_VSCHED_H
#define SYMBIONT_VSCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

#define VSCHED_BOUND 0.90

struct vsched_spec {
	uint64_t period_ns, slice_ns;
	uint64_t io_ns; /* io=TIME for each I/O thread; 0: none */
	uint64_t cpus;  /* cpus=LIST as a mask of host CPUs 0..63; 0: any */
};

/* "period=P,slice=S[,io=T][,cpus=LIST]" with units us, ms or s (e.g.
 * period=100ms,slice=30ms,cpus=0,2-3); LIST is CPU numbers and ranges.
 * 0, or -1 with one line naming --sched.
 *
 * io=T reserves T every period for each of the VM's I/O threads as well
 * (admitted with the rest); it needs SCHED_DEADLINE and is ignored with
 * cpus=, whose user-level scheduler leaves the I/O threads at SCHED_FIFO 1.
 *
 * cpus= pins the reserved threads to LIST.  SCHED_DEADLINE refuses a
 * thread pinned to fewer CPUs than its root domain, so a pinned
 * reservation always runs under the user-level scheduler: each reserved
 * thread at a SCHED_FIFO priority that falls with its period (rate
 * monotonic), parked once it has had its slice of CPU in the period.
 * Admission then also bounds each CPU of the list: the reservations
 * pinned to it, each spread evenly over its own list, may use at most
 * VSCHED_BOUND of it when their periods are harmonic (each divides the
 * next, where rate monotonic meets every deadline up to 100%), else the
 * Liu-Layland bound n(2^(1/n) - 1) for n reservations. */
int vsched_parse(const char *s, struct vsched_spec *out, char *err, size_t errlen);

/* Admits vm's reservation (vm->cfg.sched) against the registry and records
 * it; -1 with the reason, naming the VMs that hold the CPU.  Nothing to do
 * without --sched. */
int vsched_admit(struct vm *vm, char *err, size_t errlen);
/* Drops the reservation (at exit, or before a change). */
void vsched_release(struct vm *vm);
/* On each vCPU thread as it starts (vm_run): takes the reservation. */
void vsched_thread_start(struct vm *vm, struct vcpu *c);
/* A new reservation for a running VM: re-admitted, then applied.  -1 with
 * the reason (the old one stays). */
int vsched_change(struct vm *vm, const struct vsched_spec *s, char *err, size_t errlen);
/* "deadline", "user-level" or "none", and the reservation in force. */
const char *vsched_mode(const struct vm *vm, struct vsched_spec *out);
/* Stops the VM's scheduler thread, if any (at exit). */
void vsched_stop(struct vm *vm);

/* What one reserved thread received, counted by the VM's scheduler thread
 * at the end of each period from the kernel's per-thread schedstat (CPU
 * time; time runnable, waiting or throttled).  "wanted": periods in which
 * it was runnable for its reservation.  Misses and lateness (the time short
 * of the reservation) are exact under the user-level scheduler, whose
 * periods are ours; under SCHED_DEADLINE, whose periods have their own
 * phase, a miss is counted when the thread, runnable throughout, fell
 * behind what the reservation guarantees at any phase (vsched_account.c says how):
 * never a false alarm, but a short miss may go unseen. */
struct vsched_stats {
	uint64_t periods, wanted, misses;
	uint64_t elapsed_ns;                   /* the periods' length in all */
	uint64_t received_ns, entitled_ns;     /* entitled: reservation x wanted periods */
	uint64_t lateness_ns, lateness_max_ns; /* summed over misses; the worst one */
	bool valid;                            /* false: not a reserved thread */
};
/* vcpu's figures (emu: vCPU 0's thread carries every vCPU); 0, or -1 when
 * the VM has no reservation. */
int vsched_stats(struct vm *vm, int vcpu, struct vsched_stats *out);

#endif
