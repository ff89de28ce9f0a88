"""Airflow Assets shared by the DAGs: ingestion produces, publication consumes."""

from airflow.sdk import Asset

HOME_CARE_REPORTS = Asset("tsunagu://warehouse/home_care_reports")
PUBLISHED_PACKAGES = Asset("tsunagu://published/home_care_reports")
