# Shared helpers for scripts/*.sh (sourced, not run).
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/project.conf"
TREE=$top/build/qemu
# Fixed identity and dates for the generated commits, so that `make tree`
# gives the same commits every time.
export GIT_COMMITTER_NAME="arm vCPU hotplug tree"
export GIT_COMMITTER_EMAIL="tree@invalid"
GIT_BASE_DATE="2026-03-05T00:00:00Z"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
note() { echo "== $(basename "$0"): $*" >&2; }
# git on the patched tree, with settings that keep exported patches stable
# whatever the local configuration is.
tgit() { git -C "$TREE" -c core.abbrev=12 -c diff.algorithm=myers \
             -c diff.noprefix=false -c diff.mnemonicPrefix=false \
             -c format.signature= -c diff.renames=true "$@"; }
# The parts of the series, in merge order, as "NAME COUNT" lines
# (docs/parts)
parts() { grep -v '^#' "$top/docs/parts" | sed '/^$/d'; }
