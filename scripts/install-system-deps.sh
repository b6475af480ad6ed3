#!/bin/sh
# Debian packages the project needs beyond Python: a CJK font for PDFs (bulletins,
# award certificates) and Chromium for the browser tests. Idempotent; quiet when
# everything is already there. Needs root (CI and the dev machines run as root).
set -e
need=""
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need="$need fonts-wqy-zenhei"
if [ "${WITH_CHROMIUM:-0}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "install-system-deps: please install as root:$need" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
