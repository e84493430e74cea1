//! Unit tests of `crate::demux::ts` (kept in `tests/` beside the code: they may run
//! Debian's ffmpeg/ffprobe as an independent oracle, which product code never does).

use super::*;
use crate::codec::aac::AdtsHeader;
use crate::codec::bits::BitWriter;
use std::io::Cursor;

pub(crate) const VPID: u16 = 0x100;
pub(crate) const APID: u16 = 0x101;
pub(crate) const PMT_PID: u16 = 0x1000;

/// Writes TS packets with per-PID continuity counters.
pub(crate) struct W {
    pub out: Vec<u8>,
    cc: Vec<u8>,
    /// Put a PCR adaptation field on every packet of this PID.
    pub pcr_pid: Option<u16>,
}

impl W {
    pub fn new() -> W {
        W { out: Vec::new(), cc: vec![0; 8192], pcr_pid: None }
    }
    /// One packet; `af` is the adaptation field body (after the length byte).
    pub fn packet(&mut self, pid: u16, pusi: bool, af: Option<&[u8]>, payload: &[u8]) {
        let mut p = vec![0x47, ((pusi as u8) << 6) | (pid >> 8) as u8, pid as u8, 0];
        let afc = match (af.is_some(), !payload.is_empty()) {
            (true, true) => 3,
            (true, false) => 2,
            _ => 1,
        };
        let cc = self.cc[pid as usize];
        if afc & 1 != 0 {
            self.cc[pid as usize] = (cc + 1) & 15;
        }
        p[3] = (afc << 4) | cc;
        if let Some(af) = af {
            p.push(af.len() as u8);
            p.extend_from_slice(af);
        }
        p.extend_from_slice(payload);
        assert_eq!(p.len(), 188, "test packet size");
        self.out.extend_from_slice(&p);
    }
    /// An adaptation-field-only packet (CC not incremented).
    pub fn af_only(&mut self, pid: u16) {
        let mut af = vec![0x00];
        af.resize(183, 0xff);
        self.packet(pid, false, Some(&af), &[]);
    }
    pub fn psi(&mut self, pid: u16, section: &[u8]) {
        let mut pl = vec![0u8];
        pl.extend_from_slice(section);
        pl.resize(184, 0xff);
        self.packet(pid, true, None, &pl);
    }
    /// A PES split over packets, the last one padded with adaptation-field stuffing.
    pub fn pes(&mut self, pid: u16, sid: u8, pts: Option<u64>, dts: Option<u64>, data: &[u8], bounded: bool) {
        let mut opt = Vec::new();
        let flags = match (pts, dts) {
            (Some(p), Some(d)) => {
                opt.extend_from_slice(&encode_pts(3, p));
                opt.extend_from_slice(&encode_pts(1, d));
                0xc0
            }
            (Some(p), None) => {
                opt.extend_from_slice(&encode_pts(2, p));
                0x80
            }
            _ => 0,
        };
        let mut pes = vec![0, 0, 1, sid, 0, 0, 0x80, flags, opt.len() as u8];
        pes.extend_from_slice(&opt);
        pes.extend_from_slice(data);
        if bounded {
            let l = (pes.len() - 6) as u16;
            pes[4..6].copy_from_slice(&l.to_be_bytes());
        }
        let mut pos = 0;
        let mut first = true;
        while pos < pes.len() {
            let rest = pes.len() - pos;
            let mut af: Option<Vec<u8>> = None;
            if self.pcr_pid == Some(pid) {
                let mut a = vec![0x10];
                a.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x7e, 0x00]);
                af = Some(a);
            }
            let room = 184 - af.as_ref().map(|a| a.len() + 1).unwrap_or(0);
            let n = rest.min(room);
            if n < room {
                // stuffing: grow the adaptation field to fill the packet
                let a = af.get_or_insert_with(Vec::new);
                let total = 183 - n; // af body length
                if total > 0 && a.is_empty() {
                    a.push(0x00);
                }
                a.resize(total, 0xff);
            }
            self.packet(pid, first, af.as_deref(), &pes[pos..pos + n]);
            pos += n;
            first = false;
        }
    }
}

pub(crate) fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xb0 | (len >> 8) as u8, len as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xc1, 0, 0]);
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}
pub(crate) fn pat(pmt_pid: u16) -> Vec<u8> {
    section(0, 1, &[0, 1, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8])
}
pub(crate) fn pmt(streams: &[(u8, u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![0xe0 | (VPID >> 8) as u8, VPID as u8, 0xf0, 0];
    for (t, pid, d) in streams {
        b.push(*t);
        b.extend_from_slice(&[0xe0 | (pid >> 8) as u8, *pid as u8, 0xf0, d.len() as u8]);
        b.extend_from_slice(d);
    }
    section(2, 1, &b)
}

fn ue(w: &mut BitWriter, v: u32) {
    let lz = 31 - (v + 1).leading_zeros();
    w.write(lz, 0);
    w.write(lz + 1, v + 1);
}
/// A Baseline SPS for 160x120 (160x128 macroblocks, 8 lines cropped).
pub(crate) fn sps() -> Vec<u8> {
    let mut w = BitWriter::new();
    w.write(8, 66);
    w.write(8, 0xc0);
    w.write(8, 30);
    ue(&mut w, 0); // sps id
    ue(&mut w, 0); // log2_max_frame_num_minus4
    ue(&mut w, 2); // poc type
    ue(&mut w, 1); // max_num_ref_frames
    w.write(1, 0);
    ue(&mut w, 9);
    ue(&mut w, 7);
    w.write(1, 1); // frame_mbs_only
    w.write(1, 1); // direct_8x8
    w.write(1, 1); // cropping
    ue(&mut w, 0);
    ue(&mut w, 0);
    ue(&mut w, 0);
    ue(&mut w, 4);
    w.write(1, 0); // vui
    w.write(1, 1); // stop bit
    let mut v = vec![0x67];
    v.extend_from_slice(&w.finish());
    v
}
pub(crate) const PPS: [u8; 4] = [0x68, 0xce, 0x38, 0x80];

pub(crate) fn au(k: usize, idr: bool, size: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0x09, 0xf0];
    if idr {
        h264::push_annexb(&mut v, &sps());
        h264::push_annexb(&mut v, &PPS);
    }
    let mut slice = vec![if idr { 0x65 } else { 0x41 }];
    slice.extend((0..size).map(|j| ((k * 31 + j * 7) % 200 + 1) as u8));
    h264::push_annexb(&mut v, &slice);
    v
}
pub(crate) fn adts_frame(k: usize, payload: usize) -> Vec<u8> {
    let mut v = AdtsHeader::write(&AudioConfig::lc(48000, 2), payload).to_vec();
    v.extend((0..payload).map(|j| ((k * 13 + j * 3) % 200 + 20) as u8));
    v
}

pub(crate) fn demux_bytes(b: Vec<u8>) -> Result<(Vec<StreamInfo>, Vec<Packet>)> {
    let mut d = TsDemuxer::from_reader(Cursor::new(b))?;
    let mut pk = Vec::new();
    while let Some(p) = d.next_packet()? {
        pk.push(p);
    }
    Ok((d.streams().to_vec(), pk))
}

const T0: u64 = 126_000;

/// (stream, pts, dts, keyframe, size, checksum) per packet: compact for assertions.
pub(crate) fn summary(pk: &[Packet]) -> Vec<(usize, i64, i64, bool, usize, u32)> {
    pk.iter().map(|p| (p.stream, p.pts, p.dts, p.keyframe, p.data.len(), crc32_mpeg2(&p.data))).collect()
}

/// 10 video AUs (B-frame-like pts/dts) and 10 audio PES of 3 ADTS frames each.
pub(crate) fn sample(w: &mut W, t0: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[]), (0x0f, APID, &[0x0a, 4, b'e', b'n', b'g', 0])]));
    let mut vids = Vec::new();
    let mut auds = Vec::new();
    for k in 0..10u64 {
        let a = au(k as usize, k % 5 == 0, 900 + 37 * k as usize);
        w.pes(VPID, 0xe0, Some(t0 + (k + 1) * 3000), Some(t0 + k * 3000), &a, false);
        vids.push(a);
        if k % 3 == 1 {
            w.af_only(VPID);
        }
        let mut pes = Vec::new();
        for f in 0..3 {
            let fr = adts_frame(k as usize * 3 + f, 100 + f * 50);
            auds.push(fr[7..].to_vec());
            pes.extend_from_slice(&fr);
        }
        w.pes(APID, 0xc0, Some(t0 + k * 5760), None, &pes, true);
    }
    (vids, auds)
}

#[test]
fn pts_roundtrip_and_crc() {
    for v in [0u64, 1, 90_000, (1 << 33) - 1, 0x1_2345_6789] {
        assert_eq!(parse_pts(&encode_pts(2, v)), Some(v));
    }
    assert_eq!(parse_pts(&[0x21, 0, 1, 0]), None);
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    assert_eq!(unwrap_pts(10, PTS_WRAP - 10), PTS_WRAP + 10);
    assert_eq!(unwrap_pts((PTS_WRAP - 10) as u64, 10), -10);
    assert_eq!(unwrap_pts(5000, 3000 + 3 * PTS_WRAP), 5000 + 3 * PTS_WRAP);
}

#[test]
fn packet_view() {
    let mut w = W::new();
    w.pcr_pid = Some(VPID);
    w.pes(VPID, 0xe0, Some(1), None, &[1, 2, 3], false);
    let p = TsPacket::parse(&w.out).unwrap();
    assert_eq!((p.pid(), p.pusi(), p.cc(), p.afc()), (VPID, true, 0, 3));
    assert_eq!(p.pcr(), Some((0x12345678u64 << 1) * 300));
    assert_eq!(p.payload().unwrap().len(), 3 + 14);
    assert!(TsPacket::parse(&w.out[1..]).is_none());
    assert!(TsPacket::parse(&w.out[..100]).is_none());
}

#[test]
fn demuxes_video_and_audio() {
    let mut w = W::new();
    let (vids, auds) = sample(&mut w, T0);
    let (st, pk) = demux_bytes(w.out).unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].codec, Codec::H264);
    assert_eq!((st[0].width, st[0].height, st[0].id, st[0].timebase), (160, 120, VPID as u32, 90_000));
    let cfg = AvcConfig::parse(&st[0].config).unwrap();
    assert_eq!(cfg.sps, vec![sps()]);
    assert_eq!(cfg.pps, vec![PPS.to_vec()]);
    assert_eq!(st[1].codec, Codec::Aac);
    assert_eq!(&st[1].config[..], &[0x11, 0x90]);
    assert_eq!((st[1].sample_rate, st[1].channels), (48000, 2));
    assert_eq!(st[1].language.as_deref(), Some("eng"));

    let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).collect();
    let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).collect();
    assert_eq!(v.len(), 10);
    assert_eq!(a.len(), 30);
    // File order: a video PES is complete when the next one starts; audio PES (with a
    // PES_packet_length) as soon as their last byte arrives.
    let order: Vec<usize> = pk.iter().take(8).map(|p| p.stream).collect();
    assert_eq!(order, [1, 1, 1, 0, 1, 1, 1, 0]);
    for (k, p) in v.iter().enumerate() {
        assert_eq!(&p.data[..], &vids[k][..], "video AU {k}");
        assert_eq!(p.dts, (T0 + k as u64 * 3000) as i64);
        assert_eq!(p.pts, (T0 + (k as u64 + 1) * 3000) as i64);
        assert_eq!(p.keyframe, k % 5 == 0);
    }
    for (k, p) in a.iter().enumerate() {
        assert_eq!(&p.data[..], &auds[k][..], "audio frame {k}");
        assert_eq!(p.pts, T0 as i64 + k as i64 * 1920);
        assert_eq!((p.dts, p.duration, p.keyframe), (p.pts, 1920, true));
    }
}

#[test]
fn pcr_adaptation_fields_and_m2ts_and_junk() {
    let mut w = W::new();
    w.pcr_pid = Some(VPID);
    let (vids, _) = sample(&mut w, T0);
    let (_, base) = demux_bytes(w.out.clone()).unwrap();
    assert_eq!(base.iter().filter(|p| p.stream == 0).count(), vids.len());
    assert_eq!(base.iter().find(|p| p.stream == 0).unwrap().data, Bytes::from(vids[0].clone()));
    // M2TS: 4-byte prefix per packet.
    let m2ts: Vec<u8> = w.out.chunks(188).flat_map(|c| [0x00, 0x11, 0x22, 0x33].iter().chain(c).copied()).collect();
    assert!(probe(&m2ts));
    assert_eq!(summary(&demux_bytes(m2ts).unwrap().1), summary(&base));
    // 204-byte packets.
    let rs: Vec<u8> = w.out.chunks(188).flat_map(|c| c.iter().copied().chain([0x47u8; 16])).collect();
    assert_eq!(summary(&demux_bytes(rs).unwrap().1), summary(&base));
    // Junk (with sync-looking bytes) before the first packet.
    let mut junk: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    junk.extend_from_slice(&w.out);
    assert!(!probe(&junk));
    assert_eq!(summary(&demux_bytes(junk).unwrap().1), summary(&base));
    // Junk in the middle (a partial packet), after the PMT.
    let mut mid = w.out[..188 * 5].to_vec();
    mid.extend_from_slice(&[0x47, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    mid.extend_from_slice(&w.out[188 * 5..]);
    assert_eq!(summary(&demux_bytes(mid).unwrap().1), summary(&base));
}

#[test]
fn pts_rollover_is_unwrapped() {
    let mut w = W::new();
    let t0 = (1u64 << 33) - 4 * 3000 - 50;
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[]), (0x0f, APID, &[])]));
    for k in 0..10u64 {
        w.pes(VPID, 0xe0, Some(t0 + (k + 1) * 3000), Some(t0 + k * 3000), &au(k as usize, k == 0, 300), false);
        w.pes(APID, 0xc0, Some(t0 + 10 + k * 1920), None, &adts_frame(k as usize, 100), true);
    }
    let (_, pk) = demux_bytes(w.out).unwrap();
    let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).collect();
    let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).collect();
    assert_eq!((v.len(), a.len()), (10, 10));
    for (k, p) in v.iter().enumerate() {
        assert_eq!(p.dts, (t0 + k as u64 * 3000) as i64);
        assert_eq!(p.pts, (t0 + (k as u64 + 1) * 3000) as i64);
    }
    for (k, p) in a.iter().enumerate() {
        assert_eq!(p.pts, (t0 + 10 + k as u64 * 1920) as i64);
    }
    assert!(v[9].dts > PTS_WRAP && a[9].pts > PTS_WRAP);
}

#[test]
fn adts_split_across_pes_and_garbage() {
    let mut es = Vec::new();
    let mut starts = Vec::new();
    let mut raws = Vec::new();
    for k in 0..40 {
        starts.push(es.len());
        let f = adts_frame(k, 90 + (k * 17) % 300);
        raws.push(f[7..].to_vec());
        es.extend_from_slice(&f);
    }
    let t0 = 900_000u64;
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0x0f, APID, &[])]));
    // Garbage (including a false syncword) before the first frame of the first PES.
    let garbage = [0u8, 0x12, 0xff, 0xf1, 0x50, 0x80, 0x3f, 0xff, 0xfc, 0xff, 0x00];
    let mut pos = 0;
    let mut chunk = 333;
    while pos < es.len() {
        let end = (pos + chunk).min(es.len());
        let first = starts.iter().position(|&s| s >= pos && s < end);
        let pts = first.map(|k| t0 + rescale(k as i64 * 1024, 48000, 90000) as u64);
        let mut data = Vec::new();
        if pos == 0 {
            data.extend_from_slice(&garbage);
        }
        data.extend_from_slice(&es[pos..end]);
        w.pes(APID, 0xc0, pts, None, &data, pos % 2 == 0);
        pos = end;
        chunk = if chunk == 333 { 97 } else { 333 };
    }
    let (st, pk) = demux_bytes(w.out).unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(pk.len(), 40);
    for (k, p) in pk.iter().enumerate() {
        assert_eq!(&p.data[..], &raws[k][..], "frame {k}");
        assert_eq!(p.pts, t0 as i64 + rescale(k as i64 * 1024, 48000, 90000), "frame {k}");
    }
}

#[test]
fn lost_packet_drops_only_that_pes() {
    let mut w = W::new();
    let (vids, auds) = sample(&mut w, T0);
    let pk_of = |b: &[u8]| TsPacket::parse(b).map(|p| (p.pid(), p.pusi())).unwrap();
    let pkts: Vec<&[u8]> = w.out.chunks(188).collect();
    // Drop the 3rd packet of the 4th video PES and the 2nd packet of the 6th audio PES.
    let mut vstarts = 0;
    let mut astarts = 0;
    let mut since = 0;
    let mut cur = 0u16;
    let mut out = Vec::new();
    for p in pkts {
        let (pid, pusi) = pk_of(p);
        if pusi && pid == VPID {
            vstarts += 1;
            cur = VPID;
            since = 0;
        } else if pusi && pid == APID {
            astarts += 1;
            cur = APID;
            since = 0;
        }
        if pid == cur {
            since += 1;
        }
        if (pid == VPID && vstarts == 4 && since == 3) || (pid == APID && astarts == 6 && since == 2) {
            continue;
        }
        out.extend_from_slice(p);
    }
    let (_, pk) = demux_bytes(out).unwrap();
    let v: Vec<_> = pk.iter().filter(|p| p.stream == 0).map(|p| p.data.to_vec()).collect();
    let a: Vec<_> = pk.iter().filter(|p| p.stream == 1).map(|p| p.data.to_vec()).collect();
    let mut ev = vids.clone();
    ev.remove(3);
    assert_eq!(v, ev);
    let mut ea = auds.clone();
    ea.drain(15..18);
    assert_eq!(a, ea);
}

#[test]
fn psi_errors_and_stream_types() {
    // Nothing.
    let e = demux_bytes(Vec::new()).err().unwrap();
    assert!(e.to_string().contains("no PAT/PMT"), "{e}");
    // Null packets only.
    let mut w = W::new();
    for _ in 0..20 {
        w.packet(PID_NULL, false, None, &[0xff; 184]);
    }
    let e = demux_bytes(w.out).err().unwrap();
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("no PAT/PMT"), "{e}");
    // Only ID3 metadata: no media.
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0x15, 0x102, &[])]));
    assert!(matches!(demux_bytes(w.out), Err(Error::NoMedia(_))));
    // Descriptor-identified private streams; other codecs are reported.
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    let opus: &[u8] = &[0x05, 4, b'O', b'p', b'u', b's'];
    w.psi(
        PMT_PID,
        &pmt(&[
            (0x06, 0x110, &[0x6a, 1, 0]),
            (0x06, 0x111, opus),
            (0x06, 0x112, &[0x59, 0]),
            (0x24, 0x113, &[]),
            (0x03, 0x114, &[]),
        ]),
    );
    w.pes(0x110, 0xbd, Some(1000), None, &[0x0b, 0x77, 1, 2, 3], true);
    let (st, pk) = demux_bytes(w.out).unwrap();
    let names: Vec<_> = st.iter().map(|s| s.codec.name().to_string()).collect();
    assert_eq!(names, ["ac3", "opus", "hevc", "mp3"]);
    assert_eq!(st[2].kind, MediaKind::Video);
    assert_eq!(pk.len(), 1);
    assert_eq!((pk[0].stream, pk[0].pts, &pk[0].data[..]), (0, 1000, &[0x0b, 0x77, 1, 2, 3][..]));
    // SAMPLE-AES.
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0xdb, VPID, &[])]));
    assert!(matches!(demux_bytes(w.out), Err(Error::Encrypted(_))));
    // Bad CRC: PMT ignored.
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    let mut s = pmt(&[(0x1b, VPID, &[])]);
    let n = s.len();
    s[n - 1] ^= 1;
    w.psi(PMT_PID, &s);
    assert!(demux_bytes(w.out).is_err());
}

#[test]
fn pmt_after_data_and_spanning_packets() {
    // Data before the PMT is replayed; a PMT section spanning two packets.
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    w.pes(APID, 0xc0, Some(5000), None, &adts_frame(0, 100), true);
    let mut big = vec![0x0a, 4, b'e', b'n', b'g', 0];
    for _ in 0..30 {
        big.extend_from_slice(&[0x80, 5, 1, 2, 3, 4, 5]);
    }
    let sec = pmt(&[(0x0f, APID, &big)]);
    assert!(sec.len() > 183);
    let mut pl = vec![0u8];
    pl.extend_from_slice(&sec);
    pl.resize(368, 0xff);
    w.packet(PMT_PID, true, None, &pl[..184]);
    w.packet(PMT_PID, false, None, &pl[184..]);
    w.pes(APID, 0xc0, Some(5000 + 1920), None, &adts_frame(1, 100), true);
    let (st, pk) = demux_bytes(w.out).unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(pk.iter().map(|p| p.pts).collect::<Vec<_>>(), [5000, 6920]);
}

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn truncated_garbage_and_corrupt_input_never_panic() {
    let mut w = W::new();
    w.pcr_pid = Some(VPID);
    sample(&mut w, (1 << 33) - 9000);
    let full = w.out.clone();
    for cut in (0..full.len()).step_by(13) {
        match demux_bytes(full[..cut].to_vec()) {
            Ok((st, pk)) => {
                for p in &pk {
                    assert!(p.stream < st.len());
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let mut seed = 42u64;
    // Random bytes, and random bytes with sync bytes every 188.
    for synced in [false, true] {
        let mut b: Vec<u8> = (0..200_000).map(|_| lcg(&mut seed) as u8).collect();
        if synced {
            for i in (0..b.len()).step_by(188) {
                b[i] = 0x47;
            }
            // a valid PAT/PMT so the payloads get parsed
            b[..188].copy_from_slice(&full[..188]);
            b[188..376].copy_from_slice(&full[188..376]);
        }
        let _ = demux_bytes(b);
    }
    // Corrupt bytes of the valid stream.
    for _ in 0..300 {
        let mut b = full.clone();
        for _ in 0..(1 + lcg(&mut seed) % 20) {
            let i = (lcg(&mut seed) as usize) % b.len();
            b[i] = lcg(&mut seed) as u8;
        }
        if let Ok((st, pk)) = demux_bytes(b) {
            assert!(pk.iter().all(|p| p.stream < st.len()));
        }
    }
}

#[test]
fn probe_accepts_ts_and_rejects_others() {
    let mut w = W::new();
    sample(&mut w, T0);
    assert!(probe(&w.out[..188 * 5]));
    assert!(probe(&w.out[..188]));
    assert!(!probe(&w.out[1..188 * 5]));
    assert!(!probe(b"ID3\x04\x00"));
    assert!(!probe(&[]));
    let mut b = w.out[..188 * 5].to_vec();
    b[376] = 0;
    assert!(!probe(&b));
}

fn ffmpeg_available() -> bool {
    std::path::Path::new("/usr/bin/ffmpeg").exists() && std::path::Path::new("/usr/bin/ffprobe").exists()
}

/// (stream_index, pts, dts, size) per packet from ffprobe.
pub(crate) fn ffprobe_packets(path: &std::path::Path) -> Vec<(usize, Option<i64>, Option<i64>, usize)> {
    let out = std::process::Command::new("/usr/bin/ffprobe")
        .args(["-v", "error", "-show_entries", "packet=stream_index,pts,dts,size", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok(), f.get(2)?.parse().ok(), f.get(3)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn matches_ffprobe_on_x264_aac() {
    if !ffmpeg_available() {
        eprintln!("skipped: /usr/bin/ffmpeg or ffprobe not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("stitch-ts-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ts = dir.join("out.ts");
    let st = std::process::Command::new("/usr/bin/ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1"])
        .args(["-c:v", "libx264", "-bf", "3", "-g", "12", "-c:a", "aac"])
        .arg(&ts)
        .status()
        .unwrap();
    assert!(st.success());
    let expect = ffprobe_packets(&ts);
    let mut d = TsDemuxer::open(&ts).unwrap();
    let streams = d.streams().to_vec();
    let mut got = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        got.push(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(streams.len(), 2);
    let vi = streams.iter().position(|s| s.codec == Codec::H264).unwrap();
    let ai = streams.iter().position(|s| s.codec == Codec::Aac).unwrap();
    assert_eq!((streams[vi].width, streams[vi].height), (160, 120));
    assert_eq!((streams[ai].sample_rate, streams[ai].channels), (48000, 1));
    // ffprobe's stream indices follow the PMT order as ours do.
    for s in [vi, ai] {
        let e: Vec<_> = expect.iter().filter(|p| p.0 == s).map(|p| (p.1.unwrap(), p.2.unwrap())).collect();
        let g: Vec<_> = got.iter().filter(|p| p.stream == s).map(|p| (p.pts, p.dts)).collect();
        assert_eq!(g.len(), e.len(), "stream {s} packet count");
        assert_eq!(g, e, "stream {s} pts/dts");
    }
    assert_eq!(got.iter().filter(|p| p.stream == vi && p.keyframe).count(), 3);
}

/// (*.ts and *rollover* files in the corpus, manifest OK set)
pub(crate) fn corpus_files(ext: &str) -> Vec<(std::path::PathBuf, bool)> {
    let root = crate::testutil::corpus("");
    let root = root.as_path();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap_or_default();
    let ok: Vec<String> = manifest
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.get(9) == Some(&"OK")).then(|| f[0].to_string())
        })
        .collect();
    let mut files = Vec::new();
    for dir in ["media", "m3u8/shaka__hls-ts-rollover"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|e| e.to_str()) == Some(ext) {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                let is_ok = ok.contains(&rel) || rel.starts_with("m3u8/");
                files.push((p, is_ok));
            }
        }
    }
    files.sort();
    files
}

#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
fn corpus_ts_files() {
    let files = corpus_files("ts");
    assert!(!files.is_empty(), "no .ts file in the corpus");
    for (path, ok) in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let head = std::fs::read(&path).unwrap();
        let opened: Result<Box<dyn Demuxer>> = if !probe(&head) && crate::demux::adts::probe(&head) {
            crate::demux::adts::AdtsDemuxer::open(&path).map(|d| Box::new(d) as Box<dyn Demuxer>)
        } else {
            TsDemuxer::open(&path).map(|d| Box::new(d) as Box<dyn Demuxer>)
        };
        let mut d = match opened {
            Ok(d) => d,
            Err(e) => {
                println!("{name}: open error: {e}");
                assert!(!ok, "{name} is listed OK but failed: {e}");
                continue;
            }
        };
        let st = d.streams().to_vec();
        let mut counts = vec![0usize; st.len()];
        let mut last: Vec<Option<i64>> = vec![None; st.len()];
        let mut mono = vec![true; st.len()];
        let mut err = None;
        loop {
            match d.next_packet() {
                Ok(Some(p)) => {
                    counts[p.stream] += 1;
                    if let Some(l) = last[p.stream] {
                        if p.dts <= l {
                            mono[p.stream] = false;
                        }
                    }
                    last[p.stream] = Some(p.dts);
                }
                Ok(None) => break,
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        let desc: Vec<String> = st
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{}{}:{}pk{}",
                    s.codec.name(),
                    if s.width > 0 {
                        format!(" {}x{}", s.width, s.height)
                    } else if s.sample_rate > 0 {
                        format!(" {}Hz/{}", s.sample_rate, s.channels)
                    } else {
                        String::new()
                    },
                    counts[i],
                    if mono[i] { "" } else { " NON-MONOTONIC" }
                )
            })
            .collect();
        println!(
            "{name}: {} [{}]{}",
            if ok { "OK" } else { "--" },
            desc.join(", "),
            err.map(|e| format!(" error: {e}")).unwrap_or_default()
        );
        if ok {
            for (i, s) in st.iter().enumerate() {
                if matches!(s.codec, Codec::H264 | Codec::Aac) {
                    assert!(counts[i] > 0, "{name}: stream {i} has no packets");
                    assert!(mono[i], "{name}: stream {i} dts not monotonic");
                    assert!(!s.config.is_empty(), "{name}: stream {i} has no config");
                }
            }
        }
    }
}
#[test]
#[cfg_attr(corpus_missing, ignore = "needs ../shared/corpus")]
fn corpus_ok_files_match_ffprobe() {
    if !ffmpeg_available() {
        eprintln!("skipped: ffprobe not installed");
        return;
    }
    for (path, ok) in corpus_files("ts") {
        let head = std::fs::read(&path).unwrap();
        if !ok || !probe(&head) {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (st, pk) = demux_bytes(head).unwrap();
        let expect = ffprobe_packets(&path);
        // Same origin for both: the first dts of the file (ffprobe may shift by 2^33).
        let e0 = expect.iter().filter_map(|p| p.2.or(p.1)).min().unwrap();
        let g0 = pk.iter().map(|p| p.dts).min().unwrap();
        let mut mismatches = 0;
        for (i, s) in st.iter().enumerate() {
            let e: Vec<_> = expect.iter().filter(|p| p.0 == i).map(|p| p.1.map(|v| v - e0)).collect();
            let g: Vec<_> = pk.iter().filter(|p| p.stream == i).map(|p| Some(p.pts - g0)).collect();
            // ffmpeg accumulates rounded AAC frame durations; we rescale sample counts
            // from the PES pts, so audio may differ by one 90 kHz tick.
            let tol = if s.kind == MediaKind::Audio { 1 } else { 0 };
            // Sizes: ffmpeg keeps the ADTS header (7 or 9 bytes) in AAC packets.
            let es: Vec<_> = expect.iter().filter(|p| p.0 == i).map(|p| p.3).collect();
            let gs: Vec<_> = pk.iter().filter(|p| p.stream == i).map(|p| p.data.len()).collect();
            let size_ok = es.iter().zip(&gs).all(|(e, g)| match s.codec {
                Codec::Aac => *e == g + 7 || *e == g + 9,
                _ => e == g,
            });
            if matches!(s.codec, Codec::H264 | Codec::Aac) {
                assert!(size_ok, "{name} stream {i}: packet sizes differ from ffprobe");
            }
            let same = e
                .iter()
                .zip(&g)
                .filter(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => (a - b).abs() <= tol,
                    _ => false,
                })
                .count();
            println!(
                "{name} stream {i} {}: ffprobe {} packets, ours {}, {} pts equal (±{tol})",
                s.codec.name(),
                e.len(),
                g.len(),
                same
            );
            if e.len() != g.len() || same != e.len() {
                mismatches += 1;
            }
        }
        assert_eq!(mismatches, 0, "{name} differs from ffprobe");
    }
}

#[test]
fn demuxers_are_send() {
    fn send<T: Send>() {}
    send::<TsDemuxer>();
    send::<crate::demux::adts::AdtsDemuxer>();
}

#[test]
fn h264_access_unit_split_across_pes() {
    // AU 0 is split: its tail opens the PES of AU 1 (with AU 1's PTS), and AU 1's tail
    // comes in a PES without PTS. AU 2 is whole.
    let a0 = au(0, true, 500);
    let a1 = au(1, false, 400);
    let a2 = au(2, false, 300);
    let mut w = W::new();
    w.psi(0, &pat(PMT_PID));
    w.psi(PMT_PID, &pmt(&[(0x1b, VPID, &[])]));
    w.pes(VPID, 0xe0, Some(3000), None, &a0[..300], false);
    let mut p1 = a0[300..].to_vec();
    p1.extend_from_slice(&a1[..200]);
    w.pes(VPID, 0xe0, Some(6000), None, &p1, false);
    w.pes(VPID, 0xe0, None, None, &a1[200..], false);
    w.pes(VPID, 0xe0, Some(9000), None, &a2, false);
    let (st, pk) = demux_bytes(w.out).unwrap();
    assert_eq!((st[0].width, st[0].height), (160, 120));
    let got: Vec<_> = pk.iter().map(|p| (p.pts, p.keyframe, p.data.to_vec())).collect();
    assert_eq!(got, vec![(3000, true, a0), (6000, false, a1), (9000, false, a2)]);
}

/// Hands out 1 to 7 bytes per read: exercises incremental buffering and resync.
struct Trickle(Vec<u8>, usize);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.1 % 7 + 1).min(buf.len()).min(self.0.len() - self.1);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn streaming_reader_gives_the_same_packets() {
    let mut w = W::new();
    sample(&mut w, T0);
    let mut input = vec![0x47u8, 0, 0x47, 1, 2]; // junk first
    input.extend_from_slice(&w.out);
    let (_, base) = demux_bytes(w.out.clone()).unwrap();
    let mut d = TsDemuxer::from_reader(Trickle(input, 0)).unwrap();
    let mut pk = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        pk.push(p);
    }
    assert_eq!(summary(&pk), summary(&base));
}
