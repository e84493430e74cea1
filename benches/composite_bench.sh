#!/usr/bin/env bash
# Benchmark: the webinar composite (`stitch compile --layout sidebar --size 1280x720`)
# against the ffmpeg CLI peer doing the same layout (composite_ffmpeg.sh: one ffmpeg, one
# filter graph: overlay + amix, libx264 veryfast), in one run, on the synthetic webinar of
# composite_make.sh (lecturer camera throughout, a second camera and a 1080p screen share a
# third of the time each, two audio-only speakers, four slides).
#
# Usage: benches/composite_bench.sh [MINUTES] [SHORT_MINUTES]
#   MINUTES       : the timeline compared with ffmpeg (default 30)
#   SHORT_MINUTES : stitch alone on a shorter set of the same kind (default 10): its peak
#                   RSS next to the long one's shows whether memory grows with length
#                   (0: skip)
# env: BENCH_DATA (default /tmp/stitch-bench; sets generated once into composite<M>/),
#      STITCH=/path/to/stitch (skip the build), CARGO_TARGET_DIR (default ../target),
#      THREADS1=1 (also stitch --threads 1 on the short set: encoder scaling),
#      SKIP_FFMPEG=1 (stitch only).
# Results (time -v, logs, validity) go to $BENCH_DATA/results/composite.*; a markdown
# table is printed. Validity of each output: ffprobe duration within 1 s of the timeline,
# and `ffmpeg -v error -i OUT -f null -` prints nothing. Ratios are measured in the same
# run: this machine is noisy (2 cores, shared).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${BENCH_DATA:-/tmp/stitch-bench}"
RES="$DATA/results"
OUTD="$DATA/out"
LONG="${1:-30}"
SHORT="${2:-10}"
mkdir -p "$DATA" "$RES" "$OUTD"
source "$ROOT/benches/lib.sh"  # timed, ensure_stitch
ensure_stitch

gen() {  # gen MINUTES -> prints the flow path
  [[ -f "$DATA/composite$1/flow.json" ]] || echo "generating composite$1 ..." >&2
  bash "$ROOT/benches/composite_make.sh" "$1" "$DATA/composite$1" >/dev/null
  echo "$DATA/composite$1/flow.json"
}

TIMED_DIGITS=1

timeline_secs() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['duration'])" "$1"; }

valid() {  # valid OUT SECONDS NAME -> "dur s, OK|FAIL(...)"; details in $RES/NAME.valid.txt
  local out="$1" T="$2" name="$3" d errs
  d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out" 2>/dev/null || echo 0)
  errs=$(nice -n 5 ffmpeg -nostdin -v error -i "$out" -f null - 2>&1 | head -c 2000 || true)
  { echo "duration $d (want $T)"; echo "decode errors:"; echo "$errs"; } > "$RES/$name.valid.txt"
  python3 - "$d" "$T" "$errs" <<'PY'
import sys
d, T, errs = float(sys.argv[1] or 0), float(sys.argv[2]), sys.argv[3].strip()
bad = [x for x, ok in (("duration", abs(d - T) <= 1.0), ("decode-errors", not errs)) if not ok]
print(f"{d:.2f}|" + ("OK" if not bad else "FAIL(" + ",".join(bad) + ")"))
PY
}

xrt() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$1" "$2"; }
row() { printf "| %-5s | %-40s | %7s | %7s | %7s | %6s | %9s | %-7s |\n" "$@"; }

flow_long=$(gen "$LONG")
[[ "$SHORT" == 0 ]] || flow_short=$(gen "$SHORT")

echo
echo "stitch: $STITCH; $(nproc) cores; $(ffmpeg -hide_banner -version | head -1 | cut -d' ' -f1-3)"
echo
row set method "wall s" "cpu s" "RSS MB" "x rt" "out dur s" valid
row ----- ---------------------------------------- ------- ------- ------- ------ --------- -------
T=$(timeline_secs "$flow_long")
out="$OUTD/composite.stitch.$LONG.mp4"
read -r sw sc sr < <(timed "composite.stitch.$LONG" "$STITCH" compile "$flow_long" -o "$out" \
  --layout sidebar --size 1280x720 --quiet)
IFS='|' read -r d ok < <(valid "$out" "$T" "composite.stitch.$LONG")
row "${LONG}m" "stitch --layout sidebar (OpenH264)" "$sw" "$sc" "$sr" "$(xrt "$T" "$sw")" "$d" "$ok"
if [[ "${SKIP_FFMPEG:-0}" != 1 ]]; then
  out="$OUTD/composite.ffmpeg.$LONG.mp4"
  read -r fw fc fr < <(timed "composite.ffmpeg.$LONG" bash "$ROOT/benches/composite_ffmpeg.sh" "$flow_long" "$out")
  IFS='|' read -r d ok < <(valid "$out" "$T" "composite.ffmpeg.$LONG")
  row "${LONG}m" "ffmpeg overlay+amix, x264 veryfast (*)" "$fw" "$fc" "$fr" "$(xrt "$T" "$fw")" "$d" "$ok"
fi
if [[ "$SHORT" != 0 ]]; then
  Ts=$(timeline_secs "$flow_short")
  out="$OUTD/composite.stitch.$SHORT.mp4"
  read -r w c r < <(timed "composite.stitch.$SHORT" "$STITCH" compile "$flow_short" -o "$out" \
    --layout sidebar --size 1280x720 --quiet)
  IFS='|' read -r d ok < <(valid "$out" "$Ts" "composite.stitch.$SHORT")
  row "${SHORT}m" "stitch --layout sidebar (OpenH264)" "$w" "$c" "$r" "$(xrt "$Ts" "$w")" "$d" "$ok"
  short_rss=$r
  if [[ "${THREADS1:-0}" == 1 ]]; then
    read -r w1 c1 r1 < <(timed "composite.stitch.$SHORT.t1" "$STITCH" compile "$flow_short" \
      -o "$OUTD/composite.stitch.$SHORT.t1.mp4" --layout sidebar --size 1280x720 --quiet --threads 1)
    row "${SHORT}m" "stitch --threads 1" "$w1" "$c1" "$r1" "$(xrt "$Ts" "$w1")" "-" "-"
    echo "RATIO threads ($SHORT min): wall(--threads 1) / wall(default) = $(xrt "$w1" "$w")"
  fi
fi
echo
[[ "${SKIP_FFMPEG:-0}" == 1 ]] || echo "RATIO ${LONG} min: ffmpeg wall / stitch wall = $(xrt "$fw" "$sw") (>= 1: stitch is not slower)"
echo "TARGET ${LONG} min: stitch x realtime = $(xrt "$T" "$sw") (target >= 10)"
[[ "$SHORT" == 0 ]] || echo "RSS: stitch peak RSS ${SHORT} min = ${short_rss} MB, ${LONG} min = ${sr} MB (target: independent of length)"
[[ "${SKIP_FFMPEG:-0}" == 1 ]] || echo "(*) the ffmpeg peer does less: no name labels, no name cards for audio-only speakers, no limiter (see composite_ffmpeg.sh)"
