# aifence: build with the dev toolchain, run with production dependencies only.
#   docker build -t aifence .
#   docker run -d --name aifence -p 53:53/udp -p 53:53/tcp \
#     -v /srv/aifence:/etc/aifence:ro aifence
# The daemon runs as the unprivileged `node` user. Docker 20.10+ lets
# containers bind ports below 1024 without root (net.ipv4.ip_unprivileged_port_start=0);
# on other runtimes add `--sysctl net.ipv4.ip_unprivileged_port_start=53`.
# With host networking (deploy/compose.yaml) that sysctl is the host's: see there.
# Node 24 is the supported LTS line (package.json engines).
#
# BASE: any Debian bookworm image with Node 24 and npm on the PATH and a `node`
# user (uid 1000), as the official one has. `npm run test:image` builds on one
# made locally (test/image/base.sh) and runs the result as deploy/ does:
#   podman build --build-arg BASE=localhost/aifence-base:... -t localhost/aifence:test .
ARG BASE=docker.io/library/node:24-bookworm-slim

FROM ${BASE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts: `prepare` builds, but the sources come in the next layer (and this one stays cached).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The build also bundles the program into one file and validates the catalogue into dist/catalogue.json.
COPY scripts/bundle-program.mjs scripts/build-catalogue.mjs ./scripts/
COPY blocklists ./blocklists
RUN npm run build && npm prune --omit=dev

# Batched UDP (native/udp: recvmmsg/sendmmsg): built with a compiler that
# stays out of the image. The addon uses only Node-API, so the headers of the
# base's own Node release (its npm package, from the npm registry) fit it.
# If it cannot be built the image serves UDP through node:dgram, and its
# start log says why.
FROM ${BASE} AS native
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends g++ make python3 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN npm install --no-save --no-audit --no-fund --ignore-scripts --prefix /tmp/node-headers \
      "node-linux-$(node -p process.arch)@$(node -p process.versions.node)"
COPY package.json ./
COPY scripts/build-native.mjs ./scripts/
COPY native ./native
RUN AIFENCE_NODEDIR="/tmp/node-headers/node_modules/node-linux-$(node -p process.arch)" npm run install \
 && mkdir -p native/udp/build/Release && touch native/udp/build/Release/.kept

FROM ${BASE}
WORKDIR /app
# `serve` applies its own memory settings (4 MB V8 semi-space, glibc
# MALLOC_TRIM_THRESHOLD_) by re-executing itself as the same PID 1: no ENV needed.
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=native /app/native/udp/build/Release/ ./native/udp/build/Release/
COPY config ./config
COPY blocklists ./blocklists
COPY docker/aifence.yaml /etc/aifence/aifence.yaml
USER node
EXPOSE 53/udp 53/tcp
# The probe goes to the first listen address of the config (0.0.0.0 -> 127.0.0.1),
# so a config mounted with another port is still checked where it serves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "dist/cli.js", "health", "--config", "/etc/aifence/aifence.yaml"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/aifence/aifence.yaml"]
