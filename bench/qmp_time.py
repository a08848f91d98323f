#!/usr/bin/env python3
"""Timing through a QMP socket, for bench/snapshot.sh (symbiont's control
socket and QEMU's -qmp speak the same protocol).

  qmp_time.py running SOCK T0       seconds from T0 (epoch) until the VM at SOCK
                                    answers query-status "running" (a paused one
                                    is sent `cont`)
  qmp_time.py symbiont-snap SOCK DIR  seconds for `snapshot {dir, stop}` to return
  qmp_time.py qemu-snap SOCK FILE     seconds for `stop` then `migrate exec:cat > FILE`
                                      to reach "completed"
  qmp_time.py migrate SOCK URI symbiont|qemu
                                    live migration to URI at the default 300 ms
                                    downtime limit (QEMU's bandwidth cap lifted):
                                    prints "TOTAL_MS DOWNTIME_MS ROUNDS" as the VM
                                    reports them, then quits the source
  qmp_time.py metric SOCK KEY       the vm group's KEY from query-metrics
  qmp_time.py quit SOCK
"""
import json
import socket
import sys
import time


def connect(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            f = s.makefile("rw")
            json.loads(f.readline())  # greeting
            call(f, "qmp_capabilities")
            return s, f
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.time() > deadline:
                sys.exit("qmp_time: no socket at " + path)
            time.sleep(0.0005)


def call(f, cmd, args=None):
    msg = {"execute": cmd}
    if args is not None:
        msg["arguments"] = args
    f.write(json.dumps(msg) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r:
            return r["return"]
        if "error" in r:
            sys.exit("qmp_time: %s: %s" % (cmd, r["error"].get("desc")))


def main():
    what, path = sys.argv[1], sys.argv[2]
    s, f = connect(path, time.time() + 60)
    if what == "running":
        t0 = float(sys.argv[3])
        # A machine saved while stopped comes in paused (QEMU keeps the
        # source's run state): continue it, as symbiont's restore runs.
        while True:
            st = call(f, "query-status").get("status")
            if st == "running":
                break
            if st == "paused":
                call(f, "cont")
            time.sleep(0.0002)
        print("%.6f" % (time.time() - t0))
    elif what == "symbiont-snap":
        t0 = time.time()
        call(f, "snapshot", {"dir": sys.argv[3], "stop": True})
        print("%.6f" % (time.time() - t0))
    elif what == "qemu-snap":
        t0 = time.time()
        call(f, "stop")
        call(f, "migrate", {"uri": "exec:cat > " + sys.argv[3]})
        while call(f, "query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.001)
        print("%.6f" % (time.time() - t0))
    elif what == "migrate":
        uri, kind = sys.argv[3], sys.argv[4]
        if kind == "qemu":
            call(f, "migrate-set-parameters", {"max-bandwidth": 10 << 30})
        call(f, "migrate", {"uri": uri})
        while True:
            m = call(f, "query-migrate")
            if m.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.005)
        if m.get("status") != "completed":
            sys.exit("qmp_time: migration %s: %s" % (m.get("status"), m.get("error-desc", "")))
        if kind == "qemu":
            print("%.1f %.1f %d" % (m["total-time"], m["downtime"], m.get("ram", {}).get("dirty-sync-count", 0)))
        else:
            print("%.1f %.1f %d" % (m["total-time-ms"], m["downtime-ms"], m["round"]))
        call(f, "quit")
    elif what == "metric":
        print(call(f, "query-metrics")["vm"][sys.argv[3]])
    elif what == "quit":
        call(f, "quit")
    s.close()


main()
