//! MPEG-TS demuxer on arbitrary bytes: open, then drain every packet.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use media::demux::ts::TsDemuxer;
use media::packet::Demuxer;

const MAX_PACKETS: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    let Ok(mut d) = TsDemuxer::from_reader(Cursor::new(data.to_vec())) else { return };
    let n_streams = d.streams().len();
    assert!(n_streams > 0, "from_reader returned Ok without streams");
    for _ in 0..MAX_PACKETS {
        match d.next_packet() {
            Ok(Some(p)) => {
                assert!(p.stream < n_streams, "packet for stream {} of {}", p.stream, n_streams);
                assert!(p.data.len() <= data.len(), "packet larger than the input");
            }
            Ok(None) | Err(_) => break,
        }
    }
});
