#!/usr/bin/env bash
# Provides the Lambda runtime's CPython (3.14: infra/runtime_code.py LAMBDA_RUNTIME) in .tools/,
# without installing anything system-wide: the bundler precompiles the Lambda assets with it and
# the offline harness runs every Lambda handler with it.
#
# Debian bookworm (this project's machines) has no CPython 3.14, so the packages come from Debian
# sid: apt-get downloads python3.14 and what it depends on (sid's glibc included) into a private
# state folder, dpkg -x unpacks them, and .tools/python3.14/bin/python3.14 runs the interpreter
# through sid's dynamic loader. The interpreter cannot start a copy of itself through
# sys.executable (that binary needs sid's loader): compile with `-j 1`.
#
# Idempotent: does nothing when .tools/python3.14/bin/python3.14 already answers 3.14.
# JUDGEFLOW_LAMBDA_PYTHON (a python3.14 of your own) skips all of this.
set -euo pipefail

MINOR=3.14
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/.tools/python$MINOR"
WRAPPER="$DEST/bin/python$MINOR"

answers() { [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$MINOR" ]; }

if [ -n "${JUDGEFLOW_LAMBDA_PYTHON:-}" ]; then
  answers "$JUDGEFLOW_LAMBDA_PYTHON" || { echo "JUDGEFLOW_LAMBDA_PYTHON is not CPython $MINOR" >&2; exit 1; }
  exit 0
fi
if [ -x "$WRAPPER" ] && answers "$WRAPPER"; then
  exit 0
fi
case "$(uname -m)" in
  x86_64) ;;  # the Lambda functions run on x86_64 (infra/stages/function.py)
  *) echo "install-lambda-python: only x86_64 is supported; set JUDGEFLOW_LAMBDA_PYTHON" >&2; exit 1 ;;
esac
command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
  echo "install-lambda-python: needs apt-get and dpkg (Debian), or JUDGEFLOW_LAMBDA_PYTHON=/path/to/python$MINOR" >&2
  exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/cache"
: > "$work/status"  # nothing counts as installed: apt downloads the whole dependency closure
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
  > "$work/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State=$work" -o "Dir::State::Lists=$work/lists" -o "Dir::State::Status=$work/status"
  -o "Dir::Cache=$work/cache" -o "Dir::Cache::Archives=$work/archives" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root -qq
)
apt-get "${apt_options[@]}" update
apt-get "${apt_options[@]}" install --download-only --yes --no-install-recommends "python$MINOR" >/dev/null

rm -rf "$DEST"
mkdir -p "$DEST/bin"
for deb in "$work"/archives/*.deb; do
  dpkg -x "$deb" "$DEST/root"
done
cat > "$WRAPPER" <<'EOF'
#!/bin/sh
# CPython from Debian sid, run through sid's own dynamic loader (see tools/install-lambda-python.sh).
root="$(dirname "$(dirname "$(readlink -f "$0")")")/root"
libs="$root/usr/lib/x86_64-linux-gnu"
exec "$libs/ld-linux-x86-64.so.2" --library-path "$libs" "$root/usr/bin/python3.14" "$@"
EOF
chmod +x "$WRAPPER"
answers "$WRAPPER" || { echo "install-lambda-python: the unpacked interpreter does not run" >&2; exit 1; }
# dpkg -x skips the byte-compilation a package install does: without it every import of the
# standard library would compile it again.
"$WRAPPER" -m compileall -q -j 1 "$DEST/root/usr/lib/python$MINOR" >/dev/null || true
echo "install-lambda-python: $("$WRAPPER" -V) in $DEST"
