#!/usr/bin/env bash
# Synthetic webinar for the composite benchmark (composite_bench.sh), made by Debian's ffmpeg.
#
# Usage: benches/composite_make.sh [MINUTES] [OUT_DIR]
#   MINUTES : timeline length (default 30); every time below scales with it
#   OUT_DIR : default $BENCH_DATA/composite$MINUTES ($BENCH_DATA default /tmp/stitch-bench)
# Writes OUT_DIR/flow.json (the shape `stitch webinar` writes: mediasession.add with kind,
# userId, userName, role; slide.show with image and duration) and the media it references.
#
# With u = MINUTES*60/6 seconds (5 min at 30 min):
#   lecturer (LECTURER) : camera 1280x720 25 fps H.264 + AAC 440 Hz, the whole time, as 6
#                         chunks of u s (6 references to one encoded file, lecturer.mp4)
#   Пётр (GUEST)        : second camera 1280x720 + AAC 660 Hz, 1.5u .. 3.5u (2 chunks)
#   screen share        : 1920x1080 5 fps video only, low motion (picture changes once a
#                         second), lecturer's, 2u .. 4u (2 chunks)
#   Анна, Борис         : audio-only (AAC 880 / 1100 Hz tones), 0.6u each from 0.3u and 4.2u
#   slides (1920x1080 PNG) : 1 at 0 .. 0.8u, 2 at u .. 2u, 3 at 4u .. 5u, 4 at 5.5u .. 6u
# So the main area shows: slide 1, the lecturer (0.8u .. u), slide 2, the screen share,
# slide 3, the lecturer (5u .. 5.5u), slide 4; the sidebar holds 0-2 tiles.
# Camera content is testsrc2 (moving, so the encoders have real work); the files are made
# once (skipped if present).
set -euo pipefail
MIN="${1:-30}"
DATA="${BENCH_DATA:-/tmp/stitch-bench}"
OUT="${2:-$DATA/composite$MIN}"
mkdir -p "$OUT"
U=$(python3 -c "print(round($MIN * 60 / 6, 3))")
FF=(nice -n 5 ffmpeg -nostdin -v error -y)
X264=(-c:v libx264 -preset veryfast -pix_fmt yuv420p -g 50)
AAC=(-c:a aac -b:a 96k -ac 1 -ar 48000)

mk() {  # mk FILE ARGS... : run ffmpeg unless FILE exists (written to a temp name first)
  local f="$OUT/$1"; shift
  [[ -s "$f" ]] && return 0
  echo "  $f" >&2
  local ext="${f##*.}"
  "${FF[@]}" "$@" "$f.tmp.$ext" && mv "$f.tmp.$ext" "$f"
}

echo "composite_make: $MIN min (chunk $U s) into $OUT" >&2
mk lecturer.mp4 -f lavfi -i "testsrc2=s=1280x720:r=25:d=$U" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$U" "${X264[@]}" "${AAC[@]}" -shortest
mk second.mp4 -f lavfi -i "testsrc2=s=1280x720:r=25:d=$U,hue=h=120" \
  -f lavfi -i "sine=frequency=660:sample_rate=48000:duration=$U" "${X264[@]}" "${AAC[@]}" -shortest
mk screen.mp4 -f lavfi -i "testsrc=s=1920x1080:r=1:d=$U,fps=5" "${X264[@]}" -g 50
A=$(python3 -c "print(round($U * 0.6, 3))")
mk anna.m4a -f lavfi -i "sine=frequency=880:sample_rate=48000:duration=$A" "${AAC[@]}"
mk boris.m4a -f lavfi -i "sine=frequency=1100:sample_rate=48000:duration=$A" "${AAC[@]}"
mk slide1.png -f lavfi -i "smptehdbars=s=1920x1080" -frames:v 1
mk slide2.png -f lavfi -i "testsrc=s=1920x1080" -frames:v 1
mk slide3.png -f lavfi -i "rgbtestsrc=s=1920x1080" -frames:v 1
mk slide4.png -f lavfi -i "testsrc2=s=1920x1080" -frames:v 1

python3 - "$OUT/flow.json" "$U" "$MIN" <<'PY'
import json, sys
path, u, minutes = sys.argv[1], float(sys.argv[2]), sys.argv[3]
r = lambda x: round(x, 3)
def clip(t, url, kind, user, name, role):
    return {"relativeTime": r(t), "module": "mediasession.add",
            "data": {"url": url, "kind": kind, "userId": str(user), "userName": name, "role": role}}
def slide(t, image, d):
    return {"relativeTime": r(t), "module": "slide.show", "data": {"image": image, "duration": r(d)}}
ev = [clip(k * u, "lecturer.mp4", "camera", 1, "Лектор Иванов", "LECTURER") for k in range(6)]
ev += [clip(t * u, "second.mp4", "camera", 2, "Пётр Петров", "GUEST") for t in (1.5, 2.5)]
ev += [clip(t * u, "screen.mp4", "screen", 1, "Лектор Иванов", "LECTURER") for t in (2, 3)]
ev += [clip(0.3 * u, "anna.m4a", "audio_only", 3, "Анна", "GUEST"),
       clip(4.2 * u, "boris.m4a", "audio_only", 4, "Борис", "GUEST")]
ev += [slide(0, "slide1.png", 0.8 * u), slide(u, "slide2.png", u),
       slide(4 * u, "slide3.png", u), slide(5.5 * u, "slide4.png", 0.5 * u)]
ev.sort(key=lambda e: e["relativeTime"])
json.dump({"name": f"composite{minutes}", "duration": r(6 * u), "eventLogs": ev},
          open(path, "w"), ensure_ascii=False, indent=1)
PY
echo "$OUT/flow.json"
