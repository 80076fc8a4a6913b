#!/usr/bin/env bash
# The SFTP parts (demo, tests, bench) start OpenSSH's own sshd on loopback. Install it once if it is missing:
# as root directly, else through sudo when it needs no password; otherwise say what to run.
set -euo pipefail
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || [ -x /usr/local/sbin/sshd ]; then
  exit 0
fi
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client"
if [ "$(id -u)" = 0 ]; then
  bash -c "$install" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -c "$install" >/dev/null
else
  echo "OpenSSH's sshd is missing and cannot be installed without root: run 'sudo apt-get install -y openssh-server'" >&2
  exit 1
fi
