/* libFuzzer target: the virtio PCI transport's register state machine.  The
 * input is a list of 8-byte accesses {kind, size, le16 offset, le32 value}
 * to BAR 4 (modern), I/O BAR 0 (legacy), config space and the MSI-X table,
 * plus kicks, on a virtio-blk device; the same bytes also fill the start of
 * guest RAM so the rings the accesses point at hold something.  Whatever
 * the order (queue changes while live, resets with requests in flight,
 * vectors out of range, PCI_CFG window), nothing may touch memory outside
 * the guest or crash. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "hw/virtio/blk.h"

enum { K_MW, K_MR, K_LW, K_LR, K_CW, K_CR, K_KICK, K_MSIX };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct virtio_blk *b;
	if (!b) {
		char spec[64], err[256];
		int fd = memfd_create("fuzz-disk", 0);
		if (fd < 0 || ftruncate(fd, 1 << 20))
			abort();
		snprintf(spec, sizeof(spec), "/proc/self/fd/%d", fd);
		fz_vm(&f);
		b = virtio_blk_create(f.vm, f.h, spec, err, sizeof(err));
		if (!b)
			abort();
		fz_attach(&f, virtio_blk_dev(b));
	}
	struct pci_device *pd = &f.vd->pci;
	uint8_t *ram = f.vm->mem.host;
	memset(ram, 0, FZ_WIN_MAX);
	memcpy(ram, data, size < FZ_WIN_MAX ? size : FZ_WIN_MAX);

	for (size_t i = 0; i + 8 <= size && i < 8 * 512; i += 8) {
		const uint8_t *r = data + i;
		unsigned sz = 1u << (r[1] & 3), off = r[2] | r[3] << 8;
		uint32_t val = r[4] | r[5] << 8 | r[6] << 16 | (uint32_t)r[7] << 24;
		switch (r[0] & 7) {
		case K_MW: fz_w(&f, false, off % VIRTIO_MODERN_BAR_SIZE, val, sz); break;
		case K_MR: (void)fz_r(&f, false, off % VIRTIO_MODERN_BAR_SIZE, sz); break;
		case K_LW: fz_w(&f, true, off % pd->bar[VIRTIO_BAR_LEGACY].size, val, sz); break;
		case K_LR: (void)fz_r(&f, true, off % pd->bar[VIRTIO_BAR_LEGACY].size, sz); break;
		case K_CW:
			off %= PCI_CFG_SIZE;
			if (sz == 8 || (off >= PCI_COMMAND && off < 0x28))
				break; /* keep the BARs where the harness looks for them */
			pthread_mutex_lock(&f.vm->io_lock);
			pci_cfg_write(pd, off, sz, val);
			pthread_mutex_unlock(&f.vm->io_lock);
			break;
		case K_CR:
			if (sz == 8)
				break;
			pthread_mutex_lock(&f.vm->io_lock);
			(void)pci_cfg_read(pd, off % PCI_CFG_SIZE, sz);
			pthread_mutex_unlock(&f.vm->io_lock);
			break;
		case K_KICK:
			fz_w(&f, false, VIRTIO_NOTIFY_OFF, off & 1, 2);
			if (val & 1)
				virtio_blk_drain(b);
			break;
		case K_MSIX: vm_mmio_write(f.vm, pci_bar_addr(pd, VIRTIO_BAR_MSIX) + (off & 0xffc), val, 4); break;
		}
	}
	virtio_blk_drain(b);
	/* Back to a known state for the next input. */
	fz_w(&f, false, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	pthread_mutex_lock(&f.vm->io_lock);
	pci_cfg_write(pd, pd->msix_cap + 2, 2, 0);
	pthread_mutex_unlock(&f.vm->io_lock);
	virtio_blk_drain(b);
	return 0;
}
