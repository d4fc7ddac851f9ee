#!/bin/sh
# Checks that every build and test dependency is present. As root with apt,
# installs what is missing; otherwise prints the one apt-get line to run.
set -e
PKGS="build-essential pkg-config clang clang-format cppcheck libfuzzer-14-dev libcurl4-openssl-dev libssl-dev \
libjansson-dev libarchive-dev libzstd-dev libyaml-dev libcriterion-dev libmicrohttpd-dev \
docker-registry skopeo apache2-utils curl openssl python3 python3-cryptography time procps \
podman containerd chromium nodejs"
# a single-node Ceph cluster with the RADOS Gateway: the S3 endpoint of the
# e2e tests of s3:// stores (tests/e2e/lib/ceph.sh)
PKGS="$PKGS radosgw ceph-mon ceph-osd ceph-common"
# systemd-analyze, for tests/e2e/test_ops.sh (the units in contrib/systemd)
PKGS="$PKGS systemd"
# the browser test (tests/ui) runs playwright-core from npm; a nodejs that
# ships its own npm (nodesource) conflicts with Debian's npm package
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || true
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	# docker-registry may start a system service on :5000; the tests and
	# `make run` start their own.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now docker-registry >/dev/null 2>&1 || true
		# ceph-base's crash collector: the tests run their own cluster
		systemctl disable --now ceph-crash >/dev/null 2>&1 || true
	fi
	pkill -x docker-registry 2>/dev/null || true
	exit 0
fi
echo "deps: missing packages; run as root:" >&2
echo "  $line" >&2
exit 1
