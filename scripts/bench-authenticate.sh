#!/usr/bin/env bash
# Benchmark of `verify-release authenticate` against gpgv + sha256sum on the same
# file in the same run: a 1 GiB file signed with SHA-512 by an RSA-4096 subkey made
# in a throwaway GNUPGHOME (a TEST ONLY key, deleted at the end).
#
#   scripts/bench-authenticate.sh            # builds the release binary first
#   VERIFY_RELEASE_BIN=path/to/verify-release SIZE_MIB=256 scripts/bench-authenticate.sh
#
# Prints one Markdown table row per tool (wall, user, sys, peak RSS) and the machine.
# The file is read once before timing (to compute the expected sha256), so every tool
# reads it from the page cache: the figures are hashing/verification cost, not disk.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
BIN=${VERIFY_RELEASE_BIN:-}
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin verify-release)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/verify-release"
fi
if [ ! -x /usr/bin/time ]; then
    apt-get install -y time >/dev/null
fi
for tool in gpg gpgv sha256sum; do
    command -v "$tool" >/dev/null || { echo "bench-authenticate: $tool is required" >&2; exit 4; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-authenticate.XXXXXX")
trap 'gpgconf --homedir "$WORK/gnupg" --kill all 2>/dev/null || true; rm -rf "$WORK"' EXIT
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"

echo "== making a TEST ONLY RSA-4096 key (certify-only primary + signing subkey)" >&2
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-gen-key 'Benchmark (TEST ONLY key) <bench@example.invalid>' rsa4096 cert never
FPR=$(gpg --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-add-key "$FPR" rsa4096 sign never
gpg --export --armor "$FPR" >"$WORK/key.asc"
gpg --export "$FPR" >"$WORK/keyring.gpg"

echo "== writing ${SIZE_MIB} MiB of random data and signing it (SHA-512)" >&2
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$WORK/image"
gpg --batch --quiet --digest-algo SHA512 --detach-sign -o "$WORK/image.sig" "$WORK/image"
SHA=$(sha256sum "$WORK/image" | cut -c1-64)
SIZE=$(stat -c %s "$WORK/image")

# runs a command under /usr/bin/time -v and prints "wall user sys maxrss_kib"
measure() {
    local log="$WORK/time.log"
    /usr/bin/time -v -o "$log" "$@" >/dev/null
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
        END { printf "%.2f %.2f %.2f %d\n", w, u, s, m }' "$log"
}

row() {
    local name=$1; shift
    read -r wall user sys rss < <(measure "$@")
    printf '| %s | %s | %s | %s | %.1f |\n' "$name" "$wall" "$user" "$sys" "$(echo "$rss / 1024" | bc -l)"
    echo "$wall" >"$WORK/last"
}

echo "== timing (file in page cache)" >&2
echo "| tool | wall s | user s | sys s | peak RSS MiB |"
echo "|---|---|---|---|---|"
row "verify-release authenticate --sha256 --size" "$BIN" authenticate --quiet \
    --cert "$WORK/key.asc" --fingerprint "$FPR" --signature "$WORK/image.sig" \
    --sha256 "$SHA" --size "$SIZE" "$WORK/image"
VR=$(cat "$WORK/last")
row "gpgv" gpgv --keyring "$WORK/keyring.gpg" "$WORK/image.sig" "$WORK/image"
GV=$(cat "$WORK/last")
row "sha256sum" sha256sum "$WORK/image"
SS=$(cat "$WORK/last")
printf '| gpgv + sha256sum (one after the other) | %.2f | | | |\n' "$(echo "$GV + $SS" | bc -l)"
echo
echo "file: ${SIZE} bytes; verify-release: $(echo "$VR * 1073741824 / $SIZE" | bc -l | cut -c1-5) s per GiB"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "tools: $(gpgv --version | head -1), $(sha256sum --version | head -1)"
