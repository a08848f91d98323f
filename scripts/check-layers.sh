#!/usr/bin/env bash
# Fails when a source file includes across a forbidden layer direction.
#
#   cli  ->  machine (builder)  ->  services  ->  vm API (include/symbiont/)
#                                                   ^            ^
#                                     engines (src/cpu/)   devices (src/hw/) -> host backends (src/host/)
#
# Each directory below may include only the headers of the layers listed
# for it (by the first path component of #include "..."); everything may
# include its own directory and include/symbiont/.  The rules that keep
# the house one-way:
#   - only the builder names engines, devices, loaders and host backends
#     together; the command line reaches the machine through the builder;
#   - the running VM (src/vm/) drives an engine through its interface,
#     cpu/engine.h, and nothing else of src/cpu/;
#   - engines never include a device (src/cpu/ no hw/), devices never an
#     engine (src/hw/ no cpu/): they meet at the irqchip seam of the vm API;
#   - host backends, loaders and services see only the public API (the
#     guest OS library, src/guestos/, also the loaders, to read a kernel image).
# Usage: scripts/check-layers.sh [ROOT]   (exit 0 clean, 1 with violations)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1

# allowed DIR: the include prefixes files under DIR may use besides symbiont/.
allowed() {
	case $1 in
	src/main.c | src/cli/*) echo "cli machine" ;;
	src/machine/*) echo "machine cpu hw boot host services" ;;
	src/services/*) echo "services" ;;
	src/vm/*) echo "vm cpu/engine.h" ;;
	src/cpu/*) echo "cpu" ;;
	src/hw/*) echo "hw host" ;;
	src/host/*) echo "host" ;;
	src/boot/*) echo "boot" ;;
	src/guestos/*) echo "guestos boot" ;; # a library for services: reads kernel images through the loaders
	include/symbiont/*) echo "" ;;
	*) echo "?" ;;
	esac
}

fails=0
while IFS= read -r f; do
	allow=$(allowed "$f")
	if [ "$allow" = "?" ]; then
		echo "check-layers: $f: in no layer (add its directory to scripts/check-layers.sh)"
		fails=$((fails + 1))
		continue
	fi
	while IFS= read -r inc; do
		[ -n "$inc" ] || continue
		top=${inc%%/*}
		ok=0
		[ "$top" = symbiont ] && ok=1
		for a in $allow; do
			if [ "$a" = "$top" ] || [ "$a" = "$inc" ]; then ok=1; fi
		done
		if [ $ok = 0 ]; then
			echo "check-layers: $f includes \"$inc\": ${f%/*} may include only: symbiont ${allow}"
			fails=$((fails + 1))
		fi
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src include -name '*.[ch]' | sort)

if [ $fails -ne 0 ]; then
	echo "check-layers: $fails include(s) against the layer directions (docs/architecture.md, Layers)"
	exit 1
fi
echo "check-layers: every include follows the layer directions"
