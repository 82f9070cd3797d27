#!/bin/sh
# Lays out rootfs/, the whole base image: a static busybox and the applets the
# services use. Runs on the host before the image build, so the build needs no
# registry to pull from.
set -eu
cd "$(dirname "$0")"
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "prebuild base: a statically linked busybox is needed; install it with: apt-get install busybox-static" >&2
    exit 1
fi
rm -rf rootfs.new
mkdir -p rootfs.new/bin rootfs.new/tmp rootfs.new/etc
cp "$busybox" rootfs.new/bin/busybox
for applet in sh httpd cat echo env printf sleep wget; do
    ln -s busybox "rootfs.new/bin/$applet"
done
echo "nobody:x:65534:65534:nobody:/:/bin/sh" > rootfs.new/etc/passwd
rm -rf rootfs
mv rootfs.new rootfs
