#!/usr/bin/env bash
# make bench: every benchmark, each beside its peer measured in the same run.
set -eu
cd "$(dirname "$0")/.."
for b in bench/boot.sh bench/cpu.sh bench/virtio.sh bench/vsock_v2v.sh bench/vsock_accel.sh bench/events.sh bench/gears.sh bench/gears_engines.sh bench/gears_inject.sh bench/prof.sh bench/kallsyms.sh \
	bench/snapshot.sh bench/migrate.sh bench/vsched.sh bench/vsched_latency.sh bench/symcall.sh bench/geiger.sh \
	bench/geiger_cache.sh bench/geiger_wss.sh bench/geiger_kvm.sh bench/ipi.sh; do
	echo "== $b"
	bash "$b"
done
