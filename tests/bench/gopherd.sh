#!/usr/bin/env bash
# Benchmark: curl downloads one 1 GiB file from `lab gopherd` (release build) and from
# gophernicus, in the same run, several times each, alternating; prints each run's
# throughput, the medians and their ratio. A third server, `lab gopherd --no-sendfile`, shows
# what sendfile(2) itself is worth. curl tops out near 2 GiB/s, so it measures curl as much
# as the servers: the second part fetches with P parallel `lab gopher -o FILE` clients
# (splice(2) into /dev/null: the bytes never enter the client; the sizes were checked above) and prints the aggregate MiB/s and each
# server's CPU seconds per GiB sent (utime+stime, with reaped children for socat's forks).
# Targets: lab >= 1.5x gophernicus in aggregate throughput, <= 0.5x its CPU per GiB.
#
#   bash tests/bench/gopherd.sh            # from the repository root, as root
#   SIZE_MIB=256 RUNS=5 P=4 bash tests/bench/gopherd.sh
#
# gophernicus is an inetd-style server (one process per connection, the connection on its
# stdin/stdout) and refuses to run as root: socat listens on 127.0.0.1 and, for each
# connection, forks and execs gophernicus as nobody with the TCP socket as its stdio
# (`nofork`: no relay process in between, as inetd or systemd socket activation would do).
# Both servers read the same file from the page cache (it is read once before the runs).
# The temporary directory, the file and both servers are removed at the end, whatever happens.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
P=${P:-2}
cd "$(dirname "$0")/../.."
LAB=${LAB:-target/release/lab}
GOPHERNICUS=${GOPHERNICUS:-/usr/sbin/gophernicus}

for tool in curl socat python3 "$GOPHERNICUS"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: run as root (gophernicus is started as nobody through socat su=)" >&2; exit 1; }
if [ ! -x "$LAB" ] || [ -n "$(find src Cargo.toml -newer "$LAB" -print -quit)" ]; then
    cargo build --release >&2
fi

work=$(mktemp -d /tmp/lab-gopherd-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The file: readable by nobody, in a directory nobody may enter.
chmod 755 "$work"
mkdir -m 755 "$work/root"
file="$work/root/big.bin"
if ! fallocate -l "${SIZE_MIB}MiB" "$file" 2>/dev/null; then
    dd if=/dev/zero of="$file" bs=1M count="$SIZE_MIB" status=none
fi
chmod 644 "$file"
size=$(stat -c %s "$file")
cat "$file" >/dev/null # into the page cache, for both servers alike

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# lab gopherd: prints "Serving DIR on gopher://127.0.0.1:PORT/" once it listens.
"$LAB" gopherd "$work/root" --port 0 --quiet >"$work/lab.out" 2>"$work/lab.err" &
pids+=($!)
lab_pid=$!
lab_port=
for _ in $(seq 100); do
    lab_port=$(sed -n 's#^Serving .* on gopher://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$work/lab.out")
    [ -n "$lab_port" ] && break
    sleep 0.1
done
[ -n "$lab_port" ] || { echo "bench: lab gopherd did not start: $(cat "$work/lab.err")" >&2; exit 1; }

# The same server with sendfile off (read + write through a buffer), to see what sendfile buys.
"$LAB" gopherd "$work/root" --port 0 --quiet --no-sendfile >"$work/copy.out" 2>"$work/copy.err" &
pids+=($!)
copy_port=
for _ in $(seq 100); do
    copy_port=$(sed -n 's#^Serving .* on gopher://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$work/copy.out")
    [ -n "$copy_port" ] && break
    sleep 0.1
done
[ -n "$copy_port" ] || { echo "bench: lab gopherd --no-sendfile did not start" >&2; exit 1; }

# gophernicus behind socat, as nobody; -nm: no shared memory, so no per-session throttling.
g_port=$(free_port)
socat "TCP-LISTEN:$g_port,bind=127.0.0.1,fork,reuseaddr" \
    "EXEC:'$GOPHERNICUS -h 127.0.0.1 -p $g_port -r $work/root -nm',nofork,su=nobody" \
    2>"$work/socat.err" &
pids+=($!)
socat_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$g_port") 2>/dev/null && break
    sleep 0.1
done

# One download: prints bytes and seconds; the body is counted and dropped.
download() {
    curl -s --max-time 300 -o /dev/null -w '%{size_download} %{time_total}\n' "$1"
}

declare -A speeds=()
echo "file: $size bytes; $RUNS runs each, alternating"
printf '%-12s %4s %14s %9s %10s\n' server run bytes seconds MiB/s
for run in $(seq "$RUNS"); do
    for server in lab lab-copy gophernicus; do
        case $server in
            lab) port=$lab_port ;;
            lab-copy) port=$copy_port ;;
            *) port=$g_port ;;
        esac
        read -r bytes secs < <(download "gopher://127.0.0.1:$port/9/big.bin")
        if [ "$bytes" != "$size" ]; then
            echo "bench: $server sent $bytes bytes, not $size" >&2
            exit 1
        fi
        mibs=$(python3 -c "print(f'{$bytes / 1048576 / $secs:.0f}')")
        speeds[$server]+="$mibs "
        printf '%-12s %4s %14s %9s %10s\n' "$server" "$run" "$bytes" "$secs" "$mibs"
    done
done

python3 - "${speeds[lab]}" "${speeds[lab-copy]}" "${speeds[gophernicus]}" <<'EOF'
import statistics, sys
lab, copy, gn = (statistics.median(float(x) for x in a.split()) for a in sys.argv[1:4])
print(f"median: lab gopherd {lab:.0f} MiB/s (sendfile), {copy:.0f} MiB/s (--no-sendfile), gophernicus {gn:.0f} MiB/s")
print(f"ratio lab gopherd / gophernicus: {lab / gn:.2f}x (target >= 1.5x); sendfile / copy: {lab / copy:.2f}x")
EOF

# CPU ticks of a process, with its reaped children (socat waits for each gophernicus).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }

# parallel PORT PID: P clients at once, each the whole file; prints "MiB/s cpu_s_per_GiB".
parallel() {
    local port=$1 pid=$2 t0 t1 c0 c1 i failed=0
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    for i in $(seq "$P"); do
        "$LAB" gopher "gopher://127.0.0.1:$port/9/big.bin" -o /dev/null --max-time 600 &
    done
    for i in $(seq "$P"); do wait -n || failed=1; done
    t1=$(date +%s.%N)
    sleep 0.2 # socat reaps its last children
    c1=$(cpu_ticks "$pid")
    [ "$failed" = 0 ] || { echo "bench: a parallel download failed" >&2; exit 1; }
    python3 -c "
b = $P * $size; s = $t1 - $t0; cpu = ($c1 - $c0) / $(getconf CLK_TCK)
print(f'{b / 1048576 / s:.0f} {cpu / (b / 2**30):.3f}')"
}

echo
echo "aggregate: $P parallel lab gopher clients (splice to /dev/null), $RUNS runs each, alternating"
printf '%-12s %4s %10s %14s\n' server run MiB/s 'CPU s/GiB'
declare -A agg=() cpu=()
for run in $(seq "$RUNS"); do
    for server in lab gophernicus; do
        if [ "$server" = lab ]; then read -r m c < <(parallel "$lab_port" "$lab_pid")
        else read -r m c < <(parallel "$g_port" "$socat_pid"); fi
        agg[$server]+="$m "
        cpu[$server]+="$c "
        printf '%-12s %4s %10s %14s\n' "$server" "$run" "$m" "$c"
    done
done
python3 - "${agg[lab]}" "${agg[gophernicus]}" "${cpu[lab]}" "${cpu[gophernicus]}" <<'EOF'
import statistics, sys
lab, gn, lcpu, gcpu = (statistics.median(float(x) for x in a.split()) for a in sys.argv[1:5])
print(f"median aggregate: lab gopherd {lab:.0f} MiB/s, gophernicus {gn:.0f} MiB/s: {lab / gn:.2f}x (target >= 1.5x)")
print(f"median CPU per GiB: lab gopherd {lcpu:.3f} s, gophernicus {gcpu:.3f} s: {lcpu / gcpu:.2f}x (target <= 0.5x)")
EOF
