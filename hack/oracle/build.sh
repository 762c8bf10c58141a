#!/usr/bin/env bash
# Builds the upstream-allocator oracle used by tests/difftest into
# <repo>/.cache/oracle/oracle. Idempotent and quiet: go's build cache makes a
# rebuild of unchanged sources take well under a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
out="${repo}/.cache/oracle/oracle"

GO="${GO:-}"
if [[ -z "${GO}" ]]; then
	if command -v go >/dev/null 2>&1; then
		GO=go
	elif [[ -x /usr/local/go/bin/go ]]; then
		GO=/usr/local/go/bin/go
	else
		echo "hack/oracle/build.sh: go toolchain not found (set GO=/path/to/go)" >&2
		exit 1
	fi
fi

mkdir -p "$(dirname "${out}")"
cd "${here}"
# -mod=readonly: go.mod/go.sum are checked in and must not be rewritten here.
# -trimpath keeps local paths out of the binary.
GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" "${GO}" build -trimpath -o "${out}" .
