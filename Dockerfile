# The Airflow image docker-compose.yaml runs: the official Airflow 3.3.2 image plus this package.
# Build context: the repository root (see .dockerignore: only what the install needs is sent).
FROM apache/airflow:3.3.2

# Install as the image's `airflow` user, as the official image expects for pip installs. Pinning
# apache-airflow to the image's own version keeps pip from up- or downgrading Airflow itself.
COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-batchstream/
COPY --chown=airflow:root airflow_batchstream /opt/airflow-batchstream/airflow_batchstream
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-batchstream

# The example DAGs are mounted by docker-compose.yaml; this copy makes the image usable on its own.
COPY --chown=airflow:root dags /opt/airflow/dags
