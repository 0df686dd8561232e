#!/usr/bin/env bash
# Benchmark of the embedded builder against the real tools, on one machine in one run.
#
# Generates a deterministic ~300 MB mixed source tree (prose, ELF binaries copied from
# /usr/lib, pseudo-random data, zeros, many small files) with a release.toml (xz,
# block_size 1048576, an image tree + the squashfs), then times
#   (a) mksquashfs + xorriso with the recipe's flags (docs/recipe.md), and
#   (b) `verify-release build` (release binary),
# each with /usr/bin/time -v (wall, CPU, peak RSS), and checks the two images are
# byte-identical. Not a test: run it by hand, once, and copy the table it prints into
# docs/benchmarks.md ("build").
#
# Usage: scripts/bench-build.sh [WORK_DIR]   (default: a fresh temporary folder, removed)
# Env:   SIZE_MB (default 300), VERIFY_RELEASE (default: target-dir release binary).
set -euo pipefail
export LC_ALL=C TZ=UTC
umask 022

here=$(cd "$(dirname "$0")/.." && pwd)
size_mb=${SIZE_MB:-300}
sde=1700000000
target=${CARGO_TARGET_DIR:-$here/target}
bin=${VERIFY_RELEASE:-$target/release/verify-release}

for tool in mksquashfs xorriso python3; do
  command -v "$tool" >/dev/null || { echo "bench-build: $tool is missing (apt-get install -y squashfs-tools xorriso python3)" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench-build: /usr/bin/time is missing (apt-get install -y time)" >&2; exit 2; }
[ -x "$bin" ] || { echo "bench-build: $bin not found; run: cargo build --release --bin verify-release" >&2; exit 2; }

if [ $# -ge 1 ]; then
  work=$1; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
src=$work/src
rm -rf "$src" "$work"/out-*; mkdir -p "$src"

# 1. The source tree. Shares of the total: 30% prose, 25% binaries from /usr/lib,
#    20% pseudo-random, 15% zeros, 10% small files (~3 KB each, some duplicates).
python3 - "$src" "$size_mb" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
rng = random.Random(20261127)
def put(rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
words = [w.encode() for w in (
    "the image is built from source and every byte must match squashfs block fragment "
    "directory inode release tag signed reproducible debian live system kernel package "
    "config documentation manual locale translation license copyright\n").split(" ")]
def prose(n):
    out, size = [], 0
    while size < n:
        w = words[rng.randrange(len(words))]
        out.append(w); size += len(w) + 1
    return b" ".join(out)[:n]
# prose: files of 64 KiB .. 4 MiB
budget = int(total * 0.30); i = 0
while budget > 0:
    n = min(budget, rng.choice([65536, 300000, 1 << 20, 4 << 20]))
    put(f"chroot/usr/share/doc/pkg{i % 40:02}/text-{i:04}.txt", prose(n)); budget -= n; i += 1
# binaries: regular files under /usr/lib, sorted, until the share is reached
budget = int(total * 0.25)
cands = []
for d, dirs, files in os.walk("/usr/lib"):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        if f.endswith(".so") or ".so." in f:
            cands.append(p)
for p in sorted(cands):
    if budget <= 0:
        break
    size = os.path.getsize(p)
    if size == 0 or size > 32 << 20:
        continue
    with open(p, "rb") as f:
        put("chroot" + p, f.read())
    budget -= size
# pseudo-random: a few big files
budget = int(total * 0.20); i = 0
while budget > 0:
    n = min(budget, 8 << 20)
    put(f"chroot/var/lib/random/blob-{i:02}.bin", rng.randbytes(n)); budget -= n; i += 1
# zeros (sparse blocks in squashfs)
budget = int(total * 0.15); i = 0
while budget > 0:
    n = min(budget, 16 << 20)
    put(f"chroot/var/lib/zeros/zero-{i:02}.img", bytes(n)); budget -= n; i += 1
# many small files
budget = int(total * 0.10); i = 0
while budget > 0:
    n = 200 + rng.randrange(6000)
    body = b"duplicate small file\n" if i % 9 == 0 else prose(n)
    put(f"chroot/etc/small/d{i // 500:03}/f{i:05}.conf", body); budget -= len(body); i += 1
# the image tree
put("binary/README.txt", prose(4000))
put("binary/isolinux/isolinux.cfg", b"default live\n")
PY
cat > "$src/release.toml" <<TOML
format = 1
source_date_epoch = $sde

[image]
output = "bench.iso"
volume_id = "BENCH"
tree = "binary"

[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"
block_size = 1048576
TOML
# Normalize in place (the recipe's staging rules) so the tools need no staging copy:
# both sides read the same files.
find "$src" -type d -exec chmod 0755 {} +
find "$src" -type f -perm /111 -exec chmod 0755 {} +
find "$src" -type f ! -perm /111 -exec chmod 0644 {} +
find "$src" -exec touch -h -d "@$sde" {} +
tree_bytes=$(du -sb "$src/chroot" | cut -f1)
tree_files=$(find "$src/chroot" -type f | wc -l)
sync

# 2. Timings. `measure NAME CMD...` appends "name wall user sys maxrss_kb" to $work/times.
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$work/time-$name.txt" "$@" >/dev/null 2>"$work/stderr-$name.txt" || {
    echo "bench-build: $name failed:" >&2; cat "$work/stderr-$name.txt" >&2; exit 1; }
  awk -v n="$name" -F': ' '
    /Elapsed \(wall clock\)/ { split($2, t, ":"); w = (length(t) == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2] }
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
    END { printf "%s %.2f %.2f %.2f %d\n", n, w, u, s, m }' "$work/time-$name.txt" >> "$work/times"
}
: > "$work/times"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
stage=$work/out-tools
mkdir -p "$stage"
cp -a "$src/binary" "$stage/binary"
mkdir -p "$stage/binary/live"
export SOURCE_DATE_EPOCH=$sde
measure mksquashfs mksquashfs "$src/chroot" "$stage/binary/live/filesystem.squashfs" \
  -noappend -all-root -no-xattrs -comp xz -b 1048576 -quiet
# Staging rules for what mksquashfs made and the folders it changed (untimed).
chmod 0644 "$stage/binary/live/filesystem.squashfs"
find "$stage/binary" -exec touch -h -d "@$sde" {} +
date=$(date -u -d "@$sde" +%Y%m%d%H%M%S00)
measure xorriso xorriso -as mkisofs -R -r -J -joliet-long -l -cache-inodes -iso-level 3 \
  -V BENCH --modification-date="$date" -o "$work/out-tools.iso" "$stage/binary"
unset SOURCE_DATE_EPOCH
sync
mkdir -p "$work/out-builder"
measure builder "$bin" build "$src" --output "$work/out-builder/bench.iso" --quiet
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# 3. Same bytes?
if cmp -s "$work/out-tools.iso" "$work/out-builder/bench.iso"; then
  identical=yes
else
  identical="NO (first difference: $(cmp "$work/out-tools.iso" "$work/out-builder/bench.iso" | head -1))"
fi

# 4. Report.
read -r _ w1 u1 s1 m1 < <(grep '^mksquashfs ' "$work/times")
read -r _ w2 u2 s2 m2 < <(grep '^xorriso ' "$work/times")
read -r _ w3 u3 s3 m3 < <(grep '^builder ' "$work/times")
pair_wall=$(echo "$w1 + $w2" | bc)
pair_cpu=$(echo "$u1 + $s1 + $u2 + $s2" | bc)
pair_rss=$(( m1 > m2 ? m1 : m2 ))
cat <<EOF
tree: $tree_files files, $tree_bytes bytes in chroot; image $(stat -c %s "$work/out-builder/bench.iso") bytes
cores: $(nproc); load average before: $load_before, after: $load_after
$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')

| run | wall s | CPU s (user+sys) | peak RSS MiB |
|---|---|---|---|
| mksquashfs | $w1 | $(echo "$u1 + $s1" | bc) | $(( m1 / 1024 )) |
| xorriso | $w2 | $(echo "$u2 + $s2" | bc) | $(( m2 / 1024 )) |
| **tools (pair)** | **$pair_wall** | **$pair_cpu** | **$(( pair_rss / 1024 ))** |
| **verify-release build** | **$w3** | **$(echo "$u3 + $s3" | bc)** | **$(( m3 / 1024 ))** |

wall ratio builder / pair: $(echo "scale=2; $w3 / $pair_wall" | bc)
identical: $identical
EOF
[ "$identical" = yes ]
