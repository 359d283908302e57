#!/usr/bin/env bash
# A stand-in for the official node:24-bookworm-slim image, made here without
# Docker Hub: a Debian bookworm root file system from Debian's mirror
# (mmdebstrap, minbase, no docs), Node 24 from the pinned `node` npm package
# (node_modules/node/bin/node, the binary `npm install` brought), npm from
# the npm registry at the version that Node release bundles, and the `node`
# user (uid and gid 1000), as in the official image. It also carries this
# machine's CA bundle (NODE_EXTRA_CA_CERTS, else Debian's) and points Node at
# it, so `npm ci` in the build trusts what this machine trusts, a proxy that
# inspects TLS included; the official image has no such thing.
#
#   test/image/base.sh            prints the image name, making it when missing
#
# The root file system is cached as a tarball between runs on one machine
# ($XDG_CACHE_HOME/aifence/image, ~/.cache by default) and made again after a
# week, for Debian's updates; the image is imported from it when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

node=node_modules/node/bin/node
node_version=$("$node" --version)
node_version=${node_version#v}
# The npm that Node ${node_version} ships with (its CHANGELOG: "deps: upgrade npm to ...").
npm_version=11.19.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aifence/image
name=bookworm-node${node_version}-npm${npm_version}
tarball=$cache/$name.tar
image=localhost/aifence-base:$name
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/test/image/containers.conf}
podman() { command podman --runtime runc "$@"; }

mkdir -p "$cache"
if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime +7)" ]; then
  echo "base: $tarball is older than a week: making it again" >&2
  rm -f "$tarball"
fi
if [ ! -f "$tarball" ]; then
  npm_tgz=$cache/npm-$npm_version.tgz
  [ -f "$npm_tgz" ] || npm pack --silent --pack-destination "$cache" "npm@$npm_version" >/dev/null
  echo "base: making $tarball with mmdebstrap (about a minute)" >&2
  # Hooks run outside the root ("$1"), as root: copy in Node and npm, add the node user.
  ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
  [ -f "$ca" ] || ca=/dev/null
  mmdebstrap --variant=minbase --format=tar --quiet \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook="install -m 755 '$node' \"\$1/usr/local/bin/node\"" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npm_tgz' --strip-components=1 -C \"\$1/usr/local/lib/node_modules/npm\"" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='echo "node:x:1000:1000::/home/node:/bin/bash" >> "$1/etc/passwd" && echo "node:x:1000:" >> "$1/etc/group" && echo "node:*:20000:0:99999:7:::" >> "$1/etc/shadow"' \
    --customize-hook='install -d -m 755 -o 1000 -g 1000 "$1/home/node"' \
    --customize-hook="install -m 644 '$ca' \"\$1/usr/local/share/build-ca.crt\"" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tarball.part" \
    'deb http://deb.debian.org/debian bookworm main' \
    'deb http://deb.debian.org/debian bookworm-updates main' \
    'deb http://deb.debian.org/debian-security bookworm-security main'
  mv "$tarball.part" "$tarball"
  podman image rm --force "$image" >/dev/null 2>&1 || true
fi
if ! podman image exists "$image"; then
  echo "base: importing $image" >&2
  podman import --quiet --change 'CMD ["node"]' --change "ENV NODE_VERSION=$node_version" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/build-ca.crt' "$tarball" "$image" >/dev/null
fi
echo "$image"
