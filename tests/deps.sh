#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need, when some are missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu
PKGS="build-essential pkg-config clang libpam0g-dev libcurl4-openssl-dev libcjson-dev libssl-dev
libcmocka-dev libpam-wrapper pamtester openssh-server openssh-client sudo login util-linux
python3 python3-pytest python3-pexpect python3-cryptography python3-jwt valgrind curl openssl
debhelper dpkg-dev fakeroot lintian mandoc groff-base man-db libpam-runtime debconf
cppcheck clang-tools clang-format libclang-rt-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages:$missing" >&2
    echo "run as root: apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q $missing </dev/null >/dev/null
