//! AAC decoding with the Fraunhofer FDK AAC library (`fdk-aac`), raw access units
//! configured by the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1). AAC-LC, HE-AAC (SBR,
//! reported at the SBR output rate) and HE-AACv2 decode; more than two channels are
//! downmixed to stereo by the library.

use fdk_aac::dec::{Decoder, Transport};

use crate::codec::aac::AudioConfig;
use crate::frame::AudioFrame;
use crate::packet::{Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

use super::AudioDecoder;

pub struct AacDecoder {
    dec: Decoder,
    timebase: u32,
    pcm: Vec<i16>,
    errors: u64,
    /// Next expected pts (in output samples) when packets carry no usable timestamp.
    next_pts: Option<i64>,
}

impl AacDecoder {
    pub fn new(info: &StreamInfo) -> Result<AacDecoder> {
        let mut dec = Decoder::new(Transport::Raw);
        let asc = if info.config.is_empty() {
            let rate = if info.sample_rate > 0 { info.sample_rate } else { 48000 };
            AudioConfig::lc(rate, info.channels.clamp(1, 2)).to_bytes()
        } else {
            info.config.to_vec()
        };
        dec.config_raw(&asc).map_err(|e| Error::Decode(format!("AAC config rejected: {e}")))?;
        let _ = dec.set_max_output_channels(2);
        Ok(AacDecoder { dec, timebase: info.timebase.max(1), pcm: vec![0; 8 * 2048], errors: 0, next_pts: None })
    }
}

impl AudioDecoder for AacDecoder {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<AudioFrame>) -> Result<()> {
        if pkt.data.is_empty() {
            return Ok(());
        }
        if self.dec.fill(&pkt.data).is_err() {
            self.errors += 1;
            return Ok(());
        }
        if self.dec.decode_frame(&mut self.pcm).is_err() {
            self.errors += 1;
            return Ok(());
        }
        let si = self.dec.stream_info();
        let (rate, ch, n) = (si.sampleRate.max(0) as u32, si.numChannels.max(0) as u16, si.frameSize.max(0) as usize);
        if rate == 0 || ch == 0 || n == 0 || n * ch as usize > self.pcm.len() {
            self.errors += 1;
            return Ok(());
        }
        let pts = rescale(pkt.pts, self.timebase, rate);
        let pts = match self.next_pts {
            // Absorb sub-millisecond rounding jitter of container timestamps.
            Some(np) if (pts - np).abs() <= (rate as i64 / 1000).max(1) => np,
            _ => pts,
        };
        self.next_pts = Some(pts + n as i64);
        let samples = self.pcm[..n * ch as usize].iter().map(|&s| s as f32 / 32768.0).collect();
        out.push(AudioFrame { pts, sample_rate: rate, channels: ch, samples });
        Ok(())
    }

    fn flush(&mut self, _out: &mut Vec<AudioFrame>) -> Result<()> {
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}
