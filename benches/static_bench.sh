#!/usr/bin/env bash
# Benchmark: a canvas that does not change must cost far less than a moving one (issue #4,
# "work only where it changes"). Two composites of the same length and canvas, from the
# media of composite_make.sh (made if missing), compiled by `stitch compile --layout sidebar`:
#   static : slide 1 in the main area the whole time, one audio-only participant speaking
#            (a constant name card): every output frame is the same canvas
#   moving : the lecturer camera (testsrc2, 25 fps) in the main area the whole time
# Reports wall and CPU seconds of each and the ratio moving/static, measured in one run,
# plus stitch's own counts (canvases reused, frames stored as skip frames).
#
# Usage: benches/static_bench.sh [SECONDS]   (default 120)
# env: BENCH_DATA (default /tmp/stitch-bench), STITCH=/path/to/stitch (skip the build),
#      CARGO_TARGET_DIR (default ../target)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${BENCH_DATA:-/tmp/stitch-bench}"
RES="$DATA/results"
SECS="${1:-120}"
mkdir -p "$RES" "$DATA/out"
source "$ROOT/benches/lib.sh"  # timed, ensure_stitch
ensure_stitch
SRC="$DATA/composite1"
bash "$ROOT/benches/composite_make.sh" 1 "$SRC" >/dev/null
W="$DATA/static$SECS"
mkdir -p "$W"

# Both flows reference the composite1 media by absolute path; the lecturer chunk (10 s) is
# repeated back to back to fill the moving one.
python3 - "$SRC" "$W" "$SECS" <<'PY'
import json, sys
src, w, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
def clip(t, url, kind, user, name, role):
    return {"relativeTime": t, "module": "mediasession.add",
            "data": {"url": f"{src}/{url}", "kind": kind, "userId": str(user), "userName": name, "role": role}}
static = [{"relativeTime": 0, "module": "slide.show", "data": {"image": f"{src}/slide1.png", "duration": secs}}]
static += [clip(t, "anna.m4a", "audio_only", 3, "Анна", "GUEST") for t in range(0, int(secs), 6)]
moving = [clip(t, "lecturer.mp4", "camera", 1, "Лектор Иванов", "LECTURER") for t in range(0, int(secs), 10)]
for name, ev in (("static", static), ("moving", moving)):
    json.dump({"name": name, "duration": secs, "eventLogs": ev}, open(f"{w}/{name}.json", "w"), ensure_ascii=False)
PY

echo
echo "stitch: $STITCH; $(nproc) cores; ${SECS} s timeline, 1280x720 canvas, --layout sidebar"
echo
printf "| %-7s | %7s | %7s | %7s | %s |\n" flow "wall s" "cpu s" "RSS MB" "stitch's counts"
printf "| %-7s | %7s | %7s | %7s | %s |\n" ------- ------- ------- ------- ---------------
for f in static moving; do
  read -r w c r < <(timed "static.$f" "$STITCH" compile "$W/$f.json" -o "$DATA/out/static.$f.mp4" \
    --layout sidebar --size 1280x720)
  counts=$(grep -E "^(composite|repeats):" "$RES/static.$f.log" | sed 's/ (previous canvas reused)//; s/ were stored as skip frames (not encoded)/ skipped/' | tr '\n' ';' || true)
  printf "| %-7s | %7s | %7s | %7s | %s |\n" "$f" "$w" "$c" "$r" "$counts"
  eval "wall_$f=$w cpu_$f=$c"
done
echo
python3 -c "import sys; m, s = map(float, sys.argv[1:3]); print(f'RATIO cpu moving/static = {m / s:.1f} (a static canvas costs 1/{m / s:.1f} of a moving one)')" "$cpu_moving" "$cpu_static"
python3 -c "import sys; m, s = map(float, sys.argv[1:3]); print(f'RATIO wall moving/static = {m / s:.1f}')" "$wall_moving" "$wall_static"
