#!/usr/bin/env bash
# Build the seed corpora fuzz/corpus/<target>/ from the repository's fixtures and the
# shared real-world corpus (../shared/corpus relative to the repo root), by path, at run time.
# fuzz/corpus/ is gitignored: nothing here is committed, nothing is copied into the repo's
# tracked tree. Safe to re-run: each target directory is refilled (files the fuzzer added
# since are kept unless CLEAN=1).
#
#   fuzz/seeds.sh                  # all targets
#   CLEAN=1 fuzz/seeds.sh          # empty fuzz/corpus/<target>/ first
#   SEED_MAX_BYTES=65536 fuzz/seeds.sh
#
# Files larger than SEED_MAX_BYTES (default 256 KiB) are not copied whole: their first
# HEAD_BYTES (64 KiB) are, as "<name>.head" (a truncated download is a realistic input and
# keeps libFuzzer's default -max_len, which follows the largest seed, small and fast).
# Needs: coreutils, python3; ffmpeg for the H.264 seeds (skipped without it).
set -euo pipefail

FUZZ=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ")
TD="$ROOT/testdata"
SHARED="${SHARED_CORPUS:-$ROOT/../shared/corpus}"
MEDIA="$SHARED/media"
OUT="$FUZZ/corpus"
MAX=${SEED_MAX_BYTES:-262144}
HEAD=${HEAD_BYTES:-65536}
TARGETS="mp4_demux ts_demux adts h264 flow_json demux_probe m3u8"

for t in $TARGETS; do
    [ "${CLEAN:-0}" = 1 ] && rm -rf "${OUT:?}/$t"
    mkdir -p "$OUT/$t"
done
if [ ! -d "$MEDIA" ]; then
    echo "note: shared corpus $MEDIA not found; using testdata only" >&2
fi

# add TARGET FILE [PREFIX]: copy FILE (or its head when large) into corpus/TARGET.
add() {
    local t=$1 f=$2 p=${3:-}
    [ -f "$f" ] || return 0
    local name size
    name="$p$(basename "$f")"
    size=$(stat -c %s "$f")
    if [ "$size" -le "$MAX" ]; then
        cp -f "$f" "$OUT/$t/$name"
    else
        head -c "$HEAD" "$f" >"$OUT/$t/$name.head"
    fi
}

shopt -s nullglob nocaseglob

# --- mp4_demux: ISO BMFF of every flavour (progressive, fragmented, init+segment,
# init-only, moov-less, AVIF images) plus the repo's damaged files.
for f in "$TD"/*.mp4 "$TD"/*.m4a "$TD"/bad/*; do add mp4_demux "$f" td_; done
for f in "$MEDIA"/*.mp4 "$MEDIA"/*.mov "$MEDIA"/*.m4a "$MEDIA"/*.m4b "$MEDIA"/*.m4v \
         "$MEDIA"/*.m4s "$MEDIA"/*.3gp "$MEDIA"/*.avif; do
    add mp4_demux "$f"
done

# --- ts_demux
for f in "$TD"/*.ts "$TD"/bad/wrong_ext.mp4; do add ts_demux "$f" td_; done
for f in "$MEDIA"/*.ts; do add ts_demux "$f"; done

# --- adts: raw AAC files, plus AudioSpecificConfigs for AudioConfig::parse.
for f in "$TD"/*.aac; do add adts "$f" td_; done
for f in "$MEDIA"/*.aac; do add adts "$f"; done
printf '\x12\x10' >"$OUT/adts/asc_lc_44k_stereo"
printf '\x11\x90' >"$OUT/adts/asc_lc_48k_stereo"
printf '\x14\x08' >"$OUT/adts/asc_lc_16k_mono"
printf '\x2b\x92\x08\x00' >"$OUT/adts/asc_he_aac_sbr"
printf '\xeb\x09\x88\x00' >"$OUT/adts/asc_he_aacv2_ps"
printf '\xf8\xe8\x50\x00' >"$OUT/adts/asc_aot_escape"
printf '\x17\x80\x56\x22\x00' >"$OUT/adts/asc_explicit_rate"

# --- flow_json: the repo's flows and expectations, plus a few shapes from the docs.
for f in "$TD"/*.json; do add flow_json "$f" td_; done
cat >"$OUT/flow_json/doc_shape.json" <<'JSON'
{"name": "w", "duration": 1234.5,
 "eventLogs": [{"relativeTime": 12.3, "module": "mediasession.add",
                "data": {"id": 7, "url": "chunk.mp4", "duration": 10.0}},
               {"relativeTime": 20.0, "module": "mediasession.update",
                "data": {"id": 7, "duration": 9.5}}]}
JSON
printf '%s' '{"name":"x","eventLogs":[{"relativeTime":0,"data":{"url":"file:///abs/a.mp4"}}]}' >"$OUT/flow_json/one_clip.json"
printf '%s' '{"duration":"30","eventLogs":[{"relativeTime":"3.25","module":"mediasession.add","data":{"id":"2","url":"b.ts"}}]}' >"$OUT/flow_json/string_numbers.json"
printf '%s' '{"duration":5,"eventLogs":[]}' >"$OUT/flow_json/no_clips.json"

# --- demux_probe: the first 4 KiB of everything (probe only looks at the head).
for f in "$TD"/*.mp4 "$TD"/*.m4a "$TD"/*.ts "$TD"/*.aac "$TD"/*.json "$TD"/bad/* "$MEDIA"/*; do
    [ -f "$f" ] || continue
    case "$f" in "$TD"/*) p=td_ ;; *) p= ;; esac
    head -c 4096 "$f" >"$OUT/demux_probe/$p$(basename "$f").4k"
done
for f in "$SHARED"/m3u8/*.m3u8; do head -c 4096 "$f" >"$OUT/demux_probe/$(basename "$f").4k"; break; done

# --- h264: Annex B streams extracted from the fixtures, their first NAL units one by
# one, AVCC (4-byte length) versions, the avcC records, and the corpus's raw streams.
for f in "$MEDIA"/*.264 "$MEDIA"/*.h264 "$MEDIA"/*.265; do add h264 "$f"; done
if command -v ffmpeg >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for f in "$TD"/a_high_bframes.mp4 "$TD"/b_other_res.mp4 "$TD"/d_video_only.mp4 \
             "$TD"/f_fragmented.mp4 "$TD"/e_clip.ts \
             "$MEDIA"/androidx__sample_2_byte_NAL_length.mp4 "$MEDIA"/mp4ff__nallister_h264.mp4 \
             "$MEDIA"/mp4parse__h264_white_frame_sar_16_9.mp4 "$MEDIA"/androidx__sample_with_invalid_nalu.mp4; do
        [ -f "$f" ] || continue
        b=$(basename "$f")
        b=${b%.*}
        if ffmpeg -v error -nostdin -i "$f" -map 0:v:0 -c copy -bsf:v h264_mp4toannexb -f h264 -y "$tmp/$b.h264" </dev/null; then
            python3 - "$tmp/$b.h264" "$f" "$OUT/h264" "$b" "$MAX" <<'PY'
import os, struct, sys
src, container, out, name, cap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
data = open(src, "rb").read()
def w(n, b):
    with open(os.path.join(out, n), "wb") as fh:
        fh.write(b)
w(f"{name}.annexb", data[:cap])
# Split on start codes (00 00 01, a preceding 00 belongs to the start code).
nals, i, starts = [], 0, []
while True:
    j = data.find(b"\x00\x00\x01", i)
    if j < 0:
        break
    starts.append(j + 3)
    i = j + 3
for k, s in enumerate(starts):
    e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
    nal = data[s:e].rstrip(b"\x00")
    if nal:
        nals.append(nal)
per_type = {}
for k, nal in enumerate(nals[:32]):
    t = nal[0] & 0x1F
    per_type[t] = per_type.get(t, 0) + 1
    if per_type[t] <= 2:  # the first two of each NAL type (SPS, PPS, SEI, IDR, slices...)
        w(f"{name}.nal{k:02d}_type{t}", nal[:4096])
avcc = b"".join(struct.pack(">I", len(n)) + n for n in nals[:8])
w(f"{name}.avcc4", avcc[:cap])
avcc2 = b"".join(struct.pack(">H", len(n)) + n for n in nals[:8] if len(n) < 65536)
w(f"{name}.avcc2", avcc2[:cap])
# avcC record(s) from the container.
raw = open(container, "rb").read()
p = raw.find(b"avcC")
if p >= 4:
    size = struct.unpack(">I", raw[p - 4:p])[0]
    if 8 < size < 4096:
        w(f"{name}.avcC", raw[p + 4:p - 4 + size])
PY
        fi
    done
else
    echo "note: ffmpeg not found; H.264 seeds from fixtures skipped" >&2
fi

# --- m3u8: every playlist of the shared corpus (masters, media, live, LL-HLS, keys, maps).
if [ -d "$SHARED/m3u8" ]; then
    find "$SHARED/m3u8" -name '*.m3u8' | while read -r f; do add m3u8 "$f" c_; done
fi

for t in $TARGETS; do
    printf '%-12s %4d files %8d KiB\n' "$t" "$(find "$OUT/$t" -type f | wc -l)" "$(du -sk "$OUT/$t" | cut -f1)"
done
