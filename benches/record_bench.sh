#!/usr/bin/env bash
# Benchmark: `stitch record` (HLS VOD recorder) against Debian's ffmpeg CLI
# (`ffmpeg -i URL -c copy`) on 1,000 small TS segments served by a loopback origin, in one
# run, with an independent TS checker (ts_check.py) and ffmpeg's decoder as oracles.
#
# Usage: benches/record_bench.sh [ts] [mp4] [jobs]
#   ts   : stitch record -o OUT.ts  vs  ffmpeg -i URL -c copy -f mpegts OUT.ts
#   mp4  : stitch record --format mp4  vs  ffmpeg -i URL -c copy -f mp4 OUT.mp4
#   jobs : stitch record (TS) with -j 1, 2, 4, 8 (segment download concurrency)
#   (default: ts mp4)
# Env: BENCH_DATA (default /tmp/stitch-bench), CARGO_TARGET_DIR (default ../target),
#   REPEAT (runs per command, default 3), STITCH (a prebuilt binary: skips cargo build),
#   ORIGIN_DELAY_MS (the origin waits this long before each answer, default 0: loopback;
#   e.g. 20 emulates a CDN round trip, where segment concurrency -j matters).
# Dataset (generated once by ffmpeg into $BENCH_DATA/hls1000, ~50 MB, about a minute): a VOD
# playlist of 1,000 TS segments of 1 s (320x180 25 fps H.264 with B-frames, GOP 1 s,
# ~300 kbit/s + 48 kHz mono AAC) made of 5 independent encodes of 200 segments joined with
# EXT-X-DISCONTINUITY, like a CDN VOD assembled from clips; continuity counters restart at
# every part and the parts' first video DTS are (s, ffmpeg's HLS muxer starts at 1.4 s):
#   part 1: 1.4       part 2: 1.4 (restart: -200 s, a new encode)
#   part 3: 198.4     (3 s *before* part 2's end: an overlapping clip, small backward step)
#   part 4: 404.4     (6 s after part 3's end: a clip cut from a live stream, small gap)
#   part 5: 95401.4   (jump forward; the 33-bit PTS wraps at 95443.7 s inside the part)
# A correct recording is continuous: 25,000 frames, no timestamp step other than one frame,
# presentation span = the EXTINF sum (1000 s). (ffmpeg 5.1's CLI repairs backward steps and
# forward ones larger than -dts_delta_threshold, 10 s: the 6 s gap stays in its output.)
# Origin: benches/hls_origin.py (files preloaded in memory, HTTP/1.1 keep-alive, threads)
# on 127.0.0.1:<random port>; it counts the .ts bytes served to each client.
# Speeds: segments/s = distinct .ts served during the run / wall (1000 when complete),
# MB/s = .ts bytes served during the run / wall.
# Checks per output: ts_check.py (CC errors per PID, video DTS back-steps and jumps
# > 1.5 frames, PTS jumps in presentation order, presentation span vs the EXTINF sum)
# and `ffmpeg -v error -i OUT -f null -` error lines.
# Each command runs $REPEAT times (default 3, same output file), the run of median wall
# time is reported (runs are ~1 s: a single one is mostly noise); the output of the last
# run is checked.
# Results (time -v, logs, ts_check JSON) go to $BENCH_DATA/results/record.*; outputs to
# $BENCH_DATA/out. A summary table is printed.
# Numbers are ratios measured in one run: this machine is noisy.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/benches"
DATA="${BENCH_DATA:-/tmp/stitch-bench}"
RES="$DATA/results"
OUT="$DATA/out"
HLS="$DATA/hls1000"
NSEG=1000 NPART=5 PARTSEG=200
REPEAT="${REPEAT:-3}"
ORIGIN_DELAY_MS="${ORIGIN_DELAY_MS:-0}"
DATASET_VERSION="hls1000 v2: 5x200 x 1 s, offsets 0 0 197 403 95400"
mkdir -p "$DATA" "$RES" "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$ROOT/.." && pwd)/target}"
STITCH_FFMPEG_FEATURE=0 bash "$ROOT/.ci/setup.sh"
if [[ -n "${STITCH:-}" ]]; then
  echo "using STITCH=$STITCH (not building)" >&2
else
  cargo build --release --bin stitch --manifest-path "$ROOT/Cargo.toml" >&2
  STITCH="$CARGO_TARGET_DIR/release/stitch"
fi
[[ -x "$STITCH" ]] || { echo "error: no stitch binary at $STITCH" >&2; exit 1; }
FFMPEG=/usr/bin/ffmpeg
[[ -x "$FFMPEG" ]] || FFMPEG="$(command -v ffmpeg)"
sets=("$@"); [[ ${#sets[@]} -gt 0 ]] || sets=(ts mp4)
for s in "${sets[@]}"; do
  case "$s" in ts|mp4|jobs) ;; *) echo "unknown set '$s' (ts, mp4, jobs)" >&2; exit 2 ;; esac
done

# ---- dataset ---------------------------------------------------------------------------
gen() {
  local tmp="$HLS.tmp" k src
  rm -rf "$tmp"; mkdir -p "$tmp"
  # timestamp offset of each part (ffmpeg's HLS muxer adds 1.4 s): see the header
  local offsets=(0 0 197 403 95400)
  for k in 0 1 2 3 4; do
    echo "generating $HLS: part $((k + 1))/$NPART ($PARTSEG segments) ..." >&2
    # a different picture per part (cheap lavfi sources, no fonts needed)
    case $k in
      0) src="testsrc2=s=320x180:r=25:d=$PARTSEG" ;;
      1) src="testsrc2=s=320x180:r=25:d=$PARTSEG,hue=h=120" ;;
      2) src="testsrc=s=320x180:r=25:d=$PARTSEG" ;;
      3) src="testsrc2=s=320x180:r=25:d=$PARTSEG,negate" ;;
      4) src="testsrc2=s=320x180:r=25:d=$PARTSEG,hue=h=240" ;;
    esac
    "$FFMPEG" -hide_banner -v error -y \
      -f lavfi -i "$src" -f lavfi -i "sine=f=$((300 + 110 * k)):r=48000:d=$PARTSEG" \
      -c:v libx264 -preset veryfast -bf 2 -g 25 -keyint_min 25 -sc_threshold 0 -pix_fmt yuv420p \
      -b:v 300k -maxrate 400k -bufsize 400k -c:a aac -b:a 64k -ac 1 \
      -output_ts_offset "${offsets[$k]}" \
      -f hls -hls_time 1 -hls_list_size 0 -hls_segment_type mpegts \
      -hls_segment_filename "$tmp/p${k}_%03d.ts" "$tmp/part$k.m3u8"
  done
  python3 - "$tmp" "$NPART" "$PARTSEG" <<'PY'
import math, re, sys
d, nparts, partseg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entries, target = [], 1
for k in range(nparts):
    lines = open(f"{d}/part{k}.m3u8").read().splitlines()
    segs = []
    for i, l in enumerate(lines):
        if l.startswith("#EXTINF:"):
            dur = float(l[8:].split(",")[0]); segs.append((dur, lines[i + 1].strip()))
            target = max(target, math.ceil(dur - 0.001))
    if len(segs) != partseg:
        sys.exit(f"part {k}: {len(segs)} segments, expected {partseg}")
    entries.append(segs)
out = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
       "#EXT-X-PLAYLIST-TYPE:VOD"]
for k, segs in enumerate(entries):
    if k:
        out.append("#EXT-X-DISCONTINUITY")
    for dur, uri in segs:
        out += [f"#EXTINF:{dur:.6f},", uri]
out.append("#EXT-X-ENDLIST")
open(f"{d}/index.m3u8", "w").write("\n".join(out) + "\n")
PY
  rm -f "$tmp"/part?.m3u8
  echo "$DATASET_VERSION" > "$tmp/VERSION"
  rm -rf "$HLS"; mv "$tmp" "$HLS"
}
if [[ "$(cat "$HLS/VERSION" 2>/dev/null)" != "$DATASET_VERSION" ]] || [[ ! -f "$HLS/index.m3u8" ]] \
   || [[ $(ls "$HLS" | grep -c '\.ts$') -ne $NSEG ]]; then
  t0=$SECONDS; gen; echo "dataset generated in $((SECONDS - t0)) s" >&2
fi
EXPECTED=$(awk -F'[:,]' '/^#EXTINF:/ {s += $2} END {printf "%.3f", s}' "$HLS/index.m3u8")
SEG_BYTES=$(cat "$HLS"/*.ts | wc -c)

# ---- origin ----------------------------------------------------------------------------
ORIGIN_PID=""
cleanup() {
  if [[ -n "$ORIGIN_PID" ]] && kill -0 "$ORIGIN_PID" 2>/dev/null; then
    kill "$ORIGIN_PID" 2>/dev/null || true
    wait "$ORIGIN_PID" 2>/dev/null || true
  fi
  rm -f "$RES/record.origin.port"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -f "$RES/record.origin.port"
python3 "$BENCH/hls_origin.py" "$HLS" "$RES/record.origin.port" --delay-ms "$ORIGIN_DELAY_MS" > "$RES/record.origin.log" 2>&1 &
ORIGIN_PID=$!
for _ in $(seq 100); do
  [[ -s "$RES/record.origin.port" ]] && break
  kill -0 "$ORIGIN_PID" 2>/dev/null || { echo "origin failed to start:" >&2; cat "$RES/record.origin.log" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$RES/record.origin.port" ]] || { echo "origin did not report its port" >&2; exit 1; }
PORT=$(cat "$RES/record.origin.port")
BASE="http://127.0.0.1:$PORT"
URL="$BASE/index.m3u8"
curl -sf -o /dev/null "$URL" || { echo "origin does not answer on $URL" >&2; exit 1; }
echo "origin: $URL (delay ${ORIGIN_DELAY_MS} ms; $NSEG segments, $(python3 -c "print(f'{$SEG_BYTES/1e6:.1f}')") MB, EXTINF sum $EXPECTED s)" >&2

# timed NAME CMD... : runs CMD $REPEAT times under /usr/bin/time -v
# ($RES/record.NAME.N.time), the origin's counters reset before each; prints the run of
# median wall time as "wall cpu rss_mb exit_code ts_requests ts_distinct ts_bytes"
timed() {
  local name="$1"; shift
  local i rc
  for ((i = 1; i <= REPEAT; i++)); do
    rc=0
    [[ -z "${TIMED_RM:-}" ]] || rm -f "$TIMED_RM" "${TIMED_RM%.*}"_[0-9]*."${TIMED_RM##*.}"
    curl -sf -o /dev/null "$BASE/__stats?reset=1"
    /usr/bin/time -v -o "$RES/record.$name.$i.time" "$@" > "$RES/record.$name.$i.log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
      echo "FAILED ($rc): $name (see $RES/record.$name.$i.log)" >&2; tail -n 20 "$RES/record.$name.$i.log" >&2
    fi
    curl -sf "$BASE/__stats" > "$RES/record.$name.$i.origin.json"
    echo "$rc" > "$RES/record.$name.$i.rc"
  done
  python3 - "$RES/record.$name" "$REPEAT" "$ROOT/benches" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
from time_v import parse
pre, n = sys.argv[1], int(sys.argv[2])
runs = []
for i in range(1, n + 1):
    wall, cpu, rss = parse(f"{pre}.{i}.time")
    o = json.load(open(f"{pre}.{i}.origin.json"))
    rc = int(open(f"{pre}.{i}.rc").read())
    runs.append((wall, cpu, rss, rc, o["ts_requests"], o["ts_distinct"], o["ts_bytes"]))
failed = [r for r in runs if r[3] != 0]
wall, cpu, rss, rc, nreq, ndist, nbytes = failed[0] if failed else sorted(runs)[len(runs) // 2]
print(f"{wall:.2f} {cpu:.2f} {rss:.0f} {rc} {nreq} {ndist} {nbytes}")
PY
}

# check NAME FILE : ts_check.py JSON + decoder errors; prints
# "cc_err dts_back dts_jump pts_jump span_s dec_err_lines"
check() {
  local name="$1" f="$2"
  if [[ ! -s "$f" ]]; then echo "- - - - - -"; return; fi
  python3 "$BENCH/ts_check.py" "$f" --expected "$EXPECTED" --json "$RES/record.$name.check.json" \
    > "$RES/record.$name.check.txt" 2>&1 || true
  "$FFMPEG" -hide_banner -v error -i "$f" -f null - > "$RES/record.$name.decode.txt" 2>&1 || true
  local dec; dec=$(grep -c . "$RES/record.$name.decode.txt" || true)
  python3 - "$RES/record.$name.check.json" "$dec" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("? ? ? ? ? " + sys.argv[2]); sys.exit()
v = j.get("video") or {}
cc = j.get("cc_errors")
print(f"{'n/a' if cc is None else cc} {v.get('dts_back', '?')} {v.get('dts_jump', '?')} {v.get('pts_jump', '?')} "
      f"{v.get('span_s', 0):.2f} {sys.argv[2]}")
PY
}

row() { printf "| %-24s | %6s | %6s | %6s | %6s | %6s | %-9s | %6s | %6s | %6s | %6s | %8s | %6s |\n" "$@"; }
declare -A SPEED
# run NAME LABEL FILE CMD...
run() {
  local name="$1" label="$2" f="$3"; shift 3
  local w c r rc nreq ndist nbytes
  read -r w c r rc nreq ndist nbytes < <(TIMED_RM="$f" timed "$name" "$@") \
    || { echo "error: no timing for $name (see $RES/record.$name.*)" >&2; exit 1; }
  local extra; extra=$(compgen -G "${f%.*}_[0-9]*.${f##*.}" | wc -l || true)
  [[ $extra -eq 0 ]] || echo "NOTE: $name wrote $extra extra section file(s) next to $f" >&2
  local cc db dj pj span dec
  read -r cc db dj pj span dec < <(check "$name" "$f") \
    || { echo "error: no check result for $name (see $RES/record.$name.*)" >&2; exit 1; }
  local sps mbs
  sps=$(python3 -c "print(f'{$ndist/$w:.0f}' if $w > 0 and $ndist else '-')")
  mbs=$(python3 -c "print(f'{$nbytes/1e6/$w:.1f}' if $w > 0 and $nbytes else '-')")
  SPEED[$name]=$w
  [[ $rc -eq 0 ]] || label="$label (exit $rc)"
  row "$label" "$w" "$c" "$r" "$sps" "$mbs" "$ndist/$nreq" "$cc" "$db" "$dj" "$pj" "$span" "$dec"
}
ratio() {  # ratio LABEL FFMPEG_NAME STITCH_NAME
  echo "RATIO $1: stitch speed / ffmpeg speed (= ffmpeg wall / stitch wall) = $(python3 -c "print(f'{${SPEED[$2]}/${SPEED[$3]}:.2f}')")"
}

echo
echo "HLS VOD, median of $REPEAT runs, $NSEG TS segments, $(python3 -c "print(f'{$SEG_BYTES/1e6:.1f}')") MB, EXTINF sum $EXPECTED s, $NPART parts joined by EXT-X-DISCONTINUITY; origin $BASE, delay $ORIGIN_DELAY_MS ms per request"
echo
row method "wall s" "cpu s" "RSS MB" "seg/s" "MB/s" "segs/reqs" "CC err" "DTS<-" "DTS>>" "PTS>>" "span s" "dec err"
row ------------------------ ------ ------ ------ ------ ------ --------- ------ ------ ------ ------ -------- ------
for s in "${sets[@]}"; do
  case "$s" in
    ts)
      run stitch.ts "stitch record (-j 4) ts" "$OUT/stitch.ts" "$STITCH" record "$URL" -o "$OUT/stitch.ts" --quiet
      run ffmpeg.ts "ffmpeg -c copy ts" "$OUT/ffmpeg.ts" "$FFMPEG" -hide_banner -nostdin -v error -y -i "$URL" -c copy -f mpegts "$OUT/ffmpeg.ts"
      # reference (checker sanity, not a competitor): the segments concatenated byte for byte
      REPEAT=1 run cat.ts "(ref) cat of segments" "$OUT/cat.ts" \
        bash -c 'cd "$1" && grep -v "^#" index.m3u8 | xargs cat > "$2"' _ "$HLS" "$OUT/cat.ts"
      ;;
    mp4)
      run stitch.mp4 "stitch record (-j 4) mp4" "$OUT/stitch.mp4" "$STITCH" record "$URL" -o "$OUT/stitch.mp4" --format mp4 --quiet
      run ffmpeg.mp4 "ffmpeg -c copy mp4" "$OUT/ffmpeg.mp4" "$FFMPEG" -hide_banner -nostdin -v error -y -i "$URL" -c copy -f mp4 "$OUT/ffmpeg.mp4"
      ;;
    jobs)
      for j in 1 2 4 8; do
        run "stitch.j$j" "stitch record -j $j ts" "$OUT/stitch.j$j.ts" "$STITCH" record "$URL" -o "$OUT/stitch.j$j.ts" -j "$j" --quiet
      done
      ;;
  esac
done
echo
echo "(ref) = the segments' bytes concatenated without fetching (what the checkers see in the raw input)"
echo "expected duration (EXTINF sum): $EXPECTED s; span = video presentation span (max PTS - min PTS + 1 frame)"
echo "columns: segs/reqs = distinct .ts served / .ts requests; CC err = continuity errors (all PIDs);"
echo "  DTS<- = video DTS not increasing; DTS>> / PTS>> = video DTS / PTS steps > 1.5 frames;"
echo "  dec err = lines of 'ffmpeg -v error -i OUT -f null -'; details in $RES/record.*"
for s in "${sets[@]}"; do
  case "$s" in
    ts) ratio ts ffmpeg.ts stitch.ts ;;
    mp4) ratio mp4 ffmpeg.mp4 stitch.mp4 ;;
    jobs) echo "RATIO jobs: wall(-j 1) / wall(-j 4) = $(python3 -c "print(f'{${SPEED[stitch.j1]}/${SPEED[stitch.j4]}:.2f}')")" ;;
  esac
done
