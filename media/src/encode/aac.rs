//! AAC-LC encoding with FDK AAC (ISO/IEC 14496-3), raw access units.
//!
//! The encoder delays its output by `delay` samples (2048 at 48 kHz for AAC-LC with FDK's
//! defaults; read from the library, not assumed). Packets are stamped so that this priming
//! is explicit: the first packet has `pts = -delay`, i.e. the first real input sample is at
//! pts 0. Muxers turn this into an edit list (MP4) or a timestamp offset (TS), so the
//! decoded audio starts at t = 0 exactly. The safe binding has no flush call, so
//! `AacEncoder::finish` feeds silence until every real sample has been emitted and then
//! drops the surplus frames.

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::codec::aac::{AudioConfig, FRAME_SAMPLES};
use crate::packet::Packet;
use crate::{Error, Result};

/// AAC-LC encoder (FDK AAC): interleaved f32 PCM in, raw access units of 1024 samples per
/// channel out, with the AudioSpecificConfig a container needs.
pub(crate) struct AacEncoder {
    enc: Encoder,
    /// Input channels (1 or 2).
    pub channels: u16,
    /// Encoder delay in samples (priming).
    pub delay: u32,
    /// AudioSpecificConfig for the container.
    pub config: Vec<u8>,
    pending: Vec<i16>,
    /// Real input samples (per channel) received so far.
    input_samples: u64,
    /// AAC frames emitted so far.
    frames_out: u64,
    outbuf: Vec<u8>,
}

// SAFETY: the FDK encoder handle is owned exclusively and used through &mut self only.
unsafe impl Send for AacEncoder {}

impl AacEncoder {
    /// An encoder for `channels` (1 or 2) channels at `sample_rate` Hz and a target of `bitrate`
    /// bits per second. Fails for other channel counts or when FDK refuses the parameters.
    pub fn new(sample_rate: u32, channels: u16, bitrate: u32) -> Result<AacEncoder> {
        let channel_mode = match channels {
            1 => ChannelMode::Mono,
            2 => ChannelMode::Stereo,
            n => return Err(Error::Encode(format!("AAC encoder supports 1 or 2 channels, not {n}"))),
        };
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate),
            sample_rate,
            transport: Transport::Raw,
            channels: channel_mode,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| Error::Encode(format!("cannot create AAC encoder ({sample_rate} Hz, {channels} ch): {e}")))?;
        let info = enc.info().map_err(|e| Error::Encode(format!("AAC encoder info: {e}")))?;
        let delay = info.nDelay.max(0) as u32;
        let config = if info.confSize > 0 {
            info.confBuf[..(info.confSize as usize).min(64)].to_vec()
        } else {
            AudioConfig::lc(sample_rate, channels).to_bytes()
        };
        Ok(AacEncoder {
            enc,
            channels,
            delay,
            config,
            pending: Vec::new(),
            input_samples: 0,
            frames_out: 0,
            outbuf: vec![0; 8192],
        })
    }

    fn packet(&mut self, data: &[u8]) -> Packet {
        let pts = self.frames_out as i64 * FRAME_SAMPLES as i64 - self.delay as i64;
        self.frames_out += 1;
        Packet {
            stream: 0,
            pts,
            dts: pts,
            duration: FRAME_SAMPLES as i64,
            keyframe: true,
            data: Bytes::copy_from_slice(data),
        }
    }

    fn encode_pending(&mut self, out: &mut Vec<Packet>) -> Result<()> {
        let frame = FRAME_SAMPLES as usize * self.channels as usize;
        let mut off = 0;
        while self.pending.len() - off >= frame {
            let info = self
                .enc
                .encode(&self.pending[off..off + frame], &mut self.outbuf)
                .map_err(|e| Error::Encode(format!("AAC: {e}")))?;
            off += if info.input_consumed > 0 { info.input_consumed } else { frame };
            if info.output_size > 0 {
                let data = self.outbuf[..info.output_size].to_vec();
                out.push(self.packet(&data));
            }
        }
        self.pending.drain(..off);
        Ok(())
    }

    /// Feed interleaved f32 samples in [-1, 1].
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<Packet>) -> Result<()> {
        self.input_samples += (samples.len() / self.channels as usize) as u64;
        self.pending.extend(samples.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16));
        self.encode_pending(out)
    }

    /// Flush: every real input sample is covered by the emitted packets, and no packet
    /// beyond that is emitted.
    pub fn finish(&mut self, out: &mut Vec<Packet>) -> Result<()> {
        let needed = (self.input_samples + self.delay as u64).div_ceil(FRAME_SAMPLES as u64);
        let mut guard = 0;
        while self.frames_out < needed && guard < 64 {
            let zeros = vec![0i16; FRAME_SAMPLES as usize * self.channels as usize];
            self.pending.extend_from_slice(&zeros);
            let mut tmp = Vec::new();
            self.encode_pending(&mut tmp)?;
            for p in tmp {
                let index = (p.pts + self.delay as i64) / FRAME_SAMPLES as i64;
                if (index as u64) < needed {
                    out.push(p);
                }
            }
            guard += 1;
        }
        // The last frame holds fewer real samples than 1024: say so in its duration, so the
        // container's presentation ends exactly at the last real sample.
        if let Some(last) = out.last_mut() {
            let real_end = self.input_samples as i64;
            if last.pts < real_end && last.pts + last.duration > real_end {
                last.duration = real_end - last.pts;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priming_is_explicit_and_flush_covers_input() {
        let mut e = AacEncoder::new(48000, 2, 128_000).unwrap();
        assert!(e.delay > 0 && e.delay <= 4096, "delay {}", e.delay);
        assert_eq!(AudioConfig::parse(&e.config).unwrap(), AudioConfig::lc(48000, 2));
        let mut out = Vec::new();
        let n = 48000 + 100; // not a multiple of 1024
        let samples: Vec<f32> = (0..n * 2).map(|i| ((i / 2) as f32 * 0.05).sin() * 0.3).collect();
        for c in samples.chunks(4000) {
            e.push(c, &mut out).unwrap();
        }
        e.finish(&mut out).unwrap();
        assert_eq!(out[0].pts, -(e.delay as i64));
        let last = out.last().unwrap();
        assert_eq!(last.pts + last.duration, n as i64, "the last packet ends at the last real sample");
        assert!(last.pts + 1024 >= n as i64, "covers the input");
        for w in out.windows(2) {
            assert_eq!(w[1].pts - w[0].pts, 1024);
        }
    }
}
