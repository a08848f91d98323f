/* Device writes to guest RAM (DMA) meeting the decoded-block caches.
 *
 * Devices write from any thread; the caches belong to the runner thread.
 * So a write is queued here (adjacent writes merge; past DMA_RANGES the
 * rest is covered by one hull range, whose pages are checked against the
 * code bitmap like any other: a large read must not throw away every
 * decoded block) and the runner applies the queue at a block boundary,
 * before any vCPU can execute from the range. */
#include <string.h>

#include "cpu/emu/sys.h"

void emu_dma_init(struct emu_dma *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

void emu_dma_destroy(struct emu_dma *d)
{
	pthread_mutex_destroy(&d->lock);
}

void emu_dma_queue(struct emu_dma *d, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len < gpa ? ~0ULL : gpa + len;

	pthread_mutex_lock(&d->lock);
	if (d->n && d->r[d->n - 1].end == gpa) {
		d->r[d->n - 1].end = end;
	} else if (d->n < EMU_DMA_RANGES) {
		d->r[d->n++] = (struct emu_dma_range){ gpa, end };
	} else {
		if (d->hull.end == d->hull.gpa || gpa < d->hull.gpa)
			d->hull.gpa = gpa;
		if (end > d->hull.end)
			d->hull.end = end;
	}
	atomic_store(&d->pending, true);
	pthread_mutex_unlock(&d->lock);
}

/* Drops the decoded code on the pages of [a, end). */
static void invalidate(struct emu_cpu *cpu, uint64_t a, uint64_t end)
{
	while (a < end) {
		uint64_t page = a & ~0xfffULL, next = page + 0x1000;
		uint64_t stop = next < end && next > page ? next : end;
		if (emu_page_has_code(cpu, page))
			emu_code_written(cpu, a, (unsigned)(stop - a));
		if (next <= page)
			break;
		a = stop;
	}
}

void emu_dma_apply(struct emu_dma *d, struct vm *vm)
{
	struct emu_dma_range r[EMU_DMA_RANGES + 1];
	int n;

	if (!atomic_load(&d->pending))
		return;
	pthread_mutex_lock(&d->lock);
	n = d->n;
	memcpy(r, d->r, n * sizeof(r[0]));
	if (d->hull.end != d->hull.gpa)
		r[n++] = d->hull;
	d->n = 0;
	d->hull = (struct emu_dma_range){ 0, 0 };
	atomic_store(&d->pending, false);
	pthread_mutex_unlock(&d->lock);
	for (int c = 0; c < vm->ncpus; c++) {
		struct emu_cpu *cpu;
		if (!vm->vcpus[c] || !vm->vcpus[c]->priv)
			continue;
		cpu = emu_cpu_of(vm->vcpus[c]);
		if (!cpu->blocks)
			continue;
		for (int i = 0; i < n; i++)
			invalidate(cpu, r[i].gpa, r[i].end);
	}
}
