#!/usr/bin/env bash
# Generates every media fixture, flow and expectation file under testdata/.
#
#   bash media/testdata/make_fixtures.sh     (testdata/ at the top is a link to media/testdata/)
#
# Needs: ffmpeg + ffprobe (built with libx264, libvpx and the native AAC encoder;
# written against Debian 12's ffmpeg 5.1) and python3 (standard library only).
#
# Idempotent: every output is deleted and re-created on each run.
# Deterministic: bitexact flags, no metadata, single-threaded encoders and a
# fixed RNG seed for the corrupted files, so two runs with the same ffmpeg build
# produce byte-identical files (a different ffmpeg/x264/libvpx version may
# produce different bytes, but the same pictures, tones and durations).
#
# Every picture is a single flat colour (lavfi `color`), so a decoder can tell
# the clips apart by the mean luma of the centre region; every sound is a pure
# sine with its own frequency. README.md, expected_basic.json and
# expected_vp9.json are generated from values MEASURED by decoding the files
# that were just written (see the python part at the end).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")"
TD=$(pwd)

for tool in ffmpeg ffprobe python3; do
    command -v "$tool" >/dev/null || { echo "make_fixtures: $tool not found" >&2; exit 1; }
done

FF=(ffmpeg -hide_banner -nostdin -loglevel error -y)
# Container/stream level determinism.
BITEXACT=(-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
# H.264 High, CABAC, 3 B-frames placed by a fixed pattern (b-adapt=0 puts them
# even on static content), closed GOP of 25, single thread for reproducibility.
X264=(-c:v libx264 -profile:v high -preset medium -crf 23 -pix_fmt yuv420p
      -g 25 -keyint_min 25 -bf 3 -threads 1
      -x264-params "bframes=3:b-adapt=0:scenecut=0:cabac=1:keyint=25:min-keyint=25:open-gop=0:sliced-threads=0:threads=1:lookahead-threads=1")
AAC=(-c:a aac -b:a 64k)

# Fresh outputs every run (only the files this script owns).
rm -rf bad
rm -f a_high_bframes.mp4 b_other_res.mp4 c_audio_only.m4a d_video_only.mp4 i_ramp_bframes.mp4 \
      e_clip.ts f_fragmented.mp4 g_raw.aac h_vp9.mp4 \
      flow_basic.json flow_vp9.json flow_bad.json \
      expected_basic.json expected_vp9.json README.md
mkdir -p bad

# color_src RGB WxH DURATION -> lavfi graph of a flat colour at 25 fps
color_src() { echo "color=c=$1:s=$2:r=25:d=$3"; }
# sine_src HZ RATE DURATION
sine_src() { echo "sine=frequency=$1:sample_rate=$2:duration=$3"; }

echo "== encoding clips"
# a: 320x240, 4.0 s, Y~60, AAC-LC 48 kHz stereo 440 Hz. ffmpeg's default layout:
# moov AFTER mdat (no faststart).
"${FF[@]}" -f lavfi -i "$(color_src 0x651E1E 320x240 4)" -f lavfi -i "$(sine_src 440 48000 4)" \
    -map 0:v -map 1:a "${X264[@]}" "${AAC[@]}" -ar 48000 -ac 2 -t 4 \
    "${BITEXACT[@]}" a_high_bframes.mp4

# b: 480x270 (16:9), 3.0 s, Y~110, AAC 44.1 kHz MONO 660 Hz. faststart (moov first).
"${FF[@]}" -f lavfi -i "$(color_src 0x1D9090 480x270 3)" -f lavfi -i "$(sine_src 660 44100 3)" \
    -map 0:v -map 1:a "${X264[@]}" "${AAC[@]}" -ar 44100 -ac 1 -t 3 \
    -movflags +faststart "${BITEXACT[@]}" b_other_res.mp4

# c: audio only, 3.0 s AAC-LC 44.1 kHz stereo 880 Hz.
"${FF[@]}" -f lavfi -i "$(sine_src 880 44100 3)" \
    -map 0:a "${AAC[@]}" -ar 44100 -ac 2 -t 3 -vn \
    "${BITEXACT[@]}" c_audio_only.m4a

# d: video only, 320x240 3.0 s, Y~160.
"${FF[@]}" -f lavfi -i "$(color_src 0xB6B637 320x240 3)" \
    -map 0:v "${X264[@]}" -t 3 -an \
    "${BITEXACT[@]}" d_video_only.mp4

# i: B-frame ORDER fixture: 64x48, 50 frames whose flat luma rises by 3 per frame
# (Y = 20 + 3*n), so a decoder that returns pictures in decode order instead of
# presentation order is caught (flat clips cannot show it). No audio.
"${FF[@]}" -f lavfi -i "nullsrc=s=64x48:r=25:d=2,geq=lum='20+3*N':cb=128:cr=128" \
    -map 0:v "${X264[@]}" -t 2 -an \
    "${BITEXACT[@]}" i_ramp_bframes.mp4

# e: MPEG-TS, 320x240 3.0 s, Y~200, AAC 48 kHz stereo 550 Hz.
"${FF[@]}" -f lavfi -i "$(color_src 0xF6C5DD 320x240 3)" -f lavfi -i "$(sine_src 550 48000 3)" \
    -map 0:v -map 1:a "${X264[@]}" "${AAC[@]}" -ar 48000 -ac 2 -t 3 \
    "${BITEXACT[@]}" -f mpegts e_clip.ts

# f: fragmented MP4, 320x240 3.0 s, Y~85, AAC 48 kHz stereo 330 Hz.
"${FF[@]}" -f lavfi -i "$(color_src 0x5140A1 320x240 3)" -f lavfi -i "$(sine_src 330 48000 3)" \
    -map 0:v -map 1:a "${X264[@]}" "${AAC[@]}" -ar 48000 -ac 2 -t 3 \
    -movflags +frag_keyframe+empty_moov+default_base_moof "${BITEXACT[@]}" f_fragmented.mp4

# g: raw ADTS, 2.0 s 48 kHz mono 1000 Hz.
"${FF[@]}" -f lavfi -i "$(sine_src 1000 48000 2)" \
    -map 0:a "${AAC[@]}" -ar 48000 -ac 1 -t 2 \
    "${BITEXACT[@]}" -f adts g_raw.aac

# h: VP9 in MP4, 320x240 2.0 s, Y~135, AAC 48 kHz stereo 770 Hz.
"${FF[@]}" -f lavfi -i "$(color_src 0xCE7B29 320x240 2)" -f lavfi -i "$(sine_src 770 48000 2)" \
    -map 0:v -map 1:a -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 100k -g 25 \
    -threads 1 -row-mt 0 -pix_fmt yuv420p "${AAC[@]}" -ar 48000 -ac 2 -t 2 \
    "${BITEXACT[@]}" h_vp9.mp4

echo "== corrupted inputs (bad/)"
# A faststart remux of clip a (moov before mdat), the base of the mdat damage.
faststart_a=$(mktemp "${TMPDIR:-/tmp}/stitch_fs_XXXXXX.mp4")
trap 'rm -f "$faststart_a"' EXIT
"${FF[@]}" -i a_high_bframes.mp4 -map 0 -c copy -movflags +faststart "${BITEXACT[@]}" "$faststart_a"

python3 - "$TD/a_high_bframes.mp4" "$faststart_a" "$TD/bad" <<'PY'
import os, random, struct, sys
plain, faststart, bad = sys.argv[1], sys.argv[2], sys.argv[3]

def boxes(data):
    """Top-level ISO-BMFF boxes as (type, start, end)."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            hdr = 16
        elif size == 0:
            size = len(data) - pos
        out.append((typ.decode("latin-1"), pos, pos + size, hdr))
        pos += size
    return out

def write(name, data):
    with open(os.path.join(bad, name), "wb") as f:
        f.write(data)

p = open(plain, "rb").read()
fs = open(faststart, "rb").read()
order_p = [b[0] for b in boxes(p)]
order_fs = [b[0] for b in boxes(fs)]
assert order_p.index("moov") > order_p.index("mdat"), order_p
assert order_fs.index("moov") < order_fs.index("mdat"), order_fs

# moov at the end, file cut in half: the moov box is lost entirely.
write("truncated_moov_end.mp4", p[: len(p) // 2])

# moov first, file cut at 60 %: the sample tables point past EOF.
write("truncated_mdat.mp4", fs[: len(fs) * 6 // 10])

# ~1 % of the mdat payload bytes XORed with a fixed non-zero pattern; moov intact.
(_, ms, me, mh), = [b for b in boxes(fs) if b[0] == "mdat"]
payload = range(ms + mh, me)
rng = random.Random(20240611)
n = max(1, len(payload) // 100)
positions = sorted(rng.sample(payload, n))
pattern = [0x5A, 0xA5, 0xFF, 0x3C, 0x81]
flipped = bytearray(fs)
for i, pos in enumerate(positions):
    flipped[pos] ^= pattern[i % len(pattern)]
write("bitflip.mp4", bytes(flipped))

write("empty.mp4", b"")
write("garbage.mp4", random.Random(424242).randbytes(4096))
write("text.mp4", b"This is not a video file.\n"
      b"It is plain text with an .mp4 extension; stitch must reject it cleanly.\n")
print(f"   bitflip: {n} bytes flipped in mdat [{ms + mh}, {me})")
PY
cp e_clip.ts bad/wrong_ext.mp4

echo "== checking B-frames (pts != dts) in every H.264 fixture"
for f in a_high_bframes.mp4 b_other_res.mp4 d_video_only.mp4 e_clip.ts f_fragmented.mp4; do
    reordered=$(ffprobe -v error -select_streams v:0 -show_entries packet=pts,dts -of csv=p=0 "$f" \
                | awk -F, '$1 != $2 { n++ } END { print n + 0 }')
    btypes=$(ffprobe -v error -select_streams v:0 -show_entries frame=pict_type -of csv=p=0 "$f" \
                | grep -c '^B' || true)
    profile=$(ffprobe -v error -select_streams v:0 -show_entries stream=profile -of csv=p=0 "$f")
    profile=${profile%%$'\n'*}   # MPEG-TS lists the stream twice (program + streams)
    echo "   $f: profile=$profile packets with pts!=dts=$reordered B-frames=$btypes"
    if [ "$reordered" -lt 1 ] || [ "$btypes" -lt 1 ]; then
        echo "make_fixtures: $f has no B-frames" >&2; exit 1
    fi
    [ "$profile" = "High" ] || { echo "make_fixtures: $f is not High profile" >&2; exit 1; }
    # x264 writes its settings into an SEI: entropy coder must be CABAC.
    grep -aq 'cabac=1' "$f" || { echo "make_fixtures: $f is not CABAC" >&2; exit 1; }
    keys=$(ffprobe -v error -select_streams v:0 -show_entries packet=flags -of csv=p=0 "$f" \
           | awk -F, '{ n++ } /K/ { k++; if ((n - 1) % 25) bad = 1 } END { print (bad ? "bad" : k) }')
    [ "$keys" != bad ] || { echo "make_fixtures: $f keyframes not every 25 frames" >&2; exit 1; }
done

echo "== measuring, writing flows, expectations and README"
python3 - "$TD" <<'PY'
import json, os, subprocess, sys

TD = sys.argv[1]
os.chdir(TD)

def run(*args):
    return subprocess.run(args, check=True, capture_output=True).stdout

def probe(path):
    return json.loads(run("ffprobe", "-v", "error", "-show_streams", "-show_format",
                          "-count_packets", "-of", "json", path))

# --- what each clip is meant to be (the generator's inputs) -------------------
CLIPS = {
    "a_high_bframes.mp4": dict(rgb="0x651E1E", hz=440, tests="baseline H.264 High/CABAC/3 B-frames (pts != dts), GOP 25, moov AFTER mdat, AAC-LC 48 kHz stereo"),
    "b_other_res.mp4":    dict(rgb="0x1D9090", hz=660, tests="different resolution (16:9, 270 rows is not a multiple of 16: cropping) and MONO 44.1 kHz audio (resample + upmix); faststart"),
    "c_audio_only.m4a":   dict(rgb=None, hz=880, tests="audio-only input at 44.1 kHz stereo: contributes sound, never hides the picture below it"),
    "d_video_only.mp4":   dict(rgb="0xB6B637", hz=None, tests="video-only input: contributes picture, never silences the audio below it"),
    "e_clip.ts":          dict(rgb="0xF6C5DD", hz=550, tests="MPEG-TS input (PES timestamps, 90 kHz, ADTS AAC inside TS)"),
    "f_fragmented.mp4":   dict(rgb="0x5140A1", hz=330, tests="fragmented MP4 (empty moov + moof/traf with default-base-is-moof)"),
    "g_raw.aac":          dict(rgb=None, hz=1000, tests="raw ADTS stream: no container timestamps, no edit list (priming samples are NOT trimmed)"),
    "h_vp9.mp4":          dict(rgb="0xCE7B29", hz=770, tests="VP9 in MP4: only with the `ffmpeg` feature; the default build must fail with \"unsupported codec vp9\""),
}

def decode_video(path, w, h):
    """Mean Y/U/V of the centre region (middle half in each dimension) of every
    decoded frame (passthrough: no frame is duplicated or dropped)."""
    raw = run("ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0",
              "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
    cw, ch = w // 2, h // 2
    fsz = w * h * 3 // 2
    assert len(raw) % fsz == 0
    frames = len(raw) // fsz
    per_frame = []
    for i in range(frames):
        fr = raw[i * fsz:(i + 1) * fsz]
        ys = 0
        for r in range(h // 4, h // 4 + ch):
            ys += sum(fr[r * w + w // 4: r * w + w // 4 + cw])
        y = ys / (cw * ch)
        # chroma planes, same centre region at half resolution
        uw, uh = w // 2, h // 2
        uoff, voff = w * h, w * h + uw * uh
        us = vs = cnt = 0
        for r in range(uh // 4, uh // 4 + uh // 2):
            us += sum(fr[uoff + r * uw + uw // 4: uoff + r * uw + uw // 4 + uw // 2])
            vs += sum(fr[voff + r * uw + uw // 4: voff + r * uw + uw // 4 + uw // 2])
            cnt += uw // 2
        per_frame.append((y, us / cnt, vs / cnt))
    return frames, per_frame

def video_times(path):
    """Presentation times of the decoded video frames (edit lists applied)."""
    out = run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
              "frame=best_effort_timestamp_time", "-of", "csv=p=0", path).decode()
    return sorted(float(x.strip().strip(",")) for x in out.split() if x.strip().strip(","))

def pcm(path, rate, channels, timeline):
    """Channel 0 of the decoded audio as s16. timeline=True: ffmpeg places the samples
    by their timestamps on the clip's timeline (0 = the file's earliest timestamp), with
    silence in front and in any hole, as a timestamp-honouring player would."""
    args = ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:a:0"]
    if timeline:
        args += ["-af", "aresample=async=1:min_hard_comp=0.005:first_pts=0"]
    raw = run(*args, "-f", "s16le", "-acodec", "pcm_s16le", "-")
    import array
    return array.array("h", raw)[0::channels]

def decode_audio(path, rate, channels):
    plain = pcm(path, rate, channels, False)
    mono = pcm(path, rate, channels, True)
    n = len(mono)
    # frequency from zero crossings over the steady middle part
    lo, hi = n // 4, 3 * n // 4
    seg = mono[lo:hi]
    crossings = sum(1 for i in range(1, len(seg)) if (seg[i - 1] < 0) != (seg[i] < 0))
    hz = crossings / 2 / (len(seg) / rate)
    rms = (sum(x * x for x in seg) / len(seg)) ** 0.5 / 32768
    # the tone is where |x| exceeds half the steady peak (priming/padding are ~silent)
    peak = max(abs(x) for x in seg)
    loud = [i for i, x in enumerate(mono) if abs(x) > peak / 2]
    return dict(samples=len(plain), timeline_samples=n, hz=hz, rms=rms,
                tone_from=loud[0] / rate, tone_to=(loud[-1] + 1) / rate)

def fnum(x, nd=6):
    return None if x is None else round(float(x), nd)

M = {}
for name, spec in CLIPS.items():
    p = probe(name)
    fmt = p["format"]
    origin = float(fmt.get("start_time", 0.0))
    m = dict(name=name, container=fmt["format_name"], size=os.path.getsize(name),
             origin=origin, format_duration=fnum(fmt.get("duration")), **spec)
    for s in p["streams"]:
        kind = s["codec_type"]
        if kind == "video" and "video" not in m:
            num, den = map(int, s["r_frame_rate"].split("/"))
            fps = num / den
            frames, pf = decode_video(name, s["width"], s["height"])
            ts = video_times(name)
            assert len(ts) == frames, (name, len(ts), frames)
            ys = [f[0] for f in pf]
            m["video"] = dict(
                codec=s["codec_name"], profile=s.get("profile"), w=s["width"], h=s["height"],
                fps=fps, frames=frames, packets=int(s.get("nb_read_packets", 0)),
                has_b_frames=s.get("has_b_frames"),
                start_time=fnum(s.get("start_time")), stream_duration=fnum(s.get("duration")),
                decoded_duration=frames / fps,
                t_from=ts[0] - origin, t_to=ts[-1] + 1 / fps - origin,
                y=sum(ys) / len(ys), y_min=min(ys), y_max=max(ys),
                u=sum(f[1] for f in pf) / len(pf), v=sum(f[2] for f in pf) / len(pf))
        elif kind == "audio" and "audio" not in m:
            rate, ch = int(s["sample_rate"]), int(s["channels"])
            m["audio"] = dict(
                codec=s["codec_name"], profile=s.get("profile"), rate=rate, channels=ch,
                layout=s.get("channel_layout"), packets=int(s.get("nb_read_packets", 0)),
                start_time=fnum(s.get("start_time")), stream_duration=fnum(s.get("duration")),
                **decode_audio(name, rate, ch))
            m["audio"]["decoded_duration"] = m["audio"]["samples"] / rate
    M[name] = m
    v, a = m.get("video"), m.get("audio")
    print("   %-20s %6d B  origin %.6f  video: %s  audio: %s" % (
        name, m["size"], origin,
        "-" if not v else "%s %dx%d %d fr [%.3f, %.3f) Y=%.2f [%.2f..%.2f]" % (
            v["codec"], v["w"], v["h"], v["frames"], v["t_from"], v["t_to"], v["y"], v["y_min"], v["y_max"]),
        "-" if not a else "%s %d Hz x%d %d smp (%.6fs) tone [%.4f, %.4f) %.1f Hz" % (
            a["codec"], a["rate"], a["channels"], a["samples"], a["decoded_duration"],
            a["tone_from"], a["tone_to"], a["hz"])))

# --- sanity: every clip is what it was meant to be ----------------------------
for name, m in M.items():
    if m["rgb"]:
        assert "video" in m, name
        assert m["video"]["y_max"] - m["video"]["y_min"] < 1.0, (name, m["video"])
    else:
        assert "video" not in m, name
    if m["hz"]:
        assert abs(m["audio"]["hz"] - m["hz"]) < 0.01 * m["hz"], (name, m["audio"]["hz"])
    else:
        assert "audio" not in m, name
lumas = sorted(m["video"]["y"] for m in M.values() if "video" in m)
assert all(b - a > 20 for a, b in zip(lumas, lumas[1:])), lumas

# --- flows --------------------------------------------------------------------
def flow(name, duration, entries):
    return {"name": name, "duration": duration,
            "eventLogs": [{"relativeTime": t, "module": "mediasession.add", "data": {"url": u}}
                          for t, u in entries]}

BASIC = [
    (0.5,   "a_high_bframes.mp4"),  # leading gap 0.5 s
    (4.87,  "b_other_res.mp4"),     # gap 0.37 s after a's picture (off the 25 fps grid)
    (6.87,  "e_clip.ts"),           # starts 1.0 s before b ends: overlap
    (9.0,   "c_audio_only.m4a"),    # audio only, over e's tail and d's head
    (10.5,  "d_video_only.mp4"),    # video only
    (13.87, "f_fragmented.mp4"),    # gap 0.37 s after d
    (17.25, "g_raw.aac"),           # raw ADTS, black picture under it
    (20.13, "a_high_bframes.mp4"),  # the same source a second time
]                                   # trailing gap to 25.0
BASIC_DURATION = 25.0
VP9 = [(0.0, "a_high_bframes.mp4"), (4.25, "h_vp9.mp4"), (6.5, "e_clip.ts")]
VP9_DURATION = 10.0
BAD = [
    (0.0,  "a_high_bframes.mp4"),
    (4.5,  "bad/truncated_moov_end.mp4"),
    (5.0,  "b_other_res.mp4"),
    (8.5,  "bad/truncated_mdat.mp4"),
    (12.0, "bad/bitflip.mp4"),
    (16.5, "bad/empty.mp4"),
    (17.0, "bad/garbage.mp4"),
    (17.5, "bad/wrong_ext.mp4"),
    (21.0, "bad/text.mp4"),
    (21.5, "bad/does_not_exist.mp4"),
    (22.0, "d_video_only.mp4"),
]
BAD_DURATION = 26.0

def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")

dump("flow_basic.json", flow("basic", BASIC_DURATION, BASIC))
dump("flow_vp9.json", flow("vp9", VP9_DURATION, VP9))
dump("flow_bad.json", flow("bad", BAD_DURATION, BAD))

# --- expected intervals -------------------------------------------------------
def placements(entries):
    """Each clip's picture and tone spans on the flow timeline: relativeTime + the span
    measured inside the file (relative to the file's earliest timestamp). Tone edges
    are rounded to 1 ms (they are measured from the decoded waveform)."""
    out = []
    for order, (t, url) in enumerate(entries):
        m = M[url]
        v = m.get("video")
        a = m.get("audio")
        out.append(dict(
            url=url, order=order, start=t,
            vfrom=None if not v else round(t + v["t_from"], 6),
            vto=None if not v else round(t + v["t_to"], 6),
            afrom=None if not a else round(t + a["tone_from"], 3),
            ato=None if not a else round(t + a["tone_to"], 3),
            luma=None if not v else round(v["y"], 1), hz=None if not a else m["hz"]))
    return out

def expected(entries, duration):
    P = placements(entries)
    def cuts(lo_key, hi_key):
        pts = {0.0, duration}
        for p in P:
            if p[lo_key] is not None:
                pts.add(min(p[lo_key], duration)); pts.add(min(p[hi_key], duration))
        return sorted(x for x in pts if 0.0 <= x <= duration)
    video = []
    c = cuts("vfrom", "vto")
    for lo, hi in zip(c, c[1:]):
        mid = (lo + hi) / 2
        live = [p for p in P if p["vfrom"] is not None and p["vfrom"] <= mid < p["vto"]]
        top = max(live, key=lambda p: (p["start"], p["order"])) if live else None
        item = {"from": lo, "to": hi, "luma": top["luma"] if top else None,
                "clip": top["url"] if top else None}
        if video and video[-1]["clip"] == item["clip"] and video[-1]["to"] == lo:
            video[-1]["to"] = hi
        else:
            video.append(item)
    audio = []
    c = cuts("afrom", "ato")
    for lo, hi in zip(c, c[1:]):
        mid = (lo + hi) / 2
        live = [p for p in P if p["afrom"] is not None and p["afrom"] <= mid < p["ato"]]
        item = {"from": lo, "to": hi, "tones_hz": sorted(p["hz"] for p in live),
                "clips": [p["url"] for p in sorted(live, key=lambda p: (p["start"], p["order"]))]}
        if audio and audio[-1]["clips"] == item["clips"] and audio[-1]["to"] == lo:
            audio[-1]["to"] = hi
        else:
            audio.append(item)
    for iv in video + audio:
        iv["from"], iv["to"] = round(iv["from"], 6), round(iv["to"], 6)
    clips = [{"url": p["url"], "start": p["start"],
              "video_from": p["vfrom"], "video_to": p["vto"],
              "tone_from": p["afrom"], "tone_to": p["ato"],
              "luma": p["luma"], "tone_hz": p["hz"]} for p in P]
    return {
        "duration": duration,
        "rules": ("on a video overlap the later-starting clip shows; all overlapping audio is mixed; "
                  "a video-only/audio-only clip contributes only what it has; gaps are black "
                  "(luma null) and silent (tones_hz []). A clip's earliest timestamp sits at its "
                  "relativeTime; its picture/tone spans are MEASURED from the decoded file "
                  "(see clips[]; e_clip.ts starts 21 ms and f_fragmented.mp4 80 ms after "
                  "relativeTime). Allow ~1 frame (0.04 s) of slack at every boundary."),
        "clips": clips, "video": video, "audio": audio}

EXP_BASIC = expected(BASIC, BASIC_DURATION)
EXP_VP9 = expected(VP9, VP9_DURATION)
dump("expected_basic.json", EXP_BASIC)
dump("expected_vp9.json", EXP_VP9)

# --- README -------------------------------------------------------------------
def size_of(path):
    return os.path.getsize(path)

L = []
w = L.append
w("# Test fixtures")
w("")
w("Generated by `bash testdata/make_fixtures.sh` (ffmpeg with libx264/libvpx/native AAC, python3).")
w("Do not edit by hand: this README, the flows and `expected_*.json` are rewritten by the")
w("script from values **measured** by decoding the files it has just encoded.")
w("")
w("Every picture is one flat colour, so a clip is identified by the mean luma (Y, BT.601")
w("limited range, 8-bit) of the centre region = the middle half of the frame in each")
w("dimension (x in [w/4, 3w/4), y in [h/4, 3h/4)). Every sound is a pure sine (amplitude")
w("1/8 of full scale) with its own frequency. Distinct lumas are >= 20 apart, so a tolerance")
w("of +/-8 is safe for a re-encoded output.")
w("")
w("## Media clips")
w("")
w("| file | container | codecs | size | res | fps | frames | video [from, to) | tone [from, to) | luma Y (U, V) | tone | RGB | tests |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, m in M.items():
    v, a = m.get("video"), m.get("audio")
    codecs = []
    if v:
        codecs.append(v["codec"] + (" " + v["profile"] if v.get("profile") else ""))
    if a:
        codecs.append("%s %s %d Hz %s" % (a["codec"], a.get("profile") or "", a["rate"], a.get("layout") or ("%dch" % a["channels"])))
    w("| `%s` | %s | %s | %d B | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name, m["container"], " + ".join(codecs), m["size"],
        "%dx%d" % (v["w"], v["h"]) if v else "-",
        ("%g" % v["fps"]) if v else "-",
        ("%d" % v["frames"]) if v else "-",
        ("[%.6f, %.6f)" % (v["t_from"], v["t_to"])) if v else "-",
        ("[%.4f, %.4f)" % (a["tone_from"], a["tone_to"])) if a else "-",
        ("%.1f (%.1f, %.1f)" % (v["y"], v["u"], v["v"])) if v else "-",
        ("%d Hz" % m["hz"]) if m["hz"] else "-",
        m["rgb"] or "-", m["tests"]))
w("")
w("*video* and *tone* spans are in seconds from the file's earliest timestamp (ffprobe")
w("`format.start_time`, which is what a clip's `relativeTime` is aligned to): video =")
w("first decoded frame's presentation time (edit lists applied) to last + 1/fps; tone =")
w("first to last sample louder than half the sine's peak, with the decoded audio placed by")
w("its timestamps (so priming, padding and holes count as silence).")
w("")
w("Raw ffprobe/ffmpeg numbers (stream `start_time` / `duration` as ffprobe reports them,")
w("decoded samples = what `ffmpeg -i f -f s16le -` outputs, edit lists applied at the start):")
w("")
w("| file | origin | video start / dur | has_b_frames | Y min..max per frame | audio start / dur | decoded samples | packets v / a | tone measured | RMS |")
w("|---|---|---|---|---|---|---|---|---|---|")
for name, m in M.items():
    v, a = m.get("video"), m.get("audio")
    w("| `%s` | %.6f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name, m["origin"],
        ("%s / %s" % (v["start_time"], v["stream_duration"])) if v else "-",
        (str(v["has_b_frames"])) if v else "-",
        ("%.2f..%.2f" % (v["y_min"], v["y_max"])) if v else "-",
        ("%s / %s" % (a["start_time"], a["stream_duration"])) if a else "-",
        ("%d (%.6f s)" % (a["samples"], a["decoded_duration"])) if a else "-",
        "%s / %s" % (v["packets"] if v else "-", a["packets"] if a else "-"),
        ("%.2f Hz" % a["hz"]) if a else "-",
        ("%.4f" % a["rms"]) if a else "-"))
w("")
w("H.264 clips: High profile, CABAC, `bframes=3:b-adapt=0` (pattern I BBB P BBB P ...),")
w("closed GOP of 25 (an IDR every second), CRF 23, yuv420p. The script fails unless every")
w("H.264 fixture has packets with pts != dts and decoded B pictures. AAC: ffmpeg's native")
w("encoder, AAC-LC 64 kb/s, 1024 priming samples, last frame padded to 1024.")
w("")
w("What is surprising in these files (and worth a test each):")
w("")
w("- **MP4/M4A (`a`, `b`, `c`, `h`)**: an edit list hides the 1024 priming samples and the")
w("  B-frame composition delay, so picture and tone both start at 0. The edit list's")
w("  *duration* also trims the tail (ffprobe: audio duration = 4.000000 for `a`), but")
w("  ffmpeg's decoder ignores that end and outputs the padded last frame: 192512 samples")
w("  (4.010667 s) for a 4.0 s tone. The extra samples are silence.")
w("- **`e_clip.ts`**: timestamps start at 1.458667 s (ffmpeg's default TS offset of 1.4 s")
w("  + B-frame delay); the audio PES starts 1024 samples (21.3 ms) before the first")
w("  picture because priming is not trimmed in TS: the tone and the picture both start at")
w("  +0.021333 from the file's earliest timestamp. ffprobe's audio stream duration for the")
w("  TS (%s s) is an estimate and wrong; the decoded audio is %d samples." % (
      M["e_clip.ts"]["audio"]["stream_duration"], M["e_clip.ts"]["audio"]["samples"]))
w("- **`f_fragmented.mp4`**: no edit lists (empty moov). Video: tfdt 0, first picture's")
w("  composition offset 2 frames, so pictures start at **0.08 s**. Audio: tfdt 0 and the")
w("  first trun gives the priming frame a *duration of 3840 samples* (0.08 s), the rest")
w("  1024: the tone starts at 0.08 s, in sync with the picture. A demuxer that computes AAC")
w("  times as index x 1024 instead of summing trun durations puts the tone 59 ms early.")
w("  The first 0.08 s of the clip has no picture (black on the timeline).")
w("- **`g_raw.aac`**: ADTS has no timestamps and no priming signalling: the tone starts")
w("  after the 1024 priming samples (21.3 ms) and ffprobe's duration is a bitrate estimate.")
w("- **`h_vp9.mp4`**: VP9 has no B-frames (pts == dts); the audio is the same as in `a`.")
w("- Loudness: every sine is generated mono at 1/8 of full scale (RMS 0.088); the stereo")
w("  clips were upmixed by ffmpeg at -3 dB per channel (RMS 0.0625), the mono ones were not.")
w("- Flat pictures make x264 code every B/P macroblock as skip: a decoder that emits")
w("  frames in decode order instead of presentation order still shows the right colour.")
w("  Frame *order* is tested by pts, not by content, with these fixtures.")
w("")
w("## Corrupted inputs (`bad/`)")
w("")
w("| file | size | what it is | expected from stitch |")
w("|---|---|---|---|")
BADDOC = [
    ("truncated_moov_end.mp4", "`a_high_bframes.mp4` (moov after mdat) cut to its first half: no moov box at all",
     "clean error (\"no moov\"), no panic"),
    ("truncated_mdat.mp4", "faststart remux of `a_high_bframes.mp4` cut at 60 % of its bytes: moov intact, later samples point past EOF",
     "clean error, or the samples that are present followed by an error/warning; never a panic or a hang"),
    ("bitflip.mp4", "faststart remux of `a_high_bframes.mp4` with ~1 % of the mdat payload bytes XORed (fixed seed); container intact",
     "decodes with concealment or fails cleanly; no panic"),
    ("empty.mp4", "0 bytes", "clean error"),
    ("garbage.mp4", "4096 deterministic pseudo-random bytes", "clean error (unknown format)"),
    ("wrong_ext.mp4", "a byte copy of `e_clip.ts` (MPEG-TS) named .mp4",
     "**must work**: detected by content, same picture/tone as `e_clip.ts`"),
    ("text.mp4", "a two-line text file", "clean error (unknown format)"),
]
for f, what, exp in BADDOC:
    w("| `bad/%s` | %d B | %s | %s |" % (f, size_of(os.path.join("bad", f)), what, exp))
w("")

def ffmpeg_salvage(path):
    """What ffmpeg itself gets out of a damaged file: frames, frames whose centre is
    not the clip's colour, seconds of audio."""
    v = subprocess.run(["ffmpeg", "-v", "quiet", "-nostdin", "-i", path, "-map", "0:v:0",
                        "-fps_mode", "passthrough", "-vf", "crop=160:120:80:60",
                        "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"], capture_output=True).stdout
    ysz = 160 * 120
    fsz = ysz * 3 // 2
    frames = [v[i:i + ysz] for i in range(0, len(v) - fsz + 1, fsz)]
    wrong = sum(1 for fr in frames if abs(sum(fr) / ysz - M["a_high_bframes.mp4"]["video"]["y"]) > 2)
    a = subprocess.run(["ffmpeg", "-v", "quiet", "-nostdin", "-i", path, "-map", "0:a:0",
                        "-f", "s16le", "-ac", "1", "-ar", "48000", "-"], capture_output=True).stdout
    return len(frames), wrong, len(a) / 2 / 48000

w("What ffmpeg %s itself salvages from the damaged-but-parsable files (for comparison, not" %
  run("ffmpeg", "-version").decode().split()[2])
w("a requirement; the intact clip has %d frames and %.3f s of decoded audio):" % (
  M["a_high_bframes.mp4"]["video"]["frames"], M["a_high_bframes.mp4"]["audio"]["decoded_duration"]))
w("")
w("| file | frames decoded | of which not Y=%.0f in the centre | audio decoded |" % M["a_high_bframes.mp4"]["video"]["y"])
w("|---|---|---|---|")
for f in ("truncated_mdat.mp4", "bitflip.mp4"):
    n, wrong, secs = ffmpeg_salvage(os.path.join("bad", f))
    w("| `bad/%s` | %d | %d | %.3f s |" % (f, n, wrong, secs))
w("")

def interval_tables(exp):
    w("| clip | relativeTime | picture [from, to) | tone [from, to) | luma | tone |")
    w("|---|---|---|---|---|---|")
    for c in exp["clips"]:
        w("| `%s` | %.2f | %s | %s | %s | %s |" % (
            c["url"], c["start"],
            "-" if c["video_from"] is None else "[%.6f, %.6f)" % (c["video_from"], c["video_to"]),
            "-" if c["tone_from"] is None else "[%.3f, %.3f)" % (c["tone_from"], c["tone_to"]),
            "-" if c["luma"] is None else c["luma"],
            "-" if c["tone_hz"] is None else "%d Hz" % c["tone_hz"]))
    w("")
    w("Video (later-starting clip wins an overlap; no clip = black):")
    w("")
    w("| from | to | picture | luma |")
    w("|---|---|---|---|")
    for iv in exp["video"]:
        w("| %.6f | %.6f | %s | %s |" % (iv["from"], iv["to"],
          "`%s`" % iv["clip"] if iv["clip"] else "black", iv["luma"] if iv["luma"] is not None else "black (Y=16)"))
    w("")
    w("Audio (everything sounding is mixed; no clip = silence):")
    w("")
    w("| from | to | tones | clips |")
    w("|---|---|---|---|")
    for iv in exp["audio"]:
        w("| %.6f | %.6f | %s | %s |" % (iv["from"], iv["to"],
          ", ".join("%d Hz" % t for t in iv["tones_hz"]) or "silence",
          ", ".join("`%s`" % c for c in iv["clips"]) or "-"))
    w("")

w("## Flows")
w("")
w("MTS-Link shape: `{\"name\", \"duration\", \"eventLogs\": [{\"relativeTime\", \"module\":")
w("\"mediasession.add\", \"data\": {\"url\"}}]}`; urls are relative to the JSON file.")
w("A clip placed at `relativeTime` t has its earliest timestamp (the file's origin) at t;")
w("its picture and tone then occupy t + the spans measured above (so `e_clip.ts` starts")
w("21 ms and `f_fragmented.mp4` 80 ms after its relativeTime). Picture boundaries are")
w("exact; tone boundaries are measured to ~1 ms. Tests should allow ~1 frame (0.04 s)")
w("of slack around every boundary, and must not expect the 21 ms / 80 ms offsets to be")
w("\"fixed\" by the pipeline: they are in the sources.")
w("")
w("### `flow_basic.json` (duration %.1f s) -> `expected_basic.json`" % BASIC_DURATION)
w("")
w("Covers: a 0.5 s leading gap, 0.37 s gaps off the 25 fps grid, a 1.0 s overlap of two")
w("A/V clips (b then e: e's picture wins, both tones mixed), an audio-only clip over the")
w("tail of e and the head of d (picture must stay e / d), a video-only clip (audio below it")
w("must stay c), MPEG-TS, fragmented MP4, raw ADTS over black, the same source used twice,")
w("and a trailing gap.")
w("")
interval_tables(EXP_BASIC)
w("### `flow_vp9.json` (duration %.1f s) -> `expected_vp9.json`" % VP9_DURATION)
w("")
w("Needs the `ffmpeg` feature (VP9). Without it stitch must fail with \"unsupported codec vp9\".")
w("")
interval_tables(EXP_VP9)
w("### `flow_bad.json` (duration %.1f s)" % BAD_DURATION)
w("")
w("Good clips mixed with every file in `bad/` plus a url that does not exist. Whatever")
w("stitch's policy (abort with an error naming the file, or skip the bad clip and carry on),")
w("it must not panic or hang, and the error must name the offending url. The good entries")
w("are `a_high_bframes.mp4`, `b_other_res.mp4`, `bad/wrong_ext.mp4` (MPEG-TS by content)")
w("and `d_video_only.mp4`.")
w("")
w("| relativeTime | url |")
w("|---|---|")
for t, u in BAD:
    w("| %.1f | `%s` |" % (t, u))
w("")
with open("README.md", "w") as f:
    f.write("\n".join(L))
PY

echo "== sizes"
du -ab . | sort -k2 | awk '{ printf "   %8d  %s\n", $1, $2 }'
total=$(du -sb . | cut -f1)
echo "   total: $total bytes"
if [ "$total" -gt 2621440 ]; then
    echo "make_fixtures: fixtures exceed 2.5 MiB" >&2; exit 1
fi
echo "== done"
