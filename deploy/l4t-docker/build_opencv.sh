#!/usr/bin/env bash
# Build OpenCV with GStreamer (and FFmpeg) for the active Python (3.8 on JetPack 4.6), so CSI
# cameras work through nvarguscamerasrc. Slow on a Nano (about two hours): build the image once.
set -euo pipefail

OPENCV_VERSION="${OPENCV_VERSION:-4.8.0}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

git clone --depth 1 --branch "$OPENCV_VERSION" https://github.com/opencv/opencv.git "$WORK/opencv"
cmake -S "$WORK/opencv" -B "$WORK/build" \
  -D CMAKE_BUILD_TYPE=Release \
  -D BUILD_LIST=core,imgproc,imgcodecs,videoio,python3 \
  -D WITH_GSTREAMER=ON -D WITH_FFMPEG=ON -D WITH_CUDA=OFF \
  -D BUILD_TESTS=OFF -D BUILD_PERF_TESTS=OFF -D BUILD_EXAMPLES=OFF \
  -D PYTHON3_EXECUTABLE="$(command -v "$PYTHON")" \
  -D OPENCV_PYTHON3_INSTALL_PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
cmake --build "$WORK/build" -j "$(nproc)"
cmake --install "$WORK/build"
"$PYTHON" -c 'import cv2; info = cv2.getBuildInformation(); assert "GStreamer:                   YES" in info or "GStreamer: YES" in " ".join(info.split()), "no GStreamer"; print("OpenCV", cv2.__version__, "with GStreamer")'
