/* The device table of a VM and the saved-state blob (symbiont/device.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "symbiont/vm.h"

#define BLOB_MAGIC "SYMD"

/* ---- the table ---------------------------------------------------------- */

int vm_device_add(struct vm *vm, const struct device_ops *ops, void *dev)
{
	struct vm_device *d;
	int n = 0;

	if (vm->ndevices == VM_MAX_DEVICES)
		return -1;
	for (int i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].ops == ops)
			n++;
	d = &vm->devices[vm->ndevices++];
	d->ops = ops;
	d->dev = dev;
	/* The first of a kind keeps the bare name, so one-of devices read
	 * naturally ("pic", "rtc"); later ones count from 1. */
	if (n)
		snprintf(d->id, sizeof(d->id), "%s.%d", ops->name, n);
	else
		snprintf(d->id, sizeof(d->id), "%s", ops->name);
	return 0;
}

void vm_device_remove(struct vm *vm, void *dev)
{
	for (int i = 0; i < vm->ndevices; i++) {
		if (vm->devices[i].dev == dev) {
			memmove(&vm->devices[i], &vm->devices[i + 1], (vm->ndevices - i - 1) * sizeof(vm->devices[0]));
			vm->ndevices--;
			return;
		}
	}
}

int vm_device_count(const struct vm *vm)
{
	return vm->ndevices;
}

const struct vm_device *vm_device_at(const struct vm *vm, int i)
{
	return i >= 0 && i < vm->ndevices ? &vm->devices[i] : NULL;
}

const struct vm_device *vm_device_find(const struct vm *vm, const char *id)
{
	for (int i = 0; i < vm->ndevices; i++)
		if (!strcmp(vm->devices[i].id, id))
			return &vm->devices[i];
	return NULL;
}

/* ---- writer and reader -------------------------------------------------- */

void st_put_bytes(struct state_buf *b, const void *p, size_t n)
{
	if (b->failed || !n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;
		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void st_put8(struct state_buf *b, uint8_t v)
{
	st_put_bytes(b, &v, 1);
}

void st_put16(struct state_buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	st_put_bytes(b, x, 2);
}

void st_put32(struct state_buf *b, uint32_t v)
{
	st_put16(b, (uint16_t)v);
	st_put16(b, (uint16_t)(v >> 16));
}

void st_put64(struct state_buf *b, uint64_t v)
{
	st_put32(b, (uint32_t)v);
	st_put32(b, (uint32_t)(v >> 32));
}

void st_get_bytes(struct state_reader *r, void *p, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->p + r->off, n);
	r->off += n;
}

uint8_t st_get8(struct state_reader *r)
{
	uint8_t v;
	st_get_bytes(r, &v, 1);
	return v;
}

uint16_t st_get16(struct state_reader *r)
{
	uint8_t x[2];
	st_get_bytes(r, x, 2);
	return (uint16_t)(x[0] | x[1] << 8);
}

uint32_t st_get32(struct state_reader *r)
{
	uint32_t lo = st_get16(r);
	return lo | (uint32_t)st_get16(r) << 16;
}

uint64_t st_get64(struct state_reader *r)
{
	uint64_t lo = st_get32(r);
	return lo | (uint64_t)st_get32(r) << 32;
}

bool st_get_bool(struct state_reader *r)
{
	uint8_t v = st_get8(r);
	st_check(r, v <= 1);
	return v == 1;
}

/* ---- the blob ----------------------------------------------------------- */

int device_save(const struct device_ops *ops, void *dev, uint8_t **blob, size_t *len, char *err, size_t errlen)
{
	struct state_buf b = { 0 };
	size_t name_len = strlen(ops->name), len_at;
	uint32_t crc;

	*blob = NULL;
	*len = 0;
	st_put_bytes(&b, BLOB_MAGIC, 4);
	st_put8(&b, (uint8_t)name_len);
	st_put_bytes(&b, ops->name, name_len);
	st_put16(&b, ops->version);
	len_at = b.len;
	st_put32(&b, 0); /* payload length, patched below */
	if (ops->save(dev, &b, err, errlen) < 0) {
		free(b.data);
		return -1;
	}
	if (!b.failed) {
		uint32_t plen = (uint32_t)(b.len - len_at - 4);
		for (int i = 0; i < 4; i++)
			b.data[len_at + i] = (uint8_t)(plen >> (8 * i));
		crc = (uint32_t)crc32(0, b.data, (uInt)b.len);
		st_put32(&b, crc);
	}
	if (b.failed) {
		free(b.data);
		snprintf(err, errlen, "%s: out of memory saving state", ops->name);
		return -1;
	}
	*blob = b.data;
	*len = b.len;
	return 0;
}

int device_load(const struct device_ops *ops, void *dev, const void *blob, size_t len, char *err, size_t errlen)
{
	struct state_reader r = { .p = blob, .len = len };
	size_t name_len = strlen(ops->name);
	char magic[4], name[256];
	uint16_t version;
	uint32_t plen, crc;
	struct state_reader payload;

	if (len < 4 + 1 + 2 + 4 + 4) {
		snprintf(err, errlen, "%s: saved state truncated (%zu bytes)", ops->name, len);
		return -1;
	}
	st_get_bytes(&r, magic, 4);
	if (memcmp(magic, BLOB_MAGIC, 4)) {
		snprintf(err, errlen, "%s: not a saved device state", ops->name);
		return -1;
	}
	st_get_bytes(&r, name, st_get8(&r));
	if (r.bad || r.off != 5 + name_len || memcmp(name, ops->name, name_len)) {
		snprintf(err, errlen, "%s: saved state is of another device", ops->name);
		return -1;
	}
	version = st_get16(&r);
	plen = st_get32(&r);
	if (r.bad || plen > len - r.off || len - r.off - plen != 4) {
		snprintf(err, errlen, "%s: saved state truncated or with trailing bytes", ops->name);
		return -1;
	}
	payload = (struct state_reader){ .p = (const uint8_t *)blob + r.off, .len = plen };
	r.off = len - 4;
	crc = st_get32(&r);
	if ((uint32_t)crc32(0, blob, (uInt)(len - 4)) != crc) {
		snprintf(err, errlen, "%s: saved state is corrupt (checksum)", ops->name);
		return -1;
	}
	if (version != ops->version) {
		snprintf(err, errlen, "%s: saved state version %u, this build reads %u", ops->name, version,
		         ops->version);
		return -1;
	}
	err[0] = 0;
	if (ops->load(dev, &payload, err, errlen) < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: saved state does not fit this device", ops->name);
		return -1;
	}
	return 0;
}

void vm_device_block_evicted(const struct vm *vm, const char *id, uint64_t sector, uint64_t bytes)
{
	const struct vm_device *d = vm_device_find(vm, id);
	if (d && d->ops->block_evicted)
		d->ops->block_evicted(d->dev, sector, bytes);
}

const char *vm_device_id(const struct vm *vm, const void *dev)
{
	for (int i = 0; i < vm->ndevices; i++)
		if (vm->devices[i].dev == dev)
			return vm->devices[i].id;
	return "?";
}
