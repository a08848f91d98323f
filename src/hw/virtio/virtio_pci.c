/* Virtio PCI transport: modern capabilities in BAR 4, legacy registers in
 * I/O BAR 0 for transitional devices, MSI-X in BAR 1, INTx with the ISR.
 * See virtio.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virtio/virtio.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

/* Transitional PCI device ids (virtio 1.0 §4.1.2.1); 0 = modern only. */
static uint16_t legacy_id(uint16_t type)
{
	switch (type) {
	case VIRTIO_ID_NET: return 0x1000;
	case VIRTIO_ID_BLOCK: return 0x1001;
	case VIRTIO_ID_CONSOLE: return 0x1003;
	case VIRTIO_ID_RNG: return 0x1005;
	case 5: return 0x1002; /* balloon */
	case 8: return 0x1004; /* scsi */
	case 9: return 0x1009; /* 9p */
	default: return 0;
	}
}

bool virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return vd->guest_features >> bit & 1;
}

bool virtio_queue_ready(const struct virtio_dev *vd, unsigned q)
{
	return q < vd->nqueues && vd->vq[q].enabled && !vd->vq[q].broken &&
	       !(vd->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void virtio_cfg_put(struct virtio_dev *vd, unsigned off, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size && off + i < vd->config_len; i++)
		vd->config[off + i] = v >> (8 * i);
}

/* ---- interrupts ------------------------------------------------------- */

static void send_irq(struct virtio_dev *vd, uint16_t vector, uint8_t isr_bit)
{
	if (pci_msix_enabled(&vd->pci)) {
		if (vector != VIRTIO_NO_VECTOR)
			pci_msix_notify(&vd->pci, vector);
		return;
	}
	vd->isr |= isr_bit;
	pci_set_irq(&vd->pci, 1);
}

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->nqueues || !vq_should_notify(&vd->vq[q]))
		return;
	send_irq(vd, vd->vq[q].msix_vector, VIRTIO_ISR_QUEUE);
}

void virtio_config_changed(struct virtio_dev *vd, bool bump_generation)
{
	if (bump_generation)
		vd->config_generation++;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		send_irq(vd, vd->msix_config, VIRTIO_ISR_CONFIG);
}

void virtio_dev_error(struct virtio_dev *vd, const char *why)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	if (!vd->quiet)
		fprintf(stderr, "symbiont: %s: %s; the device needs a reset\n", vd->ops->name, why);
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	send_irq(vd, vd->msix_config, VIRTIO_ISR_CONFIG);
}

/* ---- state changes ------------------------------------------------------ */

static void apply_ring_features(struct virtio_dev *vd)
{
	for (unsigned q = 0; q < vd->nqueues; q++) {
		vd->vq[q].event_idx = virtio_has_feature(vd, VIRTIO_F_RING_EVENT_IDX);
		vd->vq[q].indirect = virtio_has_feature(vd, VIRTIO_F_RING_INDIRECT_DESC);
	}
}

static void dev_reset(struct virtio_dev *vd)
{
	if (vd->ops->reset)
		vd->ops->reset(vd);
	vd->status = 0;
	vd->isr = 0;
	vd->guest_features = 0;
	vd->dfselect = vd->gfselect = 0;
	vd->msix_config = VIRTIO_NO_VECTOR;
	vd->queue_sel = 0;
	vd->legacy = false;
	for (unsigned q = 0; q < vd->nqueues; q++)
		vq_reset(&vd->vq[q]);
	pci_set_irq(&vd->pci, 0);
}

static void set_status(struct virtio_dev *vd, uint8_t v)
{
	if (!v) {
		dev_reset(vd);
		return;
	}
	uint8_t old = vd->status;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* The driver may only accept what was offered, and on the
		 * modern interface it must accept VERSION_1. */
		if ((vd->guest_features & ~vd->host_features) ||
		    (!vd->legacy && !virtio_has_feature(vd, VIRTIO_F_VERSION_1)))
			v &= ~VIRTIO_STATUS_FEATURES_OK;
		else
			apply_ring_features(vd);
	}
	vd->status = v | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && vd->ops->driver_ok)
		vd->ops->driver_ok(vd);
}

static void kick(struct virtio_dev *vd, unsigned q)
{
	/* A replay's devices do nothing for a notify: what they wrote into
	 * guest RAM comes from the log at this write (docs/replay.md). */
	if (vd->vm && vd->vm->replay && replay_playing(vd->vm))
		return;
	if (virtio_queue_ready(vd, q))
		vd->ops->notify(vd, q);
}

static struct virtqueue *cur_vq(struct virtio_dev *vd)
{
	return vd->queue_sel < vd->nqueues ? &vd->vq[vd->queue_sel] : NULL;
}

static void enable_queue(struct virtio_dev *vd, struct virtqueue *vq)
{
	apply_ring_features(vd);
	if (vq_start(vq))
		virtio_dev_error(vd, "queue rings outside guest RAM or badly sized");
}

static uint16_t checked_vector(struct virtio_dev *vd, uint16_t v)
{
	return v < vd->pci.msix_nvec ? v : VIRTIO_NO_VECTOR;
}

/* ---- device config (both interfaces) ------------------------------------ */

static uint64_t config_read(struct virtio_dev *vd, uint64_t off, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		if (off + i < vd->config_len)
			v |= (uint64_t)vd->config[off + i] << (8 * i);
	return v;
}

static void config_write(struct virtio_dev *vd, uint64_t off, uint64_t val, unsigned size)
{
	if (off >= vd->config_wmask_len || off + size > vd->config_wmask_len)
		return;
	for (unsigned i = 0; i < size; i++)
		vd->config[off + i] = val >> (8 * i);
	if (vd->ops->config_write)
		vd->ops->config_write(vd, off, size);
}

/* ---- modern interface: BAR 4 ------------------------------------------- */

static uint64_t common_read(struct virtio_dev *vd, uint64_t off, unsigned size)
{
	/* Build the structure's current image, then read any slice of it. */
	uint8_t img[VIRTIO_PCI_COMMON_SIZE] = { 0 };
	struct virtqueue *vq = cur_vq(vd);
	uint32_t df = vd->dfselect == 0   ? (uint32_t)vd->host_features
	              : vd->dfselect == 1 ? (uint32_t)(vd->host_features >> 32)
	                                  : 0;
	uint32_t gf = vd->gfselect == 0   ? (uint32_t)vd->guest_features
	              : vd->gfselect == 1 ? (uint32_t)(vd->guest_features >> 32)
	                                  : 0;
#define PUT(o, v, n)                                    \
	do {                                            \
		uint64_t _v = (v);                      \
		for (unsigned _i = 0; _i < (n); _i++)   \
			img[(o) + _i] = _v >> (8 * _i); \
	} while (0)
	PUT(VIRTIO_PCI_COMMON_DFSELECT, vd->dfselect, 4);
	PUT(VIRTIO_PCI_COMMON_DF, df, 4);
	PUT(VIRTIO_PCI_COMMON_GFSELECT, vd->gfselect, 4);
	PUT(VIRTIO_PCI_COMMON_GF, gf, 4);
	PUT(VIRTIO_PCI_COMMON_MSIX, vd->msix_config, 2);
	PUT(VIRTIO_PCI_COMMON_NUMQ, vd->nqueues, 2);
	PUT(VIRTIO_PCI_COMMON_STATUS, vd->status, 1);
	PUT(VIRTIO_PCI_COMMON_CFGGENERATION, vd->config_generation, 1);
	PUT(VIRTIO_PCI_COMMON_Q_SELECT, vd->queue_sel, 2);
	if (vq) {
		PUT(VIRTIO_PCI_COMMON_Q_SIZE, vq->size, 2);
		PUT(VIRTIO_PCI_COMMON_Q_MSIX, vq->msix_vector, 2);
		PUT(VIRTIO_PCI_COMMON_Q_ENABLE, vq->enabled, 2);
		PUT(VIRTIO_PCI_COMMON_Q_NOFF, vd->queue_sel, 2);
		PUT(VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc_gpa, 8);
		PUT(VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail_gpa, 8);
		PUT(VIRTIO_PCI_COMMON_Q_USEDLO, vq->used_gpa, 8);
	}
#undef PUT
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < sizeof(img); i++)
		v |= (uint64_t)img[off + i] << (8 * i);
	return v;
}

static void set_half(uint64_t *a, bool hi, uint64_t val, unsigned size)
{
	if (size == 8 && !hi)
		*a = val;
	else if (hi)
		*a = (*a & 0xffffffffull) | (uint64_t)(uint32_t)val << 32;
	else
		*a = (*a & ~0xffffffffull) | (uint32_t)val;
}

static void common_write(struct virtio_dev *vd, uint64_t off, uint64_t val, unsigned size)
{
	struct virtqueue *vq = cur_vq(vd);
	bool live = vq && vq->enabled; /* a live queue's layout is fixed */
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: vd->dfselect = val; break;
	case VIRTIO_PCI_COMMON_GFSELECT: vd->gfselect = val; break;
	case VIRTIO_PCI_COMMON_GF:
		if (vd->status & VIRTIO_STATUS_FEATURES_OK)
			break; /* frozen once accepted */
		if (vd->gfselect == 0)
			vd->guest_features = (vd->guest_features & ~0xffffffffull) | (uint32_t)val;
		else if (vd->gfselect == 1)
			vd->guest_features = (vd->guest_features & 0xffffffffull) | (uint64_t)(uint32_t)val << 32;
		break;
	case VIRTIO_PCI_COMMON_MSIX: vd->msix_config = checked_vector(vd, val); break;
	case VIRTIO_PCI_COMMON_STATUS:
		vd->legacy = false;
		set_status(vd, val);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT: vd->queue_sel = val; break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (vq && !live)
			vq->size = val;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (vq)
			vq->msix_vector = checked_vector(vd, val);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (vq && !live && (val & 1))
			enable_queue(vd, vq);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (vq && !live)
			set_half(&vq->desc_gpa, off == VIRTIO_PCI_COMMON_Q_DESCHI, val, size);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (vq && !live)
			set_half(&vq->avail_gpa, off == VIRTIO_PCI_COMMON_Q_AVAILHI, val, size);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (vq && !live)
			set_half(&vq->used_gpa, off == VIRTIO_PCI_COMMON_Q_USEDHI, val, size);
		break;
	default: break; /* read-only fields */
	}
}

static uint8_t isr_read(struct virtio_dev *vd)
{
	uint8_t v = vd->isr;
	vd->isr = 0;
	pci_set_irq(&vd->pci, 0);
	return v;
}

static uint64_t modern_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vd = opaque;
	if (off < VIRTIO_PCI_COMMON_SIZE)
		return common_read(vd, off, size);
	if (off == VIRTIO_ISR_OFF)
		return isr_read(vd);
	if (off >= VIRTIO_DEVCFG_OFF && off < VIRTIO_DEVCFG_OFF + 0x1000)
		return config_read(vd, off - VIRTIO_DEVCFG_OFF, size);
	return 0;
}

static void modern_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct virtio_dev *vd = opaque;
	if (off < VIRTIO_PCI_COMMON_SIZE)
		common_write(vd, off, val, size);
	else if (off >= VIRTIO_DEVCFG_OFF && off < VIRTIO_DEVCFG_OFF + 0x1000)
		config_write(vd, off - VIRTIO_DEVCFG_OFF, val, size);
	else if (off >= VIRTIO_NOTIFY_OFF && off < VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * vd->nqueues)
		kick(vd, (off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT);
}

static const struct io_ops modern_ops = { modern_read, modern_write };

/* ---- legacy interface: I/O BAR 0 ---------------------------------------- */

static unsigned legacy_cfg_off(const struct virtio_dev *vd)
{
	return pci_msix_enabled(&vd->pci) ? VIRTIO_LEGACY_CONFIG_MSIX : VIRTIO_LEGACY_CONFIG;
}

static uint64_t legacy_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vd = opaque;
	struct virtqueue *vq = cur_vq(vd);
	unsigned cfg = legacy_cfg_off(vd);
	if (off >= cfg)
		return config_read(vd, off - cfg, size);
	switch (off) {
	case VIRTIO_LEGACY_HOST_FEATURES: return (uint32_t)vd->host_features;
	case VIRTIO_LEGACY_GUEST_FEATURES: return (uint32_t)vd->guest_features;
	case VIRTIO_LEGACY_QUEUE_PFN: return vq && vq->enabled ? vq->desc_gpa >> 12 : 0;
	case VIRTIO_LEGACY_QUEUE_NUM: return vq ? vq->max_size : 0;
	case VIRTIO_LEGACY_QUEUE_SEL: return vd->queue_sel;
	case VIRTIO_LEGACY_STATUS: return vd->status;
	case VIRTIO_LEGACY_ISR: return isr_read(vd);
	case VIRTIO_LEGACY_MSI_CONFIG: return vd->msix_config;
	case VIRTIO_LEGACY_MSI_QUEUE: return vq ? vq->msix_vector : VIRTIO_NO_VECTOR;
	default: return 0;
	}
}

static void legacy_set_pfn(struct virtio_dev *vd, struct virtqueue *vq, uint32_t pfn)
{
	if (!pfn) {
		vq_reset(vq);
		return;
	}
	/* Legacy ring layout: fixed size, avail right after the table, used
	 * on the next 4 KiB boundary. */
	vq->size = vq->max_size;
	vq->desc_gpa = (uint64_t)pfn << 12;
	vq->avail_gpa = vq->desc_gpa + 16ull * vq->size;
	vq->used_gpa = (vq->avail_gpa + 6 + 2ull * vq->size + VIRTIO_LEGACY_VRING_ALIGN - 1) &
	               ~(uint64_t)(VIRTIO_LEGACY_VRING_ALIGN - 1);
	enable_queue(vd, vq);
}

static void legacy_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct virtio_dev *vd = opaque;
	struct virtqueue *vq = cur_vq(vd);
	unsigned cfg = legacy_cfg_off(vd);
	if (off >= cfg) {
		config_write(vd, off - cfg, val, size);
		return;
	}
	switch (off) {
	case VIRTIO_LEGACY_GUEST_FEATURES:
		vd->legacy = true;
		vd->guest_features = (uint32_t)val & vd->host_features;
		apply_ring_features(vd);
		break;
	case VIRTIO_LEGACY_QUEUE_PFN:
		vd->legacy = true;
		if (vq)
			legacy_set_pfn(vd, vq, val);
		break;
	case VIRTIO_LEGACY_QUEUE_SEL: vd->queue_sel = val; break;
	case VIRTIO_LEGACY_QUEUE_NOTIFY: kick(vd, (uint16_t)val); break;
	case VIRTIO_LEGACY_STATUS:
		vd->legacy = true;
		set_status(vd, val);
		break;
	case VIRTIO_LEGACY_MSI_CONFIG: vd->msix_config = checked_vector(vd, val); break;
	case VIRTIO_LEGACY_MSI_QUEUE:
		if (vq)
			vq->msix_vector = checked_vector(vd, val);
		break;
	default: break;
	}
}

static const struct io_ops legacy_ops = { legacy_read, legacy_write };

/* ---- VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space ----------- */

/* The driver sets bar, offset and length in the capability, then reads or
 * writes pci_cfg_data (cap + 16) to access that BAR window. */
static bool pcicfg_window(struct virtio_dev *vd, unsigned off, unsigned size, uint32_t *boff, unsigned *len)
{
	const uint8_t *c = &vd->pci.cfg[vd->pcicfg_cap];
	unsigned data = vd->pcicfg_cap + 16;
	if (!vd->pcicfg_cap || off >= data + 4 || off + size <= data)
		return false;
	*boff = c[8] | c[9] << 8 | c[10] << 16 | (uint32_t)c[11] << 24;
	*len = c[12];
	return c[4] == VIRTIO_BAR_MODERN && (*len == 1 || *len == 2 || *len == 4) && *boff < VIRTIO_MODERN_BAR_SIZE &&
	       *boff % *len == 0;
}

static uint32_t pcicfg_read(struct pci_device *p, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_dev *vd = p->opaque;
	uint32_t boff;
	unsigned len;
	if (!pcicfg_window(vd, off, size, &boff, &len))
		return val;
	uint32_t v = modern_read(vd, boff, len);
	return off == vd->pcicfg_cap + 16u ? v : val;
}

static void pcicfg_write(struct pci_device *p, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_dev *vd = p->opaque;
	uint32_t boff;
	unsigned len;
	(void)val;
	if (!pcicfg_window(vd, off, size, &boff, &len) || off != vd->pcicfg_cap + 16u)
		return;
	const uint8_t *d = &p->cfg[off];
	modern_write(vd, boff, d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24, len);
}

/* ---- setup -------------------------------------------------------------- */

static void add_cap(struct virtio_dev *vd, uint8_t type, uint32_t off, uint32_t len)
{
	uint8_t clen = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16;
	int c = pci_add_capability(&vd->pci, PCI_CAP_ID_VNDR, clen);
	if (c < 0)
		return; /* cannot happen: the caps fit in 192 bytes */
	uint8_t *p = &vd->pci.cfg[c];
	p[2] = clen;
	p[3] = type;
	p[4] = VIRTIO_BAR_MODERN;
	for (int i = 0; i < 4; i++) {
		p[8 + i] = off >> (8 * i);
		p[12 + i] = len >> (8 * i);
	}
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		p[16] = VIRTIO_NOTIFY_MULT;
}

int virtio_dev_init(struct virtio_dev *vd, struct vm *vm, const struct virtio_dev_ops *ops, void *opaque,
                    unsigned nqueues, uint16_t queue_size, unsigned config_len, uint64_t features)
{
	if (!nqueues || nqueues > VIRTIO_MAX_QUEUES || !queue_size || queue_size > VQ_MAX_SIZE ||
	    (queue_size & (queue_size - 1)) || config_len > 0x100 - VIRTIO_LEGACY_CONFIG_MSIX || !ops->notify)
		return -1;
	memset(vd, 0, sizeof(*vd));
	uint16_t lid = legacy_id(ops->type);
	vd->vm = vm;
	vd->ops = ops;
	vd->opaque = opaque;
	vd->transitional = lid != 0;
	vd->host_features = features | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_EVENT_IDX |
	                    1ull << VIRTIO_F_RING_INDIRECT_DESC;
	vd->nqueues = nqueues;
	vd->config_len = config_len;
	vd->config = calloc(1, config_len ? config_len : 1);
	if (!vd->config)
		return -1;
	for (unsigned q = 0; q < nqueues; q++) {
		vd->vq[q].mem = &vm->mem;
		vd->vq[q].vm = vm;
		vd->vq[q].max_size = queue_size;
		vq_reset(&vd->vq[q]);
	}
	vd->msix_config = VIRTIO_NO_VECTOR;

	struct pci_device *p = &vd->pci;
	pci_device_init(p, vm, VIRTIO_PCI_VENDOR, lid ? lid : 0x1040 + ops->type, ops->pci_class, VIRTIO_PCI_VENDOR,
	                ops->type);
	p->cfg[PCI_REVISION_ID] = lid ? 0 : 1;
	p->opaque = vd;
	if (lid &&
	    pci_bar_init(p, VIRTIO_BAR_LEGACY, PCI_BAR_IO, VIRTIO_LEGACY_CONFIG_MSIX + config_len, &legacy_ops, vd))
		goto fail;
	if (pci_msix_init(p, nqueues + 1, VIRTIO_BAR_MSIX))
		goto fail;
	if (pci_bar_init(p, VIRTIO_BAR_MODERN, PCI_BAR_MEM64, VIRTIO_MODERN_BAR_SIZE, &modern_ops, vd))
		goto fail;
	add_cap(vd, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE);
	add_cap(vd, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_NOTIFY_OFF, VIRTIO_NOTIFY_MULT * nqueues);
	add_cap(vd, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_ISR_OFF, 1);
	if (config_len)
		add_cap(vd, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_DEVCFG_OFF, config_len);
	int c = pci_add_capability(p, PCI_CAP_ID_VNDR, 20);
	if (c > 0) {
		vd->pcicfg_cap = c;
		p->cfg[c + 2] = 20;
		p->cfg[c + 3] = VIRTIO_PCI_CAP_PCI_CFG;
		p->wmask[c + 4] = 0xff;             /* bar */
		memset(&p->wmask[c + 8], 0xff, 12); /* offset, length, data */
		p->cfg_read = pcicfg_read;
		p->cfg_write = pcicfg_write;
	}
	return 0;
fail:
	virtio_dev_free(vd);
	return -1;
}

int virtio_dev_register(struct virtio_dev *vd, struct pci_host *h, char *err, size_t errlen)
{
	if (!h) {
		snprintf(err, errlen, "%s: no PCI bus", vd->ops->name);
		return -1;
	}
	if (pci_register(h, &vd->pci, err, errlen))
		return -1;
	if (vd->ops->lifecycle && vm_device_add(vd->vm, vd->ops->lifecycle, vd->opaque)) {
		pci_unregister(&vd->pci);
		snprintf(err, errlen, "%s: too many devices", vd->ops->name);
		return -1;
	}
	return 0;
}

void virtio_dev_unregister(struct virtio_dev *vd)
{
	vm_device_remove(vd->vm, vd->opaque);
	pci_unregister(&vd->pci);
}

/* ---- lifecycle ----------------------------------------------------------- */

void virtio_dev_reset(struct virtio_dev *vd)
{
	dev_reset(vd);
}

void virtio_state_save(const struct virtio_dev *vd, struct state_buf *b)
{
	pci_state_save(&vd->pci, b);
	st_put64(b, vd->host_features);
	st_put_bool(b, vd->legacy);
	st_put64(b, vd->guest_features);
	st_put32(b, vd->dfselect);
	st_put32(b, vd->gfselect);
	st_put8(b, vd->status);
	st_put8(b, vd->isr);
	st_put8(b, vd->config_generation);
	st_put16(b, vd->msix_config);
	st_put16(b, vd->queue_sel);
	st_put8(b, (uint8_t)vd->nqueues);
	for (unsigned q = 0; q < vd->nqueues; q++) {
		const struct virtqueue *vq = &vd->vq[q];
		st_put16(b, vq->size);
		st_put16(b, vq->max_size);
		st_put16(b, vq->msix_vector);
		st_put_bool(b, vq->enabled);
		st_put64(b, vq->desc_gpa);
		st_put64(b, vq->avail_gpa);
		st_put64(b, vq->used_gpa);
		st_put_bool(b, vq->event_idx);
		st_put_bool(b, vq->indirect);
		st_put_bool(b, vq->broken);
		st_put16(b, vq->last_avail);
		st_put16(b, vq->used_idx);
		st_put16(b, vq->signalled_used);
		st_put_bool(b, vq->signalled_valid);
	}
	st_put16(b, (uint16_t)vd->config_len);
	st_put_bytes(b, vd->config, vd->config_len);
}

static bool vector_ok(const struct virtio_dev *vd, uint16_t v)
{
	return v == VIRTIO_NO_VECTOR || v < vd->pci.msix_nvec;
}

void virtio_state_read(const struct virtio_dev *vd, struct state_reader *r, struct virtio_state *s)
{
	pci_state_read(&vd->pci, r, &s->pci);
	st_check(r, st_get64(r) == vd->host_features); /* the same device, offering the same */
	s->legacy = st_get_bool(r);
	st_check(r, !s->legacy || vd->transitional);
	s->guest_features = st_get64(r);
	s->dfselect = st_get32(r);
	s->gfselect = st_get32(r);
	s->status = st_get8(r);
	s->isr = st_get8(r);
	s->config_generation = st_get8(r);
	s->msix_config = st_get16(r);
	st_check(r, vector_ok(vd, s->msix_config));
	s->queue_sel = st_get16(r);
	st_check(r, st_get8(r) == vd->nqueues);
	for (unsigned q = 0; q < vd->nqueues && !r->bad; q++) {
		struct virtqueue *vq = &s->vq[q];
		*vq = vd->vq[q]; /* mem, vm */
		vq->size = st_get16(r);
		st_check(r, st_get16(r) == vd->vq[q].max_size);
		vq->msix_vector = st_get16(r);
		st_check(r, vector_ok(vd, vq->msix_vector));
		vq->enabled = st_get_bool(r);
		vq->desc_gpa = st_get64(r);
		vq->avail_gpa = st_get64(r);
		vq->used_gpa = st_get64(r);
		vq->event_idx = st_get_bool(r);
		vq->indirect = st_get_bool(r);
		vq->broken = st_get_bool(r);
		vq->last_avail = st_get16(r);
		vq->used_idx = st_get16(r);
		vq->signalled_used = st_get16(r);
		vq->signalled_valid = st_get_bool(r);
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		/* An enabled queue's rings must be where the guest can have them:
		 * the same checks as when the driver enabled it. */
		if (vq->enabled)
			st_check(r, vq_map(vq) == 0);
	}
	st_check(r, st_get16(r) == vd->config_len);
	if (!r->bad)
		st_get_bytes(r, s->config, vd->config_len);
}

void virtio_state_apply(struct virtio_dev *vd, const struct virtio_state *s)
{
	pci_state_apply(&vd->pci, &s->pci);
	vd->legacy = s->legacy;
	vd->guest_features = s->guest_features;
	vd->dfselect = s->dfselect;
	vd->gfselect = s->gfselect;
	vd->status = s->status;
	vd->isr = s->isr;
	vd->config_generation = s->config_generation;
	vd->msix_config = s->msix_config;
	vd->queue_sel = s->queue_sel;
	memcpy(vd->vq, s->vq, vd->nqueues * sizeof(vd->vq[0]));
	memcpy(vd->config, s->config, vd->config_len);
}

void virtio_stats(const struct virtio_dev *vd, device_stat_fn emit, void *ctx)
{
	emit(ctx, "status", vd->status);
	emit(ctx, "guest_features", vd->guest_features);
	for (unsigned q = 0; q < vd->nqueues; q++) {
		char key[32];
		snprintf(key, sizeof(key), "vq%u_used_idx", q);
		emit(ctx, key, vd->vq[q].used_idx);
	}
}

void virtio_dev_free(struct virtio_dev *vd)
{
	pci_msix_free(&vd->pci);
	free(vd->config);
	vd->config = NULL;
}

/* ---- devices whose whole guest state is the transport's ------------------ */

void virtio_plain_reset(void *dev)
{
	virtio_dev_reset(dev);
}

int virtio_plain_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	virtio_state_save(dev, b);
	return 0;
}

int virtio_plain_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct virtio_dev *vd = dev;
	struct virtio_state *s = malloc(sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "%s: out of memory", vd->ops->name);
		return -1;
	}
	virtio_state_read(vd, r, s);
	if (st_ok(r))
		virtio_state_apply(vd, s);
	free(s);
	return st_ok(r) ? 0 : -1;
}

void virtio_plain_stats(void *dev, device_stat_fn emit, void *ctx)
{
	virtio_stats(dev, emit, ctx);
}
