#!/usr/bin/env bash
# Installs the real programs the interop tests and benchmarks use, when any package is missing.
# Checked by package, not by command name: another `nc` (netcat-traditional) lacks the -N the tests use.
set -euo pipefail
pkgs=(gophernicus pygopherd socat curl lynx netcat-openbsd telnet iproute2 util-linux bc time tcpdump tshark chromium fonts-noto-cjk)
need=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-peers: missing ${need[*]}; run as root or install them with apt-get" >&2
    exit 1
fi
echo "install-peers: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
