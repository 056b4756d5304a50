#!/usr/bin/env bash
# Installs the real programs the interop tests talk to, when any is missing.
# Debian packages: gophernicus, pygopherd, socat, curl, lynx, netcat-openbsd, telnet, iproute2.
set -euo pipefail
need=()
for pair in gophernicus:gophernicus pygopherd:pygopherd socat:socat curl:curl lynx:lynx \
            nc:netcat-openbsd telnet:telnet ip:iproute2 ss:iproute2 setpriv:util-linux python3:python3; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-peers: missing ${need[*]}; run as root or install them with apt-get" >&2
        exit 1
    fi
    echo "install-peers: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
