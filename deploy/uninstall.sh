#!/usr/bin/env bash
# Remove the edged service. Keeps /etc/edged and /var/lib/edged unless --purge is given.
set -euo pipefail

PREFIX=/opt/edged
PURGE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --purge) PURGE=yes; shift ;;
    -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "uninstall.sh: run as root (sudo $0)" >&2
  exit 1
fi

if systemctl list-unit-files edged.service >/dev/null 2>&1; then
  systemctl disable --now edged.service || true
fi
rm -f /etc/systemd/system/edged.service
systemctl daemon-reload
rm -rf "$PREFIX"
if [ "$PURGE" = yes ]; then
  rm -rf /etc/edged /var/lib/edged /var/cache/edged /var/log/edged
  if id edged >/dev/null 2>&1; then userdel edged; fi
fi
echo "edged removed$([ "$PURGE" = yes ] && echo ', with its config and state')"
