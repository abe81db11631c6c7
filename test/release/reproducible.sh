#!/usr/bin/env bash
# reproducible.sh: make release twice from clones of HEAD at two paths, the
# second with an empty Go build cache and another TMPDIR, and compare their
# SHA256SUMS (binaries, archives, krew manifest, SBOM). What differs between
# two machines' builds of one commit, the folder, the cache, the time, must
# not reach the release. Uncommitted changes are not in the clones: commit
# first. Run by make release-check (RELEASE_PLATFORMS narrows it).
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
rev="$(git -C "$root" rev-parse HEAD)" # both builds of this commit, whatever HEAD becomes meanwhile
version="${VERSION:-$(git -C "$root" describe --tags --always 2>/dev/null || echo dev)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
build() { # build NAME [ENV...]: clone HEAD to $work/NAME/src, release into $work/NAME/dist
  local dir="$work/$1"; shift
  git clone --quiet --shared "$root" "$dir/src"
  git -C "$dir/src" checkout --quiet --detach "$rev"
  mkdir -p "$dir/tmp"
  env "$@" TMPDIR="$dir/tmp" make -C "$dir/src" --no-print-directory release \
    DIST="$dir/dist" VERSION="$version" RELEASE_PLATFORMS="${RELEASE_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}" >"$dir/log" 2>&1 \
    || { cat "$dir/log" >&2; echo "FAIL: make release in $dir/src" >&2; exit 1; }
}
build a
build b GOCACHE="$work/b/cache"
if ! diff -u "$work/a/dist/SHA256SUMS" "$work/b/dist/SHA256SUMS"; then
  echo "FAIL: two builds of $rev differ (above)" >&2
  exit 1
fi
echo "PASS: two builds of $version give the same $(wc -l <"$work/a/dist/SHA256SUMS") checksums"
