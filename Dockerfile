# syntax=docker/dockerfile:1
# The Voidkey broker server: multi-stage, Node 24 slim, non-root.
#   docker build -t voidkey-broker .
#   docker run -p 3000:3000 -v $PWD/config.yaml:/etc/voidkey/config.yaml:ro \
#     -e BROKER_CLIENT_SECRET voidkey-broker

FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts are skipped here (prepare would build before the sources are copied).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY broker-core ./broker-core
COPY broker-server ./broker-server
COPY providers ./providers
COPY config ./config
COPY scripts ./scripts
COPY sandbox ./sandbox
COPY cli ./cli
# One bundle (scripts/bundle-server.mjs): the config's schemas precompiled, each provider's
# SDK in a chunk loaded on its first mint. It needs no node_modules at run time.
# Then the same server as one script and its V8 startup snapshot (scripts/bundle-snapshot.mjs):
# the blob only runs on the node that built it, so it is built here, with the image's node
# (both stages are node:24-slim; pin the same digest in both if you pin one).
RUN node scripts/bundle-server.mjs && node scripts/bundle-snapshot.mjs

FROM node:24-slim
# V8 heap sizing measured with `npm run bench`: peak RSS under load 165 MiB instead of
# about 340 MiB, at the same mint rate (docs/performance.md).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=160" \
    VOIDKEY_CONFIG=/etc/voidkey/config.yaml \
    PORT=3000
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/dist/server ./dist/server
COPY sample-config.yaml /etc/voidkey/config.example.yaml
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# Starts from the snapshot (about half the start time of dist/server/main.mjs, which stays
# in the image as the fallback: CMD ["node", "dist/server/main.mjs"]).
CMD ["node", "--snapshot-blob", "dist/server/main.blob", "dist/server/main.cjs"]
