# The kgcrm image for docker-compose.yml's api and scheduler services.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli cli
COPY graph graph
COPY gql gql
COPY ml ml
COPY loaders loaders
COPY actions actions
RUN pip install --no-cache-dir ".[ml]"
RUN useradd --create-home kgcrm && mkdir -p /var/lib/kgcrm && chown kgcrm /var/lib/kgcrm
USER kgcrm
ENV KGCRM_HOME=/var/lib/kgcrm
EXPOSE 8000
CMD ["kgcrm", "serve", "--host", "0.0.0.0", "--port", "8000"]
