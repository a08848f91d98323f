#!/usr/bin/env bash
# What Geiger's write tracking would cost on kvm: the dirty page log's
# collect rate and the guest's page-write rate with and without it, with a
# test guest (bench/dirty_kvm.c).  Skips where there is no /dev/kvm.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/bench/dirty_kvm"
"$BUILD/bench/dirty_kvm" "${SECONDS_EACH:-2}" "${INTERVAL_MS:-100}"
