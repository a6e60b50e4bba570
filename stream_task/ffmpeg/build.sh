#!/usr/bin/env bash
# The stream engine's ffmpeg: Debian's own ffmpeg source (the version apt would install, its patches
# applied), built with only what the reader and the pushers use. Debian's ffmpeg binary loads 215 shared
# libraries, whose relocations cost every process 14 MB of private memory; a stream runs one reader and a
# pusher per destination, so with three destinations that was 96 MB before the supervisor's first byte.
# This build takes about 5 MB a process, and parses only the formats a stream needs (a smaller surface
# for bytes that users upload). Probing (ffprobe) and, later, conforming keep Debian's full build.
#
# Usage: build.sh PREFIX [WORKDIR]  ->  PREFIX/bin/ffmpeg
# Needs: apt-get (the source comes through apt, so its signatures are checked), dpkg-source (dpkg-dev),
# gcc, make, pkg-config, nasm (x86 only), libssl-dev, zlib1g-dev.
set -euo pipefail

prefix=$(realpath -m "$1")
work=$(realpath -m "${2:-$prefix.work}")
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources"

# A private apt state with Debian's deb-src entries: the machine's own apt configuration is left as it is.
cat > "$work/apt/sources/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt=(apt-get -qq
  -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/apt/sources"
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
  -o "APT::Sandbox::User=$(id -un)")
"${apt[@]}" update
(cd "$work" && rm -f ffmpeg_*.dsc && "${apt[@]}" source --download-only ffmpeg)
rm -rf "$work/src"
dpkg-source --no-check -x "$(ls "$work"/ffmpeg_*.dsc)" "$work/src" >/dev/null

asm=()
case "$(uname -m)" in
  x86_64 | i?86) command -v nasm >/dev/null || asm=(--disable-x86asm) ;;
esac

cd "$work/src"
./configure --prefix="$prefix" \
  --disable-everything --disable-autodetect --disable-doc --disable-debug \
  --disable-ffplay --disable-ffprobe --disable-swscale --disable-postproc \
  --enable-openssl --enable-zlib \
  --enable-protocol=file,pipe,crypto,tcp,tls,http,https,rtmp,rtmps \
  --enable-demuxer=mov,matroska,flv,live_flv,mpegts,avi \
  --enable-muxer=flv \
  --enable-indev=lavfi \
  --enable-filter=aresample,apad,anullsrc \
  --enable-parser=h264,aac,aac_latm,mpegaudio,ac3,opus,vorbis,flac \
  --enable-decoder=h264,aac,aac_latm,mp3float,mp2float,ac3,eac3,opus,vorbis,flac,alac,pcm_s16le,pcm_s16be,pcm_s24le,pcm_f32le,pcm_u8 \
  --enable-encoder=aac \
  --enable-bsf=aac_adtstoasc,h264_mp4toannexb,extract_extradata \
  "${asm[@]}" > "$work/configure.log" 2>&1 || { tail -20 "$work/configure.log"; exit 1; }
make -j"$(nproc)" > "$work/make.log" 2>&1 || { tail -40 "$work/make.log"; exit 1; }
make install > /dev/null 2>&1
"$prefix/bin/ffmpeg" -hide_banner -version | head -1
