#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
set -euo pipefail

# chromium: the planner map's browser test drives Debian's Chromium (never a downloaded one).
# libpango, fonts-dejavu-core: WeasyPrint lays out the evidence pack's PDF with Pango.
packages=(postgresql-15-postgis-3 redis-server gdal-bin chromium
  libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v python3.11 >/dev/null || packages+=(python3.11 python3.11-venv python3.11-dev)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
# A Python from elsewhere (pyenv) may stand in for Debian's python3.11.
if [ ${#missing[@]} -gt 0 ]; then
  for i in "${!missing[@]}"; do
    case "${missing[$i]}" in python3.11*) command -v python3.11 >/dev/null && unset 'missing[i]';; esac
  done
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
