# The kgcrm image for docker-compose.yml's api and scheduler services.
# The explorer page's graph library comes from npm (explorer/package-lock.json), never from the repository.
FROM node:20-slim AS explorer
WORKDIR /explorer
COPY explorer/package.json explorer/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli cli
COPY graph graph
COPY gql gql
COPY ml ml
COPY loaders loaders
COPY actions actions
COPY explorer/src explorer/src
COPY --from=explorer /explorer/node_modules explorer/node_modules
RUN pip install --no-cache-dir ".[ml]"
RUN useradd --create-home kgcrm && mkdir -p /var/lib/kgcrm && chown kgcrm /var/lib/kgcrm
USER kgcrm
ENV KGCRM_HOME=/var/lib/kgcrm KGCRM_EXPLORER_DIR=/app/explorer
EXPOSE 8000
CMD ["kgcrm", "serve", "--host", "0.0.0.0", "--port", "8000"]
