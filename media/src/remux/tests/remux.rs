//! Unit tests of `crate::remux::remux` on the real fixtures of `testdata/` (TS and MP4
//! with B-frames, raw ADTS), read back with the crate's own demuxers.

use std::path::PathBuf;

use super::*;
use crate::Container;

use crate::testutil::testdata;

fn open(name: &str) -> Box<dyn Demuxer> {
    crate::demux::open(&testdata(name)).unwrap().1
}

fn all_packets(mut d: Box<dyn Demuxer>) -> Vec<Packet> {
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push(p);
    }
    v
}

fn out_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("stitch-remux-{}-{name}", std::process::id()))
}

/// Remux `inputs` into an MP4 at a temporary path; returns its packets and streams.
fn to_mp4(inputs: Vec<Box<dyn Demuxer>>, window: Option<AudioWindow>, name: &str) -> (Vec<StreamInfo>, Vec<Packet>) {
    let out = out_path(name);
    let bytes = remux(inputs, window, |s| Muxer::create(Container::Mp4, &out, s)).unwrap();
    assert_eq!(bytes, std::fs::metadata(&out).unwrap().len());
    let d = crate::demux::open(&out).unwrap().1;
    let streams = d.streams().to_vec();
    let packets = all_packets(d);
    std::fs::remove_file(&out).unwrap();
    (streams, packets)
}

fn count(p: &[Packet], streams: &[StreamInfo], kind: MediaKind) -> usize {
    p.iter().filter(|p| streams[p.stream].kind == kind).count()
}

#[test]
fn ts_to_mp4_keeps_every_packet_and_starts_at_the_first_presented_sample() {
    let input = all_packets(open("e_clip.ts"));
    let in_streams = open("e_clip.ts").streams().to_vec();
    let (streams, out) = to_mp4(vec![open("e_clip.ts")], None, "ts.mp4");
    for kind in [MediaKind::Video, MediaKind::Audio] {
        assert_eq!(count(&out, &streams, kind), count(&input, &in_streams, kind), "{kind:?} packets");
    }
    // t=0 is the earliest pts of any track (one offset for all tracks).
    let first = out.iter().map(|p| Time::new(p.pts, streams[p.stream].timebase)).min().unwrap();
    assert_eq!(first, Time::zero(90_000));
}

#[test]
fn b_frame_mp4_remuxed_to_ts_keeps_pts_order_and_count() {
    let input = all_packets(open("a_high_bframes.mp4"));
    let out = out_path("bframes.ts");
    remux(vec![open("a_high_bframes.mp4")], None, |s| Muxer::create(Container::Ts, &out, s)).unwrap();
    let d = crate::demux::open(&out).unwrap().1;
    let streams = d.streams().to_vec();
    let got = all_packets(d);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(got.len(), input.len());
    // B-frames: some packet's pts differs from its dts, and dts never decreases per stream.
    assert!(got.iter().any(|p| p.pts != p.dts));
    for s in 0..streams.len() {
        let dts: Vec<i64> = got.iter().filter(|p| p.stream == s).map(|p| p.dts).collect();
        assert!(dts.windows(2).all(|w| w[0] < w[1]), "stream {s}: DTS not increasing");
    }
}

#[test]
fn audio_window_cuts_the_rendition_in_integer_ticks() {
    let audio = all_packets(open("g_raw.aac"));
    let tb = open("g_raw.aac").streams()[0].timebase;
    // The first second (1 ms of slack: packets before 999 ms of the rendition's origin).
    let origin = audio[0].dts;
    let want = audio.iter().filter(|p| Time::new(p.dts - origin, tb) < Time::new(999, 1000)).count();
    assert!(want > 0 && want < audio.len());
    let w = AudioWindow::new(None, Some(Time::new(1, 1)));
    assert_eq!(w, AudioWindow { from: None, to: Some(Time::new(1, 1)), align_to_start: false });
    assert!(w.with_align_to_start(true).align_to_start);
    let (streams, out) = to_mp4(vec![open("d_video_only.mp4"), open("g_raw.aac")], Some(w), "window.mp4");
    assert_eq!(count(&out, &streams, MediaKind::Audio), want);
    assert_eq!(count(&out, &streams, MediaKind::Video), all_packets(open("d_video_only.mp4")).len());
}

#[test]
fn two_inputs_take_video_from_the_first_and_audio_from_the_second() {
    // e_clip.ts has its own audio: replaced by the rendition's.
    let (streams, out) = to_mp4(vec![open("e_clip.ts"), open("g_raw.aac")], None, "replace.mp4");
    assert_eq!(streams.len(), 2);
    let audio = all_packets(open("g_raw.aac"));
    assert_eq!(count(&out, &streams, MediaKind::Audio), audio.len());
}
