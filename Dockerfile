# wstap: multi-stage build. The build stage compiles TypeScript (npm ci runs `prepare`), then
# drops dev dependencies; the runtime stage carries only dist/, production node_modules and
# the example config, and runs as the unprivileged `node` user.
#
#   docker build -t wstap .
#   docker run -p 8080:8080 -p 9090:9090 -v "$PWD/my-config:/etc/wstap" wstap
#
# The config is read from the /etc/wstap volume (wstap.yaml). Set `admin.host: 0.0.0.0` in it
# for Prometheus to scrape /metrics from outside the container; the healthcheck below uses
# 127.0.0.1:9090 from inside.

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    # http-proxy 1.18.1 (plain-HTTP routes only) calls util._extend, deprecated on Node 22.
    NODE_OPTIONS=--disable-warning=DEP0060
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config/wstap.yaml /etc/wstap/wstap.yaml
USER node
EXPOSE 8080 9090
VOLUME ["/etc/wstap"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/wstap/wstap.yaml"]
