#!/usr/bin/env bash
# Benchmark: download 1 GiB over loopback from one local Gopher server, with `lab gopher`
# (release build) and with curl, in the same run. Prints both throughputs, the ratio and
# lab's peak RSS. Targets (issue #6): lab >= 1.2x curl, peak RSS <= 8 MiB.
#
# The server: a 30-line Python 3 Gopher server (below) that reads the selector line and
# answers with os.sendfile, so the server is not the bottleneck; one connection at a time.
# lab saves a binary item with splice(2) (socket -> pipe -> file, no copy into the program);
# curl reads into its buffer and writes. Both write to /dev/null in the timed rounds; one
# extra lab run to a real file is compared with the source (cmp).
# Traffic stays on 127.0.0.1. Usage: bash tests/bench/gopher.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SIZE=$((1 << 30))

cargo build --release --quiet
LAB=./target/release/lab
for t in curl bc; do command -v $t >/dev/null || { echo "bench: $t is not installed" >&2; exit 1; }; done
PY=$(command -v /usr/bin/python3 || command -v python3)

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A sparse 1 GiB file: served from the page cache, no disk in the measurement.
truncate -s "$SIZE" "$WORK/big.bin"

cat > "$WORK/server.py" <<'PY'
import os, socket, sys
root, port_file = sys.argv[1], sys.argv[2]
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(8)
l.settimeout(600)  # bounded: the server ends if no client comes for 10 minutes
with open(port_file + ".tmp", "w") as f:
    f.write(str(l.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
def serve(c):
    c.settimeout(60)
    req = b""
    while not req.endswith(b"\n") and len(req) < 1024:
        b = c.recv(1024)
        if not b:
            break
        req += b
    sel = req.split(b"\t")[0].strip().decode("utf-8", "replace").lstrip("/")
    path = os.path.join(root, os.path.basename(sel))
    if not os.path.isfile(path):
        c.sendall(b"3not found\terror\terror.host\t1\r\n.\r\n")
        return
    c.settimeout(None)  # os.sendfile needs a blocking socket
    with open(path, "rb") as f:
        size, off = os.fstat(f.fileno()).st_size, 0
        while off < size:
            off += os.sendfile(c.fileno(), f.fileno(), off, size - off)
while True:
    c, _ = l.accept()
    try:
        serve(c)
    except OSError as e:
        print("server:", e, file=sys.stderr)
    c.close()
PY
"$PY" "$WORK/server.py" "$WORK" "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")
URL="gopher://127.0.0.1:$PORT/9/big.bin"
echo "server: python3 sendfile Gopher server (tests/bench/gopher.sh) on 127.0.0.1:$PORT, item $SIZE bytes"

now() { date +%s.%N; }
# Runs a command, checks it wrote exactly SIZE bytes, prints seconds.
timed() {
    local out=$1; shift
    local t0 t1
    t0=$(now)
    "$@"
    t1=$(now)
    local got
    got=$(stat -c %s "$out" 2>/dev/null || echo 0)
    [ "$out" = /dev/null ] || [ "$got" = "$SIZE" ] || { echo "bench: $1 wrote $got bytes, not $SIZE" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l
}

# Warm-up, not measured: the first read of the sparse file fills the page cache.
curl -s -o /dev/null "$URL"

lab_times=() curl_times=()
for r in $(seq "$ROUNDS"); do
    tl=$(timed /dev/null "$LAB" gopher "$URL" -o /dev/null --max-bytes 2G)
    tc=$(timed /dev/null curl -s -o /dev/null "$URL")
    printf 'round %d: lab %.3f s, curl %.3f s\n' "$r" "$tl" "$tc"
    lab_times+=("$tl") curl_times+=("$tc")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
med_lab=$(median "${lab_times[@]}")
med_curl=$(median "${curl_times[@]}")
# One more checked run to a real file: the bytes must all arrive.
"$LAB" gopher "$URL" -o "$WORK/got.bin" --max-bytes 2G
[ "$(stat -c %s "$WORK/got.bin")" = "$SIZE" ] || { echo "bench: lab's file is short" >&2; exit 1; }
cmp -s "$WORK/got.bin" "$WORK/big.bin" || { echo "bench: lab's file differs" >&2; exit 1; }
rm -f "$WORK/got.bin"

# Peak RSS of lab for the whole 1 GiB download.
if [ -x /usr/bin/time ]; then
    rss_kb=$(/usr/bin/time -v "$LAB" gopher "$URL" -o /dev/null --max-bytes 2G 2>&1 >/dev/null |
        awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')
    how="/usr/bin/time -v"
else
    "$LAB" gopher "$URL" -o /dev/null --max-bytes 2G &
    pid=$!
    rss_kb=0
    while kill -0 "$pid" 2>/dev/null; do
        v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$rss_kb" ] && rss_kb=$v
        sleep 0.02
    done
    wait "$pid"
    how="VmHWM polled"
fi

mib=$((1 << 20))
lab_mibs=$(echo "$SIZE / $mib / $med_lab" | bc -l)
curl_mibs=$(echo "$SIZE / $mib / $med_curl" | bc -l)
ratio=$(echo "$lab_mibs / $curl_mibs" | bc -l)
printf '\nmedian of %d rounds, 1 GiB each:\n' "$ROUNDS"
printf '  lab gopher  %8.0f MiB/s  (%.3f s)\n' "$lab_mibs" "$med_lab"
printf '  curl        %8.0f MiB/s  (%.3f s)\n' "$curl_mibs" "$med_curl"
printf '  ratio lab/curl: %.2fx (target >= 1.2x)\n' "$ratio"
printf '  lab peak RSS: %.1f MiB (%s; target <= 8 MiB)\n' "$(echo "$rss_kb / 1024" | bc -l)" "$how"
