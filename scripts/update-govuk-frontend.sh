#!/usr/bin/env bash
# Vendors the built files of the npm package govuk-frontend into
# templates/assets/govuk-frontend/, which the binary embeds (see
# frontend/assets.go). Node is needed only to run this script, never to build.
#
# Usage: scripts/update-govuk-frontend.sh VERSION
#   e.g. scripts/update-govuk-frontend.sh 6.6.0
#
# Copies, from dist/govuk/ of the package:
#   govuk-frontend.min.css, govuk-frontend.min.js (an ES module),
#   assets/ (fonts/, images/, manifest.json, rebrand/ if present),
# plus the licence, and writes VERSION. Source maps are left out, and the
# sourceMappingURL comments that point at them are stripped.
set -euo pipefail

if [[ $# -ne 1 || ! $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "usage: $0 VERSION (e.g. 6.6.0)" >&2
	exit 2
fi
version=$1
cd "$(dirname "$0")/.."
dest=templates/assets/govuk-frontend

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npm pack --silent --pack-destination "$tmp" "govuk-frontend@$version" >/dev/null
tar -xzf "$tmp/govuk-frontend-$version.tgz" -C "$tmp"
pkg=$tmp/package
dist=$pkg/dist/govuk

for f in govuk-frontend.min.css govuk-frontend.min.js assets/fonts assets/images; do
	if [[ ! -e $dist/$f ]]; then
		echo "$0: govuk-frontend $version has no dist/govuk/$f; its layout changed" >&2
		exit 1
	fi
done

rm -rf "$dest"
mkdir -p "$dest"
cp "$dist/govuk-frontend.min.css" "$dist/govuk-frontend.min.js" "$dest/"
cp -R "$dist/assets" "$dest/assets"
find "$dest" -name '*.map' -delete
# The maps are gone: drop the comments that would make browsers fetch them.
sed -i -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$dest/govuk-frontend.min.css"
sed -i -e 's|//# sourceMappingURL=[^ ]*$||' "$dest/govuk-frontend.min.js"

# The licence: the package's own file when it ships one (6.x does not), else
# the repository's LICENSE.txt at the release tag, else the MIT text that
# file holds, provided package.json still says MIT.
licence=$(find "$pkg" -maxdepth 1 -iname 'licen[cs]e*' | head -n 1)
if [[ -n $licence ]]; then
	cp "$licence" "$dest/LICENSE"
elif ! curl -fsSL --max-time 20 -o "$dest/LICENSE" \
	"https://raw.githubusercontent.com/alphagov/govuk-frontend/v$version/LICENSE.txt" 2>/dev/null; then
	if [[ $(node -p "require('$pkg/package.json').license") != MIT ]]; then
		echo "$0: govuk-frontend $version is no longer MIT licensed; check its licence" >&2
		exit 1
	fi
	cat >"$dest/LICENSE" <<'LICENCE'
The MIT License (MIT)

Copyright (C) 2017 Crown Copyright (Government Digital Service)

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LICENCE
fi

echo "$version" >"$dest/VERSION"

# The brotli and gzip variants the service serves (frontend.Encodings).
go generate ./templates

echo "vendored govuk-frontend $version into $dest:"
(cd "$dest" && find . -type f | sort | xargs du -b)
find "$dest" -type f -printf '%s\n' | awk '{s += $1} END {printf "total %d bytes in files\n", s}'
