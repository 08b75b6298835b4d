#!/usr/bin/env bash
# Regenerates the user manual's screenshots (docs/screenshots/, committed, used by
# docs/panduan-pengguna.md) from one run of the browser tests (scripts/browser-tests.sh, which
# needs target/debug/sicantik-companion built first). Every staff page as an administrator and
# the official's permit page, at 390×844 and 1366×768, and every portal state; each shrunk to
# its CSS width (phone 390 px, desktop 960 px), cut at 1600 px and reduced to a 32-colour PNG (pages past ImageMagick's 16K-pixel policy are skipped),
# so the folder stays a few megabytes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh # apt_install
apt_install imagemagick # (a `convert` elsewhere on PATH may be a stand-in)
CONVERT=/usr/bin/convert

art="$(mktemp -d)"
trap 'rm -rf "$art"' EXIT
BROWSER_ARTIFACTS="$art" bash scripts/browser-tests.sh

out=docs/screenshots
mkdir -p "$out"
rm -f "$out"/*.png
kept=0
for f in "$art"/*.png; do
  name="$(basename "$f")"
  case "$name" in
    *failure*|portal-qr-photo*) continue ;;
    admin-*-page-*|official-*-permit-official*|official-*-page-signing*|staff-desktop-consent-prompt*|\
    staff-desktop-document-uploaded*|auditor-desktop-permit-messages*|portal-*|whatsapp-*|survey-*) ;;
    *) continue ;;
  esac
  case "$name" in
    *-phone-*|portal-valid*|portal-forged*|portal-revoked*|portal-unknown*|portal-upload-*|portal-scan*|\
    portal-seal*|portal-no-*|whatsapp-phone*|survey-*) width=390 ;;
    *) width=960 ;;
  esac
  "$CONVERT" "$f" -resize "${width}x>" -crop "${width}x1600+0+0" +repage -strip -colors 32 "PNG8:$out/$name" 2>/dev/null || { echo "skipped $name (too tall for ImageMagick's policy)"; continue; }
  kept=$((kept + 1))
done
echo "$kept screenshots in $out ($(du -sh "$out" | cut -f1))"
