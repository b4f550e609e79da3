#!/usr/bin/env bash
# Make sure headless Chromium is installed for the browser tests: Debian's
# chromium package, installed when absent (as root). Fails otherwise, so
# the browser test fails rather than being skipped.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
	command -v "$name" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" -ne 0 ]; then
	echo "chromium: not installed; install it (Debian: sudo apt-get install chromium) or re-run as root" >&2
	exit 1
fi
echo "chromium: installing Debian's chromium package for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium: install failed" >&2; exit 1; }
