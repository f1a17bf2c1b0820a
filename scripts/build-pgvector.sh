#!/usr/bin/env bash
# Builds pgvector from Debian's own source package (trixie; bookworm has none) against PG 15.
# Uses a private apt configuration so the machine's own sources are never touched, and takes
# the mirror from those sources rather than naming a host here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
pg_config=${1:-/usr/lib/postgresql/15/bin/pg_config}

mirror=$(debian_mirror | head -1)
[[ -n "$mirror" ]] || die "could not find a Debian mirror for bookworm in /etc/apt/sources.list{,.d}"

work=$(mktemp -d /tmp/chunkkv-pgvector.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt drops to the _apt user for downloads
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0")

step "fetching pgvector source from Debian trixie ($mirror)"
apt-get "${apt_private[@]}" update -qq
(cd "$work" && apt-get "${apt_private[@]}" source --download-only pgvector >/dev/null)
tarball=$(ls "$work"/pgvector_*.orig.tar.* | head -1)
mkdir "$work/src" && tar -xf "$tarball" -C "$work/src" --strip-components=1

step "building $(basename "$tarball")"
make -s -C "$work/src" PG_CONFIG="$pg_config" >/dev/null
make -s -C "$work/src" PG_CONFIG="$pg_config" install >/dev/null
