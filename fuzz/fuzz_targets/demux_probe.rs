//! Container sniffing on arbitrary bytes (what `demux::open` runs on every input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = media::demux::probe(data);
    let _ = media::demux::mp4::probe(data);
    let _ = media::demux::ts::probe(data);
    let _ = media::demux::adts::probe(data);
});
