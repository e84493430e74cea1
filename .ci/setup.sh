#!/usr/bin/env bash
# Installs what building and testing stitch needs on a fresh Debian 12 machine:
# nasm (OpenH264's fast assembly paths), ffmpeg/ffprobe (the independent oracle used by
# tests and benchmarks only; the product never runs them), and, for the optional
# `ffmpeg` cargo feature, FFmpeg's development libraries with clang for bindgen; for the
# browser test (tests/browser.rs), Chromium, node and the pinned npm packages of tests/browser.
set -euo pipefail
need=()
command -v nasm >/dev/null || need+=(nasm)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# tests/serve_scale.rs, tests/recording_service.rs: PostgreSQL 15 (initdb into a temp folder;
# no cluster is started here) and its psql client.
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
# tests/recording_service.rs signs webhooks with `openssl dgst -hmac` (an independent HMAC).
command -v openssl >/dev/null || need+=(openssl)
if [[ "${STITCH_FFMPEG_FEATURE:-1}" == 1 ]]; then
  dpkg -s libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev clang libclang-dev >/dev/null 2>&1 \
    || need+=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev clang libclang-dev)
fi
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# tests/browser/node_modules (gitignored): installed from the committed lock file, skipped
# when the pinned versions are already there.
browser="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
if ! (cd "$browser" && node -e '
  const deps = require("./package.json").dependencies;
  for (const [n, v] of Object.entries(deps))
    if (require("./node_modules/" + n + "/package.json").version !== v) process.exit(1);' 2>/dev/null); then
  (cd "$browser" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
fi
# tests/serve_scale.rs: an S3 server that verifies SigV4 signatures, into ~/.cargo/bin;
# skipped when that version is there.
if ! s3s-fs --version 2>/dev/null | grep -q '0\.14\.1' && ! "$HOME/.cargo/bin/s3s-fs" --version 2>/dev/null | grep -q '0\.14\.1'; then
  cargo install s3s-fs --version 0.14.1 --features binary --locked
fi
# tests/serve.rs: an independent OpenAPI validator (PyPI openapi-spec-validator) in a venv of
# its own (STITCH_PY_TOOLS, default ~/.cache/stitch-tools/venv); skipped when that version is there.
venv="${STITCH_PY_TOOLS:-$HOME/.cache/stitch-tools/venv}"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("openapi-spec-validator") != "0.9.0")' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check openapi-spec-validator==0.9.0
fi
