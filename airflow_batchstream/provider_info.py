"""What Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from airflow_batchstream import __version__
from airflow_batchstream.config import provider_config


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-batchstream",
        "name": "Batch Stream (Google Cloud Batch with Image Streaming)",
        "description": "Run containers on Google Cloud Batch with Image Streaming: validated, "
        "submitted exactly once per try, and awaited in a worker, a sensor or the triggerer.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Google Cloud Batch (Image Streaming)",
                "external-doc-url": "https://cloud.google.com/batch/docs/use-image-streaming",
                "tags": ["gcp"],
            }
        ],
        "operators": [
            {
                "integration-name": "Google Cloud Batch (Image Streaming)",
                "python-modules": ["airflow_batchstream.operators"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Google Cloud Batch (Image Streaming)",
                "python-modules": ["airflow_batchstream.sensors"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Google Cloud Batch (Image Streaming)",
                "python-modules": ["airflow_batchstream.hooks"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Google Cloud Batch (Image Streaming)",
                "python-modules": ["airflow_batchstream.triggers"],
            }
        ],
        "extra-links": [
            "airflow_batchstream.links.BatchStreamJobLink",
            "airflow_batchstream.links.BatchStreamLogsLink",
        ],
        "config": provider_config(),
    }
