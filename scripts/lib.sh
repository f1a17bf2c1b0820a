# Shared helpers for the scripts in this folder; sourced, not run.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

step() { printf '\033[1m[chunkkv]\033[0m %s\n' "$*"; }
die() { printf '[chunkkv] error: %s\n' "$*" >&2; exit 1; }
require_root() { [[ $(id -u) == 0 ]] || die "run as root (sudo): it installs packages and runs PostgreSQL as the postgres user"; }
require_command() { command -v "$1" >/dev/null || die "$1 is not on PATH; install $2"; }

# The http(s) mirror that the machine's own apt sources use for the bookworm suite.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |\n|$)/ && !/bookworm-security/ {
           match($0, /URIs:[ \t]*[^ \t\n]+/); if (RSTART) { s=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" && $0 ~ / bookworm / { for (i=2;i<=NF;i++) if ($i ~ /^https?:/) { print $i; exit } }'
  return 0
}

# Where services keep their data and the settings file they export. PostgreSQL runs as the
# postgres user, so the folder must be reachable by it; a clone under a private home folder
# falls back to a per-clone folder under /var/tmp.
chunkkv_data_dir() {
  if [[ -n "${CHUNKKV_DATA_DIR:-}" ]]; then echo "$CHUNKKV_DATA_DIR"; return; fi
  local d="$repo_root/.data"
  mkdir -p "$d"
  if runuser -u postgres -- test -x "$d" 2>/dev/null; then echo "$d"
  else echo "/var/tmp/chunkkv-$(echo "$repo_root" | md5sum | cut -c1-8)"; fi
}

export CHUNKKV_PG_PORT=${CHUNKKV_PG_PORT:-55432}
export CHUNKKV_REDIS_PORT=${CHUNKKV_REDIS_PORT:-56379}
