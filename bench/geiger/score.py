#!/usr/bin/env python3
"""Geiger's inference scored against the guest's own page-cache events.

  score.py follow SOCK OUT      geiger-follow on the control socket SOCK: every
                                record, one JSON object a line, into OUT until
                                killed
  score.py score TRACE RECORDS TSC_PER_NS BASE_SEQ BASE_PAGES [RING]
                                the scores, per workload phase

TRACE is the guest's ftrace text: phases marked through trace_marker as
"PHASE-name", the clock x86-tsc, which on emu is the VM's clock times
TSC_PER_NS.  The page-cache events come from RING, what the VMM followed of
the guest's symbiotic module's page-cache ring (pcache-follow-start: lines
"TSC OP PFN MAJOR:MINOR INO INDEX ORDER", the same TSC), or, without RING,
from TRACE itself (filemap:mm_filemap_add_to_page_cache and
mm_filemap_delete_from_page_cache).  RECORDS is what `follow` wrote.  BASE_SEQ and BASE_PAGES:
geiger's record count and cache_pages when the trace started.

The guest's events are the truth and are read here only, after the run; the
inference never sees them.  A page is a guest frame (pfn = gpa >> 12).

Matching, page by page in time order:
  an inferred insert is right if the page truly entered the cache at or
    before it (SLACK) and had not left it since: it is matched to that
    entry, each entry to at most one insert;
  an inferred eviction is right if the page truly left the cache after
    (SLACK before) the inferred insert it ends and at or before it: matched
    to that exit, which is then detected, with a delay of the inferred time
    less the true one.
True events count (recall's denominator) when they are of the disk's file
system or of the block device's own cache (metadata): not the initramfs,
tracefs or other memory file systems.
"""
import bisect
import json
import re
import socket
import sys
from collections import defaultdict

SLACK_NS = 5_000_000  # the inference may decide a little before the guest's event is stamped

LINE = re.compile(r"\s(\d+): (mm_filemap_add_to_page_cache|mm_filemap_delete_from_page_cache): "
                  r"dev (\d+):(\d+) ino ([0-9a-f]+) pfn=0x([0-9a-f]+) ofs=(\d+)")
MARK = re.compile(r"\s(\d+): tracing_mark_write: PHASE-(\S+)")


def follow(sock, out):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rw")
    f.readline()
    for cmd in ("qmp_capabilities", "geiger-follow"):
        f.write(json.dumps({"execute": cmd}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                break
        if "error" in r:
            sys.exit("follow: " + r["error"]["desc"])
    with open(out, "w", buffering=1 << 16) as o:
        for line in f:
            if '"GEIGER"' in line:
                o.write(json.dumps(json.loads(line)["data"]) + "\n")
                o.flush()


def read_ring(path, tsc_per_ns):
    """The module's page-cache ring as read_trace's events."""
    ev = []
    with open(path) as f:
        for line in f:
            tsc, op, pfn, dev, ino, index, _order = line.split()
            if op not in ("add", "delete"):
                continue
            major, minor = dev.split(":")
            ev.append((int(int(tsc) / tsc_per_ns), op == "add", int(pfn), (int(major), int(minor)), int(ino),
                       int(index) * 4096))
    return ev


def read_trace(path, tsc_per_ns, ring=None):
    ev, phases = [], []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if m and not ring:
                t = int(int(m.group(1)) / tsc_per_ns)
                add = m.group(2).endswith("add_to_page_cache")
                dev = (int(m.group(3)), int(m.group(4)))
                ev.append((t, add, int(m.group(6), 16), dev, int(m.group(5), 16), int(m.group(7))))
                continue
            m = MARK.search(line)
            if m:
                phases.append((int(int(m.group(1)) / tsc_per_ns), m.group(2)))
    if ring:
        ev = read_ring(ring, tsc_per_ns)
    ev.sort(key=lambda e: e[0])
    return ev, phases


def relevant_devs(ev):
    """The disk's file systems (devices with a real major) and the block
    device cache that holds their metadata: an anonymous device (0:N) whose
    inode number is a disk's dev_t (major << 20 | minor)."""
    real = {d for _, _, _, d, _, _ in ev if d[0] != 0}
    majors = {r[0] for r in real}
    return real | {d for _, _, _, d, ino, _ in ev if d[0] == 0 and (ino >> 20) in majors}


def score(trace, records, tsc_per_ns, base_seq, base_pages, ring=None):
    ev, phases = read_trace(trace, tsc_per_ns, ring)
    if not ev or not phases:
        sys.exit("score: no page-cache events or no phases in the trace")
    devs = relevant_devs(ev)
    t_end = phases[-1][0]
    rec = []
    with open(records) as f:
        for line in f:
            r = json.loads(line)
            if r["seq"] > base_seq and r["t_ns"] <= t_end + SLACK_NS:
                rec.append(r)
    rec.sort(key=lambda r: r["seq"])
    seqs = [r["seq"] for r in rec]
    lost = sum(1 for a, b in zip([base_seq] + seqs, seqs) if b != a + 1)

    # A frame added to the cache while the trace says it is still there must
    # have left it in between: the guest's kernel removed it by a path that
    # does not fire the delete tracepoint.  Such a removal is implied, at
    # the latest moment it can have been (just before the new entry), and
    # counted.
    true_by = defaultdict(list)  # pfn -> [(t, add, relevant)]
    implied = 0
    for t, add, pfn, dev, ino, ofs in ev:
        tr = true_by[pfn]
        if add and tr and tr[-1][1]:
            tr.append((t - 1, False, tr[-1][2]))
            implied += 1
        tr.append((t, add, dev in devs))
    inf_by = defaultdict(list)  # pfn -> [(t, insert, record)]
    for r in rec:
        inf_by[r["gpa"] >> 12].append((r["t_ns"], r["kind"] == "insert", r))

    # Per true event: matched (and the delay); per inferred one: right or not.
    tmatch = {}  # (pfn, index) -> delay ns
    iright = {}  # (pfn, index) -> bool
    for pfn, inf in inf_by.items():
        tr = true_by.get(pfn, [])
        times = [x[0] for x in tr]
        ins_t = None  # the open inferred insert's time
        for k, (ti, insert, r) in enumerate(inf):
            hi = bisect.bisect_right(times, ti + SLACK_NS)
            ok = False
            if insert:
                # the latest true entry at or before ti with no exit after it
                for j in range(hi - 1, -1, -1):
                    if not tr[j][1]:
                        break  # an exit came after any earlier entry
                    if (pfn, j) not in tmatch:
                        tmatch[(pfn, j)] = ti - tr[j][0]
                        ok = True
                    break
                ins_t = ti
            else:
                lo = bisect.bisect_left(times, ins_t - SLACK_NS) if ins_t is not None else 0
                for j in range(hi - 1, lo - 1, -1):
                    if not tr[j][1] and (pfn, j) not in tmatch:
                        tmatch[(pfn, j)] = ti - tr[j][0]
                        ok = True
                        break
                if not ok and ins_t is None:
                    ok = None  # inserted before the records began: the truth is unknown
                ins_t = None
            iright[(pfn, k)] = ok

    def phase_of(t):
        name = "before"
        for pt, pn in phases:
            if t >= pt:
                name = pn
        return name

    names = [p for _, p in phases if p != "end"]
    s = {n: defaultdict(int) for n in names + ["before"]}
    delays = {n: [] for n in names + ["before"]}
    later_reuse = {}
    for pfn, tr in true_by.items():
        for j, (t, add, rel) in enumerate(tr):
            if not rel or t > t_end:
                continue
            p = s[phase_of(t)]
            kind = "ins" if add else "ev"
            p["true_" + kind] += 1
            if (pfn, j) in tmatch:
                p["hit_" + kind] += 1
                if not add:
                    delays[phase_of(t)].append(tmatch[(pfn, j)])
            elif not add:
                # missed: was the frame used again as cache before the end
                # (then Geiger had a chance), or did it sit free?
                later = any(x[1] for x in tr[j + 1:] if x[0] <= t_end)
                p["miss_ev_reused" if later else "miss_ev_idle"] += 1
    for pfn, inf in inf_by.items():
        for k, (ti, insert, r) in enumerate(inf):
            p = s[phase_of(ti)]
            kind = "ins" if insert else "ev"
            p["inf_" + kind] += 1
            if iright[(pfn, k)] is None:
                p["inf_" + kind] -= 1
                p["unscored"] += 1
            elif not iright[(pfn, k)]:
                p["false_" + kind] += 1

    # Sizes: the true cache (relevant devices, from zero at the trace's start,
    # which follows a drop_caches) and the inferred one, at each phase's end.
    size_at = {}
    tl = sorted([(t, 1 if add else -1) for pfn, tr in true_by.items() for t, add, rel in tr if rel] +
                [(r["t_ns"], 0, 1 if r["kind"] == "insert" else -1) for r in rec], key=lambda x: x[0])
    # Pages cached before the trace began are seen only when they leave: the
    # true size starts with those (a lower bound: a page cached throughout
    # is missed, and after a scan larger than RAM there are few).
    true_size = sum(1 for tr in true_by.values() if tr and tr[0][2] and not tr[0][1])
    inf_size, i = base_pages, 0
    bounds = [pt for pt, _ in phases[1:]]
    errs = []
    for b, (_, pn) in zip(bounds, phases):
        while i < len(tl) and tl[i][0] <= b:
            if len(tl[i]) == 2:
                true_size += tl[i][1]
            else:
                inf_size += tl[i][2]
            i += 1
        size_at[pn] = (true_size, inf_size)

    pct = lambda a, b: f"{100.0 * a / b:6.2f}%" if b else "     -"
    print(f"geiger vs the guest's page-cache tracepoints ({len(ev)} guest events, {len(rec)} inferred records,"
          f" {lost} records lost by the follower; {implied} removals implied: frames added again with no delete"
          " event between)")
    print(f"{'workload':<12} {'true ins':>8} {'found':>7} {'false':>7} | {'true ev':>8} {'found':>7}"
          f" {'reused':>7} {'false':>7} {'delay ms p50/p90':>16} | {'true size':>9} {'inferred':>9}")
    for n in names:
        p, d = s[n], sorted(delays[n])
        med = f"{d[len(d) // 2] / 1e6:7.1f}/{d[len(d) * 9 // 10] / 1e6:<7.0f}" if d else "      -"
        reused = p["hit_ev"] + p["miss_ev_reused"]
        ts, isz = size_at.get(n, (0, 0))
        print(f"{n:<12} {p['true_ins']:>8} {pct(p['hit_ins'], p['true_ins']):>7} "
              f"{pct(p['false_ins'], p['inf_ins']):>7} | {p['true_ev']:>8} {pct(p['hit_ev'], p['true_ev']):>7} "
              f"{pct(p['hit_ev'], reused):>7} {pct(p['false_ev'], p['inf_ev']):>7} {med:>16} | {ts:>9} {isz:>9}")
    print("found: share of the guest's events the inference matched (recall); false: share of the inferred"
          " events with no guest event (1 - precision);")
    print("reused: evictions found among those whose frame was used as cache again before the end (the"
          " others sat free: no evidence reaches the VMM); sizes in pages at the phase's end")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "follow":
        follow(sys.argv[2], sys.argv[3])
    elif len(sys.argv) in (7, 8) and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]),
              sys.argv[7] if len(sys.argv) == 8 else None)
    else:
        sys.exit(__doc__)
