#!/usr/bin/env python3
"""Writes the demo release's source trees (binary/ and chroot/) into the given folder.

Deterministic: the same bytes every run (a fixed-seed generator, no clock, sorted loops).
A few hundred files of mixed kinds: text, incompressible binaries, zero-filled files,
duplicates, empty files, executables, symlinks, long and non-ASCII names, deep folders.
"""
import os
import random
import sys

root = sys.argv[1]
rng = random.Random(20250101)


def write(rel, data, exe=False):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755 if exe else 0o644)


def link(rel, target):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def text(n_lines, words):
    return "".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
        for _ in range(n_lines)
    ).encode()


WORDS = ("live image release source signed tag build verify reproducible bytes "
         "squashfs iso kernel boot user data amnesia tor network privacy").split()

# --- the squashfs tree (what becomes live/filesystem.squashfs) ---
write("chroot/usr/bin/demo-hello",
      b"#!/bin/sh\n# The demo system's only program.\necho 'hello from the demo release'\n", exe=True)
for i in range(12):
    write(f"chroot/usr/bin/tool{i:02d}", b"#!/bin/sh\necho tool %d\n" % i, exe=True)
for i in range(6):  # incompressible "libraries", some spanning several blocks
    size = [3000, 131072, 20000, 140000, 700, 9000][i]
    write(f"chroot/usr/lib/x86_64-linux-gnu/libdemo{i}.so.1", rng.randbytes(size))
link("chroot/usr/lib/x86_64-linux-gnu/libdemo0.so", "libdemo0.so.1")
write("chroot/usr/lib/x86_64-linux-gnu/zeros.bin", bytes(300000))  # all-zero blocks
dup = text(40, WORDS)
for name in ("copy-a.txt", "copy-b.txt", "nested/copy-c.txt"):  # duplicate content
    write(f"chroot/usr/share/demo/{name}", dup)
for i in range(240):  # many small files: fragments
    write(f"chroot/usr/share/doc/pkg{i // 20:02d}/file{i:03d}.txt", text(rng.randint(0, 30), WORDS))
for i in range(5):
    write(f"chroot/etc/demo/empty{i}", b"")
write("chroot/etc/hostname", b"amnesia\n")
write("chroot/etc/motd", text(5, WORDS))
link("chroot/etc/localtime", "/usr/share/zoneinfo/UTC")
link("chroot/bin", "usr/bin")
deep = "chroot/var/lib/demo/" + "/".join(f"d{i}" for i in range(20))
write(f"{deep}/bottom.txt", b"the bottom\n")
write("chroot/usr/share/i18n/" + "Grüße-こんにちは-😀.txt", "non-ASCII name\n".encode())
write("chroot/usr/share/i18n/" + ("long-name-" * 12) + "end.txt", b"a long name\n")

# --- the image tree (what becomes the ISO's root) ---
write("binary/README.txt", b"Demo release 1.0 of verify-release.\nTEST ONLY.\n")
write("binary/isolinux/isolinux.cfg", b"default live\nlabel live\n  kernel /live/vmlinuz\n")
write("binary/live/vmlinuz", rng.randbytes(20000))
write("binary/live/initrd.img", bytes(4096) + rng.randbytes(8000))
write("binary/boot/grub/grub.cfg", text(20, WORDS))
write("binary/" + ("a-very-long-file-name-for-joliet-" * 4) + "end.txt", b"joliet-long\n")
write("binary/docs/Grüße.txt", "non-ASCII\n".encode())
for i in range(30):
    write(f"binary/docs/page{i:02d}.html", text(rng.randint(1, 20), WORDS))
link("binary/docs/index.html", "page00.html")
