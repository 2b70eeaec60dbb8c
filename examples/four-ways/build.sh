#!/usr/bin/env bash
# Builds the four images of the seed's "four ways to make a container image", runs each, and prints
# their sizes and shared layers. Needs the base images `debian:bookworm` and `busybox`
# (`berth image bootstrap debian` / `busybox`) and, for ways 3 and 4, the Debian package mirror.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
berth=${BERTH:-berth}
cd "$here"
cc -O2 -static -o hello hello.c            # ways 1 and 2 build on the host
trap 'rm -f "$here/hello"' EXIT
for way in basic slim in-container multi-stage; do
  echo "== $way"
  $berth build -q -f "Dockerfile.$way" -t "four-ways/$way:1" . >/dev/null
  $berth run --rm "four-ways/$way:1"
done
echo
printf '%-26s %10s\n' IMAGE SIZE
for way in in-container basic multi-stage slim; do
  printf '%-26s %10s\n' "four-ways/$way:1" "$($berth images --format '{{.Size}}' four-ways/$way:1)"
done
echo
$berth image tree four-ways/multi-stage:1
