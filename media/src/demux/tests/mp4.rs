//! Unit tests of `crate::demux::mp4` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use std::io::Cursor;

// ---- a tiny box builder ----------------------------------------------------------

fn bx(t: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(t);
    v.extend_from_slice(payload);
    v
}
fn fbx(t: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![version, (flags >> 16) as u8, (flags >> 8) as u8, flags as u8];
    p.extend_from_slice(payload);
    bx(t, &p)
}
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}
/// A table box: entry count then entries.
fn tbl(t: &[u8; 4], version: u8, rows: &[&[u32]]) -> Vec<u8> {
    let mut p = u32s(&[rows.len() as u32]);
    for r in rows {
        p.extend(u32s(r));
    }
    fbx(t, version, 0, &p)
}

fn ftyp() -> Vec<u8> {
    bx(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
}
fn mvhd(ts: u32, dur: u32) -> Vec<u8> {
    let mut p = u32s(&[0, 0, ts, dur, 0x0001_0000]);
    p.extend_from_slice(&[1, 0, 0, 0]);
    p.extend(vec![0u8; 8 + 36 + 24]);
    p.extend(u32s(&[3]));
    fbx(b"mvhd", 0, 0, &p)
}
fn tkhd(id: u32, w: u32, h: u32) -> Vec<u8> {
    let mut p = u32s(&[0, 0, id, 0, 0, 0, 0, 0, 0]);
    p.extend(vec![0u8; 36]);
    p.extend(u32s(&[w << 16, h << 16]));
    fbx(b"tkhd", 0, 3, &p)
}
fn mdhd(ts: u32, dur: u32) -> Vec<u8> {
    // language "eng": e=5 n=14 g=7
    let lang: u16 = (5 << 10) | (14 << 5) | 7;
    let mut p = u32s(&[0, 0, ts, dur]);
    p.extend_from_slice(&lang.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    fbx(b"mdhd", 0, 0, &p)
}
fn hdlr(h: &[u8; 4]) -> Vec<u8> {
    let mut p = u32s(&[0]);
    p.extend_from_slice(h);
    p.extend(vec![0u8; 12]);
    p.extend_from_slice(b"h\0");
    fbx(b"hdlr", 0, 0, &p)
}
fn elst(edits: &[(u32, i32)]) -> Vec<u8> {
    let mut p = u32s(&[edits.len() as u32]);
    for &(d, m) in edits {
        p.extend(u32s(&[d, m as u32, 0x0001_0000]));
    }
    bx(b"edts", &fbx(b"elst", 0, 0, &p))
}
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0c, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
fn avcc() -> Vec<u8> {
    let mut p = vec![1, 0x64, 0, 0x0c, 0xff, 0xe1];
    p.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    p.extend_from_slice(SPS);
    p.push(1);
    p.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    p.extend_from_slice(PPS);
    p
}
fn avc1(w: u16, h: u16, fourcc: &[u8; 4], extra: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 6];
    p.extend_from_slice(&[0, 1]);
    p.extend(vec![0u8; 16]);
    p.extend_from_slice(&w.to_be_bytes());
    p.extend_from_slice(&h.to_be_bytes());
    p.extend(u32s(&[0x0048_0000, 0x0048_0000, 0]));
    p.extend_from_slice(&[0, 1]);
    p.extend(vec![0u8; 32]);
    p.extend_from_slice(&[0, 0x18, 0xff, 0xff]);
    p.extend(bx(b"avcC", &avcc()));
    p.extend_from_slice(extra);
    bx(fourcc, &p)
}
fn esds(asc: &[u8]) -> Vec<u8> {
    let mut dcd = vec![0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    dcd.extend_from_slice(&[0x05, asc.len() as u8]);
    dcd.extend_from_slice(asc);
    let mut es = vec![0, 1, 0];
    es.extend_from_slice(&[0x04, dcd.len() as u8]);
    es.extend(dcd);
    es.extend_from_slice(&[0x06, 1, 2]);
    let mut p = vec![0x03, 0x80, 0x80, 0x80, es.len() as u8]; // 4-byte length form
    p.extend(es);
    fbx(b"esds", 0, 0, &p)
}
fn mp4a(rate: u32, ch: u16, asc: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 6];
    p.extend_from_slice(&[0, 1]);
    p.extend(vec![0u8; 8]);
    p.extend_from_slice(&ch.to_be_bytes());
    p.extend_from_slice(&[0, 16, 0, 0, 0, 0]);
    p.extend(u32s(&[rate << 16]));
    p.extend(esds(asc));
    bx(b"mp4a", &p)
}
fn stsd(entry: &[u8]) -> Vec<u8> {
    let mut p = u32s(&[1]);
    p.extend_from_slice(entry);
    fbx(b"stsd", 0, 0, &p)
}
#[allow(clippy::too_many_arguments)]
fn trak(
    id: u32,
    handler: &[u8; 4],
    ts: u32,
    entry: &[u8],
    edits: Option<&[(u32, i32)]>,
    stts: &[(u32, u32)],
    ctts: Option<&[(u32, i32)]>,
    stss: Option<&[u32]>,
    stsc: &[(u32, u32)],
    sizes: &[u32],
    chunks: &[u32],
) -> Vec<u8> {
    let stts_rows: Vec<Vec<u32>> = stts.iter().map(|&(c, d)| vec![c, d]).collect();
    let stts_refs: Vec<&[u32]> = stts_rows.iter().map(|r| &r[..]).collect();
    let mut stbl = stsd(entry);
    stbl.extend(tbl(b"stts", 0, &stts_refs));
    if let Some(c) = ctts {
        let rows: Vec<Vec<u32>> = c.iter().map(|&(n, o)| vec![n, o as u32]).collect();
        let refs: Vec<&[u32]> = rows.iter().map(|r| &r[..]).collect();
        stbl.extend(tbl(b"ctts", 1, &refs));
    }
    if let Some(s) = stss {
        let rows: Vec<Vec<u32>> = s.iter().map(|&n| vec![n]).collect();
        let refs: Vec<&[u32]> = rows.iter().map(|r| &r[..]).collect();
        stbl.extend(tbl(b"stss", 0, &refs));
    }
    let rows: Vec<Vec<u32>> = stsc.iter().map(|&(f, n)| vec![f, n, 1]).collect();
    let refs: Vec<&[u32]> = rows.iter().map(|r| &r[..]).collect();
    stbl.extend(tbl(b"stsc", 0, &refs));
    let mut p = u32s(&[0, sizes.len() as u32]);
    p.extend(u32s(sizes));
    stbl.extend(fbx(b"stsz", 0, 0, &p));
    let rows: Vec<Vec<u32>> = chunks.iter().map(|&o| vec![o]).collect();
    let refs: Vec<&[u32]> = rows.iter().map(|r| &r[..]).collect();
    stbl.extend(tbl(b"stco", 0, &refs));
    let minf = bx(b"minf", &bx(b"stbl", &stbl));
    let mdia = bx(b"mdia", &cat(&[&mdhd(ts, 0), &hdlr(handler), &minf]));
    let edts = edits.map(elst).unwrap_or_default();
    bx(b"trak", &cat(&[&tkhd(id, 160, 120), &edts, &mdia]))
}

fn vsample(i: u8) -> Vec<u8> {
    vec![0, 0, 0, 3, if i == 0 { 0x65 } else { 0x41 }, i, i]
}
fn asample(i: u8) -> Vec<u8> {
    vec![0x21, i, i, i, i]
}

/// Progressive file: H.264 (5 samples, B-frames via ctts, edit of 2 frames) + AAC (3
/// samples, empty edit 100 ms then priming edit 1024), interleaved in 4 chunks.
fn progressive() -> Vec<u8> {
    let v: Vec<Vec<u8>> = (0..5).map(vsample).collect();
    let a: Vec<Vec<u8>> = (0..3).map(asample).collect();
    // mdat layout: V0 V1 V2 | A0 A1 | V3 V4 | A2
    let order: Vec<&Vec<u8>> = vec![&v[0], &v[1], &v[2], &a[0], &a[1], &v[3], &v[4], &a[2]];
    let mdat_payload: Vec<u8> = order.iter().flat_map(|x| x.iter().copied()).collect();
    let build = |base: u32| -> Vec<u8> {
        let vc = [base, base + 21 + 10];
        let ac = [base + 21, base + 21 + 10 + 14];
        let vt = trak(
            1,
            b"vide",
            12800,
            &avc1(160, 120, b"avc1", &[]),
            Some(&[(200, 1024)]),
            &[(5, 512)],
            Some(&[(1, 1024), (1, 2048), (2, 512), (1, 1024)]),
            Some(&[1]),
            &[(1, 3), (2, 2)],
            &[7; 5],
            &vc,
        );
        let at = trak(
            2,
            b"soun",
            44100,
            &mp4a(44100, 2, &[0x12, 0x10]),
            Some(&[(100, -1), (46, 1024)]),
            &[(3, 1024)],
            None,
            None,
            &[(1, 2), (2, 1)],
            &[5; 3],
            &ac,
        );
        bx(b"moov", &cat(&[&mvhd(1000, 200), &vt, &at]))
    };
    let f = ftyp();
    let moov0 = build(0);
    let base = (f.len() + moov0.len() + 8) as u32;
    let moov = build(base);
    assert_eq!(moov.len(), moov0.len());
    cat(&[&f, &moov, &bx(b"mdat", &mdat_payload)])
}

fn drain(d: &mut Mp4Demuxer) -> (Vec<Packet>, Option<Error>) {
    let mut v = Vec::new();
    for _ in 0..100_000 {
        match d.next_packet() {
            Ok(Some(p)) => v.push(p),
            Ok(None) => return (v, None),
            Err(e) => {
                assert!(matches!(d.next_packet(), Ok(None)), "Ok(None) after an error");
                return (v, Some(e));
            }
        }
    }
    panic!("demuxer does not end");
}

#[test]
fn audio_track_reports_its_start_priming_and_padding() {
    let d = Mp4Demuxer::from_reader(Cursor::new(progressive())).unwrap();
    let s = d.streams();
    // Audio: edit at media_time 1024 for 2029 ticks; three 1024-sample frames end at 3072.
    assert_eq!((s[1].start, s[1].encoder_delay, s[1].padding), (Some(0), 1024, 3072 - 1024 - 2029));
    // Video: the edit is a composition delay, not priming.
    assert_eq!((s[0].start, s[0].encoder_delay, s[0].padding), (Some(0), 0, 0));
}

#[test]
fn progressive_ctts_and_edit_lists() {
    let file = progressive();
    let mut d = Mp4Demuxer::from_reader(Cursor::new(file)).unwrap();
    let s = d.streams().to_vec();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].codec, Codec::H264);
    assert_eq!((s[0].width, s[0].height, s[0].timebase, s[0].id), (160, 120, 12800, 1));
    assert_eq!(&s[0].config[..], &avcc()[..]);
    assert_eq!(s[0].presentation_end, Some(2560)); // 200 ms of 12800
    assert_eq!(s[0].language.as_deref(), Some("eng"));
    assert_eq!(s[1].codec, Codec::Aac);
    assert_eq!((s[1].sample_rate, s[1].channels, s[1].timebase), (44100, 2, 44100));
    assert_eq!(&s[1].config[..], &[0x12, 0x10]);
    assert_eq!(s[1].presentation_end, Some(4410 + 2029)); // 100 ms delay + 46 ms
    assert_eq!(s[0].declared_duration, Some(rescale(200, 1000, 12800)));

    let (p, err) = drain(&mut d);
    assert!(err.is_none());
    let order: Vec<usize> = p.iter().map(|p| p.stream).collect();
    assert_eq!(order, vec![0, 0, 0, 1, 1, 0, 0, 1], "file-offset interleaving");
    let v: Vec<&Packet> = p.iter().filter(|p| p.stream == 0).collect();
    let pts: Vec<i64> = v.iter().map(|p| p.pts).collect();
    let dts: Vec<i64> = v.iter().map(|p| p.dts).collect();
    assert_eq!(pts, vec![0, 1536, 512, 1024, 2048]);
    assert_eq!(dts, vec![-1024, -512, 0, 512, 1024]);
    assert_eq!(v.iter().map(|p| p.keyframe).collect::<Vec<_>>(), vec![true, false, false, false, false]);
    assert_eq!(v[0].duration, 512);
    assert_eq!(&v[0].data[..], &[0, 0, 0, 1, 0x65, 0, 0]);
    assert_eq!(&v[3].data[..], &[0, 0, 0, 1, 0x41, 3, 3]);
    let a: Vec<&Packet> = p.iter().filter(|p| p.stream == 1).collect();
    assert_eq!(a.iter().map(|p| p.pts).collect::<Vec<_>>(), vec![3386, 4410, 5434]);
    assert_eq!(&a[2].data[..], &asample(2)[..]);
    assert!(a.iter().all(|p| p.keyframe && p.duration == 1024 && p.pts == p.dts));
}

#[test]
fn sps_fallback_for_size() {
    // Entry says 0x0: the SPS (160x120... whatever it encodes) is used.
    let sps = h264::Sps::parse(SPS).unwrap();
    let e = parse_sample_entry(*b"avc1", &avc1(0, 0, b"avc1", &[])[8..], MediaKind::Video);
    assert_eq!((e.width, e.height), (sps.width, sps.height));
    assert!(e.width > 0);
}

fn mfhd(n: u32) -> Vec<u8> {
    fbx(b"mfhd", 0, 0, &u32s(&[n]))
}

fn fragmented_init(with_audio: bool) -> Vec<u8> {
    let empty = |id: u32, h: &[u8; 4], ts: u32, e: &[u8]| trak(id, h, ts, e, None, &[], None, None, &[], &[], &[]);
    let vt = empty(1, b"vide", 12800, &avc1(320, 240, b"avc1", &[]));
    let at = empty(2, b"soun", 48000, &mp4a(48000, 2, &[0x11, 0x90]));
    let trex = |id: u32, dur: u32, size: u32, flags: u32| fbx(b"trex", 0, 0, &u32s(&[id, 1, dur, size, flags]));
    let mut mvex = fbx(b"mehd", 0, 0, &u32s(&[0xffff_fff0]));
    mvex.extend(trex(1, 512, 7, 0x0101_0000));
    mvex.extend(trex(2, 1024, 5, 0x0200_0000));
    let moov = if with_audio {
        bx(b"moov", &cat(&[&mvhd(1000, 0), &vt, &at, &bx(b"mvex", &mvex)]))
    } else {
        bx(b"moov", &cat(&[&mvhd(1000, 0), &vt, &bx(b"mvex", &mvex)]))
    };
    cat(&[&ftyp(), &moov])
}

/// moof 1: video only, default-base-is-moof, tfdt v1 = 10000, trex defaults, first
/// sample flags. moof 2: two trafs with implicit base offsets, per-sample fields, v1
/// (negative) composition offsets, no tfdt (continues).
fn fragmented() -> Vec<u8> {
    let mut file = fragmented_init(true);
    // moof 1
    let build1 = |data_off: u32| {
        let tfhd = fbx(b"tfhd", 0, 0x2_0000, &u32s(&[1]));
        let tfdt = fbx(b"tfdt", 1, 0, &[0, 0, 0, 0, 0, 0, 0x27, 0x10]);
        let trun = fbx(b"trun", 0, 0x1 | 0x4, &u32s(&[3, data_off, 0x0200_0000]));
        bx(b"moof", &cat(&[&mfhd(1), &bx(b"traf", &cat(&[&tfhd, &tfdt, &trun]))]))
    };
    let l = build1(0).len() as u32;
    let moof1 = build1(l + 8);
    let mdat1: Vec<u8> = (0..3).flat_map(vsample).collect();
    file.extend(moof1);
    file.extend(bx(b"mdat", &mdat1));
    // moof 2
    let moof2_start = file.len() as u32;
    let build2 = |data_off: u32| {
        let tfhd_v = fbx(b"tfhd", 0, 0, &u32s(&[1]));
        let trun_v = fbx(
            b"trun",
            1,
            0x1 | 0x100 | 0x200 | 0x400 | 0x800,
            &u32s(&[2, data_off, 512, 7, 0x0200_0000, 0, 512, 7, 0x0101_0000, (-512i32) as u32]),
        );
        let tfhd_a = fbx(b"tfhd", 0, 0x8, &u32s(&[2, 1024]));
        let tfdt_a = fbx(b"tfdt", 0, 0, &u32s(&[2048]));
        let trun_a = fbx(b"trun", 0, 0x1, &u32s(&[2, 0]));
        bx(
            b"moof",
            &cat(&[
                &mfhd(2),
                &bx(b"traf", &cat(&[&tfhd_v, &trun_v])),
                &bx(b"traf", &cat(&[&tfhd_a, &tfdt_a, &trun_a])),
            ]),
        )
    };
    let l = build2(0).len() as u32;
    file.extend(build2(l + 8));
    let mut mdat2: Vec<u8> = (3..5).flat_map(vsample).collect();
    mdat2.extend((0..2).flat_map(asample));
    file.extend(bx(b"mdat", &mdat2));
    let _ = moof2_start;
    file
}

#[test]
fn fragmented_trex_tfdt_and_implicit_offsets() {
    let mut d = Mp4Demuxer::from_reader(Cursor::new(fragmented())).unwrap();
    let s = d.streams().to_vec();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].width, s[0].height), (320, 240));
    assert_eq!(s[0].presentation_end, None);
    // mehd 0xfffffff0 ms: informational only.
    assert_eq!(s[0].declared_duration, Some(rescale(0xffff_fff0, 1000, 12800)));
    let (p, err) = drain(&mut d);
    assert!(err.is_none(), "{err:?}");
    let v: Vec<&Packet> = p.iter().filter(|p| p.stream == 0).collect();
    // The negative offset (-512) lowers dts by 512 for the whole track.
    assert_eq!(v.iter().map(|p| p.dts).collect::<Vec<_>>(), vec![9488, 10000, 10512, 11024, 11536]);
    assert_eq!(v.iter().map(|p| p.pts).collect::<Vec<_>>(), vec![10000, 10512, 11024, 11536, 11536]);
    assert_eq!(v.iter().map(|p| p.keyframe).collect::<Vec<_>>(), vec![true, false, false, true, false]);
    for (i, p) in v.iter().enumerate() {
        assert_eq!(&p.data[..], &[0, 0, 0, 1, if i == 0 { 0x65 } else { 0x41 }, i as u8, i as u8]);
    }
    let a: Vec<&Packet> = p.iter().filter(|p| p.stream == 1).collect();
    assert_eq!(a.len(), 2);
    assert_eq!(a.iter().map(|p| p.pts).collect::<Vec<_>>(), vec![2048, 3072]);
    assert_eq!(&a[1].data[..], &asample(1)[..]);
    assert_eq!(a[0].duration, 1024);
    // Fragment order: all of moof 1 before moof 2.
    assert_eq!(p.iter().map(|p| p.stream).collect::<Vec<_>>(), vec![0, 0, 0, 0, 0, 1, 1]);
}

#[test]
fn demuxer_is_send() {
    fn send<T: Send>() {}
    send::<Mp4Demuxer>();
}

#[test]
fn truncated_moof_reported_after_complete_fragments() {
    let f = fragmented();
    let moofs: Vec<usize> = f.windows(4).enumerate().filter(|(_, w)| w == b"moof").map(|(i, _)| i - 4).collect();
    assert_eq!(moofs.len(), 2);
    let cut = moofs[1] + 30;
    let mut d = Mp4Demuxer::from_reader(Cursor::new(f[..cut].to_vec())).unwrap();
    let (p, err) = drain(&mut d);
    assert_eq!(p.len(), 3, "the samples of moof 1");
    let e = err.expect("an error").to_string();
    assert!(e.contains(&format!("truncated: moof at offset {}", moofs[1])), "{e}");
}

#[test]
fn init_only_and_no_moov() {
    let e = Mp4Demuxer::from_reader(Cursor::new(fragmented_init(false))).unwrap_err();
    assert!(matches!(e, Error::NoMedia(_)), "{e}");
    let e = Mp4Demuxer::from_reader(Cursor::new(cat(&[&ftyp(), &bx(b"mdat", &[1, 2, 3])]))).unwrap_err();
    assert_eq!(e.to_string(), "invalid data: no moov box (not a playable MP4, or init segment missing)");
    // A media segment without its init segment.
    let f = fragmented();
    let init_len = fragmented_init(true).len();
    let e = Mp4Demuxer::from_reader(Cursor::new(f[init_len..].to_vec())).unwrap_err();
    assert!(e.to_string().contains("no moov box"), "{e}");
}

#[test]
fn encrypted_tracks() {
    let sinf = bx(b"sinf", &cat(&[&bx(b"frma", b"avc1"), &fbx(b"schm", 0, 0, &cat(&[b"cbcs", &u32s(&[0x10000])]))]));
    let enc = avc1(160, 120, b"encv", &sinf);
    let vt = trak(1, b"vide", 12800, &enc, None, &[(1, 512)], None, None, &[(1, 1)], &[7], &[0]);
    let f = cat(&[&ftyp(), &bx(b"moov", &cat(&[&mvhd(1000, 0), &vt]))]);
    match Mp4Demuxer::from_reader(Cursor::new(f)) {
        Err(Error::Encrypted(s)) => assert_eq!(s, "cbcs"),
        other => panic!("expected Encrypted, got {other:?}"),
    }
    // One clear audio track + one encrypted video track: opens, video is "encrypted".
    let at =
        trak(2, b"soun", 44100, &mp4a(44100, 2, &[0x12, 0x10]), None, &[(1, 1024)], None, None, &[(1, 1)], &[5], &[0]);
    let moov = |base: u32| {
        let vt = trak(1, b"vide", 12800, &enc, None, &[(1, 512)], None, None, &[(1, 1)], &[7], &[base]);
        let at = trak(
            2,
            b"soun",
            44100,
            &mp4a(44100, 2, &[0x12, 0x10]),
            None,
            &[(1, 1024)],
            None,
            None,
            &[(1, 1)],
            &[5],
            &[base + 7],
        );
        bx(b"moov", &cat(&[&mvhd(1000, 0), &vt, &at]))
    };
    let _ = at;
    let base = (ftyp().len() + moov(0).len() + 8) as u32;
    let f = cat(&[&ftyp(), &moov(base), &bx(b"mdat", &cat(&[&vsample(0), &asample(0)]))]);
    let mut d = Mp4Demuxer::from_reader(Cursor::new(f)).unwrap();
    assert_eq!(d.streams()[0].codec, Codec::Other("encrypted".into()));
    assert_eq!(d.streams()[1].codec, Codec::Aac);
    let (p, err) = drain(&mut d);
    assert!(err.is_none());
    assert_eq!(p.len(), 2);
    assert_eq!(&p[0].data[..], &vsample(0)[..], "encrypted data is passed through untouched");
}

#[test]
fn other_codecs_by_name() {
    for (fourcc, name) in [
        (b"hvc1", "hevc"),
        (b"hev1", "hevc"),
        (b"vp09", "vp9"),
        (b"av01", "av1"),
        (b"mp4v", "mpeg4"),
        (b"XyZ1", "xyz1"),
    ] {
        let e = parse_sample_entry(*fourcc, &[0u8; 78], MediaKind::Video);
        assert_eq!(e.codec, Some(Codec::Other(name.into())));
    }
    for (fourcc, name) in
        [(b"Opus", "opus"), (b"fLaC", "flac"), (b"ac-3", "ac3"), (b"ec-3", "eac3"), (b"sowt", "pcm_s16le")]
    {
        let e = parse_sample_entry(*fourcc, &[0u8; 28], MediaKind::Audio);
        assert_eq!(e.codec, Some(Codec::Other(name.into())));
    }
    // mp4a with MP3 object type.
    let mut p = vec![0u8; 28];
    let mut es = esds(&[]);
    es[8 + 4 + 5 + 3 + 2] = 0x6b;
    p.extend(es);
    let e = parse_sample_entry(*b"mp4a", &p, MediaKind::Audio);
    assert_eq!(e.codec, Some(Codec::Other("mp3".into())));
}

#[test]
fn truncated_files_never_panic() {
    let file = progressive();
    let frag = fragmented();
    for f in [&file, &frag] {
        for cut in (0..f.len()).step_by(7) {
            let r = Mp4Demuxer::from_reader(Cursor::new(f[..cut].to_vec()));
            if let Ok(mut d) = r {
                let _ = drain(&mut d);
            }
        }
    }
    // Cut inside the mdat: complete samples come out, then one "truncated" error.
    let cut = file.len() - 3;
    let mut d = Mp4Demuxer::from_reader(Cursor::new(file[..cut].to_vec())).unwrap();
    let (p, err) = drain(&mut d);
    assert_eq!(p.len(), 7);
    let err = err.expect("a truncation error").to_string();
    assert!(err.contains("truncated: sample 3 of track 2 at offset"), "{err}");
    assert!(err.contains(&format!("beyond end of file (size {cut})")), "{err}");
    // Cut inside the moov.
    let e = Mp4Demuxer::from_reader(Cursor::new(file[..100].to_vec())).unwrap_err();
    assert!(e.to_string().contains("truncated moov"), "{e}");
}

#[test]
fn absurd_sizes() {
    // Top-level box larger than the file, 64-bit sizes, size 0.
    let mut f = ftyp();
    f.extend(u32s(&[1]));
    f.extend_from_slice(b"free");
    f.extend((u64::MAX - 4).to_be_bytes());
    assert!(Mp4Demuxer::from_reader(Cursor::new(f)).is_err());
    let mut f = ftyp();
    f.extend(u32s(&[0]));
    f.extend_from_slice(b"mdat");
    f.extend([0u8; 100]);
    assert!(matches!(Mp4Demuxer::from_reader(Cursor::new(f)), Err(Error::Invalid(_))));
    // Size smaller than the header as the first box.
    assert!(Mp4Demuxer::from_reader(Cursor::new(vec![0, 0, 0, 4, b'f', b't', b'y', b'p', 0, 0])).is_err());
    // stsz with a constant size and 2^32-1 samples, stts claiming as many, one huge
    // chunk: only what fits in the file is indexed, then "truncated".
    let mut stbl = stsd(&mp4a(44100, 2, &[0x12, 0x10]));
    stbl.extend(tbl(b"stts", 0, &[&[u32::MAX, 1024]]));
    stbl.extend(tbl(b"stsc", 0, &[&[1, u32::MAX, 1]]));
    stbl.extend(fbx(b"stsz", 0, 0, &u32s(&[1000, u32::MAX])));
    stbl.extend(tbl(b"stco", 0, &[&[0]]));
    let mdia = bx(b"mdia", &cat(&[&mdhd(44100, u32::MAX), &hdlr(b"soun"), &bx(b"minf", &bx(b"stbl", &stbl))]));
    let moov = bx(b"moov", &cat(&[&mvhd(1000, u32::MAX), &bx(b"trak", &cat(&[&tkhd(1, 0, 0), &mdia]))]));
    let f = cat(&[&ftyp(), &moov, &bx(b"mdat", &[0u8; 3000])]);
    let mut d = Mp4Demuxer::from_reader(Cursor::new(f)).unwrap();
    let (p, err) = drain(&mut d);
    assert!(p.len() <= 4, "{}", p.len());
    assert!(err.unwrap().to_string().contains("truncated: sample"));
    // stsz entry count larger than its box; a child box overrunning its parent.
    let mut stbl = stsd(&mp4a(44100, 2, &[0x12, 0x10]));
    stbl.extend(tbl(b"stts", 0, &[&[2, 1024]]));
    stbl.extend(tbl(b"stsc", 0, &[&[1, 2, 1]]));
    stbl.extend(fbx(b"stsz", 0, 0, &u32s(&[0, 0x4000_0000, 5])));
    stbl.extend(tbl(b"stco", 0, &[&[0]]));
    let mdia = bx(b"mdia", &cat(&[&mdhd(44100, 0), &hdlr(b"soun"), &bx(b"minf", &bx(b"stbl", &stbl))]));
    let moov = bx(b"moov", &cat(&[&mvhd(1000, 0), &bx(b"trak", &cat(&[&tkhd(1, 0, 0), &mdia]))]));
    let f = cat(&[&ftyp(), &moov]);
    let mut d = Mp4Demuxer::from_reader(Cursor::new(f.clone())).unwrap();
    let (p, _) = drain(&mut d);
    assert_eq!(p.len(), 1);
    let mut bad = f.clone();
    let stsz_at = bad.windows(4).position(|w| w == b"stsz").unwrap() - 4;
    bad[stsz_at..stsz_at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let e = Mp4Demuxer::from_reader(Cursor::new(bad)).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // A trun declaring 4 billion samples with no per-sample fields.
    let mut f = fragmented_init(false);
    let tfhd = fbx(b"tfhd", 0, 0x2_0000 | 0x10, &u32s(&[1, 1]));
    let trun = fbx(b"trun", 0, 0x1, &u32s(&[u32::MAX, 0]));
    f.extend(bx(b"moof", &cat(&[&mfhd(1), &bx(b"traf", &cat(&[&tfhd, &trun]))])));
    f.extend(bx(b"mdat", &[0u8; 64]));
    let mut d = Mp4Demuxer::from_reader(Cursor::new(f)).unwrap();
    let (p, err) = drain(&mut d);
    assert!(p.len() < 200);
    assert!(err.is_some());
}

#[test]
fn probe_box_types() {
    assert!(probe(&ftyp()));
    assert!(probe(b"\0\0\0\x08moov"));
    assert!(probe(b"\0\0\0\0mdat"));
    assert!(probe(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x20"));
    assert!(!probe(b"\0\0\0\x04ftyp"));
    assert!(!probe(b"ID3\x04\0\0\0\0\0\0"));
    assert!(!probe(b"\x47\x40\x00\x10\0\0\0\0"));
    assert!(!probe(b"ftyp"));
}

// ---- corpus and ffmpeg cross-checks (skipped when the files/tools are absent) ----

fn corpus(name: &str) -> Option<std::path::PathBuf> {
    let p = crate::testutil::corpus("media").join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("note: {} absent, skipped", p.display());
        None
    }
}

/// Open, drain, check per-stream dts monotonicity; returns streams and per-stream
/// packet counts and the terminal error.
type Run = (Vec<StreamInfo>, Vec<usize>, Option<Error>, Vec<Vec<Packet>>);

fn run_file(p: &Path) -> Result<Run> {
    let mut d = Mp4Demuxer::open(p)?;
    let s = d.streams().to_vec();
    let (pk, err) = drain(&mut d);
    let mut per: Vec<Vec<Packet>> = vec![Vec::new(); s.len()];
    for p in pk {
        per[p.stream].push(p);
    }
    for (i, v) in per.iter().enumerate() {
        for w in v.windows(2) {
            assert!(
                w[1].dts > w[0].dts,
                "{}: stream {i} dts not increasing: {} then {}",
                p.display(),
                w[0].dts,
                w[1].dts
            );
        }
    }
    Ok((s.clone(), per.iter().map(|v| v.len()).collect(), err, per))
}

#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
fn corpus_files() {
    // (file, codecs in stream order, packets per stream, first pts of stream 0 or None)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [usize], Option<i64>);
    let cases: &[Case] = &[
        ("androidx__sample_fragmented.mp4", &["h264", "aac"], &[30, 46], Some(2002)),
        ("androidx__bbb_1ch_8kHz_aac_lc.m4a", &["aac"], &[26], Some(0)),
        ("androidx__bt601.mov", &["aac", "h264"], &[45, 30], None),
        ("androidx__edit_list_positive_shift.mp4", &["h264", "aac"], &[270, 470], None),
        ("androidx__iibbibb_editlist_videoonly.mp4", &["h264"], &[13], Some(-16384)),
        ("androidx__long_edit_list_audioonly.mp4", &["aac"], &[93], Some(-26342)),
        ("mp4ff__aac_init+1.mp4", &["aac"], &[94], None),
        ("shaka__sintel-video-init+segment.mp4", &["h264"], &[240], None),
        ("androidx__h265_bframes.mp4", &["hevc"], &[30], None),
        ("androidx__sample_partially_fragmented.mp4", &["h264", "aac"], &[30, 45], None),
        ("mp4parser__test-pod.m4a", &["aac", "mjpeg"], &[451, 1], None),
        ("androidx__sample_2_byte_NAL_length.mp4", &["h264", "aac"], &[30, 45], None),
    ];
    for &(name, codecs, counts, first_pts) in cases {
        let Some(p) = corpus(name) else { continue };
        let (s, n, err, per) = run_file(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(s.iter().map(|s| s.codec.name()).collect::<Vec<_>>(), codecs, "{name}");
        assert_eq!(n, counts, "{name}");
        if let Some(fp) = first_pts {
            assert_eq!(per[0][0].pts, fp, "{name}");
        }
        for (st, pk) in s.iter().zip(&per) {
            if st.codec == Codec::H264 {
                assert!(pk.iter().all(|p| h264::looks_like_annexb(&p.data)), "{name}: Annex B");
                assert!(pk[0].keyframe, "{name}");
            }
        }
    }
    if let Some(p) = corpus("androidx__edit_list_positive_shift.mp4") {
        // ffprobe: video start_time 1.000 s (tb 1/15360), audio -1024 (priming).
        let (_, _, _, per) = run_file(&p).unwrap();
        assert_eq!(per[0].iter().map(|p| p.pts).min(), Some(15360));
        assert_eq!(per[1][0].pts, -1024);
    }
    if let Some(p) = corpus("androidx__sample_fragmented.mp4") {
        // Declares ~40 hours; holds about one second. Nothing but the data comes out.
        let (s, _, _, per) = run_file(&p).unwrap();
        let last = per[0].last().unwrap();
        assert!(last.pts < 2 * s[0].timebase as i64);
    }
    if let Some(p) = corpus("mp4ff__cbcs.mp4") {
        assert!(matches!(Mp4Demuxer::open(&p), Err(Error::Encrypted(s)) if s == "cbcs"));
    }
    if let Some(p) = corpus("androidx__video_init.mp4") {
        assert!(matches!(Mp4Demuxer::open(&p), Err(Error::NoMedia(_))));
    }
    if let Some(p) = corpus("shaka__sintel-video-segment.mp4") {
        let e = Mp4Demuxer::open(&p).unwrap_err().to_string();
        assert!(e.contains("no moov box"), "{e}");
    }
    if let Some(p) = corpus("androidx__large_stbl_truncated_after_moov.m4b") {
        let mut d = Mp4Demuxer::open(&p).unwrap();
        let e = d.next_packet().unwrap_err().to_string();
        assert!(e.contains("truncated: sample 1 of track 1"), "{e}");
        assert!(matches!(d.next_packet(), Ok(None)));
    }
}

/// Every MP4-family file of the corpus: opening and draining never panics or hangs.
#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
fn corpus_all_mp4_no_panic() {
    let dir = std::fs::read_dir(crate::testutil::corpus("media")).expect("corpus/media");
    for e in dir.flatten() {
        let p = e.path();
        let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
        if !["mp4", "m4a", "mov", "3gp", "m4s", "m4b", "m4v"].contains(&ext.as_str()) {
            continue;
        }
        let t = std::time::Instant::now();
        if let Ok(mut d) = Mp4Demuxer::open(&p) {
            let _ = drain(&mut d);
        }
        assert!(t.elapsed().as_secs() < 5, "{} too slow", p.display());
    }
}

/// x264 High profile with B-frames + AAC made by ffmpeg: our pts/dts/keyframes must
/// equal ffprobe's.
#[test]
fn matches_ffprobe_on_x264_bframes() {
    use std::process::Command;
    let ok = |c: &str| Command::new(c).arg("-version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok("ffmpeg") || !ok("ffprobe") {
        eprintln!("note: ffmpeg/ffprobe absent, skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("stitch-mp4-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("x264_bframes.mp4");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:sample_rate=44100", "-t", "1", "-c:v", "libx264", "-profile:v", "high"])
        .args(["-bf", "2", "-g", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&f)
        .status()
        .unwrap();
    if !st.success() {
        eprintln!("note: ffmpeg could not encode (no libx264?), skipped");
        return;
    }
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "packet=stream_index,pts,dts,flags,size", "-of", "compact=p=0"])
        .arg(&f)
        .output()
        .unwrap();
    // (stream, pts, dts, key, size)
    let theirs: Vec<(usize, i64, i64, bool, usize)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("stream_index"))
        .map(|l| {
            let kv: std::collections::HashMap<&str, &str> = l.split('|').filter_map(|x| x.split_once('=')).collect();
            let n = |k: &str| kv[k].parse::<i64>().unwrap();
            (n("stream_index") as usize, n("pts"), n("dts"), kv["flags"].starts_with('K'), n("size") as usize)
        })
        .collect();
    let mut d = Mp4Demuxer::open(&f).unwrap();
    let s = d.streams().to_vec();
    assert_eq!(s.iter().map(|s| s.codec.name()).collect::<Vec<_>>(), ["h264", "aac"]);
    let (ours, err) = drain(&mut d);
    assert!(err.is_none());
    for (st, info) in s.iter().enumerate() {
        let a: Vec<&Packet> = ours.iter().filter(|p| p.stream == st).collect();
        let b: Vec<_> = theirs.iter().filter(|p| p.0 == st).collect();
        // FFmpeg drops samples past the end of the edit; we mark them with presentation_end.
        assert!(a.len() >= b.len() && !b.is_empty());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.pts, x.dts, x.keyframe), (y.1, y.2, y.3), "stream {st}");
            assert_eq!(x.data.len(), y.4, "4-byte NAL lengths become 4-byte start codes");
        }
        for x in &a[b.len()..] {
            assert!(x.pts >= info.presentation_end.unwrap());
        }
    }
    // B-frames really are there, and the first presented picture is at 0.
    assert!(ours.iter().any(|p| p.stream == 0 && p.pts != p.dts));
    assert_eq!(ours.iter().filter(|p| p.stream == 0).map(|p| p.pts).min(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- seek ---------------------------------------------------------------------------

use crate::testutil::testdata as fixture;

/// Seek a fresh demuxer of `open()` to `t` (ticks of `tb`) and check the contract of
/// `Demuxer::seek` against reading everything: each stream delivers exactly the tail of its
/// packets (data included), and the interleaving soon is that of the full read; every
/// stream resumes at a sync sample; video at or before the picture showing at `t`, and
/// every picture presented from there on is delivered; audio `AUDIO_PREROLL_FRAMES` before
/// the frame containing `t`. Returns (full, tail).
fn check_seek(open: &dyn Fn() -> Mp4Demuxer, t: i64, tb: u32) -> (Vec<Packet>, Vec<Packet>) {
    let (full, err) = drain(&mut open());
    assert!(err.is_none(), "{err:?}");
    let mut d = open();
    let streams = d.streams().to_vec();
    assert!(d.seek(t, tb), "the MP4 demuxer seeks");
    let (tail, err) = drain(&mut d);
    assert!(err.is_none(), "{err:?}");
    // The packet order soon is that of the full read (both follow the file's layout): within
    // the first two seconds.
    let same_from = (0..=tail.len()).find(|&i| full.ends_with(&tail[i..])).unwrap();
    let secs = |p: &Packet| p.dts as f64 / streams[p.stream].timebase as f64;
    if let Some(first) = tail.first() {
        let span = tail[..same_from].iter().map(|p| secs(p) - secs(first)).fold(0f64, f64::max);
        assert!(span <= 2.0, "seek to {t}/{tb}: order differs up to packet {same_from} of {} ({span:.3}s)", tail.len());
    }
    for s in &streams {
        let ts = rescale(t, tb, s.timebase);
        let all: Vec<&Packet> = full.iter().filter(|p| p.stream == s.index).collect();
        let got: Vec<&Packet> = tail.iter().filter(|p| p.stream == s.index).collect();
        assert!(all.ends_with(&got), "stream {}: not the tail of its packets", s.index);
        let first = got.first().unwrap_or_else(|| panic!("stream {} gets no packet after seeking to {ts}", s.index));
        assert!(first.keyframe, "stream {} resumes at a sync sample", s.index);
        match s.kind {
            MediaKind::Video => {
                let shown = all.iter().map(|p| p.pts).filter(|&p| p <= ts).max().unwrap_or(i64::MIN);
                let need = all.iter().filter(|p| p.pts >= shown).count();
                assert_eq!(got.iter().filter(|p| p.pts >= shown).count(), need, "pictures from {shown} delivered");
                if shown > i64::MIN {
                    assert!(first.pts <= shown, "video resumes at {} after the picture at {shown}", first.pts);
                }
            }
            MediaKind::Audio => {
                if all[0].pts > ts {
                    assert_eq!(got.len(), all.len(), "seek before the start: everything");
                    continue;
                }
                let at = all.iter().rposition(|p| p.pts <= ts).unwrap();
                let want = at.saturating_sub(AUDIO_PREROLL_FRAMES);
                assert_eq!(all.len() - got.len(), want, "audio resumes {AUDIO_PREROLL_FRAMES} frames before {ts}");
            }
        }
    }
    (full, tail)
}

fn video_start(tail: &[Packet], streams: &[StreamInfo]) -> Option<f64> {
    let p = tail.iter().find(|p| streams[p.stream].kind == MediaKind::Video)?;
    Some(p.pts as f64 / streams[p.stream].timebase as f64)
}

/// x264 High with 3 B-frames, closed GOP of 25 (an IDR every second), AAC with edit lists,
/// moov after mdat.
#[test]
fn seek_progressive_with_bframes() {
    let path = fixture("a_high_bframes.mp4");
    let open = || Mp4Demuxer::open(&path).unwrap();
    let streams = open().streams().to_vec();
    assert_eq!(streams[0].kind, MediaKind::Video);
    // (t ms, expected first video pts s)
    for (t, key) in [
        (0, 0.0),
        (500, 0.0),
        (999, 0.0),
        (1000, 1.0),
        (1010, 1.0),
        // The picture at 1.96 s is the P-frame decoded before the IDR at 2.0 s.
        (1990, 1.0),
        (2000, 2.0),
        (2500, 2.0),
        (3999, 3.0),
        // Past the end: the last GOP and the last audio frames.
        (100_000, 3.0),
    ] {
        let (full, tail) = check_seek(&open, t, 1000);
        assert_eq!(video_start(&tail, &streams), Some(key), "seek to {t} ms");
        if t >= 1000 {
            assert!(tail.len() < full.len(), "seek to {t} ms skips something");
        }
    }
    // Before the start: everything.
    let (full, tail) = check_seek(&open, -5000, 1000);
    assert_eq!(full, tail);
    // In another timebase (90 kHz), same result.
    let (_, tail) = check_seek(&open, 2_500 * 90, 90_000);
    assert_eq!(video_start(&tail, &streams), Some(2.0));
}

/// Fragmented: empty moov, one moof per GOP (1 s); samples of all fragments in one table.
#[test]
fn seek_fragmented() {
    let path = fixture("f_fragmented.mp4");
    let open = || Mp4Demuxer::open(&path).unwrap();
    let streams = open().streams().to_vec();
    for (t, key) in [(0, 0.08), (500, 0.08), (1500, 1.08), (2200, 2.08), (3050, 2.08), (60_000, 2.08)] {
        let (full, tail) = check_seek(&open, t, 1000);
        assert_eq!(video_start(&tail, &streams), Some(key), "seek to {t} ms");
        if t >= 1500 {
            assert!(tail.len() < full.len());
        }
    }
}

/// The small synthetic files (edit lists, negative composition offsets, implicit fragment
/// offsets): any target gives a tail of the full list.
#[test]
fn seek_synthetic_files() {
    let p = progressive();
    for t in [-100, 0, 300, 512, 1024, 1536, 2048, 4000, 1 << 40] {
        check_seek(&|| Mp4Demuxer::from_reader(Cursor::new(p.clone())).unwrap(), t, 12800);
    }
    let f = fragmented();
    for t in [0, 10000, 11024, 11535, 11536, 20000] {
        let (_, tail) = check_seek(&|| Mp4Demuxer::from_reader(Cursor::new(f.clone())).unwrap(), t, 12800);
        let v: Vec<&Packet> = tail.iter().filter(|p| p.stream == 0).collect();
        // Sync samples: pts 10000 (moof 1) and 11536 (moof 2); the picture at 11024 is the
        // last of moof 1's GOP.
        let want = if t >= 11536 { 11536 } else { 10000 };
        assert_eq!(v[0].pts, want, "seek to {t}");
    }
}

/// Video only, 12800 Hz, 512 per frame. Decode order -> presentation frame:
/// I1 P4 B2 B3 | I7 B5 B6 P10 B8 B9 | I11 P14 B12 B13. The second GOP is open: its I (pts 7)
/// is a sync sample followed by pictures presented before it (5, 6), which reference the
/// first GOP, so decoding cannot start there. The third I is a clean entry point.
fn open_gop() -> Vec<u8> {
    let pts_frames: [u32; 14] = [1, 4, 2, 3, 7, 5, 6, 10, 8, 9, 11, 14, 12, 13];
    let ctts: Vec<(u32, i32)> = pts_frames.iter().enumerate().map(|(i, &p)| (1, (p as i32 - i as i32) * 512)).collect();
    let samples: Vec<Vec<u8>> = (0..14).map(|i| vsample(if [0, 4, 10].contains(&i) { 0 } else { i })).collect();
    let mdat: Vec<u8> = samples.concat();
    let sizes: Vec<u32> = samples.iter().map(|s| s.len() as u32).collect();
    let build = |base: u32| {
        let vt = trak(
            1,
            b"vide",
            12800,
            &avc1(160, 120, b"avc1", &[]),
            None,
            &[(14, 512)],
            Some(&ctts),
            Some(&[1, 5, 11]),
            &[(1, 14)],
            &sizes,
            &[base],
        );
        bx(b"moov", &cat(&[&mvhd(1000, 0), &vt]))
    };
    let f = ftyp();
    let base = (f.len() + build(0).len() + 8) as u32;
    cat(&[&f, &build(base), &bx(b"mdat", &mdat)])
}

#[test]
fn seek_skips_open_gop_entry_points() {
    let file = open_gop();
    let open = || Mp4Demuxer::from_reader(Cursor::new(file.clone())).unwrap();
    let f = |n: i64| n * 512;
    // (t, first delivered pts): inside the open GOP decoding must start at the first I.
    for (t, first) in [(f(1), f(1)), (f(7), f(1)), (f(9) + 100, f(1)), (f(11), f(11)), (f(12), f(11)), (f(99), f(11))] {
        let (_, tail) = check_seek(&open, t, 12800);
        assert_eq!(tail[0].pts, first, "seek to {t}");
    }
}

/// Seeking is repeatable and works after the end; the default of other demuxers is no-op.
#[test]
fn seek_again_and_default() {
    let path = fixture("a_high_bframes.mp4");
    let mut d = Mp4Demuxer::open(&path).unwrap();
    let (full, _) = drain(&mut d);
    assert!(matches!(d.next_packet(), Ok(None)));
    assert!(d.seek(2000, 1000));
    let (a, _) = drain(&mut d);
    assert!(d.seek(0, 1000));
    let (b, _) = drain(&mut d);
    assert_eq!(b, full, "seek to 0 after the end reads everything again");
    assert!(d.seek(3000, 1000) && d.seek(2000, 1000));
    let (c, _) = drain(&mut d);
    assert_eq!(c, a);
    assert!(!d.seek(1, 0), "a zero timebase is refused");

    let (_, mut ts) = crate::demux::open(&fixture("e_clip.ts")).unwrap();
    let first = ts.next_packet().unwrap();
    assert!(!ts.seek(90_000 * 2, 90_000), "TS keeps the default: no seek");
    let (_, mut ts2) = crate::demux::open(&fixture("e_clip.ts")).unwrap();
    assert_eq!(ts2.next_packet().unwrap(), first);
    assert_eq!(ts.next_packet().unwrap(), ts2.next_packet().unwrap(), "and reading goes on unchanged");
}

/// Decoding from the seek position gives the pictures and sound decoding everything gives,
/// from the target on: pictures identical (B-frames, closed GOPs); audio identical but for
/// the AAC decoder's noise substitution, whose random state depends on all earlier frames
/// (differences of an LSB or so).
#[test]
fn decoding_after_seek_matches_decoding_everything() {
    use crate::frame::{AudioFrame, VideoFrame};
    fn decode(path: &Path, seek: Option<i64>) -> (Vec<VideoFrame>, Vec<AudioFrame>) {
        let mut d = Mp4Demuxer::open(path).unwrap();
        let s = d.streams().to_vec();
        if let Some(t) = seek {
            assert!(d.seek(t, 1000));
        }
        let mut vd = crate::decode::open_video(&s[0], Default::default()).unwrap();
        let mut ad = crate::decode::open_audio(&s[1]).unwrap();
        let (mut v, mut a) = (Vec::new(), Vec::new());
        while let Some(p) = d.next_packet().unwrap() {
            if p.stream == 0 {
                vd.decode(&p, &mut v).unwrap();
            } else {
                ad.decode(&p, &mut a).unwrap();
            }
        }
        vd.flush(&mut v).unwrap();
        assert_eq!(vd.errors() + ad.errors(), 0, "no decoding errors after the seek");
        (v, a)
    }
    for (name, t) in [("a_high_bframes.mp4", 1990), ("a_high_bframes.mp4", 2500), ("f_fragmented.mp4", 1500)] {
        let path = fixture(name);
        let (v0, a0) = decode(&path, None);
        let (v1, a1) = decode(&path, Some(t));
        let t90 = t * 90;
        let t48 = t * 48;
        assert!(v1.len() < v0.len() && a1.len() < a0.len(), "{name}: the seek skipped something");
        // Every picture from the one showing at t on, identical.
        let shown = v0.iter().map(|f| f.pts).filter(|&p| p <= t90).max().unwrap();
        let want: Vec<&VideoFrame> = v0.iter().filter(|f| f.pts >= shown).collect();
        let got: Vec<&VideoFrame> = v1.iter().filter(|f| f.pts >= shown).collect();
        assert_eq!(got.len(), want.len(), "{name} at {t}: pictures from {shown}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.pts, &g.picture), (w.pts, &w.picture), "{name} at {t}: picture at {}", w.pts);
        }
        // Audio frames from t on: same timestamps, same samples but for noise substitution.
        let a0: Vec<&AudioFrame> = a0.iter().filter(|f| f.pts + f.len() as i64 > t48).collect();
        let a1: Vec<&AudioFrame> = a1.iter().filter(|f| f.pts + f.len() as i64 > t48).collect();
        assert_eq!(a0.len(), a1.len());
        let mut worst = 0f32;
        for (x, y) in a0.iter().zip(&a1) {
            assert_eq!((x.pts, x.len()), (y.pts, y.len()));
            let d = x.samples.iter().zip(&y.samples).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            worst = worst.max(d);
        }
        eprintln!("{name} at {t}: audio differs by up to {worst}");
        assert!(worst <= 1e-3, "{name} at {t}: audio differs by {worst}");
    }
}
