#!/usr/bin/env bash
# Installs what building and testing stitch needs on a fresh Debian 12 machine:
# nasm (OpenH264's fast assembly paths), ffmpeg/ffprobe (the independent oracle used by
# tests and benchmarks only; the product never runs them), and, for the optional
# `ffmpeg` cargo feature, FFmpeg's development libraries with clang for bindgen.
set -euo pipefail
need=()
command -v nasm >/dev/null || need+=(nasm)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [[ "${STITCH_FFMPEG_FEATURE:-1}" == 1 ]]; then
  dpkg -s libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev clang libclang-dev >/dev/null 2>&1 \
    || need+=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev clang libclang-dev)
fi
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
