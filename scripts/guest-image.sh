#!/usr/bin/env bash
# Builds symbiont's default guest into OUT (build/guest) from Debian packages,
# without installing any of them on the host:
#   vmlinuz, VERSION                linux-image-<ver>-cloud-amd64, <ver> the newest
#                                   that the linux-image-cloud-amd64 metapackage names
#   System.map                      from linux-image-<ver>-cloud-amd64-dbg (the image
#                                   package ships a stub); only the map is kept
#   initramfs.cpio.gz               busybox-static, guest/initramfs/ (the /init and
#                                   friends), the virtio modules, uncompressed, and
#                                   guest/kmod's symbiotic.ko built against headers/
#   symmod_hello.ko                 the SymMod example module (loaded by the VMM)
#   symbiotic.ko                    a copy of the module in the initramfs, for
#                                   ctl symmod bootstrap (a guest booted without it)
#   headers/                        linux-headers-<ver>-cloud-amd64, its -common and
#                                   linux-kbuild packages with their symlinks made
#                                   relative, so  make -C OUT/headers/build M=$PWD modules
#                                   builds a guest module
#   debs/                           the downloaded .deb files (and the map from the
#                                   283 MB -dbg one), kept so re-runs are offline
# Idempotent: silent and quick (no apt call) when OUT is complete and current.
set -eEuo pipefail

OUT=${1:?usage: guest-image.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OVERLAY=$ROOT/guest/initramfs
KMOD=$ROOT/guest/kmod
ABI=$ROOT/include/symbiont/abi
META=linux-image-cloud-amd64
# Drivers for the devices symbiont and QEMU offer; dependencies come from modules.dep.
MODULES="virtio virtio_ring virtio_pci virtio_mmio virtio_blk virtio_net virtio_console
	virtio_rng vmw_vsock_virtio_transport ext4 button evdev"
OUTPUTS="vmlinuz System.map VERSION initramfs.cpio.gz headers/build/Makefile symmod_hello.ko symbiotic.ko"

die() { echo "guest-image: $*" >&2; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR
for t in apt-cache apt-get dpkg-deb tar depmod cpio gzip flock md5sum make gcc; do
	command -v "$t" >/dev/null || die "needs $t (run scripts/deps.sh)"
done

mkdir -p "$OUT/debs"
OUT=$(cd "$OUT" && pwd)
exec 9>"$OUT/.lock"
flock 9 # parallel "make test" runs share one build/guest

complete() {
	local f
	for f in $OUTPUTS; do [ -e "$OUT/$f" ] || return 1; done
}
stamp_line() { sed -n "s/^$1 //p" "$OUT/.stamp" 2>/dev/null || true; }

# Fast key: what this script reads that can change without asking apt: itself,
# the overlay, the guest module and the ABI headers it includes, and the apt
# lists (an apt-get update may bring a newer kernel).
inputs=$( (cat "$0"; cd "$OVERLAY" && find . -print0 | LC_ALL=C sort -z |
	xargs -0 stat -c '%n %a' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
	cat "$KMOD/Kbuild" "$KMOD"/*.[ch] "$ABI"/*.h) | md5sum)
lists=$(stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* 2>/dev/null | md5sum)
fast="$inputs $lists"
complete && [ "$(stamp_line fast)" = "$fast" ] && exit 0

# Versions: the kernel ABI the metapackage depends on, and the exact package
# versions (few apt-cache calls: each takes most of a second here).
show() { # packages... -> "package version depends" lines
	apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		/^Package: / { p = $2 } /^Version: / { v = $2 } /^Depends: / { sub(/^Depends: /, ""); d = $0 }
		/^$/ && p != "" { gsub(/ /, "", d); print p, v, d; p = v = d = "" }
		END { if (p != "") print p, v, d }' || true
}
resolve() {
	local dep
	VER=$(show "$META" | grep -o 'linux-image-[^ ,(]*-cloud-amd64' | tail -1 || true)
	VER=${VER#linux-image-}
	[ -n "$VER" ] || return 1
	VERSIONS=$(show "linux-image-$VER" "linux-image-$VER-dbg" "linux-headers-$VER" \
		"linux-headers-${VER%-cloud-amd64}-common" busybox-static)
	KBUILD=$(grep "^linux-headers-$VER " <<<"$VERSIONS" | grep -o 'linux-kbuild-[0-9.]*' || true)
	[ -n "$KBUILD" ] || return 1
	dep=$(show "$KBUILD")
	VERSIONS=$(printf '%s\n%s\n' "$VERSIONS" "$dep" | cut -d' ' -f1,2)
	PKGS="linux-image-$VER linux-image-$VER-dbg linux-headers-$VER linux-headers-${VER%-cloud-amd64}-common $KBUILD busybox-static"
	[ "$(wc -l <<<"$VERSIONS")" -eq 6 ] && ! grep -qv ' .' <<<"$VERSIONS"
}
update() {
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
}
if ! resolve; then
	update
	resolve || die "apt knows no $META with its headers (is Debian main in the apt sources?)"
fi
pkgs="$inputs $(tr '\n' ' ' <<<"$VERSIONS")"
if complete && [ "$(stamp_line pkgs)" = "$pkgs" ]; then
	printf 'fast %s\npkgs %s\n' "$fast" "$pkgs" >"$OUT/.stamp"
	exit 0
fi

echo "guest-image: building $OUT for $VER"

# .deb cache: named as apt-get download names them (':' of an epoch as %3a).
# The -dbg package is only wanted for its System.map, which is the tar's
# first file: the map is cached in its place as <package>_<version>.map.
deb_path() { # package version
	local f
	for f in "$OUT/debs/$1_${2//:/%3a}"{_*.deb,.map}; do [ -e "$f" ] && echo "$f" && break; done
	return 0
}
download() {
	local p v d missing=()
	while read -r p v; do
		[ -n "$(deb_path "$p" "$v")" ] || missing+=("$p=$v")
	done <<<"$VERSIONS"
	[ ${#missing[@]} -eq 0 ] && return 0
	(cd "$OUT/debs" && apt-get download -qq "${missing[@]}" >/dev/null 2>&1)
}
if ! download; then # a stale apt list names versions the mirror dropped
	update
	resolve || die "apt knows no $META after apt-get update"
	download || die "apt-get download failed for: $PKGS"
fi
deb() { deb_path "$1" "$(awk -v p="$1" '$1 == p { print $2 }' <<<"$VERSIONS")"; }
d=$(deb "linux-image-$VER-dbg")
case $d in *.deb)
	dpkg-deb --fsys-tarfile "$d" 2>/dev/null | tar -xO --occurrence=1 \
		"./usr/lib/debug/boot/System.map-$VER" >"$OUT/debs/.map" 2>/dev/null || true
	grep -q ' T start_kernel$' "$OUT/debs/.map" || die "no System.map-$VER in $d"
	mv "$OUT/debs/.map" "${d%_*.deb}.map"
	rm -f "$d" ;;
esac
# Keep only the versions in use.
while read -r p v; do
	keep=$(deb_path "$p" "$v")
	for f in "$OUT/debs/${p}_"*; do [ "$f" = "$keep" ] || rm -f "$f"; done
done <<<"$VERSIONS"

STAGE=$OUT/.stage
rm -rf "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/image" "$STAGE/headers" "$STAGE/root" "$STAGE/bb"

# Kernel.
dpkg-deb -x "$(deb "linux-image-$VER")" "$STAGE/image"
kmods=$STAGE/image/lib/modules/$VER
[ -f "$STAGE/image/boot/vmlinuz-$VER" ] && [ -f "$kmods/modules.builtin" ] ||
	die "linux-image-$VER has no boot/vmlinuz-$VER or modules.builtin"
# modules.dep is made by the package's postinst; make it the same way.
depmod -b "$STAGE/image" "$VER" || die "depmod failed for $VER"
cp "$STAGE/image/boot/vmlinuz-$VER" "$STAGE/vmlinuz"
cp "$(deb "linux-image-$VER-dbg")" "$STAGE/System.map"
echo "$VER" >"$STAGE/VERSION"
# The bzImage setup header points at the version string (kernel_version, 0x20e).
kv_off=$(od -An -tu2 -j$((0x20e)) -N2 "$STAGE/vmlinuz" | tr -d ' ')
kv=$(dd if="$STAGE/vmlinuz" bs=1 skip=$((kv_off + 0x200)) count=128 status=none | tr '\0' '\n' | head -1)
[ "${kv%% *}" = "$VER" ] || die "vmlinuz says it is '${kv%% *}', expected $VER"

# Headers: one tree as the packages lay it out; absolute symlinks made relative.
for p in "linux-headers-$VER" "linux-headers-${VER%-cloud-amd64}-common" "$KBUILD"; do
	dpkg-deb -x "$(deb "$p")" "$STAGE/headers"
done
H=$STAGE/headers
while IFS= read -r -d '' l; do
	target=$(readlink "$l")
	rm "$l"
	ln -s "$(realpath -ms --relative-to="$(dirname "$l")" "$H$target")" "$l"
done < <(find "$H" -type l -lname '/*' -print0)
# The flavour's Makefile includes the -common one by absolute path; make -C
# runs it from its own directory, so a relative path works wherever OUT is.
sed -i "s|^include /usr/src/|include ../|" "$H/usr/src/linux-headers-$VER/Makefile"
grep -rqs '^include /' "$H/usr/src/linux-headers-$VER/Makefile" && die "headers Makefile still has an absolute include"
ln -s "usr/src/linux-headers-$VER" "$H/build"
[ -f "$H/build/scripts/Makefile.build" ] && [ -f "$H/build/include/config/auto.conf" ] ||
	die "headers tree is incomplete (no scripts/Makefile.build or include/config/auto.conf)"

# Modules: the dependency closure of MODULES from modules.dep, dependencies
# first; built-in ones are fine, unknown ones an error.
order=$(awk -v want="$MODULES" '
	function name(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
	function visit(p,   n, i, d) {
		if (seen[p]++) return
		n = split(deps[p], d, " ")
		for (i = 1; i <= n; i++) visit(d[i])
		print p
	}
	FILENAME ~ /builtin$/ { builtin[name($1)] = 1; next }
	{ p = $1; sub(/:$/, "", p); path[name(p)] = p; $1 = ""; deps[p] = $0 }
	END {
		n = split(want, w, /[ \t\n]+/)
		for (i = 1; i <= n; i++) {
			if (w[i] == "") continue
			if (w[i] in path) visit(path[w[i]])
			else if (!(w[i] in builtin)) { print "missing " w[i] > "/dev/stderr"; bad = 1 }
		}
		exit bad
	}' "$kmods/modules.builtin" "$kmods/modules.dep") || die "modules not in linux-image-$VER (see above)"
R=$STAGE/root
M=$R/lib/modules/$VER
mkdir -p "$M"
for p in $order; do
	ko=${p%.ko*}.ko
	mkdir -p "$(dirname "$M/$ko")"
	case $p in # busybox insmod takes plain ELF only
	*.ko) cp "$kmods/$p" "$M/$ko" ;;
	*.ko.xz) xz -dc "$kmods/$p" >"$M/$ko" ;;
	*.ko.zst) zstd -qdc "$kmods/$p" >"$M/$ko" ;;
	*.ko.gz) gzip -dc "$kmods/$p" >"$M/$ko" ;;
	*) die "unknown module compression: $p" ;;
	esac
	[ "$(head -c4 "$M/$ko" | od -An -c | tr -d ' ')" = '177ELF' ] || die "$ko is not an ELF object"
	echo "$ko" >>"$M/symbiont.load"
done
# A modules.dep of just these, so the guest's modprobe works too.
for p in $order; do
	grep "^$p:" "$kmods/modules.dep" | sed -E 's/\.ko\.(xz|zst|gz)/.ko/g'
done >"$M/modules.dep"
# symbiont's own module, built from a copy (kbuild writes beside its sources)
# against the headers just unpacked; loaded last by /init.
mkdir -p "$STAGE/kmod/include/symbiont" "$M/extra"
cp "$KMOD/Kbuild" "$KMOD"/*.[ch] "$STAGE/kmod/"
cp -r "$ABI" "$STAGE/kmod/include/symbiont/"
# Kbuild runs on its own: a parent `make -jN` would hand it a jobserver it
# cannot use and make's note about that is not a compiler warning.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$H/build" M="$STAGE/kmod" modules >"$STAGE/kmod.log" 2>&1 ||
	die "guest/kmod does not build: $(grep -v '^make' "$STAGE/kmod.log" | head -20)"
grep -v '^make' "$STAGE/kmod.log" | grep -i 'warning' && die "guest/kmod builds with warnings (above)"
cp "$STAGE/kmod/symbiotic.ko" "$M/extra/symbiotic.ko"
# The SymMod example stays on the host: the VMM loads it (ctl symmod load).
cp "$STAGE/kmod/symmod_hello.ko" "$OUT/symmod_hello.ko"
cp "$STAGE/kmod/symbiotic.ko" "$OUT/symbiotic.ko"
echo extra/symbiotic.ko >>"$M/symbiont.load"
echo "extra/symbiotic.ko:" >>"$M/modules.dep"

# Busybox and its applets as symlinks; the overlay (/init and /etc) on top.
dpkg-deb -x "$(deb busybox-static)" "$STAGE/bb"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt}
cp "$STAGE/bb/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list-full); do
	case $a in */*) [ -e "$R/$a" ] || [ -L "$R/$a" ] || ln -s /bin/busybox "$R/$a" ;; esac
done
cp -a "$OVERLAY/." "$R/"
[ -x "$R/init" ] || die "guest/initramfs/init is missing or not executable"
chmod 1777 "$R/tmp"

# newc cpio, owned by root, sorted, fixed mtimes: the same inputs give the
# same bytes. /dev/console must exist before /init runs (the kernel opens it
# for init's stdio), and a device node needs root to create, so that entry is
# a second archive written here; the kernel unpacks concatenated archives.
newc() { # name mode rdevmajor rdevminor inode: an entry without data
	local n=$(( ${#1} + 1 ))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$5" "$2" 0 0 1 0 0 0 0 "$3" "$4" "$n" 0 "$1"
	head -c $(( (4 - (110 + n) % 4) % 4 )) /dev/zero
}
find "$R" -exec touch -h -d @0 {} +
{
	(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet)
	newc dev/console $((0020600)) 5 1 1
	newc TRAILER!!! 0 0 0 0
} | gzip -9n >"$STAGE/initramfs.cpio.gz"

# Into place: the stamp last, so an interrupted run is redone.
rm -f "$OUT/.stamp"
rm -rf "$OUT/headers"
mv "$STAGE/headers" "$OUT/headers"
for f in vmlinuz System.map VERSION initramfs.cpio.gz; do mv "$STAGE/$f" "$OUT/$f"; done
printf 'fast %s\npkgs %s\n' "$fast" "$pkgs" >"$OUT/.stamp"
echo "guest-image: $OUT ready ($VER, initramfs $(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB)"
