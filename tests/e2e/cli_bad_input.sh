#!/usr/bin/env bash
# Bad input gets exactly one line on stderr, nothing on stdout, and the
# right exit status (2 for usage errors, 1 for other failures); never a crash.
set -u
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect STATUS PATTERN ARGS...: stderr must be one line matching PATTERN.
expect() {
	local want=$1 pat=$2 rc lines; shift 2
	"$SYM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ $rc -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pat" "$tmp/err" || [ -s "$tmp/out" ]; then
		echo "FAIL: symbiont $* -> status $rc (want $want), stderr:"; cat "$tmp/err"
		fails=$((fails + 1))
	else
		echo "ok: symbiont $* -> $rc: $(cat "$tmp/err")"
	fi
}

printf 'not a kernel at all\n' >"$tmp/text"
head -c 100000 build/guest/vmlinuz >"$tmp/truncated"
: >"$tmp/empty"
head -c $((80 << 20)) /dev/zero >"$tmp/big-initrd"
printf '\x7fELF\x02\x01\x01' >"$tmp/elf-stub"

expect 2 "unknown command" frobnicate
expect 2 "unknown option" run --bogus
expect 2 "needs an argument" run --kernel
expect 2 "unexpected argument" run stray
expect 2 "--cpu-model must be host or portable" run --cpu-model max
expect 2 "--force: only with --restore or --incoming" run --force
expect 2 "--engine" run --engine warp
expect 2 "--mem" run --mem 1K
expect 2 "--mem" run --mem 5000T
expect 2 "--mem" run --mem lots
expect 2 "--cpus" run --cpus 0
expect 2 "--cpus" run --cpus 100000
expect 2 "--cpus" run --cpus two
expect 2 "--serial" run --serial tcp:1234
# Guest RAM above the host's physical memory is refused at once, before
# anything is mapped (it used to start and crawl for minutes).
host_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
expect 2 "--mem: .* physical memory" run --mem 1T
expect 2 "--mem: .* physical memory" run --mem $((host_mib + 1024))M
# Every device spec is checked before the VM is built: a bad value is a
# usage error naming its option, never a half-built VM.
expect 2 "--incoming 'foo:bar' is not" run --incoming foo:bar
expect 2 "--incoming .* is not" run --incoming tcp:127.0.0.1:99999
expect 2 "--incoming takes the machine" run --incoming unix:$tmp/m.sock --mem 64M
expect 2 "--restore or --incoming" run --incoming unix:$tmp/m.sock --restore $tmp
expect 1 "--incoming unix:/nonexistent/m.sock" run --incoming unix:/nonexistent/m.sock
expect 2 "usage: migrate" ctl somevm migrate
expect 2 "is not unix:PATH or tcp:HOST:PORT" ctl somevm migrate bad:x
expect 2 "--bandwidth '0'" ctl somevm migrate unix:$tmp/m.sock --bandwidth 0
expect 2 "--max-downtime 'soon'" ctl somevm migrate unix:$tmp/m.sock --max-downtime soon
expect 2 "--compress 'lz4': only zstd" ctl somevm snapshot $tmp/s --compress lz4
expect 2 "--net bogus" run --net bogus
expect 2 "--net user: unknown option" run --net user,frob=1
expect 2 "--net user: bad hostfwd" run --net user,hostfwd=tcp:notaport
expect 2 "--net user: bad hostfwd" run --net user,hostfwd=sctp:1-:2
expect 2 "--net tap" run --net tap:
expect 2 "--net tap" run --net tap:this-name-is-too-long
expect 2 "--vsock 2: guest CID" run --vsock 2
expect 2 "--vsock 4294967295: guest CID" run --vsock 4294967295
expect 2 "--vsock abc" run --vsock abc
expect 2 "--vsock 5,x" run --vsock 5,x
expect 2 "--vsock" run --vsock 3 --vsock 4
expect 2 "--vsock 3,group=: expected" run --vsock 3,group=
expect 2 "--label: only with --vsock CID,group=NAME" run --label web
expect 2 "--policy: only with --vsock CID,group=NAME" run --vsock 3 --policy /dev/null
expect 2 "--policy: give the VM a --label too" run --vsock "3,group=$tmp/g" --policy /dev/null
expect 2 "--label 'a b': 1 to 63" run --vsock "3,group=$tmp/g" --label 'a b'
printf 'allow a b\nconflict a\n' >"$tmp/policy"
expect 2 "--policy $tmp/policy:2: expected 'conflict" run --vsock "3,group=$tmp/g" --label a --policy "$tmp/policy"
expect 2 "cannot create $tmp/no/such/dir: No such file" run --vsock "3,group=$tmp/no/such/dir" --label a
expect 2 "--disk ,ro" run --disk ,ro
expect 2 "--disk img,bogus" run --disk img,bogus
expect 2 "--disk img,serial=" run --disk img,serial=
expect 2 "--disk" run --disk "img,serial=$(printf '%030d' 0)"
expect 2 "--gdb 'foo'" run --gdb foo
expect 2 "--gdb 'tcp:localhost'" run --gdb tcp:localhost
expect 2 "--gdb 'tcp:127.0.0.1:99999'" run --gdb tcp:127.0.0.1:99999
expect 2 "--gdb 'unix:'" run --gdb unix:
expect 2 "--gdb-wait needs --gdb" run --gdb-wait
expect 1 "service gdbstub: --gdb tcp:203.0.113.5:1234" run --engine emu --kernel "$BUILD/tests/guests/hello.elf" --gdb tcp:203.0.113.5:1234
expect 1 "No such file" run --kernel "$tmp/missing"
expect 1 "unrecognised format" run --kernel "$tmp/text"
expect 1 "kernel" run --kernel "$tmp/empty"
expect 1 "kernel" run --kernel "$tmp/elf-stub"
expect 1 "outside the file" run --kernel "$tmp/truncated"
expect 1 "kernel" run --kernel "$tmp"
expect 1 "initrd" run --kernel "$BUILD/tests/guests/hello.elf" --initrd "$tmp/missing"
expect 1 "larger than" run --mem 64M --kernel build/guest/vmlinuz --initrd "$tmp/big-initrd"
head -c $((40 << 20)) /dev/zero >"$tmp/initrd-40m"
expect 1 "does not fit" run --mem 64M --kernel build/guest/vmlinuz --initrd "$tmp/initrd-40m"
expect 1 "disk" run --kernel "$BUILD/tests/guests/hello.elf" --disk "$tmp/missing.img"

"$SYM" --version | grep -q '^symbiont [0-9]' || { echo "FAIL: --version"; fails=$((fails + 1)); }
"$SYM" --help | grep -q -- '--engine' || { echo "FAIL: --help"; fails=$((fails + 1)); }
"$SYM" run --help | grep -q "at most the host's physical memory ($host_mib MiB here)" ||
	{ echo "FAIL: run --help does not state the --mem limit"; fails=$((fails + 1)); }
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS"
