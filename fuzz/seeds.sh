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
TARGETS="mp4_demux ts_demux adts h264 flow_json demux_probe m3u8 ts_join mtslink_plan cookies_txt"

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

# --- ts_join: input = 2-byte header (segment count, discontinuity flags) + cut points +
# TS bytes (see fuzz_targets/ts_join.rs). Every TS file as one segment, the same file cut
# into 3 segments at packet boundaries (a continuous run), and pairs of different files
# joined with and without the discontinuity flag (timestamp jump, PMT/PID change).
python3 - "$OUT/ts_join" "$MAX" "$HEAD" "$TD"/*.ts "$MEDIA"/*.ts <<'PY'
import os, struct, sys
out, cap, head, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def load(f):
    b = open(f, "rb").read()
    return b if len(b) <= cap else b[:head - head % 188]
def name(f):
    return ("td_" if "/testdata/" in f else "") + os.path.basename(f)
def w(n, b):
    with open(os.path.join(out, n), "wb") as fh:
        fh.write(b)
def seed(segs, flags):
    cuts, pos = b"", 0
    for s in segs[:-1]:
        pos += len(s)
        cuts += struct.pack("<H", (pos // 188) if pos % 188 == 0 and pos // 188 < 0x8000 else (0x8000 | min(pos, 0x7fff)))
    return bytes([len(segs) - 1, flags]) + cuts + b"".join(segs)
data = {f: load(f) for f in files if os.path.isfile(f)}
for f, b in data.items():
    w(name(f) + ".one", seed([b], 0))
    n = len(b) // 188
    if n >= 3:
        a, c = n // 3 * 188, 2 * n // 3 * 188
        w(name(f) + ".cut3", seed([b[:a], b[a:c], b[c:]], 0))
        w(name(f) + ".cut3_disc", seed([b[:a], b[a:c], b[c:]], 0b100))
# Pairs: each file followed by the next one (half of each, to keep seeds small).
fs = sorted(data)
for i, f in enumerate(fs):
    g = fs[(i + 1) % len(fs)]
    if f == g:
        continue
    a = data[f][: len(data[f]) // 2 // 188 * 188]
    b = data[g][: len(data[g]) // 2 // 188 * 188]
    w(f"pair_{i:02d}_{name(f)}+{name(g)}", seed([a, b], 0b10 if i % 2 else 0))
PY

# --- mtslink_plan: MTS Link record JSON (eventLogs). The repo's flows (same top-level
# shape) plus the record shapes of src/mtslink/plan/tests.rs, tests/mtslink_api.rs and
# tests/webinar_e2e.rs (built there with json!, so written out here).
for f in "$TD"/flow_*.json; do add mtslink_plan "$f" td_; done
M="$OUT/mtslink_plan"
cat >"$M/webinar.json" <<'JSON'
{"name": "Вебинар: тест", "duration": 300.0, "eventLogs": [
 {"module": "eventsession.start", "relativeTime": 0, "data": {}, "snapshot": {"data": {"userlist": [
   {"role": "ADMIN", "user": {"id": 1, "nickname": "Admin"}},
   {"role": "LECTURER", "user": {"id": 2, "nickname": "Lecturer"}},
   {"role": "GUEST", "user": {"id": 99, "nickname": "Viewer"}}]}}},
 {"module": "conference.add", "relativeTime": 1.0, "data": {"id": 10, "hasVideo": true, "hasAudio": true, "user": {"id": 2, "nickname": "Lecturer"}}},
 {"module": "conference.add", "relativeTime": 1.0, "data": {"id": 11, "hasVideo": true, "hasAudio": true, "user": {"id": 3, "nickname": "Guest Cam"}}},
 {"module": "conference.add", "relativeTime": 1.0, "data": {"id": 12, "hasVideo": false, "hasAudio": true, "user": {"id": 4, "nickname": "Mic Only"}}},
 {"module": "mediasession.add", "relativeTime": 10.0, "data": {"id": 100, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/c100.mp4", "hlsUrl": "https://events-delivery-records.webinar.ru/record/2024/01/01/c100.mp4/playlist.m3u8", "stream": {"conference": {"id": 10, "user": {"id": 2, "nickname": "Lecturer"}}}}},
 {"module": "mediasession.add", "relativeTime": 12.0, "data": {"id": 101, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/c101.mp4", "stream": {"conference": {"id": 11, "user": {"id": 3, "nickname": "Guest Cam"}}}}},
 {"module": "mediasession.add", "relativeTime": 13.0, "data": {"id": 102, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/c102.mp4", "stream": {"conference": {"id": 12, "user": {"id": 4, "nickname": "Mic Only"}}}}},
 {"module": "mediasession.add", "relativeTime": 20.0, "data": {"id": 103, "url": "https://s/screen.mp4", "stream": {"screensharing": {"id": 77, "user": {"id": 2, "nickname": "Lecturer"}}}}},
 {"module": "unknown.module", "relativeTime": 21.0, "data": {"url": 5, "whatever": [1, 2]}},
 {"module": "mediasession.update", "relativeTime": 60.0, "data": {"id": 100, "duration": 100.5}},
 {"module": "mediasession.update", "relativeTime": 62.0, "data": {"id": 101, "duration": "50"}},
 {"module": "conference.update", "relativeTime": 90.0, "data": {"id": 12, "hasAudio": false, "hasVideo": false}},
 {"module": "conference.delete", "relativeTime": 91.0, "data": {"id": 12, "isDeleted": true}},
 {"module": "conference.stream.delete", "relativeTime": 40.0, "data": {"id": 11}},
 {"module": "screensharing.stream.delete", "relativeTime": 80.0, "data": {"id": 77}},
 {"module": "screensharing.update", "relativeTime": 85.0, "data": {"id": 78, "isDeleted": true}},
 {"module": "mediasession.delete", "relativeTime": 95.0, "data": {"id": 102}},
 {"module": "conference.stream.delete", "relativeTime": 81.0, "data": {"id": 555}},
 "not an event", {"module": 5, "relativeTime": "x"}]}
JSON
cat >"$M/flags_out_of_order.json" <<'JSON'
{"eventLogs": [
 {"module": "conference.update", "relativeTime": 30.0, "data": {"id": 5, "hasVideo": true}},
 {"module": "conference.add", "relativeTime": 1.0, "data": {"id": 5, "hasVideo": false, "hasAudio": true, "user": {"id": 9, "nickname": "P"}}},
 {"module": "mediasession.add", "relativeTime": 2.0, "data": {"id": 1, "url": "https://s/c1.mp4", "stream": {"conference": {"id": 5, "user": {"id": 9, "nickname": "P"}}}}},
 {"module": "mediasession.update", "relativeTime": 100.0, "data": {"id": 1, "duration": 60}},
 {"module": "mediasession.add", "relativeTime": 70.0, "data": {"id": 2, "url": "https://s/c2.mp4", "stream": {"conference": {"id": 5, "user": {"id": 9, "nickname": "P"}}}}},
 {"module": "mediasession.add", "relativeTime": 71.0, "data": {"id": 3, "url": "https://s/c3.mp4", "stream": {"conference": {"id": 6}}}},
 {"module": "conference.add", "relativeTime": 72.5, "data": {"id": 6, "hasVideo": false, "hasAudio": true}},
 {"module": "conference.update", "relativeTime": 80.0, "data": {"id": 5, "hasVideo": "0", "hasAudio": 0}}]}
JSON
cat >"$M/slides.json" <<'JSON'
{"duration": 100.0, "eventLogs": [
 {"module": "presentation.update", "relativeTime": 5.0, "data": {"isActive": true, "fileReference": {"file": {"name": "deck.pdf", "slides": [{"number": 1, "url": "https://s/1.jpg"}, {"number": 2, "url": "https://s/2.jpg"}, {"number": 3, "downloadUrl": "https://s/3.jpg"}]}, "slide": {"number": 1, "url": "https://s/1.jpg"}}}},
 {"module": "presentation.update", "relativeTime": 6.0, "data": {"isActive": true, "fileReference": {"file": {"name": "deck.pdf"}, "slide": {"number": 1, "url": "https://s/1.jpg"}}}},
 {"module": "presentation.update", "relativeTime": 10.0, "data": {"isActive": true, "fileReference": {"file": {"name": "deck.pdf", "slides": [{"number": 1, "url": "https://s/1.jpg"}, {"number": 2, "url": "https://s/2.jpg"}]}, "slide": {"number": 2}}}},
 {"module": "presentation.update", "relativeTime": 20.0, "data": {"isActive": false}},
 {"module": "presentation.update", "relativeTime": 30.0, "data": {"isActive": true, "slide": {"number": 3, "downloadUrl": "https://s/3.jpg"}}},
 {"module": "presentation.add", "relativeTime": 40.0, "data": {"url": "https://s/x.png", "number": 7}},
 {"module": "presentation.update", "relativeTime": 50.0, "data": {"isDeleted": true}},
 {"module": "presentation.update", "relativeTime": 60.0, "data": {"isActive": true, "fileReference": {"slide": {"url": "https://s/last.jpg"}}}},
 {"module": "presentation.delete", "relativeTime": 70.0, "data": {}}]}
JSON
cat >"$M/chat.json" <<'JSON'
{"eventLogs": [
 {"module": "message.add", "relativeTime": 12.5, "data": {"id": 1, "text": "Привет", "authorName": "Анна", "createAt": "2024-01-01T10:00:00"}},
 {"module": "message.add", "relativeTime": 3.0, "data": {"id": 2, "text": "first", "user": {"nickname": "Bob"}}},
 {"module": "message.add", "relativeTime": 13.0, "data": {"id": 1, "text": "Привет", "authorName": "Анна"}},
 {"module": "message.add", "relativeTime": 14.0, "data": {"id": 3, "message": "alt", "author": {"name": "Eve"}}},
 {"module": "message.add", "relativeTime": 15.0, "data": {"id": 4, "text": ""}},
 {"module": "cut.end", "relativeTime": 20.0, "data": {}, "snapshot": {"data": {"message": [{"id": 5, "text": "snap", "createAt": 1700000010}]}}}]}
JSON
cat >"$M/cuts.json" <<'JSON'
{"duration": 500.0, "cuts": [{"start": 1700000100.0, "end": 1700000200.0}, {"start": 1700000150, "end": "1700000210"}, {"start": 5, "end": 1}], "eventLogs": [
 {"module": "eventsession.start", "time": 1700000000.0, "relativeTime": 0, "data": {}},
 {"module": "chat.x", "time": 1700000050.0, "relativeTime": 50, "data": {}},
 {"module": "chat.y", "time": 1700000300.0, "relativeTime": 200, "data": {}},
 {"module": "mediasession.add", "time": 1700000249.0, "relativeTime": 149, "data": {"id": 1, "url": "a.mp4", "time": 1700000248.0}},
 {"module": "mediasession.add", "time": 1700000200.0, "relativeTime": 100, "data": {"id": 2, "url": "b.mp4", "time": 1700000150.0}},
 {"module": "mediasession.add", "time": 1700000300.0, "relativeTime": 200, "data": {"id": 3, "url": "c.mp4", "time": 1700000500.0}},
 {"module": "mediasession.add", "time": 1700000060000.0, "relativeTime": 60, "data": {"id": 4, "url": "d.mp4", "time": 1700000059500.0}},
 {"module": "mediasession.add", "time": 1700000000.0, "relativeTime": 0, "data": {"id": 5, "url": "e.mp4", "time": 1699999990.0}},
 {"module": "mediasession.add", "time": 1700000400.0, "data": {"id": 6, "url": "f.mp4"}},
 {"module": "mediasession.update", "time": 1700000100.0, "relativeTime": 100, "data": {"id": 5, "duration": 40}}]}
JSON
cat >"$M/preroll_snapshots.json" <<'JSON'
{"eventLogs": [
 {"module": "eventsession.start", "relativeTime": 0, "data": {}, "snapshot": {"data": {"mediasession": [{"id": 1, "url": "https://s/preroll.mp4", "stream": {"conference": {"id": 10}}}]}}},
 {"module": "cut.end", "relativeTime": 0, "data": {}, "snapshot": {"data": {"mediasession": [{"id": 2, "url": "https://s/real.mp4", "stream": {"conference": {"id": 10}}}]}}},
 {"module": "mediasession.add", "relativeTime": 50.0, "data": {"id": 3, "url": "https://s/c3.mp4", "stream": {"conference": {"id": 10, "user": {"id": 1, "nickname": "A"}}}}}]}
JSON
cat >"$M/snapshot_only.json" <<'JSON'
{"duration": 400, "eventLogs": [
 {"module": "eventsession.start", "relativeTime": 0, "data": {}, "snapshot": {"data": {"conference": [{"id": 1, "hasVideo": true, "hasAudio": true}]}}},
 {"module": "cut.end", "relativeTime": 0.0, "data": {}, "snapshot": {"data": {"mediasession": [{"url": "https://s/a1.mp4", "stream": {"conference": {"id": 1, "user": {"id": 7, "nickname": "Lec"}}}}]}}},
 {"module": "cut.end", "relativeTime": 100.0, "data": {}, "snapshot": {"data": {"mediasession": [{"url": "https://s/a1.mp4", "stream": {"conference": {"id": 1, "user": {"id": 7, "nickname": "Lec"}}}}, {"url": "https://s/s1.mp4", "stream": {"screensharing": {"id": 2}}}]}}},
 {"module": "cut.end", "relativeTime": 200.0, "data": {}, "snapshot": {"data": {"mediasession": [{"url": "https://s/a2.mp4", "stream": {"conference": {"id": 1, "user": {"id": 7, "nickname": "Lec"}}}}, {"url": "https://s/s1.mp4", "stream": {"type": "screen", "name": "Screen"}}]}}},
 {"module": "unknown", "relativeTime": 250.0, "snapshot": {"data": {"mediasession": "garbage"}}}]}
JSON
cat >"$M/unknown_fields.json" <<'JSON'
{"name": 5, "duration": "12.5", "convertedRecords": [], "extra": {"x": 1}, "eventLogs": [
 {"module": "question.add", "relativeTime": 1, "data": {"text": "q?"}},
 {"module": "eventSession.raisingHand.add", "relativeTime": 1, "data": null},
 {"module": "mediasession.add", "relativeTime": 2, "data": {"id": 1, "url": null}},
 {"module": "mediasession.add", "relativeTime": 2, "data": "str"},
 {"module": "mediasession.add", "relativeTime": 3, "data": {"id": 2, "url": "x.mp4", "stream": 5, "newField": true}},
 {"module": "presentation.update", "relativeTime": 3, "data": {"fileReference": 7}},
 {"module": "message.add", "relativeTime": 3, "data": {"text": 5}},
 {"module": "conference.add", "data": {"id": {"nested": 1}}},
 {"module": "userlist.add", "relativeTime": 1, "data": [1, 2]},
 {"module": "userlist.update", "relativeTime": 1, "data": {"userId": 3, "role": "LECTURER", "user": {"name": "N", "secondName": "S"}}},
 [1, 2, 3], null]}
JSON
cat >"$M/api_record.json" <<'JSON'
{"name": "Record 111", "duration": 30.0, "eventLogs": [
 {"module": "mediasession.add", "relativeTime": 1.0, "data": {"id": 1, "url": "https://events-storage.webinar.ru/api-storage/files/wowza/2024/01/01/a.mp4", "stream": {"conference": {"id": 5, "user": {"id": 9, "nickname": "Lecturer"}}}}},
 {"module": "mediasession.update", "relativeTime": 20.0, "data": {"id": 1, "duration": 19.0}}]}
JSON
cat >"$M/e2e_record.json" <<'JSON'
{"name": "Lecture 1", "duration": 12.5, "eventLogs": [
 {"id": 1, "module": "eventsession.start", "time": 1767261600.0, "relativeTime": 0.0, "data": {}, "snapshot": {"data": {"userlist": [{"role": "LECTURER", "user": {"id": 7, "nickname": "Лектор"}}]}}},
 {"id": 10, "module": "mediasession.add", "time": 1767261600.5, "relativeTime": 0.5, "data": {"id": 100, "url": "http://127.0.0.1:1/api-storage/files/wowza/2026/01/01/a_high_bframes.mp4", "stream": {"conference": {"id": 50, "user": {"id": 7, "nickname": "User 0"}}}}},
 {"id": 11, "module": "mediasession.add", "time": 1767261605.0, "relativeTime": 5.0, "data": {"id": 101, "url": "http://127.0.0.1:1/api-storage/files/wowza/2026/01/01/b_other_res.mp4", "stream": {"conference": {"id": 51, "user": {"id": 8, "nickname": "User 1"}}}}},
 {"id": 12, "module": "mediasession.add", "time": 1767261608.5, "relativeTime": 8.5, "data": {"id": 102, "url": "http://127.0.0.1:1/api-storage/files/wowza/2026/01/01/e_clip.ts", "stream": {"conference": {"id": 52, "user": {"id": 9, "nickname": "User 2"}}}}},
 {"id": 13, "module": "mediasession.add", "time": 1767261609.0, "relativeTime": 9.0, "data": {"id": 103, "url": "http://127.0.0.1:1/api-storage/files/wowza/2026/01/01/c_audio_only.m4a", "stream": {"conference": {"id": 53, "user": {"id": 10, "nickname": "User 3"}}}}}]}
JSON
printf '%s' '{"error":{"code":403,"message":"Access denied"}}' >"$M/error_answer.json"
printf '%s' '{"name":"x","eventLogs":{}}' >"$M/eventlogs_not_array.json"

# --- cookies_txt: Netscape cookie files as browsers, curl and yt-dlp export them (tabs,
# #HttpOnly_ prefixes, CRLF, session and dated cookies, IPs, odd paths, malformed lines).
C="$OUT/cookies_txt"
printf '# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n\n#HttpOnly_.mts-link.ru\tTRUE\t/\tTRUE\t1900000000\tsessionId\tabc123\nmy.mts-link.ru\tFALSE\t/\tFALSE\t0\tlang\tru\n' >"$C/browser.txt"
printf '.example.com\tTRUE\t/\tFALSE\t0\ta\t1\r\ncdn.test\tFALSE\t/hls\tTRUE\t1700000000.5\tb\t2\r\ncdn.test\tFALSE\t/hls/\tFALSE\t0\tc\r\n' >"$C/crlf.txt"
printf '127.0.0.1\tFALSE\t/\tFALSE\t0\tip\t1\n::1\tTRUE\t/x\tFALSE\t-1\tv6\t2\nbad line\nhost.test FALSE / FALSE 0 sp v\nhost.test\tMAYBE\t/\tFALSE\t0\tf\t1\n' >"$C/odd.txt"

for t in $TARGETS; do
    printf '%-12s %4d files %8d KiB\n' "$t" "$(find "$OUT/$t" -type f | wc -l)" "$(du -sk "$OUT/$t" | cut -f1)"
done
