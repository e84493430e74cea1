//! Raw ADTS demuxer plus the AAC header/config parsers on arbitrary bytes.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use media::codec::aac::{AdtsHeader, AudioConfig};
use media::demux::adts::AdtsDemuxer;
use media::packet::Demuxer;

const MAX_PACKETS: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = AdtsHeader::parse(data) {
        assert!(h.frame_len >= h.header_len, "ADTS frame shorter than its header");
        assert!(h.header_len == 7 || h.header_len == 9);
        assert!(h.config.sample_rate > 0);
    }
    if let Ok(c) = AudioConfig::parse(data) {
        assert!(c.sample_rate > 0, "AudioConfig with sample rate 0");
        assert!(c.channels > 0);
        let _ = c.output_rate();
    }
    let _ = media::demux::adts::probe(data);
    let _ = media::demux::adts::id3v2_len(data);

    let Ok(mut d) = AdtsDemuxer::from_reader(Cursor::new(data.to_vec())) else { return };
    assert_eq!(d.streams().len(), 1, "ADTS has exactly one stream");
    let mut last_pts = i64::MIN;
    for _ in 0..MAX_PACKETS {
        match d.next_packet() {
            Ok(Some(p)) => {
                assert_eq!(p.stream, 0);
                assert!(p.pts >= last_pts, "ADTS pts went backwards: {} after {}", p.pts, last_pts);
                assert!(p.duration >= 0);
                assert!(p.data.len() <= data.len(), "packet larger than the input");
                last_pts = p.pts;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
