#!/usr/bin/env bash
# dbt's `spark` target runs Spark in-process (pyspark), which needs a Java 17 runtime. Install it once if it is
# missing: as root directly, else through sudo when it needs no password; otherwise say what to run.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless"
if [ "$(id -u)" = 0 ]; then
  bash -c "$install" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo -n bash -c "$install" >/dev/null
else
  echo "Java 17 is missing and cannot be installed without root: run 'sudo apt-get install -y openjdk-17-jre-headless'" >&2
  exit 1
fi
