#!/usr/bin/env bash
# The include directions of docs/architecture.md (Layers) hold for the
# whole tree: scripts/check-layers.sh passes here, and fails on a copy of
# the tree given one include in a forbidden direction of each kind.
set -u
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

scripts/check-layers.sh || { echo "FAIL: the tree breaks a layer direction"; exit 1; }

# The checker itself: each of these must be caught.
fails=0
for bad in 'src/cpu/emu/engine.c:hw/board.h' 'src/hw/board.c:cpu/engine.h' 'src/vm/vm.c:hw/board.h' \
	'src/cli/run.c:hw/board.h' 'src/host/net.c:hw/pci.h' 'include/symbiont/vm.h:cpu/engine.h' \
	'src/vm/vm.c:cpu/emu/emu.h' 'src/boot/boot.c:cpu/engine.h'; do
	file=${bad%%:*} inc=${bad#*:}
	rm -rf "$tmp/t" && mkdir -p "$tmp/t" && cp -r src include "$tmp/t/"
	printf '#include "%s"\n' "$inc" >>"$tmp/t/$file"
	if scripts/check-layers.sh "$tmp/t" >"$tmp/out" 2>&1; then
		echo "FAIL: check-layers missed $file including $inc"
		fails=$((fails + 1))
	fi
done
[ $fails -eq 0 ] || exit 1
echo "layers ok"
