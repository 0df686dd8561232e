#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs the real
# tools the oracle tests compare against when they are missing, then runs cargo test.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p squashfs`).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xorriso    >/dev/null || need+=(xorriso)
command -v mksquashfs >/dev/null || need+=(squashfs-tools)
command -v rdsquashfs >/dev/null || need+=(squashfs-tools-ng)
command -v isoinfo    >/dev/null || need+=(genisoimage)
[ -f /usr/lib/ISOLINUX/isohdpfx.bin ] || need+=(isolinux)
command -v gpg        >/dev/null || need+=(gpg)
command -v gpgv       >/dev/null || need+=(gpgv)
command -v git        >/dev/null || need+=(git)
command -v mkfs.vfat  >/dev/null || need+=(dosfstools)
command -v fdisk      >/dev/null || need+=(fdisk)
command -v sgdisk     >/dev/null || need+=(gdisk)
command -v diffoscope >/dev/null || need+=(diffoscope-minimal)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The real Tails data (keys, signatures, tag) lives beside the project; tests skip loudly without it.
if [ -z "${VERIFY_RELEASE_TAILS_DATA:-}" ] && [ -d ../shared/tails-data ]; then
  VERIFY_RELEASE_TAILS_DATA=$(cd ../shared/tails-data && pwd)
  export VERIFY_RELEASE_TAILS_DATA
fi

exec cargo test --locked --workspace "$@"
