//! Unit tests of `crate::mux::ts` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use crate::codec::aac::AdtsHeader;
use crate::packet::MediaKind;
use bytes::Bytes;
use std::collections::HashMap;

// ---------------------------------------------------------------------------------
// Independent test-only TS parser.

/// Bitwise CRC-32/MPEG-2, independent of the table version.
fn crc_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        for i in (0..8).rev() {
            let bit = ((b >> i) & 1) as u32 ^ (crc >> 31);
            crc <<= 1;
            if bit == 1 {
                crc ^= 0x04c1_1db7;
            }
        }
    }
    crc
}

fn read_ts(b: &[u8]) -> i64 {
    assert_eq!(b[0] & 1, 1, "marker");
    assert_eq!(b[2] & 1, 1, "marker");
    assert_eq!(b[4] & 1, 1, "marker");
    (((b[0] >> 1) & 7) as i64) << 30
        | (b[1] as i64) << 22
        | ((b[2] >> 1) as i64) << 15
        | (b[3] as i64) << 7
        | (b[4] >> 1) as i64
}

#[derive(Debug, Default, Clone)]
struct Pes {
    pid: u16,
    stream_id: u8,
    pts: i64,
    dts: Option<i64>,
    len_field: usize,
    data: Vec<u8>,
    rai: bool,
    pcr: Option<i64>,
    /// Index of the TS packet it starts in.
    at: usize,
    /// Last PCR (27 MHz) seen anywhere before this PES started.
    pcr_before: Option<i64>,
    /// Whether PAT and PMT are the two packets just before it.
    psi_before: bool,
}

#[derive(Debug, Default)]
struct Parsed {
    pmt_pid: Option<u16>,
    pcr_pid: Option<u16>,
    streams: Vec<(u8, u16, Vec<u8>)>, // stream_type, pid, descriptors
    pes: Vec<Pes>,
    pcrs: Vec<(usize, u16, i64)>, // packet index, pid, PCR 27 MHz
    pat_count: usize,
    pmt_count: usize,
    pat_bytes: Vec<u8>,
    pmt_bytes: Vec<u8>,
}

fn parse_section(payload: &[u8]) -> Vec<u8> {
    let ptr = payload[0] as usize;
    let s = &payload[1 + ptr..];
    assert_eq!(s[1] & 0xc0, 0x80, "section_syntax_indicator");
    let len = (((s[1] & 0x0f) as usize) << 8) | s[2] as usize;
    let sec = &s[..3 + len];
    let crc = u32::from_be_bytes(sec[sec.len() - 4..].try_into().unwrap());
    assert_eq!(crc_bitwise(&sec[..sec.len() - 4]), crc, "section CRC");
    assert!(s[3 + len..].iter().all(|&b| b == 0xff), "PSI fill must be 0xff");
    sec.to_vec()
}

fn parse(ts: &[u8]) -> Parsed {
    assert!(!ts.is_empty());
    assert_eq!(ts.len() % 188, 0, "length is a multiple of 188");
    let mut p = Parsed::default();
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    let mut open: HashMap<u16, Pes> = HashMap::new();
    let mut last_pcr = None;
    let mut prev_pids: Vec<u16> = Vec::new();
    let finish = |pes: Pes, out: &mut Vec<Pes>| {
        if pes.len_field != 0 {
            let hlen = 9 + if pes.dts.is_some() { 10 } else { 5 };
            assert_eq!(pes.len_field, pes.data.len() + hlen - 6, "PES_packet_length exact");
        }
        out.push(pes);
    };
    for (i, pk) in ts.chunks(188).enumerate() {
        assert_eq!(pk[0], 0x47, "sync byte at packet {i}");
        assert_eq!(pk[1] & 0x80, 0, "no transport error");
        let pusi = pk[1] & 0x40 != 0;
        let pid = (((pk[1] & 0x1f) as u16) << 8) | pk[2] as u16;
        let afc = (pk[3] >> 4) & 3;
        assert_ne!(afc, 0, "reserved adaptation_field_control");
        let cc = pk[3] & 0x0f;
        let has_payload = afc & 1 == 1;
        if let Some(&l) = last_cc.get(&pid) {
            let want = if has_payload { (l + 1) & 15 } else { l };
            assert_eq!(cc, want, "continuity counter on PID {pid:#x} at packet {i}");
        }
        last_cc.insert(pid, cc);
        let mut off = 4;
        let mut rai = false;
        let mut pcr_here = None;
        if afc & 2 != 0 {
            let len = pk[4] as usize;
            assert!(len <= 183);
            if !has_payload {
                assert_eq!(len, 183, "adaptation-only field fills the packet");
            }
            if len > 0 {
                let flags = pk[5];
                rai = flags & 0x40 != 0;
                let mut j = 6;
                if flags & 0x10 != 0 {
                    let b = &pk[6..12];
                    let base = (b[0] as i64) << 25
                        | (b[1] as i64) << 17
                        | (b[2] as i64) << 9
                        | (b[3] as i64) << 1
                        | (b[4] >> 7) as i64;
                    let ext = (((b[4] & 1) as i64) << 8) | b[5] as i64;
                    let v = base * 300 + ext;
                    assert_eq!(Some(pid), p.pcr_pid, "PCR only on the PCR PID");
                    p.pcrs.push((i, pid, v));
                    pcr_here = Some(v);
                    last_pcr = Some(v);
                    j = 12;
                }
                assert!(pk[j..5 + len].iter().all(|&b| b == 0xff), "AF stuffing is 0xff");
            }
            off = 5 + len;
        }
        let payload = &pk[off..];
        if has_payload {
            if pid == 0 {
                assert!(pusi);
                let sec = parse_section(payload);
                assert_eq!(sec[0], 0);
                assert_eq!(&sec[8..10], &[0, 1], "program 1");
                p.pmt_pid = Some((((sec[10] & 0x1f) as u16) << 8) | sec[11] as u16);
                p.pat_count += 1;
                p.pat_bytes = pk.to_vec();
            } else if Some(pid) == p.pmt_pid {
                assert!(pusi);
                let sec = parse_section(payload);
                assert_eq!(sec[0], 2);
                p.pcr_pid = Some((((sec[8] & 0x1f) as u16) << 8) | sec[9] as u16);
                let pil = (((sec[10] & 0x0f) as usize) << 8) | sec[11] as usize;
                let mut j = 12 + pil;
                p.streams.clear();
                while j < sec.len() - 4 {
                    let st = sec[j];
                    let epid = (((sec[j + 1] & 0x1f) as u16) << 8) | sec[j + 2] as u16;
                    let el = (((sec[j + 3] & 0x0f) as usize) << 8) | sec[j + 4] as usize;
                    p.streams.push((st, epid, sec[j + 5..j + 5 + el].to_vec()));
                    j += 5 + el;
                }
                p.pmt_count += 1;
                p.pmt_bytes = pk.to_vec();
            } else {
                assert!(p.streams.iter().any(|s| s.1 == pid), "PES PID {pid:#x} is in the PMT");
                if pusi {
                    if let Some(prev) = open.remove(&pid) {
                        finish(prev, &mut p.pes);
                    }
                    assert_eq!(&payload[..3], &[0, 0, 1], "PES start code");
                    let flags1 = payload[6];
                    assert_eq!(flags1 & 0xc0, 0x80);
                    assert_eq!(flags1 & 0x04, 0x04, "data_alignment_indicator");
                    let ptsdts = payload[7] >> 6;
                    let hl = payload[8] as usize;
                    let (pts, dts) = match ptsdts {
                        2 => {
                            assert_eq!(payload[9] >> 4, 2);
                            (read_ts(&payload[9..14]), None)
                        }
                        3 => {
                            assert_eq!(payload[9] >> 4, 3);
                            assert_eq!(payload[14] >> 4, 1);
                            (read_ts(&payload[9..14]), Some(read_ts(&payload[14..19])))
                        }
                        _ => panic!("PES without PTS"),
                    };
                    // PAT and PMT just before (adaptation-only packets aside).
                    let n = prev_pids.len();
                    let psi_before = n >= 2 && prev_pids[n - 2] == 0 && Some(prev_pids[n - 1]) == p.pmt_pid;
                    open.insert(
                        pid,
                        Pes {
                            pid,
                            stream_id: payload[3],
                            pts,
                            dts,
                            len_field: u16::from_be_bytes([payload[4], payload[5]]) as usize,
                            data: payload[9 + hl..].to_vec(),
                            rai,
                            pcr: pcr_here,
                            at: i,
                            pcr_before: last_pcr,
                            psi_before,
                        },
                    );
                } else {
                    open.get_mut(&pid).expect("PES continuation without start").data.extend_from_slice(payload);
                }
            }
        }
        if has_payload {
            prev_pids.push(pid);
        }
    }
    let mut rest: Vec<Pes> = open.into_values().collect();
    rest.sort_by_key(|p| p.at);
    for pes in rest {
        finish(pes, &mut p.pes);
    }
    p.pes.sort_by_key(|p| p.at);
    p
}

/// Checks common to every output: PSI present, PCR monotonic and never after the DTS
/// of the PES it precedes, at most 40 ms between PCRs, PSI every 100 ms.
fn check_common(p: &Parsed, max_pcr_gap: i64) {
    assert!(p.pat_count >= 1 && p.pmt_count >= 1);
    assert_eq!(p.pmt_pid, Some(PMT_PID));
    assert!(!p.pcrs.is_empty());
    for w in p.pcrs.windows(2) {
        assert!(w[1].2 >= w[0].2, "PCR monotonic");
        assert!(w[1].2 - w[0].2 <= max_pcr_gap * 300, "PCR interval {}", w[1].2 - w[0].2);
    }
    let mut psi_dts = None;
    for pes in &p.pes {
        let dts = pes.dts.unwrap_or(pes.pts);
        let pcr = pes.pcr.or(pes.pcr_before).expect("a PCR precedes every PES");
        assert!(pcr <= dts * 300, "PCR {pcr} after DTS {dts} of PES at packet {}", pes.at);
        if pes.psi_before {
            psi_dts = Some(dts);
        }
        let t = psi_dts.expect("PSI before the first PES");
        assert!(dts - t < PSI_INTERVAL, "PSI older than 100 ms at PES {}", pes.at);
    }
}

// ---------------------------------------------------------------------------------

#[test]
fn crc_vectors() {
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    assert_eq!(crc_bitwise(b"123456789"), 0x0376_e6e7);
    assert_eq!(crc32_mpeg2(&[]), 0xffff_ffff);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    assert_eq!(crc32_mpeg2(&data), crc_bitwise(&data));
}

fn avcc() -> Bytes {
    // Baseline profile record: one SPS, one PPS (contents opaque to the muxer).
    let sps = [0x67u8, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5];
    let pps = [0x68u8, 0xce, 0x3c, 0x80];
    let mut v = vec![1, 0x42, 0xc0, 0x1e, 0xff, 0xe1];
    v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    v.extend_from_slice(&sps);
    v.push(1);
    v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    v.extend_from_slice(&pps);
    Bytes::from(v)
}

fn video_info(tb: u32) -> StreamInfo {
    let mut s = StreamInfo::new(0, MediaKind::Video, Codec::H264, tb);
    s.config = avcc();
    s
}

fn audio_info(index: usize) -> StreamInfo {
    let mut s = StreamInfo::new(index, MediaKind::Audio, Codec::Aac, 48_000);
    s.config = Bytes::from_static(&[0x11, 0x90]);
    s.sample_rate = 48_000;
    s.channels = 2;
    s.language = Some("und".into());
    s
}

#[test]
fn pat_and_pmt_match_ffmpeg_bytes() {
    // FFmpeg 5.1 writes exactly these sections for one H.264 + one AAC stream ('und').
    let mut w = TsWriter::new(Vec::new(), &[video_info(90_000), audio_info(1)]).unwrap();
    w.write_psi();
    let out = w.buf.clone();
    let pat: [u8; 21] = [
        0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00, 0x2a,
        0xb1, 0x04, 0xb2,
    ];
    assert_eq!(&out[..21], &pat);
    assert!(out[21..188].iter().all(|&b| b == 0xff));
    let pmt: [u8; 37] = [
        0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xb0, 0x1d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b,
        0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x06, 0x0a, 0x04, 0x75, 0x6e, 0x64, 0x00, 0x08, 0x7d, 0xe8,
        0x77,
    ];
    assert_eq!(&out[188..188 + 37], &pmt);
}

/// Synthetic video: 25 fps in a 12800 Hz timebase with B-frames (decode order I P B B
/// P B B ..), IDR every 12 frames, one oversized frame; AAC frames with 2048 samples of
/// priming. Returns (streams, packets interleaved by DTS).
fn synthetic(n_video: usize, n_audio: usize) -> (Vec<StreamInfo>, Vec<Packet>) {
    let streams = vec![video_info(12_800), audio_info(1)];
    let mut vids = Vec::new();
    // display order index for each decode index
    let mut order = vec![0];
    let mut d = 0usize;
    while order.len() < n_video {
        if d + 3 < n_video {
            order.extend([d + 3, d + 1, d + 2]);
        } else {
            order.extend((d + 1)..n_video);
        }
        d += 3;
    }
    order.truncate(n_video);
    for (n, &disp) in order.iter().enumerate() {
        let key = disp % 12 == 0;
        let size = if n == 7 { 70_000 } else { 300 + (n * 37) % 900 };
        let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
        data.extend((0..size).map(|i| ((i * 13 + n) % 251) as u8 | 1));
        if n == 3 {
            // An AU that already has an AUD, SEI, with 3-byte start codes.
            let mut d2 = vec![0, 0, 1, 9, 0x30, 0, 0, 1, 6, 5, 1, 0x80];
            d2.extend_from_slice(&data[1..]);
            data = d2;
        }
        vids.push(Packet {
            stream: 0,
            pts: disp as i64 * 512,
            dts: (n as i64 - 1) * 512,
            duration: 512,
            keyframe: key,
            data: Bytes::from(data),
        });
    }
    let mut auds = Vec::new();
    for i in 0..n_audio {
        let size = 5 + (i * 53) % 400;
        let data: Vec<u8> = (0..size).map(|k| ((k + i * 3) % 256) as u8).collect();
        let pts = i as i64 * 1024 - 2048;
        auds.push(Packet { stream: 1, pts, dts: pts, duration: 1024, keyframe: true, data: Bytes::from(data) });
    }
    let mut all: Vec<(f64, Packet)> = vids
        .into_iter()
        .map(|p| (p.dts as f64 / 12_800.0, p))
        .chain(auds.into_iter().map(|p| (p.dts as f64 / 48_000.0, p)))
        .collect();
    all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    (streams, all.into_iter().map(|x| x.1).collect())
}

fn split_adts(mut d: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while !d.is_empty() {
        let h = AdtsHeader::parse(d).expect("ADTS header");
        assert_eq!(h.config, AudioConfig::lc(48_000, 2));
        v.push(d[h.header_len..h.frame_len].to_vec());
        d = &d[h.frame_len..];
    }
    v
}

#[test]
fn synthetic_av_mux_parses_back() {
    let (streams, pkts) = synthetic(50, 94);
    let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
    for p in &pkts {
        w.write(p).unwrap();
    }
    let out = w.finish().unwrap();
    let p = parse(&out);
    check_common(&p, PCR_INTERVAL);
    assert_eq!(p.pcr_pid, Some(VIDEO_PID));
    assert_eq!(p.streams.len(), 2);
    assert_eq!((p.streams[0].0, p.streams[0].1), (0x1b, VIDEO_PID));
    assert_eq!((p.streams[1].0, p.streams[1].1), (0x0f, AUDIO_PID));
    assert_eq!(p.streams[1].2, vec![0x0a, 4, b'u', b'n', b'd', 0]);
    assert_eq!(&p.pat_bytes[..4], &[0x47, 0x40, 0x00, 0x10 | ((p.pat_count as u8 - 1) % 16)]);

    let params = AvcConfig::parse(&avcc()).unwrap().parameter_sets_annexb();
    let video: Vec<&Pes> = p.pes.iter().filter(|x| x.pid == VIDEO_PID).collect();
    let vin: Vec<&Packet> = pkts.iter().filter(|x| x.stream == 0).collect();
    assert_eq!(video.len(), vin.len());
    for (i, (pes, pk)) in video.iter().zip(&vin).enumerate() {
        assert_eq!(pes.stream_id, 0xe0);
        let pts = pk.pts * 90_000 / 12_800 + TS_OFFSET;
        let dts = pk.dts * 90_000 / 12_800 + TS_OFFSET;
        assert_eq!(pes.pts, pts, "video PTS {i}");
        assert_eq!(pes.dts, if dts != pts { Some(dts) } else { None }, "video DTS {i}");
        assert_eq!(pes.pcr, Some((dts - PCR_DELAY).max(0) * 300), "PCR on video PES {i}");
        assert_eq!(pes.rai, pk.keyframe);
        if pk.keyframe {
            assert!(pes.psi_before, "PAT+PMT before keyframe {i}");
        }
        let mut want = Vec::new();
        if i == 3 {
            want.extend_from_slice(&pk.data);
        } else {
            want.extend_from_slice(&AUD);
            if pk.keyframe {
                want.extend_from_slice(&params);
            }
            want.extend_from_slice(&pk.data);
        }
        assert_eq!(pes.data, want, "video payload {i}");
        assert_eq!(pes.len_field == 0, i == 7, "unbounded length only for the big frame");
    }
    // First video DTS is -512/12800 = -0.04 s -> 1.36 s.
    assert_eq!(video[0].dts, Some(TS_OFFSET - 3600));

    let audio: Vec<&Pes> = p.pes.iter().filter(|x| x.pid == AUDIO_PID).collect();
    let ain: Vec<&Packet> = pkts.iter().filter(|x| x.stream == 1).collect();
    let mut k = 0;
    for pes in &audio {
        assert_eq!(pes.stream_id, 0xc0);
        assert!(pes.rai && pes.dts.is_none() && pes.len_field != 0);
        assert_eq!(pes.pts, rescale(ain[k].pts, 48_000, 90_000) + TS_OFFSET, "audio PTS at frame {k}");
        let frames = split_adts(&pes.data);
        assert!(!frames.is_empty() && frames.len() <= MAX_AUDIO_FRAMES_PER_PES);
        for f in frames {
            assert_eq!(&f[..], &ain[k].data[..], "audio frame {k}");
            k += 1;
        }
    }
    assert_eq!(k, ain.len());
    assert!(audio.len() < ain.len(), "audio frames were grouped");
    // Priming: first audio PTS is 1.4 s - 2048/48000 s.
    assert_eq!(audio[0].pts, TS_OFFSET - 3840);
}

#[test]
fn audio_only_and_video_only() {
    // Audio only: PCR on the audio PID, one frame per PES.
    let mut w = TsWriter::new(Vec::new(), &[audio_info(0)]).unwrap();
    for i in 0..100i64 {
        let pts = i * 1024 - 2048;
        w.write(&Packet { stream: 0, pts, dts: pts, duration: 0, keyframe: true, data: Bytes::from(vec![0x21; 200]) })
            .unwrap();
    }
    let p = parse(&w.finish().unwrap());
    check_common(&p, PCR_INTERVAL);
    assert_eq!(p.pcr_pid, Some(AUDIO_PID));
    assert_eq!(p.pes.len(), 100);
    assert!(p.pes.iter().all(|x| x.pcr.is_some()));
    assert_eq!(p.pes[1].pts - p.pes[0].pts, 1920);

    // Video only, in-band parameter sets, no config: nothing is inserted but the AUD.
    let mut s = video_info(90_000);
    s.config = Bytes::new();
    let mut w = TsWriter::new(Vec::new(), &[s]).unwrap();
    let au = Bytes::from_static(&[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88, 7]);
    for i in 0..10i64 {
        w.write(&Packet { stream: 0, pts: i * 3000, dts: i * 3000, duration: 3000, keyframe: true, data: au.clone() })
            .unwrap();
    }
    let p = parse(&w.finish().unwrap());
    check_common(&p, PCR_INTERVAL);
    assert_eq!(p.pes.len(), 10);
    assert_eq!(&p.pes[0].data[..6], &AUD);
    assert_eq!(&p.pes[0].data[6..], &au[..]);
    // Every PES is short: PES header + AUD + AU fit one packet with stuffing.
    assert_eq!(p.pes[9].at, 29);
}

#[test]
fn sparse_video_gets_pcr_only_packets() {
    // 5 fps video and audio: PCR-only packets fill the 200 ms gaps.
    let streams = vec![video_info(90_000), audio_info(1)];
    let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
    let mut pk = Vec::new();
    for i in 0..10i64 {
        let data = Bytes::from(vec![0, 0, 0, 1, 0x65, 0x88, 1, 2, 3]);
        pk.push((
            i * 18_000 * 48_000 / 90_000,
            Packet { stream: 0, pts: i * 18_000, dts: i * 18_000, duration: 0, keyframe: i == 0, data },
        ));
    }
    for i in 0..90i64 {
        pk.push((
            i * 1024,
            Packet {
                stream: 1,
                pts: i * 1024,
                dts: i * 1024,
                duration: 0,
                keyframe: true,
                data: Bytes::from(vec![1; 50]),
            },
        ));
    }
    pk.sort_by_key(|x| x.0);
    for (_, p) in &pk {
        w.write(p).unwrap();
    }
    let p = parse(&w.finish().unwrap());
    // 40 ms, checked at the start of each audio frame (1920 ticks).
    check_common(&p, PCR_INTERVAL + 1920);
    assert!(p.pcrs.len() > 40, "{} PCRs", p.pcrs.len());
    assert!(p.pes.len() < 40, "audio was grouped");
}

#[test]
fn rejects_bad_input() {
    let streams = vec![video_info(90_000), audio_info(1)];
    assert!(matches!(
        TsWriter::new(Vec::new(), &[StreamInfo::new(0, MediaKind::Video, Codec::Other("hevc".into()), 90_000)]),
        Err(Error::UnsupportedCodec(_))
    ));
    assert!(TsWriter::new(Vec::new(), &[]).is_err());
    assert!(TsWriter::new(Vec::new(), &[video_info(90_000), video_info(90_000)]).is_err());
    assert!(TsWriter::new(Vec::new(), &[video_info(0)]).is_err());
    let mut bad = video_info(90_000);
    bad.config = Bytes::from_static(&[1, 2]);
    assert!(TsWriter::new(Vec::new(), &[bad]).is_err());
    let mut a = audio_info(0);
    a.config = Bytes::from_static(&[0x11, 0x90]);
    a.config = Bytes::from_static(&[0xf8, 0x80, 0x00]); // AOT 31+ -> 32+ (not ADTS)
    assert!(TsWriter::new(Vec::new(), &[a]).is_err());

    let mut w = TsWriter::new(Vec::new(), &streams).unwrap();
    let v = |pts: i64, dts: i64| Packet {
        stream: 0,
        pts,
        dts,
        duration: 0,
        keyframe: true,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]),
    };
    assert!(w.write(&v(-126_001, -126_001)).is_err(), "below -1.4 s");
    w.write(&v(-126_000, -126_000)).unwrap();
    w.write(&v(9000, 3000)).unwrap();
    assert!(w.write(&v(9000, 2999)).is_err(), "dts backwards");
    assert!(w.write(&v(5000, 6000)).is_err(), "pts < dts");
    assert!(w.write(&Packet { stream: 5, ..v(9000, 9000) }).is_err());
    assert!(w.write(&Packet { data: Bytes::from_static(&[0x65, 0x88]), ..v(9000, 9000) }).is_err());
    assert!(w.write(&Packet { data: Bytes::new(), ..v(9000, 9000) }).is_err());
    let big = Packet { stream: 1, pts: 0, dts: 0, duration: 0, keyframe: true, data: Bytes::from(vec![0; 9000]) };
    assert!(w.write(&big).is_err());
    let out = w.finish().unwrap();
    let p = parse(&out);
    assert_eq!(p.pes.len(), 2);
    assert_eq!(p.pes[0].pts, 0, "-1.4 s maps to 0");
    assert_eq!(p.pcrs[0].2, 0);
}

#[test]
fn timestamps_wrap_mod_2_33() {
    let mut w = TsWriter::new(Vec::new(), &[video_info(90_000)]).unwrap();
    let t = (1i64 << 33) - TS_OFFSET + 5;
    let data = Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]);
    w.write(&Packet { stream: 0, pts: t + 3000, dts: t, duration: 0, keyframe: true, data }).unwrap();
    let out = w.finish().unwrap();
    let p = parse(&out);
    assert_eq!(p.pes[0].dts, Some(5));
    assert_eq!(p.pes[0].pts, 3005);
    assert_eq!(p.pcrs[0].2, ((1i64 << 33) + 5 - PCR_DELAY) % (1 << 33) * 300);
}

#[test]
fn empty_mux_is_valid_ts() {
    let w = TsWriter::new(Vec::new(), &[audio_info(0)]).unwrap();
    let out = w.finish().unwrap();
    assert_eq!(out.len(), 2 * 188);
}

#[test]
fn writer_is_send() {
    fn is_send<T: Send>() {}
    is_send::<TsWriter<Vec<u8>>>();
    is_send::<TsWriter<std::fs::File>>();
}

#[test]
fn continuity_fixer() {
    let mk = |pid: u16, afc: u8, cc: u8| {
        let mut p = [0xffu8; 188];
        p[0] = 0x47;
        p[1] = (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = (afc << 4) | cc;
        p
    };
    let mut f = ContinuityFixer::new();
    let seq =
        [(0x100, 1, 7), (0x100, 1, 3), (0x100, 2, 9), (0x100, 3, 0), (0x101, 1, 4), (0x1fff, 1, 9), (0x100, 1, 15)];
    let want = [7, 8, 8, 9, 4, 9, 10];
    for ((pid, afc, cc), w) in seq.iter().zip(want) {
        let mut p = mk(*pid, *afc, *cc);
        f.fix(&mut p);
        assert_eq!(p[3] & 0x0f, w);
        assert_eq!(p[3] >> 4, *afc);
    }
    // Wraps mod 16.
    let mut f = ContinuityFixer::default();
    let mut last = 0;
    for i in 0..40 {
        let mut p = mk(0x42, 1, 3);
        f.fix(&mut p);
        last = p[3] & 15;
        assert_eq!(last as usize, (3 + i) % 16);
    }
    assert_eq!(last, (3 + 39) % 16);
    // Splicing two muxes' outputs then fixing gives continuous counters.
    let (streams, pkts) = synthetic(20, 40);
    let mut a = TsWriter::new(Vec::new(), &streams).unwrap();
    for p in &pkts[..20] {
        a.write(p).unwrap();
    }
    let mut b = TsWriter::new(Vec::new(), &streams).unwrap();
    for p in &pkts[20..] {
        b.write(p).unwrap();
    }
    let mut all = a.finish().unwrap();
    all.extend(b.finish().unwrap());
    let mut f = ContinuityFixer::new();
    for c in all.chunks_exact_mut(188) {
        f.fix(c.try_into().unwrap());
    }
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    for c in all.chunks(188) {
        let pid = (((c[1] & 0x1f) as u16) << 8) | c[2] as u16;
        let payload = c[3] & 0x10 != 0;
        if let Some(&l) = last_cc.get(&pid) {
            assert_eq!(c[3] & 15, if payload { (l + 1) & 15 } else { l });
        }
        last_cc.insert(pid, c[3] & 15);
    }
}

// ---------------------------------------------------------------------------------
// Round trip through FFmpeg (skipped when it is not installed).

mod ffmpeg {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn have_ffmpeg() -> bool {
        let ok = Path::new("/usr/bin/ffmpeg").exists() && Path::new("/usr/bin/ffprobe").exists();
        if !ok {
            eprintln!("note: /usr/bin/ffmpeg or ffprobe missing, skipping FFmpeg round trip");
        }
        ok
    }

    /// Run `/usr/bin/<tool>` with whitespace-separated `args`, each `{}` replaced by the
    /// next of `files`; returns stdout + stderr after checking the exit status.
    fn run(tool: &str, args: &str, files: &[&Path]) -> (String, String) {
        let mut files = files.iter();
        let argv: Vec<&std::ffi::OsStr> = args
            .split_whitespace()
            .map(|a| if a == "{}" { files.next().unwrap().as_os_str() } else { a.as_ref() })
            .collect();
        let o = Command::new(format!("/usr/bin/{tool}")).args(&argv).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{tool} {args} failed: {err}");
        (String::from_utf8(o.stdout).unwrap(), err)
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stitch-tsmux-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Split an Annex B stream into access units (single- or multi-slice pictures),
    /// leaving SPS/PPS out (they go to the avcC, so the muxer has to re-insert them).
    fn split_aus(data: &[u8]) -> Vec<Vec<u8>> {
        let mut aus: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut cur_has_vcl = false;
        for nal in h264::annexb_nals(data) {
            let t = h264::nal_type(nal);
            let vcl = (1..=5).contains(&t);
            let first_mb_zero = nal.get(1).is_some_and(|b| b & 0x80 != 0);
            if cur_has_vcl && (!vcl || first_mb_zero) {
                aus.push(std::mem::take(&mut cur));
                cur_has_vcl = false;
            }
            if t != h264::NAL_SPS && t != h264::NAL_PPS {
                h264::push_annexb(&mut cur, nal);
            }
            cur_has_vcl |= vcl;
        }
        if cur_has_vcl {
            aus.push(cur);
        }
        aus
    }

    struct Input {
        streams: Vec<StreamInfo>,
        video: Vec<Packet>,
        audio: Vec<Packet>,
    }

    /// 2 s of 160x120 x264 (-bf 2) + AAC in MP4; the same packets as raw Annex B and
    /// ADTS; timestamps from ffprobe of the MP4 (same order).
    fn make_input(dir: &Path) -> Input {
        let (mp4, h264p, aacp) = (dir.join("in.mp4"), dir.join("v.h264"), dir.join("a.aac"));
        run(
            "ffmpeg",
            "-v error -y -f lavfi -i testsrc=size=160x120:rate=25 -f lavfi \
             -i sine=frequency=440:sample_rate=48000 -t 2 -c:v libx264 -bf 2 -g 25 \
             -pix_fmt yuv420p -c:a aac -ac 2 -b:a 64k {}",
            &[&mp4],
        );
        run("ffmpeg", "-v error -y -i {} -map 0:v -c copy -f h264 {}", &[&mp4, &h264p]);
        run("ffmpeg", "-v error -y -i {} -map 0:a -c copy -f adts {}", &[&mp4, &aacp]);
        let (json, _) = run(
            "ffprobe",
            "-v error -show_entries \
             packet=stream_index,pts,dts,flags:stream=index,codec_type,time_base -of json {}",
            &[&mp4],
        );
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut tb = [0u32; 2];
        let mut vidx = 0;
        for s in j["streams"].as_array().unwrap() {
            let i = s["index"].as_u64().unwrap() as usize;
            tb[i] = s["time_base"].as_str().unwrap().trim_start_matches("1/").parse().unwrap();
            if s["codec_type"] == "video" {
                vidx = i;
            }
        }
        let raw = std::fs::read(&h264p).unwrap();
        let sps: Vec<Vec<u8>> =
            h264::annexb_nals(&raw).filter(|n| h264::nal_type(n) == 7).take(1).map(|n| n.to_vec()).collect();
        let pps: Vec<Vec<u8>> =
            h264::annexb_nals(&raw).filter(|n| h264::nal_type(n) == 8).take(1).map(|n| n.to_vec()).collect();
        let aus = split_aus(&raw);
        let adts = std::fs::read(&aacp).unwrap();
        let (mut frames, mut d, mut acfg) = (Vec::new(), &adts[..], None);
        while !d.is_empty() {
            let h = AdtsHeader::parse(d).unwrap();
            acfg = Some(h.config);
            frames.push(d[h.header_len..h.frame_len].to_vec());
            d = &d[h.frame_len..];
        }
        let (mut video, mut audio) = (Vec::new(), Vec::new());
        for p in j["packets"].as_array().unwrap() {
            let si = p["stream_index"].as_u64().unwrap() as usize;
            let (pts, dts) = (p["pts"].as_i64().unwrap(), p["dts"].as_i64().unwrap());
            let keyframe = p["flags"].as_str().unwrap().starts_with('K');
            let (list, stream, data) = if si == vidx {
                let d = aus[video.len()].clone();
                (&mut video, 0, d)
            } else {
                let d = frames[audio.len()].clone();
                (&mut audio, 1, d)
            };
            list.push(Packet { stream, pts, dts, duration: 0, keyframe, data: Bytes::from(data) });
        }
        assert_eq!(video.len(), aus.len(), "AU split matches ffprobe's packet count");
        assert_eq!(audio.len(), frames.len());
        let mut vs = StreamInfo::new(0, MediaKind::Video, Codec::H264, tb[vidx]);
        vs.config = Bytes::from(AvcConfig::from_parameter_sets(sps, pps).unwrap().to_bytes());
        let mut a = StreamInfo::new(1, MediaKind::Audio, Codec::Aac, tb[1 - vidx]);
        a.config = Bytes::from(acfg.unwrap().to_bytes());
        Input { streams: vec![vs, a], video, audio }
    }

    /// Mux interleaved by DTS, audio shifted by `audio_shift` ticks.
    fn mux(inp: &Input, audio_shift: i64, path: &Path) -> Vec<u8> {
        let (vtb, atb) = (inp.streams[0].timebase as f64, inp.streams[1].timebase as f64);
        let shifted: Vec<Packet> = inp
            .audio
            .iter()
            .map(|p| Packet { pts: p.pts + audio_shift, dts: p.dts + audio_shift, ..p.clone() })
            .collect();
        let mut all: Vec<(f64, &Packet)> = inp.video.iter().map(|p| (p.dts as f64 / vtb, p)).collect();
        all.extend(shifted.iter().map(|p| (p.dts as f64 / atb, p)));
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let f = std::fs::File::create(path).unwrap();
        let mut w = TsWriter::new(std::io::BufWriter::new(f), &inp.streams).unwrap();
        for (_, p) in all {
            w.write(p).unwrap();
        }
        w.finish().unwrap().into_inner().unwrap();
        std::fs::read(path).unwrap()
    }

    fn f64_of(v: &serde_json::Value) -> f64 {
        v.as_str().unwrap().parse().unwrap()
    }

    /// Per-frame MD5s of the decoded video (timestamps dropped).
    fn video_md5s(path: &Path) -> Vec<String> {
        let (o, _) = run("ffmpeg", "-v error -i {} -map 0:v -f framemd5 -", &[path]);
        let v: Vec<String> = o
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
            .collect();
        assert!(v.len() >= 50);
        v
    }

    /// MD5 of all decoded audio samples (no edit list applied).
    fn audio_md5(path: &Path) -> String {
        run("ffmpeg", "-v error -i {} -map 0:a -f md5 -", &[path]).0
    }

    #[test]
    fn ffmpeg_round_trip() {
        if !have_ffmpeg() {
            return;
        }
        let dir = tmpdir("rt");
        let inp = make_input(&dir);
        assert_eq!(inp.audio[0].pts, -1024, "ffmpeg's AAC encoder primes 1024 samples");
        let ref_video = video_md5s(&dir.join("in.mp4"));
        let ref_audio = audio_md5(&dir.join("a.aac"));
        let aframe = 1024.0 / 48_000.0;
        // "priming2048": first audio PTS -2048 at 48 kHz.
        for (name, shift) in [("plain", 0i64), ("priming2048", -1024)] {
            let out = dir.join(format!("{name}.ts"));
            let p = parse(&mux(&inp, shift, &out));
            // 40 ms while video flows; audio past the video's end: + one audio frame.
            check_common(&p, PCR_INTERVAL + 1920);
            let (json, _) = run("ffprobe", "-v error -show_streams -show_format -of json {}", &[&out]);
            let j: serde_json::Value = serde_json::from_str(&json).unwrap();
            let s = j["streams"].as_array().unwrap();
            assert_eq!(s.len(), 2, "{name}");
            let v = s.iter().find(|x| x["codec_type"] == "video").unwrap();
            let a = s.iter().find(|x| x["codec_type"] == "audio").unwrap();
            assert_eq!((&v["codec_name"], &a["codec_name"]), (&"h264".into(), &"aac".into()));
            assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(160), Some(120)));
            assert_eq!((&a["sample_rate"], &a["channels"]), (&"48000".into(), &2.into()));
            let (vs, as_) = (f64_of(&v["start_time"]), f64_of(&a["start_time"]));
            let first_v = inp.video.iter().map(|p| p.pts).min().unwrap() as f64 / inp.streams[0].timebase as f64;
            assert!((vs - (1.4 + first_v)).abs() < 1e-3, "{name}: video start {vs}");
            let want_a = 1.4 + (-1024 + shift) as f64 / 48_000.0;
            assert!((as_ - want_a).abs() < 1e-3, "{name}: audio start {as_} want {want_a}");
            assert!((vs - as_).abs() < 0.05, "{name}: start times {vs} vs {as_}");
            let vd = f64_of(&v["duration"]);
            assert!((vd - 2.0).abs() <= 0.04 + 1e-6, "{name}: video duration {vd}");
            let ad = f64_of(&a["duration"]);
            let a_len = inp.audio.len() as f64 * aframe;
            assert!((ad - a_len).abs() <= aframe + 1e-6, "{name}: audio duration {ad} want {a_len}");
            assert!((a_len - 2.0).abs() <= 2.0 * aframe + 1e-6, "{name}: {a_len}");
            let fd = f64_of(&j["format"]["duration"]);
            assert!((fd - 2.0).abs() <= 0.07, "{name}: format duration {fd}");
            let (o, e) = run("ffmpeg", "-v error -i {} -f null -", &[&out]);
            assert!(o.trim().is_empty() && e.trim().is_empty(), "{name}: ffmpeg says: {o}{e}");
            // Decoded pictures and samples are bit-identical to the source's.
            assert_eq!(video_md5s(&out), ref_video, "{name}: pictures");
            assert_eq!(audio_md5(&out), ref_audio, "{name}: samples");
        }
        if std::env::var_os("STITCH_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
