# Shared by the scripts that run the multiboot test guests (tests/guests/)
# on symbiont and on QEMU's TCG and compare them (source it).
#
#   mb_init                    a private $tmp (removed at exit), $fails = 0, and
#                              the files the guests use: $tmp/initrd.txt and
#                              $tmp/sercon-off (keeps SeaBIOS off COM1)
#   run_sym ENGINE NAME ARGS...  symbiont on ENGINE: stdout to $tmp/NAME.ENGINE,
#                              stderr to .err, exit status to .rc
#   run_qemu NAME ARGS...      QEMU with isa-debug-exit at 0xf4: $tmp/NAME.qemu,
#                              .err and .rc likewise

mb_init() {
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	printf '\0\0' >"$tmp/sercon-off"
	printf 'initrd line one\nsecond line\n' >"$tmp/initrd.txt"
	fails=0
}

run_sym() {
	local engine=$1 name=$2
	shift 2
	timeout 120 "$SYM" run --engine "$engine" --mem 64M --serial stdio "$@" </dev/null \
		>"$tmp/$name.$engine" 2>"$tmp/$name.$engine.err"
	echo $? >"$tmp/$name.$engine.rc"
}

run_qemu() {
	local name=$1
	shift
	timeout 120 qemu-system-x86_64 -accel tcg -M pc -m 64 -nographic -no-reboot -nic none -vga none \
		-fw_cfg name=etc/sercon-port,file="$tmp/sercon-off" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -serial stdio -display none -monitor none \
		"$@" </dev/null >"$tmp/$name.qemu" 2>"$tmp/$name.qemu.err"
	echo $? >"$tmp/$name.qemu.rc"
}
