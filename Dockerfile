# One image for every Herald service and the dashboard. docker-compose.yml runs it four times and
# picks each one's entry point with `command: ["node", "dist/apps/<service>/src/main.js"]`.
#
#   docker build -t herald:0.1.0 .
#   docker run --rm herald:0.1.0 node dist/apps/agent-presence/src/main.js
#
# No `# syntax=` line: it makes BuildKit fetch a frontend image from a registry, which fails where
# none can be reached; the built-in frontend reads this file as it is.

# A fixed release of the Node.js line the tests run on (package.json "engines"). Where no registry
# can be reached, build with a base image loaded beforehand: --build-arg NODE_IMAGE=<its name>.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: all dependencies, compile apps/ and libs/ to dist/ with SWC -----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# zstd-napi (the zstd-patch-from patch format, zstd-coded downloads) is a native addon compiled
# here from its bundled zstd sources: node-gyp needs Python, make and a C++ compiler (from
# Debian's packages), and builds against the headers of the image's own Node (it would otherwise
# download them from nodejs.org).
ENV npm_config_nodedir=/usr/local
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# Install scripts follow package.json's "allowScripts" policy whichever npm the base image ships
# (npm 10 ignores the field): run none, then run the ones the policy allows. @swc/core's
# postinstall only checks that its native binary (an optional dependency) loads; zstd-napi's
# builds its addon (it first looks for a prebuilt one on GitHub, then compiles; offline is fine).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild @swc/core zstd-napi

COPY .swcrc tsconfig.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build

# ---- runtime: production dependencies and the compiled code only ------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app

# No install script runs here (@scarf/scarf's is usage telemetry and is denied in "allowScripts"):
# zstd-napi's addon, compiled in the build stage for this same base image, is copied in.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
 && npm cache clean --force
COPY --from=build /app/node_modules/zstd-napi/build/Release/binding.node ./node_modules/zstd-napi/build/Release/binding.node

COPY --from=build /app/dist ./dist

# component-download's content-addressed store. Created here and owned by `node` so that a named
# volume mounted on it starts out writable by the service (Docker copies ownership into a new,
# empty named volume). The code under /app stays owned by root: read-only for the service.
# The same for the compose demo's update source and the public key it hands to demo-downloader.
ENV COMPONENT_STORE_DIR=/var/lib/herald/components
RUN mkdir -p /var/lib/herald/components /var/lib/update-source /run/upstream-key \
 && chown -R node:node /var/lib/herald /var/lib/update-source /run/upstream-key

USER node

# dashboard, component-download, notification-dispatch, agent-presence (their *_PORT defaults).
EXPOSE 3000 3001 3002 3003

# GET /health answers 200 only while PostgreSQL and RabbitMQ are reachable (the dashboard's, while
# it runs). The port is worked out from the command the container runs (PID 1), so this default
# fits every entry point; docker-compose.yml sets its own, explicit check per service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "const e = process.env, c = require('fs').readFileSync('/proc/1/cmdline', 'utf8'); const p = /apps\/dashboard\//.test(c) ? e.DASHBOARD_PORT || 3000 : /agent-presence/.test(c) ? e.AGENT_PRESENCE_PORT || 3003 : /notification-dispatch/.test(c) ? e.NOTIFICATION_DISPATCH_PORT || 3002 : e.COMPONENT_DOWNLOAD_PORT || 3001; fetch('http://127.0.0.1:' + p + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

# Every interface inside the container (the services' own default is this host only): the ports a
# container publishes decide who reaches it.
ENV HTTP_BIND_ADDRESS=0.0.0.0

# Node runs as PID 1 and handles SIGTERM itself (graceful drain, see SHUTDOWN_DRAIN_MS).
CMD ["node", "dist/apps/component-download/src/main.js"]
