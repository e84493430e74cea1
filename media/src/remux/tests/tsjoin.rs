//! Unit tests of `crate::remux::tsjoin` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use crate::codec::bits::BitWriter;
use crate::codec::h264::AvcConfig;
use crate::mux::ts::{TsWriter, AUDIO_PID, PMT_PID, TS_OFFSET, VIDEO_PID};
use crate::packet::{Codec, MediaKind, Packet, StreamInfo};
use bytes::Bytes;

const FRAME: i64 = 3600; // 25 fps
const AFRAME: i64 = 1920; // 1024 samples at 48 kHz, in 90 kHz ticks

fn ue(w: &mut BitWriter, v: u32) {
    let x = v + 1;
    let n = 32 - x.leading_zeros();
    w.write(n - 1, 0);
    w.write(n, x);
}

/// A Baseline SPS for `width` x `height` (cropping when not a multiple of 16).
fn sps(width: u32, height: u32) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.write(8, 66);
    w.write(8, 0xc0);
    w.write(8, 30);
    ue(&mut w, 0); // sps id
    ue(&mut w, 0); // log2_max_frame_num_minus4
    ue(&mut w, 2); // poc type
    ue(&mut w, 1); // max_num_ref_frames
    w.write(1, 0);
    let (mbw, mbh) = (width.div_ceil(16), height.div_ceil(16));
    ue(&mut w, mbw - 1);
    ue(&mut w, mbh - 1);
    w.write(1, 1); // frame_mbs_only
    w.write(1, 1); // direct_8x8_inference
    let (cr, cb) = ((mbw * 16 - width) / 2, (mbh * 16 - height) / 2);
    if cr > 0 || cb > 0 {
        w.write(1, 1);
        ue(&mut w, 0);
        ue(&mut w, cr);
        ue(&mut w, 0);
        ue(&mut w, cb);
    } else {
        w.write(1, 0);
    }
    w.write(1, 0); // no VUI
    w.write(1, 1); // rbsp_stop_one_bit
    let mut v = vec![0x67];
    v.extend(w.finish());
    v
}

fn streams(size: (u32, u32), video: bool, audio: bool) -> Vec<StreamInfo> {
    let mut v = Vec::new();
    if video {
        let mut s = StreamInfo::new(v.len(), MediaKind::Video, Codec::H264, 90_000);
        let cfg = AvcConfig::from_parameter_sets(vec![sps(size.0, size.1)], vec![vec![0x68, 0xce, 0x3c, 0x80]]);
        s.config = Bytes::from(cfg.unwrap().to_bytes());
        s.width = size.0;
        s.height = size.1;
        v.push(s);
    }
    if audio {
        let mut s = StreamInfo::new(v.len(), MediaKind::Audio, Codec::Aac, 90_000);
        s.config = Bytes::from_static(&[0x11, 0x90]);
        s.sample_rate = 48_000;
        s.channels = 2;
        v.push(s);
    }
    v
}

/// `frames` video frames at 25 fps with B-frames (decode order I P B B ...), IDR every
/// 25 frames, and AAC frames covering the same time, all starting at `start` (90 kHz).
/// Audio starts `audio_lead` ticks before the video's first PTS (like encoder priming).
fn packets(frames: usize, start: i64, video: bool, audio: bool, audio_lead: i64) -> Vec<Packet> {
    let mut all = Vec::new();
    if video {
        let mut order = vec![0usize];
        let mut d = 0usize;
        while order.len() < frames {
            if d + 3 < frames {
                order.extend([d + 3, d + 1, d + 2]);
            } else {
                order.extend((d + 1)..frames);
            }
            d += 3;
        }
        order.truncate(frames);
        for (n, &disp) in order.iter().enumerate() {
            let key = disp % 25 == 0;
            let size = 200 + (n * 97) % 1500;
            let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
            data.extend((0..size).map(|i| ((i * 13 + n) % 251) as u8 | 1));
            all.push(Packet {
                stream: 0,
                pts: start + disp as i64 * FRAME,
                dts: start + (n as i64 - 1) * FRAME,
                duration: FRAME,
                keyframe: key,
                data: Bytes::from(data),
            });
        }
    }
    if audio {
        let n = (frames as i64 * FRAME + audio_lead + AFRAME - 1) / AFRAME;
        for i in 0..n {
            let size = 20 + (i as usize * 53) % 300;
            all.push(Packet {
                stream: video as usize,
                pts: start - audio_lead + i * AFRAME,
                dts: start - audio_lead + i * AFRAME,
                duration: AFRAME,
                keyframe: true,
                data: Bytes::from((0..size).map(|k| (k as u8).wrapping_mul(7)).collect::<Vec<u8>>()),
            });
        }
    }
    all.sort_by_key(|p| p.dts);
    all
}

/// One independent TS (its own writer: CCs from 0, timestamps from `start` + 1.4 s).
fn segment_ex(frames: usize, start: i64, size: (u32, u32), video: bool, audio: bool) -> Vec<u8> {
    segment_lead(frames, start, size, video, audio, 0)
}

fn segment_lead(frames: usize, start: i64, size: (u32, u32), video: bool, audio: bool, lead: i64) -> Vec<u8> {
    let mut w = TsWriter::new(Vec::new(), &streams(size, video, audio)).unwrap();
    for p in packets(frames, start, video, audio, lead) {
        w.write(&p).unwrap();
    }
    w.finish().unwrap()
}

fn segment(frames: usize, start: i64) -> Vec<u8> {
    segment_ex(frames, start, (160, 120), true, true)
}

fn join(segs: &[Vec<u8>], disc: &[bool]) -> (Vec<u8>, Vec<SegmentInfo>) {
    let mut j = TsJoiner::new(Vec::new());
    let infos = segs.iter().zip(disc).map(|(s, &d)| j.push_segment(s, d).unwrap()).collect();
    (j.finish().unwrap(), infos)
}

/// Cut `ts` at the given packet indices.
fn cut(ts: &[u8], at: &[usize]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut prev = 0;
    for &a in at.iter().chain(std::iter::once(&(ts.len() / PKT))) {
        v.push(ts[prev * PKT..a * PKT].to_vec());
        prev = a;
    }
    v
}

#[test]
fn sps_helper_roundtrips() {
    for (w, h) in [(160, 120), (320, 240), (1920, 1080), (640, 360)] {
        let s = Sps::parse(&sps(w, h)).unwrap();
        assert_eq!((s.width, s.height), (w, h));
    }
}

#[test]
fn wrap_arithmetic() {
    assert_eq!(wrap_diff(5, PTS_WRAP as u64 - 5), 10);
    assert_eq!(wrap_diff(PTS_WRAP as u64 - 5, 5), -10);
    assert_eq!(wrap_add(PTS_WRAP as u64 - 1, 2), 1);
    assert_eq!(wrap_add(1, -2), PTS_WRAP as u64 - 1);
    assert_eq!(norm_offset(PTS_WRAP - 7), -7);
}

#[test]
fn independent_segments_join_continuously() {
    let segs: Vec<Vec<u8>> = (0..3).map(|_| segment(50, 0)).collect();
    let (out, infos) = join(&segs, &[false, false, false]);
    let offs: Vec<i64> = infos.iter().map(|i| i.offset_applied.0).collect();
    assert_eq!(offs, [0, 50 * FRAME, 100 * FRAME]);
    assert_eq!(infos.iter().map(|i| i.discontinuity_detected).collect::<Vec<_>>(), [false, true, true]);
    assert!(infos.iter().all(|i| !i.codec_change && i.video_size == Some((160, 120))));
    assert!(infos.iter().all(|i| i.duration_90k.0 == 50 * FRAME), "{infos:?}");
    assert_eq!(infos[1].first_pts, Some((TS_OFFSET + 50 * FRAME) as u64));
    assert_eq!(infos[2].last_pts, Some((TS_OFFSET + 149 * FRAME) as u64));
    let total_in: usize = segs.iter().map(|s| s.len() / PKT).sum();
    assert_eq!(infos.iter().map(|i| i.packets).sum::<usize>(), total_in);

    let c = check_ts(&out);
    assert_eq!(c.cc_errors, 0, "{:?}", c.cc_errors_by_pid);
    assert_eq!(c.video_pid, Some(VIDEO_PID));
    assert_eq!(c.pts_jumps_over(Ticks90k(FRAME)), 0);
    assert_eq!(c.max_pts_gap, Ticks90k(FRAME));
    assert_eq!(c.video_duration_90k(), Some(Ticks90k(150 * FRAME)));
    assert_eq!(c.pcr_backwards, 0);
    assert!(c.max_pcr_gap_90k.0 <= 2 * FRAME, "{}", c.max_pcr_gap_90k);
    assert_eq!(c.pmt_versions, [0]);
    // Every PID moved by the same offset: output PTS = input PTS + that segment's offset.
    for pid in [VIDEO_PID, AUDIO_PID] {
        let want: Vec<Ticks90k> = segs
            .iter()
            .zip(&offs)
            .flat_map(|(s, o)| check_ts(s).pes_pts[&pid].iter().map(|p| *p + Ticks90k(*o)).collect::<Vec<_>>())
            .collect();
        assert_eq!(c.pes_pts[&pid], want, "pid {pid:#x}");
    }
    // The caller's flag gives the same result.
    let (out2, infos2) = join(&segs, &[false, true, true]);
    assert_eq!(out2, out);
    assert_eq!(infos2, infos);
    // Plain concatenation is what check_ts flags.
    let cat = segs.concat();
    let c = check_ts(&cat);
    assert!(c.cc_errors > 0 && c.pts_jumps_over(Ticks90k(FRAME)) == 2, "{c:?}");
}

#[test]
fn continuous_run_is_not_shifted() {
    let whole = segment(150, 0);
    let n = whole.len() / PKT;
    let segs = cut(&whole, &[n / 3 + 1, 2 * n / 3 + 5]);
    let (out, infos) = join(&segs, &[false, false, false]);
    assert!(infos.iter().all(|i| i.offset_applied.0 == 0 && !i.discontinuity_detected && !i.codec_change));
    assert_eq!(out, whole);
    // Flagged but continuous: still not shifted.
    let (out, infos) = join(&segs, &[false, true, true]);
    assert!(infos.iter().all(|i| i.offset_applied.0 == 0 && !i.discontinuity_detected));
    assert_eq!(out, whole);
}

#[test]
fn wrap_inside_continuous_run_is_not_a_jump() {
    // One writer whose timestamps cross 2^33 three seconds in.
    let start = PTS_WRAP - TS_OFFSET - 3 * 90_000;
    let whole = segment(150, start);
    let n = whole.len() / PKT;
    let segs = cut(&whole, &[n / 2 - 3, n / 2 + 40]);
    let (out, infos) = join(&segs, &[false, false, false]);
    assert!(infos.iter().all(|i| i.offset_applied.0 == 0 && !i.discontinuity_detected), "{infos:?}");
    assert_eq!(out, whole);
    let c = check_ts(&out);
    assert!(c.video_dts.last().unwrap().0 > PTS_WRAP, "timestamps do wrap");
    assert_eq!(c.pts_jumps_over(Ticks90k(FRAME)), 0);
    assert_eq!(c.cc_errors, 0);

    // Independent writers whose timestamps continue across the wrap: CCs fixed, no shift.
    let s1 = PTS_WRAP - TS_OFFSET - 50 * FRAME + 2 * FRAME;
    let segs = vec![segment(50, s1), segment(50, s1 + 50 * FRAME - PTS_WRAP), segment(50, s1 + 100 * FRAME - PTS_WRAP)];
    let (out, infos) = join(&segs, &[false, false, false]);
    assert!(infos.iter().all(|i| i.offset_applied.0 == 0 && !i.discontinuity_detected), "{infos:?}");
    let c = check_ts(&out);
    assert_eq!(c.cc_errors, 0);
    assert_eq!(c.pts_jumps_over(Ticks90k(FRAME)), 0);
    assert_eq!(c.video_duration_90k(), Some(Ticks90k(150 * FRAME)));
}

/// Rewrite PIDs of a TsWriter output (packets and PAT/PMT sections, CRC recomputed).
fn patch_pids(ts: &[u8], map: &[(u16, u16)]) -> Vec<u8> {
    let m = |pid: u16| map.iter().find(|x| x.0 == pid).map(|x| x.1).unwrap_or(pid);
    let mut out = ts.to_vec();
    for p in out.chunks_exact_mut(PKT) {
        let pid = packet_pid(p);
        let np = m(pid);
        p[1] = (p[1] & 0xe0) | (np >> 8) as u8;
        p[2] = np as u8;
        if p[1] & 0x40 == 0 || (pid != 0 && pid != PMT_PID) {
            continue;
        }
        let s = &mut p[5..];
        let len = 3 + (((s[1] & 15) as usize) << 8 | s[2] as usize);
        let put = |s: &mut [u8], at: usize| {
            let v = m(u16::from_be_bytes([s[at] & 0x1f, s[at + 1]]));
            s[at] = (s[at] & 0xe0) | (v >> 8) as u8;
            s[at + 1] = v as u8;
        };
        if pid == 0 {
            put(s, 10);
        } else {
            put(s, 8);
            let mut i = 12 + (((s[10] & 15) as usize) << 8 | s[11] as usize);
            while i + 5 <= len - 4 {
                put(s, i + 1);
                i += 5 + (((s[i + 3] & 15) as usize) << 8 | s[i + 4] as usize);
            }
        }
        let crc = crc32_mpeg2(&s[..len - 4]);
        s[len - 4..len].copy_from_slice(&crc.to_be_bytes());
    }
    out
}

#[test]
fn pid_remap_to_first_segment() {
    let other = patch_pids(&segment(50, 0), &[(VIDEO_PID, 0x200), (AUDIO_PID, 0x201), (PMT_PID, 0x1100)]);
    let c = check_ts(&other);
    assert_eq!(c.streams, [(0x1b, 0x200), (0x0f, 0x201)]);
    assert_eq!(c.pmt_pid, Some(0x1100));
    let segs = vec![segment(50, 0), other, segment(50, 0)];
    let (out, infos) = join(&segs, &[false, true, false]);
    assert!(infos.iter().all(|i| !i.codec_change));
    let c = check_ts(&out);
    assert_eq!(c.pids.keys().copied().collect::<Vec<_>>(), [0, VIDEO_PID, AUDIO_PID, PMT_PID]);
    assert_eq!(c.cc_errors, 0);
    assert_eq!(c.pmt_versions, [0]);
    assert_eq!(c.pts_jumps_over(Ticks90k(FRAME)), 0);
    assert_eq!(c.video_dts.len(), 150);
    assert_eq!(c.video_duration_90k(), Some(Ticks90k(150 * FRAME)));
    assert_eq!(c.pes_pts[&AUDIO_PID].len(), 3 * check_ts(&segs[0]).pes_pts[&AUDIO_PID].len());
}

/// PMT sections (parsed) found in `ts`, in order.
fn pmts(ts: &[u8]) -> Vec<Pmt> {
    ts.chunks_exact(PKT)
        .filter(|p| packet_pid(p) == PMT_PID && p[1] & 0x40 != 0)
        .filter_map(|p| Pmt::parse(&p[5..]).ok())
        .collect()
}

#[test]
fn stream_set_change_bumps_pmt_version() {
    let segs = vec![segment(50, 0), segment_ex(50, 0, (160, 120), false, true), segment(50, 0)];
    let (out, infos) = join(&segs, &[false, true, true]);
    assert_eq!(infos.iter().map(|i| i.codec_change).collect::<Vec<_>>(), [false, true, true]);
    let c = check_ts(&out);
    assert_eq!(c.cc_errors, 0, "{:?}", c.cc_errors_by_pid);
    assert_eq!(c.pmt_versions, [0, 1, 2]);
    let p = pmts(&out);
    let v1 = p.iter().find(|p| p.version == 1).unwrap();
    assert_eq!(v1.pcr_pid, AUDIO_PID);
    assert_eq!(v1.streams.iter().map(|s| (s.stream_type, s.pid)).collect::<Vec<_>>(), [(0x0f, AUDIO_PID)]);
    let v2 = p.iter().find(|p| p.version == 2).unwrap();
    assert_eq!(
        v2.streams.iter().map(|s| (s.stream_type, s.pid)).collect::<Vec<_>>(),
        [(0x1b, VIDEO_PID), (0x0f, AUDIO_PID)]
    );
    // The new PMT comes before the segment's first PES.
    let seg2_start = infos[0].packets * PKT;
    assert_eq!(packet_pid(&out[seg2_start..]), 0);
    assert_eq!(packet_pid(&out[seg2_start + PKT..]), PMT_PID);
    // Audio continues (one offset for the program).
    let a = &c.pes_pts[&AUDIO_PID];
    assert!(a.windows(2).all(|w| w[1].0 > w[0].0 - 2 * AFRAME && w[1].0 - w[0].0 < 90_000), "{a:?}");
}

/// Audio frames (pts, data) as the TS demuxer sees them.
fn audio_frames(ts: &[u8]) -> Vec<(i64, Bytes)> {
    use crate::packet::Demuxer;
    let mut d = crate::demux::ts::TsDemuxer::from_reader(std::io::Cursor::new(ts.to_vec())).unwrap();
    let a = d.streams().iter().position(|s| s.kind == MediaKind::Audio).unwrap();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == a {
            v.push((p.pts, p.data));
        }
    }
    v
}

#[test]
fn overlapping_audio_is_trimmed_at_joins() {
    // Audio 2.05 frames ahead of the video and running past its end: each join overlaps.
    let lead = 2 * AFRAME + 100;
    let segs: Vec<Vec<u8>> = (0..3).map(|_| segment_lead(50, 0, (160, 120), true, true, lead)).collect();
    let (out, infos) = join(&segs, &[false, false, false]);
    assert_eq!(infos[1].offset_applied.0, 50 * FRAME);
    let c = check_ts(&out);
    assert_eq!(c.cc_errors, 0, "{:?}", c.cc_errors_by_pid);
    assert_eq!(c.pts_jumps_over(Ticks90k(FRAME)), 0);
    let per_seg = audio_frames(&segs[0]);
    let n = per_seg.len() as i64;
    let overlap = n * AFRAME - 50 * FRAME; // end of one segment's audio - start of the next
    let dropped = (0..n).take_while(|k| overlap - k * AFRAME > AFRAME / 2).count();
    assert_eq!(dropped, 2);
    let got = audio_frames(&out);
    assert_eq!(got.len(), 3 * per_seg.len() - 2 * dropped);
    for w in got.windows(2) {
        let step = w[1].0 - w[0].0;
        assert!((AFRAME / 2..=AFRAME * 3 / 2).contains(&step), "audio step {step}");
    }
    // The frames kept are the originals, at their original time + the segment's offset.
    let mut want = Vec::new();
    for (k, off) in [0, 50 * FRAME, 100 * FRAME].iter().enumerate() {
        let skip = if k == 0 { 0 } else { dropped };
        want.extend(per_seg.iter().skip(skip).map(|(p, d)| (p + off, d.clone())));
    }
    assert_eq!(got, want);
    // The first audio PES of a segment holds more than two frames, so it was rebuilt
    // (partial trim), not just dropped: its PTS is not one of the input PES PTS.
    let in_pes: Vec<i64> = check_ts(&segs[0]).pes_pts[&AUDIO_PID].iter().map(|p| p.0).collect();
    let out_pes = &c.pes_pts[&AUDIO_PID];
    let seg2_first = out_pes[in_pes.len()].0;
    assert_eq!(seg2_first, in_pes[0] + 50 * FRAME + 2 * AFRAME);
    assert!(!in_pes.contains(&(seg2_first - 50 * FRAME)));
    // Without overlap nothing is trimmed (see independent_segments_join_continuously).
}

#[test]
fn resolution_change_is_reported() {
    let sizes = [(160, 120), (160, 120), (320, 240), (320, 240)];
    let segs: Vec<Vec<u8>> = sizes.iter().map(|&s| segment_ex(25, 0, s, true, true)).collect();
    let (_, infos) = join(&segs, &[false; 4]);
    assert_eq!(infos.iter().map(|i| i.video_size.unwrap()).collect::<Vec<_>>(), sizes);
    assert_eq!(infos.iter().map(|i| i.codec_change).collect::<Vec<_>>(), [false, false, true, false]);
}

#[test]
fn garbage_and_truncation_do_not_panic() {
    let seg = segment(25, 0);
    let n = seg.len() / PKT;
    let mut bad = vec![0x47u8; 77];
    bad[3] = 0;
    bad.extend_from_slice(&seg[..seg.len() - 100]);
    let mut j = TsJoiner::new(Vec::new());
    let i = j.push_segment(&bad, false).unwrap();
    assert_eq!(i.skipped_bytes, 77 + 88);
    assert_eq!(i.packets, n - 1);
    assert_eq!(i.video_size, Some((160, 120)));
    // A segment resynced in the middle.
    let mut mid = seg[..10 * PKT].to_vec();
    mid.extend_from_slice(&[1, 2, 3, 0x47, 5]);
    mid.extend_from_slice(&seg[10 * PKT..]);
    let i = j.push_segment(&mid, false).unwrap();
    assert_eq!((i.skipped_bytes, i.packets), (5, n));
    let c = check_ts(&j.finish().unwrap());
    assert_eq!(c.skipped_bytes, 0);

    // Random bytes and corrupted segments.
    let mut x = 0x1234_5678u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Segments whose audio overlaps at joins, so the trimming path sees damage too.
    let lead_seg = segment_lead(25, 0, (160, 120), true, true, 2 * AFRAME + 100);
    let mut j = TsJoiner::new(Vec::new());
    for round in 0..300 {
        let mut d = if round % 3 == 0 {
            (0..rnd() % 3000).map(|_| rnd() as u8).collect::<Vec<u8>>()
        } else if round % 2 == 0 {
            seg.clone()
        } else {
            lead_seg.clone()
        };
        if round % 3 == 1 {
            for _ in 0..40 {
                let k = (rnd() as usize) % d.len();
                d[k] = rnd() as u8;
            }
        } else if round % 3 == 2 {
            // Valid sync bytes, random headers and bodies.
            for p in d.chunks_mut(PKT) {
                for b in p.iter_mut().skip(1).take(12) {
                    if rnd() % 4 == 0 {
                        *b = rnd() as u8;
                    }
                }
            }
            let t = (rnd() as usize) % d.len();
            d.truncate(t);
        }
        let _ = j.push_segment(&d, rnd() % 2 == 0).unwrap();
        let _ = check_ts(&d);
    }
    let out = j.finish().unwrap();
    assert_eq!(out.len() % PKT, 0);
    let _ = check_ts(&out);
    for d in [&[][..], &[0x47], &[0x47; 188], &[0x47; 1000], &[0; 5000]] {
        let mut j = TsJoiner::new(Vec::new());
        j.push_segment(d, true).unwrap();
        j.finish().unwrap();
        check_ts(d);
    }
}

// ---------------------------------------------------------------------------------
// FFmpeg-made and real segments (skipped when the tools / files are absent).

mod external {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn have_ffmpeg() -> bool {
        let ok = Path::new("/usr/bin/ffmpeg").exists() && Path::new("/usr/bin/ffprobe").exists();
        if !ok {
            eprintln!("note: /usr/bin/ffmpeg or ffprobe missing, skipping");
        }
        ok
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stitch-tsjoin-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Run a tool; (success, stdout, stderr).
    fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
        let o = Command::new(format!("/usr/bin/{tool}")).args(args).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn probe_f64(path: &Path, select: &str, entry: &str) -> f64 {
        let p = path.to_str().unwrap();
        let mut args = vec!["-v", "error"];
        if !select.is_empty() {
            args.extend(["-select_streams", select]);
        }
        args.extend(["-show_entries", entry, "-of", "csv=p=0", p]);
        let (ok, out, err) = run("ffprobe", &args);
        assert!(ok, "ffprobe {p}: {err}");
        out.lines()
            .next()
            .and_then(|l| l.trim().trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("{entry} of {p}: {out:?}"))
    }

    /// (stderr of a full decode at -v error, at -v warning)
    fn decode_errors(path: &Path) -> (String, String) {
        let p = path.to_str().unwrap();
        let e = run("ffmpeg", &["-nostdin", "-v", "error", "-i", p, "-f", "null", "-"]).2;
        let w = run("ffmpeg", &["-nostdin", "-v", "warning", "-i", p, "-f", "null", "-"]).2;
        (e, w)
    }

    #[test]
    fn ffmpeg_segments_join_cleanly() {
        if !have_ffmpeg() {
            return;
        }
        let dir = tmpdir("ff");
        let mut segs = Vec::new();
        let mut vdur = 0.0;
        for (i, extra) in [&[][..], &[], &["-output_ts_offset", "1000"]].iter().enumerate() {
            let path = dir.join(format!("s{i}.ts"));
            let mut args = vec![
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25",
                "-f",
                "lavfi",
                "-i",
                "sine",
                "-t",
                "2",
                "-c:v",
                "libx264",
                "-c:a",
                "aac",
            ];
            args.extend_from_slice(extra);
            args.extend(["-f", "mpegts", path.to_str().unwrap()]);
            let (ok, _, err) = run("ffmpeg", &args);
            assert!(ok, "ffmpeg: {err}");
            vdur += probe_f64(&path, "v:0", "stream=duration");
            segs.push(std::fs::read(&path).unwrap());
        }
        let (out, infos) = join(&segs, &[false, false, false]);
        eprintln!("ffmpeg segments: {infos:#?}");
        assert_eq!(infos[0].offset_applied.0, 0);
        assert!(infos[1].discontinuity_detected && infos[2].discontinuity_detected);
        assert_eq!(infos[1].offset_applied.0, 2 * 90_000);
        assert!(infos[2].offset_applied.0 < -990 * 90_000, "{}", infos[2].offset_applied);
        for k in 1..3 {
            assert_eq!(infos[k].first_pts, infos[k - 1].last_pts.map(|t| t + 3600), "segment {k}");
        }
        assert!(infos.iter().all(|i| i.video_size == Some((160, 120)) && !i.codec_change));
        let joined = dir.join("joined.ts");
        std::fs::write(&joined, &out).unwrap();
        let c = check_ts(&out);
        assert_eq!(c.cc_errors, 0);
        assert_eq!(c.pts_jumps_over(Ticks90k(3600)), 0);
        assert_eq!(c.pcr_backwards, 0);
        let (ok, _, err) = run("ffprobe", &["-v", "error", joined.to_str().unwrap()]);
        assert!(ok && err.is_empty(), "ffprobe: {err}");
        let jd = probe_f64(&joined, "v:0", "stream=duration");
        assert!((jd - vdur).abs() <= 0.04, "joined video {jd} s, segments {vdur} s");
        let fd = probe_f64(&joined, "", "format=duration");
        let (e, w) = decode_errors(&joined);
        assert!(e.is_empty(), "ffmpeg -v error on the joined file: {e}");
        eprintln!("joined: video {jd:.3} s (segments {vdur:.3} s), format {fd:.3} s; warnings: {w:?}");

        let cat = dir.join("cat.ts");
        std::fs::write(&cat, segs.concat()).unwrap();
        let cc = check_ts(&segs.concat());
        let (e, w) = decode_errors(&cat);
        eprintln!(
            "note: `cat` of the same segments: {} CC errors, {} video DTS jumps, ffmpeg -v error says {} lines, -v warning {} lines:\n{}",
            cc.cc_errors,
            cc.pts_jumps_over(Ticks90k(3600)),
            e.lines().count(),
            w.lines().count(),
            w.lines().take(6).collect::<Vec<_>>().join("\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    #[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
    fn real_segments_across_33_bit_rollover() {
        let dir = crate::testutil::corpus("m3u8/shaka__hls-ts-rollover");
        let list = std::fs::read_to_string(dir.join("playlist.m3u8")).expect("corpus playlist");
        let names: Vec<&str> =
            list.lines().map(str::trim).filter(|l| !l.starts_with('#') && l.ends_with(".ts")).collect();
        assert_eq!(names.len(), 10);
        let segs: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(dir.join(n)).unwrap()).collect();
        let (out, infos) = join(&segs, &vec![false; segs.len()]);
        assert!(
            infos.iter().all(|i| i.offset_applied.0 == 0 && !i.discontinuity_detected && !i.codec_change),
            "{infos:#?}"
        );
        assert!(infos.iter().all(|i| i.video_size == Some((640, 360))));
        let c = check_ts(&out);
        let frame = c.video_frame_90k().unwrap();
        assert_eq!(frame, Ticks90k(3750)); // 24 fps
        assert_eq!(c.cc_errors, 0, "{:?}", c.cc_errors_by_pid);
        assert_eq!(c.pts_jumps_over(frame), 0);
        assert!(c.video_dts.last().unwrap().0 >= PTS_WRAP && c.video_dts[0].0 < PTS_WRAP, "crosses the rollover");
        let sum: i64 = infos.iter().map(|i| i.duration_90k.0).sum();
        assert_eq!(c.video_duration_90k(), Some(Ticks90k(sum)));
        let cat = check_ts(&segs.concat());
        eprintln!("rollover corpus: joined {} packets; `cat` would have {} CC errors", c.packets, cat.cc_errors);
        // A continuous run: the output is the input minus null packets.
        let no_null: Vec<u8> =
            segs.concat().chunks(PKT).filter(|p| packet_pid(p) != PID_NULL).flatten().copied().collect();
        assert_eq!(out, no_null);
        if have_ffmpeg() {
            let tmp = tmpdir("rollover");
            let joined = tmp.join("joined.ts");
            std::fs::write(&joined, &out).unwrap();
            let (e, w) = decode_errors(&joined);
            assert!(e.is_empty(), "ffmpeg -v error: {e}");
            eprintln!("rollover corpus, ffmpeg warnings: {w:?}");
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
}
