#!/usr/bin/env bash
# Prepares LinOTP's own admin client (LinOTPAdminClientCLI 2.10 from PyPI, `linotpadm.py`) for
# the e2e test `linotp_admin_client`: downloads the sdist (never committed), converts it from
# Python 2 with 2to3 (lib2to3, or fissix where lib2to3 is gone), installs pyusb (imported by the
# client's yubikey module) next to it, and fixes the few lines that fail on any Python (see
# PATCHES below). Result: target/linotp-admin-client/{src,site}; run it as
#   PYTHONPATH=target/linotp-admin-client/src:target/linotp-admin-client/site \
#     python3 target/linotp-admin-client/src/bin/linotpadm.py --url=… --authtype=Basic …
# Cached: a second run with the READY marker present does nothing. Exit code 3: PyPI is not
# reachable (the test then says SKIPPED, or fails under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.10
dest="${LINOTP_CLIENT_DIR:-target/linotp-admin-client}"
python="${PYTHON:-python3}"
if [ -f "$dest/READY" ] && [ "$(cat "$dest/READY")" = "$version" ]; then
  echo "$dest"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip=("$python" -m pip --disable-pip-version-check -q)
if ! "${pip[@]}" download --no-deps --no-binary :all: -d "$work/dl" \
  "LinOTPAdminClientCLI==$version" >"$work/pip.log" 2>&1; then
  cat "$work/pip.log" >&2
  echo "could not download LinOTPAdminClientCLI $version from PyPI" >&2
  exit 3
fi
if ! "${pip[@]}" install --target "$work/site" pyusb >"$work/pip.log" 2>&1; then
  cat "$work/pip.log" >&2
  echo "could not install pyusb from PyPI" >&2
  exit 3
fi
tar -xzf "$work/dl/LinOTPAdminClientCLI-$version.tar.gz" -C "$work"
src="$work/LinOTPAdminClientCLI-$version"

# Python 2 -> 3.
fixer=(lib2to3)
if ! "$python" -W ignore -c 'import lib2to3' 2>/dev/null; then
  "${pip[@]}" install --target "$work/fissix" fissix >/dev/null
  export PYTHONPATH="$work/fissix"
  fixer=(fissix)
fi
"$python" -W ignore -m "${fixer[@]}" -w -n -j 1 "$src/bin/linotpadm.py" "$src/linotpadminclientcli" \
  >"$work/2to3.log" 2>&1 || { cat "$work/2to3.log" >&2; exit 1; }

# PATCHES: each replaces text that must occur exactly once.
#  1. urllib in Python 3 wants the POST body as bytes (Python 2's took str).
#  2./3. `inittoken` tests an undefined name `etng` and `importtoken` passes the builtin `file`
#     instead of the --file option: both fail in the original under Python 2 too.
"$python" - "$src" <<'EOF'
import pathlib, sys
src = pathlib.Path(sys.argv[1])
patches = [
    ("linotpadminclientcli/clientutils.py",
     "p = urllib.parse.urlencode(req_params)\n",
     "p = urllib.parse.urlencode(req_params).encode()\n"),
    ("bin/linotpadm.py", "        if etng:\n", "        if config.get(\"etng\"):\n"),
    ("bin/linotpadm.py", "        if not file:\n", "        if not config.get(\"file\"):\n"),
    ("bin/linotpadm.py", "{ 'file': file }", "{ 'file': config.get(\"file\") }"),
]
for rel, old, new in patches:
    path = src / rel
    text = path.read_text()
    if text.count(old) != 1:
        sys.exit(f"patch for {rel} does not apply: {old!r} occurs {text.count(old)} times")
    path.write_text(text.replace(old, new))
EOF
"$python" -W ignore -m py_compile "$src/bin/linotpadm.py" "$src/linotpadminclientcli/clientutils.py"

rm -rf "$dest"
mkdir -p "$dest"
mv "$src" "$dest/src"
mv "$work/site" "$dest/site"
echo "$version" >"$dest/READY"
echo "$dest"
