#!/usr/bin/env bash
# Benchmark of `verify-release compare` (not a test; the machine may be shared).
#
# 1. Two 1 GiB files differing in one byte near the end: verify-release vs cmp, same run,
#    files in the page cache (each tool runs twice; the second run is reported).
# 2. A ~1 GB live-style ISO (a SquashFS of generated data inside, made with mksquashfs
#    and xorriso) and a copy with one byte changed deep inside the SquashFS: full report
#    time and peak memory (/usr/bin/time -v); diffoscope on a smaller pair of the same
#    kind (diffoscope on 1 GB takes too long to be worth the shared machine's time).
#
# Usage: [VR=binary] scripts/bench-compare.sh [WORKDIR]   (needs ~5 GB free; removes it at the end)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/bench-compare.XXXXXX)}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

for t in cmp mksquashfs xorriso /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 4; }
done

# VR=/path/to/verify-release uses an existing release build.
vr=${VR:-}
if [ -z "$vr" ]; then
  echo "building verify-release (release)…" >&2
  (cd "$root" && cargo build --release --quiet --bin verify-release)
  vr=${CARGO_TARGET_DIR:-$root/target}/release/verify-release
fi

# Seconds (wall) and peak RSS (KiB) of a command, from /usr/bin/time -v.
measure() {
  local log="$work/time.log"
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  printf '%s\t%s KiB' "$wall" "$rss"
}

# SECTIONS picks parts to run (default: all three).
sections=${SECTIONS:-"bytes iso diffoscope"}
want() { case " $sections " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want bytes; then
echo "== 1 GiB files, one byte differs at offset 1073741000"
head -c $((1 << 30)) /dev/urandom >"$work/a.bin"
cp "$work/a.bin" "$work/b.bin"
printf '\x00' | dd of="$work/b.bin" bs=1 seek=1073741000 conv=notrunc status=none
cat "$work/a.bin" "$work/b.bin" >/dev/null # page cache
for run in 1 2; do
  c=$(measure cmp "$work/a.bin" "$work/b.bin")
  v=$(measure "$vr" compare "$work/a.bin" "$work/b.bin")
done
printf 'cmp:            %s\nverify-release: %s\n' "$c" "$v"
echo "== 1 GiB identical files (two copies: the same file twice is answered without reading)"
cp "$work/a.bin" "$work/c.bin"
cat "$work/a.bin" "$work/c.bin" >/dev/null
for run in 1 2; do
  c=$(measure cmp "$work/a.bin" "$work/c.bin")
  v=$(measure "$vr" compare "$work/a.bin" "$work/c.bin")
done
printf 'cmp:            %s\nverify-release: %s\n' "$c" "$v"
rm -f "$work/a.bin" "$work/b.bin" "$work/c.bin"
fi

# A live-style tree: many small text-like files and some larger ones, ~`$1` MB.
make_tree() {
  local dir=$1 mb=$2
  mkdir -p "$dir/usr/lib" "$dir/usr/share/doc" "$dir/etc"
  python3 - "$dir" "$mb" <<'PY'
import os, random, sys
d, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
text = b" ".join(rng.choice(words) for _ in range(1 << 20))  # ~6 MB of compressible text
total, i = 0, 0
while total < mb << 20:
    big = i % 50 == 0
    n = rng.randint(1 << 20, 6 << 20) if big else rng.randint(100, 60000)
    start = rng.randrange(0, len(text) - n)
    data = text[start:start + n]
    if big:  # half incompressible, like binaries
        data = os.urandom(n // 2) + data[: n - n // 2]
    sub = "usr/lib" if big else ("usr/share/doc" if i % 2 else "etc")
    os.makedirs(f"{d}/{sub}/d{i % 97}", exist_ok=True)
    with open(f"{d}/{sub}/d{i % 97}/f{i}", "wb") as f:
        f.write(data)
    total += n
    i += 1
print(i, "files", file=sys.stderr)
PY
}

make_iso() { # tree-mb, out
  local t="$work/tree-$2" s="$work/staging-$2"
  rm -rf "$t" "$s"
  make_tree "$t" "$1"
  mkdir -p "$s/live" "$s/isolinux"
  cp /usr/lib/ISOLINUX/isolinux.bin "$s/isolinux/"
  SOURCE_DATE_EPOCH=1700000000 mksquashfs "$t" "$s/live/filesystem.squashfs" \
    -noappend -quiet -comp xz -all-root -no-xattrs
  SOURCE_DATE_EPOCH=1700000000 xorriso -as mkisofs -R -r -J -joliet-long -l \
    -cache-inodes -iso-level 3 -V BENCH -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin -partition_offset 16 \
    -quiet -o "$work/$2.iso" "$s"
  rm -rf "$t" "$s"
}

# One byte changed at 3/4 of the SquashFS (deep in its data blocks).
flip_deep() { # iso, out
  python3 - "$1" "$2" <<'PY'
import shutil, subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copyfile(src, dst)
out = subprocess.run(["xorriso", "-indev", src, "-find", "/live/filesystem.squashfs",
                      "-exec", "report_lba"], capture_output=True, text=True).stdout
line = [l for l in out.splitlines() if l.startswith("File data lba:")][0]
f = [x.strip() for x in line.split(":", 1)[1].split(",")]
lba, size = int(f[1]), int(f[3])
off = lba * 2048 + size * 3 // 4
with open(dst, "r+b") as fh:
    fh.seek(off); b = fh.read(1); fh.seek(off); fh.write(bytes([b[0] ^ 0x55]))
print(off)
PY
}

if want iso; then
echo "== ~1 GB live-style ISO, one byte changed deep inside the SquashFS"
make_iso 1100 big
off=$(flip_deep "$work/big.iso" "$work/big-b.iso")
ls -l "$work/big.iso" | awk '{print "image size:", $5}'
echo "changed offset: $off"
cat "$work/big.iso" "$work/big-b.iso" >/dev/null
c=$(measure cmp "$work/big.iso" "$work/big-b.iso")
v=$(measure "$vr" compare "$work/big.iso" "$work/big-b.iso")
printf 'cmp:            %s\nverify-release: %s\n' "$c" "$v"
"$vr" compare "$work/big.iso" "$work/big-b.iso" | head -8 || true # exit 1: they differ
rm -f "$work/big.iso" "$work/big-b.iso"
fi

if ! want diffoscope; then
  :
elif command -v diffoscope >/dev/null; then
  echo "== ~100 MB pair of the same kind: verify-release vs diffoscope"
  make_iso 100 small
  flip_deep "$work/small.iso" "$work/small-b.iso" >/dev/null
  ls -l "$work/small.iso" | awk '{print "image size:", $5}'
  v=$(measure "$vr" compare "$work/small.iso" "$work/small-b.iso")
  d=$(measure timeout 900 diffoscope --text "$work/diffoscope.txt" "$work/small.iso" "$work/small-b.iso")
  printf 'verify-release: %s\ndiffoscope:     %s\n' "$v" "$d"
  "$vr" compare "$work/small.iso" "$work/small-b.iso" | sed -n 2p || true
  grep -m3 -n "f[0-9]" "$work/diffoscope.txt" || echo "(diffoscope output names no inner file)"
else
  echo "diffoscope not installed: skipped"
fi
