#!/usr/bin/env bash
# Builds the tiny QEMU test guest used by the end-to-end tests (test/e2e/qemu.ts): Debian's cloud
# kernel and a busybox initramfs whose /init configures eth0 from the kernel command line, runs
# the test steps named there and prints "VSGUEST: ..." markers on the serial console.
# Output: OUT/vmlinuz and OUT/initrd.gz (OUT defaults to .cache/guest/). Reused as they are when
# the kernel and busybox package versions and this script are unchanged. Needs only Debian
# packages: apt-get download (no install) of the kernel and busybox-static; cpio, kmod and, for
# compressed modules, xz-utils or zstd are installed if missing.
# Usage: scripts/build-guest.sh [--out DIR] [--force]   (VSWITCH_GUEST_DIR also sets DIR)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
out=${VSWITCH_GUEST_DIR:-$repo/.cache/guest}
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-guest: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build-guest: $*" >&2; exit 1; }
as_root() { [ "$(id -u)" -eq 0 ]; }

# need TOOL PACKAGE: installs the Debian package with TOOL (as root) unless TOOL is there.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  as_root || die "'$1' is missing (apt-get install $2)"
  echo "build-guest: installing $2" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || die "apt-get install $2 failed"
}
PATH=$PATH:/usr/sbin:/sbin
need cpio cpio
need gzip gzip
need depmod kmod

# Which packages to use: the real kernel package behind the cloud metapackage (e.g.
# linux-image-6.1.0-56-cloud-amd64) and the candidate versions of it and busybox-static. Sets
# kpkg, kver, bver and stamp (what the cached build was made from).
resolve() {
  kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$kpkg" ] || return 1
  local versions
  versions=$(apt-cache policy "$kpkg" busybox-static 2>/dev/null |
    awk '/^[^ ]/ { p = $1; sub(/:$/, "", p) } /Candidate:/ { print p, $2 }')
  kver=$(echo "$versions" | awk -v p="$kpkg" '$1 == p { print $2 }')
  bver=$(echo "$versions" | awk '$1 == "busybox-static" { print $2 }')
  [ -n "$kver" ] && [ "$kver" != "(none)" ] && [ -n "$bver" ] && [ "$bver" != "(none)" ] || return 1
  stamp="kernel=$kpkg $kver busybox=$bver script=$(sha256sum "$0" | cut -d' ' -f1)"
}
updated=0
apt_update() {
  as_root || die "apt's package lists are missing or stale (run 'apt-get update' as root)"
  echo "build-guest: apt-get update" >&2
  apt-get update -qq || die "apt-get update failed: cannot reach the Debian archive"
  updated=1
}
# apt-cache needs package lists: a fresh machine may have none yet.
if ! resolve; then
  apt_update
  resolve || die "apt offers no linux-image-cloud-amd64 kernel package or no busybox-static"
fi

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [ "$force" = 0 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "build-guest: up to date in $out ($kpkg $kver)"
  exit 0
fi

tmp=$(mktemp -d /tmp/vswitch-guest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/debs"
# apt's download sandbox user must be able to write the target directory.
if as_root && id _apt >/dev/null 2>&1; then chmod 755 "$tmp"; chown _apt "$tmp/debs"; fi
download() {
  echo "build-guest: downloading $kpkg $kver and busybox-static $bver" >&2
  (cd "$tmp/debs" && apt-get download -q "$kpkg=$kver" "busybox-static=$bver" >"$tmp/download.log" 2>&1)
}
if ! download; then
  # Stale package lists name versions the archive no longer has: refresh them once.
  [ "$updated" = 0 ] && as_root || die "apt-get download $kpkg busybox-static failed: $(grep -v '^W:' "$tmp/download.log" | tail -3)"
  apt_update
  resolve || die "apt offers no linux-image-cloud-amd64 kernel package or no busybox-static"
  rm -f "$tmp"/debs/*.deb
  download || die "apt-get download $kpkg busybox-static failed: $(grep -v '^W:' "$tmp/download.log" | tail -3)"
fi
dpkg -x "$tmp"/debs/linux-image-*.deb "$tmp/k"
dpkg -x "$tmp"/debs/busybox-static_*.deb "$tmp/b"

uname_r=$(ls "$tmp/k/lib/modules")
moddir="$tmp/k/lib/modules/$uname_r"
vmlinuz="$tmp/k/boot/vmlinuz-$uname_r"
[ -f "$vmlinuz" ] || die "no kernel image in $kpkg"

# modules.dep is made by depmod at install time, so make it here for the extracted tree.
depmod -b "$tmp/k" "$uname_r"

# Module name -> path in modules.dep ("kernel/net/8021q/8021q.ko: kernel/net/802/garp.ko ...").
modpath() {
  awk -F: -v n="$1" '{ p = $1; sub(/.*\//, "", p); sub(/\.ko(\.xz|\.zst|\.gz)?$/, "", p); gsub(/-/, "_", p)
    if (p == n) { print $1; exit } }' "$moddir/modules.dep"
}
# Appends module $1 and everything it needs to the list $2, dependencies first (depth-first).
# Built-in modules (modules.builtin) are skipped: they need no loading.
order_modules() {
  local name=$1 list=$2 path deps d
  path=$(modpath "$name")
  if [ -z "$path" ]; then
    grep -q "/${name}\.ko$" "$moddir/modules.builtin" && return 0
    die "module $name is neither in modules.dep nor built in"
  fi
  grep -qxF "$path" "$list" 2>/dev/null && return 0
  deps=$(awk -F': *' -v p="$path" '$1 == p { print $2; exit }' "$moddir/modules.dep")
  for d in $deps; do
    d=${d##*/}; d=${d%%.ko*}; order_modules "${d//-/_}" "$list"
  done
  grep -qxF "$path" "$list" 2>/dev/null || echo "$path" >>"$list"
}

root="$tmp/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc/vsguest,lib/modules,root}
cp "$tmp/b/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
if as_root; then mknod -m 600 "$root/dev/console" c 5 1; fi

# Copies the modules of list $1 into the image (decompressed: insmod then needs no codec) and
# writes their load order, one file name a line, to etc/vsguest/$2.
install_modules() {
  local list=$1 name=$2 path base
  : >"$root/etc/vsguest/$name"
  while read -r path; do
    base=${path##*/}
    case "$base" in
      *.ko) cp "$moddir/$path" "$root/lib/modules/$base" ;;
      *.ko.xz) need xz xz-utils
               base=${base%.xz}; xz -dc "$moddir/$path" >"$root/lib/modules/$base" ;;
      *.ko.zst) need zstd zstd
                base=${base%.zst}; zstd -qdc "$moddir/$path" >"$root/lib/modules/$base" ;;
      *.ko.gz) base=${base%.gz}; gzip -dc "$moddir/$path" >"$root/lib/modules/$base" ;;
      *) die "unexpected module file $path" ;;
    esac
    echo "$base" >>"$root/etc/vsguest/$name"
  done <"$list"
}
: >"$tmp/net.list"; : >"$tmp/vlan.list"
order_modules virtio_pci "$tmp/net.list"
order_modules virtio_net "$tmp/net.list"
order_modules 8021q "$tmp/vlan.list"
install_modules "$tmp/net.list" net.modules
install_modules "$tmp/vlan.list" vlan.modules

cat >"$root/init" <<'INIT'
#!/bin/sh
# vswitch test guest. Kernel command line: vs.ip=ADDR/LEN (required), vs.mac=MAC, vs.vlan=ID
# (eth0.ID carries the address), vs.test=STEP,STEP,... Steps:
#   ping:IP[:SECS]           retry until a reply (default 30 s): "ping IP ok" or "ping IP fail"
#   recv:PORT                background TCP receiver: "listening PORT", then
#                            "recv PORT bytes=N sha256=HEX" when the sender closes
#   send:IP:PORT:BYTES[:SECS] random bytes to IP:PORT, retried until connected:
#                            "send IP:PORT bytes=N sha256=HEX ok|fail"
#   sleep:SECS   wait        (for background receivers)   sh:BASE64 (runs it: "sh rc=N")
#   stay                     print "stay" and keep running until killed
# Every marker line starts with "VSGUEST: ". After the steps (and background receivers): "done",
# then power off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
exec </dev/null >/dev/console 2>&1
dmesg -n 1
echo  # the firmware leaves its last line open: markers start lines of their own
set -f
say() { echo "VSGUEST: $*"; }
halt_now() { say "done"; sync; poweroff -f; sleep 10; }
die() { say "error $*"; halt_now; }
arg() {
  for w in $(cat /proc/cmdline); do
    case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
  done
}
load() {
  while read -r m; do insmod "/lib/modules/$m" || die "insmod $m failed"; done <"/etc/vsguest/$1"
}

ip=$(arg vs.ip); mac=$(arg vs.mac); vlan=$(arg vs.vlan); steps=$(arg vs.test)
[ -n "$ip" ] || die "no vs.ip= on the kernel command line"
for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
  [ -e "$f" ] && echo 1 >"$f"
done
load net.modules
i=0
while [ ! -e /sys/class/net/eth0 ]; do
  i=$((i + 1)); [ $i -gt 100 ] && die "no eth0 (is there a virtio-net-pci device?)"
  usleep 50000
done
ip link set lo up
[ -n "$mac" ] && ip link set eth0 address "$mac"
ip link set eth0 up
dev=eth0
if [ -n "$vlan" ]; then
  load vlan.modules
  ip link add link eth0 name "eth0.$vlan" type vlan id "$vlan" || die "cannot create eth0.$vlan"
  ip link set "eth0.$vlan" up
  dev=eth0.$vlan
fi
ip addr add "$ip" dev "$dev" || die "cannot set address $ip"
say "up $dev $ip $(cat /sys/class/net/eth0/address)"

step_ping() { # IP SECS
  end=$(( $(date +%s) + ${2:-30} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if ping -c 1 -W 1 "$1" >/dev/null 2>&1; then say "ping $1 ok"; return 0; fi
    usleep 200000
  done
  say "ping $1 fail"
}
step_recv() { # PORT
  # stdin must not reach EOF: busybox nc would half-close the connection, and the sending nc
  # stops at that FIN. A FIFO opened read-write never ends.
  mkfifo "/tmp/hold.$1"
  ( nc -l -p "$1" <>"/tmp/hold.$1" >"/tmp/recv.$1"
    say "recv $1 bytes=$(wc -c <"/tmp/recv.$1") sha256=$(sha256sum "/tmp/recv.$1" | cut -d' ' -f1)"
    rm -f "/tmp/recv.$1" "/tmp/hold.$1" ) &
  i=0
  until netstat -ltn 2>/dev/null | grep -q ":$1 "; do
    i=$((i + 1)); [ $i -gt 100 ] && { say "error recv $1 not listening"; return 1; }
    usleep 20000
  done
  say "listening $1"
}
step_send() { # IP PORT BYTES SECS
  # busybox nc stops sending when the peer closes or half-closes: a receiver must read to EOF.
  head -c "$3" /dev/urandom >/tmp/send.dat
  sum=$(sha256sum /tmp/send.dat | cut -d' ' -f1)
  n=$(wc -c </tmp/send.dat)
  end=$(( $(date +%s) + ${4:-30} )); res=fail
  while [ "$(date +%s)" -lt "$end" ]; do
    if nc -w 2 "$1" "$2" </tmp/send.dat >/dev/null 2>&1; then res=ok; break; fi
    usleep 200000
  done
  say "send $1:$2 bytes=$n sha256=$sum $res"
  rm -f /tmp/send.dat
}

for step in $(echo "$steps" | tr ',' ' '); do
  IFS=: read -r op a b c d <<EOF
$step
EOF
  case "$op" in
    ping) step_ping "$a" "$b" ;;
    recv) step_recv "$a" ;;
    send) step_send "$a" "$b" "$c" "$d" ;;
    sleep) sleep "$a" ;;
    wait) wait ;;
    sh) echo "$a" | base64 -d >/tmp/step.sh; sh /tmp/step.sh; say "sh rc=$?" ;;
    stay) say "stay"; while :; do sleep 3600; done ;;
    *) say "error unknown step '$step'" ;;
  esac
done
wait
halt_now
INIT
chmod 755 "$root/init"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$tmp/initrd.gz"
cp "$vmlinuz" "$tmp/vmlinuz"
rm -f "$out/stamp"
mv -f "$tmp/vmlinuz" "$out/vmlinuz"
mv -f "$tmp/initrd.gz" "$out/initrd.gz"
echo "$stamp" >"$out/stamp"
echo "build-guest: built $out (kernel $uname_r, modules: $(tr '\n' ' ' <"$root/etc/vsguest/net.modules"))"
