//! MP4/MOV/fMP4 demuxer on arbitrary bytes: open, then drain every packet; then open
//! again, seek to a time taken from the input's first bytes, and drain again.
//! Must never panic, hang or allocate without bound. Timestamps are NOT checked
//! (nothing is promised about dts order on garbage input).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use media::demux::mp4::Mp4Demuxer;
use media::packet::Demuxer;

/// Upper bound on packets drained per input (keeps each run short).
const MAX_PACKETS: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    drain(data, None);
    if data.len() >= 8 {
        let t = i64::from_le_bytes(data[..8].try_into().unwrap_or_default()) >> (data[0] % 48);
        drain(data, Some((t, [90_000, 1, 48_000, 0][data[1] as usize % 4])));
    }
});

fn drain(data: &[u8], seek: Option<(i64, u32)>) {
    let Ok(mut d) = Mp4Demuxer::from_reader(Cursor::new(data.to_vec())) else { return };
    if let Some((t, tb)) = seek {
        let _ = d.seek(t, tb);
    }
    let n_streams = d.streams().len();
    for (i, s) in d.streams().iter().enumerate() {
        assert_eq!(s.index, i, "stream index differs from its position");
    }
    for _ in 0..MAX_PACKETS {
        match d.next_packet() {
            Ok(Some(p)) => {
                assert!(p.stream < n_streams, "packet for stream {} of {}", p.stream, n_streams);
                // Sample bytes come from the input (AVCC -> Annex B adds at most 4 bytes per
                // NAL over a >= 1-byte length prefix, i.e. < 4x the input).
                assert!(p.data.len() <= 4 * data.len() + 16, "packet larger than the input");
            }
            Ok(None) => break,
            Err(_) => {
                // "Any error ends the demuxer: the next call returns Ok(None)."
                assert!(matches!(d.next_packet(), Ok(None)), "demuxer continued after an error");
                break;
            }
        }
    }
}
