#!/usr/bin/env bash
# Install edged as a systemd service. Idempotent: run it again to upgrade.
#
#   sudo deploy/install.sh [--system-site-packages|--no-system-site-packages] [--prefix /opt/edged]
#
# On a Jetson the venv sees the system site-packages by default, so JetPack's
# GStreamer-enabled OpenCV and its TensorRT bindings are used (never pip's OpenCV).
set -euo pipefail

PREFIX=/opt/edged
SYSTEM_SITE=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --system-site-packages) SYSTEM_SITE=yes; shift ;;
    --no-system-site-packages) SYSTEM_SITE=no; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

HERE="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$SYSTEM_SITE" = auto ]; then
  if [ -f /etc/nv_tegra_release ]; then SYSTEM_SITE=yes; else SYSTEM_SITE=no; fi
fi

echo "== user and groups"
if ! id edged >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/edged --shell /usr/sbin/nologin edged
fi
if getent group video >/dev/null; then usermod -aG video edged; fi

echo "== directories"
install -d -m 0755 "$PREFIX"
install -d -m 0750 -o root -g edged /etc/edged

echo "== python environment in $PREFIX/venv"
VENV_ARGS=()
if [ "$SYSTEM_SITE" = yes ]; then VENV_ARGS+=(--system-site-packages); fi
if [ ! -x "$PREFIX/venv/bin/python" ]; then
  python3 -m venv "${VENV_ARGS[@]}" "$PREFIX/venv"
fi
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
EXTRAS=""
if [ "$SYSTEM_SITE" = no ] && ! "$PREFIX/venv/bin/python" -c 'import cv2' 2>/dev/null; then
  EXTRAS="[opencv]"
fi
"$PREFIX/venv/bin/python" -m pip install -q "$HERE$EXTRAS"
if ! "$PREFIX/venv/bin/python" -c 'import edged.pipelines.pose.compiled' 2>/dev/null; then
  echo "install.sh: the compiled pose parse was not built (no C compiler or Python headers):" \
    "pose pipelines use the slower numpy parse; apt install build-essential python3-dev" \
    "and run install.sh again" >&2
fi

echo "== config"
if [ ! -f /etc/edged/edged.yaml ]; then
  install -m 0640 -o root -g edged "$HERE/examples/synthetic.yaml" /etc/edged/edged.yaml
  echo "installed an example config at /etc/edged/edged.yaml: edit it for your cameras"
fi
"$PREFIX/venv/bin/edged" check -c /etc/edged/edged.yaml || {
  echo "install.sh: /etc/edged/edged.yaml is not valid yet; fix it, then: systemctl restart edged" >&2
}

echo "== systemd unit"
sed "s#/opt/edged/venv#$PREFIX/venv#g" "$HERE/deploy/systemd/edged.service" \
  > /etc/systemd/system/edged.service
systemctl daemon-reload
systemctl enable edged.service
systemctl restart edged.service || true
echo "done: systemctl status edged; journalctl -u edged -f"
