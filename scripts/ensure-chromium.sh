#!/usr/bin/env bash
# The report test opens `feeds report`'s HTML in a real headless Chromium (Debian's package). Install it once
# if it is missing: as root directly, else through sudo when it needs no password; otherwise say what to run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core"
if [ "$(id -u)" = 0 ]; then
  bash -c "$install" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -c "$install" >/dev/null
else
  echo "Chromium is missing and cannot be installed without root: run 'sudo apt-get install -y chromium'" >&2
  exit 1
fi
