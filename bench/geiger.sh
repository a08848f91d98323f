#!/usr/bin/env bash
# Geiger scored against the truth (issue 12): the default Debian guest on
# emu, a disk built here (ext4 with its journal), workloads one after the
# other, each a phase of one run:
#   drop     drop_caches: everything the boot cached leaves
#   seq      a sequential read of a file larger than the guest's RAM
#   reread   a hot set of small files (well under RAM) read three times
#   delete   a new file written, synced and deleted, then another read
#            (the deleted file's freed pages are reused)
#   dropmid  drop_caches after a 32 MiB read, then another 32 MiB read
#   mmap     a file read through a shared mapping (page faults, no read(2))
#   random   random 4 KiB reads over a 64 MiB hot set (fixed seed)
#   files    many small files created, appended to, synced and deleted
#   journal  a log appended to and synced line by line (jbd2 commits)
#   mixed    a scan, random reads and small-file churn at the same time
#   settle   45 s idle: pages written by the CPU and never written back
#            time out (Geiger's suspect timeout is 40 s)
# The guest's kernel reports its own page-cache insertions and deletions
# through the symbiotic module's page-cache ring (the filemap tracepoints,
# stamped with the guest's TSC, which on emu is the VM's clock), which the
# VMM follows into a host file with no exit (pcache-follow-start).  The
# phases are marked in the guest's ftrace buffer (trace_marker, the same
# x86-tsc clock), written at the end to a second, raw disk that the host
# reads after the VM is gone.  The inference never sees any of it: it runs
# as it always does, and bench/geiger/score.py compares its records (taken
# with geiger-follow) with the ring, page frame by page frame.
# MEM (default 160M) and BIG (default 224, MiB) set the scan's size.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
MEM=${MEM:-160M}
BIG=${BIG:-224}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
command -v mke2fs >/dev/null || die "mke2fs missing (scripts/deps.sh)"
control_init bench-geiger

# What the guest's x86-tsc clock counts per VM nanosecond on emu.
tsc_per_ns=$(awk '/define EMU_CRYSTAL_HZ/ {c=$3} /define EMU_TSC_RATIO/ {r=$3} END {sub("ULL","",c); sub("ULL","",r); print c*r/1e9}' src/cpu/emu/sys.h)

mkdir -p "$tmp/root/hot"
gcc -static -O2 -o "$tmp/root/mmap_read" bench/geiger/mmap_read.c || die "cannot build the guest's mmap reader"
gcc -static -O2 -o "$tmp/root/random_read" bench/geiger/random_read.c || die "cannot build the guest's random reader"
head -c 64M /dev/urandom >"$tmp/root/hotset.bin"
head -c "${BIG}M" /dev/urandom >"$tmp/root/big.bin"
head -c 32M /dev/urandom >"$tmp/root/mid1.bin"
head -c 32M /dev/urandom >"$tmp/root/mid2.bin"
head -c 24M /dev/urandom >"$tmp/root/map.bin"
for i in $(seq 1 24); do head -c 1M /dev/urandom >"$tmp/root/hot/$i"; done
mke2fs -q -F -t ext4 -d "$tmp/root" "$tmp/disk.img" $((BIG + 320))M >/dev/null 2>&1 || die "mke2fs"
rm -rf "$tmp/root"
truncate -s 96M "$tmp/trace.img"

guest_start g "$SYM" run --name "$name" --mem "$MEM" --disk "$tmp/disk.img" --disk "$tmp/trace.img" ||
	die "the guest never became ready: $(tail -3 "$tmp/g.err")"
run() { # MARKER COMMANDS: runs them in the guest, waits for MARKER-DONE
	echo "$2; echo $1-\"DONE\"" >&3
	guest_wait_for g "^$1-DONE" "${3:-900}" || die "guest step $1 did not finish: $(tail -3 "$tmp/g.out")"
}
T=/sys/kernel/tracing
run SETUP "mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; mount -t tracefs none $T; echo x86-tsc >$T/trace_clock;
echo 0 >$T/tracing_on; sync"
qmp pcache-follow-start "{\"path\": \"$tmp/ring.txt\"}" >/dev/null ||
	die "the guest's page-cache ring: $(qmp pcache-follow-start "{\"path\": \"$tmp/ring.txt\"}" 2>&1)"

python3 bench/geiger/score.py follow "$sock" "$tmp/records" &
bg_pids+=($!)
sleep 1
qmp geiger >"$tmp/base" || die "geiger: $(cat "$tmp/base")"
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
[ "$(field tracking <"$tmp/base")" = True ] || die "geiger is not tracking"
base_seq=$(field records <"$tmp/base") base_pages=$(field cache_pages <"$tmp/base")

mark() { echo "echo PHASE-$1 >$T/trace_marker"; }
t0=$(date +%s)
run DROP "echo 1 >$T/tracing_on; $(mark drop); echo 3 >/proc/sys/vm/drop_caches"
run SEQ "$(mark seq); cat /mnt/big.bin >/dev/null"
run REREAD "$(mark reread); for i in 1 2 3; do cat /mnt/hot/* >/dev/null; done"
run DELETE "$(mark delete); dd if=/dev/urandom of=/mnt/new.bin bs=1M count=16 2>/dev/null; sync; rm /mnt/new.bin; sync; cat /mnt/mid1.bin >/dev/null"
run DROPMID "$(mark dropmid); echo 3 >/proc/sys/vm/drop_caches; cat /mnt/mid2.bin >/dev/null"
run MMAP "$(mark mmap); /mnt/mmap_read /mnt/map.bin"
run RANDOM "$(mark random); /mnt/random_read /mnt/hotset.bin 30000"
churn='mkdir -p /mnt/many; for i in $(seq 1 300); do head -c 8192 /dev/urandom >/mnt/many/$i; done;
for i in $(seq 1 300); do echo appended >>/mnt/many/$i; done; sync; rm -r /mnt/many; sync'
run FILES "$(mark files); $churn"
run JOURNAL "$(mark journal); for i in \$(seq 1 300); do echo line \$i >>/mnt/log.txt; sync; done"
run MIXED "$(mark mixed); cat /mnt/mid1.bin >/dev/null & /mnt/random_read /mnt/hotset.bin 10000 & $churn; wait"
run SETTLE "$(mark settle); sleep 45; $(mark end); echo 0 >$T/tracing_on"
t1=$(date +%s)
qmp geiger >"$tmp/final" || die "geiger: $(cat "$tmp/final")"
qmp pcache-follow-stop >"$tmp/ring.stop" || die "pcache-follow-stop"
run OVERRUN "grep -E 'overrun|dropped' $T/per_cpu/cpu0/stats | tr '\\n' ' '; echo"
overrun=$(tr -d '\r' <"$tmp/g.out" | grep -o 'overrun: [0-9]*' | tail -1)
run DUMP "cat $T/trace >/dev/vdb; sync"
echo 'poweroff -f' >&3
guest_finish g 60
for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
tr -d '\000' <"$tmp/trace.img" >"$tmp/trace.txt"

echo "geiger bench: emu, $MEM guest, ext4 with journal, a ${BIG} MiB scan; workloads took $((t1 - t0)) s;" \
	"trace buffer $overrun; follower dropped $(field follow_dropped <"$tmp/final") records;" \
	"page-cache ring: $(field records <"$tmp/ring.stop") records, $(field lost <"$tmp/ring.stop") lost"
python3 - "$tmp/final" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
fs = ", ".join(f"{f['device']}: " + (f"{f['journal_blocks']} journal blocks, {f['bitmap_rereads']} bitmap re-reads"
                                     if f["known"] else f.get("error", "?")) for f in d["file_systems"])
print(f"geiger: {d['journal_writes']} journal writes known from the file system, {d['copies']} copies inferred,"
      f" evictions by reason {d['evicted_by']}; file systems: {fs}")
PY
python3 bench/geiger/score.py score "$tmp/trace.txt" "$tmp/records" "$tsc_per_ns" "$base_seq" "$base_pages" "$tmp/ring.txt" ||
	die "scoring failed"
