#!/usr/bin/env bash
# Benchmark: `stitch compile` against the ffmpeg CLI peer on the synthetic webinars of
# ../shared/peers/make_webinar.sh, in one run, with the peers' oracle (validate.py).
#
# Usage: benches/compile_bench.sh [small] [medium] [long2h] [threads]
#   small   : -n 20  -d 10 --gap-min 0 --gap-max 4 --seed 1   (239 s timeline)
#   medium  : -n 180 -d 10 --gap-min 0 --gap-max 5 --seed 2   (2246 s timeline)
#   threads : stitch on small with --threads 1 and 2 (encoder scaling)
#   long2h  : the small set's chunks placed again and again to a 2-hour timeline: peak RSS
#             (compare with the small set's: memory must not grow with the timeline)
# Datasets are generated once into $BENCH_DATA (default /tmp/stitch-bench). Results
# (time -v, validate.py JSON) go to $BENCH_DATA/results; a summary table is printed.
# Numbers are ratios measured in the same run: this machine is noisy.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$(cd "$ROOT/../shared/peers" && pwd)"
DATA="${BENCH_DATA:-/tmp/stitch-bench}"
RES="$DATA/results"
mkdir -p "$DATA" "$RES" /tmp/peers-data/out
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$ROOT/.." && pwd)/target}"
STITCH_FFMPEG_FEATURE=0 bash "$ROOT/.ci/setup.sh"
cargo build --release --bin stitch --manifest-path "$ROOT/Cargo.toml" >&2
STITCH="$CARGO_TARGET_DIR/release/stitch"
sets=("$@"); [[ ${#sets[@]} -gt 0 ]] || sets=(small medium)

gen() {  # gen NAME COUNT MAKE_WEBINAR_ARGS...
  local name="$1" count="$2"; shift 2
  if [[ ! -f "$DATA/$name/flow.json" ]] || [[ $(ls "$DATA/$name"/seg_*.mp4 2>/dev/null | wc -l) -lt "$count" ]]; then
    echo "generating $name ..." >&2
    bash "$PEERS/make_webinar.sh" -o "$DATA/$name" -n "$count" "$@" >&2
  fi
}

source "$ROOT/benches/lib.sh"  # timed

timeline_secs() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['duration'])" "$1"; }

valid() {  # valid OUT FLOW NAME -> OK/FAIL
  if python3 "$PEERS/validate.py" "$1" "$2" --json "$RES/$3.valid.json" > "$RES/$3.valid.txt" 2>&1; then :; fi
  python3 - "$RES/$3.valid.json" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[1]))
except Exception as e:
    print("FAIL(no-json)"); sys.exit()
oks = {k: v[k] for k in v if k.startswith("ok")}
print("OK" if oks and all(oks.values()) else "FAIL:" + ",".join(k for k, x in oks.items() if not x))
PY
}

row() { printf "| %-8s | %-22s | %8s | %8s | %8s | %7s | %-14s |\n" "$@"; }
echo
row set method "wall s" "cpu s" "RSS MB" "x rt" oracle
row -------- ---------------------- -------- -------- -------- ------- --------------
for s in "${sets[@]}"; do
  case "$s" in
    small|threads) gen small 20 -d 10 --gap-min 0 --gap-max 4 --seed 1 ;;
    medium) gen medium 180 -d 10 --gap-min 0 --gap-max 5 --seed 2 ;;
    long2h) gen small 20 -d 10 --gap-min 0 --gap-max 4 --seed 1 ;;
  esac
done
for s in "${sets[@]}"; do
  case "$s" in
    small|medium)
      flow="$DATA/$s/flow.json"; T=$(timeline_secs "$flow")
      read -r w c r < <(timed "stitch.$s" "$STITCH" compile "$flow" -o "/tmp/peers-data/out/stitch.$s.mp4" --quiet)
      ok=$(valid "/tmp/peers-data/out/stitch.$s.mp4" "$flow" "stitch.$s")
      row "$s" "stitch (2 threads)" "$w" "$c" "$r" "$(python3 -c "print(f'{$T/$w:.1f}')")" "$ok"
      sw=$w
      read -r w c r < <(timed "ffmpeg.$s" env AUDIO_FIX=1 "$PEERS/ffmpeg_reencode.sh" "$flow" "/tmp/peers-data/out/ffmpeg.$s.mp4" libx264)
      ok=$(valid "/tmp/peers-data/out/ffmpeg.$s.mp4" "$flow" "ffmpeg.$s")
      row "$s" "ffmpeg x264 veryfast" "$w" "$c" "$r" "$(python3 -c "print(f'{$T/$w:.1f}')")" "$ok"
      echo "RATIO $s: ffmpeg wall / stitch wall = $(python3 -c "print(f'{$w/$sw:.2f}')")"
      ;;
    threads)
      flow="$DATA/small/flow.json"; T=$(timeline_secs "$flow")
      read -r w1 c1 r1 < <(timed "stitch.t1" "$STITCH" compile "$flow" -o /tmp/peers-data/out/stitch.t1.mp4 --quiet --threads 1)
      row small "stitch --threads 1" "$w1" "$c1" "$r1" "$(python3 -c "print(f'{$T/$w1:.1f}')")" "-"
      read -r w2 c2 r2 < <(timed "stitch.t2" "$STITCH" compile "$flow" -o /tmp/peers-data/out/stitch.t2.mp4 --quiet --threads 2)
      row small "stitch --threads 2" "$w2" "$c2" "$r2" "$(python3 -c "print(f'{$T/$w2:.1f}')")" "-"
      echo "RATIO threads: wall(1) / wall(2) = $(python3 -c "print(f'{$w1/$w2:.2f}')")"
      ;;
    long2h)
      flow="$DATA/long2h.json"
      python3 - "$DATA/small/flow.json" "$flow" <<'PY'
import json, sys
src = json.load(open(sys.argv[1])); base = sys.argv[1].rsplit("/", 1)[0]
logs, t, i = [], 0.0, 0
evs = src["eventLogs"]; period = src["duration"]
while t + period <= 7200.0 + period:
    for e in evs:
        rt = t + e["relativeTime"]
        if rt >= 7200.0: break
        logs.append({"relativeTime": round(rt, 3), "module": "mediasession.add",
                     "data": {"url": base + "/" + e["data"]["url"], "duration": e["data"].get("duration")}})
    t += period
json.dump({"name": "long2h", "duration": 7200.0, "eventLogs": logs}, open(sys.argv[2], "w"))
PY
      read -r w c r < <(timed "stitch.long2h" "$STITCH" compile "$flow" -o /tmp/peers-data/out/stitch.long2h.mp4 --quiet)
      row long2h "stitch (2 threads)" "$w" "$c" "$r" "$(python3 -c "print(f'{7200/$w:.1f}')")" "-"
      ;;
    *) echo "unknown set $s" >&2; exit 2 ;;
  esac
done
