"""Airflow plugin registration: the reports view and its entry in the UI's navigation."""

from airflow.plugins_manager import AirflowPlugin
from stt_pipeline.reports_view import create_app


class SttPipelinePlugin(AirflowPlugin):
    name = "stt_pipeline"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/stt-reports", "name": "STT reports"}]
    external_views = [
        {
            "name": "STT reports",
            "href": "stt-reports/",
            "url_route": "stt-reports",
            "destination": "nav",
            "category": "browse",
        }
    ]
